// SPDX-License-Identifier: Apache-2.0
// The ePRO service's HTTP front end; see http_server.hpp for what it guards against.
//
// Each connection keeps its read buffer, its request body string and its response
// for its whole life, and header fields live on a cistern::PoolResource, so a warm
// connection parses and answers a request without heap allocations of its own
// (with pooling off everything in the request path is made per request).
#include "http_server.hpp"

#include <utility>  // before Asio: boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "cistern/memory_resource.hpp"
#include "service.hpp"

namespace epro {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Sockets with a concrete strand executor: the default, type-erased
// any_io_executor allocates on every prefer() inside Beast's composed operations.
using Strand = asio::strand<asio::io_context::executor_type>;
using Socket = tcp::socket::rebind_executor<Strand>::other;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, Strand>;

using FieldAlloc = std::pmr::polymorphic_allocator<char>;
using Fields = http::basic_fields<FieldAlloc>;
using Request = http::request<http::string_body, Fields>;
using Response = http::response<http::string_body, Fields>;
using RequestParser = http::request_parser<http::string_body, FieldAlloc>;

constexpr std::size_t kHeaderLimit = 16 * 1024;
// Room for one read: a typical request (header and a few KB of body) arrives in
// one recv() instead of Beast's default of 512 bytes per read (ten system calls
// and reactor turns for a 4.7 KB submission).
constexpr std::size_t kReadSize = 16 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr const char* kJson = "application/json";

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
  explicit HandlerAllocator(HandlerMemory* m) noexcept : memory(m) {}
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
  allocator_type get_allocator() const noexcept { return allocator_type(memory); }
  template <class... Args>
  void operator()(Args&&... args) {
    f(std::forward<Args>(args)...);
  }
};
template <class F>
WithMemory<F> with_memory(HandlerMemory& m, F f) {
  return WithMemory<F>{&m, std::move(f)};
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Constant-time comparison of a presented token with the expected one (the time
// depends on the lengths only).
bool same_secret(std::string_view given, std::string_view expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ expected[i % (expected.empty() ? 1 : expected.size())]);
  return diff == 0 && !expected.empty();
}

// The routes, by path alone (the method is checked separately, for 405).
enum class Route { submit, list, metrics, healthz, none };
struct Target {
  Route route = Route::none;
  std::string_view trial;  // for Route::list
};
Target route_of(std::string_view target) {
  if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  constexpr std::string_view kTrials = "/v1/trials/", kSubmissions = "/submissions";
  if (target == "/v1/submissions") return {Route::submit, {}};
  if (target == "/metrics") return {Route::metrics, {}};
  if (target == "/healthz") return {Route::healthz, {}};
  if (target.starts_with(kTrials) && target.ends_with(kSubmissions) &&
      target.size() > kTrials.size() + kSubmissions.size()) {
    std::string_view trial = target.substr(kTrials.size(), target.size() - kTrials.size() - kSubmissions.size());
    if (trial.find('/') == std::string_view::npos) return {Route::list, trial};
  }
  return {};
}
http::verb method_of(Route r) { return r == Route::submit ? http::verb::post : http::verb::get; }
const char* allow_of(Route r) { return r == Route::submit ? "POST" : "GET"; }

// Beast's parse errors that mean "this is not valid HTTP" (answered 400), as
// opposed to the peer going away or our own cancellation (no answer).
bool is_bad_request(beast::error_code ec) {
  if (ec.category() != http::make_error_code(http::error::bad_method).category()) return false;
  return ec != http::error::end_of_stream && ec != http::error::partial_message && ec != http::error::need_more &&
         ec != http::error::body_limit && ec != http::error::header_limit;
}

}  // namespace

class Session;

class HttpServer::Impl : public std::enable_shared_from_this<HttpServer::Impl> {
 public:
  Impl(asio::io_context& io, Service& service, HttpOptions options)
      : io_(io), acceptor_(io), retry_(io), service_(service), options_(std::move(options)) {}

