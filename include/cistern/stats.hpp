// SPDX-License-Identifier: Apache-2.0
/// @file
/// @brief statistics types shared by the pools.
///
/// Plain values: a snapshot taken by a pool's stats(). Counters count since the
/// pool was made; gauges (like `cached`) are the state at the time of the call and
/// approximate while other threads use the pool.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cistern {

struct PoolStats {
  std::uint64_t gets = 0;    // objects handed out (get() and acquire())
  std::uint64_t hits = 0;    // ... of which came from a cache
  std::uint64_t misses = 0;  // ... of which were made by the factory
  std::uint64_t puts = 0;    // objects returned (Lease destroyed, release())
  std::uint64_t drops = 0;   // ... of which were destroyed instead of cached
  std::size_t cached = 0;    // objects cached now, in every tier

  /// hits / gets; 0 when there were no gets.
  double hit_rate() const noexcept {
    return gets == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(gets);
  }
};

}  // namespace cistern
