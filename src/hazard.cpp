// SPDX-License-Identifier: Apache-2.0
// src/hazard.cpp — hazard records, thread exit, and the asymmetric fence.
#include "cistern/detail/hazard.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

namespace cistern::detail::hazard {
namespace {

// Every record, pushed under records_mu(); read lock-free by scans. A constant
// initial value: scans need no start-up and never allocate.
constinit std::atomic<Record*> g_head{nullptr};
std::mutex& records_mu() {
  static auto* mu = new std::mutex;  // never destroyed: threads may exit after statics
  return *mu;
}

struct ExitHook {
  ~ExitHook() {
    ThreadHazards& t = tls_hazards;
    if (t.record == nullptr) return;
    for (auto& slot : t.record->slots) slot.store(nullptr, std::memory_order_release);  // pairs with scans
    t.record->active.store(false, std::memory_order_release);  // pairs with attach_thread's exchange
    t.record = nullptr;
    t.used = 0;
  }
};
thread_local ExitHook exit_hook;

bool enable_membarrier() noexcept {
#if CISTERN_TSAN
  return false;  // ThreadSanitizer does not model membarrier
#else
  long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0);
  if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0;
#endif
}

}  // namespace

bool g_asymmetric = enable_membarrier();

Record* attach_thread() {
  (void)exit_hook;  // arms the hook for this thread
  for (Record* rec = g_head.load(std::memory_order_acquire); rec != nullptr; rec = rec->next) {
    bool expected = false;
    if (!rec->active.load(std::memory_order_relaxed) &&
        rec->active.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {  // pairs with ExitHook
      tls_hazards.record = rec;
      return rec;
    }
  }
  auto* rec = new Record;
  rec->active.store(true, std::memory_order_relaxed);  // published by the push below
  {
    std::lock_guard lock(records_mu());
    rec->next = g_head.load(std::memory_order_relaxed);
    g_head.store(rec, std::memory_order_release);  // pairs with the scans' acquire
  }
  tls_hazards.record = rec;
  return rec;
}

void writer_fence() noexcept {
#if !CISTERN_TSAN
  if (g_asymmetric) {
    // Every other thread runs a full barrier: slot stores made before it are
    // visible to the scan that follows; readers after it see the new version.
    if (syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0) == 0) return;
    std::abort();  // registered at start-up, so it cannot fail
  }
#endif
  // Symmetric mode: readers and the writer use seq_cst operations, which order
  // themselves; nothing more is needed here.
}

Record* first_record() noexcept {
  return g_head.load(std::memory_order_acquire);  // pairs with attach_thread's push
}

}  // namespace cistern::detail::hazard