  int listen() {
    tcp::endpoint at(asio::ip::make_address(options_.bind), static_cast<unsigned short>(options_.port));
    acceptor_.open(at.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    accept();
    return acceptor_.local_endpoint().port();
  }

  void stop();
  void forget(Session* s);

  Service& service() { return service_; }
  const HttpOptions& options() const { return options_; }
  std::pmr::memory_resource* fields_memory() {
    return options_.pooling ? static_cast<std::pmr::memory_resource*>(&fields_) : std::pmr::new_delete_resource();
  }

 private:
  void accept();
  void on_accept(beast::error_code ec, Socket socket);
  void refuse(Socket& socket);
  void accept_later(beast::error_code ec);

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_;  // accept() again after a transient failure
  Service& service_;
  const HttpOptions options_;
  cistern::PoolResource fields_;  // header fields of every connection's requests and responses
  std::mutex mu_;
  std::vector<std::weak_ptr<Session>> sessions_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point last_accept_report_{};
};

// One connection. Its handlers run on its strand, one at a time.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Socket socket, HttpServer::Impl& server);
  void start() {  // from the acceptor: moves onto the connection's strand first
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      if (self->stopping_) return self->close();
      self->arm(self->server_.options().header_timeout);  // a new connection sends its request promptly
      self->read_header();
    });
  }
  void stop();  // any thread: finish the request in hand (if any), then close

 private:
  enum class Phase { idle, header, body, busy, closed };

  void wait_for_request();
  void read_header();
  void on_header(beast::error_code ec);
  void read_body();
  void on_body(beast::error_code ec);
  void dispatch();
  bool authorized(const Request& req) const;
  void respond(int status, std::string_view body, const char* type, bool keep_alive, const char* allow = nullptr,
               bool challenge = false);
  void on_write(beast::error_code ec, bool keep_alive);
  void fail_request(beast::error_code ec);
  void arm(std::chrono::milliseconds timeout);
  void wait_deadline();
  void disarm() { deadline_at_ = std::chrono::steady_clock::time_point::max(); }
  void close();

  // The pooling switch of a connection, in one place. On: the connection keeps its
  // body, reply and response storage between requests, and each asynchronous
  // operation's state lives in the connection's handler memory. Off: all of that is
  // made afresh for every request, and operations allocate as Asio and Beast do by
  // default, as in a server without reuse.
  template <class F, class Start>
  void start(HandlerMemory& memory, F f, Start op) {
    if (server_.options().pooling) {
      op(with_memory(memory, std::move(f)));
    } else {
      op(std::move(f));
    }
  }
  void start_request_storage() {
    if (server_.options().pooling) return;
    body_ = std::string();
    reply_ = Reply();
    response_.body() = std::string();
  }

  Socket socket_;
  Timer timer_;
  HttpServer::Impl& server_;
  beast::flat_buffer buffer_;
  std::string body_;  // the request body's storage, kept between requests
  std::optional<RequestParser> parser_;
  Target target_;
  Response response_;
  Reply reply_;
  HandlerMemory read_memory_, write_memory_, timer_memory_;
  Phase phase_ = Phase::header;
  std::chrono::steady_clock::time_point deadline_at_ = std::chrono::steady_clock::time_point::max();
  bool timer_waiting_ = false;
  std::uint64_t wait_generation_ = 0;
  bool stopping_ = false;
};

// ---------------------------------------------------------------------------
// Accepting

void HttpServer::Impl::accept() {
  acceptor_.async_accept(asio::make_strand(io_.get_executor()),
                         [self = shared_from_this()](beast::error_code ec, Socket socket) {
                           self->on_accept(ec, std::move(socket));
                         });
}

void HttpServer::Impl::on_accept(beast::error_code ec, Socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;  // closed by stop()
  if (ec) return accept_later(ec);
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::shared_ptr<Session> s;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (sessions_.size() >= options_.max_connections) {
      s = nullptr;
    } else {
      s = std::make_shared<Session>(std::move(socket), *this);
      sessions_.push_back(s);
    }
  }
  if (s) {
    s->start();
  } else {
    refuse(socket);
  }
  accept();
}

