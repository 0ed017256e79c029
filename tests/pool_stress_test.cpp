// SPDX-License-Identifier: Apache-2.0
// Pool<T> under concurrency: more threads than cores, random mixes, hand-offs,
// threads coming and going, cycles and stats() running all the while. Meant to be
// run under ThreadSanitizer and AddressSanitizer (label "concurrency").
#include "cistern/pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "cistern/metrics.hpp"
#include "test_support.hpp"

using cistern::Pool;
using cistern_test::Lives;

namespace {

constexpr int kThreads = 8;  // this machine has 2 cores: 4x oversubscribed

// An object that proves it was reset: every user stamps it, reset clears it, and
// a get that sees a stamp has seen the previous user's data.
struct Stamped {
  Stamped() { Lives::made.fetch_add(1); }
  ~Stamped() { Lives::destroyed.fetch_add(1); }
  std::uint64_t owner = 0;
  std::uint64_t sequence = 0;
  char payload[48] = {};
  void reset() {
    owner = 0;
    sequence = 0;
    payload[0] = 0;
  }
};

class PoolStress : public ::testing::Test {
 protected:
  void SetUp() override {
    cistern::set_cycle_interval(std::chrono::milliseconds(0));
    Lives::zero();
  }
  void TearDown() override { EXPECT_EQ(Lives::alive(), 0) << "every object made was destroyed"; }
};

int iterations(int full) {
#if CISTERN_TSAN || CISTERN_ASAN
  return full / 4;
#else
  return full;
#endif
}

TEST_F(PoolStress, RandomMixOfGetsAndPutsOnManyThreads) {
  std::atomic<int> stale{0};
  {
    Pool<Stamped> pool({.name = "stress-mix", .magazine_size = 8});
    std::atomic<bool> done{false};
    std::thread observer([&] {  // stats, metrics and cycles while the others work
      while (!done.load()) {
        (void)pool.stats();
        (void)cistern::metrics_text();
        cistern::cycle();
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(static_cast<unsigned>(t) * 7919u + 1);
        std::vector<Stamped*> held;
        const int n = iterations(200000);
        for (int i = 0; i < n; ++i) {
          if (held.empty() || (held.size() < 64 && rng() % 2 == 0)) {
            Stamped* s = pool.acquire();
            if (s->owner != 0 || s->sequence != 0 || s->payload[0] != 0) stale.fetch_add(1);
            s->owner = static_cast<std::uint64_t>(t) + 1;
            s->sequence = static_cast<std::uint64_t>(i) + 1;
            s->payload[0] = 'x';
            held.push_back(s);
          } else {
            std::size_t k = rng() % held.size();
            std::swap(held[k], held.back());
            pool.release(held.back());
            held.pop_back();
          }
        }
        for (Stamped* s : held) pool.release(s);
      });
    }
    for (auto& th : threads) th.join();
    done = true;
    observer.join();
    auto s = pool.stats();
    EXPECT_EQ(s.gets, s.puts);
    EXPECT_EQ(s.hits + s.misses, s.gets);
    EXPECT_EQ(s.cached, static_cast<std::size_t>(Lives::alive()));
  }
  EXPECT_EQ(stale.load(), 0) << "an object was handed out with a previous user's data";
}

// Objects made on producer threads and returned on consumer threads: they travel
// through the depot a magazine at a time. At most kInFlight wait in the queue (with
// no bound, producers that the scheduler favours would make as many objects as
// they queue, and the hit rate would measure the scheduler).
TEST_F(PoolStress, ProducerConsumerHandOff) {
  Pool<Stamped> pool({.magazine_size = 16});
  std::mutex mu;
  std::condition_variable cv, room;
  std::deque<Stamped*> queue;
  constexpr std::size_t kInFlight = 1024;
  const int per_producer = iterations(100000);
  constexpr int kProducers = 4, kConsumers = 4;
  std::atomic<int> producers_left{kProducers};
  std::atomic<long> consumed{0};
  std::atomic<int> stale{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        Stamped* s = pool.acquire();
        if (s->owner != 0) stale.fetch_add(1);
        s->owner = static_cast<std::uint64_t>(p) + 1;
        s->sequence = static_cast<std::uint64_t>(i);
        {
          std::unique_lock lock(mu);
          room.wait(lock, [&] { return queue.size() < kInFlight; });
          queue.push_back(s);
        }
        cv.notify_one();
      }
      if (producers_left.fetch_sub(1) == 1) cv.notify_all();
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      for (;;) {
        Stamped* s;
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return !queue.empty() || producers_left.load() == 0; });
          if (queue.empty()) return;
          s = queue.front();
          queue.pop_front();
        }
        room.notify_one();
        if (s->owner == 0) stale.fetch_add(1);  // the producer's writes must be visible
        pool.release(s);
        consumed.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(consumed.load(), long{kProducers} * per_producer);
  EXPECT_EQ(stale.load(), 0);
  auto s = pool.stats();
  EXPECT_EQ(s.gets, s.puts);
  // Objects cross threads a magazine at a time, so nearly every get is a hit: a
  // miss makes an object, and at most kInFlight plus the caches' are ever needed.
  EXPECT_GT(s.hit_rate(), 0.9) << "misses " << s.misses << " of " << s.gets;
}

