// SPDX-License-Identifier: Apache-2.0
/// @file
/// @brief ResourcePool<T>: a bounded pool of expensive,
/// breakable resources (connections, channels, sessions).
///
/// What it is
///   At most `max_size` resources exist at once (idle + leased + being created).
///   acquire() hands out an idle one, or creates one, or waits — first come, first
///   served — at most `acquire_timeout`, and then throws AcquireTimeout naming the
///   pool, the wait, the counts and the last creation error. A resource that was
///   idle longer than `validate_after_idle` is validated before it is handed out.
///   One background thread (shared by all pools) evicts idle resources after
///   `idle_timeout`, retires them at `max_lifetime`, refills `min_idle`, retries
///   failed creations with backoff and reports leases held past `leak_threshold`.
///
///   auto pool = cistern::ResourcePool<Conn>({.create = [] { return std::make_unique<Conn>(addr); },
///                                            .validate = [](Conn& c) { return c.ping(); },
///                                            .max_size = 16, .name = "orders-db"});
///   auto conn = pool.acquire();      // ResourceLease<Conn>
///   conn->query("...");
///   if (conn->broken()) conn.invalidate();   // destroyed instead of returned
///
/// How the common case stays cheap
///   Each resource sits in a fixed slot with an atomic state. A thread remembers the
///   slot it returned last (as HikariCP's ConcurrentBag does); when nobody waits,
///   acquire() claims that slot with one compare-and-swap and release() frees it
///   with one store: no lock. Everything else — scanning for an idle slot, creating,
///   waiting, handing a returned resource to the longest waiter — goes through one
///   mutex. Waiters announce themselves before they look (and returners look for
///   waiters after they return), so a resource returned on the fast path is never
///   missed by a waiter.
///
/// Thread-safety: every member may be called from any thread. Leases are values
/// that may move between threads. A lease must not outlive its pool.
///
/// Callbacks (create, validate, destroy of T) run outside the pool's lock, on the
/// calling thread or on the housekeeping thread. They may throw (create's
/// exception is the "last creation error"; validate throwing counts as invalid).
///
/// When not to use it
///   - Cheap objects: Pool<T> is unbounded and far cheaper.
///   - Resources that can be shared by many users at once (an HTTP/2 channel):
///     share one, or use SharedPool<T>.
#pragma once

#include <execinfo.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdio>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "cistern/detail/cpu.hpp"
#include "cistern/detail/config.hpp"
#include "cistern/detail/export.hpp"
#include "cistern/detail/housekeeper.hpp"
#include "cistern/detail/metrics_registry.hpp"

namespace cistern {

/// acquire() waited acquire_timeout. what() names the pool, the wait, the counts and
/// the last creation error, if there was one.
struct CISTERN_API AcquireTimeout : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// The pool was closed (before or while waiting).
struct CISTERN_API PoolClosed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ResourcePoolStats {
  std::size_t active = 0;   // leased now
  std::size_t idle = 0;     // idle now
  std::size_t waiting = 0;  // acquirers waiting now
  std::uint64_t created = 0, destroyed = 0, timeouts = 0, validation_failures = 0, leaks = 0;
  std::uint64_t creation_failures = 0;
  double wait_p50_us = 0, wait_p99_us = 0;  // acquire wait, over the pool's life (bucketed)
};

/// What the leak callback receives: a lease held longer than leak_threshold.
struct LeakReport {
  std::string pool;
  std::chrono::milliseconds held;
  std::string acquired_at;  // a symbolized stack of the acquire, one frame a line
};

template <class T>
class ResourcePool;

namespace detail {

enum : int { kEmpty = 0, kCreating = 1, kIdle = 2, kLeased = 3, kRemoving = 4 };

template <class T>
struct alignas(kCacheLine) ResourceSlot {
  std::atomic<int> state{kEmpty};
  std::unique_ptr<T> resource;   // owned by whoever moved state away from kIdle
  /// Timestamps are read by the housekeeping thread while other threads may lease
  /// and return the slot, hence atomics (relaxed: each is a reading of a clock).
  std::atomic<std::int64_t> expires_ms{0};     // max_lifetime with jitter; 0: never
  std::atomic<std::int64_t> idle_since_ms{0};
  /// Set (release) by the lessee after it captured the stack; 0 while not leased.
  std::atomic<std::int64_t> leased_ms{0};
  std::atomic<bool> leak_reported{false};
  int frames = 0;
  std::array<void*, 12> stack{};  // where it was acquired (leak detection only)
};

/// This thread's last returned slot per pool (a few pools at once).
struct ResourceHint {
  std::uint64_t pool_uid = 0;
  void* slot = nullptr;
};
CISTERN_API inline constinit thread_local std::array<ResourceHint, 4> tls_resource_hints{};
CISTERN_API inline constinit thread_local unsigned tls_resource_hint_next = 0;
CISTERN_API std::uint64_t next_resource_pool_uid() noexcept;
CISTERN_API std::string symbolize(void* const* frames, int n);

/// Log2 histogram of wait times in microseconds.
struct CISTERN_API WaitHistogram {
  std::array<std::atomic<std::uint64_t>, 32> buckets{};
  void add(std::int64_t us, std::uint64_t n = 1) noexcept {
    unsigned b = us <= 0 ? 0 : std::min(31u, static_cast<unsigned>(std::bit_width(static_cast<std::uint64_t>(us))));
    buckets[b].fetch_add(n, std::memory_order_relaxed);  // a statistic
  }
  double percentile(double q) const noexcept;
};

}  // namespace detail

template <class T>
class ResourceLease {
 public:
  ResourceLease() noexcept = default;
  ResourceLease(ResourceLease&& o) noexcept
      : pool_(std::exchange(o.pool_, nullptr)), slot_(std::exchange(o.slot_, nullptr)), invalid_(o.invalid_) {}
  ResourceLease& operator=(ResourceLease&& o) noexcept {
    if (this != &o) {
      give_back();
      pool_ = std::exchange(o.pool_, nullptr);
      slot_ = std::exchange(o.slot_, nullptr);
      invalid_ = o.invalid_;
    }
    return *this;
  }
  ResourceLease(const ResourceLease&) = delete;
  ResourceLease& operator=(const ResourceLease&) = delete;
  ~ResourceLease() { give_back(); }

