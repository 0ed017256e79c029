// SPDX-License-Identifier: Apache-2.0
/// @file
/// @brief a Redis connection and a ready ResourcePool of them
/// (CMake target cistern::redis, built on hiredis).
///
/// What it is
///   RedisConnection: one blocking connection with connect and command timeouts.
///   command() sends any command with binary-safe arguments and returns the reply
///   as a small value type (no hiredis types leak out). An I/O error or a timeout
///   throws RedisError and marks the connection broken(); a Redis error reply
///   ("ERR ...", "WRONGTYPE ...") is a normal reply, not an exception.
///
///   make_redis_pool() gives a ResourcePool<RedisConnection> whose create connects,
///   whose validate sends PING, and which destroys (instead of reusing) every
///   connection that comes back broken. So a dead server means clear errors within
///   acquire_timeout + command_timeout, never a hang, and a restarted server is
///   used again without restarting the pool.
///
///   auto redis = cistern::make_redis_pool({.host = "127.0.0.1", .port = 6379},
///                                         {.max_size = 8, .name = "redis"});
///   auto conn = redis.acquire();
///   conn->command({"XADD", "epro:T-1", "*", "patientId", "P7", "submission", json});
///
/// Thread-safety: a RedisConnection is used by one thread at a time (the pool's
/// lease guarantees it). The pool is thread-safe.
///
/// When not to use it
///   - Pipelining thousands of commands, pub/sub or cluster routing: use a full
///     client (hiredis's async API, redis-plus-plus); this adapter is the pooled,
///     blocking request/response case.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cistern/detail/export.hpp"
#include "cistern/resource_pool.hpp"

struct redisContext;
struct redisReply;

namespace cistern {

struct CISTERN_API RedisError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Where and how to connect. Every step after the connect (AUTH, SELECT, CLIENT
/// SETNAME) runs within connect_timeout too; a failure is a RedisError naming the
/// step ("AUTH failed: WRONGPASS ..."). The password never appears in an error.
struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
  /// Non-empty: connect to this Unix socket, not to host:port.
  std::string unix_socket = {};
  /// AUTH [user] password when password is non-empty (user empty: the default user).
  std::string user = {};
  std::string password = {};
  /// SELECT db when not 0.
  int db = 0;
  /// CLIENT SETNAME when non-empty (shown by CLIENT LIST).
  std::string client_name = {};
  /// TCP keepalive probes on the connection (hiredis's interval), so a peer that
  /// vanished without a FIN is noticed even by an idle pooled connection.
  bool tcp_keepalive = true;

  /// `redis://[user[:password]@]host[:port][/db]` or `unix:///path/to.sock[?db=N]`;
  /// user and password are percent-decoded, an IPv6 host is written `[::1]`.
  /// Throws std::invalid_argument naming what is wrong (never quoting the password).
  static RedisOptions from_uri(std::string_view uri);
  /// host:port or the socket's path, for messages (no user, no password).
  std::string address() const;
};

class CISTERN_API RedisReply {
 public:
  enum class Type { status, error, integer, string, nil, array };

  RedisReply() = default;  // nil
  Type type() const noexcept { return type_; }
  /// Status, error and string replies; empty for the others.
  std::string_view str() const noexcept { return str_; }
  /// Integer replies; 0 for the others.
  long long integer() const noexcept { return integer_; }
  /// Array replies; empty for the others.
  const std::vector<RedisReply>& elements() const noexcept { return elements_; }
  bool is_error() const noexcept { return type_ == Type::error; }

 private:
  friend class RedisConnection;
  Type type_ = Type::nil;
  std::string str_;
  long long integer_ = 0;
  std::vector<RedisReply> elements_;
};

class CISTERN_API RedisConnection {
 public:
  /// Connects within options.connect_timeout, then authenticates, selects the
  /// database and sets the client name as the options say. Throws RedisError
  /// naming the address, the step and the cause.
  explicit RedisConnection(const RedisOptions& options);
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;
  ~RedisConnection();

  /// Sends one command and waits for its reply (at most command_timeout).
  /// Throws RedisError on an I/O error or timeout; the connection is then broken().
  /// REQUIRES: args not empty.
  RedisReply command(std::initializer_list<std::string_view> args);
  RedisReply command(std::span<const std::string_view> args);
  /// PING; false (instead of throwing) when the server does not answer PONG.
  bool ping() noexcept;
  /// True after an I/O error or timeout: the connection must not be reused.
  bool broken() const noexcept { return broken_; }
  const std::string& address() const noexcept { return address_; }

 private:
  static RedisReply convert(const redisReply* reply);
  void handshake(const RedisOptions& options);

  redisContext* context_ = nullptr;
  std::string address_;
  bool broken_ = false;
};

/// A pool of connections to `redis`. Empty create/validate in `pool` are filled in
/// (connect / PING); every other option is used as given.
CISTERN_API ResourcePool<RedisConnection> make_redis_pool(RedisOptions redis, ResourcePool<RedisConnection>::Options pool = {});

}  // namespace cistern