// Past the connection limit: one short 503 written without waiting (it fits in
// the socket's send buffer), then the descriptor is given back at once.
void HttpServer::Impl::refuse(Socket& socket) {
  static const std::string k503 = [] {
    std::string body = "{\"error\":\"too many connections\",\"field\":\"\"}";
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  beast::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.write_some(asio::buffer(k503.data(), k503.size()), ignored);
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
  service_.count_status(503);
}

// accept() failed with the listening socket still open: out of descriptors
// (EMFILE, ENFILE), of buffers (ENOBUFS, ENOMEM), or the peer gave up
// (ECONNABORTED). All pass; returning here would stop the service for good.
void HttpServer::Impl::accept_later(beast::error_code ec) {
  auto now = std::chrono::steady_clock::now();
  if (now - last_accept_report_ > std::chrono::seconds(1)) {
    last_accept_report_ = now;
    std::fprintf(stderr, "epro_server: accept failed (%s); accepting again in 50 ms\n", ec.message().c_str());
  }
  retry_.expires_after(ec == asio::error::connection_aborted ? std::chrono::milliseconds(0)
                                                             : std::chrono::milliseconds(50));
  retry_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
    if (!wait_ec && self->acceptor_.is_open()) self->accept();
  });
}

void HttpServer::Impl::stop() {
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_.cancel();
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

void HttpServer::Impl::forget(Session* s) {
  std::lock_guard lock(mu_);
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
    if (auto p = it->lock(); !p || p.get() == s) {
      *it = std::move(sessions_.back());
      sessions_.pop_back();
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// One connection

Session::Session(Socket socket, HttpServer::Impl& server)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      server_(server),
      response_(std::piecewise_construct, std::make_tuple(), std::make_tuple(FieldAlloc(server.fields_memory()))) {
  buffer_.reserve(kReadSize);
}

void Session::stop() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->stopping_ = true;
    // Waiting for a request, or for the rest of its header: cancel the read. A read
    // that has already completed still delivers its request, which is answered.
    if (self->phase_ == Phase::idle || self->phase_ == Phase::header) {
      beast::error_code ignored;
      self->socket_.cancel(ignored);
    }
    // Reading a body or answering: the request is answered, then the connection closes.
  });
}

// One timer per connection. Moving the deadline (every phase of every request)
// only writes deadline_at_: the timer wakes at least every shortest-timeout and
// re-waits if the deadline moved on, so a warm connection starts no timer
// operation per request (at most one wake-up per half the shortest timeout).
void Session::arm(std::chrono::milliseconds timeout) {
  deadline_at_ = std::chrono::steady_clock::now() + timeout;
  if (!timer_waiting_ || deadline_at_ < timer_.expiry()) wait_deadline();
}

void Session::wait_deadline() {
  std::uint64_t generation = ++wait_generation_;
  timer_waiting_ = true;
  // Never further out than half the shortest timeout: a deadline set later (a
  // phase's) then falls after this expiry and needs no re-arm, and an idle
  // connection's first byte is noticed within that time.
  const HttpOptions& o = server_.options();
  auto shortest = std::min({o.header_timeout, o.body_timeout, o.idle_timeout}) / 2;
  timer_.expires_at(std::min(deadline_at_, std::chrono::steady_clock::now() + shortest));  // cancels a pending
                                                                                             // wait (old generation)
  timer_.async_wait(with_memory(timer_memory_, [self = shared_from_this(), generation](beast::error_code ec) {
    if (generation != self->wait_generation_) return;  // superseded by a nearer deadline
    self->timer_waiting_ = false;
    if (ec || self->phase_ == Phase::closed) return;
    auto now = std::chrono::steady_clock::now();
    if (self->phase_ == Phase::idle && self->parser_ && self->parser_->got_some()) {
      self->phase_ = Phase::header;  // the next request began: its header has header_timeout from now
      self->deadline_at_ = std::min(self->deadline_at_, now + self->server_.options().header_timeout);
    }
    if (now < self->deadline_at_) return self->wait_deadline();  // moved on
    beast::error_code ignored;
    self->socket_.cancel(ignored);  // the pending read or write ends and the connection closes
    self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
  }));
}

