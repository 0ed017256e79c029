// SPDX-License-Identifier: Apache-2.0
// The ePRO service: request handling without a network, then the real binary
// over loopback with a real redis-server.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "epro_process.hpp"
#include "redis_server.hpp"
#include "codec.hpp"
#include "service.hpp"
#include "store.hpp"

namespace {

std::string sample(const std::string& trial = "ONC-2024-01", const std::string& patient = "P-1", int answers = 3,
                   bool optional = true, int seed = 0) {
  std::string a;
  for (int i = 0; i < answers; ++i) {
    if (i > 0) a += ",";
    if ((i + seed) % 3 == 2) {
      a += "{\"itemId\":\"Q" + std::to_string(i) + "\",\"text\":\"note " + std::to_string(seed) + " for " + patient +
           "\",\"answeredAt\":\"2026-11-22T08:14:0" + std::to_string(i % 10) + "Z\"}";
    } else {
      a += "{\"itemId\":\"Q" + std::to_string(i) + "\",\"value\":" + std::to_string((i * 7 + seed) % 1000) +
           ",\"answeredAt\":\"2026-11-22T08:14:0" + std::to_string(i % 10) + "Z\"}";
    }
  }
  std::string s = "{\"trialId\":\"" + trial + "\",\"siteId\":\"site-" + std::to_string(seed % 9) +
                  "\",\"patientId\":\"" + patient +
                  "\",\"visit\":{\"id\":\"W" + std::to_string(seed % 12) + "\",\"number\":" + std::to_string(seed % 999) +
                  ",\"scheduledAt\":\"2026-11-20T09:00:00Z\"},\"instrument\":{\"id\":\"EQ-5D-5L\",\"version\":\"2.1\","
                  "\"language\":\"en-GB\"},\"device\":{\"platform\":\"android\",\"osVersion\":\"14\",\"appVersion\":\"3.2." +
                  std::to_string(seed % 10) + "\",\"model\":\"Pixel 8\"},\"submittedAt\":\"2026-11-22T08:15:30Z\","
                  "\"timezone\":\"Europe/Berlin\",\"consentVersion\":\"v3\",\"answers\":[" + a + "]";
  if (optional) s += ",\"painScore\":" + std::to_string(seed % 11) + ",\"notes\":\"" + patient + " notes\",\"flags\":[\"late\"]";
  return s + "}";
}

// Replaces the first occurrence of `from` in s.
std::string with(std::string s, const std::string& from, const std::string& to) {
  auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

class EproService : public ::testing::TestWithParam<bool> {
 protected:
  epro::MemoryStore store;
  epro::Service service{store, GetParam()};
  epro::Reply submit(const std::string& body) {
    epro::Reply r;
    service.submit(body, r);
    return r;
  }
  std::string listed(const std::string& trial) {
    epro::Reply r;
    service.list(trial, r);
    return r.body;
  }
};

TEST_P(EproService, ValidSubmissionIsStoredCompactlyWithExactlyItsFields) {
  std::string body = sample();
  epro::Reply r = submit(body);
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.body.rfind("{\"submissionId\":\"ONC-2024-01-", 0), 0u) << r.body;
  std::string list = listed("ONC-2024-01");
  EXPECT_NE(list.find("\"patientId\":\"P-1\",\"submission\":" + body + "}"), std::string::npos) << list;
  EXPECT_EQ(listed("OTHER-1"), "[]");
}

TEST_P(EproService, UnknownFieldsAreIgnoredAndOptionalOnesOmitted) {
  std::string body = sample("ONC-2024-01", "P-2", 2, false);
  std::string noisy = with(body, "\"siteId\"", "\"extra\":{\"nested\":[1,2,{\"x\":null}]},\"siteId\"");
  ASSERT_EQ(submit(noisy).status, 202);
  std::string list = listed("ONC-2024-01");
  EXPECT_NE(list.find("\"submission\":" + body + "}"), std::string::npos) << list;
  EXPECT_EQ(list.find("painScore"), std::string::npos);
  EXPECT_EQ(list.find("extra"), std::string::npos);
}

struct Invalid {
  std::string from, to, error, field;
};

TEST_P(EproService, EachKindOfInvalidInputIsA400NamingTheField) {
  const std::string body = sample();
  const std::vector<Invalid> cases = {
      {"\"trialId\":\"ONC-2024-01\",", "", "missing required field", "trialId"},
      {"\"trialId\":\"ONC-2024-01\"", "\"trialId\":42", "must be a string", "trialId"},
      {"\"trialId\":\"ONC-2024-01\"", "\"trialId\":\"onc\"", "A-Z, 0-9 and -", "trialId"},
      {"\"patientId\":\"P-1\"", "\"patientId\":\"P 1\"", "A-Z, a-z, 0-9 and -", "patientId"},
      {"\"number\":0", "\"number\":1000", "between 0 and 999", "visit.number"},
      {"\"number\":0", "\"number\":1.5", "must be an integer", "visit.number"},
      {"\"scheduledAt\":\"2026-11-20T09:00:00Z\"", "\"scheduledAt\":\"2026-02-30T09:00:00Z\"", "RFC 3339", "visit.scheduledAt"},
      {"\"platform\":\"android\"", "\"platform\":\"windows\"", "one of ios, android, web", "device.platform"},
      {"\"language\":\"en-GB\"", "\"language\":\"e\"", "2 to 16 characters", "instrument.language"},
      {"\"submittedAt\":\"2026-11-22T08:15:30Z\"", "\"submittedAt\":\"2026-11-22 08:15:30\"", "RFC 3339", "submittedAt"},
      {"\"value\":0", "\"value\":1001", "between -1000 and 1000", "answers[0].value"},
      {"\"value\":0,", "\"value\":0,\"text\":\"both\",", "exactly one of value and text", "answers[0]"},
      {"\"itemId\":\"Q1\"", "\"itemId\":\"Q0\"", "duplicate itemId", "answers[1].itemId"},
      {"\"painScore\":0", "\"painScore\":11", "between 0 and 10", "painScore"},
      {"\"flags\":[\"late\"]", "\"flags\":[\"\"]", "1 to 32 characters", "flags[0]"},
  };
  for (const auto& c : cases) {
    std::string bad = with(body, c.from, c.to);
    epro::Reply r = submit(bad);
    EXPECT_EQ(r.status, 400) << c.to;
    if (c.error.empty()) {
      EXPECT_EQ(r.body, "{\"error\":\"invalid JSON\",\"field\":\"\"}") << c.to;
    } else {
      EXPECT_NE(r.body.find(c.error), std::string::npos) << c.to << " -> " << r.body;
      EXPECT_NE(r.body.find("\"field\":\"" + c.field + "\""), std::string::npos) << c.to << " -> " << r.body;
    }
  }
  for (std::string broken : {body.substr(0, body.size() / 2), with(body, "\"siteId\":", "\"siteId\" "),
                             std::string("{\"trialId\": ")}) {
    epro::Reply r = submit(broken);
    EXPECT_EQ(r.status, 400) << broken;
    EXPECT_EQ(r.body, "{\"error\":\"invalid JSON\",\"field\":\"\"}") << broken;
  }
  EXPECT_EQ(submit("[1,2]").body, "{\"error\":\"body must be a JSON object\",\"field\":\"\"}");
  EXPECT_NE(submit(with(body, "\"answers\":[", "\"answers\":[],\"x\":[")).body.find("1 to 200 items"), std::string::npos);
  EXPECT_EQ(listed("ONC-2024-01"), "[]") << "a rejected request leaves the store untouched";
}

TEST_P(EproService, OversizeBodyIs413) {
  epro::Reply r = submit(std::string(65537, ' '));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, "{\"error\":\"body larger than 65536 bytes\",\"field\":\"\"}");
}

