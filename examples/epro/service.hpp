// SPDX-License-Identifier: Apache-2.0
// The request handling of the ePRO service, independent of HTTP (so tests can
// call it directly): POST /v1/submissions, GET /v1/trials/<id>/submissions,
// /metrics and /healthz.
//
// With pooling on, every object in the request path comes from a cistern pool:
// the body copy and the output JSON are BufferPool buffers, the parsed
// PatientSubmission is a Pool<T> object (reset on return), and the simdjson
// parser is pooled too. With pooling off, each of them is made with new and freed
// after the request, as a service without pooling would. (Redis connections stay
// pooled in both modes: without a pool the comparison would measure TCP connects.)
#pragma once

#include <simdjson.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "cistern/buffer.hpp"
#include "cistern/pool.hpp"
#include "store.hpp"
#include "submission.hpp"

namespace epro {

inline constexpr std::size_t kMaxBody = 65536;

struct Reply {
  int status = 200;
  std::string body;
  const char* content_type = "application/json";
};

class Service {
 public:
  Service(Store& store, bool pooling);

  // POST /v1/submissions. Writes status and body into `reply`.
  void submit(std::string_view body, Reply& reply);
  // GET /v1/trials/<trial>/submissions.
  void list(std::string_view trial, Reply& reply);
  // GET /metrics: every pool, requests by status, latency, allocations.
  std::string metrics() const;
  bool healthy() { return store_.healthy(); }
  bool pooling() const { return pooling_; }

  // Counts a request answered by the HTTP layer itself (bad framing, 401, 404,
  // 405, 413, 431, 503 past the connection limit).
  void count_status(int status) { count(status, 0); }

 private:
  bool submit_pooled(std::string_view body, Reply& reply);
  bool submit_plain(std::string_view body, Reply& reply);
  template <class Out>
  void accepted(const PatientSubmission& s, std::string_view json, Out& scratch, Reply& reply);
  void count(int status, double seconds);

  Store& store_;
  const bool pooling_;
  cistern::Pool<PatientSubmission> submissions_;
  cistern::Pool<simdjson::ondemand::parser> parsers_;
  cistern::BufferPool buffers_;

  // Statistics (relaxed atomics: counters read by /metrics).
  static constexpr std::array<int, 9> kStatuses{202, 400, 401, 404, 405, 413, 431, 503, 500};
  std::array<std::atomic<std::uint64_t>, kStatuses.size()> by_status_{};
  static constexpr std::array<double, 12> kBuckets{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                   0.005,   0.01,   0.025,   0.05,   0.1,   1.0};
  std::array<std::atomic<std::uint64_t>, kBuckets.size() + 1> latency_{};
  std::atomic<std::uint64_t> latency_sum_us_{0};
  std::atomic<std::uint64_t> handled_{0}, handler_allocations_{0}, handler_bytes_{0};
};

}  // namespace epro