// Between keep-alive requests: the next header is read at once, under the idle
// deadline; the first timer wake-up that finds some of it received (Beast's
// got_some()) switches to the header deadline. So a keep-alive request's header
// must be complete within header_timeout of that wake-up: at most half the
// shortest timeout after its first byte. (Waiting for readability first would
// cost an extra reactor round trip on every request, about 4% of throughput.)
void Session::wait_for_request() {
  if (stopping_) return close();
  if (buffer_.size() > 0) {  // pipelined: the next request is already here
    arm(server_.options().header_timeout);
    return read_header();
  }
  arm(server_.options().idle_timeout);
  read_header();
  phase_ = Phase::idle;
}

void Session::read_header() {
  phase_ = Phase::header;
  start_request_storage();
  body_.clear();
  // forward_as_tuple: the body string is moved in (make_tuple would copy it, and
  // the copy of an empty string has none of its capacity).
  parser_.emplace(std::piecewise_construct, std::forward_as_tuple(std::move(body_)),
                  std::make_tuple(FieldAlloc(server_.fields_memory())));
  parser_->body_limit(kMaxBody);
  parser_->header_limit(kHeaderLimit);
  start(
      read_memory_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); },
      [this](auto h) { http::async_read_header(socket_, buffer_, *parser_, std::move(h)); });
}

void Session::on_header(beast::error_code ec) {
  disarm();
  if (ec) return fail_request(ec);
  Request& req = parser_->get();
  // Framing (RFC 9112 §6.1, §6.3): the only coding accepted is a lone `chunked`,
  // and never together with Content-Length.
  std::size_t te_fields = 0;
  bool te_ok = true;
  for (auto it = req.find(http::field::transfer_encoding);
       it != req.end() && it->name() == http::field::transfer_encoding; ++it) {
    ++te_fields;
    te_ok = te_ok && iequals(trim(std::string_view(it->value().data(), it->value().size())), "chunked");
  }
  if (te_fields > 1) te_ok = false;
  if (te_fields > 0 && (!te_ok || req.count(http::field::content_length) > 0)) {
    server_.service().count_status(400);
    return respond(400, "{\"error\":\"unsupported or ambiguous Transfer-Encoding\",\"field\":\"\"}", kJson, false);
  }
  target_ = route_of(std::string_view(req.target().data(), req.target().size()));
  auto length = parser_->content_length();
  if (target_.route == Route::submit && req.method() == http::verb::post && length && *length > kMaxBody) {
    server_.service().count_status(413);
    return respond(413, "{\"error\":\"body larger than 65536 bytes\",\"field\":\"\"}", kJson, false);
  }
  // The body usually came in the same segments as the header: parse what is
  // already buffered first, and start an asynchronous read only for the rest.
  for (int step = 0; step < 64 && buffer_.size() > 0 && !parser_->is_done(); ++step) {
    beast::error_code pec;
    std::size_t used = parser_->put(buffer_.data(), pec);
    buffer_.consume(used);
    if (pec == http::error::need_more) break;
    if (pec) return fail_request(pec);
    if (used == 0) break;
  }
  if (parser_->is_done()) return dispatch();
  auto expect = req[http::field::expect];
  if (iequals(trim(std::string_view(expect.data(), expect.size())), "100-continue")) {
    phase_ = Phase::body;
    arm(server_.options().body_timeout);
    asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                      with_memory(write_memory_, [self = shared_from_this()](beast::error_code wec, std::size_t) {
                        if (wec) return self->close();
                        self->read_body();
                      }));
    return;
  }
  arm(server_.options().body_timeout);
  read_body();
}

void Session::read_body() {
  phase_ = Phase::body;
  start(
      read_memory_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); },
      [this](auto h) { http::async_read(socket_, buffer_, *parser_, std::move(h)); });
}

void Session::on_body(beast::error_code ec) {
  disarm();
  if (ec) return fail_request(ec);
  dispatch();
}

