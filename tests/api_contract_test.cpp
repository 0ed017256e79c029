// SPDX-License-Identifier: Apache-2.0
// The public contract of shared API.md, spelled out: if a name or signature
// listed there changes, this file stops compiling. The assertions only check that
// each piece can be used as documented.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory_resource>
#include <optional>
#include <span>
#include <string>
#include <type_traits>

#include "cistern/cistern.hpp"
#include "cistern/redis.hpp"

namespace {

using namespace std::chrono_literals;

struct Item {
  int v = 0;
  void reset() { v = 0; }
};

TEST(ApiContract, PoolLeaseStatsAndCycles) {
  cistern::Pool<Item>::Options o{.make = {}, .reset = {}, .name = "", .magazine_size = 0};
  cistern::Pool<Item> pool(o);
  cistern::Lease<Item> lease = pool.get();
  Item* raw = pool.acquire();
  pool.release(raw);
  EXPECT_TRUE(static_cast<bool>(lease));
  Item* detached = lease.detach();
  pool.release(detached);
  pool.clear();
  cistern::PoolStats s = pool.stats();
  static_assert(std::is_same_v<decltype(s.gets), std::uint64_t> && std::is_same_v<decltype(s.cached), std::size_t>);
  EXPECT_GE(s.hit_rate(), 0.0);
  cistern::cycle();
  cistern::set_cycle_interval(0ms);
  static_assert(!std::is_copy_constructible_v<cistern::Pool<Item>> && !std::is_move_constructible_v<cistern::Pool<Item>>);
  static_assert(!std::is_copy_constructible_v<cistern::Lease<Item>> && std::is_move_constructible_v<cistern::Lease<Item>>);
}

// Second round: the reset policy, ceilings, warm-up and the cache mode.
struct Bare {
  int v = 0;
};

TEST(ApiContract, ResetPolicyCeilingsAndPrefill) {
  cistern::Pool<Bare> opted_out({.reset = cistern::keep_as_is});
  static_assert(std::is_same_v<decltype(cistern::keep_as_is(std::declval<Bare&>())), bool>);
  EXPECT_THROW(cistern::Pool<Bare>(cistern::Pool<Bare>::Options{}), std::invalid_argument);
  cistern::Pool<Item>::Options o;
  std::size_t cap = o.max_cached;
  EXPECT_EQ(cap, 0u);
  cistern::Pool<Item> capped({.max_cached = 10});
  capped.prefill(5);
  using Prefill = void (cistern::Pool<Item>::*)(std::size_t);
  Prefill prefill = &cistern::Pool<Item>::prefill;
  (void)prefill;
  cistern::CacheMode mode = cistern::cache_mode();
  EXPECT_TRUE(mode == cistern::CacheMode::per_thread || mode == cistern::CacheMode::per_cpu);
  cistern::BufferPool::Options bo;
  EXPECT_EQ(bo.max_total_bytes, 0u);
  cistern::BufferPool buffers({.max_total_bytes = 1 << 20});
  cistern::SharedPool<Bare> shared({.reset = cistern::keep_as_is});
  (void)shared.get();
}

TEST(ApiContract, Version) {
  constexpr std::string_view v = cistern::version();
  static_assert(CISTERN_VERSION_MAJOR >= 0 && CISTERN_VERSION_MINOR >= 0 && CISTERN_VERSION_PATCH >= 0);
  EXPECT_EQ(v, std::to_string(CISTERN_VERSION_MAJOR) + "." + std::to_string(CISTERN_VERSION_MINOR) + "." +
                   std::to_string(CISTERN_VERSION_PATCH));
}

TEST(ApiContract, BuffersResourceAndRing) {
  cistern::BufferPool pool(cistern::BufferPool::Options{.max_retained = 0, .calibrate = true, .name = ""});
  cistern::Buffer b = pool.get();
  cistern::Buffer c = pool.get(100);
  b.append("x");
  b.resize(2);
  b.clear();
  EXPECT_EQ(b.view().size(), b.size());
  EXPECT_GE(c.capacity(), 100u);
  const char* d = static_cast<const cistern::Buffer&>(c).data();
  EXPECT_NE(d, nullptr);
  cistern::BufferPoolStats s = pool.stats();
  (void)s.gets, (void)s.hits, (void)s.misses, (void)s.drops, (void)s.retained_bytes, (void)s.default_size,
      (void)s.max_retained;
  cistern::PoolResource resource;
  std::pmr::memory_resource* base = &resource;
  std::pmr::vector<int> v(base);
  v.push_back(1);
  cistern::ByteRing ring(4096);
  std::span<std::byte> w = ring.write_span();
  ring.commit(0);
  std::span<const std::byte> r = ring.read_span();
  ring.consume(0);
  EXPECT_EQ(w.size(), ring.capacity());
  EXPECT_TRUE(r.empty());
}

struct Conn {};

TEST(ApiContract, ResourcePoolAndRedisNames) {
  cistern::ResourcePool<Conn>::Options o{.create = [] { return std::make_unique<Conn>(); },
                                         .validate = {},
                                         .max_size = 8,
                                         .min_idle = 0,
                                         .acquire_timeout = 1000ms,
                                         .idle_timeout = 600000ms,
                                         .max_lifetime = 1800000ms,
                                         .validate_after_idle = 500ms,
                                         .leak_threshold = 0ms,
                                         .name = ""};
  cistern::ResourcePool<Conn> pool(o);
  {
    cistern::ResourceLease<Conn> lease = pool.acquire();
    EXPECT_NE(lease.get(), nullptr);
    (void)*lease, (void)lease.operator->();
    lease.invalidate();
  }
  std::optional<cistern::ResourceLease<Conn>> maybe = pool.try_acquire(10ms);
  EXPECT_TRUE(maybe.has_value());
  maybe.reset();
  cistern::ResourcePoolStats s = pool.stats();
  (void)s.active, (void)s.idle, (void)s.waiting, (void)s.created, (void)s.destroyed, (void)s.timeouts,
      (void)s.validation_failures, (void)s.leaks, (void)s.wait_p50_us, (void)s.wait_p99_us;
  pool.close();
  EXPECT_THROW(pool.acquire(), cistern::PoolClosed);
  static_assert(std::is_base_of_v<std::runtime_error, cistern::AcquireTimeout>);
  static_assert(std::is_base_of_v<std::runtime_error, cistern::RedisError>);
  cistern::RedisOptions ro{.host = "127.0.0.1", .port = 6379, .connect_timeout = 1000ms, .command_timeout = 1000ms};
  (void)ro;
  // This round's additions (API.md, "redis.hpp").
  ro.unix_socket = "/run/redis.sock";
  ro.user = "u";
  ro.password = "p";
  ro.db = 3;
  ro.client_name = "n";
  static_assert(std::is_same_v<decltype(cistern::RedisOptions::from_uri(std::string_view())), cistern::RedisOptions>);
  using MakeRedisPool = cistern::ResourcePool<cistern::RedisConnection> (*)(
      cistern::RedisOptions, cistern::ResourcePool<cistern::RedisConnection>::Options);
  MakeRedisPool make = &cistern::make_redis_pool;
  EXPECT_NE(make, nullptr);
  using Command = cistern::RedisReply (cistern::RedisConnection::*)(std::initializer_list<std::string_view>);
  Command command = &cistern::RedisConnection::command;
  EXPECT_NE(command, nullptr);
  static_assert(std::is_same_v<decltype(std::declval<cistern::RedisConnection&>().ping()), bool>);
  static_assert(std::is_same_v<decltype(std::declval<const cistern::RedisConnection&>().broken()), bool>);
  cistern::RedisReply reply;
  EXPECT_EQ(reply.type(), cistern::RedisReply::Type::nil);
  (void)reply.str(), (void)reply.integer(), (void)reply.elements();
}

TEST(ApiContract, WorkerPool) {
  cistern::WorkerPool::Options o;
  o.capacity = 2;
  o.idle_expiry = 1000ms;
  o.nonblocking = false;
  o.max_waiting = 0;
  o.on_exception = {};
  o.name = "";
  cistern::WorkerPool pool(o);
  EXPECT_TRUE(pool.submit([] {}));
  std::future<int> f = pool.async([] { return 1; });
  EXPECT_EQ(f.get(), 1);
  pool.tune(3);
  EXPECT_EQ(pool.capacity(), 3u);
  (void)pool.running(), (void)pool.idle(), (void)pool.waiting();
  EXPECT_TRUE(pool.shutdown(5000ms));
  cistern::WorkerPool defaulted;
}

TEST(ApiContract, SharedSnapshotAndMetrics) {
  cistern::SharedPool<Item> pool;
  cistern::SharedPool<Item> with_options{cistern::Pool<Item>::Options{}};
  cistern::Shared<Item> a = pool.get();
  cistern::Shared<Item> b = a;
  EXPECT_EQ(a.use_count(), 2u);
  (void)b->v, (void)*b;
  cistern::PoolStats s = pool.stats();
  (void)s;
  cistern::Snapshot<int> snap(1);
  cistern::SnapshotReader<int> r = snap.load();
  EXPECT_EQ(*r, 1);
  EXPECT_EQ(r.version(), 1u);
  std::uint64_t v = snap.store(2);
  EXPECT_EQ(v, 2u);
  std::uint64_t u = snap.update([](const int& x) { return x + 1; });
  EXPECT_TRUE(snap.compare_and_store(u, 10));
  EXPECT_EQ(snap.version(), 4u);
  std::string text = cistern::metrics_text(), json = cistern::metrics_json();
  EXPECT_FALSE(json.empty());
}

}  // namespace
