// cistern/detail/pool_core.hpp — the type-erased body of Pool<T>.
//
// Internal. Pool<T> keeps its fast path inline (pop or push on the thread's loaded
// magazine, see thread_cache.hpp) and sends everything else here: the slow paths
// that trade magazines with the depot, attaching a thread to the pool, flushing at
// thread exit, cycles, statistics and teardown. None of it depends on T; the two
// things that do (making and destroying an object) are virtual.
//
// Lock order: registry lock, then a depot lock. Slow paths take only the depot
// lock. No lock is held while user code (factory, destructor) runs.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "cistern/detail/config.hpp"
#include "cistern/detail/depot.hpp"
#include "cistern/detail/thread_cache.hpp"
#include "cistern/stats.hpp"

namespace cistern::detail {

class Registry;

class PoolCore {
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

 protected:
  PoolCore(std::string name, std::uint32_t magazine_size, std::size_t object_size);
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
    if (void* object = try_pop(); CISTERN_LIKELY(object != nullptr)) return object;
    return acquire_slow();
  }
  // A returned object that is to be cached (already reset): poisoned for ASan,
  // then a push on this thread's loaded magazine, else the slow path.
  CISTERN_ALWAYS_INLINE void keep(void* object) noexcept {
    poison(object, object_size_);
    if (CISTERN_LIKELY(try_push(object))) return;
    release_slow(object);
  }

  // The halves of the fast paths: null / false when the slow path must run.
  CISTERN_ALWAYS_INLINE void* try_pop() noexcept {
    ThreadCache* c = find_cache(slot_);
    if (CISTERN_LIKELY(c != nullptr && c->top != c->floor)) {
      void* object = *--c->top;
      c->gets.bump();
      if constexpr (CISTERN_DEBUG_CHECKS) debug_on_get(object);
      return object;
    }
    return nullptr;
  }
  CISTERN_ALWAYS_INLINE bool try_push(void* object) noexcept {
    ThreadCache* c = find_cache(slot_);
    if (CISTERN_LIKELY(c != nullptr && c->top != c->ceiling)) {
      *c->top++ = object;
      c->puts.bump();
      return true;
    }
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
  void destroy_returned(ThreadCache* c, void* object) noexcept;
  void new_epoch(ThreadCache& c) noexcept;
  Magazine* empty_magazine() noexcept;
  // Destroys the objects in a list of magazines, then the magazines.
  void free_magazines(Magazine* list) noexcept;
  // Under the registry lock: hands the entry's magazines to the depot, folds its
  // counters into the retired ones and resets it.
  void flush_locked(ThreadCache& c) noexcept;
  // Under the registry lock: takes the entry's magazines (for freeing) and resets it.
  Magazine* take_locked(ThreadCache& c) noexcept;
  void fold_locked(ThreadCache& c) noexcept;

  const std::uint32_t magazine_size_;
  const std::size_t object_size_;
  const std::string name_;
  Depot depot_;

  // Counters of threads that exited or had no cache. Slow path only.
  std::atomic<std::uint64_t> retired_gets_{0}, retired_misses_{0}, retired_puts_{0},
      retired_drops_{0};
  int pins_ = 0;  // cycles freeing this pool's objects right now; registry lock
};

}  // namespace cistern::detail
