// SPDX-License-Identifier: Apache-2.0
// Pool<T> memory held by many threads: what stays cached, and the process's RSS,
// with 16, 64 and 256 threads that each use 64 objects of 1 KiB, while they are
// busy and after they went idle (alive, blocked) and three cycles ran.
//
// Counters (one iteration per case; run with --benchmark_repetitions for medians):
//   cached_busy        objects cached right after every thread returned its 64
//   cached_idle_3cyc   objects cached after three cycle() calls 10 ms apart
//   rss_busy_MiB / rss_idle_3cyc_MiB   the process's resident set at those points
//   rss_idle_trim_MiB  the same after malloc_trim(0): what the pool freed, minus
//                      what glibc's arenas keep anyway
//   hit_rate_rewake    hit rate of the threads' next 4 rounds once they wake up
//                      (after a first round that refills their magazines)
#include <benchmark/benchmark.h>

#include <malloc.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cistern/pool.hpp"

namespace {

struct KiB {
  char bytes[1024];
  void reset() { bytes[0] = 0; }
};

double rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

// Threads wait here between phases; the main thread moves them on.
class Phase {
 public:
  void arrive_and_wait(int my_phase) {
    std::unique_lock lock(mu_);
    ++arrived_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return phase_ > my_phase; });
  }
  void wait_all(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return arrived_ >= n; });
    arrived_ = 0;
  }
  void next() {
    std::lock_guard lock(mu_);
    ++phase_;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0, phase_ = 0;
};

void BM_IdleThreads(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  constexpr int kPerThread = 64;
  cistern::set_cycle_interval(std::chrono::milliseconds(0));
  for (auto _ : state) {
    cistern::Pool<KiB> pool;
    Phase phase;
    std::vector<std::thread> ts;
    auto round = [&] {
      std::vector<KiB*> held;
      held.reserve(kPerThread);
      for (int i = 0; i < kPerThread; ++i) {
        held.push_back(pool.acquire());
        held.back()->bytes[0] = 1;
      }
      for (KiB* p : held) pool.release(p);
    };
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&] {
        round();
        phase.arrive_and_wait(0);  // idle while cycles run
        round();                   // refill
        phase.arrive_and_wait(1);
        for (int r = 0; r < 4; ++r) round();
        phase.arrive_and_wait(2);
      });
    }
    phase.wait_all(threads);
    state.counters["cached_busy"] = double(pool.stats().cached);
    state.counters["rss_busy_MiB"] = rss_mib();
    for (int i = 0; i < 3; ++i) {
      cistern::cycle();
      if (i < 2) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    state.counters["cached_idle_3cyc"] = double(pool.stats().cached);
    state.counters["rss_idle_3cyc_MiB"] = rss_mib();
    malloc_trim(0);  // glibc keeps freed chunks in its arenas until asked
    state.counters["rss_idle_trim_MiB"] = rss_mib();
    phase.next();
    phase.wait_all(threads);
    cistern::PoolStats before = pool.stats();
    phase.next();
    phase.wait_all(threads);
    cistern::PoolStats after = pool.stats();
    state.counters["hit_rate_rewake"] = double(after.hits - before.hits) / double(after.gets - before.gets);
    phase.next();
    for (auto& t : ts) t.join();
  }
}
BENCHMARK(BM_IdleThreads)->Arg(16)->Arg(64)->Arg(256)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
