// SPDX-License-Identifier: Apache-2.0
// Pool<T> semantics: hits, resets, drops, stats, cycles, thread exit, teardown.
#include "cistern/pool.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using cistern::Lease;
using cistern::Pool;
using cistern_test::Counted;
using cistern_test::Lives;

namespace {

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cistern::set_cycle_interval(std::chrono::milliseconds(0));  // cycles only when a test asks
    Lives::zero();
  }
};

// Returns `n` objects through a thread that then exits, so that they end up in
// the pool's depot (a thread's magazines go to the depot when it exits).
template <class T>
void park_in_depot(Pool<T>& pool, int n) {
  std::thread([&] {
    std::vector<T*> held;
    for (int i = 0; i < n; ++i) held.push_back(pool.acquire());
    for (T* p : held) pool.release(p);
  }).join();
}

TEST_F(PoolTest, GetAfterPutIsAHitOnTheSameObject) {
  Pool<Counted> pool;
  Counted* first;
  {
    auto lease = pool.get();
    first = lease.get();
  }
  auto again = pool.get();
  EXPECT_EQ(again.get(), first);
  auto s = pool.stats();
  EXPECT_EQ(s.gets, 2u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.puts, 1u);
  EXPECT_EQ(s.drops, 0u);
  EXPECT_DOUBLE_EQ(s.hit_rate(), 0.5);
  EXPECT_EQ(Lives::made.load(), 1);
}

struct WithReset {
  std::string owner;
  std::vector<int> items;
  static inline int resets = 0;
  void reset() {
    ++resets;
    owner.clear();
    items.clear();
  }
};

TEST_F(PoolTest, MemberResetRunsOnEveryReturnAndHidesThePreviousUser) {
  WithReset::resets = 0;
  Pool<WithReset> pool;
  for (int round = 0; round < 100; ++round) {
    auto lease = pool.get();
    EXPECT_TRUE(lease->owner.empty()) << "round " << round;
    EXPECT_TRUE(lease->items.empty()) << "round " << round;
    lease->owner = "patient-" + std::to_string(round);
    lease->items.assign(static_cast<std::size_t>(round), round);
  }
  EXPECT_EQ(WithReset::resets, 100);
}

struct BoolReset : Counted {
  bool keep = true;
  bool reset() { return keep; }
};

TEST_F(PoolTest, MemberResetReturningFalseDropsTheObject) {
  Pool<BoolReset> pool;
  {
    auto lease = pool.get();
    lease->keep = false;
  }
  EXPECT_EQ(Lives::alive(), 0);
  auto s = pool.stats();
  EXPECT_EQ(s.puts, 1u);
  EXPECT_EQ(s.drops, 1u);
  EXPECT_EQ(s.cached, 0u);
}

TEST_F(PoolTest, OptionsResetOverridesAndCanDrop) {
  int calls = 0;
  Pool<std::string> pool({.reset = [&](std::string& s) {
    ++calls;
    bool keep = s.capacity() <= 1024;
    s.clear();
    return keep;
  }});
  {
    auto small = pool.get();
    small->assign(10, 'x');
    auto big = pool.get();
    big->assign(4096, 'y');
  }
  EXPECT_EQ(calls, 2);
  auto s = pool.stats();
  EXPECT_EQ(s.drops, 1u);
  EXPECT_EQ(s.cached, 1u);
  auto again = pool.get();
  EXPECT_TRUE(again->empty());
}

TEST_F(PoolTest, CustomMakeIsUsedOnAMiss) {
  int made = 0;
  Pool<std::string> pool({.make = [&] {
    ++made;
    return std::make_unique<std::string>("fresh");
  }});
  auto a = pool.get();
  auto b = pool.get();
  EXPECT_EQ(*a, "fresh");
  EXPECT_EQ(made, 2);
}

TEST_F(PoolTest, MakeThatThrowsPropagatesAndCountsNothing) {
  Pool<int> pool({.make = []() -> std::unique_ptr<int> { throw std::runtime_error("backend down"); }, .reset = cistern::keep_as_is});
  EXPECT_THROW(pool.get(), std::runtime_error);
  auto s = pool.stats();
  EXPECT_EQ(s.gets, 0u);
  EXPECT_EQ(s.misses, 0u);
}

TEST_F(PoolTest, MakeThatReturnsNullThrowsNamingThePool) {
  Pool<int> pool({.make = [] { return std::unique_ptr<int>(); }, .reset = cistern::keep_as_is, .name = "nulls"});
  try {
    pool.get();
    FAIL() << "expected a throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("nulls"), std::string::npos) << e.what();
  }
}