// Threads that use a pool briefly and exit, many times, while others keep going.
TEST_F(PoolStress, ThreadsComeAndGo) {
  Pool<Stamped> pool({.magazine_size = 4});
  std::atomic<bool> done{false};
  std::thread steady([&] {
    while (!done.load()) {
      auto a = pool.get();
      auto b = pool.get();
      cistern::cycle();
    }
  });
  for (int wave = 0; wave < iterations(40); ++wave) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        std::vector<Stamped*> held;
        for (int i = 0; i < 50; ++i) held.push_back(pool.acquire());
        for (Stamped* s : held) pool.release(s);
      });
    }
    for (auto& th : threads) th.join();
  }
  done = true;
  steady.join();
  auto s = pool.stats();
  EXPECT_EQ(s.gets, s.puts);
  EXPECT_EQ(s.cached, static_cast<std::size_t>(Lives::alive()));
}

// Pools made and destroyed while other threads hold cached objects of them in
// their magazines (and are busy with other pools).
TEST_F(PoolStress, PoolsDestroyedWhileOtherThreadsCacheForThem) {
  for (int round = 0; round < iterations(100); ++round) {
    auto pool = std::make_unique<Pool<Stamped>>();
    Pool<Stamped> keeper;  // lives through the round, used after `pool` is gone
    std::atomic<int> filled{0};
    std::atomic<bool> destroyed{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        std::vector<Stamped*> held;
        for (int i = 0; i < 10; ++i) held.push_back(pool->acquire());
        for (Stamped* s : held) pool->release(s);
        filled.fetch_add(1);
        while (!destroyed.load()) {
          auto k = keeper.get();  // keeps this thread's table busy meanwhile
        }
      });
    }
    while (filled.load() != 4) std::this_thread::yield();
    pool.reset();
    destroyed = true;
    for (auto& th : threads) th.join();
  }
}

// The classic buffer workload: many short threads, each taking a buffer, writing
// into it and returning it. Objects must be reused across threads.
TEST_F(PoolStress, FiftyThreadsShareBuffers) {
  Pool<std::string> pool({.reset = [](std::string& s) {
    s.clear();
    return true;
  }});
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 50; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < iterations(2000); ++i) {
        auto buf = pool.get();
        if (!buf->empty()) wrong.fetch_add(1);
        buf->append("hello-").append(std::to_string(t)).append("-").append(std::to_string(i));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  auto s = pool.stats();
  EXPECT_LE(s.misses, 50u * 2) << "at most a couple of objects per thread are made";
}

}  // namespace