TEST_P(EproService, MetricsCountRequestsAndAllocations) {
  submit(sample());
  submit("{}");
  std::string m = service.metrics();
  EXPECT_NE(m.find("epro_requests_total{status=\"202\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("epro_requests_total{status=\"400\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("epro_handled_submissions_total 1"), std::string::npos) << m;
}

// The figure the demo shows, asserted: with pooling on, a warm service handles
// submissions of every size without a heap allocation (0.00 per request, to the
// two places the table prints; the in-memory store's 2 MiB chunks and its index's
// growth are the rare exceptions), with invalid requests in between.
TEST(EproServicePooled, HandlesVariedSubmissionsWithoutHeapAllocations) {
  epro::MemoryStore store;
  epro::Service service(store, true);
  epro::Reply reply;
  auto body_of = [](int i) { return sample("ALLOC-1", "P-" + std::to_string(i % 97), 1 + i % 40, i % 2 == 0, i); };
  for (int i = 0; i < 200; ++i) service.submit(body_of(i), reply);  // warm: every size class, every pool
  auto counter = [&](const std::string& name) {
    std::string m = service.metrics();
    auto at = m.find("\n" + name + " ");
    EXPECT_NE(at, std::string::npos) << name;
    return at == std::string::npos ? 0.0 : std::stod(m.substr(at + name.size() + 2));
  };
  std::vector<std::string> bodies;
  for (int i = 0; i < 2000; ++i) bodies.push_back(i % 10 == 9 ? with(body_of(i), "\"trialId\"", "\"trialID\"") : body_of(i));
  double allocations = counter("epro_handler_allocations_total"), handled = counter("epro_handled_submissions_total");
  int accepted = 0, refused = 0;
  for (const std::string& b : bodies) {
    service.submit(b, reply);
    accepted += reply.status == 202;
    refused += reply.status == 400;
  }
  EXPECT_EQ(accepted, 1800);
  EXPECT_EQ(refused, 200);
  double made = counter("epro_handler_allocations_total") - allocations;
  double per_request = made / (counter("epro_handled_submissions_total") - handled);
  EXPECT_LT(per_request, 0.005) << made << " allocations for 1800 submissions";
}

INSTANTIATE_TEST_SUITE_P(Pooling, EproService, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "on" : "off"; });

TEST(EproSubmission, ResetLeavesNothingOfThePreviousPatient) {
  epro::PatientSubmission s;
  for (std::string* f : {&s.trial_id, &s.site_id, &s.patient_id, &s.visit_id, &s.visit_scheduled_at,
                         &s.instrument_id, &s.instrument_version, &s.instrument_language, &s.device_platform,
                         &s.device_os_version, &s.device_app_version, &s.device_model, &s.submitted_at,
                         &s.timezone, &s.consent_version, &s.notes})
    *f = "secret of patient 1";
  s.visit_number = 7;
  s.next_answer() = epro::Answer{"Q1", true, 5, "t", "2026"};
  s.has_pain_score = s.has_notes = s.has_flags = true;
  s.pain_score = 9;
  s.next_flag() = "flag";
  s.reset();
  epro::PatientSubmission fresh;
  std::string a, b;
  // Compare through the serialized form plus the counters.
  epro::write_submission(s, a);
  epro::write_submission(fresh, b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(s.answer_count, 0u);
  EXPECT_EQ(s.flag_count, 0u);
  EXPECT_TRUE(s.answers[0].item_id.empty() && s.answers[0].text.empty() && s.answers[0].answered_at.empty());
  EXPECT_TRUE(s.flags[0].empty());
}

// ---------------------------------------------------------------------------
// The real binary over loopback, with a real redis-server.

// The server with 16 threads on a given store.
class Server : public cistern_test::EproProcess {
 public:
  explicit Server(const std::string& redis, const std::string& pooling = "on")
      : EproProcess({"--threads", "16", "--redis=" + redis, "--pooling=" + pooling}) {
    EXPECT_GT(port(), 0) << "the server printed: " << first_line();
  }
};

std::string redis_addr(const cistern_test::RedisServer& r) { return "127.0.0.1:" + std::to_string(r.port()); }

TEST(EproEndToEnd, SubmitListHealthAndMetricsOverLoopbackWithRedis) {
  cistern_test::RedisServer redis;
  Server server(redis_addr(redis));
  httplib::Client client("127.0.0.1", server.port());
  std::string body = sample("CARD-7", "P-9");
  auto res = client.Post("/v1/submissions", body, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202) << res->body;
  cistern::RedisConnection c(redis.options());
  auto entries = c.command({"XRANGE", "epro:CARD-7", "-", "+"});
  ASSERT_EQ(entries.elements().size(), 1u);
  const auto& fields = entries.elements()[0].elements()[1].elements();
  EXPECT_EQ(fields[0].str(), "patientId");
  EXPECT_EQ(fields[1].str(), "P-9");
  EXPECT_EQ(fields[2].str(), "submission");
  EXPECT_EQ(fields[3].str(), body);
  EXPECT_EQ(res->body, "{\"submissionId\":\"CARD-7-" + std::string(entries.elements()[0].elements()[0].str()) + "\"}");
  auto list = client.Get("/v1/trials/CARD-7/submissions");
  ASSERT_TRUE(list);
  EXPECT_NE(list->body.find("\"submission\":" + body), std::string::npos) << list->body;
  auto big = client.Post("/v1/submissions", std::string(70000, 'x'), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(client.Get("/healthz")->status, 200);
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("cistern_pool_gets_total{pool=\"epro_submissions\"}"), std::string::npos);
  EXPECT_NE(metrics->body.find("cistern_resource_pool_created_total{pool=\"epro_redis\"}"), std::string::npos);
  // Prometheus' own linter accepts it.
  std::string path = ::testing::TempDir() + "epro-metrics.txt";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs(metrics->body.c_str(), f);
  std::fclose(f);
  EXPECT_EQ(std::system(("promtool check metrics < " + path + " >/dev/null 2>&1").c_str()), 0)
      << "promtool check metrics failed on:\n" << metrics->body;
}

// --redis=redis://user:password@host:port/db against an ACL user: stored in that
// database; with a wrong password the service says 503, and the password shows in
// no answer, no metric and no line the server printed.
TEST(EproEndToEnd, RedisUriWithAnAclUserAndTheSecretStaysSecret) {
  const std::string secret = "epro-pw-" + std::to_string(::getpid());
  cistern_test::RedisServer redis({"--user", "default", "on", "nopass", "~*", "+@all", "--user", "epro", "on",
                                   ">" + secret, "~epro:*", "+@all"});
  std::string at = "@127.0.0.1:" + std::to_string(redis.port());
  {
    Server server("redis://epro:" + secret + at + "/2");
    httplib::Client client("127.0.0.1", server.port());
    auto res = client.Post("/v1/submissions", sample("URI-1", "P-1"), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 202) << res->body;
    cistern::RedisConnection c(redis.options());
    ASSERT_FALSE(c.command({"SELECT", "2"}).is_error());
    EXPECT_EQ(c.command({"XLEN", "epro:URI-1"}).integer(), 1);
    std::string clients(c.command({"CLIENT", "LIST"}).str());
    EXPECT_NE(clients.find("name=epro_server"), std::string::npos) << clients;
  }
  const std::string wrong = "not-" + secret;
  Server server("redis://epro:" + wrong + at);
  httplib::Client client("127.0.0.1", server.port());
  auto res = client.Post("/v1/submissions", sample("URI-1", "P-2"), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503) << res->body;
  EXPECT_NE(res->body.find("AUTH failed"), std::string::npos) << res->body;
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  for (const std::string* text : {&res->body, &health->body, &metrics->body}) {
    EXPECT_EQ(text->find(secret), std::string::npos) << *text;
  }
  std::string printed = server.stderr_text();
  server.terminate();
  printed += server.stderr_text();
  EXPECT_EQ(printed.find(secret), std::string::npos) << printed;
}

// --redis-wait=1: a 202 means the replica has the entry too; with the replica gone,
// a submission is answered 503 (within WAIT's limit, half the command timeout).
TEST(EproEndToEnd, RedisWaitAnswers202OnlyOnceAReplicaHasTheEntry) {
  cistern_test::RedisServer primary;
  cistern_test::RedisServer replica({"--replicaof", "127.0.0.1", std::to_string(primary.port())});
  cistern::RedisConnection on_primary(primary.options());
  for (int i = 0; i < 100 && on_primary.command({"WAIT", "1", "50"}).integer() < 1; ++i) {
  }  // bounded: the replica's first sync
  ASSERT_EQ(on_primary.command({"WAIT", "1", "50"}).integer(), 1) << "the replica did not connect";
  cistern_test::EproProcess server({"--threads", "4", "--redis=" + redis_addr(primary), "--redis-wait=1"});
  ASSERT_GT(server.port(), 0) << server.first_line();
  httplib::Client client("127.0.0.1", server.port());
  cistern::RedisConnection on_replica(replica.options());
  for (int i = 0; i < 20; ++i) {
    auto res = client.Post("/v1/submissions", sample("WAIT-1", "P-" + std::to_string(i)), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 202) << res->body;
    EXPECT_EQ(on_replica.command({"XLEN", "epro:WAIT-1"}).integer(), i + 1) << "a 202 before the replica had it";
  }
  replica.stop();  // at most 5 s, then SIGKILL (redis_server.hpp)
  auto start = std::chrono::steady_clock::now();
  auto res = client.Post("/v1/submissions", sample("WAIT-1", "P-late"), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503) << res->body;
  EXPECT_NE(res->body.find("replicas acknowledged"), std::string::npos) << res->body;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
}

TEST(EproEndToEnd, ConcurrentPatientsNeverSeeEachOthersData) {
  cistern_test::RedisServer redis;
  Server server(redis_addr(redis));
  std::mutex mu;
  std::map<std::string, std::pair<std::string, std::string>> sent;  // id -> (patient, body)
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", server.port());
      std::mt19937 rng(static_cast<unsigned>(t));
      std::string patient = "PAT-" + std::to_string(t);
      for (int i = 0; i < 60; ++i) {
        // Big and small, with and without optional fields, so that a leftover
        // from a previous request would show.
        std::string body = sample("PRIV-1", patient, 1 + static_cast<int>(rng() % 30), rng() % 2 == 0,
                                  t * 1000 + i);
        if (i % 4 == 3) {
          // An invalid request between valid ones, carrying this patient's data:
          // refused, and nothing of it may show in anyone's stored record.
          std::string bad = with(sample("PRIV-1", "LEAK-" + patient, 30, true, i), "\"visit\"", "\"visits\"");
          auto refused = client.Post("/v1/submissions", bad, "application/json");
          ASSERT_TRUE(refused);
          ASSERT_EQ(refused->status, 400) << refused->body;
        }
        auto res = client.Post("/v1/submissions", body, "application/json");
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 202) << res->body;
        std::string id = res->body.substr(std::string("{\"submissionId\":\"PRIV-1-").size());
        id = id.substr(0, id.find('"'));
        std::lock_guard lock(mu);
        sent[id] = {patient, body};
      }
    });
  }
  for (auto& th : threads) th.join();
  cistern::RedisConnection c(redis.options());
  auto entries = c.command({"XRANGE", "epro:PRIV-1", "-", "+"});
  ASSERT_EQ(entries.elements().size(), sent.size());
  for (const auto& e : entries.elements()) {
    std::string id(e.elements()[0].str());
    ASSERT_TRUE(sent.count(id)) << id;
    const auto& kv = e.elements()[1].elements();
    EXPECT_EQ(kv[1].str(), sent[id].first) << id;
    EXPECT_EQ(kv[3].str(), sent[id].second) << "stored record differs from what its patient sent: " << id;
    EXPECT_EQ(kv[3].str().find("LEAK-"), std::string_view::npos) << "a refused request's data was stored: " << id;
  }
}

TEST(EproEndToEnd, SigtermUnderLoadLosesNoAcceptedSubmission) {
  cistern_test::RedisServer redis;
  Server server(redis_addr(redis));
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> accepted;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", server.port());
      client.set_connection_timeout(1);
      for (int i = 0; !stop.load(); ++i) {
        auto res = client.Post("/v1/submissions", sample("TERM-1", "P-" + std::to_string(t), 5, true, i),
                               "application/json");
        if (!res) continue;  // the server is going away
        if (res->status == 202) {
          std::string id = res->body.substr(std::string("{\"submissionId\":\"TERM-1-").size());
          std::lock_guard lock(mu);
          accepted.push_back(id.substr(0, id.find('"')));
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  int status = server.terminate();
  stop = true;
  for (auto& th : threads) th.join();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  ASSERT_GT(accepted.size(), 0u);
  cistern::RedisConnection c(redis.options());
  std::size_t missing = 0;
  for (const auto& id : accepted)
    if (c.command({"XRANGE", "epro:TERM-1", id, id}).elements().size() != 1) ++missing;
  EXPECT_EQ(missing, 0u) << "of " << accepted.size() << " accepted submissions";
}

}  // namespace
