// SPDX-License-Identifier: Apache-2.0
// ResourcePool<T> with a fake resource: bounds, timeouts, FIFO, validation,
// eviction, lifetime, leaks, invalidation, close, and a stress run.
#include "cistern/resource_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cistern/metrics.hpp"
#include "test_support.hpp"

using cistern::AcquireTimeout;
using cistern::PoolClosed;
using cistern::ResourcePool;
using namespace std::chrono_literals;

namespace {

struct Fake {
  static inline std::atomic<int> alive{0}, peak{0}, made{0};
  int id;
  bool healthy = true;
  bool is_broken = false;
  Fake() : id(made.fetch_add(1) + 1) {
    int now = alive.fetch_add(1) + 1;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
  }
  ~Fake() { alive.fetch_sub(1); }
  bool broken() const { return is_broken; }
  static void zero() {
    alive = 0;
    peak = 0;
    made = 0;
  }
};

using Options = ResourcePool<Fake>::Options;

Options basic(std::size_t max_size = 4) {
  Options o;
  o.create = [] { return std::make_unique<Fake>(); };
  o.max_size = max_size;
  return o;
}

class ResourcePoolTest : public ::testing::Test {
 protected:
  void SetUp() override { Fake::zero(); }
  void TearDown() override { EXPECT_EQ(Fake::alive.load(), 0) << "every resource destroyed with its pool"; }
};

std::string invalid_message(Options o) {
  try {
    ResourcePool<Fake> pool(std::move(o));
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST_F(ResourcePoolTest, OptionsAreCheckedByName) {
  Options o = basic();
  o.max_size = 0;
  EXPECT_NE(invalid_message(o).find("max_size"), std::string::npos);
  o = basic(2);
  o.min_idle = 3;
  EXPECT_NE(invalid_message(o).find("min_idle"), std::string::npos);
  o = basic();
  o.create = nullptr;
  EXPECT_NE(invalid_message(o).find("create"), std::string::npos);
  o = basic();
  o.acquire_timeout = -1ms;
  EXPECT_NE(invalid_message(o).find("acquire_timeout"), std::string::npos);
}

TEST_F(ResourcePoolTest, ReusesAnIdleResource) {
  ResourcePool<Fake> pool(basic());
  int first;
  {
    auto a = pool.acquire();
    first = a->id;
  }
  for (int i = 0; i < 100; ++i) EXPECT_EQ(pool.acquire()->id, first);
  auto s = pool.stats();
  EXPECT_EQ(s.created, 1u);
  EXPECT_EQ(s.idle, 1u);
  EXPECT_EQ(s.active, 0u);
}

TEST_F(ResourcePoolTest, TimeoutNamesPoolWaitCountsAndLastError) {
  Options o = basic(1);
  o.name = "orders-db";
  o.acquire_timeout = 50ms;
  ResourcePool<Fake> pool(o);
  auto held = pool.acquire();
  EXPECT_FALSE(pool.try_acquire(20ms).has_value());
  try {
    pool.acquire();
    FAIL();
  } catch (const AcquireTimeout& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("orders-db"), std::string::npos) << m;
    EXPECT_NE(m.find("50 ms"), std::string::npos) << m;
    EXPECT_NE(m.find("active 1"), std::string::npos) << m;
    EXPECT_NE(m.find("max_size 1"), std::string::npos) << m;
  }
  EXPECT_EQ(pool.stats().timeouts, 1u);
}

TEST_F(ResourcePoolTest, CreationErrorReachesTheCallerAndTheBackendComesBack) {
  std::atomic<bool> down{true};
  Options o = basic(2);
  o.create = [&]() -> std::unique_ptr<Fake> {
    if (down.load()) throw std::runtime_error("connect 127.0.0.1:1: connection refused");
    return std::make_unique<Fake>();
  };
  o.acquire_timeout = 100ms;
  ResourcePool<Fake> pool(o);
  try {
    pool.acquire();
    FAIL();
  } catch (const AcquireTimeout& e) {
    EXPECT_NE(std::string(e.what()).find("connection refused"), std::string::npos) << e.what();
  }
  EXPECT_GE(pool.stats().creation_failures, 1u);
  EXPECT_EQ(pool.stats().active + pool.stats().idle, 0u) << "failed creations free their slots";
  down = false;
  auto start = std::chrono::steady_clock::now();
  auto lease = pool.try_acquire(3000ms);
  ASSERT_TRUE(lease.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2000ms) << "retried with backoff (at most 1 s)";
}

TEST_F(ResourcePoolTest, NeverMoreThanMaxSizeAlive) {
  Options o = basic(3);
  o.acquire_timeout = 5000ms;
  ResourcePool<Fake> pool(o);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        auto r = pool.acquire();
        if (i % 7 == 0) std::this_thread::sleep_for(50us);
        if (i % 50 == 0) r.invalidate();
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_LE(Fake::peak.load(), 3);
  auto s = pool.stats();
  EXPECT_EQ(s.active, 0u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.timeouts, 0u);
}

TEST_F(ResourcePoolTest, WaitersAreServedInArrivalOrder) {
  Options o = basic(1);
  o.acquire_timeout = 5000ms;
  ResourcePool<Fake> pool(o);
  auto held = pool.acquire();
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&, i] {
      auto r = pool.acquire();
      std::lock_guard lock(mu);
      order.push_back(i);
    });
    ASSERT_TRUE(cistern_test::eventually([&] { return pool.stats().waiting == static_cast<std::size_t>(i + 1); }));
  }
  held.reset();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

