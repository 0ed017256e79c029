// SPDX-License-Identifier: Apache-2.0
/// @file
/// @brief BufferPool / Buffer: pooled byte buffers that calibrate.
///
/// What it is
///   Growable byte buffers whose memory comes from size classes (64 B, 128 B, …,
///   64 MiB, powers of two), each a thread-cached pool with the magazines of
///   Pool<T>. A Buffer returns its memory to its pool when destroyed.
///
///   cistern::BufferPool buffers({.name = "bodies"});
///   cistern::Buffer body = buffers.get();     // capacity: the learned common size
///   body.append(chunk);                        // grows through the classes
///   send(body.view());
///
/// Calibration (the reason to use it instead of a pool of std::string)
///   A pool of growable buffers keeps every buffer at the largest size it ever
///   reached, so one huge request inflates memory for good. BufferPool watches the
///   size each buffer reached when it comes back (a 1-in-32 sample, two relaxed
///   atomic adds) and every 512 samples (16384 returns) sets
///     - default_size: the most common class, what get() hands out, and
///     - max_retained: the class at the 95th percentile of sizes seen.
///   A buffer above max_retained is not cached in the classes. Instead up to 4 such
///   large buffers are kept for at most about a second (freed by the first cycle()
///   after that), so a burst of large requests reuses them rather than paying for a
///   fresh allocation each time, while a lull gives the memory back.
///
/// Privacy: get() hands out a buffer with size() == 0; bytes beyond size() are never
/// readable through the API. Debug builds overwrite returned bytes with 0xDD.
///
/// Thread-safety: get() and stats() from any thread; a Buffer is a value (one
/// thread at a time) that may be destroyed on any thread. Buffers must not outlive
/// their pool.
///
/// When not to use it
///   - Fixed-size records: Pool<T> of a struct is simpler.
///   - Memory for std containers: PoolResource.
///   - A byte stream between two threads: ByteRing.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "cistern/detail/block_pool.hpp"
#include "cistern/detail/cycle_hooks.hpp"
#include "cistern/detail/export.hpp"
#include "cistern/detail/metrics_registry.hpp"

namespace cistern {

class BufferPool;

struct BufferPoolStats {
  std::uint64_t gets = 0;       // blocks handed out (get(), and each growth step)
  std::uint64_t hits = 0;       // ... from a cache
  std::uint64_t misses = 0;     // ... newly allocated
  std::uint64_t drops = 0;      // returned blocks freed instead of kept
  std::size_t retained_bytes = 0;  // bytes cached now, all classes and large buffers
  std::size_t default_size = 0;    // capacity of get() now
  std::size_t max_retained = 0;    // largest capacity kept in the classes now
};

class CISTERN_API Buffer {
 public:
  Buffer() noexcept = default;
  Buffer(Buffer&& other) noexcept { take(other); }
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      give_back();
      take(other);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { give_back(); }

  char* data() noexcept { return data_; }
  const char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }
  std::string_view view() const noexcept { return {data_, size_}; }

  /// Appends bytes, growing to the next class that fits. Amortised O(bytes).
  /// Throws std::bad_alloc (the buffer is then unchanged).
  void append(std::string_view bytes) {
    if (bytes.size() > capacity_ - size_) grow(size_ + bytes.size());
    if (!bytes.empty()) std::memcpy(data_ + size_, bytes.data(), bytes.size());
    size_ += bytes.size();
    if (size_ > peak_) peak_ = size_;
  }
  void push_back(char c) { append(std::string_view(&c, 1)); }
  /// Sets the size; new bytes are zero. Throws std::bad_alloc.
  void resize(std::size_t n) {
    if (n > capacity_) grow(n);
    if (n > size_) std::memset(data_ + size_, 0, n - size_);
    size_ = n;
    if (size_ > peak_) peak_ = size_;
  }
  /// Makes capacity() at least n, keeping the contents.
  void reserve(std::size_t n) {
    if (n > capacity_) grow(n);
  }
  /// Size 0; the capacity stays.
  void clear() noexcept { size_ = 0; }

 private:
  friend class BufferPool;
  Buffer(BufferPool* pool, char* data, std::size_t capacity) noexcept
      : data_(data), capacity_(capacity), pool_(pool) {}
  void take(Buffer& o) noexcept {
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    capacity_ = std::exchange(o.capacity_, 0);
    peak_ = std::exchange(o.peak_, 0);
    pool_ = std::exchange(o.pool_, nullptr);
  }
  void grow(std::size_t min_capacity);
  inline void give_back() noexcept;

  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  std::size_t peak_ = 0;  // the largest size reached: what calibration records
  BufferPool* pool_ = nullptr;
};

