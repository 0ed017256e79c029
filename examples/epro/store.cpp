// SPDX-License-Identifier: Apache-2.0
#include "store.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

#include "codec.hpp"

namespace epro {
namespace {

std::uint64_t now_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

void format_id(std::uint64_t ms, std::uint64_t seq, EntryId& id) {
  std::size_t n = 0;
  auto put = [&](std::uint64_t v) {
    char buf[24];
    int k = 0;
    do {
      buf[k++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (k > 0) id.text[n++] = buf[--k];
  };
  put(ms);
  id.text[n++] = '-';
  put(seq);
  id.size = n;
}

// "epro:<trial>" without allocating (trial ids are at most 32 characters).
struct StreamKey {
  char text[64];
  std::size_t size;
  explicit StreamKey(std::string_view trial) {
    constexpr std::string_view prefix = "epro:";
    prefix.copy(text, prefix.size());
    size = prefix.size() + trial.copy(text + prefix.size(), sizeof text - prefix.size());
  }
  std::string_view view() const { return {text, size}; }
};

}  // namespace

void MemoryStore::append(std::string_view trial, std::string_view patient, std::string_view json, EntryId& id) {
  std::lock_guard lock(mu_);
  auto it = trials_.find(trial);
  if (it == trials_.end()) it = trials_.emplace(std::string(trial), Trial{}).first;
  std::uint64_t ms = now_ms();
  if (ms <= last_ms_) {
    ms = last_ms_;
    ++seq_;
  } else {
    last_ms_ = ms;
    seq_ = 0;
  }
  Trial& t = it->second;
  char* at = t.reserve(patient.size() + json.size(), held_);
  patient.copy(at, patient.size());
  json.copy(at + patient.size(), json.size());
  t.entries.push_back(Entry{ms, seq_, at, static_cast<std::uint32_t>(patient.size()),
                            static_cast<std::uint32_t>(json.size())});
  format_id(ms, seq_, id);
}

// Not zeroed (every byte handed out is written before it is read). A chunk asks
// for huge pages; a large entry is an ordinary block.
MemoryStore::Block MemoryStore::allocate(std::size_t n) {
  const bool chunk = n == kChunk;
  void* p = chunk ? std::aligned_alloc(kChunk, kChunk) : std::malloc(n);
  if (p == nullptr) throw std::bad_alloc();
  if (chunk) madvise(p, kChunk, MADV_HUGEPAGE);  // a hint: without THP, ordinary pages
  return Block(static_cast<char*>(p));
}

void MemoryStore::Free::operator()(char* p) const noexcept { std::free(p); }

char* MemoryStore::Trial::reserve(std::size_t n, std::atomic<std::size_t>& held) {
  if (n > kChunk) {
    held.fetch_add(n, std::memory_order_relaxed);
    large.push_back(allocate(n));
    return large.back().get();
  }
  if (kChunk - used < n) {
    held.fetch_add(kChunk, std::memory_order_relaxed);
    chunks.push_back(allocate(kChunk));
    used = 0;
  }
  char* at = chunks.back().get() + used;
  used += n;
  return at;
}

void MemoryStore::list(std::string_view trial, std::string& out) {
  std::lock_guard lock(mu_);
  out.push_back('[');
  auto it = trials_.find(trial);
  if (it != trials_.end()) {
    const Trial& t = it->second;
    for (std::size_t i = 0; i < t.entries.size(); ++i) {
      const Entry& e = t.entries[i];
      EntryId id;
      format_id(e.ms, e.seq, id);
      if (i > 0) out.push_back(',');
      out.append("{\"id\":");
      write_json_string(id.view(), out);
      out.append(",\"patientId\":");
      write_json_string(std::string_view(e.patient, e.patient_len), out);
      out.append(",\"submission\":");
      out.append(std::string_view(e.patient + e.patient_len, e.json_len));
      out.push_back('}');
    }
  }
  out.push_back(']');
}

RedisStore::RedisStore(cistern::RedisOptions options, std::size_t connections, bool named, int wait_replicas)
    : wait_replicas_(wait_replicas),
      wait_replicas_text_(std::to_string(wait_replicas)),
      wait_ms_text_(std::to_string(std::max<long long>(1, options.command_timeout.count() / 2))),
      pool_(cistern::make_redis_pool(std::move(options), {.max_size = connections,
                                                          .acquire_timeout = std::chrono::milliseconds(1000),
                                                          .name = named ? "epro_redis" : ""})) {}

void RedisStore::append(std::string_view trial, std::string_view patient, std::string_view json, EntryId& id) {
  StreamKey key(trial);
  try {
    auto conn = pool_.acquire();
    cistern::RedisReply r = conn->command({"XADD", key.view(), "*", "patientId", patient, "submission", json});
    if (r.type() != cistern::RedisReply::Type::string) {
      throw StoreUnavailable("redis XADD failed: " + std::string(r.str()));
    }
    id.assign(r.str());
    if (wait_replicas_ > 0) {
      cistern::RedisReply acked = conn->command({"WAIT", wait_replicas_text_, wait_ms_text_});
      if (acked.type() != cistern::RedisReply::Type::integer || acked.integer() < wait_replicas_)
        throw StoreUnavailable("stored on the primary, but " + std::to_string(acked.integer()) + " of " +
                               wait_replicas_text_ + " replicas acknowledged it within " + wait_ms_text_ + " ms");
    }
  } catch (const cistern::AcquireTimeout& e) {
    throw StoreUnavailable(e.what());
  } catch (const cistern::PoolClosed& e) {
    throw StoreUnavailable(e.what());
  } catch (const cistern::RedisError& e) {
    throw StoreUnavailable(e.what());
  }
}

void RedisStore::list(std::string_view trial, std::string& out) {
  StreamKey key(trial);
  cistern::RedisReply r;
  try {
    auto conn = pool_.acquire();
    r = conn->command({"XRANGE", key.view(), "-", "+"});
  } catch (const std::exception& e) {
    throw StoreUnavailable(e.what());
  }
  out.push_back('[');
  bool first = true;
  for (const auto& entry : r.elements()) {
    if (entry.elements().size() != 2) continue;
    std::string_view patient, submission;
    const auto& kv = entry.elements()[1].elements();
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
      if (kv[i].str() == "patientId") patient = kv[i + 1].str();
      if (kv[i].str() == "submission") submission = kv[i + 1].str();
    }
    if (!first) out.push_back(',');
    first = false;
    out.append("{\"id\":");
    write_json_string(entry.elements()[0].str(), out);
    out.append(",\"patientId\":");
    write_json_string(patient, out);
    out.append(",\"submission\":");
    out.append(submission.empty() ? std::string_view("null") : submission);
    out.push_back('}');
  }
  out.push_back(']');
}

bool RedisStore::healthy() {
  try {
    auto conn = pool_.try_acquire(std::chrono::milliseconds(500));
    return conn.has_value() && (*conn)->ping();
  } catch (...) {
    return false;
  }
}

}  // namespace epro
