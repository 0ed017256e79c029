// SPDX-License-Identifier: Apache-2.0
// cistern/detail/cpu.hpp — the one spin-wait hint of the library.
//
// Internal. cpu_pause() tells the CPU that the caller is spinning: `pause` on
// x86 (lets the sibling hyper-thread run, saves power, avoids the memory-order
// flush when the spin ends), `yield` on aarch64, and elsewhere only a compiler
// barrier (the loop still re-reads what it waits on).
#pragma once

#include <thread>

namespace cistern::detail {

inline void cpu_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#else
  asm volatile("" ::: "memory");
#endif
}

// Step i of a spin wait: the CPU hint for the first 64 steps, then a yield (more
// spinners than cores: let the thread we wait for run).
inline void spin_relax(int i) noexcept {
  if (i < 64) {
    cpu_pause();
  } else {
    std::this_thread::yield();
  }
}

}  // namespace cistern::detail
