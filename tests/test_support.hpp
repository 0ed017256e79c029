// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the tests: objects that count their lives.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace cistern_test {

// Counts constructions and destructions, globally, for leak and cycle checks.
struct Lives {
  static inline std::atomic<long> made{0};
  static inline std::atomic<long> destroyed{0};
  static long alive() { return made.load() - destroyed.load(); }
  static void zero() {
    made = 0;
    destroyed = 0;
  }
};

struct Counted {
  Counted() { Lives::made.fetch_add(1); }
  ~Counted() { Lives::destroyed.fetch_add(1); }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  void reset() { payload = 0; }
  std::uint64_t payload = 0;
};

// Polls `pred` until it holds or `limit` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace cistern_test
