// SPDX-License-Identifier: Apache-2.0
// cistern/detail/thread_cache.hpp — the front tier of Pool<T>: one thread's cache.
//
// Internal. Every thread has one table of ThreadCache entries, indexed by the
// pool's slot number; the table is reached through a constinit thread_local, so
// finding this thread's cache for a pool is one TLS load and one index.
//
// A ThreadCache holds up to two magazines: `loaded`, which get and put pop and
// push, and `spare`. Only the owning thread touches top/floor/ceiling/loaded/spare,
// except under the registry lock while that thread is known not to use the pool
// (pool destruction, thread exit). The counters are written only by the owner with
// plain load+store (no read-modify-write) and read by stats() from other threads.
//
// Idle caches: a cycle may take the magazines of a thread that is alive but has not
// used the pool for a whole cycle. The owner's get/put keeps no lock and no atomic
// read-modify-write; instead it runs an asymmetric Dekker handshake:
//
//   owner (every get/put)                 cycle (rarely, registry lock held)
//   busy = 1            (relaxed)         revoke = 1          (relaxed)
//   compiler fence                        membarrier()        (every CPU: full fence)
//   if revoke: slow path                  if busy == 0: take the magazines
//   ... pop or push ...                   else: revoke = 0, try next cycle
//   busy = 0            (release)
//
// membarrier(PRIVATE_EXPEDITED) makes every running thread execute a full fence, so
// either the owner's `busy = 1` is visible to the cycle's check, or the owner's
// check comes after the fence and sees `revoke = 1` and leaves the magazines alone;
// both cannot miss. The release store of `busy = 0` pairs with the cycle's acquire
// load, ordering the owner's last writes to top/loaded/spare before the cycle reads
// them. An owner that sees `revoke` takes the registry lock (under which the cycle
// wrote) before touching its cache. Without membarrier the compiler fence is not
// enough and cycles leave live threads' caches alone; under ThreadSanitizer, which
// does not model membarrier, both sides use seq_cst operations instead.
#pragma once

#include <atomic>
#include <cstdint>

#include "cistern/detail/config.hpp"
#include "cistern/detail/export.hpp"
#include "cistern/detail/magazine.hpp"

namespace cistern::detail {

class PoolCore;

// A statistic written by one thread and read by others. bump() is a relaxed load
// and store, which compiles to a plain increment: no lock prefix, no RMW.
class Counter {
 public:
  CISTERN_ALWAYS_INLINE void bump(std::uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);  // single writer
  }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }  // a statistic
  void set(std::uint64_t n) noexcept { v_.store(n, std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

struct alignas(kCacheLine) ThreadCache {
  // --- First cache line: everything a get or put that hits touches. ---
  // The loaded magazine's items, as pointers: get pops at --top while top != floor,
  // put pushes at top++ while top != ceiling. All three are null before the first
  // slow path, which makes an unused entry fall to the slow path by itself.
  void** top = nullptr;
  void** floor = nullptr;
  void** ceiling = nullptr;
  // The reclaim handshake (see "Idle caches" below): `busy` is 1 while the owner
  // is inside a get or put of this pool (written only by the owner); `revoke` is
  // set by a cycle that wants the cache back (and cleared by it, or by the owner
  // once it has seen a reclaim under the registry lock).
  std::atomic<std::uint8_t> busy{0};
  std::atomic<std::uint8_t> revoke{0};
  Counter gets;       // every get
  Counter puts;       // every return
  Magazine* loaded = nullptr;
  Magazine* spare = nullptr;

  // --- Second line: slow paths, statistics and cycles. ---
  PoolCore* owner = nullptr;   // the pool this entry serves; null when unused
  std::uint64_t epoch = 0;     // the cycle number this cache last saw
  Counter misses;     // gets that called make()
  Counter drops;      // returns that destroyed the object (reset said no)
  Counter moved_in;   // objects taken from the depot
  Counter moved_out;  // objects handed to the depot or freed by a flush
  // gets + puts at the last cycle that saw them change. Registry lock only.
  std::uint64_t idle_mark = 0;

  // Objects in this cache, derived from the counters so the fast path keeps
  // nothing else up to date.
  std::uint64_t cached() const noexcept {
    std::uint64_t in = moved_in.get() + puts.get() - drops.get();
    std::uint64_t out = moved_out.get() + (gets.get() - misses.get());
    return in > out ? in - out : 0;
  }

  // Writes the live count back into the loaded magazine.
  void sync_loaded() noexcept {
    if (loaded != nullptr) loaded->count = static_cast<std::uint32_t>(top - floor);
  }
  // REQUIRES: m's count is current. Makes m the loaded magazine.
  void load(Magazine* m) noexcept {
    loaded = m;
    if (m == nullptr) {
      top = floor = ceiling = nullptr;
      return;
    }
    floor = m->items();
    top = floor + m->count;
    ceiling = floor + m->capacity;
  }
  void swap_spare() noexcept {
    sync_loaded();
    Magazine* m = spare;
    spare = loaded;
    load(m);
  }
};
static_assert(sizeof(ThreadCache) == 2 * kCacheLine, "ThreadCache layout changed; check the fast path");

// The owner's half of the handshake above.
CISTERN_ALWAYS_INLINE void enter(ThreadCache& c) noexcept {
#if CISTERN_TSAN
  c.busy.store(1, std::memory_order_seq_cst);  // one total order with the cycle's revoke and check
#else
  c.busy.store(1, std::memory_order_relaxed);  // made visible to the cycle by its membarrier
  std::atomic_signal_fence(std::memory_order_seq_cst);  // pairs with membarrier in reclaim
#endif
}
CISTERN_ALWAYS_INLINE bool revoked(const ThreadCache& c) noexcept {
#if CISTERN_TSAN
  return c.revoke.load(std::memory_order_seq_cst) != 0;
#else
  return c.revoke.load(std::memory_order_relaxed) != 0;  // ordered after enter() by the fence
#endif
}
CISTERN_ALWAYS_INLINE void leave(ThreadCache& c) noexcept {
  c.busy.store(0, std::memory_order_release);  // pairs with the cycle's acquire check
}

// This thread's table of caches, one per pool slot.
struct ThreadTable {
  ThreadCache* caches = nullptr;
  std::uint32_t size = 0;
  bool exiting = false;  // set once the thread's caches were flushed at exit
};
// constinit: no dynamic initialiser, so access is a plain TLS load with no guard.
CISTERN_API inline constinit thread_local ThreadTable tls_table{};

// The calling thread's cache for `slot`, or nullptr if it has none yet.
inline ThreadCache* find_cache(std::uint32_t slot) noexcept {
  ThreadTable& t = tls_table;
  return CISTERN_LIKELY(slot < t.size) ? &t.caches[slot] : nullptr;
}

}  // namespace cistern::detail
