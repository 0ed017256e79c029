// SPDX-License-Identifier: Apache-2.0
// The classic buffer workload: 50 threads x 20000 iterations, each taking a 1 KiB
// buffer, writing "hello-<thread>-<i>" into it and giving it back. Reports wall
// time and heap allocations per operation (counted by cistern::alloc_counter,
// which replaces operator new in this binary only).
//
//   no_buffer   the floor: threads and formatting, no buffer at all
//   new_delete  a std::string with 1 KiB reserved per operation
//   cistern     Pool<std::string> with 1 KiB buffers
#include <benchmark/benchmark.h>

#include <charconv>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "cistern/pool.hpp"
#include "cistern/testing/alloc_counter.hpp"

namespace {

constexpr int kThreads = 50;
constexpr int kIterations = 20000;

// Formats "hello-<t>-<i>" into out; returns the length.
inline std::size_t format(char* out, int t, int i) {
  std::memcpy(out, "hello-", 6);
  char* p = std::to_chars(out + 6, out + 32, t).ptr;
  *p++ = '-';
  p = std::to_chars(p, out + 48, i).ptr;
  return static_cast<std::size_t>(p - out);
}

template <class Body>
void run(benchmark::State& state, Body body) {
  auto before = cistern::testing::total_alloc_counts();
  for (auto _ : state) {
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([t, &body] {
        for (int i = 0; i < kIterations; ++i) body(t, i);
      });
    for (auto& th : threads) th.join();
  }
  auto made = cistern::testing::total_alloc_counts() - before;
  double ops = double(state.iterations()) * kThreads * kIterations;
  state.counters["allocs_per_100_ops"] = double(made.allocations) * 100.0 / ops;
  state.counters["bytes_per_op"] = double(made.bytes) / ops;
  state.SetItemsProcessed(static_cast<std::int64_t>(ops));
}

void BM_Buffers_NoBuffer(benchmark::State& state) {
  run(state, [](int t, int i) {
    char scratch[64];
    std::size_t n = format(scratch, t, i);
    benchmark::DoNotOptimize(scratch);
    benchmark::DoNotOptimize(n);
  });
}

void BM_Buffers_NewDelete(benchmark::State& state) {
  run(state, [](int t, int i) {
    char scratch[64];
    std::size_t n = format(scratch, t, i);
    std::string buffer;
    buffer.reserve(1024);
    buffer.append(scratch, n);
    benchmark::DoNotOptimize(buffer.data());
  });
}

void BM_Buffers_Cistern(benchmark::State& state) {
  static cistern::Pool<std::string> pool({.make =
                                              [] {
                                                auto s = std::make_unique<std::string>();
                                                s->reserve(1024);
                                                return s;
                                              },
                                          .reset =
                                              [](std::string& s) {
                                                s.clear();
                                                return true;
                                              }});
  run(state, [](int t, int i) {
    char scratch[64];
    std::size_t n = format(scratch, t, i);
    auto buffer = pool.get();
    buffer->append(scratch, n);
    benchmark::DoNotOptimize(buffer->data());
  });
}

BENCHMARK(BM_Buffers_NoBuffer)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK(BM_Buffers_NewDelete)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK(BM_Buffers_Cistern)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
