// src/pool_core.cpp — Pool<T>'s slow paths: trading magazines with the depot.
#include "cistern/detail/pool_core.hpp"

#include <new>

#include "cistern/detail/debug_tracker.hpp"
#include "registry.hpp"

namespace cistern::detail {

PoolCore::PoolCore(std::string name, std::uint32_t magazine_size, std::size_t object_size)
    : magazine_size_(magazine_size), object_size_(object_size), name_(std::move(name)) {}

PoolCore::~PoolCore() = default;

void PoolCore::start() { slot_ = Registry::instance().add_pool(this); }

void PoolCore::stop() noexcept {
  free_magazines(Registry::instance().remove_pool(this));
  Depot::Retired all = depot_.take_all();
  free_magazines(all.objects);
  free_magazines(all.empties);
}

ThreadCache* PoolCore::attach() {
  ThreadCache* c = find_cache(slot_);
  if (c != nullptr && c->owner == this) return c;
  return Registry::instance().attach(this);
}

void PoolCore::new_epoch(ThreadCache& c) noexcept {
  c.epoch = Registry::instance().epoch();
  // The spare magazine ages in the depot from now on; the loaded one is in use.
  if (c.spare != nullptr && !c.spare->empty()) {
    c.moved_out.bump(c.spare->count);
    depot_.put_full(c.spare);
    c.spare = nullptr;
  }
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
  if (c->epoch != Registry::instance().epoch()) new_epoch(*c);

  if (c->spare != nullptr && !c->spare->empty()) {
    c->swap_spare();
  } else if (Magazine* full = depot_.take_full()) {
    c->moved_in.bump(full->count);
    c->sync_loaded();
    Magazine* old = c->loaded;  // empty, or none yet
    c->load(full);
    if (old != nullptr) {
      if (c->spare == nullptr) {
        c->spare = old;
      } else {
        depot_.put_empty(old);
      }
    }
  } else {
    void* object = make_object();  // may throw: nothing counted then
    c->gets.bump();
    c->misses.bump();
    if constexpr (CISTERN_DEBUG_CHECKS) debug::on_make(this, object);
    return object;
  }
  void* object = *--c->top;
  c->gets.bump();
  if constexpr (CISTERN_DEBUG_CHECKS) debug_on_get(object);
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

void PoolCore::release_slow(void* object) noexcept {
  ThreadCache* c = attach_or_null();
  if (c == nullptr) return destroy_returned(nullptr, object);  // exiting thread (or no memory): nowhere to cache it
  if (c->epoch != Registry::instance().epoch()) new_epoch(*c);

  if (c->loaded == nullptr) {
    c->load(empty_magazine());
  } else if (c->spare != nullptr && !c->spare->full()) {
    c->swap_spare();
  } else {
    c->sync_loaded();
    Magazine* full = c->loaded;
    Magazine* fresh = empty_magazine();
    if (fresh != nullptr) {
      if (c->spare == nullptr) {
        c->spare = full;
      } else {
        c->moved_out.bump(full->count);
        depot_.put_full(full);
      }
    }
    c->load(fresh);
  }
  if (c->loaded == nullptr) return destroy_returned(c, object);  // no memory for a magazine
  *c->top++ = object;
  c->puts.bump();
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

void PoolCore::free_magazines(Magazine* list) noexcept {
  while (list != nullptr) {
    Magazine* next = list->next;
    for (std::uint32_t i = 0; i < list->count; ++i) {
      if constexpr (CISTERN_DEBUG_CHECKS) debug::on_destroy(list->items()[i]);
      destroy_object(list->items()[i]);
    }
    Magazine::destroy(list);
    list = next;
  }
}

void PoolCore::fold_locked(ThreadCache& c) noexcept {
  retired_gets_.fetch_add(c.gets.get(), std::memory_order_relaxed);  // a statistic
  retired_misses_.fetch_add(c.misses.get(), std::memory_order_relaxed);
  retired_puts_.fetch_add(c.puts.get(), std::memory_order_relaxed);
  retired_drops_.fetch_add(c.drops.get(), std::memory_order_relaxed);
}

void PoolCore::flush_locked(ThreadCache& c) noexcept {
  c.sync_loaded();
  for (Magazine* m : {c.loaded, c.spare}) {
    if (m == nullptr) continue;
    if (m->empty()) {
      depot_.put_empty(m);
    } else {
      depot_.put_full(m);
    }
  }
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
    c->sync_loaded();
    for (Magazine** m : {&c->loaded, &c->spare}) {
      if (*m == nullptr) continue;
      if ((*m)->empty()) {
        depot_.put_empty(*m);
      } else {
        c->moved_out.bump((*m)->count);
        depot_.put_full(*m);
      }
      *m = nullptr;
    }
    c->load(nullptr);
  }
  Depot::Retired all = depot_.take_all();
  free_magazines(all.objects);
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
