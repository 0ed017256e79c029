// src/worker_pool.cpp — WorkerPool's workers, hand-off, purge and shutdown.
#include "cistern/worker_pool.hpp"

#include <algorithm>
#include <deque>
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
  std::mutex backlog_mu;
  std::deque<detail::Task> backlog;  // under backlog_mu
  bool accepting = false;            // under backlog_mu: busy and may take a backlog
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

bool WorkerPool::submit_task(detail::Task task) {
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
      lock.unlock();
      submitted_.fetch_add(1, std::memory_order_relaxed);  // a statistic
      w->task = std::move(task);  // ours to write: w left idle_ under the lock
      signal(w, kTask);           // the store releases the task to park()'s acquire
      return true;
    }
    if (busy_ + idle_.size() < capacity_) {
      ++busy_;
      submitted_.fetch_add(1, std::memory_order_relaxed);  // a statistic
      start_worker_locked(std::move(task));
      return true;
    }
    if (options_.nonblocking) break;
    bool in_transition = options_.backlog == 0;
    if (options_.backlog != 0 && queue_behind_busy_locked(task, in_transition)) {
      submitted_.fetch_add(1, std::memory_order_relaxed);  // a statistic
      return true;
    }
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
    if (options_.max_waiting != 0 && waiting_ >= options_.max_waiting) break;
    ++waiting_;
    waiting_count_.fetch_add(1, std::memory_order_relaxed);  // a hint for workers, see worker_main
    slot_free_.wait(lock);
    waiting_count_.fetch_sub(1, std::memory_order_relaxed);
    --waiting_;
    if (closing_) all_done_.notify_all();  // shutdown() also waits for blocked submitters to leave
  }
  rejected_.fetch_add(1, std::memory_order_relaxed);  // a statistic
  return false;
}

// Queues the task behind a busy worker with room in its backlog, round-robin.
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
    next_backlog_ = (next_backlog_ + k + 1) % n;
    return true;
  }
  return false;
}

void WorkerPool::start_worker_locked(detail::Task first) {
  auto w = std::make_unique<Worker>();
  Worker* raw = w.get();
  raw->task = std::move(first);
  raw->accepting = true;  // busy from the start; published by the thread's start
  raw->state.store(kTask, std::memory_order_relaxed);  // published by the thread's start
  workers_.push_back(std::move(w));
  started_.fetch_add(1, std::memory_order_relaxed);  // a statistic
  try {
    raw->thread = std::thread([this, raw] { worker_main(raw); });
  } catch (...) {
    workers_.pop_back();
    --busy_;
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
    {
      std::lock_guard lock(w->backlog_mu);
      if (!w->backlog.empty()) {  // this worker's own queue first: no hand-off needed
        w->task = std::move(w->backlog.front());
        w->backlog.pop_front();
        // Half the backlog is free: a blocked submitter may refill it now (not on
        // every pop: each notify of a sleeper is a syscall).
        if (w->backlog.size() == options_.backlog / 2 && waiting_count_.load(std::memory_order_relaxed) != 0)
          slot_free_.notify_one();  // a hint: park() notifies too
        continue;
      }
      w->accepting = false;  // from here on nobody queues behind this worker
    }
    if (!park(w)) break;
    std::lock_guard lock(w->backlog_mu);
    w->accepting = true;  // handed a task: busy again
  }
  std::lock_guard lock(mu_);
  w->finished = true;
  all_done_.notify_all();
}

bool WorkerPool::park(Worker* w) {
  bool spin = false;
  {
    std::lock_guard lock(mu_);
    --busy_;
    if (closing_ || busy_ + idle_.size() >= capacity_) {  // shutting down, or the pool shrank
      if (waiting_ != 0) slot_free_.notify_one();
      return false;
    }
    w->state.store(kIdle, std::memory_order_relaxed);  // nobody else can see w until it is in idle_
    w->idle_since_ms = detail::coarse_now_ms();
    idle_.push_back(w);
    spin = true;  // the newest idle worker is the next to get a task: it must not be asleep
    if (waiting_ != 0) slot_free_.notify_one();
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
    return std::all_of(workers_.begin(), workers_.end(), [](const auto& w) { return w->finished; }) && waiting_ == 0;
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
  return waiting_;
}

WorkerPoolStats WorkerPool::stats() const {
  WorkerPoolStats s;
  {
    std::lock_guard lock(mu_);
    s.capacity = capacity_;
    s.running = busy_;
    s.idle = idle_.size();
    s.waiting = waiting_;
  }
  s.submitted = submitted_.load(std::memory_order_relaxed);  // statistics
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
