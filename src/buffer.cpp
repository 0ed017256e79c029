// SPDX-License-Identifier: Apache-2.0
// src/buffer.cpp — BufferPool's slow paths: large buffers, calibration, stats.
#include "cistern/buffer.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <stdexcept>
#include <vector>

namespace cistern {
namespace {

constexpr std::int64_t kLargeTtlNs = 1'000'000'000;  // large buffers kept at most ~1 s
constexpr std::uint32_t kSamplesPerCalibration = 512;
constexpr std::uint32_t kSampleEvery = 32;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::size_t large_capacity(std::size_t n) {
  if (n <= BufferPool::kMaxClass) return BufferPool::class_size(BufferPool::class_of(n));
  constexpr std::size_t kPage = 4096;
  return (n + kPage - 1) / kPage * kPage;
}

}  // namespace

void Buffer::grow(std::size_t min_capacity) {
  char* p;
  std::size_t capacity;
  if (pool_ != nullptr) {
    p = pool_->allocate(min_capacity, capacity);
  } else {
    capacity = large_capacity(min_capacity);
    p = static_cast<char*>(::operator new(capacity));
  }
  if (size_ != 0) std::memcpy(p, data_, size_);
  if (data_ != nullptr) {
    if (pool_ != nullptr) {
      pool_->release(data_, capacity_);
    } else {
      ::operator delete(data_);
    }
  }
  data_ = p;
  capacity_ = capacity;
}

BufferPool::BufferPool(Options options)
    : calibrate_(options.calibrate),
      fixed_max_retained_(options.max_retained),
      budget_(options.max_total_bytes),
      max_retained_(options.max_retained != 0 ? options.max_retained : std::numeric_limits<std::size_t>::max()) {
  if (options.max_retained != 0 && options.max_retained < kMinClass)
    throw std::invalid_argument("cistern::BufferPool: Options::max_retained must be 0 (learned) or at least " +
                                std::to_string(kMinClass) + " bytes, got " + std::to_string(options.max_retained));
  const std::string label = options.name.empty() ? "(unnamed buffer pool)" : options.name;
  for (std::size_t i = 0; i < kClasses; ++i)
    classes_[i] = std::make_unique<detail::BlockPool>(label + " class " + std::to_string(class_size(i)),
                                                      class_size(i), 0, budget_.capped() ? &budget_ : nullptr);
  expiry_ = detail::add_cycle_hook([this] { expire_large(false); });
  if (!options.name.empty()) {
    metrics_ = detail::register_metrics(options.name, "buffer_pool", [this](std::vector<detail::MetricSample>& out) {
      BufferPoolStats s = stats();
      out.push_back({"cistern_buffer_pool_gets_total", "Buffers (and growth steps) handed out.", true, double(s.gets)});
      out.push_back({"cistern_buffer_pool_hits_total", "Buffers served from a cache.", true, double(s.hits)});
      out.push_back({"cistern_buffer_pool_misses_total", "Buffers newly allocated.", true, double(s.misses)});
      out.push_back({"cistern_buffer_pool_drops_total", "Returned buffers freed instead of kept.", true, double(s.drops)});
      out.push_back({"cistern_buffer_pool_retained_bytes", "Bytes cached now.", false, double(s.retained_bytes)});
      out.push_back({"cistern_buffer_pool_default_size_bytes", "Capacity handed out by get().", false, double(s.default_size)});
      out.push_back({"cistern_buffer_pool_max_retained_bytes", "Largest capacity kept in the classes.", false,
                     double(std::min<std::size_t>(s.max_retained, kMaxClass))});
    });
  }
}

BufferPool::~BufferPool() {
  metrics_.reset();
  expiry_.reset();
  expire_large(true);
}

char* BufferPool::allocate_large(std::size_t min_capacity, std::size_t& capacity) {
  {
    std::lock_guard lock(large_mu_);
    Large* best = nullptr;
    for (Large& l : large_)
      if (l.data != nullptr && l.capacity >= min_capacity && (best == nullptr || l.capacity < best->capacity))
        best = &l;
    if (best != nullptr) {
      large_hits_.fetch_add(1, std::memory_order_relaxed);  // a statistic
      budget_.sub(best->capacity);
      capacity = best->capacity;
      return std::exchange(best->data, nullptr);
    }
  }
  std::size_t cls = class_of(min_capacity);
  if (cls < kClasses) {  // above max_retained, but a class block all the same
    capacity = class_size(cls);
    return static_cast<char*>(classes_[cls]->get());
  }
  huge_gets_.fetch_add(1, std::memory_order_relaxed);  // a statistic
  capacity = large_capacity(min_capacity);
  return static_cast<char*>(::operator new(capacity));
}

void BufferPool::free_block(char* p, std::size_t capacity) noexcept {
  std::size_t cls = class_of(capacity);
  if (cls < kClasses && capacity == class_size(cls)) {
    classes_[cls]->discard(p);
  } else {
    huge_drops_.fetch_add(1, std::memory_order_relaxed);  // a statistic
    ::operator delete(p);
  }
}

void BufferPool::release_large(char* p, std::size_t capacity) noexcept {
  if (!budget_.try_add(capacity)) return free_block(p, capacity);  // over the cap
  std::int64_t now = now_ns();
  Large evict;
  {
    std::lock_guard lock(large_mu_);
    Large* slot = nullptr;
    for (Large& l : large_) {
      if (l.data == nullptr) {
        slot = &l;
        break;
      }
      if (slot == nullptr || l.since_ns < slot->since_ns) slot = &l;  // the oldest
    }
    evict = *slot;
    *slot = Large{p, capacity, now};
  }
  if (evict.data != nullptr) {
    budget_.sub(evict.capacity);
    free_block(evict.data, evict.capacity);
  }
}

void BufferPool::expire_large(bool all) noexcept {
  std::int64_t now = now_ns();
  std::array<Large, kLargeSlots> dead{};
  std::size_t n = 0;
  {
    std::lock_guard lock(large_mu_);
    for (Large& l : large_) {
      if (l.data != nullptr && (all || now - l.since_ns >= kLargeTtlNs)) {
        dead[n++] = l;
        l.data = nullptr;
      }
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    budget_.sub(dead[i].capacity);
    free_block(dead[i].data, dead[i].capacity);
  }
}

void BufferPool::sample(std::size_t peak) noexcept {
  tls_sample_countdown = kSampleEvery;
  std::size_t cls = std::min(class_of(peak), kClasses);
  samples_[cls].fetch_add(1, std::memory_order_relaxed);  // counted; read by calibrate()
  if (sampled_.fetch_add(1, std::memory_order_relaxed) + 1 >= kSamplesPerCalibration) calibrate();
}

void BufferPool::calibrate() noexcept {
  std::unique_lock lock(calibrate_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another thread is at it
  sampled_.store(0, std::memory_order_relaxed);
  std::array<std::uint64_t, kClasses + 1> counts{};
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= kClasses; ++i) {
    counts[i] = samples_[i].exchange(0, std::memory_order_relaxed);  // the samples are statistics
    total += counts[i];
  }
  if (total == 0) return;
  std::size_t common = 0;
  for (std::size_t i = 1; i <= kClasses; ++i)
    if (counts[i] > counts[common]) common = i;
  default_size_.store(class_size(std::min(common, kClasses - 1)), std::memory_order_relaxed);  // a hint for get()
  if (fixed_max_retained_ == 0) {
    std::uint64_t want = (total * 95 + 99) / 100, seen = 0;
    std::size_t cls = 0;
    for (; cls <= kClasses; ++cls) {
      seen += counts[cls];
      if (seen >= want) break;
    }
    max_retained_.store(class_size(std::min(cls, kClasses - 1)), std::memory_order_relaxed);  // a hint for recycle()
  }
}

BufferPoolStats BufferPool::stats() const {
  BufferPoolStats s;
  for (std::size_t i = 0; i < kClasses; ++i) {
    PoolStats c = classes_[i]->stats();
    s.gets += c.gets;
    s.hits += c.hits;
    s.misses += c.misses;
    s.drops += c.drops;
    s.retained_bytes += c.cached * class_size(i);
  }
  std::uint64_t large_hits = large_hits_.load(std::memory_order_relaxed);  // statistics
  std::uint64_t huge_gets = huge_gets_.load(std::memory_order_relaxed);
  s.gets += large_hits + huge_gets;
  s.hits += large_hits;
  s.misses += huge_gets;
  s.drops += huge_drops_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(large_mu_);
    for (const Large& l : large_)
      if (l.data != nullptr) s.retained_bytes += l.capacity;
  }
  s.default_size = default_size_.load(std::memory_order_relaxed);
  s.max_retained = max_retained_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace cistern
