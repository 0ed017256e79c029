// SPDX-License-Identifier: Apache-2.0
/// @file
/// @brief Snapshot<T>: read-mostly state with versions.
///
/// What it is
///   A value read on every request and replaced now and then: risk rules, routing
///   tables, feature flags, configuration. load() returns a SnapshotReader that
///   keeps the version it saw alive and unchanged for as long as it lives; store()
///   publishes a new version; update(f) and compare_and_store() replace it only if
///   nobody else did first (optimistic concurrency on the version number).
///
///   cistern::Snapshot<Rules> rules(load_rules());
///   bool allowed(const Request& r) {
///     auto current = rules.load();          // never blocks, writes no shared line
///     return current->allows(r);
///   }
///   void reload() { rules.store(load_rules()); }
///
/// How readers stay cheap (the choice, measured in docs/PERF.md)
///   Per-thread hazard slots with an asymmetric fence. load() stores the version's
///   address in one of its own thread's slots, then checks the version is still
///   current; nothing shared is written (std::atomic<std::shared_ptr> increments a
///   shared count on every read, a shared_mutex writes its reader count). Writers,
///   which are rare, pay instead: a process-wide barrier (membarrier) and a scan of
///   every thread's slots before a replaced version is destroyed. An epoch scheme or
///   liburcu would read as cheaply, but a stalled reader there holds back every
///   later version; with hazard slots it holds back only the one it reads.
///
/// Guarantees
///   - A reader sees a whole version, never a torn one; versions a thread sees
///     never go backwards (version numbers increase by one per store).
///   - A replaced version is destroyed once no reader holds it: at the store that
///     replaced it if no reader held it then, otherwise when the last such reader
///     is destroyed (on that reader's thread). Never while a reader holds it.
///   - Memory ordering: store() happens-before every load() that returns its version.
///   - Allocation: store() allocates one block, the new version (moving T into
///     it aside); load() only on a thread's first use (its hazard record);
///     readers and reclamation never (a reader's destructor may reclaim, and it
///     is noexcept).
///
/// Thread-safety and rules
///   load(), store(), update(), compare_and_store() and version() may be called
///   from any threads at once. Writers are serialised by a mutex among themselves
///   only. A SnapshotReader is move-only and must be destroyed on the thread that
///   called load() (like a lock guard); at most 16 readers may be alive at once on
///   one thread (the 17th load() stops the program with a message). The Snapshot
///   must outlive its readers.
///
/// When not to use it
///   - State written about as often as read: a mutex is simpler and as fast.
///   - Large T replaced often: every store copies a whole T (update() copies the
///     current one first). Split it, or store a pointer-sized handle.
///   - Per-request scratch state: that is Pool<T>'s job.
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <mutex>
#include <utility>

#include "cistern/detail/config.hpp"
#include "cistern/detail/hazard.hpp"

namespace cistern {

template <class T>
class Snapshot;

template <class T>
class SnapshotReader {
 public:
  SnapshotReader(SnapshotReader&& other) noexcept
      : version_(std::exchange(other.version_, nullptr)), owner_(other.owner_), slot_(other.slot_) {}
  SnapshotReader& operator=(SnapshotReader&& other) noexcept {
    if (this != &other) {
      release();
      version_ = std::exchange(other.version_, nullptr);
      owner_ = other.owner_;
      slot_ = other.slot_;
    }
    return *this;
  }
  SnapshotReader(const SnapshotReader&) = delete;
  SnapshotReader& operator=(const SnapshotReader&) = delete;
  ~SnapshotReader() { release(); }

  /// REQUIRES: not moved from.
  const T* operator->() const noexcept { return &version_->value; }
  const T& operator*() const noexcept { return version_->value; }
  /// The version number of what this reader sees (1 for the initial value).
  std::uint64_t version() const noexcept { return version_->number; }

 private:
  friend class Snapshot<T>;
  struct Version {
    T value;
    std::uint64_t number;
    /// While retired: the next retired version, and a mark of the writer's scan.
    /// Under the Snapshot's mutex. (Intrusive, so retiring and reclaiming never
    /// allocate: the last reader reclaims in its noexcept destructor.)
    mutable const Version* next_retired = nullptr;
    mutable bool held = false;
  };
  SnapshotReader(const Version* v, const Snapshot<T>* owner, unsigned slot) noexcept
      : version_(v), owner_(owner), slot_(slot) {}

  void release() noexcept {
    if (version_ == nullptr) return;
    owner_->unprotect(version_, slot_);
    version_ = nullptr;
  }

  const Version* version_;
  const Snapshot<T>* owner_;
  unsigned slot_;
};

template <class T>
class Snapshot {
  using Version = typename SnapshotReader<T>::Version;

 public:
  explicit Snapshot(T initial) : current_(new Version{std::move(initial), 1}) {}
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;
  /// REQUIRES: no reader of this snapshot is alive.
  ~Snapshot() {
    delete current_.load(std::memory_order_relaxed);
    destroy_list(retired_);
  }

