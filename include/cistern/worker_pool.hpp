// SPDX-License-Identifier: Apache-2.0
/// @file
/// @brief WorkerPool: a bounded, self-shrinking pool of worker
/// threads (the C++ counterpart of Go's `ants`).
///
/// What it is
///   Worker threads are made on demand, up to `capacity`, and a worker idle for
///   `idle_expiry` exits (found by a purge timer on cistern's shared housekeeping
///   thread, so idle workers do not wake up to check). submit() hands a task
///   straight to an idle worker — each worker has its own task slot and wake-up;
///   there is no shared task queue — or starts a new worker. When `capacity`
///   workers are busy, it queues the task behind a busy worker (each holds at most
///   `backlog`, in its own lock-free ring; a stream of tasks from one thread goes
///   to one ring without the pool's lock), and when those are full it waits for a
///   worker (or returns false at once with `nonblocking`, or when `max_waiting`
///   submitters already wait). Tasks queued behind a worker that is stuck in a
///   long task are taken by a worker that runs out of its own within ~50 µs, or
///   handed to an idle one by the purge timer within 20-40 ms.
///
///   cistern::WorkerPool pool({.capacity = 16, .name = "exports"});
///   pool.submit([job = std::move(job)] { job.run(); });
///   std::future<int> n = pool.async([] { return count_rows(); });
///   pool.shutdown(std::chrono::seconds(5));   // every accepted task runs first
///
/// Guarantees
///   - At most `capacity` tasks run at once (tune() changes it at run time;
///     shrinking lets busy workers finish the task they are in; the tasks queued
///     behind them go to the workers that stay).
///   - Every accepted task (submit() returned true) runs exactly once, also when
///     the pool shuts down; a task's captured state is destroyed on the worker right
///     after it ran, so nothing of one task is seen by the next.
///   - An exception from a task goes to `on_exception` (default: one line on stderr
///     naming the pool); the worker lives on.
///   - Waiting submitters are served as workers free up; shutdown() wakes them
///     with false.
///
/// Thread-safety: every member may be called from any thread, except that a task
/// must not call shutdown() or destroy its own pool (it would wait for itself:
/// shutdown() throws std::logic_error, the destructor stops the program with a
/// message). A task may submit to its own
/// pool; when all the workers are busy and every other one already waits in
/// submit() for room, nobody is left to make room: that submit returns false
/// (with one line on stderr, once per pool) instead of waiting forever.
///
/// When not to use it
///   - A data-parallel loop over millions of elements: a parallel algorithm or
///     TBB splits the range; a task per element (tens of ns each, here) costs
///     more than such work.
///   - Work that waits on I/O most of the time: an event loop or coroutines scale
///     further than one thread per waiting task.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "cistern/detail/config.hpp"
#include "cistern/detail/export.hpp"
#include "cistern/detail/housekeeper.hpp"
#include "cistern/detail/metrics_registry.hpp"

namespace cistern {

namespace detail {

/// A move-only void() callable with room for small captures inline (no allocation
/// for a lambda of up to kInline bytes with pointer alignment). 56 bytes: with an
/// 8-byte sequence number it fills one cache line of a worker's ring.
class Task {
 public:
  static constexpr std::size_t kInline = 48;

  Task() noexcept = default;
  template <class F, class D = std::decay_t<F>, class = std::enable_if_t<!std::is_same_v<D, Task>>>
  explicit Task(F&& f) {
    if constexpr (sizeof(D) <= kInline && alignof(D) <= alignof(void*) &&
                  std::is_nothrow_move_constructible_v<D>) {
      ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
      ops_ = &inline_ops<D>;
    } else {
      *reinterpret_cast<D**>(buf_) = new D(std::forward<F>(f));
      ops_ = &heap_ops<D>;
    }
  }
  Task(Task&& o) noexcept : ops_(o.ops_) {
    if (ops_ != nullptr) ops_->move(o.buf_, buf_);
    o.ops_ = nullptr;
  }
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      reset();
      ops_ = o.ops_;
      if (ops_ != nullptr) ops_->move(o.buf_, buf_);
      o.ops_ = nullptr;
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  void operator()() { ops_->run(buf_); }
  void reset() noexcept {
    if (ops_ != nullptr) ops_->destroy(buf_);
    ops_ = nullptr;
  }

