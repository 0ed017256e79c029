// SPDX-License-Identifier: Apache-2.0
// cistern/detail/depot.hpp — the shared tier of Pool<T>: stacks of magazines.
//
// Internal. The depot holds full (or partly full) magazines handed in by threads
// whose caches overflowed, empty magazines for reuse, and the victim list: what
// the depot held at the previous cycle(). A thread takes from `full` first, then
// from `victim`; cycle() frees the old victim list and turns `full` into the new
// one, so a cached object that nobody takes survives at most two cycles.
//
// Thread-safety: every member function may be called from any thread. One short
// mutex guards the lists; it is taken once per magazine (every M-th object), never
// per object, and never while user code (constructors, destructors) runs.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "cistern/detail/magazine.hpp"

namespace cistern::detail {

class Depot {
 public:
  Depot() = default;
  Depot(const Depot&) = delete;
  Depot& operator=(const Depot&) = delete;

  // A magazine with objects, from `full` or else from `victim`; nullptr if both
  // are empty. The caller owns the result.
  Magazine* take_full() noexcept {
    std::lock_guard lock(mu_);
    Magazine* m = pop(full_);
    if (m == nullptr) m = pop(victim_);
    if (m != nullptr) count_objects(-static_cast<std::ptrdiff_t>(m->count));
    return m;
  }

  // REQUIRES: m holds at least one object and its count is current.
  void put_full(Magazine* m) noexcept {
    std::lock_guard lock(mu_);
    push(full_, m);
    count_objects(static_cast<std::ptrdiff_t>(m->count));
  }

  // An empty magazine for reuse, or nullptr (the caller then makes one).
  Magazine* take_empty() noexcept {
    std::lock_guard lock(mu_);
    return pop(empty_);
  }

  void put_empty(Magazine* m) noexcept {
    m->count = 0;
    std::lock_guard lock(mu_);
    push(empty_, m);
  }

  // One generation: `full` becomes the victim list; the previous victim list and
  // the spare empty magazines are returned for the caller to free (outside the lock).
  struct Retired {
    Magazine* objects = nullptr;  // magazines whose objects must be destroyed
    Magazine* empties = nullptr;  // empty magazines to free
  };
  Retired rotate() noexcept {
    std::lock_guard lock(mu_);
    Retired r{victim_, empty_};
    std::size_t freed = 0;
    for (Magazine* m = victim_; m != nullptr; m = m->next) freed += m->count;
    victim_ = full_;
    full_ = nullptr;
    empty_ = nullptr;
    count_objects(-static_cast<std::ptrdiff_t>(freed));
    return r;
  }

  // Everything: used by Pool::clear() and the pool's destructor.
  Retired take_all() noexcept {
    std::lock_guard lock(mu_);
    Magazine* objects = victim_;
    while (Magazine* m = pop(full_)) push(objects, m);
    Retired r{objects, empty_};
    victim_ = full_ = empty_ = nullptr;
    objects_.store(0, std::memory_order_relaxed);  // read by stats only
    return r;
  }

  // Objects held in `full` and `victim` (approximate while threads run).
  std::size_t objects() const noexcept { return objects_.load(std::memory_order_relaxed); }

 private:
  // REQUIRES: mu_ held (the only writer).
  void count_objects(std::ptrdiff_t delta) noexcept {
    objects_.store(objects_.load(std::memory_order_relaxed) + static_cast<std::size_t>(delta),
                   std::memory_order_relaxed);  // read by stats only
  }
  static Magazine* pop(Magazine*& head) noexcept {
    Magazine* m = head;
    if (m != nullptr) {
      head = m->next;
      m->next = nullptr;
    }
    return m;
  }
  static void push(Magazine*& head, Magazine* m) noexcept {
    m->next = head;
    head = m;
  }

  std::mutex mu_;
  Magazine* full_ = nullptr;
  Magazine* victim_ = nullptr;
  Magazine* empty_ = nullptr;
  // Written only under mu_; relaxed loads pair with nothing (a statistic).
  std::atomic<std::size_t> objects_{0};
};

}  // namespace cistern::detail
