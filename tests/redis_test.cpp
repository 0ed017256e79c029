// SPDX-License-Identifier: Apache-2.0
// The Redis adapter against a real redis-server started by the fixture.
#include "cistern/redis.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using cistern::RedisReply;

namespace {

class RedisTest : public ::testing::Test {
 protected:
  cistern_test::RedisServer server;
};

TEST_F(RedisTest, RepliesOfEveryType) {
  cistern::RedisConnection c(server.options());
  EXPECT_TRUE(c.ping());
  RedisReply ok = c.command({"SET", "k", std::string_view("bin\0ary", 7)});
  EXPECT_EQ(ok.type(), RedisReply::Type::status);
  RedisReply v = c.command({"GET", "k"});
  EXPECT_EQ(v.type(), RedisReply::Type::string);
  EXPECT_EQ(v.str(), std::string_view("bin\0ary", 7));
  EXPECT_EQ(c.command({"INCR", "n"}).integer(), 1);
  EXPECT_EQ(c.command({"GET", "missing"}).type(), RedisReply::Type::nil);
  RedisReply err = c.command({"INCR", "k"});
  EXPECT_EQ(err.type(), RedisReply::Type::error) << "an error reply is returned, not thrown";
  EXPECT_FALSE(c.broken());
  c.command({"RPUSH", "l", "a", "b"});
  RedisReply arr = c.command({"LRANGE", "l", "0", "-1"});
  ASSERT_EQ(arr.type(), RedisReply::Type::array);
  ASSERT_EQ(arr.elements().size(), 2u);
  EXPECT_EQ(arr.elements()[1].str(), "b");
}

TEST_F(RedisTest, ConnectFailureNamesTheAddress) {
  auto o = server.options();
  o.port = cistern_test::free_loopback_port();
  try {
    cistern::RedisConnection c(o);
    FAIL();
  } catch (const cistern::RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(o.port)), std::string::npos) << e.what();
  }
}

TEST_F(RedisTest, CommandsThroughThePoolFromEightThreads) {
  auto pool = cistern::make_redis_pool(server.options(), {.max_size = 4, .name = "redis-test"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto c = pool.acquire();
        c->command({"INCR", "counter"});
        c->command({"SET", "key-" + std::to_string(t), std::to_string(i)});
      }
    });
  for (auto& th : threads) th.join();
  auto c = pool.acquire();
  EXPECT_EQ(c->command({"GET", "counter"}).str(), "1600");
  EXPECT_LE(pool.stats().created, 4u);
}

TEST_F(RedisTest, ValidationReplacesAKilledConnection) {
  auto pool = cistern::make_redis_pool(server.options(), {.max_size = 2, .validate_after_idle = 20ms});
  long long id;
  {
    auto c = pool.acquire();
    id = c->command({"CLIENT", "ID"}).integer();
  }
  cistern::RedisConnection admin(server.options());
  EXPECT_EQ(admin.command({"CLIENT", "KILL", "ID", std::to_string(id)}).integer(), 1);
  std::this_thread::sleep_for(60ms);
  auto c = pool.acquire();  // the idle one fails its PING and is replaced
  EXPECT_EQ(c->command({"PING"}).str(), "PONG");
  EXPECT_NE(c->command({"CLIENT", "ID"}).integer(), id);
  EXPECT_GE(pool.stats().validation_failures, 1u);
}

TEST_F(RedisTest, ServerStopsAndRestartsUnderLoad) {
  const auto acquire_timeout = 300ms, command_timeout = 300ms;
  auto pool = cistern::make_redis_pool(server.options(command_timeout),
                                       {.max_size = 4, .acquire_timeout = acquire_timeout,
                                        .validate_after_idle = 0ms, .name = "redis-restart"});
  std::atomic<bool> stop{false};
  std::atomic<long> acked{0}, failures{0}, slow_failures{0};
  std::vector<std::vector<std::string>> acked_keys(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      long i = 0;
      while (!stop.load()) {
        ++i;
        auto begin = std::chrono::steady_clock::now();
        try {
          auto c = pool.acquire();
          std::string key = "w-" + std::to_string(t) + "-" + std::to_string(i);
          auto r = c->command({"SET", key, "1"});
          if (r.type() == RedisReply::Type::status) {
            acked.fetch_add(1);
            acked_keys[static_cast<std::size_t>(t)].push_back(key);
          }
        } catch (const std::exception& e) {
          failures.fetch_add(1);
          auto took = std::chrono::steady_clock::now() - begin;
          if (took > acquire_timeout + command_timeout + 400ms) slow_failures.fetch_add(1);
          std::string what = e.what();
          EXPECT_TRUE(what.find("redis") != std::string::npos || what.find("ResourcePool") != std::string::npos)
              << what;
        }
      }
    });
  std::this_thread::sleep_for(200ms);
  server.stop();
  long acked_at_stop = acked.load();
  std::this_thread::sleep_for(700ms);  // the backend is down
  EXPECT_GT(failures.load(), 0);
  server.start();
  auto restarted = std::chrono::steady_clock::now();
  long acked_at_restart = acked.load();
  EXPECT_TRUE(cistern_test::eventually([&] { return acked.load() > acked_at_restart + 50; }, 2000ms))
      << "the pool serves again within 2 s of the restart";
  EXPECT_LT(std::chrono::steady_clock::now() - restarted, 2000ms);
  stop = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(slow_failures.load(), 0) << "every failing call failed within acquire_timeout + command_timeout";
  // Every acknowledged write is stored after the restart. (A write whose reply was
  // lost when the server went down may be stored too: that is not an acknowledgement.)
  cistern::RedisConnection check(server.options());
  long missing = 0;
  for (const auto& keys : acked_keys)
    for (const auto& key : keys)
      if (check.command({"EXISTS", key}).integer() != 1) ++missing;
  EXPECT_EQ(missing, 0);
  EXPECT_GT(acked_at_stop, 0);
  // No slot lost: all four connections can be held at once.
  std::vector<cistern::ResourceLease<cistern::RedisConnection>> all;
  for (int i = 0; i < 4; ++i) all.push_back(pool.acquire());
  for (auto& c : all) EXPECT_TRUE(c->ping());
}

}  // namespace
