// SPDX-License-Identifier: Apache-2.0
// cistern/detail/id_handle.hpp — a move-only handle to a registration.
//
// Internal. Registries (metrics, cycle hooks) hand out a number for each entry;
// the handle removes the entry when it is destroyed or reset. 0 is "none".
#pragma once

#include <cstdint>
#include <utility>

namespace cistern::detail {

template <void (*Remove)(std::uint64_t id) noexcept>
class IdHandle {
 public:
  IdHandle() noexcept = default;
  explicit IdHandle(std::uint64_t id) noexcept : id_(id) {}
  IdHandle(IdHandle&& o) noexcept : id_(std::exchange(o.id_, 0)) {}
  IdHandle& operator=(IdHandle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, 0);
    }
    return *this;
  }
  IdHandle(const IdHandle&) = delete;
  IdHandle& operator=(const IdHandle&) = delete;
  ~IdHandle() { reset(); }

  // Removes the entry now (waits if the registry is using it). Idempotent.
  void reset() noexcept {
    if (id_ != 0) Remove(std::exchange(id_, 0));
  }

 private:
  std::uint64_t id_ = 0;
};

}  // namespace cistern::detail