TEST_F(ResourcePoolTest, IdleResourceIsValidatedAndReplacedWhenInvalid) {
  std::atomic<int> validations{0};
  Options o = basic(2);
  o.validate = [&](Fake& f) {
    validations.fetch_add(1);
    return f.healthy;
  };
  o.validate_after_idle = 30ms;
  ResourcePool<Fake> pool(o);
  int first;
  {
    auto r = pool.acquire();
    first = r->id;
    r->healthy = false;  // it will fail its next check
  }
  { auto quick = pool.acquire(); }  // idle < 30 ms: not validated
  EXPECT_EQ(validations.load(), 0);
  std::this_thread::sleep_for(80ms);
  auto r = pool.acquire();
  EXPECT_GE(validations.load(), 1);
  EXPECT_NE(r->id, first) << "the invalid resource was destroyed and replaced";
  EXPECT_EQ(pool.stats().validation_failures, 1u);
}

TEST_F(ResourcePoolTest, IdleResourcesBeyondMinIdleAreEvicted) {
  Options o = basic(4);
  o.idle_timeout = 60ms;
  ResourcePool<Fake> pool(o);
  {
    auto a = pool.acquire();
    auto b = pool.acquire();
  }
  EXPECT_EQ(pool.stats().idle, 2u);
  EXPECT_TRUE(cistern_test::eventually([&] { return pool.stats().idle == 0; }, 2000ms));
  EXPECT_EQ(pool.stats().destroyed, 2u);
}

TEST_F(ResourcePoolTest, MinIdleIsRefilledInTheBackground) {
  Options o = basic(4);
  o.min_idle = 2;
  ResourcePool<Fake> pool(o);
  EXPECT_TRUE(cistern_test::eventually([&] { return pool.stats().idle == 2; }, 2000ms));
  {
    auto a = pool.acquire();
    auto b = pool.acquire();
    auto c = pool.acquire();
  }
  EXPECT_LE(pool.stats().idle + pool.stats().active, 4u);
}

