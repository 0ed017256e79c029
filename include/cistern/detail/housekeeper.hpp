// SPDX-License-Identifier: Apache-2.0
// cistern/detail/housekeeper.hpp — the one background thread behind every
// ResourcePool: a coarse clock, and timed work (eviction, refill, leak reports).
//
// Internal. The thread starts with the first registered client and stops when the
// last one leaves. Every kTickMs it advances coarse_now_ms(), a clock that the
// pools' fast paths read with one relaxed load instead of calling the system
// clock; every kPassMs it calls each client's housekeep(). A client is removed
// under the same lock its housekeep() runs under, so after remove() returns its
// housekeep() is not running and never runs again.
#pragma once

#include <atomic>
#include <cstdint>

#include "cistern/detail/export.hpp"

namespace cistern::detail {

class CISTERN_API HousekeepingClient {
 public:
  virtual void housekeep(std::int64_t now_ms) noexcept = 0;

 protected:
  ~HousekeepingClient() = default;
};

inline constexpr std::int64_t kTickMs = 2;
inline constexpr std::int64_t kPassMs = 20;

// Milliseconds on the steady clock, at most kTickMs old while a client exists
// (exact when called right after add()).
extern std::atomic<std::int64_t> g_coarse_now_ms;
inline std::int64_t coarse_now_ms() noexcept {
  return g_coarse_now_ms.load(std::memory_order_relaxed);  // a clock reading; no ordering needed
}
std::int64_t precise_now_ms() noexcept;  // the steady clock now (writes nothing shared)

CISTERN_API void housekeeper_add(HousekeepingClient* client);
CISTERN_API void housekeeper_remove(HousekeepingClient* client) noexcept;
// Asks for a pass soon (e.g. a creation failed and must be retried).
CISTERN_API void housekeeper_poke() noexcept;

}  // namespace cistern::detail
