// SPDX-License-Identifier: Apache-2.0
// cistern/detail/pool_core.hpp — the type-erased body of Pool<T>.
//
// Internal. Pool<T> keeps its fast path inline (pop or push on the thread's loaded
// magazine, see thread_cache.hpp) and sends everything else here: the slow paths
// that trade magazines with the depot, attaching a thread to the pool, flushing at
// thread exit, cycles, statistics and teardown. None of it depends on T; the two
// things that do (making and destroying an object) are virtual.
//
// Lock order: registry lock, then a depot lock. Slow paths take only the depot
// lock (and the registry lock once after a cycle took their cache back). No lock
// is held while user code (factory, destructor) runs.
//
// Ceilings: a Budget counts the bytes a pool keeps outside the threads' loaded
// magazines (the depot and the spare magazines), updated once per magazine move,
// never per object. With a cap, a return that would park a magazine beyond it is
// destroyed instead (a drop), so what a pool keeps stays within the cap plus one
// loaded magazine per thread. Several pools may share one Budget (BufferPool's
// size classes).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "cistern/detail/config.hpp"
#include "cistern/detail/depot.hpp"
#include "cistern/detail/export.hpp"
#include "cistern/detail/thread_cache.hpp"
#include "cistern/stats.hpp"

namespace cistern::detail {

class Registry;

// Bytes kept by one pool or a group of pools, against an optional cap.
// Thread-safe; touched once per magazine move.
class Budget {
 public:
  explicit Budget(std::size_t cap_bytes = 0) noexcept : cap_(cap_bytes) {}
  Budget(const Budget&) = delete;
  Budget& operator=(const Budget&) = delete;

  std::size_t cap() const noexcept { return cap_; }
  bool capped() const noexcept { return cap_ != 0; }
  // Counts n more bytes if that stays within the cap; false (nothing counted) if not.
  bool try_add(std::size_t n) noexcept {
    if (n == 0) return true;
    std::size_t before = used_.fetch_add(n, std::memory_order_relaxed);  // a count: orders nothing
    if (cap_ == 0 || before + n <= cap_) return true;
    used_.fetch_sub(n, std::memory_order_relaxed);
    return false;
  }
  // Counts n more bytes whatever the cap (memory that is already cached elsewhere).
  void add(std::size_t n) noexcept {
    if (n != 0) used_.fetch_add(n, std::memory_order_relaxed);
  }
  void sub(std::size_t n) noexcept {
    if (n != 0) used_.fetch_sub(n, std::memory_order_relaxed);
  }
  std::size_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
  // Bytes that may still be counted (a hint while other threads count).
  std::size_t room() const noexcept {
    if (cap_ == 0) return SIZE_MAX;
    std::size_t u = used();
    return u < cap_ ? cap_ - u : 0;
  }

 private:
  const std::size_t cap_;
  std::atomic<std::size_t> used_{0};
};

class CISTERN_API PoolCore {
 public:
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;

  // The pool's name for messages: its name, or "(unnamed)".
  const char* label() const noexcept { return name_.empty() ? "(unnamed)" : name_.c_str(); }
  const std::string& name() const noexcept { return name_; }
  std::uint32_t magazine_size() const noexcept { return magazine_size_; }

  // Frees what the depot holds and what the calling thread caches. Objects cached
  // by other threads stay there (only their owner may touch them); they age out
  // through cycles once handed to the depot.
  void clear();

  PoolStats stats() const;

  // Makes n objects (make_object) into the depot, in magazines of magazine_size().
  // With a capped budget, stops at the cap. Throws what make_object throws (the
  // objects made until then stay cached).
  void prefill(std::size_t n);

 protected:
  // `shared`: a Budget this pool counts against together with other pools, or
  // null. Else `max_cached` (objects, 0: none) caps a budget of the pool's own.
  PoolCore(std::string name, std::uint32_t magazine_size, std::size_t object_size, Budget* shared = nullptr,
           std::size_t max_cached = 0);
  ~PoolCore();

  // Registers the pool (slot number, cycles). Called once the derived pool is
  // fully constructed.
  void start();
  // Unregisters and frees everything cached, in every thread. Called by the
  // derived destructor while make/destroy still work. REQUIRES: no thread uses
  // the pool any more.
  void stop() noexcept;

  // An object for a get: a pop on this thread's loaded magazine (no lock, no
  // atomic RMW), else the slow path. Throws what make_object throws.
  CISTERN_ALWAYS_INLINE void* take() {
    void* object;
    if (CISTERN_LIKELY(try_pop(object))) return object;
    return acquire_slow();
  }
  // A returned object that is to be cached (already reset): poisoned for ASan,
  // then a push on this thread's loaded magazine, else the slow path.
  CISTERN_ALWAYS_INLINE void keep(void* object) noexcept {
    poison(object, object_size_);
    if (CISTERN_LIKELY(try_push(object))) return;
    release_slow(object);
  }

