// epro_server — the ePRO submission service (interface: EPRO.md).
//
//   epro_server [--port N] [--threads N] [--redis=HOST:PORT|none] [--pooling=on|off]
//
// Prints "listening on 127.0.0.1:<port>" once it accepts requests. SIGTERM or
// SIGINT: stops accepting, answers the requests in flight, closes the pools and
// exits 0.
#include <httplib.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "service.hpp"
#include "store.hpp"

namespace {

struct Flags {
  int port = 8080;
  int threads = 4;
  std::string redis = "none";
  bool pooling = true;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "epro_server: %s\nusage: epro_server [--port N] [--threads N] [--redis=HOST:PORT|none] "
               "[--pooling=on|off]\n",
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
    } else if (a.rfind("--redis", 0) == 0) {
      f.redis = value("--redis");
    } else if (a.rfind("--pooling", 0) == 0) {
      std::string v = value("--pooling");
      if (v != "on" && v != "off") usage("--pooling must be on or off");
      f.pooling = v == "on";
    } else {
      usage("unknown argument " + a);
    }
  }
  return f;
}

std::unique_ptr<epro::Store> make_store(const Flags& f) {
  if (f.redis == "none") return std::make_unique<epro::MemoryStore>();
  auto colon = f.redis.rfind(':');
  if (colon == std::string::npos) usage("--redis must be HOST:PORT or none");
  cistern::RedisOptions o;
  o.host = f.redis.substr(0, colon);
  o.port = std::atoi(f.redis.c_str() + colon + 1);
  if (o.port <= 0 || o.port > 65535) usage("--redis port must be 1 to 65535");
  return std::make_unique<epro::RedisStore>(o, static_cast<std::size_t>(f.threads), true);
}

void send(const epro::Reply& r, httplib::Response& res) {
  res.status = r.status;
  res.set_content(r.body.data(), r.body.size(), r.content_type);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags = parse_flags(argc, argv);

  // Signals are taken by one thread with sigwait; every other thread blocks them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<epro::Store> store = make_store(flags);
  epro::Service service(*store, flags.pooling);

  httplib::Server server;
  server.new_task_queue = [n = flags.threads] { return new httplib::ThreadPool(static_cast<std::size_t>(n)); };
  server.set_keep_alive_max_count(1000000);
  server.set_tcp_nodelay(true);  // headers and body go out in two writes: no Nagle delay
  server.set_payload_max_length(epro::kMaxBody);

  // The reply buffer of each server thread is reused, so a warm thread answers
  // without allocating its reply text.
  auto reply = [] () -> epro::Reply& {
    thread_local epro::Reply r;
    return r;
  };

  server.Post("/v1/submissions", [&](const httplib::Request& req, httplib::Response& res) {
    epro::Reply& r = reply();
    service.submit(req.body, r);
    send(r, res);
  });
  server.Get(R"(/v1/trials/([^/]+)/submissions)", [&](const httplib::Request& req, httplib::Response& res) {
    epro::Reply& r = reply();
    service.list(req.matches[1].str(), r);
    send(r, res);
  });
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(service.metrics(), "text/plain; version=0.0.4");
  });
  server.Get("/healthz", [&](const httplib::Request&, httplib::Response& res) {
    bool ok = service.healthy();
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "ok" : "store unavailable", "text/plain");
  });
  server.set_error_handler([&](const httplib::Request&, httplib::Response& res) {
    if (res.status == 413) {
      service.count_status(413);
      res.set_content("{\"error\":\"body larger than 65536 bytes\",\"field\":\"\"}", "application/json");
    } else if (res.status == 404) {
      res.set_content("{\"error\":\"not found\",\"field\":\"\"}", "application/json");
    }
  });

  int port = flags.port == 0 ? server.bind_to_any_port("127.0.0.1") : (server.bind_to_port("127.0.0.1", flags.port) ? flags.port : -1);
  if (port < 0) {
    std::fprintf(stderr, "epro_server: cannot listen on 127.0.0.1:%d\n", flags.port);
    return 1;
  }

  std::thread signals([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.stop();  // no new connections; listen_after_bind() returns once requests in flight are answered
  });

  std::printf("listening on 127.0.0.1:%d\n", port);
  std::fflush(stdout);
  server.listen_after_bind();  // returns after stop(), with its worker threads joined

  store->close();
  if (signals.joinable()) {
    // Normal path: the signal thread called stop(). If listen failed on its own,
    // wake the signal thread so it can end.
    pthread_kill(signals.native_handle(), SIGTERM);
    signals.join();
  }
  return 0;
}
