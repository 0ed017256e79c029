// SPDX-License-Identifier: Apache-2.0
/// @file
/// @brief Pool<T>: a thread-cached pool of reusable objects.
///
/// What it is
///   The C++ counterpart of Go's sync.Pool. get() hands out a cached T (or makes a
///   new one), and the Lease it returns gives the object back when it goes out of
///   scope. On the way back the pool resets the object, so the next user never sees
///   the previous user's state. The pool is unbounded; what is not reused is freed
///   by cycles (see cycle() below).
///
/// How it is fast
///   Each thread keeps up to two magazines (arrays of object pointers) per pool. A
///   get or put that its loaded magazine can serve is a pop or push on thread-local
///   memory: no lock, no atomic read-modify-write, no cache line written that
///   another thread writes. Only every M-th operation (M = Options::magazine_size)
///   trades a whole magazine with the shared depot under a short lock, so objects
///   made on one thread and returned on another cost an amortised 1/M of a lock.
///   Data path: pool.hpp -> detail/thread_cache.hpp -> detail/depot.hpp.
///
/// Thread-safety
///   get(), acquire(), release(), clear() and stats() may be called from any
///   thread at any time. An object may be returned on another thread than the one
///   that got it; the hand-off through the depot's lock orders the object's writes
///   before the next user's reads. Construction and destruction of the pool itself
///   must not race with its use: leases must not outlive the pool (debug builds
///   report it).
///
/// Reset policy (every pool that compiles resets)
///   On return: Options::reset if given; else t.reset() if T has it (a bool result
///   is keep/drop); else t.clear() if T has it (std::string, the containers). A T
///   with neither does not compile with Pool<T>() and throws from Pool<T>(Options)
///   without Options::reset. cistern::keep_as_is is the explicit opt-out.
///
/// Lifetimes
///   A thread's magazines go back to the pool's depot when the thread exits, or
///   when a cycle finds the thread did not use the pool since the previous cycle.
///   Destroying the pool destroys every cached object, including those in other
///   threads' caches, and no thread touches the pool afterwards.
///
/// Debug checks (CISTERN_DEBUG_CHECKS, on in the debug, asan and tsan presets)
///   Returning an object twice, returning it to a pool it did not come from, and
///   destroying a pool with objects still leased stop the program with a message
///   naming the pool. Cached objects are poisoned for AddressSanitizer, so a use
///   after return is reported at the faulty access.
///
/// When not to use it
///   - Objects that are cheap to make (a few ints): new/delete or the stack win.
///   - Objects that are expensive, limited or can break (connections): use
///     ResourcePool<T>, which bounds, validates and times out.
///   - Objects whose reset costs as much as construction: pooling buys nothing.
///   - Long-lived state: a plain object or a Snapshot<T>.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "cistern/detail/config.hpp"
#include "cistern/detail/debug_tracker.hpp"
#include "cistern/detail/export.hpp"
#include "cistern/detail/metrics_registry.hpp"
#include "cistern/detail/pool_core.hpp"
#include "cistern/stats.hpp"

