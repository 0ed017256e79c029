// SPDX-License-Identifier: Apache-2.0
#include "service.hpp"

#include <cstdio>
#include <memory>

#include "cistern/metrics.hpp"
#include "cistern/testing/alloc_counter.hpp"
#include "codec.hpp"

namespace epro {
namespace {

template <class Out>
void error_json(std::string_view error, std::string_view field, Out& out) {
  out.append("{\"error\":");
  write_json_string(error, out);
  out.append(",\"field\":");
  write_json_string(field, out);
  out.push_back('}');
}

// std::string with the append/push_back the writers need (it has both already).
using PlainOut = std::string;

}  // namespace

Service::Service(Store& store, bool pooling)
    : store_(store),
      pooling_(pooling),
      submissions_({.name = pooling ? "epro_submissions" : ""}),
      // A parser holds no document between parses (each iterate() starts over on
      // the new input): its buffers are kept on purpose, so the explicit opt-out.
      parsers_({.reset = cistern::keep_as_is, .name = pooling ? "epro_parsers" : ""}),
      buffers_({.name = pooling ? "epro_buffers" : ""}) {}

void Service::count(int status, double seconds) {
  for (std::size_t i = 0; i < kStatuses.size(); ++i) {
    if (kStatuses[i] == status || i + 1 == kStatuses.size()) {
      by_status_[i].fetch_add(1, std::memory_order_relaxed);  // a statistic
      break;
    }
  }
  if (seconds <= 0) return;
  std::size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  latency_[b].fetch_add(1, std::memory_order_relaxed);  // a statistic
  latency_sum_us_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void Service::submit(std::string_view body, Reply& reply) {
  auto start = std::chrono::steady_clock::now();
  auto before = cistern::testing::thread_alloc_counts();
  if (body.size() > kMaxBody) {
    reply.status = 413;
    reply.body = "{\"error\":\"body larger than 65536 bytes\",\"field\":\"\"}";
  } else {
    bool measured = pooling_ ? submit_pooled(body, reply) : submit_plain(body, reply);
    if (measured) {
      auto made = cistern::testing::thread_alloc_counts() - before;
      handled_.fetch_add(1, std::memory_order_relaxed);  // statistics
      handler_allocations_.fetch_add(made.allocations, std::memory_order_relaxed);
      handler_bytes_.fetch_add(made.bytes, std::memory_order_relaxed);
    }
  }
  count(reply.status, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

template <class Out>
void Service::accepted(const PatientSubmission& s, std::string_view json, Out& scratch, Reply& reply) {
  EntryId id;
  try {
    store_.append(s.trial_id, s.patient_id, json, id);
  } catch (const StoreUnavailable& e) {
    reply.status = 503;
    scratch.clear();
    error_json(e.what(), "", scratch);
    reply.body.assign(scratch.data(), scratch.size());
    return;
  }
  scratch.clear();
  scratch.append("{\"submissionId\":\"");
  scratch.append(s.trial_id);
  scratch.push_back('-');
  scratch.append(id.view());
  scratch.append("\"}");
  reply.status = 202;
  reply.body.assign(scratch.data(), scratch.size());
}

// Returns true for a 202 or 503 (the path whose allocations are measured).
bool Service::submit_pooled(std::string_view body, Reply& reply) {
  cistern::Buffer in = buffers_.get(body.size() + simdjson::SIMDJSON_PADDING);
  in.append(body);
  cistern::Lease<PatientSubmission> s = submissions_.get();
  cistern::Lease<simdjson::ondemand::parser> parser = parsers_.get();
  ParseError err;
  if (!parse_submission(*parser, in.data(), in.size(), in.capacity(), *s, err)) {
    reply.status = 400;
    reply.body.clear();
    error_json(err.error, err.field, reply.body);
    return false;
  }
  cistern::Buffer json = buffers_.get();
  write_submission(*s, json);
  cistern::Buffer scratch = buffers_.get(256);
  accepted(*s, json.view(), scratch, reply);
  return true;
}

bool Service::submit_plain(std::string_view body, Reply& reply) {
  simdjson::padded_string in(body);
  auto s = std::make_unique<PatientSubmission>();
  auto parser = std::make_unique<simdjson::ondemand::parser>();
  ParseError err;
  if (!parse_submission(*parser, in.data(), in.size(), in.size() + simdjson::SIMDJSON_PADDING, *s, err)) {
    reply.status = 400;
    reply.body.clear();
    error_json(err.error, err.field, reply.body);
    return false;
  }
  std::string json;
  write_submission(*s, json);
  std::string scratch;
  accepted(*s, json, scratch, reply);
  return true;
}

void Service::list(std::string_view trial, Reply& reply) {
  reply.body.clear();
  try {
    store_.list(trial, reply.body);
    reply.status = 200;
  } catch (const StoreUnavailable& e) {
    reply.body.clear();
    error_json(e.what(), "", reply.body);
    reply.status = 503;
  }
}

std::string Service::metrics() const {
  std::string out = cistern::metrics_text();
  char line[1024];
  out += "# HELP epro_requests_total Submission requests answered, by status.\n";
  out += "# TYPE epro_requests_total counter\n";
  for (std::size_t i = 0; i < kStatuses.size(); ++i) {
    std::snprintf(line, sizeof line, "epro_requests_total{status=\"%d\"} %llu\n", kStatuses[i],
                  static_cast<unsigned long long>(by_status_[i].load(std::memory_order_relaxed)));
    out += line;
  }
  out += "# HELP epro_request_duration_seconds Time to handle a submission (parse, validate, store).\n";
  out += "# TYPE epro_request_duration_seconds histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b <= kBuckets.size(); ++b) {
    cumulative += latency_[b].load(std::memory_order_relaxed);
    if (b < kBuckets.size()) {
      std::snprintf(line, sizeof line, "epro_request_duration_seconds_bucket{le=\"%g\"} %llu\n", kBuckets[b],
                    static_cast<unsigned long long>(cumulative));
    } else {
      std::snprintf(line, sizeof line, "epro_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                    static_cast<unsigned long long>(cumulative));
    }
    out += line;
  }
  std::snprintf(line, sizeof line, "epro_request_duration_seconds_sum %.6f\nepro_request_duration_seconds_count %llu\n",
                static_cast<double>(latency_sum_us_.load(std::memory_order_relaxed)) / 1e6,
                static_cast<unsigned long long>(cumulative));
  out += line;
  auto total = cistern::testing::total_alloc_counts();
  std::snprintf(line, sizeof line,
                "# HELP epro_handled_submissions_total Submissions parsed, validated and stored (202 or 503).\n"
                "# TYPE epro_handled_submissions_total counter\n"
                "epro_handled_submissions_total %llu\n"
                "# HELP epro_handler_allocations_total Heap allocations made while handling them.\n"
                "# TYPE epro_handler_allocations_total counter\n"
                "epro_handler_allocations_total %llu\n",
                static_cast<unsigned long long>(handled_.load(std::memory_order_relaxed)),
                static_cast<unsigned long long>(handler_allocations_.load(std::memory_order_relaxed)));
  out += line;
  std::snprintf(line, sizeof line,
                "# HELP epro_handler_allocated_bytes_total Bytes allocated while handling them.\n"
                "# TYPE epro_handler_allocated_bytes_total counter\n"
                "epro_handler_allocated_bytes_total %llu\n"
                "# HELP epro_process_allocations_total Heap allocations of the whole process.\n"
                "# TYPE epro_process_allocations_total counter\n"
                "epro_process_allocations_total %llu\n",
                static_cast<unsigned long long>(handler_bytes_.load(std::memory_order_relaxed)),
                static_cast<unsigned long long>(total.allocations));
  out += line;
  std::snprintf(line, sizeof line,
                "# HELP epro_process_allocated_bytes_total Bytes allocated by the whole process.\n"
                "# TYPE epro_process_allocated_bytes_total counter\n"
                "epro_process_allocated_bytes_total %llu\n"
                "# HELP epro_pooling Whether the request path uses cistern's pools (1) or new (0).\n"
                "# TYPE epro_pooling gauge\n"
                "epro_pooling %d\n"
                "# HELP epro_store_bytes Memory holding stored submissions in this process (in-memory store).\n"
                "# TYPE epro_store_bytes gauge\n"
                "epro_store_bytes %llu\n",
                static_cast<unsigned long long>(total.bytes), pooling_ ? 1 : 0,
                static_cast<unsigned long long>(store_.bytes_held()));
  out += line;
  return out;
}

}  // namespace epro
