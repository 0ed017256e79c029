// SPDX-License-Identifier: Apache-2.0
// The ePRO service's HTTP/1.1 front end (Boost.Beast on an Asio event loop).
//
// What it guards against (each has a test in tests/epro_test.cpp):
//   - Framing: a request with both Content-Length and Transfer-Encoding, or with a
//     Transfer-Encoding other than exactly `chunked`, gets 400 and the connection
//     is closed (RFC 9112 §6.1, §6.3: the body length would be ambiguous, the
//     classic request-smuggling vector). Malformed requests get 400 and a close.
//   - Slow clients: a deadline for the header (from the connection's start, or from
//     the first byte of a keep-alive request), one for the body, and one for an idle
//     keep-alive connection; a connection past its deadline is closed.
//   - Too many connections: past `max_connections` a new connection gets 503 and is
//     closed at once; the limit stays below the descriptor limit so that accepting
//     never runs out of descriptors. If accept() fails anyway (EMFILE, ENFILE,
//     ENOBUFS, ECONNABORTED, ...), the server waits briefly and accepts again.
//   - `Expect: 100-continue`: answered with 100 before the body is read, or with
//     413 at once when Content-Length is over the limit.
//   - Reads of patient data: with a read token, GET /v1/trials/<id>/submissions
//     needs `Authorization: Bearer <token>` (compared in constant time), else 401.
//   - Wrong methods on known paths: 405 with Allow.
//   - Shutdown (stop()): no new connections; every request whose header was read
//     gets its answer, with `Connection: close`; idle connections are closed.
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace epro {

class Service;

struct HttpOptions {
  std::string bind = "127.0.0.1";
  int port = 8080;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::size_t max_connections = 1000;
  std::string read_token;  // non-empty: reads need it as a bearer token
  bool pooling = true;
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, Service& service, HttpOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting; returns the port. Throws on failure.
  int listen();
  // Stops accepting and lets every connection finish (see above). Any thread.
  void stop();

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace epro
