// SPDX-License-Identifier: Apache-2.0
// adapters/redis/src/redis.cpp — RedisConnection on hiredis.
#include "cistern/redis.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace cistern {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

}  // namespace

RedisConnection::RedisConnection(const RedisOptions& options)
    : address_(options.host + ":" + std::to_string(options.port)) {
  context_ = redisConnectWithTimeout(options.host.c_str(), options.port, to_timeval(options.connect_timeout));
  if (context_ == nullptr) throw RedisError("redis " + address_ + ": cannot allocate a connection");
  if (context_->err != 0) {
    std::string why = context_->errstr;
    redisFree(context_);
    context_ = nullptr;
    throw RedisError("redis " + address_ + ": connect failed: " + why);
  }
  if (redisSetTimeout(context_, to_timeval(options.command_timeout)) != REDIS_OK) {
    redisFree(context_);
    context_ = nullptr;
    throw RedisError("redis " + address_ + ": cannot set the command timeout");
  }
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
