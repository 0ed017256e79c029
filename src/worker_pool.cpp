// src/worker_pool.cpp — WorkerPool's workers, hand-off, purge and shutdown.
#include "cistern/worker_pool.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace cistern {

namespace {
constexpr int kIdle = 0, kTask = 1, kExit = 2;
// How long the first idle worker spins for its next task before sleeping: long
// enough to catch a pool that is busy now and then, short enough to cost little.
constexpr auto kSpin = std::chrono::microseconds(1000);
}  // namespace

struct WorkerPool::Worker {
  std::thread thread;
  detail::Task task;         // handed over by a submitter (who owns it after popping us from idle_)
  std::atomic<int> state{kIdle};
  std::int64_t idle_since_ms = 0;  // under mu_
  bool finished = false;           // under mu_: worker_main returned
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
  for (;;) {
    if (closing_) break;
    if (!idle_.empty()) {
      Worker* w = idle_.back();  // the most recently idle: its cache is warm, and the others may expire
      idle_.pop_back();
      ++busy_;
      lock.unlock();
      submitted_.fetch_add(1, std::memory_order_relaxed);  // a statistic
      w->task = std::move(task);  // ours to write: w left idle_ under the lock
      w->state.store(kTask, std::memory_order_release);  // pairs with park()'s acquire
      w->state.notify_one();
      return true;
    }
    if (busy_ + idle_.size() < capacity_) {
      ++busy_;
      submitted_.fetch_add(1, std::memory_order_relaxed);  // a statistic
      start_worker_locked(std::move(task));
      return true;
    }
    if (options_.nonblocking) break;
    if (options_.max_waiting != 0 && waiting_ >= options_.max_waiting) break;
    ++waiting_;
    slot_free_.wait(lock);
    --waiting_;
    if (closing_) all_done_.notify_all();  // shutdown() also waits for blocked submitters to leave
  }
  rejected_.fetch_add(1, std::memory_order_relaxed);  // a statistic
  return false;
}

void WorkerPool::start_worker_locked(detail::Task first) {
  auto w = std::make_unique<Worker>();
  Worker* raw = w.get();
  raw->task = std::move(first);
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
    if (!park(w)) break;
  }
  std::lock_guard lock(mu_);
  w->finished = true;
  all_done_.notify_all();
}

bool WorkerPool::park(Worker* w) {
  bool spin;
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
    spin = idle_.size() == 1;  // only the first idle worker spins: it gets the next task
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
  while (s == kIdle) {
    w->state.wait(kIdle, std::memory_order_acquire);
    s = w->state.load(std::memory_order_acquire);  // pairs with submit's (or an exit's) release
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
    for (std::size_t i = 0; i < expired; ++i) {
      idle_[i]->state.store(kExit, std::memory_order_release);  // pairs with park()'s acquire
      idle_[i]->state.notify_one();
    }
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
    w->state.store(kExit, std::memory_order_release);  // pairs with park()'s acquire
    w->state.notify_one();
  }
  slot_free_.notify_all();  // a larger capacity lets blocked submitters start workers
}

bool WorkerPool::shutdown(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  closing_ = true;
  for (Worker* w : idle_) {
    w->state.store(kExit, std::memory_order_release);  // pairs with park()'s acquire
    w->state.notify_one();
  }
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
