// SPDX-License-Identifier: Apache-2.0
// WorkerPool against a fixed pool with one mutex + condition-variable queue (the
// usual design), std::async and a thread per task. Every contender runs with the
// same number of threads (2, the machine's cores).
//
//   BM_Tiny_*     1e6 tasks that each count one on their own thread (1e5 for
//                 std::async, 1e4 for thread-per-task); every count is checked
//   BM_TinyShared_*  1e6 tasks that increment one shared atomic counter: when
//                 both workers run, that line moves between the cores for each
//                 task (~160 ns a trip on this VM), which measures the task more
//                 than the pool
//   BM_TinyBusyHost_*  the same with one more thread spinning throughout, as
//                 another busy process on a shared host would (WorkerPool with
//                 backlogs 64, 256 (the default) and 1024)
//   BM_Work_*     1e5 tasks of ~10 us of work (backlogs 64 and 256)
//   BM_WorkBusyHost_*  the same with two more threads spinning throughout
//                 (backlogs 64, 256 and 1024)
//   BM_Latency_*  submit-to-start latency with an idle pool: warm (the pool ran a
//                 task 200 us earlier) and cold (idle for 20 ms); p50/p99 counters
// Reports threads created per run and the peak resident set size of the process
// during the case (peak_rss_MiB, reset before each case) as counters.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cistern/worker_pool.hpp"

namespace {

constexpr std::size_t kThreads = 2;

// The usual thread pool: N threads, one queue, one mutex, one condition variable.
class QueuePool {
 public:
  explicit QueuePool(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      threads_.emplace_back([this] {
        for (;;) {
          std::function<void()> task;
          {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
            if (queue_.empty()) return;
            task = std::move(queue_.front());
            queue_.pop_front();
          }
          task();
        }
      });
  }
  ~QueuePool() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void submit(std::function<void()> task) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
};

void work_10us() {
  auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(10);
  while (std::chrono::steady_clock::now() < until) {
  }
}

// The tiny task: counts one on its own thread. Each thread adds its count to
// g_ran when it exits, so after the pool's threads are joined g_ran must equal
// the tasks submitted.
std::atomic<long> g_ran{0};
struct RunCount {
  long n = 0;
  ~RunCount() { g_ran.fetch_add(n, std::memory_order_relaxed); }
};
thread_local RunCount t_ran;
void tiny_task() { ++t_ran.n; }

void check_ran(benchmark::State& state, long expected) {
  if (g_ran.exchange(0) != expected) state.SkipWithError("a task was lost or ran twice");
}

// The process's peak resident set size (VmHWM) since the last reset, in MiB.
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

template <class Body>
void run_tasks(benchmark::State& state, long tasks, Body body) {
  reset_peak_rss();
  for (auto _ : state) body(tasks);
  state.SetItemsProcessed(state.iterations() * tasks);
  state.counters["peak_rss_MiB"] = peak_rss_mib();
}

// Other busy processes on the host: `n` threads spinning while it lives.
class BusyHost {
 public:
  explicit BusyHost(int n = 1) {
    for (int i = 0; i < n; ++i)
      threads_.emplace_back([this] {
        while (!stop_.load(std::memory_order_relaxed)) {
        }
      });
  }
  ~BusyHost() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// 1e6 tiny tasks through each pool, every count checked.
void tiny_through_worker_pool(benchmark::State& state, std::size_t backlog) {
  run_tasks(state, 1'000'000, [&](long tasks) {
    {
      cistern::WorkerPool pool({.capacity = kThreads, .backlog = backlog});
      for (long i = 0; i < tasks; ++i) pool.submit(tiny_task);
      pool.shutdown(std::chrono::minutes(1));
      state.counters["threads"] = double(pool.stats().threads_started);
    }
    check_ran(state, tasks);
  });
}
void tiny_through_queue_pool(benchmark::State& state) {
  run_tasks(state, 1'000'000, [&](long tasks) {
    {
      QueuePool pool(kThreads);
      for (long i = 0; i < tasks; ++i) pool.submit(tiny_task);
    }
    check_ran(state, tasks);
    state.counters["threads"] = kThreads;
  });
}
void BM_Tiny_WorkerPool(benchmark::State& state) { tiny_through_worker_pool(state, cistern::WorkerPool::Options{}.backlog); }
void BM_Tiny_QueuePool(benchmark::State& state) { tiny_through_queue_pool(state); }
void BM_TinyShared_WorkerPool(benchmark::State& state) {
  std::atomic<long> n{0};
  run_tasks(state, 1'000'000, [&](long tasks) {
    cistern::WorkerPool pool({.capacity = kThreads});
    for (long i = 0; i < tasks; ++i) pool.submit([&n] { n.fetch_add(1, std::memory_order_relaxed); });
    pool.shutdown(std::chrono::minutes(1));
    state.counters["threads"] = double(pool.stats().threads_started);
  });
}
void BM_TinyShared_QueuePool(benchmark::State& state) {
  std::atomic<long> n{0};
  run_tasks(state, 1'000'000, [&](long tasks) {
    QueuePool pool(kThreads);
    for (long i = 0; i < tasks; ++i) pool.submit([&n] { n.fetch_add(1, std::memory_order_relaxed); });
    state.counters["threads"] = kThreads;
  });
}
void BM_TinyBusyHost_WorkerPool(benchmark::State& state) {
  BusyHost host;
  tiny_through_worker_pool(state, std::size_t(state.range(0)));
}
void BM_TinyBusyHost_QueuePool(benchmark::State& state) {
  BusyHost host;
  tiny_through_queue_pool(state);
}
void BM_Tiny_StdAsync(benchmark::State& state) {
  run_tasks(state, 100'000, [&](long tasks) {
    // At most 256 outstanding: each std::async(launch::async) is a thread until
    // its future is collected.
    std::deque<std::future<void>> f;
    for (long i = 0; i < tasks; ++i) {
      if (f.size() == 256) {
        f.front().get();
        f.pop_front();
      }
      f.push_back(std::async(std::launch::async, tiny_task));
    }
    for (auto& x : f) x.get();  // joins its thread (libstdc++): its count is in
    check_ran(state, tasks);
    state.counters["threads"] = double(tasks);
  });
}
void BM_Tiny_ThreadPerTask(benchmark::State& state) {
  run_tasks(state, 10'000, [&](long tasks) {
    for (long i = 0; i < tasks; ++i) std::thread(tiny_task).join();
    check_ran(state, tasks);
    state.counters["threads"] = double(tasks);
  });
}