  /// REQUIRES (->, *): not empty.
  T* operator->() const noexcept { return slot_->resource.get(); }
  T& operator*() const noexcept { return *slot_->resource; }
  T* get() const noexcept { return slot_ != nullptr ? slot_->resource.get() : nullptr; }
  explicit operator bool() const noexcept { return slot_ != nullptr; }
  /// The resource is broken: it is destroyed when the lease ends, not returned.
  void invalidate() noexcept { invalid_ = true; }
  /// Returns the resource now (or destroys it, if invalidated).
  void reset() noexcept { give_back(); }

 private:
  friend class ResourcePool<T>;
  ResourceLease(ResourcePool<T>* pool, detail::ResourceSlot<T>* slot) noexcept : pool_(pool), slot_(slot) {}
  void give_back() noexcept {
    if (slot_ != nullptr) pool_->release(std::exchange(slot_, nullptr), invalid_);
    invalid_ = false;
  }

  ResourcePool<T>* pool_ = nullptr;
  detail::ResourceSlot<T>* slot_ = nullptr;
  bool invalid_ = false;
};

namespace detail {
template <class T>
concept HasBrokenMember = requires(const T& t) {
  { t.broken() } -> std::convertible_to<bool>;
};
}  // namespace detail

template <class T>
class ResourcePool final : private detail::HousekeepingClient {
  using Slot = detail::ResourceSlot<T>;

 public:
  struct Options {
    /// Makes a resource. May throw: the message becomes the "last creation error"
    /// reported by AcquireTimeout, and creation is retried with backoff. Required.
    std::function<std::unique_ptr<T>()> create = {};
    /// Checks a resource that was idle longer than validate_after_idle before it is
    /// handed out (and idle ones now and then). Empty: always valid.
    std::function<bool(T&)> validate = {};
    /// Hard upper bound on resources alive at once; must be > 0.
    std::size_t max_size = 8;
    /// Idle resources kept ready (created in the background); <= max_size.
    std::size_t min_idle = 0;
    /// Longest wait of acquire() for a resource.
    std::chrono::milliseconds acquire_timeout{1000};
    /// Idle resources beyond min_idle are destroyed after this long unused.
    std::chrono::milliseconds idle_timeout{600000};
    /// A resource is retired after this long (minus up to 2.5% jitter), never while
    /// leased. 0: never.
    std::chrono::milliseconds max_lifetime{1800000};
    /// An acquire of a resource idle longer than this validates it first.
    std::chrono::milliseconds validate_after_idle{500};
    /// A lease held longer than this is reported once to on_leak. 0: off (and no
    /// stack is captured at acquire).
    std::chrono::milliseconds leak_threshold{0};
    /// Non-empty: listed in metrics_text()/metrics_json().
    std::string name = {};
    /// Receives leak reports. Empty: written to stderr.
    std::function<void(const LeakReport&)> on_leak = {};
    /// Called on return: true means the resource is broken and is destroyed. Empty:
    /// calls t.broken() when T has it.
    std::function<bool(const T&)> is_broken = {};
  };

