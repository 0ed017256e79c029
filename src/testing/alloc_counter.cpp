// SPDX-License-Identifier: Apache-2.0
// src/testing/alloc_counter.cpp — replaced global operator new/delete that count.
#include "cistern/testing/alloc_counter.hpp"

#include "cistern/detail/thread_cache.hpp"  // detail::Counter

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>

namespace cistern::testing {
namespace {

// One thread's counters. Written only by their thread (detail::Counter: a plain
// increment); read by total_alloc_counts() from others.
struct ThreadCounts {
  detail::Counter allocations, deallocations, bytes;
  ThreadCounts* next = nullptr;
  ThreadCounts* prev = nullptr;
  bool linked = false;  // in the list of live threads
  bool exited = false;  // folded into the totals of exited threads
};

constinit thread_local ThreadCounts tls_counts;

struct Totals {
  std::mutex mu;  // guards the list; constinit-constructible, never allocates
  ThreadCounts* head = nullptr;
  std::atomic<std::uint64_t> allocations{0}, deallocations{0}, bytes{0};  // exited threads
};
constinit Totals totals;

void link_thread(ThreadCounts& t) noexcept;

void count_alloc(std::size_t n) noexcept {
  ThreadCounts& t = tls_counts;
  if (t.exited) {  // thread-exit destructors still allocating
    totals.allocations.fetch_add(1, std::memory_order_relaxed);  // a statistic
    totals.bytes.fetch_add(n, std::memory_order_relaxed);
    return;
  }
  if (!t.linked) link_thread(t);
  t.allocations.bump();
  t.bytes.bump(n);
}

void count_free() noexcept {
  ThreadCounts& t = tls_counts;
  if (t.exited) {
    totals.deallocations.fetch_add(1, std::memory_order_relaxed);  // a statistic
    return;
  }
  if (!t.linked) link_thread(t);
  t.deallocations.bump();
}

// Folds a thread's counters into the totals when the thread exits.
struct ExitHook {
  ~ExitHook() {
    ThreadCounts& t = tls_counts;
    std::lock_guard lock(totals.mu);
    totals.allocations.fetch_add(t.allocations.get(), std::memory_order_relaxed);
    totals.deallocations.fetch_add(t.deallocations.get(), std::memory_order_relaxed);
    totals.bytes.fetch_add(t.bytes.get(), std::memory_order_relaxed);
    if (t.prev != nullptr) t.prev->next = t.next;
    else totals.head = t.next;
    if (t.next != nullptr) t.next->prev = t.prev;
    t.exited = true;
    t.linked = false;
  }
};

void link_thread(ThreadCounts& t) noexcept {
  t.linked = true;  // first, so allocations made below do not recurse here
  {
    std::lock_guard lock(totals.mu);
    t.next = totals.head;
    if (t.next != nullptr) t.next->prev = &t;
    totals.head = &t;
  }
  // Registers the destructor through __cxa_thread_atexit, which uses calloc,
  // not operator new.
  static thread_local ExitHook hook;
  (void)hook;
}

void* allocate(std::size_t n) {
  count_alloc(n);
  for (;;) {
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* allocate_aligned(std::size_t n, std::align_val_t al) {
  count_alloc(n);
  std::size_t alignment = static_cast<std::size_t>(al);
  if (alignment < sizeof(void*)) alignment = sizeof(void*);
  for (;;) {
    void* p = nullptr;
    if (posix_memalign(&p, alignment, n == 0 ? 1 : n) == 0) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void deallocate(void* p) noexcept {
  if (p == nullptr) return;
  count_free();
  std::free(p);
}

}  // namespace

AllocCounts thread_alloc_counts() noexcept {
  ThreadCounts& t = tls_counts;
  return {t.allocations.get(), t.deallocations.get(),
          t.bytes.get()};
}

AllocCounts total_alloc_counts() noexcept {
  std::lock_guard lock(totals.mu);
  AllocCounts c{totals.allocations.load(std::memory_order_relaxed),
                totals.deallocations.load(std::memory_order_relaxed),
                totals.bytes.load(std::memory_order_relaxed)};
  for (ThreadCounts* t = totals.head; t != nullptr; t = t->next) {
    c.allocations += t->allocations.get();  // a statistic
    c.deallocations += t->deallocations.get();
    c.bytes += t->bytes.get();
  }
  return c;
}

bool alloc_counter_linked() noexcept { return true; }

}  // namespace cistern::testing

using cistern::testing::allocate;
using cistern::testing::allocate_aligned;
using cistern::testing::deallocate;

void* operator new(std::size_t n) { return allocate(n); }
void* operator new[](std::size_t n) { return allocate(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t n, std::align_val_t al) { return allocate_aligned(n, al); }
void* operator new[](std::size_t n, std::align_val_t al) { return allocate_aligned(n, al); }
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  try {
    return allocate_aligned(n, al);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  try {
    return allocate_aligned(n, al);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { deallocate(p); }
void operator delete[](void* p) noexcept { deallocate(p); }
void operator delete(void* p, std::size_t) noexcept { deallocate(p); }
void operator delete[](void* p, std::size_t) noexcept { deallocate(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { deallocate(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { deallocate(p); }
void operator delete(void* p, std::align_val_t) noexcept { deallocate(p); }
void operator delete[](void* p, std::align_val_t) noexcept { deallocate(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { deallocate(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { deallocate(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { deallocate(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { deallocate(p); }