 private:
  struct Ops {
    void (*run)(void*);
    void (*move)(void* from, void* to) noexcept;
    void (*destroy)(void*) noexcept;
  };
  template <class D>
  static constexpr Ops inline_ops = {
      [](void* p) { (*static_cast<D*>(p))(); },
      [](void* from, void* to) noexcept {
        ::new (to) D(std::move(*static_cast<D*>(from)));
        static_cast<D*>(from)->~D();
      },
      [](void* p) noexcept { static_cast<D*>(p)->~D(); }};
  template <class D>
  static constexpr Ops heap_ops = {
      [](void* p) { (**static_cast<D**>(p))(); },
      [](void* from, void* to) noexcept { *static_cast<D**>(to) = *static_cast<D**>(from); },
      [](void* p) noexcept { delete *static_cast<D**>(p); }};

  alignas(void*) unsigned char buf_[kInline];
  const Ops* ops_ = nullptr;
};

}  // namespace detail

struct WorkerPoolStats {
  std::size_t capacity = 0, running = 0, idle = 0, waiting = 0;
  std::uint64_t submitted = 0, rejected = 0, completed = 0, failed = 0, threads_started = 0;
};

class CISTERN_API WorkerPool final : private detail::HousekeepingClient {
 public:
  struct Options {
    /// Most tasks running at once (and most worker threads). Must be > 0.
    std::size_t capacity = std::max(1u, std::thread::hardware_concurrency());
    /// An idle worker exits after this long. Must be > 0.
    std::chrono::milliseconds idle_expiry{1000};
    /// true: submit() returns false at once when all workers are busy.
    bool nonblocking = false;
    /// Most submitters blocked at once; more are rejected (false). 0: no bound.
    std::size_t max_waiting = 0;
    /// Tasks a busy worker may hold queued behind its current one (its own
    /// lock-free ring, not a shared queue, 64 bytes a task), like the buffered
    /// worker channel of `ants`. Larger: fewer blocked submitters and far higher
    /// throughput for short tasks, above all on a busy host; 0: strict hand-off,
    /// submit() waits for an idle worker. Not used with `nonblocking`.
    std::size_t backlog = 256;
    /// Receives exceptions thrown by tasks. Empty: one line on stderr.
    std::function<void(std::exception_ptr)> on_exception = {};
    /// Non-empty: listed in metrics_text()/metrics_json().
    std::string name = {};
  };

  WorkerPool() : WorkerPool(Options{}) {}
  /// Throws std::invalid_argument naming a bad option.
  explicit WorkerPool(Options options);
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  /// shutdown() without a timeout: every accepted task runs, threads are joined.
  ~WorkerPool();

  /// Runs task() on a worker. Any callable void(), move-only ones too. Returns
  /// false if rejected: nonblocking and all busy, max_waiting reached, or shut down.
  template <class F>
  bool submit(F&& task) {
    detail::Task t(std::forward<F>(task));
    return submit_task(std::move(t));
  }

  /// Runs f() on a worker; the future gets its result or exception. If the pool
  /// rejects it, the future holds a std::runtime_error saying so.
  template <class F>
  auto async(F&& f) -> std::future<std::invoke_result_t<F>> {
    using R = std::invoke_result_t<F>;
    std::packaged_task<R()> job(std::forward<F>(f));
    std::future<R> result = job.get_future();
    detail::Task t(std::move(job));
    if (!submit_task(std::move(t))) {
      std::promise<R> rejected;
      rejected.set_exception(std::make_exception_ptr(std::runtime_error("cistern::WorkerPool: task rejected")));
      return rejected.get_future();
    }
    return result;
  }

  /// Changes the capacity. Larger: blocked submitters may start workers now.
  /// Smaller: idle workers beyond it exit; busy ones exit once the task they are
  /// in is done, and the tasks queued behind them go to the workers that stay.
  /// Throws std::invalid_argument for 0.
  void tune(std::size_t capacity);

  std::size_t capacity() const;
  std::size_t running() const;  // workers running a task now
  std::size_t idle() const;     // workers waiting for a task
  std::size_t waiting() const;  // submitters blocked in submit()
  WorkerPoolStats stats() const;

