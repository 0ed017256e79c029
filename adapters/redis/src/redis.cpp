// SPDX-License-Identifier: Apache-2.0
// adapters/redis/src/redis.cpp — RedisConnection on hiredis.
#include "cistern/redis.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace cistern {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

bool hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int hex_value(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

// %XX decoding for the user and password of a URI. `what` names the part in errors.
std::string percent_decode(std::string_view in, const char* what) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size() || !hex_digit(in[i + 1]) || !hex_digit(in[i + 2]))
      throw std::invalid_argument(std::string("cistern::RedisOptions::from_uri: bad percent-escape in the ") + what);
    out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
    i += 2;
  }
  return out;
}

// A decimal number in [lo, hi], all of `text`.
int parse_int(std::string_view text, int lo, int hi, const char* what) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi)
    throw std::invalid_argument(std::string("cistern::RedisOptions::from_uri: ") + what + " must be a number from " +
                                std::to_string(lo) + " to " + std::to_string(hi) + ", not '" + std::string(text) +
                                "'");
  return value;
}

}  // namespace

std::string RedisOptions::address() const {
  if (!unix_socket.empty()) return unix_socket;
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

RedisOptions RedisOptions::from_uri(std::string_view uri) {
  constexpr std::string_view kRedis = "redis://", kUnix = "unix://";
  RedisOptions o;
  if (uri.starts_with(kUnix)) {
    std::string_view rest = uri.substr(kUnix.size());
    std::string_view query;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
      query = rest.substr(q + 1);
      rest = rest.substr(0, q);
    }
    if (rest.empty() || rest.front() != '/')
      throw std::invalid_argument("cistern::RedisOptions::from_uri: unix:// needs an absolute path (unix:///path)");
    o.unix_socket = std::string(rest);
    if (!query.empty()) {
      if (!query.starts_with("db=")) throw std::invalid_argument("cistern::RedisOptions::from_uri: unix:// takes only ?db=N");
      o.db = parse_int(query.substr(3), 0, 1 << 20, "db");
    }
    return o;
  }
  if (!uri.starts_with(kRedis))
    throw std::invalid_argument("cistern::RedisOptions::from_uri: the URI must start with redis:// or unix://");
  std::string_view rest = uri.substr(kRedis.size());
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = credentials.find(':');
    o.user = percent_decode(credentials.substr(0, colon), "user");
    if (colon != std::string_view::npos) o.password = percent_decode(credentials.substr(colon + 1), "password");
  }
  std::string_view path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  std::string_view port;
  if (rest.starts_with('[')) {  // [IPv6]:port
    auto close = rest.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("cistern::RedisOptions::from_uri: unclosed [ in the host");
    o.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest.front() != ':')
      throw std::invalid_argument("cistern::RedisOptions::from_uri: expected :port after ]");
    if (!rest.empty()) port = rest.substr(1);
  } else {
    auto colon = rest.find(':');
    o.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (o.host.empty()) throw std::invalid_argument("cistern::RedisOptions::from_uri: no host");
  if (!port.empty() || rest.ends_with(':')) o.port = parse_int(port, 1, 65535, "port");
  if (!path.empty()) o.db = parse_int(path, 0, 1 << 20, "db");
  return o;
}

RedisConnection::RedisConnection(const RedisOptions& options) : address_(options.address()) {
  if (!options.user.empty() && options.password.empty())
    throw RedisError("redis " + address_ + ": user '" + options.user + "' given without a password");
  timeval connect_tv = to_timeval(options.connect_timeout);
  context_ = options.unix_socket.empty()
                 ? redisConnectWithTimeout(options.host.c_str(), options.port, connect_tv)
                 : redisConnectUnixWithTimeout(options.unix_socket.c_str(), connect_tv);
  if (context_ == nullptr) throw RedisError("redis " + address_ + ": cannot allocate a connection");
  std::unique_ptr<redisContext, void (*)(redisContext*)> guard(context_, redisFree);
  if (context_->err != 0) throw RedisError("redis " + address_ + ": connect failed: " + context_->errstr);
  if (options.unix_socket.empty() && options.tcp_keepalive && redisEnableKeepAlive(context_) != REDIS_OK)
    throw RedisError("redis " + address_ + ": cannot enable TCP keepalive");
  // The handshake is part of connecting: it has the connect timeout.
  if (redisSetTimeout(context_, connect_tv) != REDIS_OK)
    throw RedisError("redis " + address_ + ": cannot set the connect timeout");
  handshake(options);
  if (redisSetTimeout(context_, to_timeval(options.command_timeout)) != REDIS_OK)
    throw RedisError("redis " + address_ + ": cannot set the command timeout");
  guard.release();
}

