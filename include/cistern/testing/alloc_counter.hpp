// SPDX-License-Identifier: Apache-2.0
/// @file
/// @brief counts the program's heap allocations.
///
/// The C++ answer to Go's runtime.MemStats.Mallocs / TotalAlloc: link the target
/// cistern::alloc_counter into a program and it replaces the global operator new
/// and operator delete (every form) with versions that count calls and bytes, per
/// thread and in total, then allocate with malloc. Nothing else changes.
///
///   auto before = cistern::testing::thread_alloc_counts();
///   handle_request();
///   auto made = cistern::testing::thread_alloc_counts() - before;   // this thread only
///
/// Cost: one thread-local increment per call (no atomic read-modify-write, no
/// shared cache line), so multi-threaded allocation speed is not distorted.
/// Totals sum every live thread's counters plus those of threads that exited.
///
/// Thread-safety: all functions may be called from any thread.
/// When not to use it: in builds with a sanitizer or another allocator that also
/// replaces operator new (only one replacement can win); counts of malloc() calls
/// made directly are not included.
#pragma once

#include <cstdint>

namespace cistern::testing {

struct AllocCounts {
  std::uint64_t allocations = 0;    // calls of operator new (any form)
  std::uint64_t deallocations = 0;  // calls of operator delete with a non-null pointer
  std::uint64_t bytes = 0;          // bytes requested from operator new

  friend AllocCounts operator-(const AllocCounts& a, const AllocCounts& b) noexcept {
    return {a.allocations - b.allocations, a.deallocations - b.deallocations, a.bytes - b.bytes};
  }
};

/// Counts of the calling thread since it started.
AllocCounts thread_alloc_counts() noexcept;
/// Counts of the whole process since it started (approximate while threads run).
AllocCounts total_alloc_counts() noexcept;
/// True when the counting operator new is linked into this program.
bool alloc_counter_linked() noexcept;

}  // namespace cistern::testing
