// SPDX-License-Identifier: Apache-2.0
// SharedPool<T> and Snapshot<T> against their usual replacements, same run.
//
//   BM_Shared_*     get an object, make one copy, drop both
//   BM_Load_*       read one field of the current configuration, on 1 and 2 reader
//                   threads, while a writer thread stores a new one every 1 ms
//                   (the writer runs for the whole program, for every contender)
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "cistern/shared.hpp"
#include "cistern/snapshot.hpp"

namespace {

struct Message {
  char bytes[64];
};

void BM_Shared_SharedPool(benchmark::State& state) {
  static cistern::SharedPool<Message> pool({.reset = cistern::keep_as_is});  // raw bytes, as the peers
  for (auto _ : state) {
    cistern::Shared<Message> a = pool.get();
    a->bytes[0] = 1;
    cistern::Shared<Message> b = a;
    benchmark::DoNotOptimize(b.get());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Shared_MakeShared(benchmark::State& state) {
  for (auto _ : state) {
    auto a = std::make_shared<Message>();
    a->bytes[0] = 1;
    auto b = a;
    benchmark::DoNotOptimize(b.get());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Shared_SharedPtrNew(benchmark::State& state) {
  for (auto _ : state) {
    std::shared_ptr<Message> a(new Message);
    a->bytes[0] = 1;
    auto b = a;
    benchmark::DoNotOptimize(b.get());
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_Shared_SharedPool)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(BM_Shared_MakeShared)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(BM_Shared_SharedPtrNew)->ThreadRange(1, 2)->UseRealTime();

// ---------------------------------------------------------------------------

struct Config {
  long limit = 0;
  char rest[120] = {};
};

cistern::Snapshot<Config> snapshot{Config{}};
std::atomic<std::shared_ptr<const Config>> atomic_ptr{std::make_shared<const Config>()};
std::shared_mutex rw_mutex;
std::shared_ptr<const Config> rw_ptr = std::make_shared<const Config>();
std::mutex plain_mutex;
std::shared_ptr<const Config> plain_ptr = std::make_shared<const Config>();

// Stores a new configuration into every contender every millisecond.
struct Writer {
  std::atomic<bool> stop{false};
  std::thread thread{[this] {
    long n = 0;
    while (!stop.load()) {
      ++n;
      Config c;
      c.limit = n;
      snapshot.store(c);
      atomic_ptr.store(std::make_shared<const Config>(c));
      {
        std::unique_lock lock(rw_mutex);
        rw_ptr = std::make_shared<const Config>(c);
      }
      {
        std::lock_guard lock(plain_mutex);
        plain_ptr = std::make_shared<const Config>(c);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }};
  ~Writer() {
    stop = true;
    thread.join();
  }
};

void BM_Load_Snapshot(benchmark::State& state) {
  long sum = 0;
  for (auto _ : state) {
    auto r = snapshot.load();
    sum += r->limit;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Load_AtomicSharedPtr(benchmark::State& state) {
  long sum = 0;
  for (auto _ : state) {
    std::shared_ptr<const Config> p = atomic_ptr.load();
    sum += p->limit;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Load_SharedMutex(benchmark::State& state) {
  long sum = 0;
  for (auto _ : state) {
    std::shared_ptr<const Config> p;
    {
      std::shared_lock lock(rw_mutex);
      p = rw_ptr;
    }
    sum += p->limit;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Load_Mutex(benchmark::State& state) {
  long sum = 0;
  for (auto _ : state) {
    std::shared_ptr<const Config> p;
    {
      std::lock_guard lock(plain_mutex);
      p = plain_ptr;
    }
    sum += p->limit;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_Load_Snapshot)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(BM_Load_AtomicSharedPtr)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(BM_Load_SharedMutex)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(BM_Load_Mutex)->ThreadRange(1, 2)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("snapshot_reader_fence",
                              cistern::detail::hazard::g_asymmetric ? "compiler-only (membarrier)" : "seq_cst");
  Writer writer;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