// AUTH, SELECT and CLIENT SETNAME. A failure names the step and the server's
// answer, never the password (the server's answer does not contain it either).
void RedisConnection::handshake(const RedisOptions& options) {
  auto step = [&](const char* what, std::initializer_list<std::string_view> args) {
    RedisReply r;
    try {
      r = command(args);
    } catch (const RedisError& e) {  // "redis <addr>: <CMD>: <cause>": keep the cause
      std::string_view text = e.what();
      throw RedisError("redis " + address_ + ": " + what + " failed: " + std::string(text.substr(text.rfind(": ") + 2)));
    }
    if (r.is_error()) throw RedisError("redis " + address_ + ": " + what + " failed: " + std::string(r.str()));
  };
  if (!options.password.empty()) {
    if (options.user.empty()) {
      step("AUTH", {"AUTH", options.password});
    } else {
      step("AUTH", {"AUTH", options.user, options.password});
    }
  }
  if (options.db != 0) {
    std::string db = std::to_string(options.db);
    step("SELECT", {"SELECT", db});
  }
  if (!options.client_name.empty()) step("CLIENT SETNAME", {"CLIENT", "SETNAME", options.client_name});
}

RedisConnection::~RedisConnection() {
  if (context_ != nullptr) redisFree(context_);
}

RedisReply RedisConnection::command(std::initializer_list<std::string_view> args) {
  return command(std::span<const std::string_view>(args.begin(), args.size()));
}

RedisReply RedisConnection::command(std::span<const std::string_view> args) {
  if (args.empty()) throw std::invalid_argument("cistern::RedisConnection::command: no arguments");
  if (broken_) throw RedisError("redis " + address_ + ": connection is broken");
  constexpr std::size_t kInline = 16;
  const char* argv_inline[kInline];
  std::size_t len_inline[kInline];
  std::vector<const char*> argv_heap;
  std::vector<std::size_t> len_heap;
  const char** argv = argv_inline;
  std::size_t* lens = len_inline;
  if (args.size() > kInline) {
    argv_heap.resize(args.size());
    len_heap.resize(args.size());
    argv = argv_heap.data();
    lens = len_heap.data();
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    argv[i] = args[i].data();
    lens[i] = args[i].size();
  }
  auto* reply = static_cast<redisReply*>(redisCommandArgv(context_, static_cast<int>(args.size()), argv, lens));
  if (reply == nullptr) {
    broken_ = true;
    std::string why = context_->err != 0 ? context_->errstr : "no reply";
    if (context_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) why = "command timed out";
    throw RedisError("redis " + address_ + ": " + std::string(args[0]) + ": " + why);
  }
  std::unique_ptr<redisReply, void (*)(void*)> owned(reply, freeReplyObject);
  return convert(reply);
}

bool RedisConnection::ping() noexcept {
  try {
    RedisReply r = command({"PING"});
    return r.type() == RedisReply::Type::status && r.str() == "PONG";
  } catch (...) {
    return false;
  }
}

RedisReply RedisConnection::convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STATUS:
      out.type_ = RedisReply::Type::status;
      out.str_.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type_ = RedisReply::Type::error;
      out.str_.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STRING:
      out.type_ = RedisReply::Type::string;
      out.str_.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type_ = RedisReply::Type::integer;
      out.integer_ = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type_ = RedisReply::Type::array;
      out.elements_.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements_.push_back(convert(r->element[i]));
      break;
    default:
      out.type_ = RedisReply::Type::nil;
  }
  return out;
}

}  // namespace cistern
