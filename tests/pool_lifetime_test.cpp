// SPDX-License-Identifier: Apache-2.0
// Pool<T> safe by default and bounded: the reset policy, idle threads' caches
// taken back by cycles, the max_cached / max_total_bytes ceilings, prefill.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cistern/buffer.hpp"
#include "cistern/pool.hpp"
#include "cistern/shared.hpp"
#include "test_support.hpp"

using cistern::Pool;
using cistern_test::Counted;
using cistern_test::Lives;

namespace {

// Sanitizer builds run the big cases at a smaller scale (same shape).
constexpr int scaled(int n) { return (CISTERN_TSAN || CISTERN_ASAN) ? std::max(1, n / 4) : n; }

class PoolLifetimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cistern::set_cycle_interval(std::chrono::milliseconds(0));  // cycles only when a test asks
    Lives::zero();
  }
};

// Three cycles 10 ms apart, as the contract states it.
void three_cycles() {
  for (int i = 0; i < 3; ++i) {
    cistern::cycle();
    if (i < 2) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// A gate that holds threads until opened (bounded: a test never waits forever).
class Gate {
 public:
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(60), [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Counts arrivals; wait_for(n) returns once n arrived (or after 60 s).
class Arrivals {
 public:
  void arrive() {
    std::lock_guard lock(mu_);
    ++n_;
    cv_.notify_all();
  }
  bool wait_for(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return n_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

// ---------------------------------------------------------------------------
// Reset policy

template <class T, class Fill>
void expect_returned_empty(Fill fill) {
  Pool<T> pool;
  T* first;
  {
    auto lease = pool.get();
    fill(*lease);
    first = lease.get();
  }
  auto again = pool.get();
  ASSERT_EQ(again.get(), first);  // the same object came back...
  EXPECT_TRUE(again->empty());     // ...and nothing of its last user is in it
}

TEST_F(PoolLifetimeTest, StandardContainersComeBackEmptyByDefault) {
  expect_returned_empty<std::string>([](std::string& s) { s = "patient 0042, diagnosis: confidential"; });
  expect_returned_empty<std::vector<int>>([](std::vector<int>& v) { v.assign(1000, 7); });
  expect_returned_empty<std::map<int, int>>([](std::map<int, int>& m) {
    for (int i = 0; i < 100; ++i) m[i] = i;
  });
}

TEST_F(PoolLifetimeTest, ClearedStringsKeepTheirCapacity) {
  Pool<std::string> pool;
  std::size_t capacity;
  {
    auto s = pool.get();
    s->assign(4000, 'x');
    capacity = s->capacity();
  }
  auto s = pool.get();
  EXPECT_TRUE(s->empty());
  EXPECT_EQ(s->capacity(), capacity);  // the point of pooling it
}

struct WithBoth {
  int value = 0;
  int resets = 0, clears = 0;
  void reset() {
    value = 0;
    ++resets;
  }
  void clear() { ++clears; }
};

TEST_F(PoolLifetimeTest, ResetIsPreferredToClear) {
  Pool<WithBoth> pool;
  { pool.get()->value = 5; }
  auto again = pool.get();
  EXPECT_EQ(again->value, 0);
  EXPECT_EQ(again->resets, 1);
  EXPECT_EQ(again->clears, 0);
}

struct Plain {
  int field = 0;
};

TEST_F(PoolLifetimeTest, TypeWithoutPolicyNeedsAnExplicitReset) {
  try {
    Pool<Plain> pool(Pool<Plain>::Options{});
    FAIL() << "a pool that cannot reset was made";
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("Options::reset"), std::string::npos) << what;
    EXPECT_NE(what.find("keep_as_is"), std::string::npos) << what;
  }
  Pool<Plain> wiped({.reset = [](Plain& p) {
    p = Plain{};
    return true;
  }});
  { wiped.get()->field = 9; }
  EXPECT_EQ(wiped.get()->field, 0);
}

TEST_F(PoolLifetimeTest, KeepAsIsIsTheExplicitOptOut) {
  Pool<Plain> pool({.reset = cistern::keep_as_is});
  { pool.get()->field = 9; }
  EXPECT_EQ(pool.get()->field, 9);
}

TEST_F(PoolLifetimeTest, SharedPoolFollowsTheSameRule) {
  EXPECT_THROW(cistern::SharedPool<Plain>(Pool<Plain>::Options{}), std::invalid_argument);
  cistern::SharedPool<std::string> strings;
  std::string* first;
  {
    auto s = strings.get();
    *s = "the previous owner's text";
    first = s.get();
  }
  auto s = strings.get();
  ASSERT_EQ(s.get(), first);
  EXPECT_TRUE(s->empty());
  cistern::SharedPool<Plain> kept({.reset = cistern::keep_as_is});
  { kept.get()->field = 3; }
  EXPECT_EQ(kept.get()->field, 3);
}

// A reset() that forgets a field added later: the pattern the guide recommends
// to catch it in a test (fill every field, return, get, compare with a new one).
struct Order {
  std::string patient;
  std::vector<int> items;
  int priority = 0;  // "added later"
  void reset() {
    patient.clear();
    items.clear();
    priority = 0;  // remove this line and the test below fails
  }
  bool operator==(const Order& o) const { return patient == o.patient && items == o.items && priority == o.priority; }
};

TEST_F(PoolLifetimeTest, ResetRestoresAFreshObject) {
  Pool<Order> pool;
  {
    auto o = pool.get();
    o->patient = "P-17";
    o->items = {1, 2, 3};
    o->priority = 2;
  }
  EXPECT_EQ(*pool.get(), Order{});
}

// ---------------------------------------------------------------------------
// Idle caches

struct KiB {
  char bytes[1024] = {};
  void reset() { bytes[0] = 0; }
};

TEST_F(PoolLifetimeTest, IdleThreadsCachesAreFreedByThreeCycles) {
  const int kThreads = scaled(256);
  constexpr int kPerThread = 64;
  Pool<KiB> pool;
  Gate wake, finish;
  Arrivals idle, round_one, done;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::vector<KiB*> held;
      auto round = [&] {
        for (int i = 0; i < kPerThread; ++i) held.push_back(pool.acquire());
        for (KiB* p : held) pool.release(p);
        held.clear();
      };
      round();
      idle.arrive();
      wake.wait();  // alive but idle while the cycles run
      round();      // first magazine after waking: misses are expected
      round_one.arrive();
      finish.wait();
      done.arrive();
    });
  }
  ASSERT_TRUE(idle.wait_for(kThreads));
  EXPECT_GT(pool.stats().cached, 0u);
  three_cycles();
  EXPECT_EQ(pool.stats().cached, 0u) << "idle threads kept their magazines through three cycles";

  wake.open();
  ASSERT_TRUE(round_one.wait_for(kThreads));
  cistern::PoolStats before = pool.stats();
  // Busy again: the next rounds are served from the pool.
  std::vector<std::thread> busy;
  for (int t = 0; t < 4; ++t) {
    busy.emplace_back([&] {
      for (int r = 0; r < 8; ++r) {
        std::vector<KiB*> held;
        for (int i = 0; i < kPerThread; ++i) held.push_back(pool.acquire());
        for (KiB* p : held) pool.release(p);
      }
    });
  }
  for (auto& b : busy) b.join();
  cistern::PoolStats after = pool.stats();
  double gets = double(after.gets - before.gets), hits = double(after.hits - before.hits);
  EXPECT_GT(hits / gets, 0.9) << "miss storm after the threads woke up";
  finish.open();
  for (auto& t : threads) t.join();
}

TEST_F(PoolLifetimeTest, ThreadsWakingDuringReclaimNeverShareAnObject) {
  // Threads that sleep and wake at random while another thread cycles as fast as
  // it can: every get must hand out an object nobody else holds, and nothing may
  // be lost or freed twice (TSan and ASan watch the handshake).
  struct Owned {
    std::atomic<int> holder{0};
    void reset() {}
  };
  Pool<Owned> pool({.magazine_size = 4});
  std::atomic<bool> stop{false};
  std::atomic<long> shared_seen{0};
  std::thread cycler([&] {
    while (!stop.load()) {
      cistern::cycle();
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  });
  const int kThreads = 8, kRounds = scaled(400);
  std::vector<std::thread> threads;
  for (int t = 1; t <= kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::minstd_rand rng(t);
      std::vector<Owned*> held;
      for (int r = 0; r < kRounds; ++r) {
        int n = 1 + static_cast<int>(rng() % 12);
        for (int i = 0; i < n; ++i) {
          Owned* o = pool.acquire();
          if (o->holder.exchange(t) != 0) shared_seen.fetch_add(1);
          held.push_back(o);
        }
        for (Owned* o : held) {
          o->holder.store(0);
          pool.release(o);
        }
        held.clear();
        if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
      }
    });
  }
  for (auto& th : threads) th.join();
  stop = true;
  cycler.join();
  EXPECT_EQ(shared_seen.load(), 0);
  cistern::PoolStats s = pool.stats();
  EXPECT_EQ(s.gets, s.puts);
}

TEST_F(PoolLifetimeTest, ActiveThreadKeepsItsCacheThroughCycles) {
  Pool<Counted> pool({.magazine_size = 8});
  std::vector<Counted*> held;
  for (int i = 0; i < 8; ++i) held.push_back(pool.acquire());
  for (Counted* p : held) pool.release(p);
  for (int i = 0; i < 5; ++i) {
    cistern::cycle();
    pool.release(pool.acquire());  // used between every two cycles
  }
  EXPECT_GE(pool.stats().cached, 1u);
  cistern::PoolStats before = pool.stats();
  pool.release(pool.acquire());
  EXPECT_EQ(pool.stats().misses, before.misses);
}

// ---------------------------------------------------------------------------
// Ceilings and warm-up

TEST_F(PoolLifetimeTest, MaxCachedBoundsWhatOneThreadKeeps) {
  constexpr std::size_t kMax = 100, kM = 8;
  Pool<Counted> pool({.magazine_size = kM, .max_cached = kMax});
  std::vector<Counted*> held;
  for (int i = 0; i < 1000; ++i) held.push_back(pool.acquire());
  for (Counted* p : held) pool.release(p);
  cistern::PoolStats s = pool.stats();
  EXPECT_LE(s.cached, kMax + kM);
  EXPECT_GE(s.cached, kMax);
  EXPECT_EQ(s.drops, 1000 - s.cached);
  EXPECT_EQ(static_cast<std::size_t>(Lives::alive()), s.cached);
}

TEST_F(PoolLifetimeTest, MaxCachedHoldsAcrossThreads) {
  constexpr std::size_t kMax = 64, kM = 8;
  constexpr int kThreads = 6;
  Pool<Counted> pool({.magazine_size = kM, .max_cached = kMax});
  Arrivals returned;
  Gate leave;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::vector<Counted*> held;
      for (int i = 0; i < 200; ++i) held.push_back(pool.acquire());
      for (Counted* p : held) pool.release(p);
      returned.arrive();
      leave.wait();
    });
  }
  ASSERT_TRUE(returned.wait_for(kThreads));
  EXPECT_LE(pool.stats().cached, kMax + kThreads * kM);
  EXPECT_LE(static_cast<std::size_t>(Lives::alive()), kMax + kThreads * kM);
  leave.open();
  for (auto& t : threads) t.join();
}