  // The halves of the fast paths: false when the slow path must run. Both run
  // inside enter()/leave() (thread_cache.hpp): a cycle that wants this thread's
  // cache back either sees `busy` or is seen through `revoke`.
  CISTERN_ALWAYS_INLINE bool try_pop(void*& object) noexcept {
    ThreadCache* c = find_cache(slot_);
    if (CISTERN_UNLIKELY(c == nullptr)) return false;
    enter(*c);
    if (CISTERN_LIKELY(!revoked(*c) && c->top != c->floor)) {
      object = *--c->top;
      c->gets.bump();
      leave(*c);
      if constexpr (CISTERN_DEBUG_CHECKS) debug_on_get(object);
      return true;
    }
    leave(*c);
    return false;
  }
  CISTERN_ALWAYS_INLINE bool try_push(void* object) noexcept {
    ThreadCache* c = find_cache(slot_);
    if (CISTERN_UNLIKELY(c == nullptr)) return false;
    enter(*c);
    if (CISTERN_LIKELY(!revoked(*c) && c->top != c->ceiling)) {
      *c->top++ = object;
      c->puts.bump();
      leave(*c);
      return true;
    }
    leave(*c);
    return false;
  }

  // Fast path failed (no cache yet, or the loaded magazine is empty).
  void* acquire_slow();
  // Fast path failed (no cache yet, or the loaded magazine is full). The object
  // was already reset and is to be kept.
  void release_slow(void* object) noexcept;
  // A returned object that reset refused: counted, then destroyed.
  void drop(void* object) noexcept;

  virtual void* make_object() = 0;
  virtual void destroy_object(void* object) noexcept = 0;

  // Debug builds: an object leaves a cache (fast or slow path).
  void debug_on_get(void* object) const noexcept;

  std::uint32_t slot_ = UINT32_MAX;  // index into every thread's cache table

 private:
  friend class Registry;

  ThreadCache* attach();
  ThreadCache* attach_or_null() noexcept;  // attach(), or null when out of memory
  // enter() for a slow path: also catches up with a cycle that took the cache.
  void enter_slow(ThreadCache& c) noexcept;
  // The loaded magazine is empty: refills it from the spare or the depot. False
  // when neither has objects (the caller makes one).
  bool refill(ThreadCache& c) noexcept;
  // The loaded magazine is full (or there is none): makes room for one object.
  // False when there is no room (no memory, or the budget's cap).
  bool make_room(ThreadCache& c) noexcept;
  // Bytes for n objects.
  std::size_t bytes(std::size_t n) const noexcept { return n * object_size_; }
  void budget_add(std::size_t objects) noexcept {
    if (budget_ != nullptr) budget_->add(bytes(objects));
  }
  void budget_sub(std::size_t objects) noexcept {
    if (budget_ != nullptr) budget_->sub(bytes(objects));
  }
  void destroy_returned(ThreadCache* c, void* object) noexcept;
  void new_epoch(ThreadCache& c) noexcept;
  Magazine* empty_magazine() noexcept;
  // Destroys the objects in a list of magazines, then the magazines. Returns the
  // number of objects destroyed.
  std::size_t free_magazines(Magazine* list) noexcept;
  // Moves the entry's magazines to the depot (counted as moved out) and leaves it
  // without any. REQUIRES: the owner is out of the pool (it is the caller, or a
  // cycle saw it idle, or it is exiting).
  void hand_in(ThreadCache& c) noexcept;
  // Under the registry lock: hands the entry's magazines to the depot, folds its
  // counters into the retired ones and resets it.
  void flush_locked(ThreadCache& c) noexcept;
  // Under the registry lock: takes the entry's magazines (for freeing) and resets it.
  Magazine* take_locked(ThreadCache& c) noexcept;
  void fold_locked(ThreadCache& c) noexcept;

  const std::uint32_t magazine_size_;
  const std::size_t object_size_;
  const std::string name_;
  Budget own_budget_;
  Budget* const budget_;  // null: nothing counted (no cap)
  Depot depot_;

  // Counters of threads that exited or had no cache. Slow path only.
  std::atomic<std::uint64_t> retired_gets_{0}, retired_misses_{0}, retired_puts_{0},
      retired_drops_{0};
  int pins_ = 0;  // cycles freeing this pool's objects right now; registry lock
};

}  // namespace cistern::detail
