// SPDX-License-Identifier: Apache-2.0
/// @file
/// @brief PoolResource: a thread-safe std::pmr resource on
/// per-thread magazines.
///
/// What it is
///   A std::pmr::memory_resource for std::pmr containers used from many threads.
///   Requests up to 4 KiB with alignment up to 16 are served from size classes
///   (16, 32, …, 4096 bytes, powers of two), each a thread-cached block pool with
///   the magazines of Pool<T>: an allocate or deallocate that the calling thread's
///   magazine can serve takes no lock and no atomic read-modify-write. Larger or
///   more aligned requests go to the upstream resource. Memory may be freed on
///   another thread than the one that allocated it.
///
///   cistern::PoolResource pool;                        // upstream: new_delete_resource()
///   std::pmr::vector<int> ids(&pool);
///   std::pmr::unordered_map<std::pmr::string, int> counts(&pool);
///
/// Thread-safety: allocate and deallocate from any thread, concurrently.
/// Memory: blocks freed by containers are cached (and freed by cycles when unused,
/// as for Pool<T>). Unlike std::pmr::synchronized_pool_resource, memory still
/// allocated when the resource is destroyed is not freed by it: destroy the
/// containers first (debug builds report blocks still allocated).
///
/// When not to use it
///   - One thread only, everything freed at once: std::pmr::monotonic_buffer_resource.
///   - Mostly allocations above 4 KiB: they go upstream anyway.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <memory>
#if __has_include(<memory_resource>)
#include <memory_resource>
#else  // libc++ before 16 has std::pmr only as std::experimental::pmr
#include <experimental/memory_resource>
#endif

#include "cistern/detail/block_pool.hpp"
#include "cistern/detail/export.hpp"

namespace cistern {

namespace detail {
#if __has_include(<memory_resource>)
namespace pmr = std::pmr;
#else
namespace pmr = std::experimental::pmr;
#endif
}  // namespace detail

class CISTERN_API PoolResource final : public detail::pmr::memory_resource {
 public:
  static constexpr std::size_t kMinBlock = 16;
  static constexpr std::size_t kMaxBlock = 4096;
  static constexpr std::size_t kClasses = 9;  // 16 .. 4096
  static constexpr std::size_t kMaxAlign = 16;

  explicit PoolResource(detail::pmr::memory_resource* upstream = detail::pmr::new_delete_resource());
  PoolResource(const PoolResource&) = delete;
  PoolResource& operator=(const PoolResource&) = delete;
  ~PoolResource() override;

  detail::pmr::memory_resource* upstream_resource() const noexcept { return upstream_; }

 private:
  static constexpr std::size_t class_of(std::size_t bytes) noexcept {
    if (bytes <= kMinBlock) return 0;
    return static_cast<std::size_t>(std::bit_width(bytes - 1)) - 4;
  }

  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    if (CISTERN_LIKELY(bytes <= kMaxBlock && alignment <= kMaxAlign)) return classes_[class_of(bytes)]->get();
    return upstream_->allocate(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    if (CISTERN_LIKELY(bytes <= kMaxBlock && alignment <= kMaxAlign)) {
      classes_[class_of(bytes)]->put(p);
      return;
    }
    upstream_->deallocate(p, bytes, alignment);
  }
  /// Memory from one PoolResource can be freed only by that one.
  bool do_is_equal(const detail::pmr::memory_resource& other) const noexcept override { return this == &other; }

  detail::pmr::memory_resource* upstream_;
  std::array<std::unique_ptr<detail::BlockPool>, kClasses> classes_;
};

}  // namespace cistern
