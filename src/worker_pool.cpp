// SPDX-License-Identifier: Apache-2.0
// src/worker_pool.cpp — WorkerPool's workers, hand-off, purge and shutdown.
#include "cistern/worker_pool.hpp"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <stdexcept>

#include "cistern/detail/cpu.hpp"

namespace cistern {

namespace {
constexpr int kIdle = 0, kTask = 1, kExit = 2;

// Publishes a new state for a worker and wakes it if it sleeps.
template <class W>
void signal(W* w, int state) noexcept {
  w->state.store(state, std::memory_order_seq_cst);  // Dekker with park(): state, then sleeping
  if (w->sleeping.load(std::memory_order_seq_cst)) w->state.notify_one();
}
// How long the first idle worker spins for its next task before sleeping: long
// enough to catch a pool that is busy now and then, short enough to cost little.
constexpr auto kSpin = std::chrono::microseconds(1000);
// How long a worker whose ring ran dry keeps it open before going idle.
constexpr auto kRingSpin = std::chrono::microseconds(50);
// How long a submitter that found every ring full (or a worker between tasks)
// retries before it sleeps: a futex wake-up costs microseconds here, a ring of
// short tasks drains in less. (Not on a busy machine: see submitter_spin_step.)
constexpr auto kSubmitSpin = std::chrono::microseconds(50);

// A submitter's wait for room. A yield that hands the vCPU to a worker of a
// short-task stream comes back within microseconds (it drains a ring and yields
// back); on a busy machine, one that hands it to another process comes back a
// whole scheduler slice later, milliseconds in which the rings may run dry.
// After such a slow yield this thread waits by sleeping instead, for 100 ms:
// woken by pop() at half a ring, a sleeping thread runs at once. (Thread-local:
// it is the machine that is busy, not one pool.)
constexpr std::int64_t kSlowYieldNs = 200'000;
constexpr std::int64_t kSleepInsteadNs = 100'000'000;
constinit thread_local std::int64_t t_sleep_instead_until_ns = 0;

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One step of a submitter's spin: pause, then yield. Returns false when the
// submitter should sleep instead.
bool submitter_spin_step(int i) noexcept {
  if (i < 64) {
    detail::cpu_pause();
    return true;
  }
  const std::int64_t before = now_ns();
  if (before < t_sleep_instead_until_ns) return false;
  std::this_thread::yield();
  const std::int64_t after = now_ns();
  if (after - before < kSlowYieldNs) return true;
  t_sleep_instead_until_ns = after + kSleepInsteadNs;
  return false;
}

// The pool whose worker this thread is, if any: a task that submits to its own
// pool must not wait for room that only it and its peers could make.
constinit thread_local const void* t_worker_of = nullptr;

// The low bit of a ring's tail: set while its worker takes no more tasks.
constexpr std::uint64_t kClosed = 1;

// WorkerPool::alerts_: bit 0 while more workers are busy than the capacity
// allows; above it, kOrphans for each worker that left tasks queued in its ring.
constexpr std::uint64_t kOverCapacity = 1, kOrphans = 2;

// One cache line per queued task: the sequence number says whose turn the slot is
// (Vyukov's bounded queue): seq == pos, free for the submitter claiming position
// pos; seq == pos + 1, holds that task for a taker; seq == pos + ring size, taken,
// free for the next lap.
struct alignas(64) Slot {
  std::atomic<std::uint64_t> seq{0};
  detail::Task task;
};
static_assert(sizeof(Slot) == 64, "a slot is one cache line");

}  // namespace

// A worker and its ring. Each group of fields has its own cache line, by who
// writes it: the pool's lock, a submitter handing over, submitters queueing, the
// worker itself.
struct WorkerPool::Worker {
  explicit Worker(std::size_t ring_size) : ring(new Slot[ring_size]), mask(ring_size - 1) {
    for (std::size_t i = 0; i < ring_size; ++i) ring[i].seq.store(i, std::memory_order_relaxed);
  }

