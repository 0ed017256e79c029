// SPDX-License-Identifier: Apache-2.0
// BufferPool, PoolResource and ByteRing against their peers, same run.
//
//   BM_Small_*       get a buffer, append 100 bytes, return it (1 and 2 threads)
//   BM_Amplify_*     2 threads, 1e6 operations, up to 64 buffers held at once, 1%
//                    grown to 1 MiB and the rest to 128 B; reports wall time and the
//                    bytes the pool still holds afterwards (glibc's in-use bytes)
//   BM_Pmr{Vector,Strings}_*   std::pmr workloads on each memory resource
//   BM_Ring_*        bytes per second through a ring, 64 B and 16 KiB messages
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <array>
#include <atomic>
#include <cstring>
#include <memory_resource>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cistern/buffer.hpp"
#include "cistern/memory_resource.hpp"
#include "cistern/pool.hpp"
#include "cistern/ring.hpp"
#include "mimalloc_peer.hpp"

namespace {

const std::string kPayload(100, 'p');

// ---------------------------------------------------------------------------
// Small buffer get + append + return.

void BM_Small_BufferPool(benchmark::State& state) {
  static cistern::BufferPool pool;
  for (auto _ : state) {
    cistern::Buffer b = pool.get();
    b.append(kPayload);
    benchmark::DoNotOptimize(b.data());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Small_PoolOfString(benchmark::State& state) {
  static cistern::Pool<std::string> pool({.reset = [](std::string& s) {
    s.clear();
    return true;
  }});
  for (auto _ : state) {
    auto b = pool.get();
    b->append(kPayload);
    benchmark::DoNotOptimize(b->data());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Small_NewChar(benchmark::State& state) {
  for (auto _ : state) {
    char* b = new char[256];
    std::memcpy(b, kPayload.data(), kPayload.size());
    benchmark::DoNotOptimize(b);
    delete[] b;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_GetReturn_BufferPool(benchmark::State& state) {
  static cistern::BufferPool pool;
  for (auto _ : state) {
    cistern::Buffer b = pool.get();
    benchmark::DoNotOptimize(b.data());
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_GetReturn_BufferPool)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(BM_Small_BufferPool)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(BM_Small_PoolOfString)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(BM_Small_NewChar)->ThreadRange(1, 2)->UseRealTime();

// ---------------------------------------------------------------------------
// Memory amplification.

constexpr int kAmplifyOps = 1'000'000;  // in total, over 2 threads
constexpr int kHeldPerThread = 32;      // 64 held at once
constexpr std::size_t kBig = 1 << 20, kSmall = 128;

template <class Get, class Write>
void amplify(Get get, Write write) {
  auto worker = [&](unsigned seed) {
    std::mt19937 rng(seed);
    using Held = decltype(get());
    std::vector<Held> held(kHeldPerThread);
    for (int i = 0; i < kAmplifyOps / 2; ++i) {
      Held& slot = held[static_cast<std::size_t>(i % kHeldPerThread)];
      slot = get();  // the previous buffer in this slot goes back
      write(slot, rng() % 100 == 0 ? kBig : kSmall);
    }
  };
  std::thread a(worker, 1u), b(worker, 2u);
  a.join();
  b.join();
}

// Bytes glibc has handed out: from its arenas plus its direct mmaps (large blocks).
std::size_t heap_in_use() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

void report_retained(benchmark::State& state, std::size_t before) {
  std::size_t after = heap_in_use();
  state.counters["retained_MiB"] = double(after > before ? after - before : 0) / double(1 << 20);
  state.counters["floor_KiB"] = double(2 * kHeldPerThread * kSmall) / 1024.0;
}

void BM_Amplify_BufferPool(benchmark::State& state) {
  for (auto _ : state) {
    std::size_t before = heap_in_use();
    cistern::BufferPool pool;
    amplify([&] { return pool.get(); }, [](cistern::Buffer& b, std::size_t n) { b.resize(n); });
    state.PauseTiming();
    report_retained(state, before);
    state.ResumeTiming();
  }
}

void BM_Amplify_PoolOfString(benchmark::State& state) {
  for (auto _ : state) {
    std::size_t before = heap_in_use();
    cistern::Pool<std::string> pool({.reset = [](std::string& s) {
      s.clear();
      return true;
    }});
    amplify([&] { return pool.get(); }, [](cistern::Lease<std::string>& s, std::size_t n) { s->resize(n); });
    state.PauseTiming();
    report_retained(state, before);
    state.ResumeTiming();
  }
}

BENCHMARK(BM_Amplify_BufferPool)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_Amplify_PoolOfString)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

// ---------------------------------------------------------------------------
// std::pmr resources.

class MimallocResource final : public std::pmr::memory_resource {
  const bench::MimallocApi& mi = bench::MimallocApi::get();
  void* do_allocate(std::size_t n, std::size_t a) override { return mi.malloc_aligned(n, a); }
  void do_deallocate(void* p, std::size_t, std::size_t) override { mi.free(p); }
  bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override { return this == &o; }
};

std::pmr::memory_resource* resource(int which) {
  static cistern::PoolResource cistern_pool;
  static std::pmr::synchronized_pool_resource sync_pool;
  static MimallocResource mimalloc;
  thread_local std::pmr::unsynchronized_pool_resource unsync_pool;  // one per thread: single-threaded by design
  switch (which) {
    case 0: return &cistern_pool;
    case 1: return &sync_pool;
    case 2: return &unsync_pool;
    case 3: return std::pmr::new_delete_resource();
    default: return &mimalloc;
  }
}

void BM_PmrVector(benchmark::State& state) {
  std::pmr::memory_resource* r = resource(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    std::pmr::vector<int> v(r);
    for (int i = 0; i < 256; ++i) v.push_back(i);  // grows 1,2,4,...,256 ints: 9 allocations
    benchmark::DoNotOptimize(v.data());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_PmrStrings(benchmark::State& state) {
  std::pmr::memory_resource* r = resource(static_cast<int>(state.range(0)));
  static const char* text = "a small string that does not fit the SSO buffer, about sixty chars";
  for (auto _ : state) {
    std::array<std::pmr::string, 8> strings{std::pmr::string(r), std::pmr::string(r), std::pmr::string(r),
                                            std::pmr::string(r), std::pmr::string(r), std::pmr::string(r),
                                            std::pmr::string(r), std::pmr::string(r)};
    for (std::size_t i = 0; i < strings.size(); ++i) strings[i].assign(text, 20 + i * 5);
    benchmark::DoNotOptimize(strings.data());
  }
  state.SetItemsProcessed(state.iterations() * 8);
}

void pmr_args(benchmark::internal::Benchmark* b) {
  b->ArgName("resource");
  for (int r : {0, 1, 3, 4}) b->Arg(r);
}

BENCHMARK(BM_PmrVector)->Apply(pmr_args)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(BM_PmrVector)->Arg(2)->ArgName("resource")->UseRealTime();  // unsynchronized: 1 thread
BENCHMARK(BM_PmrStrings)->Apply(pmr_args)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(BM_PmrStrings)->Arg(2)->ArgName("resource")->UseRealTime();

// ---------------------------------------------------------------------------
// Rings: ByteRing against a plain SPSC byte ring whose consumer copies a wrapped
// message into a scratch buffer to see it contiguously.

class PlainRing {
 public:
  explicit PlainRing(std::size_t capacity) : data_(capacity), mask_(capacity - 1) {}
  std::size_t free_space() const { return data_.size() - (tail_.load(std::memory_order_relaxed) - head_.load(std::memory_order_acquire)); }
  std::size_t readable() const { return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_relaxed); }
  void write(const char* src, std::size_t n) {  // REQUIRES n <= free_space()
    std::size_t t = tail_.load(std::memory_order_relaxed), at = t & mask_, first = std::min(n, data_.size() - at);
    std::memcpy(&data_[at], src, first);
    std::memcpy(&data_[0], src + first, n - first);
    tail_.store(t + n, std::memory_order_release);
  }
  // A contiguous view of the next n bytes: in place, or copied into scratch.
  const char* peek(std::size_t n, char* scratch) const {
    std::size_t at = head_.load(std::memory_order_relaxed) & mask_, first = data_.size() - at;
    if (n <= first) return &data_[at];
    std::memcpy(scratch, &data_[at], first);
    std::memcpy(scratch + first, &data_[0], n - first);
    return scratch;
  }
  void consume(std::size_t n) { head_.store(head_.load(std::memory_order_relaxed) + n, std::memory_order_release); }

 private:
  std::vector<char> data_;
  std::size_t mask_;
  alignas(64) std::atomic<std::size_t> head_{0};
  alignas(64) std::atomic<std::size_t> tail_{0};
};

// The consumer "parses" each message: reads its first and last 8 bytes.
inline std::uint64_t parse(const char* m, std::size_t n) {
  std::uint64_t a, b;
  std::memcpy(&a, m, 8);
  std::memcpy(&b, m + n - 8, 8);
  return a ^ b;
}

void BM_Ring_ByteRing(benchmark::State& state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  cistern::ByteRing ring(1 << 20);
  std::vector<char> message(n, 'm');
  std::atomic<bool> stop{false};
  std::thread consumer([&] {
    std::uint64_t sum = 0;
    for (;;) {
      auto r = ring.read_span();
      if (r.size() >= n) {
        sum += parse(reinterpret_cast<const char*>(r.data()), n);
        ring.consume(n);
      } else if (stop.load(std::memory_order_acquire) && r.size() < n) {
        break;
      }
    }
    benchmark::DoNotOptimize(sum);
  });
  for (auto _ : state) {
    std::span<std::byte> w;
    while ((w = ring.write_span()).size() < n) {
    }
    std::memcpy(w.data(), message.data(), n);
    ring.commit(n);
  }
  stop.store(true, std::memory_order_release);
  consumer.join();
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

void BM_Ring_PlainCopyOnWrap(benchmark::State& state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  PlainRing ring(1 << 20);
  std::vector<char> message(n, 'm');
  std::atomic<bool> stop{false};
  std::thread consumer([&] {
    std::vector<char> scratch(n);
    std::uint64_t sum = 0;
    for (;;) {
      if (ring.readable() >= n) {
        sum += parse(ring.peek(n, scratch.data()), n);
        ring.consume(n);
      } else if (stop.load(std::memory_order_acquire) && ring.readable() < n) {
        break;
      }
    }
    benchmark::DoNotOptimize(sum);
  });
  for (auto _ : state) {
    while (ring.free_space() < n) {
    }
    ring.write(message.data(), n);
  }
  stop.store(true, std::memory_order_release);
  consumer.join();
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

BENCHMARK(BM_Ring_ByteRing)->Arg(64)->Arg(16384)->UseRealTime();
BENCHMARK(BM_Ring_PlainCopyOnWrap)->Arg(64)->Arg(16384)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
