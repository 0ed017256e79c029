// SPDX-License-Identifier: Apache-2.0
// Snapshot<T>: versions, optimistic updates, reclamation, readers across threads.
#include "cistern/snapshot.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using cistern::Snapshot;
using cistern_test::Lives;

namespace {

constexpr std::uint64_t kAlive = 0xA11CEA11CEA11CEull;
constexpr std::uint64_t kDead = 0xDEADDEADDEADDEADull;

// A version that knows when it is read after death: its canary is checked on
// every read and poisoned by the destructor.
struct Rules {
  explicit Rules(std::uint64_t g = 0) : generation(g) {
    Lives::made.fetch_add(1);
    for (auto& w : words) w = g;
  }
  Rules(const Rules& o) : canary(o.canary), generation(o.generation) {
    Lives::made.fetch_add(1);
    std::memcpy(words, o.words, sizeof words);
  }
  Rules(Rules&& o) noexcept : Rules(static_cast<const Rules&>(o)) {}
  ~Rules() {
    EXPECT_EQ(canary, kAlive) << "destroyed twice";
    canary = kDead;
    generation = ~0ull;
    Lives::destroyed.fetch_add(1);
  }
  // True when the version is whole: alive, and every word agrees.
  bool intact() const {
    if (canary != kAlive) return false;
    for (auto w : words)
      if (w != generation) return false;
    return true;
  }
  std::uint64_t canary = kAlive;
  std::uint64_t generation;
  std::uint64_t words[6];
};

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override { Lives::zero(); }
  void TearDown() override { EXPECT_EQ(Lives::alive(), 0) << "every version is destroyed by the end"; }
};

TEST_F(SnapshotTest, LoadStoreAndVersions) {
  Snapshot<std::string> s(std::string("v1"));
  EXPECT_EQ(s.version(), 1u);
  {
    auto r = s.load();
    EXPECT_EQ(*r, "v1");
    EXPECT_EQ(r.version(), 1u);
    EXPECT_EQ(s.store("v2"), 2u);
    EXPECT_EQ(*r, "v1") << "a reader keeps its version";
    EXPECT_EQ(s.retired(), 1u);
    auto r2 = s.load();
    EXPECT_EQ(*r2, "v2");
    EXPECT_EQ(r2->size(), 2u);
  }
  EXPECT_EQ(s.retired(), 0u) << "the last reader of a replaced version reclaims it";
  EXPECT_EQ(s.version(), 2u);
}

TEST_F(SnapshotTest, ReplacedVersionWithoutReadersIsDestroyedAtOnce) {
  Snapshot<Rules> s(Rules(1));
  long before = Lives::alive();
  s.store(Rules(2));
  EXPECT_EQ(Lives::alive(), before) << "the old version went when the new one came";
  EXPECT_EQ(s.retired(), 0u);
}

TEST_F(SnapshotTest, CompareAndStoreChecksTheVersion) {
  Snapshot<int> s(10);
  EXPECT_TRUE(s.compare_and_store(1, 11));
  EXPECT_FALSE(s.compare_and_store(1, 12)) << "version 1 is gone";
  EXPECT_EQ(*s.load(), 11);
  EXPECT_EQ(s.version(), 2u);
}

TEST_F(SnapshotTest, UpdateDerivesFromTheCurrentVersion) {
  Snapshot<std::vector<int>> s(std::vector<int>{1});
  s.update([](const std::vector<int>& v) {
    auto next = v;
    next.push_back(2);
    return next;
  });
  EXPECT_EQ(*s.load(), (std::vector<int>{1, 2}));
}

TEST_F(SnapshotTest, ManyReadersOnOneThread) {
  Snapshot<int> s(1);
  std::vector<cistern::SnapshotReader<int>> readers;
  for (int i = 0; i < 16; ++i) {
    readers.push_back(s.load());
    s.store(i + 2);
  }
  for (int i = 0; i < 16; ++i) EXPECT_EQ(*readers[static_cast<std::size_t>(i)], i + 1);
  readers.erase(readers.begin() + 3);  // out of order release
  readers.clear();
  EXPECT_EQ(s.retired(), 0u);
}

TEST_F(SnapshotTest, ReadersNeverSeeTornOrDeadVersionsAndNeverGoBack) {
  Snapshot<Rules> s(Rules(1));
  std::atomic<bool> stop{false};
  std::atomic<long> bad{0}, backwards{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 6; ++t) {
    readers.emplace_back([&] {
      std::uint64_t last = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        auto r = s.load();
        if (!r->intact() || r->generation != r.version()) bad.fetch_add(1);
        if (r.version() < last) backwards.fetch_add(1);
        last = r.version();
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::thread writer([&] {
    for (std::uint64_t g = 2; g < 3000; ++g) s.store(Rules(g));
  });
  writer.join();
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(backwards.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(s.retired(), 0u);
  EXPECT_EQ(Lives::alive(), 1) << "only the current version is left";
}

TEST_F(SnapshotTest, UpdateFromFourThreadsLosesNoIncrement) {
  Snapshot<std::uint64_t> s(0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) s.update([](std::uint64_t v) { return v + 1; });
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(*s.load(), 8000u);
  EXPECT_EQ(s.version(), 8001u);
}

TEST_F(SnapshotTest, ReadersOnThreadsThatComeAndGo) {
  Snapshot<Rules> s(Rules(1));
  std::atomic<long> bad{0};
  std::thread writer([&] {
    for (std::uint64_t g = 2; g < 500; ++g) s.store(Rules(g));
  });
  for (int wave = 0; wave < 50; ++wave) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&] {
        for (int i = 0; i < 50; ++i) {
          auto r = s.load();
          if (!r->intact()) bad.fetch_add(1);
        }
      });
    for (auto& t : threads) t.join();
  }
  writer.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(s.retired(), 0u);
}

}  // namespace
