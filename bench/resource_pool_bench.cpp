// SPDX-License-Identifier: Apache-2.0
// ResourcePool<T> against a pool written the usual way (mutex + condition
// variable + deque), and the Redis adapter against redis-benchmark.
//
//   BM_Idle_*      acquire + release with an idle resource (1 and 2 threads, each
//                  thread with its own resource: max_size = threads)
//   BM_Contended_* one resource, 2 or 4 threads, each holding it ~1 us; the
//                  figure minus 1 us is the hand-off overhead
//   BM_RedisPing   PING through the pool from 8 threads; the same run also runs
//                  `redis-benchmark -c 8 -t ping` against the same server and
//                  reports its requests/s as a counter
#include <benchmark/benchmark.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cistern/redis.hpp"
#include "cistern/resource_pool.hpp"
#include "../tests/redis_server.hpp"

namespace {

struct alignas(64) Conn {  // one cache line each: no false sharing between threads
  long uses = 0;
};

// The usual hand-written pool.
class MutexPool {
 public:
  explicit MutexPool(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) idle_.push_back(std::make_unique<Conn>());
  }
  std::unique_ptr<Conn> acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty(); });
    auto c = std::move(idle_.front());
    idle_.pop_front();
    return c;
  }
  void release(std::unique_ptr<Conn> c) {
    {
      std::lock_guard lock(mu_);
      idle_.push_back(std::move(c));
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Conn>> idle_;
};

cistern::ResourcePool<Conn>& cistern_pool(std::size_t max_size) {
  static cistern::ResourcePool<Conn> one({.create = [] { return std::make_unique<Conn>(); }, .max_size = 1,
                                          .acquire_timeout = std::chrono::milliseconds(60000)});
  static cistern::ResourcePool<Conn> two({.create = [] { return std::make_unique<Conn>(); }, .max_size = 2,
                                          .acquire_timeout = std::chrono::milliseconds(60000)});
  return max_size == 1 ? one : two;
}

MutexPool& mutex_pool(std::size_t n) {
  static MutexPool one(1), two(2);
  return n == 1 ? one : two;
}

inline void hold_for_1us() {
  auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(1);
  while (std::chrono::steady_clock::now() < until) {
  }
}

void BM_Idle_Cistern(benchmark::State& state) {
  auto& pool = cistern_pool(static_cast<std::size_t>(state.threads()));
  for (auto _ : state) {
    auto c = pool.acquire();
    c->uses++;
  }
}
void BM_Idle_MutexCondvar(benchmark::State& state) {
  auto& pool = mutex_pool(static_cast<std::size_t>(state.threads()));
  for (auto _ : state) {
    auto c = pool.acquire();
    c->uses++;
    pool.release(std::move(c));
  }
}
void BM_Contended_Cistern(benchmark::State& state) {
  auto& pool = cistern_pool(1);
  for (auto _ : state) {
    auto c = pool.acquire();
    hold_for_1us();
  }
}
void BM_Contended_MutexCondvar(benchmark::State& state) {
  auto& pool = mutex_pool(1);
  for (auto _ : state) {
    auto c = pool.acquire();
    hold_for_1us();
    pool.release(std::move(c));
  }
}

BENCHMARK(BM_Idle_Cistern)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(BM_Idle_MutexCondvar)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(BM_Contended_Cistern)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();
BENCHMARK(BM_Contended_MutexCondvar)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

// ---------------------------------------------------------------------------

cistern_test::RedisServer& redis_server() {
  static cistern_test::RedisServer server;
  return server;
}

double redis_benchmark_ping(int port) {
  std::string cmd = "redis-benchmark -h 127.0.0.1 -p " + std::to_string(port) +
                    " -c 8 -n 200000 -t ping -q 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return 0;
  char line[512];
  double mbulk = 0;
  while (std::fgets(line, sizeof line, p) != nullptr) {
    // "PING_MBULK: 75000.00 requests per second, p50=..." (the RESP form we send)
    std::string s(line);
    auto cr = s.rfind('\r');
    if (cr != std::string::npos) s = s.substr(cr + 1);
    if (s.rfind("PING_MBULK:", 0) == 0) mbulk = std::atof(s.c_str() + 11);
  }
  pclose(p);
  return mbulk;
}

void BM_RedisPing(benchmark::State& state) {
  static auto pool = cistern::make_redis_pool(redis_server().options(), {.max_size = 8});
  for (auto _ : state) {
    auto c = pool.acquire();
    benchmark::DoNotOptimize(c->command({"PING"}));
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) state.counters["redis_benchmark_c8_rps"] = redis_benchmark_ping(redis_server().port());
}

BENCHMARK(BM_RedisPing)->Threads(8)->UseRealTime()->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
