// cistern/pool.hpp — Pool<T>: a thread-cached pool of reusable objects.
//
// What it is
//   The C++ counterpart of Go's sync.Pool. get() hands out a cached T (or makes a
//   new one), and the Lease it returns gives the object back when it goes out of
//   scope. On the way back the pool resets the object, so the next user never sees
//   the previous user's state. The pool is unbounded; what is not reused is freed
//   by cycles (see cycle() below).
//
// How it is fast
//   Each thread keeps up to two magazines (arrays of object pointers) per pool. A
//   get or put that its loaded magazine can serve is a pop or push on thread-local
//   memory: no lock, no atomic read-modify-write, no cache line written that
//   another thread writes. Only every M-th operation (M = Options::magazine_size)
//   trades a whole magazine with the shared depot under a short lock, so objects
//   made on one thread and returned on another cost an amortised 1/M of a lock.
//   Data path: pool.hpp -> detail/thread_cache.hpp -> detail/depot.hpp.
//
// Thread-safety
//   get(), acquire(), release(), clear() and stats() may be called from any
//   thread at any time. An object may be returned on another thread than the one
//   that got it; the hand-off through the depot's lock orders the object's writes
//   before the next user's reads. Construction and destruction of the pool itself
//   must not race with its use: leases must not outlive the pool (debug builds
//   report it).
//
// Lifetimes
//   A thread's magazines go back to the pool's depot when the thread exits.
//   Destroying the pool destroys every cached object, including those in other
//   threads' caches, and no thread touches the pool afterwards.
//
// Debug checks (CISTERN_DEBUG_CHECKS, on in the debug, asan and tsan presets)
//   Returning an object twice, returning it to a pool it did not come from, and
//   destroying a pool with objects still leased stop the program with a message
//   naming the pool. Cached objects are poisoned for AddressSanitizer, so a use
//   after return is reported at the faulty access.
//
// When not to use it
//   - Objects that are cheap to make (a few ints): new/delete or the stack win.
//   - Objects that are expensive, limited or can break (connections): use
//     ResourcePool<T>, which bounds, validates and times out.
//   - Objects whose reset costs as much as construction: pooling buys nothing.
//   - Long-lived state: a plain object or a Snapshot<T>.
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
#include "cistern/detail/metrics_registry.hpp"
#include "cistern/detail/pool_core.hpp"
#include "cistern/stats.hpp"

namespace cistern {

template <class T>
class Pool;

// Lease<T>: move-only ownership of a pooled object; returns it to its pool when
// destroyed (or when assigned another lease). An empty lease (default-made,
// moved-from or detached) returns nothing.
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

  // REQUIRES (operator->, operator*): the lease is not empty.
  T* operator->() const noexcept { return object_; }
  T& operator*() const noexcept { return *object_; }
  T* get() const noexcept { return object_; }
  explicit operator bool() const noexcept { return object_ != nullptr; }

  // Ends the lease without returning the object: the caller owns it and may give
  // it back later with pool.release(object) (or delete it). The lease is empty after.
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

namespace detail {
template <class T>
concept HasResetMember = requires(T& t) { t.reset(); };

// The default reset policy: t.reset() when T has it (a bool result is the
// keep/drop answer), else keep t as it is.
template <class T>
CISTERN_ALWAYS_INLINE bool default_reset(T& t) {
  if constexpr (HasResetMember<T>) {
    if constexpr (std::is_convertible_v<decltype(t.reset()), bool>) {
      return static_cast<bool>(t.reset());
    } else {
      t.reset();
    }
  }
  return true;
}
}  // namespace detail

template <class T>
class Pool final : private detail::PoolCore {
  static_assert(std::is_object_v<T> && !std::is_array_v<T>, "Pool<T> needs a complete object type");
  static_assert(std::is_destructible_v<T>, "Pool<T> needs a destructible T");

 public:
  struct Options {
    // Makes a new object on a miss. Default (empty): std::make_unique<T>(), which
    // requires T to be default-constructible. May throw; get() passes it on.
    // Must not return null.
    std::function<std::unique_ptr<T>()> make = {};
    // Runs on every return, on the returning thread, before the object is cached.
    // Returns false to have the object destroyed instead (e.g. it grew too big).
    // Default (empty): calls t.reset() if T has it (a bool result is used as the
    // keep/drop answer), else keeps the object as is. Must not throw.
    std::function<bool(T&)> reset = {};
    // Non-empty: the pool is listed in metrics_text()/metrics_json() under this
    // name, which no other live pool may use (the constructor throws otherwise).
    std::string name = {};
    // Objects per magazine (M). Larger: fewer depot trips for objects that cross
    // threads, but up to 2*M objects parked per thread. 0: about 16 KiB of
    // objects, between 8 and 128. At most 65536.
    std::size_t magazine_size = 0;
  };

  Pool() : Pool(Options{}) {}
  // Throws std::invalid_argument if an option is invalid, naming the option.
  explicit Pool(Options options)
      : PoolCore(std::move(options.name), checked_magazine_size(options.magazine_size), sizeof(T)),
        make_(std::move(options.make)),
        reset_(std::move(options.reset)) {
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

  // Destroys every cached object, in every thread's cache.
  // REQUIRES: no lease of this pool is alive and no thread uses the pool.
  ~Pool() {
    metrics_.reset();
    if constexpr (CISTERN_DEBUG_CHECKS) {
      std::size_t leased = detail::debug::in_use(this);
      CISTERN_CHECK(leased == 0, label(), "pool destroyed while objects are still leased (leases must not outlive their pool)");
    }
    stop();
  }

  // A cached object, or a new one from make. The object was reset when it was
  // returned. Throws what make throws. O(1); lock-free unless a magazine moves.
  Lease<T> get() { return Lease<T>(this, acquire()); }

  // Raw form of get(): the caller must give the object back with release().
  CISTERN_ALWAYS_INLINE T* acquire() {
    return static_cast<T*>(take());
  }

  // Returns an object: resets it, then caches or (reset said no) destroys it.
  // REQUIRES: object came from this pool's get()/acquire() and is not in use any
  // more. Debug builds check both. Does not throw.
  CISTERN_ALWAYS_INLINE void release(T* object) noexcept {
    CISTERN_CHECK(object != nullptr, label(), "release(nullptr)");
    if constexpr (CISTERN_DEBUG_CHECKS) detail::debug::on_put(this, label(), object);
    if (CISTERN_UNLIKELY(!reset_object(*object))) {
      drop(object);
      return;
    }
    keep(object);
  }

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
    if (reset_) return reset_(t);
    return detail::default_reset(t);
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
  detail::MetricsRegistration metrics_;
};

// Runs one generation for every pool: what each depot held since the previous
// cycle and nobody took is destroyed, and what it holds now becomes the victim
// generation. So two cycles with no use in between free everything in the depots.
// Objects parked in a thread's own magazines are not touched (only the owner may);
// a thread hands its spare magazine to the depot on its first slow path after a
// cycle. Runs user destructors on the calling thread, outside every pool lock.
void cycle();

// Sets the period of the background cycle (default 5 s); zero stops it, and
// cycles then happen only when cycle() is called. Takes effect at once.
void set_cycle_interval(std::chrono::milliseconds interval);

}  // namespace cistern