namespace cistern {

template <class T>
class Pool;

/// Lease<T>: move-only ownership of a pooled object; returns it to its pool when
/// destroyed (or when assigned another lease). An empty lease (default-made,
/// moved-from or detached) returns nothing.
template <class T>
class Lease {
 public:
  Lease() noexcept = default;
  Lease(Lease&& other) noexcept
      : pool_(std::exchange(other.pool_, nullptr)), object_(std::exchange(other.object_, nullptr)) {}
  Lease& operator=(Lease&& other) noexcept {
    if (this != &other) {
      give_back();
      pool_ = std::exchange(other.pool_, nullptr);
      object_ = std::exchange(other.object_, nullptr);
    }
    return *this;
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { give_back(); }

  /// REQUIRES (operator->, operator*): the lease is not empty.
  T* operator->() const noexcept { return object_; }
  T& operator*() const noexcept { return *object_; }
  T* get() const noexcept { return object_; }
  explicit operator bool() const noexcept { return object_ != nullptr; }

  /// Ends the lease without returning the object: the caller owns it and may give
  /// it back later with pool.release(object) (or delete it). The lease is empty after.
  T* detach() noexcept {
    if constexpr (CISTERN_DEBUG_CHECKS) {
      if (object_ != nullptr) detail::debug::on_detach(object_);
    }
    pool_ = nullptr;
    return std::exchange(object_, nullptr);
  }

 private:
  friend class Pool<T>;
  Lease(Pool<T>* pool, T* object) noexcept : pool_(pool), object_(object) {}
  void give_back() noexcept {
    if (object_ != nullptr) pool_->release(std::exchange(object_, nullptr));
  }

  Pool<T>* pool_ = nullptr;
  T* object_ = nullptr;
};

/// The explicit opt-out of resetting: Options::reset = cistern::keep_as_is keeps
/// every returned object exactly as its last user left it. Only for objects that
/// carry nothing of one user into the next (the pool can't check that).
inline constexpr struct keep_as_is_t {
  template <class T>
  bool operator()(T&) const noexcept {
    return true;
  }
} keep_as_is{};

/// Which per-thread tier this build runs: per_thread (a cache per thread and pool,
/// see detail/thread_cache.hpp). per_cpu is reserved for an rseq-based tier.
enum class CacheMode { per_thread, per_cpu };
inline CacheMode cache_mode() noexcept { return CacheMode::per_thread; }

namespace detail {
template <class T>
concept HasResetMember = requires(T& t) { t.reset(); };
template <class T>
concept HasClearMember = requires(T& t) { t.clear(); };
/// T has a reset policy the pool can use without being told: reset() or clear().
template <class T>
concept HasDefaultReset = HasResetMember<T> || HasClearMember<T>;

/// The default reset policy: t.reset() when T has it (a bool result is the
/// keep/drop answer), else t.clear() (std::string, the containers).
template <HasDefaultReset T>
CISTERN_ALWAYS_INLINE bool default_reset(T& t) {
  if constexpr (HasResetMember<T>) {
    if constexpr (std::is_convertible_v<decltype(t.reset()), bool>) {
      return static_cast<bool>(t.reset());
    } else {
      t.reset();
    }
  } else {
    t.clear();
  }
  return true;
}

inline constexpr const char* kNoResetPolicy =
    "T has neither reset() nor clear(), so the pool cannot know how to wipe a returned object: "
    "give Options::reset (or cistern::keep_as_is to keep objects as they are)";
}  // namespace detail

template <class T>
class Pool final : private detail::PoolCore {
  static_assert(std::is_object_v<T> && !std::is_array_v<T>, "Pool<T> needs a complete object type");
  static_assert(std::is_destructible_v<T>, "Pool<T> needs a destructible T");

 public:
  struct Options {
    /// Makes a new object on a miss. Default (empty): std::make_unique<T>(), which
    /// requires T to be default-constructible. May throw; get() passes it on.
    /// Must not return null.
    std::function<std::unique_ptr<T>()> make = {};
    /// Runs on every return, on the returning thread, before the object is cached.
    /// Returns false to have the object destroyed instead (e.g. it grew too big).
    /// Must not throw. Default (empty): t.reset() if T has it (a bool result is
    /// the keep/drop answer), else t.clear() if T has it; a T with neither needs
    /// an explicit reset (the constructor throws std::invalid_argument without
    /// one). cistern::keep_as_is opts out of resetting.
    std::function<bool(T&)> reset = {};
    /// Non-empty: the pool is listed in metrics_text()/metrics_json() under this
    /// name, which no other live pool may use (the constructor throws otherwise).
    std::string name = {};
    /// Objects per magazine (M). Larger: fewer depot trips for objects that cross
    /// threads, but up to 2*M objects parked per thread. 0: about 16 KiB of
    /// objects, between 8 and 128. At most 65536.
    std::size_t magazine_size = 0;
    /// Most objects kept (0: unbounded). Counted over the depot and the threads'
    /// spare magazines, once per magazine move: a return that would park a
    /// magazine beyond it destroys the object instead (counted as a drop). So the
    /// pool keeps at most max_cached + one loaded magazine per thread.
    std::size_t max_cached = 0;
  };

