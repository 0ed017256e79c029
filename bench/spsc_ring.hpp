// SPDX-License-Identifier: Apache-2.0
// A plain bounded single-producer single-consumer ring of pointers, used to hand
// objects from one thread to another in the cross-thread benchmarks.
#pragma once

#include <atomic>
#include <cstddef>

namespace bench {

template <class T, std::size_t Capacity = 1024>
class SpscRing {
  static_assert((Capacity & (Capacity - 1)) == 0);

 public:
  bool push(T v) noexcept {
    std::size_t t = tail_.load(std::memory_order_relaxed);  // only the producer writes tail_
    if (t - head_cache_ == Capacity) {
      head_cache_ = head_.load(std::memory_order_acquire);  // pairs with pop's release
      if (t - head_cache_ == Capacity) return false;
    }
    slots_[t & (Capacity - 1)] = v;
    tail_.store(t + 1, std::memory_order_release);  // pairs with pop's acquire
    return true;
  }
  bool pop(T& v) noexcept {
    std::size_t h = head_.load(std::memory_order_relaxed);  // only the consumer writes head_
    if (h == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);  // pairs with push's release
      if (h == tail_cache_) return false;
    }
    v = slots_[h & (Capacity - 1)];
    head_.store(h + 1, std::memory_order_release);  // pairs with push's acquire
    return true;
  }

 private:
  alignas(64) std::atomic<std::size_t> head_{0};
  std::size_t tail_cache_ = 0;  // consumer's copy
  alignas(64) std::atomic<std::size_t> tail_{0};
  std::size_t head_cache_ = 0;  // producer's copy
  alignas(64) T slots_[Capacity];
};

}  // namespace bench