struct NoDefault {
  explicit NoDefault(int v) : value(v) {}
  int value;
};

TEST_F(PoolTest, NonDefaultConstructibleTNeedsMake) {
  EXPECT_THROW(Pool<NoDefault>({.reset = cistern::keep_as_is}), std::invalid_argument);
  Pool<NoDefault> pool({.make = [] { return std::make_unique<NoDefault>(7); }, .reset = cistern::keep_as_is});
  EXPECT_EQ(pool.get()->value, 7);
}

TEST_F(PoolTest, InvalidMagazineSizeIsRejectedByName) {
  try {
    Pool<int> pool({.reset = cistern::keep_as_is, .magazine_size = 1u << 20});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("magazine_size"), std::string::npos);
  }
}

TEST_F(PoolTest, MagazineSizeDefaultsFromObjectSize) {
  EXPECT_EQ((Pool<std::array<char, 64>>({.reset = cistern::keep_as_is}).magazine_size()), 128u);
  EXPECT_EQ((Pool<std::array<char, 256>>({.reset = cistern::keep_as_is}).magazine_size()), 64u);
  EXPECT_EQ((Pool<std::array<char, 4096>>({.reset = cistern::keep_as_is}).magazine_size()), 8u);
  EXPECT_EQ(Pool<int>({.reset = cistern::keep_as_is, .magazine_size = 3}).magazine_size(), 3u);
}

TEST_F(PoolTest, LeaseMovesDetachesAndReleases) {
  Pool<Counted> pool;
  Lease<Counted> a = pool.get();
  Counted* raw = a.get();
  Lease<Counted> b = std::move(a);
  EXPECT_FALSE(a);
  EXPECT_TRUE(b);
  EXPECT_EQ(b.get(), raw);
  Counted* detached = b.detach();
  EXPECT_FALSE(b);
  EXPECT_EQ(pool.stats().puts, 0u);
  pool.release(detached);
  EXPECT_EQ(pool.stats().puts, 1u);
  Lease<Counted> c = pool.get();
  c = pool.get();  // the first object goes back on assignment
  EXPECT_EQ(pool.stats().puts, 2u);
}

TEST_F(PoolTest, ManyObjectsRoundTripThroughMagazinesAndDepot) {
  Pool<Counted> pool({.magazine_size = 4});
  std::vector<Counted*> held;
  for (int i = 0; i < 1000; ++i) held.push_back(pool.acquire());
  std::set<Counted*> distinct(held.begin(), held.end());
  EXPECT_EQ(distinct.size(), 1000u);
  for (Counted* p : held) pool.release(p);
  EXPECT_EQ(pool.stats().cached, 1000u);
  held.clear();
  for (int i = 0; i < 1000; ++i) held.push_back(pool.acquire());
  EXPECT_EQ(Lives::made.load(), 1000) << "every second-round get must be a hit";
  for (Counted* p : held) pool.release(p);
  auto s = pool.stats();
  EXPECT_EQ(s.gets, 2000u);
  EXPECT_EQ(s.hits, 1000u);
  EXPECT_EQ(s.cached, 1000u);
}

TEST_F(PoolTest, ThreadExitHandsItsMagazinesToThePool) {
  Pool<Counted> pool;
  park_in_depot(pool, 50);
  EXPECT_EQ(pool.stats().cached, 50u);
  EXPECT_EQ(Lives::alive(), 50);
  std::vector<Counted*> held;
  for (int i = 0; i < 50; ++i) held.push_back(pool.acquire());
  EXPECT_EQ(Lives::made.load(), 50) << "objects cached by the exited thread are reused";
  for (Counted* p : held) pool.release(p);
}

TEST_F(PoolTest, TwoCyclesWithoutUseFreeTheDepotAndNoMore) {
  Pool<Counted> pool;
  park_in_depot(pool, 40);
  ASSERT_EQ(Lives::alive(), 40);
  cistern::cycle();  // depot -> victim: still cached, still served
  EXPECT_EQ(Lives::alive(), 40);
  EXPECT_EQ(pool.stats().cached, 40u);
  cistern::cycle();  // unused for a whole cycle: freed
  EXPECT_EQ(Lives::alive(), 0);
  EXPECT_EQ(pool.stats().cached, 0u);
}

TEST_F(PoolTest, VictimGenerationStillServesGets) {
  Pool<Counted> pool;
  park_in_depot(pool, 10);
  cistern::cycle();
  {
    auto lease = pool.get();  // from the victim list: a hit, not a make
    EXPECT_EQ(Lives::made.load(), 10);
  }
  EXPECT_EQ(pool.stats().hits, 1u);
}