  /// No new tasks (submit returns false, blocked submitters too); every accepted
  /// task runs exactly once; worker threads are joined. Returns true if all of it
  /// finished within `timeout` (the rest finishes in the background, and the
  /// destructor waits for it). Throws std::logic_error when called from a task of
  /// this pool.
  bool shutdown(std::chrono::milliseconds timeout);

 private:
  struct Worker;
  enum class Push { ok, full, closed };
  enum class Park { task, exit, again };

  bool submit_task(detail::Task&& task);
  bool try_sticky(detail::Task& task);
  bool queue_behind_busy_locked(detail::Task& task, bool& in_transition);
  Push push(Worker* w, detail::Task& task) noexcept;
  bool take(Worker* w, detail::Task& out, std::uint64_t& pos) noexcept;
  bool pop(Worker* w, detail::Task& out) noexcept;
  Worker* take_idle_locked() noexcept;
  void hand_over(Worker* w, detail::Task&& task) noexcept;
  void rescue_stuck_locked() noexcept;
  Worker* find_victim(Worker* self) noexcept;
  bool taken_from_stuck(Worker* w, detail::Task& out) noexcept;
  void start_worker_locked(detail::Task first);
  void worker_main(Worker* w);
  bool next_for(Worker* w, detail::Task& task);   // false: the worker exits
  bool leave_over_capacity(Worker* w);
  bool take_orphaned(detail::Task& out) noexcept;
  bool next_task(Worker* w, detail::Task& out);  // from its own ring; false: go idle
  Park park(Worker* w);                           // idle until the next task
  void housekeep(std::int64_t now_ms) noexcept override;
  void reap_locked(std::vector<std::thread>& out);
  void update_fast_path_locked() noexcept;
  const char* label() const noexcept { return options_.name.empty() ? "(unnamed)" : options_.name.c_str(); }
  void report(std::exception_ptr e) noexcept;
  void report_self_wait_locked() noexcept;

  Options options_;
  std::size_t ring_size_;  // options_.backlog rounded up to a power of two (at least 2)
  mutable std::mutex mu_;
  std::condition_variable slot_free_;  // blocked submitters wait here
  std::condition_variable all_done_;   // shutdown waits here
  std::vector<Worker*> idle_;          // LIFO: the most recently idle is used first
  std::vector<std::unique_ptr<Worker>> workers_;  // every live worker
  std::vector<std::unique_ptr<Worker>> spare_;    // finished workers, kept for reuse: see sticky_
  std::atomic<Worker*> all_{nullptr};  // every worker ever made, linked by next_all, for find_victim() and stats()
  std::size_t capacity_;
  std::size_t busy_ = 0;
  /// Submitters blocked now. Written under mu_; workers also read it without the
  /// lock (relaxed: a hint whether to notify).
  std::atomic<std::size_t> waiting_{0};
  std::size_t next_backlog_ = 0;  // round-robin start for queueing behind busy workers
  /// The worker submitters last queued behind, for the fast path (no pool lock).
  /// Worker objects are recycled, never freed while the pool lives, so the pointer
  /// is always valid; a worker whose ring is closed refuses the task.
  std::atomic<Worker*> sticky_{nullptr};
  /// The fast path is off while the pool is over capacity (after tune()) or closing.
  std::atomic<bool> no_fast_path_{false};
  /// Read by every worker between tasks: over capacity (a busy worker leaves), and
  /// how many workers left tasks queued behind them. See kOverCapacity in the .cpp.
  /// On a line of its own: it is written rarely, and the fields around it often.
  alignas(detail::kCacheLine) std::atomic<std::uint64_t> alerts_{0};
  alignas(detail::kCacheLine) bool closing_ = false;
  std::size_t workers_waiting_ = 0;  // of waiting_, the pool's own workers (tasks submitting); under mu_
  bool reported_self_wait_ = false;  // under mu_
  /// Statistics. Tasks queued in rings and tasks run are counted per worker (see stats()).
  std::atomic<std::uint64_t> submitted_{0}, rejected_{0}, failed_{0}, started_{0};
  detail::MetricsRegistration metrics_;
};

}  // namespace cistern
