// SPDX-License-Identifier: Apache-2.0
// src/pool_core.cpp — Pool<T>'s slow paths: trading magazines with the depot.
#include "cistern/detail/pool_core.hpp"

#include <limits>
#include <mutex>
#include <new>

#include "cistern/detail/debug_tracker.hpp"
#include "registry.hpp"

namespace cistern::detail {
namespace {

std::size_t cap_bytes(std::size_t objects, std::size_t object_size) noexcept {
  if (object_size != 0 && objects > std::numeric_limits<std::size_t>::max() / object_size)
    return std::numeric_limits<std::size_t>::max();
  return objects * object_size;
}

}  // namespace

PoolCore::PoolCore(std::string name, std::uint32_t magazine_size, std::size_t object_size, Budget* shared,
                   std::size_t max_cached)
    : magazine_size_(magazine_size),
      object_size_(object_size),
      name_(std::move(name)),
      own_budget_(cap_bytes(max_cached, object_size)),
      budget_(shared != nullptr ? shared : (max_cached != 0 ? &own_budget_ : nullptr)) {}

PoolCore::~PoolCore() = default;

void PoolCore::start() { slot_ = Registry::instance().add_pool(this); }

void PoolCore::stop() noexcept {
  free_magazines(Registry::instance().remove_pool(this));
  Depot::Retired all = depot_.take_all();
  budget_sub(free_magazines(all.objects));
  free_magazines(all.empties);
}

ThreadCache* PoolCore::attach() {
  ThreadCache* c = find_cache(slot_);
  if (c != nullptr && c->owner == this) return c;
  return Registry::instance().attach(this);
}

void PoolCore::enter_slow(ThreadCache& c) noexcept {
  enter(c);
  if (CISTERN_UNLIKELY(revoked(c))) {
    // A cycle took (or is deciding whether to take) this cache. It writes under the
    // registry lock, so taking it orders its writes before ours.
    std::lock_guard lock(Registry::instance().mutex());
    c.revoke.store(0, std::memory_order_relaxed);  // under the lock, like the cycle's writes
  }
}

void PoolCore::new_epoch(ThreadCache& c) noexcept {
  c.epoch = Registry::instance().epoch();
  // The spare magazine ages in the depot from now on; the loaded one is in use.
  // (Both count against the budget already.)
  if (c.spare != nullptr && !c.spare->empty()) {
    c.moved_out.bump(c.spare->count);
    depot_.put_full(c.spare);
    c.spare = nullptr;
  }
}

bool PoolCore::refill(ThreadCache& c) noexcept {
  if (c.loaded != nullptr && c.top != c.floor) return true;  // a cycle's revoke sent us here for nothing
  if (c.spare != nullptr && !c.spare->empty()) {
    budget_sub(c.spare->count);  // the spare becomes the loaded magazine
    c.swap_spare();
    return true;
  }
  Magazine* full = depot_.take_full();
  if (full == nullptr) return false;
  budget_sub(full->count);
  c.moved_in.bump(full->count);
  c.sync_loaded();
  Magazine* old = c.loaded;  // empty, or none yet
  c.load(full);
  if (old != nullptr) {
    if (c.spare == nullptr) {
      c.spare = old;
    } else {
      depot_.put_empty(old);
    }
  }
  return true;
}

void* PoolCore::acquire_slow() {
  ThreadCache* c = attach();
  if (c == nullptr) {  // the thread is exiting: no cache any more
    void* object = make_object();
    retired_gets_.fetch_add(1, std::memory_order_relaxed);  // a statistic
    retired_misses_.fetch_add(1, std::memory_order_relaxed);
    if constexpr (CISTERN_DEBUG_CHECKS) debug::on_make(this, object);
    return object;
  }
  enter_slow(*c);
  if (c->epoch != Registry::instance().epoch()) new_epoch(*c);
  if (refill(*c)) {
    void* object = *--c->top;
    c->gets.bump();
    leave(*c);
    if constexpr (CISTERN_DEBUG_CHECKS) debug_on_get(object);
    return object;
  }
  leave(*c);                     // user code runs next, outside the handshake
  void* object = make_object();  // may throw: nothing counted then
  c->gets.bump();
  c->misses.bump();
  if constexpr (CISTERN_DEBUG_CHECKS) debug::on_make(this, object);
  return object;
}

Magazine* PoolCore::empty_magazine() noexcept {
  if (Magazine* m = depot_.take_empty()) return m;
  try {
    return Magazine::create(magazine_size_);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

ThreadCache* PoolCore::attach_or_null() noexcept {
  try {
    return attach();
  } catch (const std::bad_alloc&) {
    return nullptr;  // no memory for a cache table: the caller goes without a cache
  }
}

bool PoolCore::make_room(ThreadCache& c) noexcept {
  if (c.loaded == nullptr) {
    c.load(empty_magazine());
    return c.loaded != nullptr;
  }
  if (c.top != c.ceiling) return true;  // a cycle's revoke sent us here for nothing
  c.sync_loaded();
  if (c.spare != nullptr && !c.spare->full()) {
    // The full loaded magazine becomes the spare, the spare the loaded one.
    std::size_t in = c.loaded->count, out = c.spare->count;
    if (in > out) {
      if (budget_ != nullptr && !budget_->try_add(bytes(in - out))) return false;
    } else {
      budget_sub(out - in);
    }
    c.swap_spare();
    return true;
  }
  // Loaded full, spare full or none: park the loaded one and load an empty one.
  std::size_t parked = c.loaded->count;
  if (budget_ != nullptr && !budget_->try_add(bytes(parked))) return false;
  Magazine* fresh = empty_magazine();
  if (fresh == nullptr) {
    budget_sub(parked);
    return false;
  }
  Magazine* full = c.loaded;
  if (c.spare == nullptr) {
    c.spare = full;
  } else {
    c.moved_out.bump(full->count);
    depot_.put_full(full);
  }
  c.load(fresh);
  return true;
}

void PoolCore::release_slow(void* object) noexcept {
  ThreadCache* c = attach_or_null();
  if (c == nullptr) return destroy_returned(nullptr, object);  // exiting thread (or no memory): nowhere to cache it
  enter_slow(*c);
  if (c->epoch != Registry::instance().epoch()) new_epoch(*c);
  bool room = make_room(*c);
  if (room) {
    *c->top++ = object;
    c->puts.bump();
  }
  leave(*c);
  if (!room) destroy_returned(c, object);  // no memory for a magazine, or over the cap
}

void PoolCore::drop(void* object) noexcept { destroy_returned(attach_or_null(), object); }

// A returned object that is not cached: counted as a put and a drop (on this
// thread's cache, or on the retired counters without one), then destroyed.
void PoolCore::destroy_returned(ThreadCache* c, void* object) noexcept {
  if (c != nullptr) {
    c->puts.bump();
    c->drops.bump();
  } else {
    retired_puts_.fetch_add(1, std::memory_order_relaxed);  // a statistic
    retired_drops_.fetch_add(1, std::memory_order_relaxed);
  }
  if constexpr (CISTERN_DEBUG_CHECKS) debug::on_destroy(object);
  destroy_object(object);
}

void PoolCore::debug_on_get(void* object) const noexcept {
  unpoison(object, object_size_);
  debug::on_get(this, label(), object);
}

std::size_t PoolCore::free_magazines(Magazine* list) noexcept {
  std::size_t freed = 0;
  while (list != nullptr) {
    Magazine* next = list->next;
    for (std::uint32_t i = 0; i < list->count; ++i) {
      if constexpr (CISTERN_DEBUG_CHECKS) debug::on_destroy(list->items()[i]);
      destroy_object(list->items()[i]);
    }
    freed += list->count;
    Magazine::destroy(list);
    list = next;
  }
  return freed;
}

void PoolCore::prefill(std::size_t n) {
  while (n > 0) {
    std::size_t k = n < magazine_size_ ? n : magazine_size_;
    if (budget_ != nullptr) {
      std::size_t room = budget_->room() / (object_size_ != 0 ? object_size_ : 1);
      if (room < k) k = room;
      if (k == 0 || !budget_->try_add(bytes(k))) return;  // at the cap
    }
    Magazine* m = depot_.take_empty();
    if (m == nullptr) {
      try {
        m = Magazine::create(magazine_size_);
      } catch (...) {
        budget_sub(k);
        throw;
      }
    }
    try {
      while (m->count < k) {
        void* object = make_object();
        if constexpr (CISTERN_DEBUG_CHECKS) {
          debug::on_make(this, object);
          debug::on_put(this, label(), object);
        }
        poison(object, object_size_);
        m->items()[m->count++] = object;
      }
    } catch (...) {
      budget_sub(k - m->count);
      if (m->empty()) {
        depot_.put_empty(m);
      } else {
        depot_.put_full(m);
      }
      throw;
    }
    depot_.put_full(m);
    n -= k;
  }
}

void PoolCore::fold_locked(ThreadCache& c) noexcept {
  retired_gets_.fetch_add(c.gets.get(), std::memory_order_relaxed);  // a statistic
  retired_misses_.fetch_add(c.misses.get(), std::memory_order_relaxed);
  retired_puts_.fetch_add(c.puts.get(), std::memory_order_relaxed);
  retired_drops_.fetch_add(c.drops.get(), std::memory_order_relaxed);
}

void PoolCore::hand_in(ThreadCache& c) noexcept {
  c.sync_loaded();
  for (Magazine* m : {c.loaded, c.spare}) {
    if (m == nullptr) continue;
    if (m->empty()) {
      depot_.put_empty(m);
    } else {
      c.moved_out.bump(m->count);
      if (m == c.loaded) budget_add(m->count);  // the spare counts already
      depot_.put_full(m);
    }
  }
  c.spare = nullptr;
  c.load(nullptr);
}

void PoolCore::flush_locked(ThreadCache& c) noexcept {
  hand_in(c);
  fold_locked(c);
}

Magazine* PoolCore::take_locked(ThreadCache& c) noexcept {
  c.sync_loaded();
  Magazine* list = nullptr;
  for (Magazine* m : {c.loaded, c.spare}) {
    if (m == nullptr) continue;
    m->next = list;
    list = m;
  }
  fold_locked(c);
  return list;
}

void PoolCore::clear() {
  // This thread's own cache first: only its owner may touch it.
  if (ThreadCache* c = find_cache(slot_); c != nullptr && c->owner == this) {
    enter_slow(*c);
    hand_in(*c);
    leave(*c);
  }
  Depot::Retired all = depot_.take_all();
  budget_sub(free_magazines(all.objects));
  free_magazines(all.empties);
}

PoolStats PoolCore::stats() const {
  PoolStats s;
  std::uint64_t cached = depot_.objects();
  Registry::instance().for_each_cache(this, [&](const ThreadCache& c) {
    s.gets += c.gets.get();
    s.misses += c.misses.get();
    s.puts += c.puts.get();
    s.drops += c.drops.get();
    cached += c.cached();
  });
  s.gets += retired_gets_.load(std::memory_order_relaxed);  // a statistic
  s.misses += retired_misses_.load(std::memory_order_relaxed);
  s.puts += retired_puts_.load(std::memory_order_relaxed);
  s.drops += retired_drops_.load(std::memory_order_relaxed);
  s.hits = s.gets >= s.misses ? s.gets - s.misses : 0;
  s.cached = static_cast<std::size_t>(cached);
  return s;
}

}  // namespace cistern::detail