  /// Throws std::invalid_argument naming the option that is wrong and why.
  explicit ResourcePool(Options options) : options_(std::move(options)), uid_(detail::next_resource_pool_uid()) {
    check_options();
    slots_ = std::make_unique<Slot[]>(options_.max_size);
    if (!options_.name.empty()) {
      metrics_ = detail::register_metrics(options_.name, "resource_pool",
                                          [this](std::vector<detail::MetricSample>& out) { append_metrics(out); });
    }
    detail::housekeeper_add(this);
  }
  ResourcePool(const ResourcePool&) = delete;
  ResourcePool& operator=(const ResourcePool&) = delete;
  /// Closes the pool and destroys every resource. REQUIRES: no lease is alive.
  ~ResourcePool() {
    metrics_.reset();
    detail::housekeeper_remove(this);
    close();
  }

  /// A resource, waiting at most acquire_timeout. Throws AcquireTimeout or PoolClosed.
  ResourceLease<T> acquire() {
    if (std::optional<ResourceLease<T>> lease = try_acquire(options_.acquire_timeout)) return std::move(*lease);
    timeouts_.fetch_add(1, std::memory_order_relaxed);  // a statistic
    throw AcquireTimeout(timeout_message(options_.acquire_timeout));
  }

  /// As acquire(), with its own timeout, and an empty optional on timeout.
  /// Throws PoolClosed.
  std::optional<ResourceLease<T>> try_acquire(std::chrono::milliseconds timeout) {
    if (Slot* s = try_hint(); s != nullptr) return ResourceLease<T>(this, s);
    return acquire_slow(timeout);
  }

  ResourcePoolStats stats() const {
    ResourcePoolStats s;
    for (std::size_t i = 0; i < options_.max_size; ++i) {
      int st = slots_[i].state.load(std::memory_order_relaxed);  // a snapshot
      if (st == detail::kIdle) ++s.idle;
      if (st == detail::kLeased) ++s.active;
    }
    s.waiting = static_cast<std::size_t>(waiting_.load(std::memory_order_relaxed));  // statistics below
    s.created = created_.load(std::memory_order_relaxed);
    s.destroyed = destroyed_.load(std::memory_order_relaxed);
    s.timeouts = timeouts_.load(std::memory_order_relaxed);
    s.validation_failures = validation_failures_.load(std::memory_order_relaxed);
    s.leaks = leaks_.load(std::memory_order_relaxed);
    s.creation_failures = creation_failures_.load(std::memory_order_relaxed);
    s.wait_p50_us = waits_.percentile(0.50);
    s.wait_p99_us = waits_.percentile(0.99);
    return s;
  }

