// SPDX-License-Identifier: Apache-2.0
// cistern/detail/hazard.hpp — per-thread hazard slots for Snapshot<T> readers.
//
// Internal. A reader announces the version it is about to read by storing its
// address in one of its thread's hazard slots, then checks that the version is
// still current. A writer that retired a version frees it only once no slot holds
// it. The read side writes only its own thread's record: no shared cache line.
//
// Memory ordering (asymmetric fences, as in folly's hazard pointers): the reader's
// slot store must be visible before its re-check of the current version. Where the
// kernel offers membarrier(PRIVATE_EXPEDITED), the reader needs only a compiler
// fence and the (rare) writer pays for a process-wide barrier; elsewhere, and under
// ThreadSanitizer, both sides use a seq_cst fence.
#pragma once

#include <atomic>
#include <cstdint>

#include "cistern/detail/config.hpp"
#include "cistern/detail/export.hpp"

namespace cistern::detail::hazard {

inline constexpr unsigned kSlots = 16;  // readers alive at once on one thread

struct alignas(kCacheLine) Record {
  std::atomic<const void*> slots[kSlots] = {};
  std::atomic<bool> active{false};
  Record* next = nullptr;  // the global list; records are reused, never freed
};

struct ThreadHazards {
  Record* record = nullptr;
  std::uint32_t used = 0;  // bit i set: slot i holds a live reader's version
};
CISTERN_API inline constinit thread_local ThreadHazards tls_hazards{};

// Slow path: gives the calling thread a record (returned to the pool of records
// when the thread exits).
CISTERN_API Record* attach_thread();

// True when readers may use a compiler-only fence (writers then use membarrier).
extern bool g_asymmetric;

// Publishes `p` in the reader's `slot` and returns it once `current` is seen to
// still hold it after the slot became visible (retrying with the newer value if a
// writer replaced it meanwhile). From then on a writer's scan sees the slot.
// `raced` is set when a retry happened: a writer's scan may then have seen the
// slot hold the replaced pointer and kept it, and the caller must see to its
// reclamation (nobody else will: the reader never held it).
template <class P>
CISTERN_ALWAYS_INLINE const P* protect(std::atomic<const void*>& slot, const std::atomic<const P*>& current,
                                       const P* p, bool& raced) noexcept {
#if !CISTERN_TSAN
  if (CISTERN_LIKELY(g_asymmetric)) {
    for (;;) {
      slot.store(p, std::memory_order_relaxed);  // made visible by the writer's membarrier
      std::atomic_signal_fence(std::memory_order_seq_cst);  // pairs with membarrier in writer_fence()
      const P* again = current.load(std::memory_order_acquire);  // pairs with the writer's exchange
      if (CISTERN_LIKELY(again == p)) return p;
      p = again;
      raced = true;
    }
  }
#endif
  for (;;) {
    slot.store(p, std::memory_order_seq_cst);  // in one total order with the writer's exchange and scan
    const P* again = current.load(std::memory_order_seq_cst);
    if (again == p) return p;
    p = again;
    raced = true;
  }
}

// Clears the reader's `slot` and reports whether `current` no longer holds `p`
// afterwards (then p may have been retired while protected, and its last reader
// must see to its reclamation). The same fence as protect(): without it the check
// could be made before the clear, while a writer's scan still sees the slot set,
// and neither side would reclaim p.
template <class P>
CISTERN_ALWAYS_INLINE bool unprotect_replaced(std::atomic<const void*>& slot, const std::atomic<const P*>& current,
                                              const P* p) noexcept {
#if !CISTERN_TSAN
  if (CISTERN_LIKELY(g_asymmetric)) {
    slot.store(nullptr, std::memory_order_release);  // pairs with for_each_protected's load
    std::atomic_signal_fence(std::memory_order_seq_cst);  // pairs with membarrier in writer_fence()
    return current.load(std::memory_order_relaxed) != p;  // an address compare only
  }
#endif
  slot.store(nullptr, std::memory_order_seq_cst);  // in one total order with the writer's exchange and scan
  return current.load(std::memory_order_seq_cst) != p;
}

// The writer's fence between retiring a version and scanning the slots.
CISTERN_API void writer_fence() noexcept;

// Every thread's record: a list that only grows (records are reused, never freed).
CISTERN_API Record* first_record() noexcept;

// Calls f(p) for every pointer currently held in any hazard slot (call after
// writer_fence). The writer must have replaced `current` with a seq_cst exchange
// before. Allocates nothing.
template <class F>
void for_each_protected(F&& f) noexcept {
  for (Record* rec = first_record(); rec != nullptr; rec = rec->next) {
    for (auto& slot : rec->slots) {
      if (const void* p = slot.load(std::memory_order_seq_cst)) f(p);  // pairs with protect()
    }
  }
}

}  // namespace cistern::detail::hazard
