// SPDX-License-Identifier: Apache-2.0
// Where accepted submissions go: an in-memory store (the default) or Redis
// streams (XADD epro:<trialId> * patientId <id> submission <json>).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cistern/redis.hpp"

namespace epro {

// The store could not be reached in time (answered with 503).
struct StoreUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A stream entry id, "<ms>-<seq>", kept inline (no allocation).
struct EntryId {
  char text[48];
  std::size_t size = 0;
  std::string_view view() const { return {text, size}; }
  void assign(std::string_view s) {
    size = std::min(s.size(), sizeof text);
    s.copy(text, size);
  }
};

class Store {
 public:
  virtual ~Store() = default;
  // Stores one entry; throws StoreUnavailable. Returns only once the entry is stored.
  virtual void append(std::string_view trial, std::string_view patient, std::string_view submission_json,
                      EntryId& id) = 0;
  // Appends a JSON array of {"id","patientId","submission"} for the trial.
  virtual void list(std::string_view trial, std::string& out) = 0;
  virtual bool healthy() = 0;
  virtual void close() {}
  // Bytes of memory holding stored entries in this process (0 for a remote store).
  virtual std::size_t bytes_held() const { return 0; }
};

// Entries of a trial live in a log of 2 MiB chunks: storing an entry allocates
// only when a chunk fills up (every few hundred entries), and never copies what
// is already stored (a single doubling buffer would copy it all under the lock).
// A chunk is one 2 MiB-aligned block offered to the kernel as a transparent huge
// page (madvise): a store that grows by 5 KB per request otherwise takes a page
// fault every 4 KB it writes, under its lock (a fifth of the server's time under
// the Go peer's load).
class MemoryStore final : public Store {
 public:
  void append(std::string_view trial, std::string_view patient, std::string_view json, EntryId& id) override;
  void list(std::string_view trial, std::string& out) override;
  bool healthy() override { return true; }
  std::size_t bytes_held() const override { return held_.load(std::memory_order_relaxed); }

 private:
  static constexpr std::size_t kChunk = 2 << 20;
  struct Free {
    void operator()(char* p) const noexcept;
  };
  using Block = std::unique_ptr<char[], Free>;
  static Block allocate(std::size_t n);
  struct Entry {
    std::uint64_t ms, seq;
    const char* patient;  // inside a chunk; patient bytes then the JSON
    std::uint32_t patient_len, json_len;
  };
  struct Trial {
    std::vector<Block> chunks;
    std::size_t used = kChunk;  // bytes used in the last chunk
    std::vector<Block> large;  // entries bigger than a chunk
    std::vector<Entry> entries;
    char* reserve(std::size_t n, std::atomic<std::size_t>& held);
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::mutex mu_;
  std::unordered_map<std::string, Trial, Hash, std::equal_to<>> trials_;
  std::uint64_t last_ms_ = 0, seq_ = 0;
  std::atomic<std::size_t> held_{0};  // a statistic: chunk and large-entry bytes
};

// wait_replicas > 0: after each XADD, WAIT for that many replicas (at most half the
// command timeout); fewer acknowledgements mean 503, so every 202 is on that many
// replicas too (the entry stays on the primary either way).
class RedisStore final : public Store {
 public:
  RedisStore(cistern::RedisOptions options, std::size_t connections, bool named, int wait_replicas = 0);
  void append(std::string_view trial, std::string_view patient, std::string_view json, EntryId& id) override;
  void list(std::string_view trial, std::string& out) override;
  bool healthy() override;
  void close() override { pool_.close(); }

 private:
  int wait_replicas_;
  std::string wait_replicas_text_, wait_ms_text_;  // WAIT's arguments, formatted once
  cistern::ResourcePool<cistern::RedisConnection> pool_;
};

}  // namespace epro
