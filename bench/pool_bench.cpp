// SPDX-License-Identifier: Apache-2.0
// Pool<T> against its peers, every contender in this one binary and run.
//
//   BM_GetPut       get + put of one object per iteration (1 and 2 threads)
//   BM_Floor        the floor of any per-thread cache: push + pop on a
//                   thread-local array (1 and 2 threads)
//   BM_HandOff      a producer thread gets, writes one byte and passes the object
//                   through an SPSC ring; a consumer thread puts it back
//   BM_RingOnly     the same hand-off with no allocation (the ring's own cost)
//   BM_Batch        1000 gets, then 1000 puts (time per object)
//
// Object sizes: 64, 256, 1024, 4096 bytes. See docs/PERF.md for the command.
#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>
#include <vector>

#include "peers.hpp"
#include "spsc_ring.hpp"

namespace {

using namespace bench;

template <class C>
void BM_GetPut(benchmark::State& state) {
  for (auto _ : state) {
    auto* p = C::get();
    p->bytes[0] = 1;
    benchmark::DoNotOptimize(p);
    C::put(p);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Floor(benchmark::State& state) {
  thread_local void* slots[128];
  thread_local unsigned count = 64;
  static char object[64];
  for (unsigned i = 0; i < count; ++i) slots[i] = object;
  for (auto _ : state) {
    void* p = slots[--count];
    benchmark::DoNotOptimize(p);
    slots[count++] = p;
  }
  state.SetItemsProcessed(state.iterations());
}

template <class C>
void BM_Batch(benchmark::State& state) {
  using T = std::remove_pointer_t<decltype(C::get())>;
  std::vector<T*> held(1000);
  for (auto _ : state) {
    for (auto& p : held) {
      p = C::get();
      p->bytes[0] = 1;
    }
    benchmark::DoNotOptimize(held.data());
    for (auto* p : held) C::put(p);
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}

// Producer = the benchmark thread; consumer = a thread of our own.
template <class C>
void BM_HandOff(benchmark::State& state) {
  using T = std::remove_pointer_t<decltype(C::get())>;
  SpscRing<T*> ring;
  std::atomic<bool> stop{false};
  std::thread consumer([&] {
    T* p;
    for (;;) {
      if (ring.pop(p)) {
        C::put(p);
      } else if (stop.load(std::memory_order_acquire)) {
        while (ring.pop(p)) C::put(p);
        return;
      }
    }
  });
  for (auto _ : state) {
    T* p = C::get();
    p->bytes[0] = 1;
    while (!ring.push(p)) {
    }
  }
  stop.store(true, std::memory_order_release);
  consumer.join();
  state.SetItemsProcessed(state.iterations());
}

// The ring's own cost: the same hand-off of distinct objects (written once each,
// like the pool's), taken from a fixed array instead of an allocator.
template <std::size_t N>
void BM_RingOnly(benchmark::State& state) {
  static std::vector<Obj<N>> objects(4096);
  std::size_t next = 0;
  SpscRing<Obj<N>*> ring;
  std::atomic<bool> stop{false};
  std::thread consumer([&] {
    Obj<N>* p;
    for (;;) {
      if (ring.pop(p)) {
        benchmark::DoNotOptimize(p);
      } else if (stop.load(std::memory_order_acquire)) {
        while (ring.pop(p)) {
        }
        return;
      }
    }
  });
  for (auto _ : state) {
    Obj<N>* p = &objects[next++ & 4095];
    p->bytes[0] = 1;
    while (!ring.push(p)) {
    }
  }
  stop.store(true, std::memory_order_release);
  consumer.join();
  state.SetItemsProcessed(state.iterations());
}

#define CISTERN_PEERS_MT(BM, N)                                                        \
  BENCHMARK(BM<CisternPool<N>>)->ThreadRange(1, 2)->UseRealTime();                      \
  BENCHMARK(BM<NewDelete<N>>)->ThreadRange(1, 2)->UseRealTime();                        \
  BENCHMARK(BM<Mimalloc<N>>)->ThreadRange(1, 2)->UseRealTime();                         \
  BENCHMARK(BM<BoostObjectPool<N>>)->UseRealTime();                                     \
  BENCHMARK(BM<SyncPmr<N>>)->ThreadRange(1, 2)->UseRealTime();                          \
  BENCHMARK(BM<MutexFreeList<N>>)->ThreadRange(1, 2)->UseRealTime();                    \
  BENCHMARK(BM<MoodycamelFreeList<N>>)->ThreadRange(1, 2)->UseRealTime();

#define CISTERN_PEERS_1T(BM, N)                      \
  BENCHMARK(BM<CisternPool<N>>)->UseRealTime();        \
  BENCHMARK(BM<NewDelete<N>>)->UseRealTime();          \
  BENCHMARK(BM<Mimalloc<N>>)->UseRealTime();           \
  BENCHMARK(BM<BoostObjectPool<N>>)->UseRealTime();    \
  BENCHMARK(BM<SyncPmr<N>>)->UseRealTime();            \
  BENCHMARK(BM<MutexFreeList<N>>)->UseRealTime();      \
  BENCHMARK(BM<MoodycamelFreeList<N>>)->UseRealTime();

#define CISTERN_PEERS_HANDOFF(N)                         \
  BENCHMARK(BM_RingOnly<N>)->UseRealTime();               \
  BENCHMARK(BM_HandOff<CisternPool<N>>)->UseRealTime();     \
  BENCHMARK(BM_HandOff<NewDelete<N>>)->UseRealTime();       \
  BENCHMARK(BM_HandOff<Mimalloc<N>>)->UseRealTime();        \
  BENCHMARK(BM_HandOff<SyncPmr<N>>)->UseRealTime();         \
  BENCHMARK(BM_HandOff<MutexFreeList<N>>)->UseRealTime();   \
  BENCHMARK(BM_HandOff<MoodycamelFreeList<N>>)->UseRealTime();

BENCHMARK(BM_Floor)->ThreadRange(1, 2)->UseRealTime();
CISTERN_PEERS_MT(BM_GetPut, 64)
CISTERN_PEERS_MT(BM_GetPut, 256)
CISTERN_PEERS_MT(BM_GetPut, 1024)
CISTERN_PEERS_MT(BM_GetPut, 4096)
CISTERN_PEERS_HANDOFF(64)
CISTERN_PEERS_HANDOFF(256)
CISTERN_PEERS_HANDOFF(1024)
CISTERN_PEERS_HANDOFF(4096)
CISTERN_PEERS_1T(BM_Batch, 64)
CISTERN_PEERS_1T(BM_Batch, 256)
CISTERN_PEERS_1T(BM_Batch, 1024)
CISTERN_PEERS_1T(BM_Batch, 4096)

}  // namespace

BENCHMARK_MAIN();
