// SPDX-License-Identifier: Apache-2.0
// cistern/detail/magazine.hpp — a fixed-capacity array of cached object pointers.
//
// Internal. A magazine (Bonwick, "Magazines and Vmem", 2001) is the unit that moves
// between a thread's cache and the shared depot: moving one magazine moves up to
// `capacity` objects at the price of one pointer exchange. Magazines carry no lock
// and no atomics; whoever holds a magazine owns it exclusively.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

namespace cistern::detail {

struct Magazine {
  Magazine* next = nullptr;   // link in the depot's lists
  std::uint32_t count = 0;    // objects held; stale while the magazine is a
                              // thread cache's loaded one (the cache's top is live)
  std::uint32_t capacity = 0;

  void** items() noexcept { return reinterpret_cast<void**>(this + 1); }
  bool empty() const noexcept { return count == 0; }
  bool full() const noexcept { return count == capacity; }

  // Allocates an empty magazine of `capacity` slots in one block.
  static Magazine* create(std::uint32_t capacity) {
    void* raw = ::operator new(sizeof(Magazine) + capacity * sizeof(void*));
    auto* m = new (raw) Magazine;
    m->capacity = capacity;
    return m;
  }
  // REQUIRES: the magazine is empty or its objects were handed elsewhere.
  static void destroy(Magazine* m) noexcept {
    m->~Magazine();
    ::operator delete(m);
  }
};
static_assert(sizeof(Magazine) == 16, "items() must follow the header directly");
static_assert(alignof(Magazine) >= alignof(void*));

// Chooses a magazine's capacity from the object size: about 16 KiB of objects
// per magazine, between 8 and 128 slots. Small objects get deep magazines (fewer
// depot trips); big ones shallow ones (less memory parked per thread).
constexpr std::uint32_t default_magazine_size(std::size_t object_size) noexcept {
  constexpr std::size_t kTargetBytes = 16 * 1024;
  std::size_t n = object_size == 0 ? 128 : kTargetBytes / object_size;
  if (n < 8) n = 8;
  if (n > 128) n = 128;
  return static_cast<std::uint32_t>(n);
}

}  // namespace cistern::detail
