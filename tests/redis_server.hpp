// SPDX-License-Identifier: Apache-2.0
// Starts a private redis-server on a free loopback port for a test, and stops it.
// The server runs with an append-only file fsynced on every write, so every write
// it acknowledged survives a stop and restart.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cistern/redis.hpp"

namespace cistern_test {

inline int free_loopback_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind");
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class RedisServer {
 public:
  // extra: more redis-server arguments ("--requirepass", "s3cret", ...); ready:
  // what the readiness check needs on top of options() (a password, say).
  explicit RedisServer(std::vector<std::string> extra = {},
                       std::function<void(cistern::RedisOptions&)> ready = {})
      : port_(free_loopback_port()), extra_(std::move(extra)), ready_(std::move(ready)) {
    dir_ = std::filesystem::temp_directory_path() / ("cistern-redis-" + std::to_string(getpid()) + "-" +
                                                     std::to_string(port_));
    std::filesystem::create_directories(dir_);
    start();
  }
  ~RedisServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_; }
  cistern::RedisOptions options(std::chrono::milliseconds command_timeout = std::chrono::milliseconds(500)) const {
    return {.host = "127.0.0.1", .port = port_, .connect_timeout = std::chrono::milliseconds(500),
            .command_timeout = command_timeout};
  }

  void start() {
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<std::string> args = {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                       "--dir", dir_.string(), "--appendonly", "yes", "--appendfsync", "always",
                                       "--save", "", "--daemonize", "no", "--loglevel", "warning"};
      args.insert(args.end(), extra_.begin(), extra_.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(CISTERN_REDIS_SERVER, argv.data());
      _exit(127);
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
      try {
        cistern::RedisOptions o = options();
        if (ready_) ready_(o);
        cistern::RedisConnection c(o);
        if (c.ping()) return;
      } catch (const cistern::RedisError&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("redis-server did not start on port " + std::to_string(port_));
  }

  // SIGTERM, and SIGKILL if the server is still there after 5 s: a redis-server whose
  // shutdown fails (a replica during its AOF rewrite after a sync, say) logs it and
  // keeps running, and an unbounded wait would hang the test.
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > until) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
  }

 private:
  int port_;
  std::vector<std::string> extra_;
  std::function<void(cistern::RedisOptions&)> ready_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
};

}  // namespace cistern_test
