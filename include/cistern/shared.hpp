// SPDX-License-Identifier: Apache-2.0
/// @file
/// @brief SharedPool<T> / Shared<T>: pooled objects with several owners.
///
/// What it is
///   Shared<T> is a copyable handle to a pooled T, like std::shared_ptr<T>, but the
///   reference count lives next to the object (no control block is allocated) and
///   the last owner to let go returns the object to its SharedPool — reset first,
///   into the releasing thread's magazines — instead of deleting it. Use it for a
///   pooled object handed to several callbacks or subscribers.
///
///   cistern::SharedPool<Message> messages;
///   cistern::Shared<Message> m = messages.get();
///   for (auto& s : subscribers) s.post(m);       // copies; any thread may drop last
///
/// Cost: a copy is one relaxed atomic increment; dropping a copy is one acq_rel
/// decrement (the acquire half orders every owner's use of the object before its
/// reset and reuse), and dropping the only remaining one is a plain acquire load.
/// sizeof(Shared<T>) == sizeof(void*).
///
/// Thread-safety: distinct Shared<T> objects may be copied and destroyed on any
/// threads concurrently, even when they point to the same T. The T itself is shared:
/// synchronise access to its mutable state yourself (or treat it as immutable once
/// shared). One Shared<T> object must not be assigned on one thread while read on
/// another (the same rule as std::shared_ptr).
///
/// When not to use it
///   - One owner at a time: Pool<T> and Lease<T> cost less (no atomics at all).
///   - Weak references are needed: there is no weak_ptr counterpart.
///   - Objects that must outlive the pool: every Shared<T> must be gone before its
///     SharedPool is destroyed (debug builds report it).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "cistern/pool.hpp"

namespace cistern {

template <class T>
class SharedPool;

namespace detail {

/// The pooled unit: the user's T, its count, and the way home. Aligned to a cache
/// line: pooled nodes live long and are used by different threads, and two counts
/// on one line would make every copy on one thread slow down the other.
template <class T>
struct alignas(kCacheLine) SharedNode {
  template <class... Args>
  explicit SharedNode(Args&&... args) : value(std::forward<Args>(args)...) {}
  /// The pool's default reset: T::reset() when T has one (a bool result is the
  /// keep/drop answer), else T::clear(). Inlined into the return path. Absent when
  /// T has neither, so Pool<SharedNode> then needs (and gets) an explicit reset.
  bool reset()
    requires HasDefaultReset<T>
  {
    return default_reset(value);
  }
  T value;
  std::atomic<std::uint32_t> refs{0};
  Pool<SharedNode>* home = nullptr;
};

}  // namespace detail

template <class T>
class Shared {
  using Node = detail::SharedNode<T>;

 public:
  Shared() noexcept = default;
  Shared(const Shared& other) noexcept : node_(other.node_) {
    if (node_ != nullptr) node_->refs.fetch_add(1, std::memory_order_relaxed);  // the copied-from keeps it alive
  }
  Shared(Shared&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
  Shared& operator=(const Shared& other) noexcept {
    Shared(other).swap(*this);
    return *this;
  }
  Shared& operator=(Shared&& other) noexcept {
    Shared(std::move(other)).swap(*this);
    return *this;
  }
  ~Shared() { drop(); }

  /// REQUIRES (operator->, operator*): not empty.
  T* operator->() const noexcept { return &node_->value; }
  T& operator*() const noexcept { return node_->value; }
  T* get() const noexcept { return node_ != nullptr ? &node_->value : nullptr; }
  explicit operator bool() const noexcept { return node_ != nullptr; }
  /// Owners right now (0 when empty); approximate while other threads copy or drop.
  std::uint32_t use_count() const noexcept {
    return node_ != nullptr ? node_->refs.load(std::memory_order_relaxed) : 0;  // a hint only
  }
  /// Lets go now: the object returns to its pool if this was the last owner.
  void reset() noexcept {
    drop();
    node_ = nullptr;
  }
  void swap(Shared& other) noexcept { std::swap(node_, other.node_); }

 private:
  friend class SharedPool<T>;
  explicit Shared(Node* node) noexcept : node_(node) {}
  void drop() noexcept {
    if (node_ == nullptr) return;
    // A count of 1 seen by an owner means it is the only one: nobody else can make
    // a copy, so no RMW is needed (acquire pairs with the other owners' releases
    // below, ordering their use of the object before the reset).
    // Otherwise acq_rel: release publishes this owner's writes; the last owner's
    // acquire sees every other owner's writes before reset runs.
    if (node_->refs.load(std::memory_order_acquire) == 1 ||
        node_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      node_->home->release(node_);
    }
  }

  Node* node_ = nullptr;
};

template <class T>
class SharedPool {
  using Node = detail::SharedNode<T>;