TEST_F(PoolTest, ObjectsInUseSurviveCycles) {
  Pool<Counted> pool;
  auto lease = pool.get();
  lease->payload = 42;
  for (int i = 0; i < 5; ++i) cistern::cycle();
  EXPECT_EQ(lease->payload, 42u);
  EXPECT_EQ(Lives::alive(), 1);
}

TEST_F(PoolTest, SpareMagazineAgesOutAfterCycles) {
  Pool<Counted> pool({.magazine_size = 8});
  std::vector<Counted*> held;
  for (int i = 0; i < 17; ++i) held.push_back(pool.acquire());
  Counted* extra = held.back();
  held.pop_back();
  for (Counted* p : held) pool.release(p);  // fills the loaded and the spare magazine
  ASSERT_EQ(Lives::alive(), 17);
  cistern::cycle();
  pool.release(extra);  // slow path after a cycle: the spare goes to the depot
  cistern::cycle();
  cistern::cycle();
  EXPECT_EQ(Lives::alive(), 9) << "the spare magazine aged out; the loaded one stays";
}

TEST_F(PoolTest, BackgroundCycleFreesIdleObjects) {
  Pool<Counted> pool;
  park_in_depot(pool, 20);
  cistern::set_cycle_interval(std::chrono::milliseconds(10));
  EXPECT_TRUE(cistern_test::eventually([] { return Lives::alive() == 0; }));
  cistern::set_cycle_interval(std::chrono::milliseconds(0));
}

TEST_F(PoolTest, ClearFreesTheDepotAndThisThreadsCache) {
  Pool<Counted> pool;
  park_in_depot(pool, 30);
  { auto a = pool.get(); auto b = pool.get(); }
  pool.clear();
  EXPECT_EQ(Lives::alive(), 0);
  EXPECT_EQ(pool.stats().cached, 0u);
  auto lease = pool.get();  // still works after clear
  EXPECT_TRUE(lease);
}

TEST_F(PoolTest, DestroyingThePoolFreesObjectsCachedByOtherLiveThreads) {
  auto pool = std::make_unique<Pool<Counted>>();
  std::atomic<int> phase{0};
  std::thread holder([&] {
    std::vector<Counted*> held;
    for (int i = 0; i < 20; ++i) held.push_back(pool->acquire());
    for (Counted* p : held) pool->release(p);  // cached in this thread's magazines
    phase = 1;
    while (phase.load() != 2) std::this_thread::yield();
    // The pool is gone; this thread keeps working with another one and exits.
    Pool<Counted> other;
    auto lease = other.get();
  });
  while (phase.load() != 1) std::this_thread::yield();
  EXPECT_EQ(Lives::alive(), 20);
  pool.reset();
  EXPECT_EQ(Lives::alive(), 0) << "objects in another thread's cache are freed with the pool";
  phase = 2;
  holder.join();
  EXPECT_EQ(Lives::alive(), 0);
}

TEST_F(PoolTest, SlotsOfDestroyedPoolsAreReusedCleanly) {
  // More pools than a thread table's first size, created and destroyed in turns.
  for (int round = 0; round < 3; ++round) {
    std::vector<std::unique_ptr<Pool<Counted>>> pools;
    for (int i = 0; i < 40; ++i) pools.push_back(std::make_unique<Pool<Counted>>());
    for (auto& p : pools) {
      auto a = p->get();
      auto b = p->get();
    }
    for (auto& p : pools) EXPECT_EQ(p->stats().cached, 2u);
  }
  EXPECT_EQ(Lives::alive(), 0);
}

struct alignas(256) OverAligned {
  char bytes[300];
  void reset() { bytes[0] = 0; }
};

TEST_F(PoolTest, OverAlignedObjects) {
  Pool<OverAligned> pool;
  std::vector<OverAligned*> held;
  for (int i = 0; i < 100; ++i) {
    held.push_back(pool.acquire());
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(held.back()) % 256, 0u);
  }
  for (auto* p : held) pool.release(p);
}

struct Big {
  char bytes[1 << 16];
};

TEST_F(PoolTest, LargeObjects) {
  Pool<Big> pool({.reset = cistern::keep_as_is});
  EXPECT_EQ(pool.magazine_size(), 8u);
  std::vector<Big*> held;
  for (int i = 0; i < 20; ++i) held.push_back(pool.acquire());
  for (auto* p : held) pool.release(p);
  EXPECT_EQ(pool.stats().cached, 20u);
}

}  // namespace