  std::thread thread;
  const std::unique_ptr<Slot[]> ring;
  const std::uint64_t mask;
  std::int64_t idle_since_ms = 0;  // under mu_
  bool finished = false;           // under mu_: worker_main returned
  std::uint64_t started_at_last_pass = 0;  // under mu_: its `started` at the last housekeep()
  // Opens the ring. A plain store: only its own worker closes it, and no
  // submitter writes a closed tail. By the worker, or by whoever took it from
  // idle_ (it runs nothing then).
  void open_ring() noexcept {
    tail.store(tail.load(std::memory_order_relaxed) & ~kClosed, std::memory_order_relaxed);
  }
  // Closes the ring (by its worker): from here on nobody queues here. Records and
  // returns `end`.
  std::uint64_t close_ring() noexcept {
    const std::uint64_t e = tail.fetch_or(kClosed, std::memory_order_relaxed) >> 1;
    end.store(e, std::memory_order_relaxed);
    closed = true;
    return e;
  }

  // Set when the worker left a pool that shrank with tasks still queued in its
  // ring (closed; `end` says where they stop): the other workers take them.
  // Cleared by the one that finds the ring empty.
  std::atomic<bool> orphan{false};

  // The hand-over to an idle worker: the submitter that took it from idle_
  // writes task, then state.
  alignas(64) detail::Task task;
  std::atomic<int> state{kIdle};
  // Set while the worker blocks in state.wait(): only then does a hand-off need
  // the (syscall) notify. Dekker pair with `state`: see signal() and park().
  std::atomic<bool> sleeping{false};

  // The submitters' end of the ring: 2 x the next position to claim, + kClosed
  // while the worker takes no more. Also counts every task ever queued here.
  alignas(64) std::atomic<std::uint64_t> tail{kClosed};

  // The takers' end: the next position to take. The worker takes from here, and
  // so may other workers that ran out of their own tasks (see next_task()).
  alignas(64) std::atomic<std::uint64_t> head{0};

