// SPDX-License-Identifier: Apache-2.0
// RedisOptions as deployed: URIs, AUTH with and without an ACL user, a database
// other than 0, a Unix socket and the client name, against real redis-servers.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "cistern/redis.hpp"
#include "redis_server.hpp"

namespace {

using cistern::RedisConnection;
using cistern::RedisError;
using cistern::RedisOptions;
using namespace std::chrono_literals;

// The message of what `f` throws as E ("" if it throws nothing).
template <class E, class F>
std::string thrown(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

TEST(RedisUri, EveryPartIsParsed) {
  RedisOptions o = RedisOptions::from_uri("redis://epro:s%40cr%3At@10.1.2.3:6380/3");
  EXPECT_EQ(o.user, "epro");
  EXPECT_EQ(o.password, "s@cr:t");
  EXPECT_EQ(o.host, "10.1.2.3");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(o.db, 3);
  EXPECT_EQ(o.address(), "10.1.2.3:6380");

  o = RedisOptions::from_uri("redis://:onlypass@cache");
  EXPECT_EQ(o.user, "");
  EXPECT_EQ(o.password, "onlypass");
  EXPECT_EQ(o.host, "cache");
  EXPECT_EQ(o.port, 6379);
  EXPECT_EQ(o.db, 0);

  o = RedisOptions::from_uri("redis://[::1]:7000/1");
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 7000);
  EXPECT_EQ(o.address(), "[::1]:7000");

  o = RedisOptions::from_uri("unix:///run/redis/redis.sock?db=2");
  EXPECT_EQ(o.unix_socket, "/run/redis/redis.sock");
  EXPECT_EQ(o.db, 2);
  EXPECT_EQ(o.address(), "/run/redis/redis.sock");
}

TEST(RedisUri, BadUrisNameWhatIsWrongAndNeverThePassword) {
  struct Case {
    const char* uri;
    const char* says;
  } cases[] = {
      {"http://host", "must start with redis:// or unix://"},
      {"redis://u:hunter2@host:99999", "port must be a number from 1 to 65535"},
      {"redis://u:hunter2@host:abc", "port must be a number"},
      {"redis://u:hunter2@host/x", "db must be a number"},
      {"redis://u:hunter2@:6379", "no host"},
      {"redis://u:hunt%zzer2@host", "bad percent-escape in the password"},
      {"redis://u:hunter2@[::1", "unclosed ["},
      {"unix://relative.sock", "absolute path"},
      {"unix:///s.sock?database=1", "only ?db=N"},
  };
  for (const Case& c : cases) {
    std::string what = thrown<std::invalid_argument>([&] { RedisOptions::from_uri(c.uri); });
    EXPECT_NE(what.find(c.says), std::string::npos) << c.uri << " -> " << what;
    EXPECT_EQ(what.find("hunter2"), std::string::npos) << "the password is in the error: " << what;
    EXPECT_EQ(what.find("hunt"), std::string::npos) << what;
  }
}

TEST(RedisOptionsLive, PasswordFromTheUriAndAWrongOneFailsFastSayingAuth) {
  const std::string secret = "pw-" + std::to_string(::getpid());
  cistern_test::RedisServer redis({"--requirepass", secret}, [&](RedisOptions& o) { o.password = secret; });
  RedisOptions good = RedisOptions::from_uri("redis://:" + secret + "@127.0.0.1:" + std::to_string(redis.port()));
  RedisConnection c(good);
  EXPECT_TRUE(c.ping());

  RedisOptions bad = good;
  bad.password = "wrong-" + secret;
  bad.connect_timeout = 500ms;
  auto start = std::chrono::steady_clock::now();
  std::string what = thrown<RedisError>([&] { RedisConnection{bad}; });
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms + 100ms);
  EXPECT_NE(what.find("AUTH failed"), std::string::npos) << what;
  EXPECT_EQ(what.find(bad.password), std::string::npos) << "the password is in the error: " << what;
  EXPECT_EQ(what.find(secret), std::string::npos) << what;

  RedisOptions none = good;
  none.password.clear();
  RedisConnection unauthenticated(none);  // connects; the server refuses commands
  EXPECT_FALSE(unauthenticated.ping());
}

TEST(RedisOptionsLive, AclUserLimitedToItsKeys) {
  cistern_test::RedisServer redis({"--user", "default", "on", "nopass", "~*", "+@all", "--user", "epro", "on",
                                   ">epro-secret", "~epro:*", "+@all"});
  RedisOptions o = RedisOptions::from_uri("redis://epro:epro-secret@127.0.0.1:" + std::to_string(redis.port()));
  RedisConnection c(o);
  EXPECT_EQ(c.command({"XADD", "epro:T-1", "*", "patientId", "P1"}).type(), cistern::RedisReply::Type::string);
  auto denied = c.command({"SET", "other", "x"});
  ASSERT_TRUE(denied.is_error());
  EXPECT_NE(denied.str().find("NOPERM"), std::string_view::npos) << denied.str();

  o.password = "not-it";
  std::string what = thrown<RedisError>([&] { RedisConnection{o}; });
  EXPECT_NE(what.find("AUTH failed"), std::string::npos) << what;
  EXPECT_EQ(what.find("not-it"), std::string::npos) << what;
}

TEST(RedisOptionsLive, DatabaseAndClientName) {
  cistern_test::RedisServer redis;
  RedisOptions o = RedisOptions::from_uri("redis://127.0.0.1:" + std::to_string(redis.port()) + "/3");
  o.client_name = "epro-test-client";
  RedisConnection c(o);
  ASSERT_FALSE(c.command({"SET", "in-three", "yes"}).is_error());

  RedisConnection zero(redis.options());
  EXPECT_EQ(zero.command({"EXISTS", "in-three"}).integer(), 0);
  ASSERT_FALSE(zero.command({"SELECT", "3"}).is_error());
  EXPECT_EQ(zero.command({"GET", "in-three"}).str(), "yes");
  std::string clients(zero.command({"CLIENT", "LIST"}).str());
  EXPECT_NE(clients.find("name=epro-test-client"), std::string::npos) << clients;

  RedisOptions out_of_range = o;
  out_of_range.db = 99;  // the server has 16
  std::string what = thrown<RedisError>([&] { RedisConnection{out_of_range}; });
  EXPECT_NE(what.find("SELECT failed"), std::string::npos) << what;
}

TEST(RedisOptionsLive, UnixSocket) {
  std::string sock = (std::filesystem::temp_directory_path() / ("cistern-redis-" + std::to_string(::getpid()) + ".sock")).string();
  cistern_test::RedisServer redis({"--unixsocket", sock, "--unixsocketperm", "700"});
  RedisConnection c(RedisOptions::from_uri("unix://" + sock + "?db=1"));
  EXPECT_TRUE(c.ping());
  EXPECT_EQ(c.address(), sock);
  ASSERT_FALSE(c.command({"SET", "via-socket", "1"}).is_error());
  RedisConnection tcp(redis.options());
  ASSERT_FALSE(tcp.command({"SELECT", "1"}).is_error());
  EXPECT_EQ(tcp.command({"GET", "via-socket"}).str(), "1");
  std::filesystem::remove(sock);
}

TEST(RedisOptionsLive, AUserWithoutAPasswordIsRefusedBeforeConnecting) {
  RedisOptions o;
  o.port = cistern_test::free_loopback_port();  // nothing listens there: the check comes first
  o.user = "epro";
  std::string what = thrown<RedisError>([&] { RedisConnection{o}; });
  EXPECT_NE(what.find("without a password"), std::string::npos) << what;
}

}  // namespace