TEST_F(PoolLifetimeTest, MaxTotalBytesCapsABufferPool) {
  constexpr std::size_t kCap = 64 * 1024;
  cistern::BufferPool pool({.calibrate = false, .max_total_bytes = kCap});
  std::vector<cistern::Buffer> held;
  for (int i = 0; i < 1000; ++i) held.push_back(pool.get(1024));
  held.clear();
  cistern::BufferPoolStats s = pool.stats();
  // One loaded magazine of 1 KiB blocks (16 of them) may sit beyond the cap.
  EXPECT_LE(s.retained_bytes, kCap + 16 * 1024);
  EXPECT_GT(s.drops, 0u);
  // Large buffers count against the same cap.
  cistern::BufferPool big({.max_retained = 4096, .calibrate = false, .max_total_bytes = 3u << 20});
  {
    std::vector<cistern::Buffer> large;
    for (int i = 0; i < 4; ++i) large.push_back(big.get(1u << 20));
  }
  EXPECT_LE(big.stats().retained_bytes, 3u << 20);
}

TEST_F(PoolLifetimeTest, PrefillWarmsTheSharedTier) {
  Pool<Counted> pool({.magazine_size = 16});
  pool.prefill(100);
  EXPECT_EQ(Lives::made.load(), 100);
  EXPECT_EQ(pool.stats().cached, 100u);
  std::thread([&] {
    std::vector<Counted*> held;
    for (int i = 0; i < 100; ++i) held.push_back(pool.acquire());
    for (Counted* p : held) pool.release(p);
  }).join();
  EXPECT_EQ(pool.stats().misses, 0u);  // every get was served by the prefill
  EXPECT_EQ(Lives::made.load(), 100);

  Pool<Counted> capped({.magazine_size = 16, .max_cached = 40});
  capped.prefill(100);
  EXPECT_EQ(capped.stats().cached, 40u);
}

TEST_F(PoolLifetimeTest, PrefilledObjectsAgeOutLikeAnyOther) {
  Pool<Counted> pool;
  pool.prefill(50);
  cistern::cycle();
  cistern::cycle();
  EXPECT_EQ(pool.stats().cached, 0u);
  EXPECT_EQ(Lives::alive(), 0);
}

TEST_F(PoolLifetimeTest, PrefillPassesOnWhatMakeThrows) {
  int made = 0;
  Pool<Counted> pool({.make = [&] {
    if (++made > 10) throw std::runtime_error("out of backends");
    return std::make_unique<Counted>();
  }});
  EXPECT_THROW(pool.prefill(30), std::runtime_error);
  EXPECT_EQ(pool.stats().cached, 10u);  // what was made stays
}

TEST_F(PoolLifetimeTest, CacheModeIsReported) { EXPECT_EQ(cistern::cache_mode(), cistern::CacheMode::per_thread); }

}  // namespace
