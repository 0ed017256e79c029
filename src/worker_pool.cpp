// src/worker_pool.cpp — WorkerPool's workers, hand-off, purge and shutdown.
#include "cistern/worker_pool.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

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
// How long a worker whose backlog ran dry keeps accepting one before going idle.
constexpr auto kBacklogSpin = std::chrono::microseconds(50);
}  // namespace

namespace {

// A test-and-test-and-set lock for a worker's backlog: the critical sections are
// a few instructions (a push, or a swap of two vectors), where a pthread mutex
// costs more than the work and may sleep in the kernel under contention.
class SpinLock {
 public:
  void lock() noexcept {
    for (int i = 0;; ++i) {
      if (!locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire)) return;
      if (i < 64) {
        __builtin_ia32_pause();
      } else {
        std::this_thread::yield();  // the holder was descheduled: let it run
      }
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }  // pairs with lock()'s acquire

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace

struct WorkerPool::Worker {
  std::thread thread;
  detail::Task task;         // handed over by a submitter (who owns it after popping us from idle_)
  std::atomic<int> state{kIdle};
  // Set while the worker blocks in state.wait(): only then does a hand-off need
  // the (syscall) notify. Dekker pair with `state`: see wake() and park().
  std::atomic<bool> sleeping{false};
  std::int64_t idle_since_ms = 0;  // under mu_
  bool finished = false;           // under mu_: worker_main returned
  // This worker's own backlog, filled by submitters while it is busy.
  SpinLock backlog_mu;
  std::vector<detail::Task> backlog;  // under backlog_mu; capacity reserved once
  std::uint64_t queued = 0;           // under backlog_mu: tasks accepted into the backlog
  bool accepting = false;            // under backlog_mu: busy and may take a backlog
  std::atomic<std::size_t> backlog_size{0};  // mirrors backlog.size() for polling without the lock
  std::vector<detail::Task> batch;   // taken from the backlog in one swap; the worker's alone
  std::size_t batch_next = 0;        // the next task of batch to run
};

WorkerPool::WorkerPool(Options options) : options_(std::move(options)), capacity_(options_.capacity) {
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
  metrics_.reset();
  detail::housekeeper_remove(this);  // no purge runs from here on
  shutdown(std::chrono::milliseconds::max());
}

// The fast path: straight into the backlog of the worker we queued behind last,
// under that worker's lock only.
bool WorkerPool::try_sticky(detail::Task& task) {
  Worker* w = sticky_.load(std::memory_order_acquire);  // pairs with the store in queue_behind_busy_locked
  if (w == nullptr || over_capacity_.load(std::memory_order_relaxed)) return false;  // hints
  std::lock_guard lock(w->backlog_mu);
  if (!w->accepting || w->backlog.size() >= options_.backlog) return false;
  w->backlog.push_back(std::move(task));
  ++w->queued;  // counted here, not in a shared atomic: see stats()
  w->backlog_size.store(w->backlog.size(), std::memory_order_relaxed);  // a hint; the lock orders the data
  return true;
}

void WorkerPool::update_capacity_flag_locked() noexcept {
  over_capacity_.store(busy_ > capacity_, std::memory_order_relaxed);  // a hint for try_sticky
}

bool WorkerPool::submit_task(detail::Task&& task) {
  if (options_.backlog != 0 && !options_.nonblocking && try_sticky(task)) return true;
  std::unique_lock lock(mu_);
  std::chrono::steady_clock::time_point spin_until{};
  for (;;) {
    if (closing_) break;
    if (!idle_.empty()) {
      // The most recently idle worker that is still spinning (no wake-up needed);
      // else the most recently idle one. LIFO lets the others expire.
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
      update_capacity_flag_locked();
      lock.unlock();
      submitted_.fetch_add(1, std::memory_order_relaxed);  // a statistic
      w->task = std::move(task);  // ours to write: w left idle_ under the lock
      signal(w, kTask);           // the store releases the task to park()'s acquire
      return true;
    }
    if (busy_ + idle_.size() < capacity_) {
      ++busy_;
      update_capacity_flag_locked();
      submitted_.fetch_add(1, std::memory_order_relaxed);  // a statistic
      start_worker_locked(std::move(task));
      return true;
    }
    if (options_.nonblocking) break;
    bool in_transition = options_.backlog == 0;
    if (options_.backlog != 0 && queue_behind_busy_locked(task, in_transition)) return true;
    // A worker between tasks (it has stopped taking a backlog and is about to go
    // idle, which needs the lock we hold) is worth a moment before sleeping: a
    // futex wake-up costs microseconds here. Full backlogs are not: spinning would
    // only take a core from the workers.
    auto now = std::chrono::steady_clock::now();
    if (spin_until == std::chrono::steady_clock::time_point{}) spin_until = now + std::chrono::microseconds(50);
    if (in_transition && now < spin_until) {
      lock.unlock();
      std::this_thread::yield();
      lock.lock();
      continue;
    }
    if (options_.max_waiting != 0 && waiting_.load(std::memory_order_relaxed) >= options_.max_waiting) break;
    waiting_.fetch_add(1, std::memory_order_relaxed);  // under mu_; next_task reads it as a hint
    slot_free_.wait(lock);
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    if (closing_) all_done_.notify_all();  // shutdown() also waits for blocked submitters to leave
  }
  rejected_.fetch_add(1, std::memory_order_relaxed);  // a statistic
  return false;
}

// Queues the task behind a busy worker with room in its backlog (the same one
// as last time while it has room).
// REQUIRES: mu_ held (lock order: mu_, then a worker's backlog_mu).
bool WorkerPool::queue_behind_busy_locked(detail::Task& task, bool& in_transition) {
  const std::size_t n = workers_.size();
  in_transition = false;
  if (busy_ > capacity_) return false;  // the pool shrank: let the extra workers drain and leave
  for (std::size_t k = 0; k < n; ++k) {
    Worker* w = workers_[(next_backlog_ + k) % n].get();
    std::lock_guard lock(w->backlog_mu);
    if (!w->accepting) {
      in_transition |= !w->finished;  // between tasks: about to be idle
      continue;
    }
    if (w->backlog.size() >= options_.backlog) continue;
    w->backlog.push_back(std::move(task));
    ++w->queued;
    w->backlog_size.store(w->backlog.size(), std::memory_order_relaxed);  // a hint; the lock orders the data
    next_backlog_ = (next_backlog_ + k) % n;  // stay with this worker until its backlog is full:
                                              // its lock stays here and it takes big batches
    sticky_.store(w, std::memory_order_release);  // pairs with try_sticky
    return true;
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
    w = std::make_unique<Worker>();
    w->backlog.reserve(options_.backlog);
    w->batch.reserve(options_.backlog);
  }
  Worker* raw = w.get();
  raw->task = std::move(first);
  {
    std::lock_guard backlog_lock(raw->backlog_mu);
    raw->accepting = true;  // busy from the start
  }
  raw->state.store(kTask, std::memory_order_relaxed);  // published by the thread's start
  workers_.push_back(std::move(w));
  started_.fetch_add(1, std::memory_order_relaxed);  // a statistic
  try {
    raw->thread = std::thread([this, raw] { worker_main(raw); });
  } catch (...) {
    workers_.pop_back();
    --busy_;
    update_capacity_flag_locked();
    throw;
  }
}

void WorkerPool::worker_main(Worker* w) {
  for (;;) {
    try {
      w->task();
    } catch (...) {
      failed_.fetch_add(1, std::memory_order_relaxed);  // a statistic
      report(std::current_exception());
    }
    w->task.reset();  // the task's captured state goes now, on this worker
    completed_.fetch_add(1, std::memory_order_relaxed);  // a statistic
    if (next_task(w)) continue;
    if (!park(w)) break;
    std::lock_guard lock(w->backlog_mu);
    w->accepting = true;  // handed a task: busy again
  }
  std::lock_guard lock(mu_);
  w->finished = true;
  all_done_.notify_all();
}

// The next task from this worker's own queue: its current batch, else the whole
// backlog in one swap (one lock hand-over per batch, not per task). A worker
// whose backlog ran dry keeps accepting one for a moment (a stream of short tasks
// then never pays for going idle through the pool's lock); after that it stops
// accepting and returns false (the caller parks it).
bool WorkerPool::next_task(Worker* w) {
  auto take = [&] {
    if (w->batch_next < w->batch.size()) {
      w->task = std::move(w->batch[w->batch_next++]);
      return true;
    }
    if (w->backlog_size.load(std::memory_order_relaxed) == 0) return false;  // a hint: checked under the lock
    return swap_in(w);
  };
  if (take()) return true;
  auto until = std::chrono::steady_clock::now() + kBacklogSpin;
  for (int i = 0;; ++i) {
    if (take()) return true;
    if ((i & 63) == 63 && std::chrono::steady_clock::now() >= until) break;
    if (i < 128) {
      __builtin_ia32_pause();
    } else {
      std::this_thread::yield();
    }
  }
  if (swap_in(w, /*stop_accepting_if_empty=*/true)) return true;
  return false;
}

// Swaps the (spent) batch with the backlog: the worker gets every queued task at
// once, and the submitters an empty vector that keeps its capacity (no
// allocation in steady state). Returns false if the backlog was empty.
bool WorkerPool::swap_in(Worker* w, bool stop_accepting_if_empty) {
  w->batch.clear();
  w->batch_next = 0;
  std::lock_guard lock(w->backlog_mu);
  if (w->backlog.empty()) {
    if (stop_accepting_if_empty) w->accepting = false;  // from here on nobody queues behind this worker
    return false;
  }
  w->batch.swap(w->backlog);
  w->backlog_size.store(0, std::memory_order_relaxed);  // a hint
  if (waiting_.load(std::memory_order_relaxed) != 0) slot_free_.notify_one();  // room now: a hint
  w->task = std::move(w->batch[w->batch_next++]);
  return true;
}

bool WorkerPool::park(Worker* w) {
  bool spin = false;
  {
    std::lock_guard lock(mu_);
    --busy_;
    update_capacity_flag_locked();
    if (closing_ || busy_ + idle_.size() >= capacity_) {  // shutting down, or the pool shrank
      if (waiting_.load(std::memory_order_relaxed) != 0) slot_free_.notify_one();  // under mu_
      return false;
    }
    w->state.store(kIdle, std::memory_order_relaxed);  // nobody else can see w until it is in idle_
    w->idle_since_ms = detail::coarse_now_ms();
    idle_.push_back(w);
    spin = true;  // the newest idle worker is the next to get a task: it must not be asleep
    if (waiting_.load(std::memory_order_relaxed) != 0) slot_free_.notify_one();  // under mu_
  }
  int s = kIdle;
  if (spin) {
    auto until = std::chrono::steady_clock::now() + kSpin;
    for (int i = 0; (s = w->state.load(std::memory_order_acquire)) == kIdle; ++i) {  // pairs with submit's release
      if ((i & 63) == 63 && std::chrono::steady_clock::now() >= until) break;
      if (i < 256) {
        __builtin_ia32_pause();
      } else {
        std::this_thread::yield();
      }
    }
  }
  if (s == kIdle) {
    w->sleeping.store(true, std::memory_order_seq_cst);  // Dekker with signal(): sleeping, then state
    while ((s = w->state.load(std::memory_order_seq_cst)) == kIdle) w->state.wait(kIdle, std::memory_order_acquire);
    w->sleeping.store(false, std::memory_order_relaxed);  // only this thread reads it as "may sleep"
  }
  return s == kTask;
}

void WorkerPool::reap_locked(std::vector<std::thread>& out) {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if ((*it)->finished) {
      out.push_back(std::move((*it)->thread));
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
    reap_locked(done);
  }
  for (auto& t : done)
    if (t.joinable()) t.join();
}

void WorkerPool::tune(std::size_t capacity) {
  if (capacity == 0) throw std::invalid_argument("cistern::WorkerPool::tune: capacity must be at least 1");
  std::lock_guard lock(mu_);
  capacity_ = capacity;
  update_capacity_flag_locked();
  while (!idle_.empty() && busy_ + idle_.size() > capacity_) {
    Worker* w = idle_.front();  // the one idle longest
    idle_.erase(idle_.begin());
    signal(w, kExit);
  }
  slot_free_.notify_all();  // a larger capacity lets blocked submitters start workers
}

bool WorkerPool::shutdown(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  closing_ = true;
  for (Worker* w : idle_) signal(w, kExit);
  idle_.clear();
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
  s.submitted = submitted_.load(std::memory_order_relaxed);  // statistics
  {
    std::lock_guard lock(mu_);  // workers_ and spare_ are stable under it
    for (const auto* list : {&workers_, &spare_})
      for (const auto& w : *list) {
        std::lock_guard backlog_lock(w->backlog_mu);
        s.submitted += w->queued;
      }
  }
  s.rejected = rejected_.load(std::memory_order_relaxed);
  s.completed = completed_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_relaxed);
  s.threads_started = started_.load(std::memory_order_relaxed);
  return s;
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
                   options_.name.empty() ? "(unnamed)" : options_.name.c_str(), ex.what());
    } catch (...) {
      std::fprintf(stderr, "cistern: worker pool '%s': a task threw a non-standard exception\n",
                   options_.name.empty() ? "(unnamed)" : options_.name.c_str());
    }
  } catch (...) {
    // The handler itself threw: nothing sensible is left to do with it.
  }
}

}  // namespace cistern
