// SPDX-License-Identifier: Apache-2.0
// Debug checks: misuse is reported with a message naming the pool. These tests
// need CISTERN_DEBUG_CHECKS (debug, asan and tsan presets) and skip otherwise.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "cistern/pool.hpp"

namespace {

class PoolDebugTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CISTERN_DEBUG_CHECKS) GTEST_SKIP() << "built without CISTERN_DEBUG_CHECKS";
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

TEST_F(PoolDebugTest, DoubleReturnIsReported) {
  EXPECT_DEATH(
      {
        cistern::Pool<std::string> pool({.name = "orders"});
        std::string* s = pool.acquire();
        pool.release(s);
        pool.release(s);
      },
      "pool 'orders': object returned twice");
}

TEST_F(PoolDebugTest, ReturnToTheWrongPoolIsReported) {
  EXPECT_DEATH(
      {
        cistern::Pool<std::string> a({.name = "left"});
        cistern::Pool<std::string> b({.name = "right"});
        std::string* s = a.acquire();
        b.release(s);
      },
      "pool 'right': release\\(\\) of an object that came from another pool");
}

TEST_F(PoolDebugTest, ReturnOfAForeignObjectIsReported) {
  EXPECT_DEATH(
      {
        cistern::Pool<std::string> pool({.name = "strings"});
        auto* s = new std::string("not pooled");
        pool.release(s);
      },
      "pool 'strings': release\\(\\) of an object that did not come from any pool");
}

TEST_F(PoolDebugTest, LeaseOutlivingItsPoolIsReported) {
  EXPECT_DEATH(
      {
        auto pool = std::make_unique<cistern::Pool<int>>(cistern::Pool<int>::Options{.reset = cistern::keep_as_is, .name = "short"});
        int* leaked = pool->acquire();
        (void)leaked;
        pool.reset();
      },
      "pool 'short': pool destroyed while objects are still leased");
}

TEST_F(PoolDebugTest, DetachedObjectsMayOutliveThePool) {
  auto pool = std::make_unique<cistern::Pool<int>>(cistern::Pool<int>::Options{.reset = cistern::keep_as_is});
  auto lease = pool->get();
  std::unique_ptr<int> owned(lease.detach());
  pool.reset();  // no report: the caller owns the detached object
  *owned = 3;
  EXPECT_EQ(*owned, 3);
}

struct Record {
  long field = 0;
};

TEST_F(PoolDebugTest, UseAfterReturnIsCaughtByAddressSanitizer) {
  if (!CISTERN_ASAN) GTEST_SKIP() << "needs AddressSanitizer";
  EXPECT_DEATH(
      {
        cistern::Pool<Record> pool({.reset = cistern::keep_as_is});
        Record* r = pool.acquire();
        pool.release(r);
        volatile long* field = &r->field;
        *field = 1;  // the object is cached: poisoned
      },
      "use-after-poison");
}

TEST_F(PoolDebugTest, CorrectUseIsQuiet) {
  cistern::Pool<Record> pool({.reset = cistern::keep_as_is, .name = "quiet"});
  for (int i = 0; i < 1000; ++i) {
    auto a = pool.get();
    auto b = pool.get();
    a->field = i;
    b->field = -i;
  }
  EXPECT_EQ(pool.stats().puts, 2000u);
}

}  // namespace