class CISTERN_API BufferPool {
 public:
  struct Options {
    /// Largest capacity kept in the size classes. 0: learned by calibration (the
    /// 95th percentile of sizes seen). Larger: more memory kept, fewer allocations.
    std::size_t max_retained = 0;
    /// Learn default_size (and max_retained when 0) from use. false: get() hands
    /// out 256 B and max_retained (if 0) is unlimited.
    bool calibrate = true;
    /// Non-empty: listed in metrics under this name (unique among live pools).
    std::string name = {};
    /// Most bytes kept across every size class and the large-buffer slots (0: no
    /// cap). Counted once per magazine move, so each thread may hold one loaded
    /// magazine per class beyond it (about 16 KiB of blocks for small classes, 8
    /// blocks for large ones). A buffer returned past the cap is freed (a drop).
    std::size_t max_total_bytes = 0;
  };

  static constexpr std::size_t kMinClass = 64;
  static constexpr std::size_t kClasses = 21;  // 64 B .. 64 MiB
  static constexpr std::size_t kMaxClass = kMinClass << (kClasses - 1);
  static constexpr std::size_t kLargeSlots = 4;  // large buffers kept at most
  static constexpr std::size_t kInitialDefault = 256;

  BufferPool() : BufferPool(Options{}) {}
  /// Throws std::invalid_argument on bad options.
  explicit BufferPool(Options options);
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  /// REQUIRES: no Buffer of this pool is alive.
  ~BufferPool();

  /// An empty buffer with capacity default_size (at least 64 B).
  Buffer get() { return get(default_size_.load(std::memory_order_relaxed)); }  // a hint
  /// An empty buffer with capacity >= min_capacity.
  Buffer get(std::size_t min_capacity) {
    std::size_t capacity;
    char* p = allocate(min_capacity, capacity);
    return Buffer(this, p, capacity);
  }

  BufferPoolStats stats() const;

  /// The class index for a capacity: 0 for <= 64 B, then one per power of two.
  static constexpr std::size_t class_of(std::size_t n) noexcept {
    if (n <= kMinClass) return 0;
    return static_cast<std::size_t>(std::bit_width(n - 1)) - 6;
  }
  static constexpr std::size_t class_size(std::size_t cls) noexcept { return kMinClass << cls; }

 private:
  friend class Buffer;

  CISTERN_ALWAYS_INLINE char* allocate(std::size_t min_capacity, std::size_t& capacity) {
    std::size_t cls = class_of(min_capacity);
    if (CISTERN_LIKELY(cls < kClasses && class_size(cls) <= max_retained_.load(std::memory_order_relaxed))) {
      capacity = class_size(cls);
      return static_cast<char*>(classes_[cls]->get());
    }
    return allocate_large(min_capacity, capacity);
  }
  /// A buffer comes back: calibration sample, then cache or free.
  CISTERN_ALWAYS_INLINE void recycle(char* p, std::size_t capacity, std::size_t peak) noexcept {
    if (calibrate_ && CISTERN_UNLIKELY(--tls_sample_countdown == 0)) sample(peak);
    release(p, capacity);
  }
  /// A block goes back without a calibration sample (a growth step).
  CISTERN_ALWAYS_INLINE void release(char* p, std::size_t capacity) noexcept {
    std::size_t cls = class_of(capacity);
    if (CISTERN_LIKELY(cls < kClasses && capacity <= max_retained_.load(std::memory_order_relaxed) &&
                       capacity == class_size(cls))) {
      if constexpr (CISTERN_DEBUG_CHECKS) std::memset(p, 0xDD, capacity);
      classes_[cls]->put(p);
      return;
    }
    release_large(p, capacity);
  }

  char* allocate_large(std::size_t min_capacity, std::size_t& capacity);
  void release_large(char* p, std::size_t capacity) noexcept;
  void sample(std::size_t peak) noexcept;
  void calibrate() noexcept;
  void expire_large(bool all) noexcept;
  void free_block(char* p, std::size_t capacity) noexcept;

  static inline constinit thread_local std::uint32_t tls_sample_countdown = 32;

  const bool calibrate_;
  const std::size_t fixed_max_retained_;
  detail::Budget budget_;  // before classes_: they count against it until destroyed
  std::atomic<std::size_t> default_size_{kInitialDefault};
  std::atomic<std::size_t> max_retained_;
  std::array<std::unique_ptr<detail::BlockPool>, kClasses> classes_;

  /// Calibration samples per class since the last calibration.
  alignas(detail::kCacheLine) std::array<std::atomic<std::uint32_t>, kClasses + 1> samples_{};  // written by sample(), off the lines get() reads
  std::atomic<std::uint32_t> sampled_{0};
  std::mutex calibrate_mu_;

  /// Large buffers (above max_retained), kept briefly.
  struct Large {
    char* data = nullptr;
    std::size_t capacity = 0;
    std::int64_t since_ns = 0;
  };
  mutable std::mutex large_mu_;
  std::array<Large, kLargeSlots> large_{};
  std::atomic<std::uint64_t> large_hits_{0}, huge_gets_{0}, huge_drops_{0};  // huge: above kMaxClass

  detail::CycleHook expiry_;
  detail::MetricsRegistration metrics_;
};

inline void Buffer::give_back() noexcept {
  if (data_ == nullptr) return;
  if (pool_ != nullptr) {
    pool_->recycle(data_, capacity_, peak_);
  } else {
    ::operator delete(data_);
  }
  data_ = nullptr;
}

}  // namespace cistern