void BM_Work_WorkerPool(benchmark::State& state) {
  run_tasks(state, 100'000, [&](long tasks) {
    cistern::WorkerPool pool({.capacity = kThreads, .backlog = std::size_t(state.range(0))});
    for (long i = 0; i < tasks; ++i) pool.submit(work_10us);
    pool.shutdown(std::chrono::minutes(1));
    state.counters["threads"] = double(pool.stats().threads_started);
  });
}
void BM_Work_QueuePool(benchmark::State& state) {
  run_tasks(state, 100'000, [&](long tasks) {
    QueuePool pool(kThreads);
    for (long i = 0; i < tasks; ++i) pool.submit(work_10us);
    state.counters["threads"] = kThreads;
  });
}

BENCHMARK(BM_Tiny_WorkerPool)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_Tiny_QueuePool)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_TinyShared_WorkerPool)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_TinyShared_QueuePool)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_TinyBusyHost_WorkerPool)->ArgName("backlog")->Arg(64)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_TinyBusyHost_QueuePool)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_Tiny_StdAsync)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_Tiny_ThreadPerTask)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
// 10 us tasks with two more busy threads: the two vCPUs are oversubscribed.
void BM_WorkBusyHost_WorkerPool(benchmark::State& state) {
  BusyHost host(2);
  run_tasks(state, 100'000, [&](long tasks) {
    cistern::WorkerPool pool({.capacity = kThreads, .backlog = std::size_t(state.range(0))});
    for (long i = 0; i < tasks; ++i) pool.submit(work_10us);
    pool.shutdown(std::chrono::minutes(1));
    state.counters["threads"] = double(pool.stats().threads_started);
  });
}
void BM_WorkBusyHost_QueuePool(benchmark::State& state) {
  BusyHost host(2);
  run_tasks(state, 100'000, [&](long tasks) {
    QueuePool pool(kThreads);
    for (long i = 0; i < tasks; ++i) pool.submit(work_10us);
    state.counters["threads"] = kThreads;
  });
}

BENCHMARK(BM_Work_WorkerPool)->ArgName("backlog")->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK(BM_Work_QueuePool)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK(BM_WorkBusyHost_WorkerPool)->ArgName("backlog")->Arg(64)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_WorkBusyHost_QueuePool)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

// ---------------------------------------------------------------------------

template <class Submit>
void latency(benchmark::State& state, std::chrono::microseconds gap, Submit submit) {
  std::vector<double> us;
  for (auto _ : state) {
    std::atomic<std::int64_t> started{0};
    auto t0 = std::chrono::steady_clock::now();
    submit([&started] {
      started.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_release);
      started.notify_one();
    });
    // Block (do not spin): a spinning submitter keeps its vCPU busy, and the woken
    // worker, placed on that vCPU by the scheduler, would wait out a whole slice.
    for (std::int64_t v; (v = started.load(std::memory_order_acquire)) == 0;) started.wait(v);
    us.push_back(double(started.load() - t0.time_since_epoch().count()) / 1000.0);
    state.PauseTiming();
    std::this_thread::sleep_for(gap);
    state.ResumeTiming();
  }
  std::sort(us.begin(), us.end());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[us.size() * 99 / 100];
}

void BM_Latency_WorkerPool(benchmark::State& state) {
  cistern::WorkerPool pool({.capacity = kThreads});
  latency(state, std::chrono::microseconds(state.range(0)), [&](auto f) { pool.submit(std::move(f)); });
}
void BM_Latency_QueuePool(benchmark::State& state) {
  QueuePool pool(kThreads);
  latency(state, std::chrono::microseconds(state.range(0)), [&](auto f) { pool.submit(std::move(f)); });
}

BENCHMARK(BM_Latency_WorkerPool)->ArgName("gap_us")->Arg(200)->Arg(20000)->Iterations(400)->UseRealTime();
BENCHMARK(BM_Latency_QueuePool)->ArgName("gap_us")->Arg(200)->Arg(20000)->Iterations(400)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