 public:
  /// Same options as Pool<T>: `make` (a custom factory needs a move-constructible
  /// T, moved into the pooled node), `reset` (default: T::reset() if present),
  /// `name`, `magazine_size`, `max_cached`. Throws std::invalid_argument on bad
  /// options. The reset policy is Pool<T>'s: reset(), else clear(), else
  /// Options::reset is required (SharedPool() does not compile without one).
  SharedPool() : SharedPool(typename Pool<T>::Options{}) {
    static_assert(detail::HasDefaultReset<T>,
                  "cistern::SharedPool<T>(): T has neither reset() nor clear(), so the pool cannot know how "
                  "to wipe a returned object. Give Options::reset, or cistern::keep_as_is to keep objects "
                  "as they are.");
  }
  explicit SharedPool(typename Pool<T>::Options options) : pool_(node_options(std::move(options))) {}
  SharedPool(const SharedPool&) = delete;
  SharedPool& operator=(const SharedPool&) = delete;
  /// REQUIRES: no Shared<T> of this pool is alive.
  ~SharedPool() = default;

  /// A cached object (reset when it came back) or a new one, with one owner.
  Shared<T> get() {
    Node* node = pool_.acquire();
    node->refs.store(1, std::memory_order_relaxed);  // not yet shared with anyone
    node->home = &pool_;
    return Shared<T>(node);
  }

  PoolStats stats() const { return pool_.stats(); }
  void clear() { pool_.clear(); }
  /// As Pool<T>::prefill: n new objects into the shared tier.
  void prefill(std::size_t n) { pool_.prefill(n); }

 private:
  static typename Pool<Node>::Options node_options(typename Pool<T>::Options o) {
    typename Pool<Node>::Options n;
    n.name = std::move(o.name);
    n.magazine_size = o.magazine_size;
    n.max_cached = o.max_cached;
    if constexpr (!detail::HasDefaultReset<T>) {
      if (!o.reset)
        throw std::invalid_argument(std::string("cistern::SharedPool: Options::reset is empty and ") +
                                    detail::kNoResetPolicy);
    }
    if (o.make) {
      if constexpr (std::is_move_constructible_v<T>) {
        n.make = [make = std::move(o.make)] {
          std::unique_ptr<T> made = make();
          if (made == nullptr) return std::unique_ptr<Node>();
          return std::make_unique<Node>(std::move(*made));
        };
      } else {
        throw std::invalid_argument("cistern::SharedPool: Options::make needs a move-constructible T");
      }
    } else if constexpr (std::is_default_constructible_v<T>) {
      n.make = [] { return std::make_unique<Node>(); };
    } else {
      throw std::invalid_argument("cistern::SharedPool: Options::make is required when T is not default-constructible");
    }
    if (o.reset && o.reset.template target<keep_as_is_t>() != nullptr) {
      n.reset = keep_as_is;  // the node pool sees the opt-out too (no call per return)
    } else if (o.reset) {
      n.reset = [reset = std::move(o.reset)](Node& node) { return reset(node.value); };
    }
    return n;
  }

  Pool<Node> pool_;
};

static_assert(sizeof(Shared<int>) == sizeof(void*));

}  // namespace cistern
