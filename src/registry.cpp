// SPDX-License-Identifier: Apache-2.0
// src/registry.cpp — thread tables, the list of pools, cycles and the cycle clock.
#include "registry.hpp"

#include <chrono>
#include <thread>
#include <utility>

#include "cistern/detail/cycle_hooks.hpp"
#include "cistern/detail/hazard.hpp"
#include "cistern/pool.hpp"

#include <map>

namespace cistern::detail {
namespace {

// Flushes the thread's caches when it exits. Armed on the thread's first attach,
// so threads that never use a pool pay nothing.
struct ThreadExitHook {
  bool armed = false;
  ~ThreadExitHook() {
    if (armed) Registry::instance().thread_exit(tls_table);
  }
};
thread_local ThreadExitHook exit_hook;

void reset_entry(ThreadCache& c) noexcept {
  c.top = c.floor = c.ceiling = nullptr;
  c.loaded = c.spare = nullptr;
  c.owner = nullptr;
  c.epoch = 0;
  c.idle_mark = 0;
  c.busy.store(0, std::memory_order_relaxed);    // the owner is known to be out (lock held)
  c.revoke.store(0, std::memory_order_relaxed);
  for (Counter* k : {&c.gets, &c.misses, &c.puts, &c.drops, &c.moved_in, &c.moved_out}) k->set(0);
}

void move_entry(ThreadCache& to, ThreadCache& from) noexcept {
  to.top = from.top;
  to.floor = from.floor;
  to.ceiling = from.ceiling;
  to.loaded = from.loaded;
  to.spare = from.spare;
  to.owner = from.owner;
  to.epoch = from.epoch;
  to.idle_mark = from.idle_mark;
  // The owner is growing its own table (lock held), so it is in no get or put.
  to.busy.store(from.busy.load(std::memory_order_relaxed), std::memory_order_relaxed);
  to.revoke.store(from.revoke.load(std::memory_order_relaxed), std::memory_order_relaxed);
  to.gets.set(from.gets.get());
  to.misses.set(from.misses.get());
  to.puts.set(from.puts.get());
  to.drops.set(from.drops.get());
  to.moved_in.set(from.moved_in.get());
  to.moved_out.set(from.moved_out.get());
}

}  // namespace

Registry& Registry::instance() noexcept {
  // Never destroyed: threads may exit, and pools may be destroyed, after static
  // destructors have run.
  static Registry* registry = new Registry;
  return *registry;
}

std::uint32_t Registry::add_pool(PoolCore* pool) {
  std::uint32_t slot;
  {
    std::lock_guard lock(mu_);
    slot = 0;
    while (slot < pools_.size() && pools_[slot] != nullptr) ++slot;
    if (slot == pools_.size()) pools_.push_back(nullptr);
    pools_[slot] = pool;
  }
  ensure_cycle_clock();
  return slot;
}

Magazine* Registry::remove_pool(PoolCore* pool) noexcept {
  std::unique_lock lock(mu_);
  unpinned_.wait(lock, [&] { return pool->pins_ == 0; });
  pools_[pool->slot_] = nullptr;
  Magazine* list = nullptr;
  for (ThreadTable* t : threads_) {
    if (pool->slot_ >= t->size) continue;
    ThreadCache& c = t->caches[pool->slot_];
    if (c.owner != pool) continue;
    Magazine* taken = pool->take_locked(c);
    while (taken != nullptr) {
      Magazine* next = taken->next;
      taken->next = list;
      list = taken;
      taken = next;
    }
    reset_entry(c);
  }
  return list;
}

ThreadCache* Registry::attach(PoolCore* pool) {
  ThreadTable& table = tls_table;
  if (table.exiting) return nullptr;
  std::lock_guard lock(mu_);
  if (pool->slot_ >= table.size) {
    if (table.caches == nullptr) {
      threads_.push_back(&table);
      exit_hook.armed = true;
    }
    grow_locked(table, pool->slot_ + 1);
  }
  ThreadCache& c = table.caches[pool->slot_];
  if (c.owner == nullptr) {
    c.owner = pool;
    c.epoch = epoch_.load(std::memory_order_relaxed);  // written under mu_, which we hold
  }
  return &c;
}

void Registry::grow_locked(ThreadTable& table, std::uint32_t min_size) {
  std::uint32_t size = table.size < 8 ? 8 : table.size * 2;
  while (size < min_size) size *= 2;
  auto* caches = new ThreadCache[size];
  for (std::uint32_t i = 0; i < table.size; ++i) move_entry(caches[i], table.caches[i]);
  delete[] std::exchange(table.caches, caches);
  table.size = size;
}

void Registry::thread_exit(ThreadTable& table) noexcept {
  std::lock_guard lock(mu_);
  for (std::uint32_t i = 0; i < table.size; ++i) {
    ThreadCache& c = table.caches[i];
    if (c.owner != nullptr) {
      c.owner->flush_locked(c);
      reset_entry(c);
    }
  }
  std::erase(threads_, &table);
  delete[] table.caches;
  table.caches = nullptr;
  table.size = 0;
  table.exiting = true;
}

namespace {

struct Hooks {
  std::mutex mu;  // held while hooks run, so removal waits for a running hook
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, std::function<void()>> hooks;
};
Hooks& hooks() {
  static Hooks* h = new Hooks;  // never destroyed, like the registry
  return *h;
}

void run_hooks() {
  Hooks& h = hooks();
  std::lock_guard lock(h.mu);
  for (auto& [id, hook] : h.hooks) hook();
}

}  // namespace

CycleHook add_cycle_hook(std::function<void()> hook) {
  Hooks& h = hooks();
  std::lock_guard lock(h.mu);
  std::uint64_t id = h.next_id++;
  h.hooks.emplace(id, std::move(hook));
  return CycleHook(id);
}

void remove_cycle_hook(std::uint64_t id) noexcept {
  Hooks& h = hooks();
  std::lock_guard lock(h.mu);
  h.hooks.erase(id);
}

void Registry::cycle() {
  cycle_pools();
  run_hooks();
}

bool Registry::can_reclaim_live() noexcept {
#if CISTERN_TSAN
  return true;  // both sides use seq_cst operations
#else
  return hazard::g_asymmetric;  // the owner's compiler fence needs our membarrier
#endif
}

void Registry::reclaim_idle_locked() {
  if (!can_reclaim_live()) return;
  idle_.clear();
  for (ThreadTable* t : threads_) {
    for (std::uint32_t i = 0; i < t->size; ++i) {
      ThreadCache& c = t->caches[i];
      // An entry revoked before and not used since has nothing left to take.
      if (c.owner == nullptr || c.revoke.load(std::memory_order_relaxed) != 0) continue;
      std::uint64_t ops = c.gets.get() + c.puts.get();
      if (ops != c.idle_mark) {  // used since the previous cycle
        c.idle_mark = ops;
        continue;
      }
      idle_.push_back(&c);
    }
  }
  if (idle_.empty()) return;
  // The cycle's half of the handshake in thread_cache.hpp: revoke, one fence for
  // every entry, then take only what no owner is using.
#if CISTERN_TSAN
  constexpr auto kRevoke = std::memory_order_seq_cst, kCheck = std::memory_order_seq_cst;
#else
  constexpr auto kRevoke = std::memory_order_relaxed;  // made visible by writer_fence's membarrier
  constexpr auto kCheck = std::memory_order_acquire;   // pairs with leave()'s release
#endif
  for (ThreadCache* c : idle_) c->revoke.store(1, kRevoke);
  hazard::writer_fence();
  for (ThreadCache* c : idle_) {
    if (c->busy.load(kCheck) != 0) {  // in a get or put right now: not idle after all
      c->revoke.store(0, std::memory_order_relaxed);
      continue;
    }
    c->owner->hand_in(*c);  // revoke stays set until the owner has seen it
  }
  idle_.clear();
}

void Registry::cycle_pools() {
  std::vector<std::pair<PoolCore*, Depot::Retired>> work;
  {
    std::lock_guard lock(mu_);
    epoch_.store(epoch_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // under mu_
    // Idle threads' caches go to their depots first, so they age with the depot:
    // freed by the next cycle if nobody takes them.
    reclaim_idle_locked();
    work.reserve(pools_.size());
    for (PoolCore* p : pools_) {
      if (p == nullptr) continue;
      Depot::Retired r = p->depot_.rotate();
      if (r.objects == nullptr && r.empties == nullptr) continue;
      ++p->pins_;  // keeps p alive until its objects are freed below
      work.emplace_back(p, r);
    }
  }
  for (auto& [pool, retired] : work) {
    pool->budget_sub(pool->free_magazines(retired.objects));
    pool->free_magazines(retired.empties);
  }
  if (work.empty()) return;
  {
    std::lock_guard lock(mu_);
    for (auto& entry : work) --entry.first->pins_;
  }
  unpinned_.notify_all();
}

// ---------------------------------------------------------------------------
// The background cycle clock.

namespace {

class CycleClock {
 public:
  ~CycleClock() { stop_thread(); }

  void ensure() {
    std::lock_guard lock(mu_);
    wanted_ = true;
    start_locked();
  }

  void set_interval(std::chrono::milliseconds interval) {
    {
      std::lock_guard lock(mu_);
      interval_ = interval;
      changed_ = true;
      if (interval_.count() > 0) {
        if (wanted_) start_locked();
        cv_.notify_all();
        return;
      }
    }
    stop_thread();
  }

 private:
  void start_locked() {
    if (thread_.joinable() || interval_.count() <= 0) return;
    stop_ = false;
    thread_ = std::thread([this] { run(); });
  }

  void stop_thread() {
    std::thread t;
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      t = std::move(thread_);
    }
    cv_.notify_all();
    if (t.joinable()) t.join();
  }

  void run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      changed_ = false;
      bool woken = cv_.wait_for(lock, interval_, [&] { return stop_ || changed_; });
      if (woken) continue;  // stopped, or a new interval: wait again with it
      lock.unlock();
      Registry::instance().cycle();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  std::chrono::milliseconds interval_{5000};
  bool wanted_ = false;   // a pool exists, so cycles are worth running
  bool stop_ = false;
  bool changed_ = false;
};

CycleClock& clock() {
  static CycleClock c;
  return c;
}

}  // namespace

void ensure_cycle_clock() { clock().ensure(); }

}  // namespace cistern::detail

namespace cistern {

void cycle() { detail::Registry::instance().cycle(); }

void set_cycle_interval(std::chrono::milliseconds interval) {
  if (interval.count() < 0) interval = std::chrono::milliseconds(0);
  detail::clock().set_interval(interval);
}

}  // namespace cistern
