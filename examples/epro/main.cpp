// epro_server — the ePRO submission service (interface: EPRO.md).
//
//   epro_server [--port N] [--threads N] [--redis=HOST:PORT|none] [--pooling=on|off]
//
// HTTP/1.1 with Boost.Beast on an Asio event loop run by --threads threads. Each
// connection keeps its read buffer, its request body string and its response for
// its whole life, and header fields live on a cistern::PoolResource, so a warm
// connection parses and answers a request without heap allocations of its own
// (with --pooling=off everything in the request path is made per request).
//
// Prints "listening on 127.0.0.1:<port>" once it accepts requests. SIGTERM or
// SIGINT: stops accepting, answers the requests in flight, closes idle
// connections and the pools, and exits 0.
#include <utility>  // before Asio: boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cistern/memory_resource.hpp"
#include "service.hpp"
#include "store.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct Flags {
  int port = 8080;
  int threads = 2;
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
  return std::make_unique<epro::RedisStore>(o, static_cast<std::size_t>(std::max(f.threads, 2)), true);
}

// Sockets with a concrete strand executor: the default, type-erased
// any_io_executor allocates on every prefer() inside Beast's composed operations.
using Strand = asio::strand<asio::io_context::executor_type>;
using Socket = tcp::socket::rebind_executor<Strand>::other;

using FieldAlloc = std::pmr::polymorphic_allocator<char>;
using Fields = http::basic_fields<FieldAlloc>;
using Request = http::request<http::string_body, Fields>;
using Response = http::response<http::string_body, Fields>;
using RequestParser = http::request_parser<http::string_body, FieldAlloc>;

class Server;

// Memory for one asynchronous operation's state at a time, reused by every
// operation of a connection. Beast's async_write allocates its serializer through
// the handler's associated allocator; this keeps that off the heap.
class HandlerMemory {
 public:
  void* allocate(std::size_t n) {
    for (Slot& s : slots_) {
      if (!s.in_use && n <= sizeof s.storage) {
        s.in_use = true;
        return s.storage;
      }
    }
    return ::operator new(n);
  }
  void deallocate(void* p) noexcept {
    for (Slot& s : slots_) {
      if (p == s.storage) {
        s.in_use = false;
        return;
      }
    }
    ::operator delete(p);
  }

 private:
  struct Slot {
    alignas(std::max_align_t) unsigned char storage[2048];
    bool in_use = false;
  };
  Slot slots_[2];  // an operation and the one it nests (Beast's write_msg_op holds a serializer)
};

template <class T>
struct HandlerAllocator {
  using value_type = T;
  explicit HandlerAllocator(HandlerMemory& m) noexcept : memory(&m) {}
  template <class U>
  HandlerAllocator(const HandlerAllocator<U>& other) noexcept : memory(other.memory) {}  // NOLINT: rebinding
  T* allocate(std::size_t n) { return static_cast<T*>(memory->allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { memory->deallocate(p); }
  template <class U>
  bool operator==(const HandlerAllocator<U>& o) const noexcept {
    return memory == o.memory;
  }
  HandlerMemory* memory;
};

// A completion handler that carries a connection's handler memory.
template <class F>
struct WithMemory {
  using allocator_type = HandlerAllocator<char>;
  HandlerMemory* memory;
  F f;
  allocator_type get_allocator() const noexcept { return allocator_type(*memory); }
  template <class... Args>
  void operator()(Args&&... args) {
    f(std::forward<Args>(args)...);
  }
};
template <class F>
WithMemory<F> with_memory(HandlerMemory& m, F f) {
  return WithMemory<F>{&m, std::move(f)};
}

// One connection. Its handlers run on its strand, one at a time.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Socket socket, Server& server);
  void start() { read(); }
  void stop();  // on the strand: close if idle, else after the response in flight

 private:
  void read();
  void on_read(beast::error_code ec);
  void respond(int status, std::string_view body, const char* type, bool keep_alive);
  void on_write(beast::error_code ec, bool keep_alive);
  void close();

  Socket socket_;
  Server& server_;
  beast::flat_buffer buffer_;
  std::string body_;  // the request body's storage, kept between requests
  std::optional<RequestParser> parser_;
  Response response_;
  epro::Reply reply_;
  HandlerMemory read_memory_, write_memory_;
  bool busy_ = false;  // between a complete request and its response written
  bool stopping_ = false;
};

class Server {
 public:
  Server(asio::io_context& io, epro::Service& service, bool pooling)
      : io_(io), acceptor_(io), service_(service), pooling_(pooling) {}

  int listen(int port) {
    tcp::endpoint at(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
    acceptor_.open(at.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    accept();
    return acceptor_.local_endpoint().port();
  }

  // Stops accepting and asks every connection to finish.
  void stop() {
    asio::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
    });
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      for (auto& w : sessions_)
        if (auto s = w.lock()) live.push_back(std::move(s));
    }
    for (auto& s : live) s->stop();
  }

