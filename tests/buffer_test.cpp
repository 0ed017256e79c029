// SPDX-License-Identifier: Apache-2.0
// BufferPool / Buffer: semantics, calibration, large buffers, stats.
#include "cistern/buffer.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cistern/metrics.hpp"
#include "cistern/pool.hpp"

using cistern::Buffer;
using cistern::BufferPool;

namespace {

class BufferTest : public ::testing::Test {
 protected:
  void SetUp() override { cistern::set_cycle_interval(std::chrono::milliseconds(0)); }
};

TEST_F(BufferTest, ClassesArePowersOfTwoFrom64) {
  EXPECT_EQ(BufferPool::class_of(0), 0u);
  EXPECT_EQ(BufferPool::class_of(64), 0u);
  EXPECT_EQ(BufferPool::class_of(65), 1u);
  EXPECT_EQ(BufferPool::class_of(128), 1u);
  EXPECT_EQ(BufferPool::class_of(1 << 20), 14u);
  EXPECT_EQ(BufferPool::class_size(14), 1u << 20);
}

TEST_F(BufferTest, GetAppendGrowAndReturn) {
  BufferPool pool({.calibrate = false});
  Buffer b = pool.get();
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.capacity(), BufferPool::kInitialDefault);
  std::string text(1000, 'x');
  b.append("hello ");
  b.append(text);
  EXPECT_EQ(b.size(), 1006u);
  EXPECT_EQ(b.capacity(), 1024u);
  EXPECT_EQ(b.view().substr(0, 6), "hello ");
  b.resize(2000);
  EXPECT_EQ(b.view()[1999], '\0');
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.capacity(), 2048u);
}

TEST_F(BufferTest, ReturnedBufferNeverShowsThePreviousUsersBytes) {
  BufferPool pool({.calibrate = false});
  const char* first;
  {
    Buffer b = pool.get(100);
    b.append("patient 4711: positive");
    first = b.data();
  }
  Buffer again = pool.get(100);
  EXPECT_EQ(again.data(), first) << "the block was reused";
  EXPECT_EQ(again.size(), 0u);
  EXPECT_TRUE(again.view().empty());
#if CISTERN_DEBUG_CHECKS
  EXPECT_EQ(static_cast<unsigned char>(again.data()[0]), 0xDDu) << "debug builds overwrite stale bytes";
#endif
}

TEST_F(BufferTest, MoveTransfersOwnership) {
  BufferPool pool;
  Buffer a = pool.get();
  a.append("abc");
  Buffer b = std::move(a);
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.view(), "abc");
  a = std::move(b);
  EXPECT_EQ(a.view(), "abc");
}

TEST_F(BufferTest, DefaultConstructedBufferWorksWithoutAPool) {
  Buffer b;
  b.append("no pool");
  b.append(std::string(5000, 'y'));
  EXPECT_EQ(b.size(), 5007u);
}

TEST_F(BufferTest, InvalidOptionsAreRejectedByName) {
  try {
    BufferPool pool({.max_retained = 10});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("max_retained"), std::string::npos);
  }
}

TEST_F(BufferTest, CalibrationLearnsTheCommonSizeAndDropsHugeBuffers) {
  BufferPool pool;
  std::mt19937 rng(42);
  for (int i = 0; i < 40000; ++i) {
    Buffer b = pool.get();
    bool huge = rng() % 100 == 0;  // 1% grow to 1 MiB, the rest to ~300 B
    b.resize(huge ? (1u << 20) : 200 + rng() % 200);
  }
  auto s = pool.stats();
  EXPECT_EQ(s.default_size, 512u) << "most buffers reached 200-400 bytes";
  EXPECT_LE(s.max_retained, 512u) << "the 95th percentile is in the 512 B class";
  // What is retained: the small buffers in use at once (one here) in magazines,
  // plus at most kLargeSlots large buffers.
  EXPECT_LE(s.retained_bytes, BufferPool::kLargeSlots * (1u << 20) + 64 * 1024) << s.retained_bytes;
  Buffer b = pool.get();
  EXPECT_EQ(b.capacity(), 512u) << "get() hands out the learned size";
}

TEST_F(BufferTest, LargeBuffersAreReusedThenExpire) {
  BufferPool pool({.max_retained = 4096});
  const char* first;
  {
    Buffer big = pool.get(1 << 20);
    first = big.data();
  }
  EXPECT_GE(pool.stats().retained_bytes, 1u << 20);
  {
    Buffer again = pool.get(1 << 20);
    EXPECT_EQ(again.data(), first) << "a recent large buffer is reused";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  cistern::cycle();
  EXPECT_LT(pool.stats().retained_bytes, 1u << 20) << "and freed after about a second";
}

TEST_F(BufferTest, AtMostFourLargeBuffersAreKept) {
  BufferPool pool({.max_retained = 4096});
  {
    std::vector<Buffer> many;
    for (int i = 0; i < 10; ++i) many.push_back(pool.get(256 * 1024));
  }
  EXPECT_EQ(pool.stats().retained_bytes, BufferPool::kLargeSlots * 256 * 1024);
}

TEST_F(BufferTest, BuffersCrossThreads) {
  BufferPool pool({.name = "buffers-cross"});
  std::vector<Buffer> made;
  for (int i = 0; i < 1000; ++i) {
    made.push_back(pool.get(100));
    made.back().append("payload");
  }
  std::thread([&] { made.clear(); }).join();  // returned on another thread
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(pool.get(100).empty());
  EXPECT_NE(cistern::metrics_text().find("cistern_buffer_pool_retained_bytes{pool=\"buffers-cross\"}"),
            std::string::npos);
}

TEST_F(BufferTest, ManyThreadsGetAppendReturn) {
  BufferPool pool;
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < 20000; ++i) {
        Buffer b = pool.get();
        if (!b.empty()) wrong.fetch_add(1);
        std::size_t n = rng() % 3000;
        b.resize(n);
        if (n > 0) b.data()[n - 1] = static_cast<char>(t);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