  // The worker's own.
  // While closed: the first position never claimed (read by others only while `orphan`).
  alignas(64) std::atomic<std::uint64_t> end{0};
  bool closed = true;                 // the worker's view of kClosed
  // Tasks begun and tasks run; stored by the worker only. They differ while it
  // is in a task.
  std::atomic<std::uint64_t> started{0}, completed{0};
  Worker* victim = nullptr;             // a worker with queued tasks, watched for being stuck
  std::uint64_t victim_completed = 0;   // its count of tasks run when we began watching
  // The next of every worker the pool ever made (never freed while it lives):
  // set before the worker is published in all_, read without a lock by find_victim().
  Worker* next_all = nullptr;
};

// Queues a task in w's ring, unless it is full (backlog tasks queued) or closed.
// Any thread.
WorkerPool::Push WorkerPool::push(Worker* w, detail::Task& task) noexcept {
  std::uint64_t t = w->tail.load(std::memory_order_relaxed);
  for (;;) {
    if (t & kClosed) return Push::closed;
    const std::uint64_t pos = t >> 1;
    Slot& s = w->ring[pos & w->mask];
    const std::uint64_t seq = s.seq.load(std::memory_order_acquire);  // pairs with pop's release
    const auto lag = static_cast<std::int64_t>(seq - pos);
    if (lag == 0) {
      // The ring is a power of two; a smaller backlog is kept exactly: the task
      // `backlog` positions back must have been taken (its slot is a lap ahead).
      if (ring_size_ != options_.backlog && pos >= options_.backlog) {
        const std::uint64_t back = pos - options_.backlog;
        const std::uint64_t back_seq = w->ring[back & w->mask].seq.load(std::memory_order_acquire);
        if (static_cast<std::int64_t>(back_seq - (back + ring_size_)) < 0) return Push::full;
      }
      // A relaxed CAS: the slot's own sequence number orders its contents, and
      // the worker's close is a read-modify-write on the same word.
      if (w->tail.compare_exchange_weak(t, t + 2, std::memory_order_relaxed)) {
        s.task = std::move(task);
        s.seq.store(pos + 1, std::memory_order_release);  // the task is the worker's now
        return Push::ok;
      }
    } else if (lag < 0) {
      return Push::full;  // the worker has not taken this slot's previous task yet
    } else {
      t = w->tail.load(std::memory_order_relaxed);  // another submitter claimed pos
    }
  }
}

// Takes the task at the head of w's ring, if there is one, and says its position:
// w's worker, another worker taking from a stuck one, or housekeep(). Each
// position goes to exactly one taker (the CAS).
CISTERN_ALWAYS_INLINE bool WorkerPool::take(Worker* w, detail::Task& out, std::uint64_t& pos) noexcept {
  pos = w->head.load(std::memory_order_relaxed);
  Slot* s;
  for (;;) {
    s = &w->ring[pos & w->mask];
    const std::uint64_t seq = s->seq.load(std::memory_order_acquire);  // pairs with push's release
    const auto lag = static_cast<std::int64_t>(seq - (pos + 1));
    if (lag == 0) {
      if (w->head.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
    } else if (lag < 0) {
      return false;  // empty, or its submitter is still writing it
    } else {
      pos = w->head.load(std::memory_order_relaxed);  // another taker was first
    }
  }
  out = std::move(s->task);
  s->seq.store(pos + w->mask + 1, std::memory_order_release);  // free for the next lap
  return true;
}

// take(), and tells blocked submitters there is room every half ring (a hint read
// without a fence; a wake-up this misses comes with a later one or with park()).
bool WorkerPool::pop(Worker* w, detail::Task& out) noexcept {
  std::uint64_t pos;
  if (!take(w, out, pos)) return false;
  if ((pos & (w->mask >> 1)) == 0 && waiting_.load(std::memory_order_relaxed) != 0) {
    std::lock_guard lock(mu_);
    slot_free_.notify_one();
  }
  return true;
}

// Another worker in a task with tasks queued behind it, to watch while we wait
// for our own (see next_task()).
WorkerPool::Worker* WorkerPool::find_victim(Worker* self) noexcept {
  for (Worker* v = all_.load(std::memory_order_acquire); v != nullptr; v = v->next_all) {  // pairs with the publish
    if (v == self) continue;
    const std::uint64_t done = v->completed.load(std::memory_order_relaxed);
    if (v->started.load(std::memory_order_relaxed) != done &&
        v->head.load(std::memory_order_relaxed) < (v->tail.load(std::memory_order_relaxed) >> 1)) {
      self->victim_completed = done;
      return v;
    }
  }
  return nullptr;
}

WorkerPool::WorkerPool(Options options)
    : options_(std::move(options)),
      ring_size_(std::bit_ceil(std::max<std::size_t>(options_.backlog, 2))),
      capacity_(options_.capacity) {
  if (options_.capacity == 0) throw std::invalid_argument("cistern::WorkerPool: Options::capacity must be at least 1");
  if (options_.idle_expiry.count() <= 0)
    throw std::invalid_argument("cistern::WorkerPool: Options::idle_expiry must be positive");
  if (!options_.name.empty()) {
    metrics_ = detail::register_metrics(options_.name, "worker_pool", [this](std::vector<detail::MetricSample>& out) {
      WorkerPoolStats s = stats();
      out.push_back({"cistern_worker_pool_capacity", "Most tasks running at once.", false, double(s.capacity)});
      out.push_back({"cistern_worker_pool_running", "Workers running a task now.", false, double(s.running)});
      out.push_back({"cistern_worker_pool_idle", "Workers waiting for a task now.", false, double(s.idle)});
      out.push_back({"cistern_worker_pool_waiting", "Submitters blocked now.", false, double(s.waiting)});
      out.push_back({"cistern_worker_pool_submitted_total", "Tasks accepted.", true, double(s.submitted)});
      out.push_back({"cistern_worker_pool_rejected_total", "Tasks rejected.", true, double(s.rejected)});
      out.push_back({"cistern_worker_pool_completed_total", "Tasks that ran.", true, double(s.completed)});
      out.push_back({"cistern_worker_pool_failed_total", "Tasks that threw.", true, double(s.failed)});
      out.push_back({"cistern_worker_pool_threads_started_total", "Worker threads started.", true,
                     double(s.threads_started)});
    });
  }
  detail::housekeeper_add(this);
}

WorkerPool::~WorkerPool() {
  CISTERN_CHECK(t_worker_of != this, label(),
                "WorkerPool destroyed by one of its own tasks (it would wait for itself to finish)");
  metrics_.reset();
  detail::housekeeper_remove(this);  // no purge runs from here on
  shutdown(std::chrono::milliseconds::max());
}

// The fast path: straight into the ring of the worker we queued behind last,
// without the pool's lock.
bool WorkerPool::try_sticky(detail::Task& task) {
  Worker* w = sticky_.load(std::memory_order_acquire);  // pairs with the store in queue_behind_busy_locked
  if (w == nullptr || no_fast_path_.load(std::memory_order_relaxed)) return false;  // hints
  return push(w, task) == Push::ok;
}

void WorkerPool::update_fast_path_locked() noexcept {
  // A hint for try_sticky: an idle worker is to get the next task, and a pool over
  // capacity or closing sends every submitter through the lock.
  no_fast_path_.store(closing_ || busy_ > capacity_ || !idle_.empty(), std::memory_order_relaxed);
  // Workers look at alerts_ between tasks: a busy worker beyond the capacity leaves.
  const bool over = busy_ > capacity_;
  if (over != ((alerts_.load(std::memory_order_relaxed) & kOverCapacity) != 0)) {
    if (over) {
      alerts_.fetch_or(kOverCapacity, std::memory_order_relaxed);
    } else {
      alerts_.fetch_and(~kOverCapacity, std::memory_order_relaxed);
    }
  }
}

bool WorkerPool::submit_task(detail::Task&& task) {
  if (options_.backlog != 0 && !options_.nonblocking && try_sticky(task)) return true;
  std::unique_lock lock(mu_);
  std::chrono::steady_clock::time_point spin_until{};
  for (int round = 0;; ++round) {
    if (closing_) break;
    if (!idle_.empty()) {
      Worker* w = take_idle_locked();
      lock.unlock();
      submitted_.fetch_add(1, std::memory_order_relaxed);  // a statistic
      hand_over(w, std::move(task));
      return true;
    }
    if (busy_ + idle_.size() < capacity_) {
      ++busy_;
      update_fast_path_locked();
      submitted_.fetch_add(1, std::memory_order_relaxed);  // a statistic
      start_worker_locked(std::move(task));
      return true;
    }
    if (options_.nonblocking) break;
    bool in_transition = options_.backlog == 0;
    if (options_.backlog != 0 && queue_behind_busy_locked(task, in_transition)) return true;
    // Every ring full, or a worker between tasks (it has closed its ring and is
    // about to go idle, which needs the lock we hold): both pass in well under
    // the microseconds a futex sleep and wake-up cost, so retry for a moment
    // first, giving the vCPU to the workers.
    auto now = std::chrono::steady_clock::now();
    if (spin_until == std::chrono::steady_clock::time_point{}) spin_until = now + kSubmitSpin;
    if (now < spin_until) {
      lock.unlock();
      const bool spin_on = submitter_spin_step(round);
      lock.lock();
      if (!spin_on) spin_until = now;  // sleep from here on in this wait
      continue;
    }
    if (options_.max_waiting != 0 && waiting_.load(std::memory_order_relaxed) >= options_.max_waiting) break;
    const bool from_worker = t_worker_of == this;
    if (from_worker && workers_waiting_ + 1 == busy_) {
      report_self_wait_locked();  // every worker would wait for the others: forever
      break;
    }
    workers_waiting_ += from_worker;
    waiting_.fetch_add(1, std::memory_order_relaxed);  // under mu_; pop() reads it as a hint
    slot_free_.wait(lock);
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    workers_waiting_ -= from_worker;
    if (closing_) all_done_.notify_all();  // shutdown() also waits for blocked submitters to leave
  }
  rejected_.fetch_add(1, std::memory_order_relaxed);  // a statistic
  return false;
}

// An idle worker for a task: the most recently idle one that is still spinning
// (no wake-up needed), else the most recently idle one. LIFO lets the others
// expire. REQUIRES: mu_ held, idle_ not empty.
WorkerPool::Worker* WorkerPool::take_idle_locked() noexcept {
  std::size_t pick = idle_.size() - 1;
  for (std::size_t i = idle_.size(); i-- > 0;) {
    if (!idle_[i]->sleeping.load(std::memory_order_relaxed)) {  // a hint: either choice is correct
      pick = i;
      break;
    }
  }
  Worker* w = idle_[pick];
  idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(pick));
  ++busy_;
  update_fast_path_locked();
  return w;
}

// Gives `task` to w, just taken from idle_, and opens its (drained) ring: only
// its worker closes it, and no submitter writes a closed tail. With or without mu_.
void WorkerPool::hand_over(Worker* w, detail::Task&& task) noexcept {
  w->task = std::move(task);  // ours to write: w left idle_ under the lock
  w->open_ring();
  signal(w, kTask);  // the store releases the task and the open ring to park()'s acquire
}

// Queues the task behind a busy worker with room in its ring (the same one as
// last time while it has room: its ring's lines stay with that worker).
// REQUIRES: mu_ held.
bool WorkerPool::queue_behind_busy_locked(detail::Task& task, bool& in_transition) {
  const std::size_t n = workers_.size();
  in_transition = false;
  if (busy_ > capacity_) return false;  // the pool shrank: let the extra workers drain and leave
  for (std::size_t k = 0; k < n; ++k) {
    Worker* w = workers_[(next_backlog_ + k) % n].get();
    switch (push(w, task)) {
      case Push::ok:
        next_backlog_ = (next_backlog_ + k) % n;
        sticky_.store(w, std::memory_order_release);  // pairs with try_sticky
        return true;
      case Push::closed:
        in_transition |= !w->finished;  // between tasks: about to be idle
        break;
      case Push::full:
        break;
    }
  }
  return false;
}

void WorkerPool::start_worker_locked(detail::Task first) {
  std::unique_ptr<Worker> w;
  if (!spare_.empty()) {  // reuse a finished worker's object: try_sticky may still point at it
    w = std::move(spare_.back());
    spare_.pop_back();
    w->finished = false;
    w->idle_since_ms = 0;
    w->sleeping.store(false, std::memory_order_relaxed);
  } else {
    w = std::make_unique<Worker>(ring_size_);
    w->next_all = all_.load(std::memory_order_relaxed);  // under mu_: the only writer
    all_.store(w.get(), std::memory_order_release);       // pairs with find_victim()
  }
  Worker* raw = w.get();
  raw->task = std::move(first);
  raw->closed = false;
  raw->state.store(kTask, std::memory_order_relaxed);  // published by the thread's start
  raw->open_ring();  // submitters may queue behind it from here on
  workers_.push_back(std::move(w));
  started_.fetch_add(1, std::memory_order_relaxed);  // a statistic
  try {
    raw->thread = std::thread([this, raw] { worker_main(raw); });
  } catch (...) {
    raw->close_ring();
    raw->task.reset();
    spare_.push_back(std::move(workers_.back()));  // try_sticky may see it already
    workers_.pop_back();
    --busy_;
    update_fast_path_locked();
    throw;
  }
}

void WorkerPool::worker_main(Worker* w) {
  t_worker_of = this;
  detail::Task task = std::move(w->task);  // the first task, handed over with the start
  std::uint64_t done = w->completed.load(std::memory_order_relaxed);
  for (;;) {
    w->started.store(done + 1, std::memory_order_relaxed);  // a hint for find_victim()
    try {
      task();
    } catch (...) {
      failed_.fetch_add(1, std::memory_order_relaxed);  // a statistic
      report(std::current_exception());
    }
    task.reset();  // the task's captured state goes now, on this worker
    w->completed.store(++done, std::memory_order_relaxed);  // a statistic, no read-modify-write
    if (CISTERN_LIKELY(alerts_.load(std::memory_order_relaxed) == 0) && next_task(w, task)) continue;
    if (!next_for(w, task)) break;  // alerts, or the ring ran dry
  }
  std::lock_guard lock(mu_);
  w->finished = true;
  all_done_.notify_all();
}

// The worker's next task: one left behind by a worker that left (those first:
// they are the oldest), one from its own ring, or one handed over after it went
// idle. False: the worker exits (the pool shrank, or closes).
bool WorkerPool::next_for(Worker* w, detail::Task& task) {
  for (int i = 0;; ++i) {
    if (const std::uint64_t a = alerts_.load(std::memory_order_relaxed); CISTERN_UNLIKELY(a != 0)) {
      if ((a & kOverCapacity) != 0 && leave_over_capacity(w)) return false;
      if (a >= kOrphans && take_orphaned(task)) return true;
    }
    if (next_task(w, task)) return true;
    switch (park(w)) {
      case Park::task:
        task = std::move(w->task);  // handed over; the submitter opened our ring
        w->closed = false;
        return true;
      case Park::exit:
        return false;
      case Park::again:  // tasks left behind are still queued: take them first
        detail::spin_relax(i);
        break;
    }
  }
}

// After tune() shrank the pool below its busy workers, a busy worker leaves once
// its task is done, also with tasks queued behind it: the workers that stay take
// them (take_orphaned()). False: the pool is within its capacity again.
bool WorkerPool::leave_over_capacity(Worker* w) {
  std::lock_guard lock(mu_);
  if (busy_ <= capacity_) return false;
  --busy_;
  update_fast_path_locked();
  const std::uint64_t end = w->close_ring();
  if (w->head.load(std::memory_order_relaxed) != end) {
    w->orphan.store(true, std::memory_order_release);  // publishes end; pairs with take_orphaned()
    alerts_.fetch_add(kOrphans, std::memory_order_relaxed);
  }
  if (waiting_.load(std::memory_order_relaxed) != 0) slot_free_.notify_one();  // under mu_
  return true;
}

// A task queued behind a worker that left the pool (leave_over_capacity()). The
// taker that finds such a ring empty clears its mark.
bool WorkerPool::take_orphaned(detail::Task& out) noexcept {
  for (Worker* v = all_.load(std::memory_order_acquire); v != nullptr; v = v->next_all) {  // pairs with the publish
    if (!v->orphan.load(std::memory_order_acquire)) continue;  // pairs with leave_over_capacity()
    std::uint64_t pos;
    if (take(v, out, pos)) return true;
    if (v->head.load(std::memory_order_relaxed) == v->end.load(std::memory_order_relaxed) &&
        v->orphan.exchange(false, std::memory_order_relaxed))
      alerts_.fetch_sub(kOrphans, std::memory_order_relaxed);
  }
  return false;
}

// The next task from the worker's own ring. A worker whose ring ran dry keeps it
// open for a moment (a stream of short tasks then never pays for going idle
// through the pool's lock); then it closes its ring, runs what submitters had
// claimed before that (unless another worker took it), and returns false (the
// caller parks it).
// Meanwhile it watches one other worker that is in a task with tasks queued
// behind it: if that task is still running at the end of the moment, the queued
// ones are waiting behind a long task, and this worker takes them, one at a time
// while the other stays in it. A worker that keeps up with its ring, or is only
// descheduled between tasks, is left alone: taking from it would share its lines
// and keep one more thread running than there are cores for.
bool WorkerPool::next_task(Worker* w, detail::Task& out) {
  if (!w->closed) {
    if (pop(w, out)) return true;
    if (taken_from_stuck(w, out)) return true;
    w->victim = find_victim(w);
    auto until = std::chrono::steady_clock::now() + kRingSpin;
    for (int i = 0;; ++i) {
      if (pop(w, out)) return true;
      if ((i & 63) == 63 && std::chrono::steady_clock::now() >= until) break;
      detail::spin_relax(i);
    }
    if (taken_from_stuck(w, out)) return true;
    w->victim = nullptr;
    w->close_ring();
  }
  for (int i = 0;; ++i) {
    if (pop(w, out)) return true;
    if (w->head.load(std::memory_order_relaxed) == w->end.load(std::memory_order_relaxed))
      return false;  // all taken, by us or others
    detail::spin_relax(i);  // claimed: its submitter is writing it now
  }
}

// A task from the watched worker, if it is still in the task it was in when we
// began watching.
bool WorkerPool::taken_from_stuck(Worker* w, detail::Task& out) noexcept {
  Worker* v = w->victim;
  if (v == nullptr) return false;
  if (v->completed.load(std::memory_order_relaxed) == w->victim_completed &&
      v->started.load(std::memory_order_relaxed) != w->victim_completed && pop(v, out))
    return true;
  w->victim = nullptr;
  return false;
}

WorkerPool::Park WorkerPool::park(Worker* w) {
  bool spin = false;
  {
    std::lock_guard lock(mu_);
    if (alerts_.load(std::memory_order_relaxed) >= kOrphans) {
      // Tasks left behind by a worker that left: stay busy and take them (also
      // when closing: every accepted task runs). Our drained ring opens again.
      w->open_ring();
      w->closed = false;
      return Park::again;
    }
    --busy_;
    update_fast_path_locked();
    if (closing_ || busy_ + idle_.size() >= capacity_) {  // shutting down, or the pool shrank
      if (waiting_.load(std::memory_order_relaxed) != 0) slot_free_.notify_one();  // under mu_
      return Park::exit;
    }
    w->state.store(kIdle, std::memory_order_relaxed);  // nobody else can see w until it is in idle_
    w->idle_since_ms = detail::coarse_now_ms();
    idle_.push_back(w);
    update_fast_path_locked();
    spin = true;  // the newest idle worker is the next to get a task: it must not be asleep
    if (waiting_.load(std::memory_order_relaxed) != 0) slot_free_.notify_one();  // under mu_
  }
  int s = kIdle;
  if (spin) {
    auto until = std::chrono::steady_clock::now() + kSpin;
    for (int i = 0; (s = w->state.load(std::memory_order_acquire)) == kIdle; ++i) {  // pairs with submit's release
      if ((i & 63) == 63 && std::chrono::steady_clock::now() >= until) break;
      detail::spin_relax(i);
    }
  }
  if (s == kIdle) {
    w->sleeping.store(true, std::memory_order_seq_cst);  // Dekker with signal(): sleeping, then state
    while ((s = w->state.load(std::memory_order_seq_cst)) == kIdle) w->state.wait(kIdle, std::memory_order_acquire);
    w->sleeping.store(false, std::memory_order_relaxed);  // only this thread reads it as "may sleep"
  }
  return s == kTask ? Park::task : Park::exit;
}

// Tasks queued behind a worker that has been in one task since the last pass go
// to idle workers, one each; each then takes the rest as next_task() does. A
// worker that runs dry takes them itself; this is for one that went idle while
// the stuck worker was between tasks or not started yet, and saw nothing to take.
// REQUIRES: mu_ held.
void WorkerPool::rescue_stuck_locked() noexcept {
  bool took = false;
  for (const auto& v : workers_) {
    // Hints (a wrong guess only moves a task to another worker early): in a task,
    // the same one as at the last pass.
    const std::uint64_t started = v->started.load(std::memory_order_relaxed);
    const bool stuck =
        started != v->completed.load(std::memory_order_relaxed) && started == v->started_at_last_pass;
    v->started_at_last_pass = started;
    const bool left = v->orphan.load(std::memory_order_acquire);  // its worker left: see leave_over_capacity()
    detail::Task task;
    std::uint64_t pos;
    while ((stuck || left) && !idle_.empty() && take(v.get(), task, pos)) {
      hand_over(take_idle_locked(), std::move(task));
      took = true;
    }
  }
  if (took && waiting_.load(std::memory_order_relaxed) != 0) slot_free_.notify_one();  // under mu_
}

void WorkerPool::reap_locked(std::vector<std::thread>& out) {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if ((*it)->finished) {
      if ((*it)->thread.joinable()) out.push_back(std::move((*it)->thread));
      if ((*it)->orphan.load(std::memory_order_acquire)) {  // the others still take its queued tasks
        ++it;
        continue;
      }
      spare_.push_back(std::move(*it));  // kept: try_sticky may still read it
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void WorkerPool::housekeep(std::int64_t now_ms) noexcept {
  std::vector<std::thread> done;
  {
    std::lock_guard lock(mu_);
    // idle_ is in order of going idle: the expired ones are at the front.
    std::size_t expired = 0;
    while (expired < idle_.size() && now_ms - idle_[expired]->idle_since_ms >= options_.idle_expiry.count()) ++expired;
    for (std::size_t i = 0; i < expired; ++i) signal(idle_[i], kExit);
    idle_.erase(idle_.begin(), idle_.begin() + static_cast<std::ptrdiff_t>(expired));
    update_fast_path_locked();
    rescue_stuck_locked();
    reap_locked(done);
  }
  for (auto& t : done)
    if (t.joinable()) t.join();
}

void WorkerPool::tune(std::size_t capacity) {
  if (capacity == 0) throw std::invalid_argument("cistern::WorkerPool::tune: capacity must be at least 1");
  std::lock_guard lock(mu_);
  capacity_ = capacity;
  while (!idle_.empty() && busy_ + idle_.size() > capacity_) {
    Worker* w = idle_.front();  // the one idle longest
    idle_.erase(idle_.begin());
    signal(w, kExit);
  }
  update_fast_path_locked();
  slot_free_.notify_all();  // a larger capacity lets blocked submitters start workers
}

bool WorkerPool::shutdown(std::chrono::milliseconds timeout) {
  if (t_worker_of == this)
    throw std::logic_error(std::string("cistern::WorkerPool '") + label() +
                           "': shutdown() called from one of its own tasks (it would wait for itself to finish)");
  std::unique_lock lock(mu_);
  closing_ = true;
  for (Worker* w : idle_) signal(w, kExit);
  idle_.clear();
  update_fast_path_locked();
  slot_free_.notify_all();  // blocked submitters return false
  auto all_finished = [&] {
    return std::all_of(workers_.begin(), workers_.end(), [](const auto& w) { return w->finished; }) &&
           waiting_.load(std::memory_order_relaxed) == 0;  // under mu_
  };
  bool done;
  if (timeout == std::chrono::milliseconds::max()) {
    all_done_.wait(lock, all_finished);
    done = true;
  } else {
    done = all_done_.wait_for(lock, timeout, all_finished);
  }
  std::vector<std::thread> finished;
  reap_locked(finished);
  lock.unlock();
  for (auto& t : finished)
    if (t.joinable()) t.join();
  return done;
}

std::size_t WorkerPool::capacity() const {
  std::lock_guard lock(mu_);
  return capacity_;
}
std::size_t WorkerPool::running() const {
  std::lock_guard lock(mu_);
  return busy_;
}
std::size_t WorkerPool::idle() const {
  std::lock_guard lock(mu_);
  return idle_.size();
}
std::size_t WorkerPool::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_.load(std::memory_order_relaxed);  // under mu_
}

WorkerPoolStats WorkerPool::stats() const {
  WorkerPoolStats s;
  {
    std::lock_guard lock(mu_);
    s.capacity = capacity_;
    s.running = busy_;
    s.idle = idle_.size();
    s.waiting = waiting_.load(std::memory_order_relaxed);  // under mu_
  }
  // Statistics, without a shared counter on the fast path: tasks handed over or
  // starting a worker, plus the positions of every ring (each counts the tasks
  // ever queued in it), plus what each worker counted as run.
  s.submitted = submitted_.load(std::memory_order_relaxed);
  for (const Worker* w = all_.load(std::memory_order_acquire); w != nullptr; w = w->next_all) {  // pairs with the publish
    s.submitted += w->tail.load(std::memory_order_relaxed) >> 1;
    s.completed += w->completed.load(std::memory_order_relaxed);
  }
  s.rejected = rejected_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_relaxed);
  s.threads_started = started_.load(std::memory_order_relaxed);
  return s;
}

// A task submitted to its own pool while every other busy worker already waits
// in submit() for room: nobody is left to make it. REQUIRES: mu_ held.
void WorkerPool::report_self_wait_locked() noexcept {
  if (reported_self_wait_) return;
  reported_self_wait_ = true;
  std::fprintf(stderr,
               "cistern: worker pool '%s': a task submitted to its own pool while every worker was busy "
               "and the others waited to submit too; rejected (it would have waited forever). Reported once.\n",
               label());
}

void WorkerPool::report(std::exception_ptr e) noexcept {
  try {
    if (options_.on_exception) {
      options_.on_exception(e);
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "cistern: worker pool '%s': a task threw: %s\n",
                   label(), ex.what());
    } catch (...) {
      std::fprintf(stderr, "cistern: worker pool '%s': a task threw a non-standard exception\n",
                   label());
    }
  } catch (...) {
    // The handler itself threw: nothing sensible is left to do with it.
  }
}

}  // namespace cistern
