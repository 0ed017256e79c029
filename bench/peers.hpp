// SPDX-License-Identifier: Apache-2.0
// The contenders of the Pool<T> benchmarks, behind one interface:
//   static T* get();  static void put(T*);
// Each holds its state in statics, shared by every thread of a benchmark, as a
// process-wide pool would be. Objects are Obj<N>: N bytes, no constructor work.
#pragma once

#include <boost/pool/object_pool.hpp>
#include <concurrentqueue/concurrentqueue.h>
#include <cstddef>
#include <memory_resource>
#include <mutex>
#include <vector>

#include "cistern/pool.hpp"
#include "mimalloc_peer.hpp"

namespace bench {

template <std::size_t N>
struct Obj {
  char bytes[N];
};

template <std::size_t N>
struct CisternPool {
  static constexpr const char* kName = "cistern::Pool";
  // Raw bytes, like the allocators' blocks: nothing to wipe, so the explicit opt-out.
  static inline cistern::Pool<Obj<N>> pool{{.reset = cistern::keep_as_is}};
  static Obj<N>* get() { return pool.acquire(); }
  static void put(Obj<N>* p) { pool.release(p); }
};

template <std::size_t N>
struct NewDelete {
  static constexpr const char* kName = "new/delete (glibc)";
  static Obj<N>* get() { return new Obj<N>; }
  static void put(Obj<N>* p) { delete p; }
};

template <std::size_t N>
struct Mimalloc {
  static constexpr const char* kName = "mi_malloc/mi_free";
  static inline const MimallocApi& mi = MimallocApi::get();
  static Obj<N>* get() { return static_cast<Obj<N>*>(mi.malloc(sizeof(Obj<N>))); }
  static void put(Obj<N>* p) { mi.free(p); }
};

// Single-threaded only: boost's pools take no lock.
template <std::size_t N>
struct BoostObjectPool {
  static constexpr const char* kName = "boost::object_pool";
  static boost::object_pool<Obj<N>>& pool() {
    static boost::object_pool<Obj<N>> p;
    return p;
  }
  static Obj<N>* get() { return pool().malloc(); }
  static void put(Obj<N>* p) { pool().free(p); }
};

template <std::size_t N>
struct SyncPmr {
  static constexpr const char* kName = "pmr::synchronized_pool_resource";
  static std::pmr::synchronized_pool_resource& resource() {
    static std::pmr::synchronized_pool_resource r;
    return r;
  }
  static Obj<N>* get() { return static_cast<Obj<N>*>(resource().allocate(sizeof(Obj<N>), alignof(Obj<N>))); }
  static void put(Obj<N>* p) { resource().deallocate(p, sizeof(Obj<N>), alignof(Obj<N>)); }
};

// The free list people write by hand.
template <std::size_t N>
struct MutexFreeList {
  static constexpr const char* kName = "mutex + vector<T*>";
  static std::mutex& mu() {
    static std::mutex m;
    return m;
  }
  static std::vector<Obj<N>*>& list() {
    static std::vector<Obj<N>*> v;
    return v;
  }
  static Obj<N>* get() {
    {
      std::lock_guard lock(mu());
      auto& l = list();
      if (!l.empty()) {
        Obj<N>* p = l.back();
        l.pop_back();
        return p;
      }
    }
    return new Obj<N>;
  }
  static void put(Obj<N>* p) {
    std::lock_guard lock(mu());
    list().push_back(p);
  }
};

template <std::size_t N>
struct MoodycamelFreeList {
  static constexpr const char* kName = "moodycamel::ConcurrentQueue<T*>";
  static moodycamel::ConcurrentQueue<Obj<N>*>& queue() {
    static moodycamel::ConcurrentQueue<Obj<N>*> q;
    return q;
  }
  static Obj<N>* get() {
    Obj<N>* p;
    if (queue().try_dequeue(p)) return p;
    return new Obj<N>;
  }
  static void put(Obj<N>* p) { queue().enqueue(p); }
};

}  // namespace bench