  void forget(Session* s) {
    std::lock_guard lock(mu_);
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (auto p = it->lock(); !p || p.get() == s) {
        sessions_.erase(it);
        return;
      }
    }
  }

  epro::Service& service() { return service_; }
  bool pooling() const { return pooling_; }
  std::pmr::memory_resource* fields_memory() {
    return pooling_ ? static_cast<std::pmr::memory_resource*>(&fields_) : std::pmr::new_delete_resource();
  }

 private:
  void accept() {
    acceptor_.async_accept(asio::make_strand(io_.get_executor()), [this](beast::error_code ec, Socket socket) {
      if (ec) return;  // closed by stop()
      socket.set_option(tcp::no_delay(true));
      auto s = std::make_shared<Session>(std::move(socket), *this);
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        sessions_.push_back(s);
      }
      s->start();
      accept();
    });
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  epro::Service& service_;
  const bool pooling_;
  cistern::PoolResource fields_;  // header fields of every connection's requests and responses
  std::mutex mu_;
  std::vector<std::weak_ptr<Session>> sessions_;
  bool stopping_ = false;
};

Session::Session(Socket socket, Server& server)
    : socket_(std::move(socket)),
      server_(server),
      response_(std::piecewise_construct, std::make_tuple(), std::make_tuple(FieldAlloc(server.fields_memory()))) {}

void Session::stop() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->stopping_ = true;
    if (!self->busy_) self->close();  // idle (or mid-read of a request not yet accepted)
  });
}

void Session::read() {
  if (stopping_) return close();
  if (!server_.pooling()) body_ = std::string();  // pooling off: no storage kept between requests
  body_.clear();
  // forward_as_tuple: the body string is moved in (make_tuple would copy it, and
  // the copy of an empty string has none of its capacity).
  parser_.emplace(std::piecewise_construct, std::forward_as_tuple(std::move(body_)),
                  std::make_tuple(FieldAlloc(server_.fields_memory())));
  parser_->body_limit(epro::kMaxBody);
  auto done = [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); };
  if (server_.pooling()) {
    http::async_read(socket_, buffer_, *parser_, with_memory(read_memory_, std::move(done)));
  } else {
    http::async_read(socket_, buffer_, *parser_, std::move(done));
  }
}

void Session::on_read(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    server_.service().count_status(413);
    return respond(413, "{\"error\":\"body larger than 65536 bytes\",\"field\":\"\"}", "application/json", false);
  }
  if (ec) return close();  // end of stream, a reset, a bad request, or stop()
  busy_ = true;
  if (!server_.pooling()) reply_ = epro::Reply();  // pooling off: nothing kept between requests
  Request& req = parser_->get();
  bool keep_alive = req.keep_alive() && !stopping_;
  std::string_view target(req.target().data(), req.target().size());
  epro::Service& service = server_.service();
  if (req.method() == http::verb::post && target == "/v1/submissions") {
    service.submit(req.body(), reply_);
    respond(reply_.status, reply_.body, reply_.content_type, keep_alive);
  } else if (req.method() == http::verb::get && target.rfind("/v1/trials/", 0) == 0 &&
             target.size() > 23 && target.substr(target.size() - 12) == "/submissions") {
    service.list(target.substr(11, target.size() - 23), reply_);
    respond(reply_.status, reply_.body, reply_.content_type, keep_alive);
  } else if (req.method() == http::verb::get && target == "/metrics") {
    respond(200, service.metrics(), "text/plain; version=0.0.4", keep_alive);
  } else if (req.method() == http::verb::get && target == "/healthz") {
    bool ok = service.healthy();
    respond(ok ? 200 : 503, ok ? "ok" : "store unavailable", "text/plain", keep_alive);
  } else {
    respond(404, "{\"error\":\"not found\",\"field\":\"\"}", "application/json", keep_alive);
  }
}

void Session::respond(int status, std::string_view body, const char* type, bool keep_alive) {
  busy_ = true;
  if (parser_) body_ = std::move(parser_->get().body());  // keep the body storage for the next request
  response_.result(static_cast<http::status>(status));
  response_.version(11);
  response_.set(http::field::content_type, type);
  response_.keep_alive(keep_alive);
  if (!server_.pooling()) response_.body() = std::string();  // pooling off: a fresh body each time
  response_.body().assign(body.data(), body.size());
  response_.prepare_payload();
  auto done = [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
    self->on_write(ec, keep_alive);
  };
  if (server_.pooling()) {
    http::async_write(socket_, response_, with_memory(write_memory_, std::move(done)));
  } else {
    http::async_write(socket_, response_, std::move(done));
  }
}

void Session::on_write(beast::error_code ec, bool keep_alive) {
  busy_ = false;
  if (ec || !keep_alive || stopping_) return close();
  read();
}

void Session::close() {
  beast::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  socket_.close(ignored);
  server_.forget(this);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags = parse_flags(argc, argv);

  std::unique_ptr<epro::Store> store = make_store(flags);
  epro::Service service(*store, flags.pooling);

  asio::io_context io(flags.threads);
  Server server(io, service, flags.pooling);
  int port;
  try {
    port = server.listen(flags.port);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "epro_server: cannot listen on 127.0.0.1:%d: %s\n", flags.port, e.what());
    return 1;
  }

  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](beast::error_code ec, int) {
    if (!ec) server.stop();  // requests in flight are answered; then run() runs out of work
  });
  std::signal(SIGPIPE, SIG_IGN);

  std::printf("listening on 127.0.0.1:%d\n", port);
  std::fflush(stdout);

  std::vector<std::thread> threads;
  for (int i = 1; i < flags.threads; ++i) threads.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : threads) t.join();

  store->close();
  return 0;
}
