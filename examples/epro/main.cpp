// SPDX-License-Identifier: Apache-2.0
// epro_server — the ePRO submission service (interface: EPRO.md).
//
//   epro_server [--port N] [--threads N] [--redis=HOST:PORT|URI|none] [--pooling=on|off]
//               [--redis-wait N] [--bind ADDR] [--read-token-file FILE] [--max-connections N]
//               [--header-timeout-ms N] [--body-timeout-ms N] [--idle-timeout-ms N]
//
// HTTP/1.1 with Boost.Beast on an Asio event loop run by --threads threads
// (http_server.hpp: framing, deadlines, limits). Prints "listening on
// <addr>:<port>" once it accepts requests. SIGTERM or SIGINT: stops accepting,
// answers every request already read (with Connection: close), closes idle
// connections and the pools, and exits 0.
#include <utility>  // before Asio: boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http_server.hpp"
#include "service.hpp"
#include "store.hpp"

namespace {

namespace asio = boost::asio;

struct Flags {
  int port = 8080;
  int threads = 2;
  std::string redis = "none";
  int redis_wait = 0;  // replicas that must acknowledge each write (WAIT)
  bool pooling = true;
  std::string bind = "127.0.0.1";
  std::string read_token_file;
  long max_connections = 0;  // 0: from the descriptor limit
  int header_timeout_ms = 10'000, body_timeout_ms = 30'000, idle_timeout_ms = 60'000;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "epro_server: %s\nusage: epro_server [--port N] [--threads N] [--redis=HOST:PORT|URI|none] "
               "[--pooling=on|off]\n"
               "                   [--redis-wait N] [--bind ADDR] [--read-token-file FILE] [--max-connections N]\n"
               "                   [--header-timeout-ms N] [--body-timeout-ms N] [--idle-timeout-ms N]\n",
               why.c_str());
  std::exit(2);
}

Flags parse_flags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const std::string& name) -> std::string {
      if (a.rfind(name + "=", 0) == 0) return a.substr(name.size() + 1);
      if (a == name && i + 1 < argc) return argv[++i];
      usage("missing value for " + name);
    };
    auto number = [&](const std::string& name, int lo, int hi) {
      std::string v = value(name);
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n < lo || n > hi)
        usage(name + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
      return static_cast<int>(n);
    };
    if (a.rfind("--port", 0) == 0) {
      f.port = number("--port", 0, 65535);
    } else if (a.rfind("--threads", 0) == 0) {
      f.threads = number("--threads", 1, 1024);
    } else if (a.rfind("--redis-wait", 0) == 0) {
      f.redis_wait = number("--redis-wait", 0, 64);
    } else if (a.rfind("--redis", 0) == 0) {
      f.redis = value("--redis");
    } else if (a.rfind("--pooling", 0) == 0) {
      std::string v = value("--pooling");
      if (v != "on" && v != "off") usage("--pooling must be on or off");
      f.pooling = v == "on";
    } else if (a.rfind("--bind", 0) == 0) {
      f.bind = value("--bind");
    } else if (a.rfind("--read-token-file", 0) == 0) {
      f.read_token_file = value("--read-token-file");
    } else if (a.rfind("--max-connections", 0) == 0) {
      f.max_connections = number("--max-connections", 1, 1'000'000);
    } else if (a.rfind("--header-timeout-ms", 0) == 0) {
      f.header_timeout_ms = number("--header-timeout-ms", 1, 3'600'000);
    } else if (a.rfind("--body-timeout-ms", 0) == 0) {
      f.body_timeout_ms = number("--body-timeout-ms", 1, 3'600'000);
    } else if (a.rfind("--idle-timeout-ms", 0) == 0) {
      f.idle_timeout_ms = number("--idle-timeout-ms", 1, 3'600'000);
    } else {
      usage("unknown argument " + a);
    }
  }
  return f;
}