// A read that ended without a request: answer what deserves an answer, close.
void Session::fail_request(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    server_.service().count_status(413);
    return respond(413, "{\"error\":\"body larger than 65536 bytes\",\"field\":\"\"}", kJson, false);
  }
  if (ec == http::error::header_limit) {
    server_.service().count_status(431);
    return respond(431, "{\"error\":\"request header fields too large\",\"field\":\"\"}", kJson, false);
  }
  if (is_bad_request(ec)) {
    server_.service().count_status(400);
    return respond(400, "{\"error\":\"malformed HTTP request\",\"field\":\"\"}", kJson, false);
  }
  close();  // end of stream, a reset, a deadline, or stop()
}

bool Session::authorized(const Request& req) const {
  const std::string& token = server_.options().read_token;
  if (token.empty()) return true;
  auto auth = req[http::field::authorization];
  std::string_view a(auth.data(), auth.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (a.size() <= kBearer.size() || !iequals(a.substr(0, kBearer.size()), kBearer)) return false;
  return same_secret(trim(a.substr(kBearer.size())), token);
}

void Session::dispatch() {
  phase_ = Phase::busy;
  Request& req = parser_->get();
  const bool keep_alive = req.keep_alive();
  Service& service = server_.service();
  if (target_.route == Route::none) {
    service.count_status(404);
    return respond(404, "{\"error\":\"not found\",\"field\":\"\"}", kJson, keep_alive);
  }
  if (req.method() != method_of(target_.route)) {
    service.count_status(405);
    return respond(405, "{\"error\":\"method not allowed\",\"field\":\"\"}", kJson, keep_alive,
                   allow_of(target_.route));
  }
  switch (target_.route) {
    case Route::submit:
      service.submit(req.body(), reply_);
      return respond(reply_.status, reply_.body, reply_.content_type, keep_alive);
    case Route::list:
      if (!authorized(req)) {
        service.count_status(401);
        return respond(401, "{\"error\":\"a valid bearer token is required\",\"field\":\"\"}", kJson, keep_alive,
                       nullptr, true);
      }
      service.list(target_.trial, reply_);
      return respond(reply_.status, reply_.body, reply_.content_type, keep_alive);
    case Route::metrics:
      return respond(200, service.metrics(), "text/plain; version=0.0.4", keep_alive);
    case Route::healthz: {
      bool ok = service.healthy();
      return respond(ok ? 200 : 503, ok ? "ok" : "store unavailable", "text/plain", keep_alive);
    }
    case Route::none:
      break;
  }
}

void Session::respond(int status, std::string_view body, const char* type, bool keep_alive, const char* allow,
                      bool challenge) {
  phase_ = Phase::busy;
  keep_alive = keep_alive && !stopping_;  // after stop(): this answer, then close
  if (parser_) body_ = std::move(parser_->get().body());  // keep the body storage for the next request
  response_.result(static_cast<http::status>(status));
  response_.version(11);
  response_.set(http::field::content_type, type);
  if (allow != nullptr) {
    response_.set(http::field::allow, allow);
  } else {
    response_.erase(http::field::allow);
  }
  if (challenge) {
    response_.set(http::field::www_authenticate, "Bearer");
  } else {
    response_.erase(http::field::www_authenticate);
  }
  response_.keep_alive(keep_alive);
  response_.body().assign(body.data(), body.size());
  response_.prepare_payload();
  arm(server_.options().body_timeout);  // a client that does not read its answer is not waited for forever
  start(
      write_memory_,
      [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) { self->on_write(ec, keep_alive); },
      [this](auto h) { http::async_write(socket_, response_, std::move(h)); });
}

void Session::on_write(beast::error_code ec, bool keep_alive) {
  disarm();
  if (ec || !keep_alive || stopping_) return close();
  wait_for_request();
}

void Session::close() {
  if (phase_ == Phase::closed) return;
  phase_ = Phase::closed;
  disarm();
  beast::error_code ignored;
  timer_.cancel();
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  socket_.close(ignored);
  server_.forget(this);
}

// ---------------------------------------------------------------------------

HttpServer::HttpServer(asio::io_context& io, Service& service, HttpOptions options)
    : impl_(std::make_shared<Impl>(io, service, std::move(options))) {}
HttpServer::~HttpServer() = default;
int HttpServer::listen() { return impl_->listen(); }
void HttpServer::stop() { impl_->stop(); }

}  // namespace epro
