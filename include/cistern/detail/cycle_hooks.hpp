// cistern/detail/cycle_hooks.hpp — work that runs at every cycle().
//
// Internal. Tools with timed caches of their own (BufferPool's large buffers)
// register a hook; cycle() — the background clock's or a manual one — runs every
// hook after rotating the pools' depots. Hooks run one at a time, on the cycling
// thread, under a lock that removal also takes: after the handle is destroyed the
// hook never runs again. A hook must not register or remove hooks.
#pragma once

#include <cstdint>
#include <functional>

namespace cistern::detail {

class CycleHook {
 public:
  CycleHook() = default;
  explicit CycleHook(std::function<void()> hook);
  CycleHook(CycleHook&& other) noexcept : id_(other.id_) { other.id_ = 0; }
  CycleHook& operator=(CycleHook&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.id_;
      other.id_ = 0;
    }
    return *this;
  }
  CycleHook(const CycleHook&) = delete;
  CycleHook& operator=(const CycleHook&) = delete;
  ~CycleHook() { reset(); }
  // Removes the hook; waits if it is running now.
  void reset() noexcept;

 private:
  std::uint64_t id_ = 0;
};

}  // namespace cistern::detail
