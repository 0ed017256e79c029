// SPDX-License-Identifier: Apache-2.0
// Prints a short comparison of Pool<T> against new/delete: time per get+put of a
// 256-byte object on one thread, and the 50-thread buffer workload (each thread
// takes a 1 KiB buffer, writes "hello-<thread>-<i>", returns it) with its heap
// allocations. For careful figures use the benchmarks (make bench).
#include <cistern/cistern.hpp>
#include <cistern/testing/alloc_counter.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Object256 {
  char bytes[256];
};

template <class F>
double best_ns_per_op(F&& f, int ops) {
  double best = 1e30;
  for (int rep = 0; rep < 7; ++rep) {
    auto t0 = Clock::now();
    f(ops);
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / ops;
    best = std::min(best, ns);
  }
  return best;
}

struct BufferRun {
  double ms;
  unsigned long long allocations;
};

template <class Body>
BufferRun buffer_workload(Body body) {
  auto a0 = cistern::testing::total_alloc_counts();
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 50; ++t)
    threads.emplace_back([t, &body] {
      for (int i = 0; i < 20000; ++i) body(t, i);
    });
  for (auto& th : threads) th.join();
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  return {ms, (cistern::testing::total_alloc_counts() - a0).allocations};
}

}  // namespace

int main() {
  cistern::Pool<Object256> pool({.reset = cistern::keep_as_is});  // raw bytes: nothing to wipe
  double pool_ns = best_ns_per_op(
      [&](int n) {
        for (int i = 0; i < n; ++i) {
          Object256* p = pool.acquire();
          p->bytes[0] = static_cast<char>(i);
          asm volatile("" : : "r"(p) : "memory");
          pool.release(p);
        }
      },
      2'000'000);
  double new_ns = best_ns_per_op(
      [](int n) {
        for (int i = 0; i < n; ++i) {
          auto* p = new Object256;
          p->bytes[0] = static_cast<char>(i);
          asm volatile("" : : "r"(p) : "memory");
          delete p;
        }
      },
      2'000'000);

  cistern::Pool<std::string> buffers({.make = [] {
                                        auto s = std::make_unique<std::string>();
                                        s->reserve(1024);
                                        return s;
                                      },
                                      .reset = [](std::string& s) {
                                        s.clear();
                                        return true;
                                      }});
  auto write = [](std::string& s, int t, int i) {
    s.append("hello-").append(std::to_string(t)).append("-").append(std::to_string(i));
  };
  BufferRun with_new = buffer_workload([&](int t, int i) {
    std::string s;
    s.reserve(1024);
    write(s, t, i);
    asm volatile("" : : "r"(s.data()) : "memory");
  });
  BufferRun with_pool = buffer_workload([&](int t, int i) {
    auto s = buffers.get();
    write(*s, t, i);
    asm volatile("" : : "r"(s->data()) : "memory");
  });

  std::printf("cistern Pool<T> vs new/delete (best of 7; for careful figures run `make bench`)\n\n");
  std::printf("| workload                                   | new/delete   | Pool<T>      | ratio |\n");
  std::printf("|--------------------------------------------|--------------|--------------|-------|\n");
  std::printf("| get+put, 256 B object, 1 thread            | %7.2f ns   | %7.2f ns   | %4.1fx |\n", new_ns,
              pool_ns, new_ns / pool_ns);
  std::printf("| 50 threads x 20000 1 KiB buffers, wall     | %7.1f ms   | %7.1f ms   | %4.1fx |\n", with_new.ms,
              with_pool.ms, with_new.ms / with_pool.ms);
  std::printf("| ... heap allocations                       | %10llu   | %10llu   |       |\n",
              with_new.allocations, with_pool.allocations);
  auto s = buffers.stats();
  std::printf("\nbuffer pool: %llu gets, %llu made, hit rate %.4f\n", static_cast<unsigned long long>(s.gets),
              static_cast<unsigned long long>(s.misses), s.hit_rate());
}