TEST_F(ResourcePoolTest, ResourcesRetireAtMaxLifetimeNeverWhileLeased) {
  Options o = basic(2);
  o.max_lifetime = 80ms;
  ResourcePool<Fake> pool(o);
  int first;
  {
    auto r = pool.acquire();
    first = r->id;
    std::this_thread::sleep_for(150ms);  // past its lifetime, but leased: kept
    EXPECT_EQ(Fake::alive.load(), 1);
  }
  auto again = pool.acquire();
  EXPECT_NE(again->id, first) << "retired on return, a new one made";
}

TEST_F(ResourcePoolTest, LeakIsReportedOnceWithWhereItWasAcquired) {
  std::mutex mu;
  std::vector<cistern::LeakReport> reports;
  Options o = basic(2);
  o.name = "leaky";
  o.leak_threshold = 40ms;
  o.on_leak = [&](const cistern::LeakReport& r) {
    std::lock_guard lock(mu);
    reports.push_back(r);
  };
  ResourcePool<Fake> pool(o);
  {
    auto held = pool.acquire();
    std::this_thread::sleep_for(200ms);
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].pool, "leaky");
  EXPECT_GE(reports[0].held.count(), 40);
  EXPECT_NE(reports[0].acquired_at.find("#0"), std::string::npos) << reports[0].acquired_at;
  EXPECT_EQ(pool.stats().leaks, 1u);
}

TEST_F(ResourcePoolTest, InvalidatedAndBrokenResourcesAreDestroyed) {
  ResourcePool<Fake> pool(basic(2));
  int first;
  {
    auto r = pool.acquire();
    first = r->id;
    r.invalidate();
  }
  EXPECT_EQ(Fake::alive.load(), 0);
  {
    auto r = pool.acquire();
    EXPECT_NE(r->id, first);
    r->is_broken = true;  // T::broken() is consulted on return
  }
  EXPECT_EQ(Fake::alive.load(), 0);
  EXPECT_EQ(pool.stats().destroyed, 2u);
}

TEST_F(ResourcePoolTest, CloseFailsAcquiresWakesWaitersAndDestroysOnReturn) {
  Options o = basic(1);
  o.acquire_timeout = 5000ms;
  ResourcePool<Fake> pool(o);
  auto held = pool.acquire();
  std::atomic<bool> got_closed{false};
  std::thread waiter([&] {
    try {
      pool.acquire();
    } catch (const PoolClosed&) {
      got_closed = true;
    }
  });
  ASSERT_TRUE(cistern_test::eventually([&] { return pool.stats().waiting == 1; }));
  pool.close();
  waiter.join();
  EXPECT_TRUE(got_closed.load());
  EXPECT_THROW(pool.acquire(), PoolClosed);
  EXPECT_EQ(Fake::alive.load(), 1);
  held.reset();
  EXPECT_EQ(Fake::alive.load(), 0) << "a lease returned after close is destroyed";
}

TEST_F(ResourcePoolTest, NamedPoolAppearsInMetrics) {
  Options o = basic(2);
  o.name = "metrics-rp";
  ResourcePool<Fake> pool(o);
  { auto r = pool.acquire(); }
  std::string text = cistern::metrics_text();
  EXPECT_NE(text.find("cistern_resource_pool_created_total{pool=\"metrics-rp\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("cistern_resource_pool_idle{pool=\"metrics-rp\"} 1"), std::string::npos) << text;
}

TEST_F(ResourcePoolTest, StressManyThreadsFewResources) {
  Options o = basic(4);
  o.acquire_timeout = 10000ms;
  o.validate = [](Fake& f) { return f.healthy; };
  o.validate_after_idle = 1ms;
  ResourcePool<Fake> pool(o);
  std::atomic<long> served{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < 500; ++i) {
        auto r = pool.acquire();
        if (rng() % 40 == 0) r->healthy = false;
        if (rng() % 60 == 0) r.invalidate();
        if (rng() % 10 == 0) std::this_thread::yield();
        served.fetch_add(1);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(served.load(), 12 * 500);
  EXPECT_LE(Fake::peak.load(), 4);
  EXPECT_EQ(pool.stats().active, 0u);
}

}  // namespace
