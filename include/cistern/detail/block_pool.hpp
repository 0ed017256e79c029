// SPDX-License-Identifier: Apache-2.0
// cistern/detail/block_pool.hpp — a Pool<T> of raw memory blocks of one size.
//
// Internal. The size classes of BufferPool and PoolResource are BlockPools: the
// same per-thread magazines, depot and cycles as Pool<T>, holding untyped blocks
// from ::operator new (aligned to __STDCPP_DEFAULT_NEW_ALIGNMENT__, 16 bytes).
// Thread-safety: as Pool<T>.
#pragma once

#include <cstddef>
#include <new>
#include <string>

#include "cistern/detail/config.hpp"
#include "cistern/detail/debug_tracker.hpp"
#include "cistern/detail/export.hpp"
#include "cistern/detail/magazine.hpp"
#include "cistern/detail/pool_core.hpp"

namespace cistern::detail {

class CISTERN_API BlockPool final : public PoolCore {
 public:
  // `name` is used in debug messages only (not registered for metrics).
  // `budget`: shared with the other size classes of a capped BufferPool, or null.
  BlockPool(std::string name, std::size_t block_size, std::uint32_t magazine_size = 0, Budget* budget = nullptr)
      : PoolCore(std::move(name), magazine_size != 0 ? magazine_size : default_magazine_size(block_size),
                 block_size, budget),
        block_size_(block_size) {
    start();
  }
  // REQUIRES: every block handed out was returned (or freed by the caller).
  ~BlockPool() { stop(); }

  std::size_t block_size() const noexcept { return block_size_; }

  // A block of block_size() bytes. Throws std::bad_alloc.
  CISTERN_ALWAYS_INLINE void* get() { return take(); }
  // REQUIRES: p came from get() of this pool and is not in use.
  CISTERN_ALWAYS_INLINE void put(void* p) noexcept {
    if constexpr (CISTERN_DEBUG_CHECKS) debug::on_put(this, label(), p);
    keep(p);
  }

  // Frees a block that came from get() instead of caching it (counted as a drop).
  void discard(void* p) noexcept {
    if constexpr (CISTERN_DEBUG_CHECKS) debug::on_put(this, label(), p);
    drop(p);
  }

  using PoolCore::clear;
  using PoolCore::stats;

 private:
  void* make_object() override { return ::operator new(block_size_); }
  void destroy_object(void* p) noexcept override {
    unpoison(p, block_size_);
    ::operator delete(p);
  }

  const std::size_t block_size_;
};

}  // namespace cistern::detail
