// SPDX-License-Identifier: Apache-2.0
// src/registry.hpp — the process-wide registry behind Pool<T> (not installed).
//
// It knows every live pool (by slot number) and every thread that has a cache
// table, so that a pool's destructor can reach every thread's cache for it, a
// thread's exit can reach every pool it cached for, and cycle() can reach every
// depot. One mutex guards it; it is taken on slow paths only: when a thread first
// uses a pool, at thread exit, pool construction and destruction, stats() and
// cycle(). Cycles also take back the caches of threads that stopped using a pool.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

#include "cistern/detail/pool_core.hpp"
#include "cistern/detail/thread_cache.hpp"

namespace cistern::detail {

class Registry {
 public:
  static Registry& instance() noexcept;

  std::uint32_t add_pool(PoolCore* pool);
  // Waits until no cycle frees objects of `pool`, then removes it and takes, from
  // every thread's cache, the magazines it holds for it (returned as one list).
  Magazine* remove_pool(PoolCore* pool) noexcept;

  // The calling thread's cache for `pool`, created (and the table grown) on first
  // use; nullptr once the thread is exiting.
  ThreadCache* attach(PoolCore* pool);
  // The calling thread exits: flushes every cache to its pool.
  void thread_exit(ThreadTable& table) noexcept;

  template <class F>
  void for_each_cache(const PoolCore* pool, F&& f) const {
    std::lock_guard lock(mu_);
    for (const ThreadTable* t : threads_)
      if (pool->slot_ < t->size && t->caches[pool->slot_].owner == pool) f(t->caches[pool->slot_]);
  }

  void cycle();  // pools' depots, then the cycle hooks
  std::uint64_t epoch() const noexcept { return epoch_.load(std::memory_order_relaxed); }  // a hint; the slow path re-checks nothing else

  std::mutex& mutex() const noexcept { return mu_; }

 private:
  Registry() = default;
  void grow_locked(ThreadTable& table, std::uint32_t min_size);
  void cycle_pools();
  // Under mu_: takes the caches of threads that did not use a pool since the
  // previous cycle (thread_cache.hpp has the handshake) into that pool's depot.
  void reclaim_idle_locked();
  static bool can_reclaim_live() noexcept;

  mutable std::mutex mu_;
  std::condition_variable unpinned_;
  std::vector<PoolCore*> pools_;          // by slot; nullptr: free slot
  std::vector<ThreadTable*> threads_;     // threads with a cache table
  std::atomic<std::uint64_t> epoch_{1};   // cycles so far + 1; written under mu_
  std::vector<ThreadCache*> idle_;        // reclaim_idle_locked's scratch; under mu_
};

// Starts the background cycle thread if it is enabled and not running.
void ensure_cycle_clock();

}  // namespace cistern::detail
