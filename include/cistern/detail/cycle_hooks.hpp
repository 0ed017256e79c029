// SPDX-License-Identifier: Apache-2.0
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

#include "cistern/detail/export.hpp"
#include "cistern/detail/id_handle.hpp"

namespace cistern::detail {

CISTERN_API void remove_cycle_hook(std::uint64_t id) noexcept;
// Removes the hook on destruction (waiting if it runs now). Move-only.
using CycleHook = IdHandle<&remove_cycle_hook>;

// Registers `hook` to run at every cycle().
CISTERN_API CycleHook add_cycle_hook(std::function<void()> hook);

}  // namespace cistern::detail
