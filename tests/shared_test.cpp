// SPDX-License-Identifier: Apache-2.0
// SharedPool<T> / Shared<T>: counts, resets, last release on another thread.
#include "cistern/shared.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using cistern::Shared;
using cistern::SharedPool;
using cistern_test::Lives;

namespace {

struct Message {
  Message() { Lives::made.fetch_add(1); }
  Message(Message&& o) noexcept : text(std::move(o.text)) { Lives::made.fetch_add(1); }
  ~Message() { Lives::destroyed.fetch_add(1); }
  std::string text;
  int readers = 0;
  static inline std::atomic<int> resets{0};
  void reset() {
    resets.fetch_add(1);
    text.clear();
    readers = 0;
  }
};

class SharedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cistern::set_cycle_interval(std::chrono::milliseconds(0));
    Lives::zero();
    Message::resets = 0;
  }
};

TEST_F(SharedTest, IsOnePointerAndCountsOwners) {
  static_assert(sizeof(Shared<Message>) == sizeof(void*));
  SharedPool<Message> pool;
  Shared<Message> a = pool.get();
  EXPECT_EQ(a.use_count(), 1u);
  {
    Shared<Message> b = a;
    Shared<Message> c = b;
    EXPECT_EQ(a.use_count(), 3u);
    EXPECT_EQ(b.get(), a.get());
  }
  EXPECT_EQ(a.use_count(), 1u);
  EXPECT_EQ(pool.stats().puts, 0u);
  a.reset();
  EXPECT_FALSE(a);
  EXPECT_EQ(pool.stats().puts, 1u);
  EXPECT_EQ(Message::resets.load(), 1);
}

TEST_F(SharedTest, LastReleaseResetsAndReturnsTheObject) {
  SharedPool<Message> pool;
  Message* first;
  {
    auto m = pool.get();
    m->text = "patient 17 says hello";
    first = m.get();
    auto copy = m;
  }
  auto again = pool.get();
  EXPECT_EQ(again.get(), first);
  EXPECT_TRUE(again->text.empty());
  EXPECT_EQ(again.use_count(), 1u);
}

TEST_F(SharedTest, MoveAndAssignKeepCountsRight) {
  SharedPool<Message> pool;
  auto a = pool.get();
  auto b = pool.get();
  Shared<Message> c = std::move(a);
  EXPECT_FALSE(a);
  EXPECT_EQ(c.use_count(), 1u);
  b = c;  // b's old object goes back
  EXPECT_EQ(pool.stats().puts, 1u);
  EXPECT_EQ(c.use_count(), 2u);
  b = std::move(c);
  EXPECT_EQ(b.use_count(), 1u);
  auto& same = b;
  b = same;  // self-assignment is harmless (through a reference: clang warns on a literal b = b)
  EXPECT_EQ(b.use_count(), 1u);
}

TEST_F(SharedTest, CustomMakeAndResetOptions) {
  SharedPool<Message> pool({.make =
                                [] {
                                  auto m = std::make_unique<Message>();
                                  m->text = "made";
                                  return m;
                                },
                            .reset = [](Message& m) { return m.readers < 10; },
                            .name = "shared-messages"});
  {
    auto m = pool.get();
    EXPECT_EQ(m->text, "made");
    m->readers = 99;  // the reset policy drops it
  }
  EXPECT_EQ(pool.stats().drops, 1u);
}

TEST_F(SharedTest, CopiesOnManyThreadsLastOneReturnsFromAnotherThread) {
  {
    SharedPool<Message> pool;
    for (int round = 0; round < 200; ++round) {
      Shared<Message> m = pool.get();
      m->text = "round " + std::to_string(round);
      std::vector<std::thread> threads;
      for (int t = 0; t < 8; ++t) {
        threads.emplace_back([copy = m]() mutable {
          for (int i = 0; i < 100; ++i) {
            Shared<Message> again = copy;
            EXPECT_FALSE(again->text.empty());
          }
        });
      }
      m.reset();  // a worker thread may now hold the last copy
      for (auto& t : threads) t.join();
    }
    auto s = pool.stats();
    EXPECT_EQ(s.gets, 200u);
    EXPECT_EQ(s.puts, 200u);
    EXPECT_EQ(Message::resets.load(), 200);
  }
  EXPECT_EQ(Lives::alive(), 0);
}

}  // namespace