  /// No new acquires (they throw PoolClosed, waiters too); idle resources are
  /// destroyed now, leased ones when they come back. Idempotent.
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_.store(true, std::memory_order_seq_cst);  // pairs with release()'s check
      for (Waiter* w : waiters_) w->cv.notify_one();  // spinners see closed_ themselves
    }
    for (std::size_t i = 0; i < options_.max_size; ++i) {
      int idle = detail::kIdle;
      if (slots_[i].state.compare_exchange_strong(idle, detail::kRemoving, std::memory_order_acq_rel))
        destroy_slot(&slots_[i]);
    }
  }

  const std::string& name() const noexcept { return options_.name; }

 private:
  friend class ResourceLease<T>;

  /// One acquirer waiting. Whoever serves it writes `handed` (or `kicked`) under mu_
  /// and notifies the cv only if the waiter is asleep; a waiter first spins on its
  /// own flags for a few microseconds, because resources are often held only that
  /// long and a futex wake-up costs more than the hold itself.
  struct Waiter {
    std::condition_variable cv;
    std::atomic<Slot*> handed{nullptr};  // a resource given to this waiter
    std::atomic<bool> kicked{false};     // capacity freed: look again
    bool sleeping = false;               // under mu_
    bool queued = false;                 // in waiters_; read and written by the waiter's own thread
    void wake() noexcept {
      if (sleeping) cv.notify_one();
    }
    /// Gives the waiter a resource. REQUIRES: mu_ held, the waiter already off the
    /// queue. A spinning waiter may leave (and destroy this Waiter) as soon as it
    /// sees `handed`, without taking mu_: so decide before the store whether to
    /// notify, and touch nothing after it unless the waiter sleeps (a sleeper
    /// cannot return before it re-takes mu_, which the caller holds).
    void give(Slot* s) noexcept {
      const bool asleep = sleeping;
      handed.store(s, std::memory_order_release);  // pairs with the waiter's acquire
      if (asleep) cv.notify_one();
    }
  };
  static constexpr std::chrono::microseconds kSpin{50};

  void check_options() const {
    auto bad = [](const std::string& why) { throw std::invalid_argument("cistern::ResourcePool: " + why); };
    if (!options_.create) bad("Options::create is required (how else would a resource be made?)");
    if (options_.max_size == 0) bad("Options::max_size must be at least 1");
    if (options_.min_idle > options_.max_size)
      bad("Options::min_idle (" + std::to_string(options_.min_idle) + ") must not exceed max_size (" +
          std::to_string(options_.max_size) + ")");
    if (options_.acquire_timeout.count() < 0) bad("Options::acquire_timeout must not be negative");
    if (options_.idle_timeout.count() <= 0) bad("Options::idle_timeout must be positive");
    if (options_.max_lifetime.count() < 0) bad("Options::max_lifetime must not be negative (0: no limit)");
    if (options_.validate_after_idle.count() < 0) bad("Options::validate_after_idle must not be negative");
    if (options_.leak_threshold.count() < 0) bad("Options::leak_threshold must not be negative (0: off)");
  }

  const char* label() const noexcept { return options_.name.empty() ? "(unnamed)" : options_.name.c_str(); }

  // --- the fast path -------------------------------------------------------

  CISTERN_ALWAYS_INLINE Slot* try_hint() noexcept {
    if (waiting_.load(std::memory_order_relaxed) != 0) return nullptr;  // queue behind them: slow path
    for (auto& h : detail::tls_resource_hints) {
      if (h.pool_uid != uid_) continue;
      auto* s = static_cast<Slot*>(h.slot);
      int idle = detail::kIdle;
      if (!s->state.compare_exchange_strong(idle, detail::kLeased, std::memory_order_acquire))  // pairs with release
        return nullptr;
      std::int64_t now = detail::coarse_now_ms();
      if (CISTERN_UNLIKELY(needs_check(s, now))) {
        if (!check_out(s, now)) return nullptr;  // destroyed; the slow path finds another
      }
      on_lease(s, now);
      sample_zero_wait();
      return s;
    }
    return nullptr;
  }

  bool needs_check(const Slot* s, std::int64_t now) const noexcept {
    return expired(s, now) || (options_.validate && now - idle_since(s) > options_.validate_after_idle.count());
  }

  static std::int64_t idle_since(const Slot* s) noexcept {
    return s->idle_since_ms.load(std::memory_order_relaxed);  // a clock reading
  }
  bool expired(const Slot* s, std::int64_t now) const noexcept {
    std::int64_t at = s->expires_ms.load(std::memory_order_relaxed);  // a clock reading
    return options_.max_lifetime.count() > 0 && at != 0 && now >= at;
  }

  /// The slot is ours (kLeased). Retires or validates it; false: it was destroyed.
  bool check_out(Slot* s, std::int64_t now) noexcept {
    if (expired(s, now)) {
      destroy_slot(s);
      return false;
    }
    if (options_.validate && now - idle_since(s) > options_.validate_after_idle.count()) {
      bool ok = false;
      try {
        ok = options_.validate(*s->resource);
      } catch (...) {
        ok = false;
      }
      if (!ok) {
        validation_failures_.fetch_add(1, std::memory_order_relaxed);  // a statistic
        destroy_slot(s);
        return false;
      }
    }
    return true;
  }

  void on_lease(Slot* s, std::int64_t now) noexcept {
    if (options_.leak_threshold.count() > 0) {
      s->frames = backtrace(s->stack.data(), static_cast<int>(s->stack.size()));
      s->leak_reported.store(false, std::memory_order_relaxed);  // published by the store below
      s->leased_ms.store(now == 0 ? 1 : now, std::memory_order_release);  // pairs with check_leak()
    }
  }

  void sample_zero_wait() noexcept {
    static constinit thread_local unsigned countdown = 64;
    if (--countdown == 0) {
      countdown = 64;
      waits_.add(0, 64);  // one in 64 fast acquires, weighted: keeps the histogram honest
    }
  }

  /// REQUIRES: the caller owns s (kLeased). Returns it, or hands it to a waiter.
  void release(Slot* s, bool invalid) noexcept {
    std::int64_t now = detail::coarse_now_ms();
    bool broken = invalid;
    if (!broken) {
      try {
        if (options_.is_broken) {
          broken = options_.is_broken(*s->resource);
        } else if constexpr (detail::HasBrokenMember<T>) {
          broken = s->resource->broken();
        }
      } catch (...) {
        broken = true;
      }
    }
    if (options_.leak_threshold.count() > 0) s->leased_ms.store(0, std::memory_order_relaxed);  // no longer leased
    if (broken || expired(s, now)) {
      destroy_slot(s);
      return;
    }
    s->idle_since_ms.store(now, std::memory_order_relaxed);  // published by the state store
    s->state.store(detail::kIdle, std::memory_order_seq_cst);  // Dekker with waiting_ and closed_
    remember(s);
    if (CISTERN_UNLIKELY(waiting_.load(std::memory_order_seq_cst) != 0 ||
                         closed_.load(std::memory_order_seq_cst)))
      after_release_slow(s);
  }

  void remember(Slot* s) noexcept {
    for (auto& h : detail::tls_resource_hints) {
      if (h.pool_uid == uid_) {
        h.slot = s;
        return;
      }
    }
    auto& h = detail::tls_resource_hints[detail::tls_resource_hint_next++ % detail::tls_resource_hints.size()];
    h.pool_uid = uid_;
    h.slot = s;
  }

  // --- the slow path ----------------------------------------------------------

  void after_release_slow(Slot* s) noexcept {
    int idle = detail::kIdle;
    if (closed_.load(std::memory_order_seq_cst)) {
      if (s->state.compare_exchange_strong(idle, detail::kRemoving, std::memory_order_acq_rel)) destroy_slot(s);
      return;
    }
    std::lock_guard lock(mu_);
    if (waiters_.empty()) return;
    if (!s->state.compare_exchange_strong(idle, detail::kLeased, std::memory_order_acq_rel)) return;  // taken
    Waiter* w = waiters_.front();
    waiters_.pop_front();
    w->give(s);
  }

  /// Claims any idle slot. REQUIRES: mu_ held.
  Slot* claim_idle_locked() noexcept {
    for (std::size_t i = 0; i < options_.max_size; ++i) {
      int idle = detail::kIdle;
      if (slots_[i].state.compare_exchange_strong(idle, detail::kLeased, std::memory_order_acq_rel))
        return &slots_[i];
    }
    return nullptr;
  }

  /// Reserves an empty slot for a creation. REQUIRES: mu_ held.
  Slot* reserve_locked() noexcept {
    if (creating_ >= kMaxCreating) return nullptr;
    for (std::size_t i = 0; i < options_.max_size; ++i) {
      int empty = detail::kEmpty;
      if (slots_[i].state.compare_exchange_strong(empty, detail::kCreating, std::memory_order_acq_rel)) {
        ++creating_;
        return &slots_[i];
      }
    }
    return nullptr;
  }

  /// Creates into a reserved slot, outside the lock. True: the slot is kLeased.
  bool create_into(Slot* s) noexcept {
    std::unique_ptr<T> r;
    std::string error;
    try {
      r = options_.create();
      if (r == nullptr) error = "create returned null";
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "create threw a non-standard exception";
    }
    std::int64_t now = detail::precise_now_ms();
    std::lock_guard lock(mu_);
    --creating_;
    if (r == nullptr) {
      creation_failures_.fetch_add(1, std::memory_order_relaxed);  // a statistic
      last_error_ = std::move(error);
      backoff_ms_ = backoff_ms_ == 0 ? 10 : std::min<std::int64_t>(backoff_ms_ * 2, 1000);
      retry_at_ms_ = now + backoff_ms_;
      s->state.store(detail::kEmpty, std::memory_order_release);  // the slot is free again
      detail::housekeeper_poke();
      return false;
    }
    backoff_ms_ = 0;
    retry_at_ms_ = 0;
    created_.fetch_add(1, std::memory_order_relaxed);  // a statistic
    s->resource = std::move(r);
    s->expires_ms.store(options_.max_lifetime.count() > 0 ? now + options_.max_lifetime.count() - jitter_ms() : 0,
                        std::memory_order_relaxed);  // published by the state store below
    s->idle_since_ms.store(now, std::memory_order_relaxed);
    s->state.store(detail::kLeased, std::memory_order_release);  // ours until returned
    return true;
  }

  std::int64_t jitter_ms() noexcept {
    std::int64_t span = options_.max_lifetime.count() / 40;  // up to 2.5%
    if (span <= 0) return 0;
    jitter_seed_ = jitter_seed_ * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::int64_t>((jitter_seed_ >> 33) % static_cast<std::uint64_t>(span));
  }

  /// The slow path: takes an idle resource or creates one when it is this caller's
  /// turn (FIFO with the other waiters), else queues and waits to be handed one.
  std::optional<ResourceLease<T>> acquire_slow(std::chrono::milliseconds timeout) {
    const std::int64_t start = detail::precise_now_ms();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    Waiter me;
    auto served = [&] { return is_served(me); };
    std::unique_lock lock(mu_);
    waiting_.fetch_add(1, std::memory_order_seq_cst);  // announce first: see release()
    for (;;) {
      if (closed_.load(std::memory_order_relaxed)) {  // written under mu_
        leave_locked(me);
        throw PoolClosed(std::string("cistern::ResourcePool '") + label() + "' is closed");
      }
      Slot* fresh = nullptr;
      if (Slot* got = take_locked(me, fresh); got != nullptr || fresh != nullptr) {
        lock.unlock();
        const std::int64_t now = detail::precise_now_ms();
        const bool ok = got != nullptr ? check_out(got, now) : create_into(fresh);
        lock.lock();
        if (!ok) continue;  // validation failed or creation failed: look again (or wait)
        leave_locked(me);
        lock.unlock();
        Slot* s = got != nullptr ? got : fresh;
        return lease_after_wait(s, detail::precise_now_ms() - start, now);  // the wait includes a creation
      }
      if (!me.queued) {
        waiters_.push_back(&me);
        me.queued = true;
      }
      me.kicked.store(false, std::memory_order_relaxed);  // under mu_, like every write of it
      // Every waiter spins briefly (pausing, then yielding its core to the
      // holder) before it sleeps: a futex wake-up costs more than a short hold.
      lock.unlock();
      if (spin_until(served, deadline)) {
        // Handed a resource: the hander already took us off the queue, so leave
        // without the lock (one cache-line transfer fewer per hand-off).
        if (Slot* s = me.handed.exchange(nullptr, std::memory_order_acquire)) {  // pairs with the hander
          me.queued = false;
          waiting_.fetch_sub(1, std::memory_order_seq_cst);
          const std::int64_t now = detail::precise_now_ms();
          if (check_out(s, now)) return lease_after_wait(s, now - start, now);
          waiting_.fetch_add(1, std::memory_order_seq_cst);  // it failed validation: wait on
        }
        lock.lock();
      } else {
        lock.lock();
        me.sleeping = true;
        me.cv.wait_until(lock, deadline, served);
        me.sleeping = false;
      }
      if (!served() && std::chrono::steady_clock::now() >= deadline) {
        leave_locked(me);
        return std::nullopt;
      }
    }
  }

  /// What a caller of acquire_slow() can have now: a slot handed to it, or, on its
  /// turn (nobody queued before it), an idle slot or an empty one reserved for a
  /// creation (`fresh`; not during a creation backoff). A caller that gets one
  /// leaves the queue. REQUIRES: mu_ held.
  Slot* take_locked(Waiter& me, Slot*& fresh) noexcept {
    Slot* got = me.handed.exchange(nullptr, std::memory_order_acquire);  // pairs with the hander
    if (got != nullptr) me.queued = false;  // whoever handed it took us off the queue
    const bool my_turn = !me.queued ? waiters_.empty() : (!waiters_.empty() && waiters_.front() == &me);
    if (got == nullptr && my_turn) got = claim_idle_locked();
    if (got == nullptr && my_turn && detail::precise_now_ms() >= retry_at_ms_) fresh = reserve_locked();
    if ((got != nullptr || fresh != nullptr) && me.queued && waiters_.front() == &me) {
      waiters_.pop_front();
      me.queued = false;
    }
    return got;
  }

  /// A waiter was handed a resource, or told to look again, or the pool closed.
  bool is_served(const Waiter& me) const noexcept {
    return me.handed.load(std::memory_order_acquire) != nullptr ||  // pairs with the hander's release
           me.kicked.load(std::memory_order_relaxed) || closed_.load(std::memory_order_relaxed);
  }

  /// A caller of acquire_slow() gives up or is done: off the queue (passing the
  /// turn on if it was first) and no longer counted as waiting. REQUIRES: mu_ held.
  void leave_locked(Waiter& me) noexcept {
    if (me.queued) {
      const bool was_front = !waiters_.empty() && waiters_.front() == &me;
      std::erase(waiters_, &me);
      me.queued = false;
      if (was_front && !waiters_.empty()) {  // pass the turn on
        waiters_.front()->kicked.store(true, std::memory_order_relaxed);
        waiters_.front()->wake();
      }
    }
    waiting_.fetch_sub(1, std::memory_order_seq_cst);
  }

  /// Hands out a slot that took the slow path: records the wait, then the lease.
  ResourceLease<T> lease_after_wait(Slot* s, std::int64_t waited_ms, std::int64_t now_ms) noexcept {
    waits_.add(waited_ms * 1000);
    on_lease(s, now_ms);
    return ResourceLease<T>(this, s);
  }

  /// Spins (pause, then yield) until pred() holds, for at most kSpin or until the
  /// deadline. True: pred() held.
  template <class Pred>
  static bool spin_until(Pred pred, std::chrono::steady_clock::time_point deadline) noexcept {
    auto until = std::min(deadline, std::chrono::steady_clock::now() + kSpin);
    for (int i = 0;; ++i) {
      if (pred()) return true;
      if ((i & 15) == 15 && std::chrono::steady_clock::now() >= until) return false;
      detail::spin_relax(i);  // more waiters than cores: the holder gets to run
    }
  }

  /// Destroys the resource of a slot we own and frees the slot; wakes the longest
  /// waiter so it can create a replacement.
  void destroy_slot(Slot* s) noexcept {
    std::unique_ptr<T> r = std::move(s->resource);
    r.reset();  // outside the lock: may be slow (closing a connection)
    destroyed_.fetch_add(1, std::memory_order_relaxed);  // a statistic
    s->state.store(detail::kEmpty, std::memory_order_release);  // pairs with reserve_locked's CAS
    std::lock_guard lock(mu_);
    if (!waiters_.empty()) {
      waiters_.front()->kicked.store(true, std::memory_order_relaxed);  // read by its spin or after the cv
      waiters_.front()->wake();
    }
  }

  std::string timeout_message(std::chrono::milliseconds waited) const {
    ResourcePoolStats s = stats();
    std::string msg = std::string("cistern::ResourcePool '") + label() + "': no resource within " +
                      std::to_string(waited.count()) + " ms (active " + std::to_string(s.active) + ", idle " +
                      std::to_string(s.idle) + ", max_size " + std::to_string(options_.max_size) + ", waiting " +
                      std::to_string(s.waiting) + ")";
    std::lock_guard lock(mu_);
    if (!last_error_.empty()) msg += "; last creation error: " + last_error_;
    return msg;
  }

  // --- housekeeping (on the shared background thread) -------------------------

  void housekeep(std::int64_t now) noexcept override {
    if (closed_.load(std::memory_order_relaxed)) return;  // a hint; close() does the rest
    std::size_t idle = 0;
    for (std::size_t i = 0; i < options_.max_size; ++i) {
      Slot* s = &slots_[i];
      int st = s->state.load(std::memory_order_acquire);
      if (st == detail::kLeased && options_.leak_threshold.count() > 0) check_leak(s, now);
      if (st != detail::kIdle) continue;
      ++idle;
      bool retire = expired(s, now);
      bool stale = now - idle_since(s) > options_.idle_timeout.count() && idle > options_.min_idle;
      bool due = options_.validate &&
                 now - idle_since(s) > 4 * std::max<std::int64_t>(options_.validate_after_idle.count(), 250);
      if (!retire && !stale && !due) continue;
      int expected = detail::kIdle;
      if (!s->state.compare_exchange_strong(expected, detail::kLeased, std::memory_order_acq_rel)) continue;
      --idle;
      if (retire || stale) {
        destroy_slot(s);
      } else if (check_out(s, now)) {  // validated while idle
        s->idle_since_ms.store(now, std::memory_order_relaxed);  // published by the state store
        s->state.store(detail::kIdle, std::memory_order_seq_cst);
        ++idle;
        if (waiting_.load(std::memory_order_seq_cst) != 0) after_release_slow(s);
      }
    }
    refill(now, idle);
  }

  /// Creates for waiters (after a failed creation's backoff) and up to min_idle.
  void refill(std::int64_t now, std::size_t idle) noexcept {
    for (;;) {
      Slot* s = nullptr;
      bool for_waiter = false;
      {
        std::lock_guard lock(mu_);
        if (closed_.load(std::memory_order_relaxed) || now < retry_at_ms_) return;  // closed_: written under mu_
        for_waiter = !waiters_.empty();
        if (!for_waiter && idle >= options_.min_idle) return;
        s = reserve_locked();
      }
      if (s == nullptr || !create_into(s)) return;
      if (for_waiter) {
        std::lock_guard lock(mu_);
        if (!waiters_.empty()) {
          Waiter* w = waiters_.front();
          waiters_.pop_front();
          w->give(s);
          continue;
        }
      }
      s->idle_since_ms.store(now, std::memory_order_relaxed);  // published by the state store
      s->state.store(detail::kIdle, std::memory_order_seq_cst);
      ++idle;
    }
  }

  void check_leak(Slot* s, std::int64_t now) noexcept {
    // The stack was written by the lessee before its release store of leased_ms.
    std::int64_t since = s->leased_ms.load(std::memory_order_acquire);  // pairs with on_lease()
    if (since == 0 || now - since < options_.leak_threshold.count()) return;
    if (s->leak_reported.exchange(true, std::memory_order_relaxed)) return;  // once per lease
    leaks_.fetch_add(1, std::memory_order_relaxed);  // a statistic
    try {
      LeakReport r{options_.name, std::chrono::milliseconds(now - since),
                   detail::symbolize(s->stack.data(), s->frames)};
      if (options_.on_leak) {
        options_.on_leak(r);
      } else {
        std::fprintf(stderr, "cistern: pool '%s': a lease has been held for %lld ms (leak threshold %lld ms); acquired at:\n%s",
                     label(), static_cast<long long>(r.held.count()),
                     static_cast<long long>(options_.leak_threshold.count()), r.acquired_at.c_str());
      }
    } catch (...) {
    }
  }

  void append_metrics(std::vector<detail::MetricSample>& out) const {
    ResourcePoolStats s = stats();
    out.push_back({"cistern_resource_pool_active", "Resources leased now.", false, double(s.active)});
    out.push_back({"cistern_resource_pool_idle", "Resources idle now.", false, double(s.idle)});
    out.push_back({"cistern_resource_pool_waiting", "Acquirers waiting now.", false, double(s.waiting)});
    out.push_back({"cistern_resource_pool_created_total", "Resources created.", true, double(s.created)});
    out.push_back({"cistern_resource_pool_destroyed_total", "Resources destroyed.", true, double(s.destroyed)});
    out.push_back({"cistern_resource_pool_creation_failures_total", "Creations that failed.", true, double(s.creation_failures)});
    out.push_back({"cistern_resource_pool_timeouts_total", "Acquires that timed out.", true, double(s.timeouts)});
    out.push_back({"cistern_resource_pool_validation_failures_total", "Resources that failed validation.", true,
                   double(s.validation_failures)});
    out.push_back({"cistern_resource_pool_leaks_total", "Leases held past the leak threshold.", true, double(s.leaks)});
    out.push_back({"cistern_resource_pool_wait_p50_seconds", "Median acquire wait.", false, s.wait_p50_us / 1e6});
    out.push_back({"cistern_resource_pool_wait_p99_seconds", "99th percentile acquire wait.", false, s.wait_p99_us / 1e6});
  }

  static constexpr int kMaxCreating = 2;  // creations at once: no thundering herd

  const Options options_;
  const std::uint64_t uid_;
  std::unique_ptr<Slot[]> slots_;
  alignas(detail::kCacheLine) std::atomic<int> waiting_{0};  // read on every fast path
  std::atomic<bool> closed_{false};
  alignas(detail::kCacheLine) mutable std::mutex mu_;
  std::deque<Waiter*> waiters_;  // FIFO; under mu_
  int creating_ = 0;             // under mu_
  std::string last_error_;       // under mu_
  std::int64_t backoff_ms_ = 0, retry_at_ms_ = 0;  // under mu_
  std::uint64_t jitter_seed_ = 0x9E3779B97F4A7C15ull;  // under mu_
  std::atomic<std::uint64_t> created_{0}, destroyed_{0}, timeouts_{0}, validation_failures_{0}, leaks_{0},
      creation_failures_{0};
  detail::WaitHistogram waits_;
  detail::MetricsRegistration metrics_;
};

}  // namespace cistern