// The read token: the file's first line without surrounding whitespace.
std::string read_token(const std::string& path) {
  std::ifstream in(path);
  if (!in) usage("cannot read --read-token-file " + path);
  std::string line;
  std::getline(in, line);
  auto b = line.find_first_not_of(" \t\r");
  auto e = line.find_last_not_of(" \t\r");
  if (b == std::string::npos) usage("--read-token-file " + path + " is empty");
  return line.substr(b, e - b + 1);
}

// Connections the server may hold: below the descriptor limit, so that accepting
// (and the Redis pool, and the files a process needs) never runs out of them.
std::size_t connection_limit(const Flags& f) {
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  long reserve = 64 + (f.redis == "none" ? 0 : std::max(f.threads, 2));
  long room = static_cast<long>(nofile.rlim_cur) - reserve;
  if (room < 1) room = 1;
  if (f.max_connections == 0) return static_cast<std::size_t>(std::min(room, 100'000L));
  if (f.max_connections > room)
    std::fprintf(stderr,
                 "epro_server: --max-connections %ld is above what the descriptor limit leaves (%ld): accept() may "
                 "fail with EMFILE (the server then waits 50 ms and accepts again)\n",
                 f.max_connections, room);
  return static_cast<std::size_t>(f.max_connections);
}

// --redis: none, HOST:PORT, redis://[user[:password]@]host[:port][/db] or
// unix:///path[?db=N]. Errors never quote the password.
std::unique_ptr<epro::Store> make_store(const Flags& f) {
  if (f.redis == "none") {
    if (f.redis_wait > 0) usage("--redis-wait needs a Redis store (--redis=...)");
    return std::make_unique<epro::MemoryStore>();
  }
  cistern::RedisOptions o;
  if (f.redis.find("://") != std::string::npos) {
    try {
      o = cistern::RedisOptions::from_uri(f.redis);
    } catch (const std::invalid_argument& e) {
      usage(std::string("--redis: ") + e.what());
    }
  } else {
    auto colon = f.redis.rfind(':');
    if (colon == std::string::npos) usage("--redis must be HOST:PORT, redis://..., unix://... or none");
    o.host = f.redis.substr(0, colon);
    o.port = std::atoi(f.redis.c_str() + colon + 1);
    if (o.port <= 0 || o.port > 65535) usage("--redis port must be 1 to 65535");
  }
  o.client_name = "epro_server";
  return std::make_unique<epro::RedisStore>(o, static_cast<std::size_t>(std::max(f.threads, 2)), true, f.redis_wait);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags = parse_flags(argc, argv);

  std::unique_ptr<epro::Store> store = make_store(flags);
  epro::Service service(*store, flags.pooling);

  epro::HttpOptions http;
  http.bind = flags.bind;
  http.port = flags.port;
  http.pooling = flags.pooling;
  http.header_timeout = std::chrono::milliseconds(flags.header_timeout_ms);
  http.body_timeout = std::chrono::milliseconds(flags.body_timeout_ms);
  http.idle_timeout = std::chrono::milliseconds(flags.idle_timeout_ms);
  http.max_connections = connection_limit(flags);
  if (!flags.read_token_file.empty()) http.read_token = read_token(flags.read_token_file);
  boost::system::error_code bad_address;
  auto address = asio::ip::make_address(flags.bind, bad_address);
  if (bad_address) usage("--bind " + flags.bind + " is not an IP address");
  if (!address.is_loopback() && http.read_token.empty())
    usage("refusing to bind " + flags.bind +
          " (not loopback) without --read-token-file: the submissions of every patient would be readable");
  std::string shown = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();

  asio::io_context io(flags.threads);
  epro::HttpServer server(io, service, http);
  int port;
  try {
    port = server.listen();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "epro_server: cannot listen on %s:%d: %s\n", shown.c_str(), flags.port, e.what());
    return 1;
  }

  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (!ec) server.stop();  // requests in flight are answered; then run() runs out of work
  });
  std::signal(SIGPIPE, SIG_IGN);

  std::printf("listening on %s:%d\n", shown.c_str(), port);
  std::fflush(stdout);

  std::vector<std::thread> threads;
  for (int i = 1; i < flags.threads; ++i) threads.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : threads) t.join();

  store->close();
  return 0;
}