  /// The current version, kept alive and unchanged until the reader is destroyed.
  /// Wait-free unless a store races with it (then it retries). Never blocks.
  CISTERN_ALWAYS_INLINE SnapshotReader<T> load() const {
    detail::hazard::ThreadHazards& th = detail::hazard::tls_hazards;
    if (CISTERN_UNLIKELY(th.record == nullptr)) detail::hazard::attach_thread();
    unsigned slot = static_cast<unsigned>(std::countr_one(th.used));
    CISTERN_CHECK(slot < detail::hazard::kSlots, "snapshot",
                  "more than 16 SnapshotReaders alive on one thread");
    th.used |= 1u << slot;
    bool raced = false;
    const Version* v = detail::hazard::protect(th.record->slots[slot], current_,
                                               current_.load(std::memory_order_acquire),  // pairs with publish()
                                               raced);
    if (CISTERN_UNLIKELY(raced)) reclaim_now();  // a version we briefly announced may have been kept for us
    return SnapshotReader<T>(v, this, slot);
  }

  /// Publishes `next` as the new current version; returns its version number.
  /// Destroys the replaced version here unless a reader still holds it.
  std::uint64_t store(T next) {
    std::unique_lock lock(mu_);
    return publish(std::move(next), lock);
  }

  /// Replaces the current version only if its number is still `expected_version`.
  bool compare_and_store(std::uint64_t expected_version, T next) {
    std::unique_lock lock(mu_);
    if (version_.load(std::memory_order_relaxed) != expected_version) return false;  // under mu_
    publish(std::move(next), lock);
    return true;
  }

  /// next = f(current) and store it, retried if another store came first. f may run
  /// more than once; it gets a const T& and returns a T. Returns the new version.
  template <class F>
  std::uint64_t update(F f) {
    for (;;) {
      std::uint64_t seen;
      T next = [&] {
        SnapshotReader<T> r = load();
        seen = r.version();
        return static_cast<T>(f(*r));
      }();
      std::unique_lock lock(mu_);
      if (version_.load(std::memory_order_relaxed) == seen) return publish(std::move(next), lock);  // under mu_
    }
  }

  /// The current version number (1 for the initial value).
  std::uint64_t version() const noexcept {
    return version_.load(std::memory_order_acquire);  // pairs with publish()'s release
  }

  /// Versions replaced but not yet destroyed (held by readers). For tests and metrics.
  std::size_t retired() const {
    std::lock_guard lock(mu_);
    return retired_count_;
  }

 private:
  friend class SnapshotReader<T>;

  /// REQUIRES: lock holds mu_. Unlocks it before destroying anything.
  std::uint64_t publish(T next, std::unique_lock<std::mutex>& lock) {
    std::uint64_t number = version_.load(std::memory_order_relaxed) + 1;  // under mu_
    auto* fresh = new Version{std::move(next), number};  // the only allocation
    const Version* old = current_.exchange(fresh, std::memory_order_seq_cst);  // see hazard::protect
    version_.store(number, std::memory_order_release);  // pairs with version()
    old->next_retired = retired_;
    retired_ = old;
    ++retired_count_;
    const Version* dead = reclaim_locked();
    lock.unlock();
    destroy_list(dead);
    return number;
  }

  /// Unlinks the retired versions no hazard slot holds and returns them (a list
  /// for destroy_list, to call without the lock). One scan of the slots marks the
  /// held ones. REQUIRES: mu_ held.
  const Version* reclaim_locked() const noexcept {
    if (retired_ == nullptr) return nullptr;
    detail::hazard::writer_fence();
    detail::hazard::for_each_protected([this](const void* p) noexcept {
      for (const Version* v = retired_; v != nullptr; v = v->next_retired)
        if (v == p) v->held = true;
    });
    const Version* dead = nullptr;
    for (const Version** link = &retired_; *link != nullptr;) {
      const Version* v = *link;
      if (v->held) {
        v->held = false;
        link = &v->next_retired;
      } else {
        *link = v->next_retired;
        v->next_retired = dead;
        dead = v;
        --retired_count_;
      }
    }
    return dead;
  }

  static void destroy_list(const Version* v) noexcept {
    while (v != nullptr) delete std::exchange(v, v->next_retired);
  }

  /// A reader lets go of `v`. If v was replaced meanwhile, this may have been its
  /// last reader: try to reclaim (rare; only right after a store).
  void unprotect(const Version* v, unsigned slot) const noexcept {
    detail::hazard::ThreadHazards& th = detail::hazard::tls_hazards;
    bool replaced = detail::hazard::unprotect_replaced(th.record->slots[slot], current_, v);
    th.used &= ~(1u << slot);
    if (CISTERN_UNLIKELY(replaced)) reclaim_now();
  }

  void reclaim_now() const noexcept {
    const Version* dead;
    {
      std::lock_guard lock(mu_);
      dead = reclaim_locked();
    }
    destroy_list(dead);
  }

  std::atomic<const Version*> current_;
  std::atomic<std::uint64_t> version_{1};  // written under mu_
  mutable std::mutex mu_;                  // serialises writers and reclamation
  /// Replaced, maybe still read: a list linked by next_retired, and its length. Under mu_.
  mutable const Version* retired_ = nullptr;
  mutable std::size_t retired_count_ = 0;
};

}  // namespace cistern