  /// Requires a T with reset() or clear() (else: Pool(Options) with Options::reset).
  Pool() : Pool(Options{}) {
    static_assert(detail::HasDefaultReset<T>,
                  "cistern::Pool<T>(): T has neither reset() nor clear(), so the pool cannot know how to "
                  "wipe a returned object. Give Options::reset, or cistern::keep_as_is to keep objects as "
                  "they are.");
  }
  /// Throws std::invalid_argument if an option is invalid, naming the option
  /// (also: T has neither reset() nor clear() and Options::reset is empty).
  explicit Pool(Options options)
      : PoolCore(std::move(options.name), checked_magazine_size(options.magazine_size), sizeof(T), nullptr,
                 options.max_cached),
        make_(std::move(options.make)),
        reset_(std::move(options.reset)),
        keep_as_is_(reset_ && reset_.template target<keep_as_is_t>() != nullptr) {
    if constexpr (!detail::HasDefaultReset<T>) {
      if (!reset_) throw std::invalid_argument(std::string("cistern::Pool: Options::reset is empty and ") +
                                               detail::kNoResetPolicy);
    }
    if (!make_) {
      if constexpr (std::is_default_constructible_v<T>) {
        make_ = [] { return std::make_unique<T>(); };
      } else {
        throw std::invalid_argument(
            "cistern::Pool: Options::make is required when T is not default-constructible");
      }
    }
    // Metrics first: if the name is taken, nothing else is registered yet.
    if (!name().empty()) {
      metrics_ = detail::register_metrics(name(), "pool", [this](std::vector<detail::MetricSample>& out) {
        append_metrics(stats(), out);
      });
    }
    start();
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Destroys every cached object, in every thread's cache.
  /// REQUIRES: no lease of this pool is alive and no thread uses the pool.
  ~Pool() {
    metrics_.reset();
    if constexpr (CISTERN_DEBUG_CHECKS) {
      std::size_t leased = detail::debug::in_use(this);
      CISTERN_CHECK(leased == 0, label(), "pool destroyed while objects are still leased (leases must not outlive their pool)");
    }
    stop();
  }

  /// A cached object, or a new one from make. The object was reset when it was
  /// returned. Throws what make throws. O(1); lock-free unless a magazine moves.
  Lease<T> get() { return Lease<T>(this, acquire()); }

  /// Raw form of get(): the caller must give the object back with release().
  CISTERN_ALWAYS_INLINE T* acquire() {
    return static_cast<T*>(take());
  }

  /// Returns an object: resets it, then caches or (reset said no) destroys it.
  /// REQUIRES: object came from this pool's get()/acquire() and is not in use any
  /// more. Debug builds check both. Does not throw.
  CISTERN_ALWAYS_INLINE void release(T* object) noexcept {
    CISTERN_CHECK(object != nullptr, label(), "release(nullptr)");
    if constexpr (CISTERN_DEBUG_CHECKS) detail::debug::on_put(this, label(), object);
    if (CISTERN_UNLIKELY(!reset_object(*object))) {
      drop(object);
      return;
    }
    keep(object);
  }

  /// Makes n objects now (with make) into the shared tier, so the first gets of
  /// every thread hit: a warm-up before traffic. With max_cached, stops at it.
  /// The objects age like any cached ones: two cycles with no use free them.
  /// Throws what make throws (the objects made until then stay cached).
  void prefill(std::size_t n) { PoolCore::prefill(n); }

  using PoolCore::clear;
  using PoolCore::stats;
  using PoolCore::name;
  using PoolCore::magazine_size;

 private:
  static std::uint32_t checked_magazine_size(std::size_t n) {
    if (n == 0) return detail::default_magazine_size(sizeof(T));
    if (n > 65536)
      throw std::invalid_argument("cistern::Pool: Options::magazine_size must be at most 65536, got " +
                                  std::to_string(n));
    return static_cast<std::uint32_t>(n);
  }

  CISTERN_ALWAYS_INLINE bool reset_object(T& t) {
    if constexpr (detail::HasDefaultReset<T>) {
      if (!reset_) return detail::default_reset(t);
    }
    if (keep_as_is_) return true;  // no call through std::function for the opt-out
    return reset_(t);              // never empty here: the constructor checked
  }

  void* make_object() override {
    std::unique_ptr<T> p = make_();
    if (p == nullptr) throw std::runtime_error(std::string("cistern::Pool '") + label() + "': make returned null");
    return p.release();
  }
  void destroy_object(void* object) noexcept override {
    detail::unpoison(object, sizeof(T));
    delete static_cast<T*>(object);
  }

  static void append_metrics(const PoolStats& s, std::vector<detail::MetricSample>& out) {
    out.push_back({"cistern_pool_gets_total", "Objects handed out by the pool.", true, double(s.gets)});
    out.push_back({"cistern_pool_hits_total", "Gets served from a cache.", true, double(s.hits)});
    out.push_back({"cistern_pool_misses_total", "Gets that made a new object.", true, double(s.misses)});
    out.push_back({"cistern_pool_puts_total", "Objects returned to the pool.", true, double(s.puts)});
    out.push_back({"cistern_pool_drops_total", "Returned objects destroyed instead of cached.", true, double(s.drops)});
    out.push_back({"cistern_pool_cached", "Objects cached now.", false, double(s.cached)});
  }

  std::function<std::unique_ptr<T>()> make_;
  std::function<bool(T&)> reset_;
  const bool keep_as_is_;  // reset_ holds cistern::keep_as_is
  detail::MetricsRegistration metrics_;
};

/// Runs one generation for every pool: what each depot held since the previous
/// cycle and nobody took is destroyed, and what it holds now becomes the victim
/// generation. So two cycles with no use in between free everything in the depots.
/// A thread that did not use a pool since the previous cycle has its magazines
/// taken into that pool's depot first (without a lock or an atomic RMW on the
/// thread's own get/put: see detail/thread_cache.hpp), so three cycles free
/// everything that no thread used since the first of them. A busy thread hands its
/// spare magazine to the depot on its first slow path after a cycle. Runs user
/// destructors on the calling thread, outside every pool lock.
CISTERN_API void cycle();

/// Sets the period of the background cycle (default 5 s); zero stops it, and
/// cycles then happen only when cycle() is called. Takes effect at once.
CISTERN_API void set_cycle_interval(std::chrono::milliseconds interval);

}  // namespace cistern
