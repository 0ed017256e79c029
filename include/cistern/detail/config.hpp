// SPDX-License-Identifier: Apache-2.0
// cistern/detail/config.hpp — build switches and the one invariant-check macro.
//
// Internal: users include the public headers, never this file.
//
// CISTERN_DEBUG_CHECKS (0 or 1) is set by the build (CMake option of the same
// name, on in the debug, asan and tsan presets). It must be the same for every
// translation unit of a program; the CMake target exports it for that reason.
#pragma once

#include <cstddef>

#include "cistern/detail/export.hpp"

#ifndef CISTERN_DEBUG_CHECKS
#define CISTERN_DEBUG_CHECKS 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CISTERN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CISTERN_ASAN 1
#endif
#endif
#ifndef CISTERN_ASAN
#define CISTERN_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define CISTERN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CISTERN_TSAN 1
#endif
#endif
#ifndef CISTERN_TSAN
#define CISTERN_TSAN 0
#endif

#if CISTERN_ASAN
#include <sanitizer/asan_interface.h>
#endif

// The fast paths of get and put are a handful of instructions; make sure they are
// inlined into the caller even where the compiler's size heuristics hesitate.
#define CISTERN_ALWAYS_INLINE inline __attribute__((always_inline))

#define CISTERN_LIKELY(x) __builtin_expect(!!(x), 1)
#define CISTERN_UNLIKELY(x) __builtin_expect(!!(x), 0)

namespace cistern::detail {

// Size of a cache line on the machines we target; per-thread state is aligned to
// it so that no two threads ever write the same line.
inline constexpr std::size_t kCacheLine = 64;

// Reports a broken invariant or a misuse and stops the program. `pool` names the
// pool involved (may be empty). Never returns.
[[noreturn]] CISTERN_API void check_failed(const char* condition, const char* file, int line,
                               const char* pool, const char* message) noexcept;

// Marks an object's memory unusable (or usable again) for AddressSanitizer. No-op
// in builds without ASan or without debug checks.
inline void poison(const void* p, std::size_t n) noexcept {
#if CISTERN_ASAN && CISTERN_DEBUG_CHECKS
  __asan_poison_memory_region(p, n);
#else
  (void)p;
  (void)n;
#endif
}
inline void unpoison(const void* p, std::size_t n) noexcept {
#if CISTERN_ASAN && CISTERN_DEBUG_CHECKS
  __asan_unpoison_memory_region(p, n);
#else
  (void)p;
  (void)n;
#endif
}

}  // namespace cistern::detail

// CISTERN_CHECK(cond, pool_name, message): if cond is false, prints the message
// with the pool's name and aborts. Active in every build: use it for invariants
// whose check is cheap; debug-only checks are guarded by CISTERN_DEBUG_CHECKS.
#define CISTERN_CHECK(cond, pool, message)                                          \
  do {                                                                              \
    if (CISTERN_UNLIKELY(!(cond)))                                                  \
      ::cistern::detail::check_failed(#cond, __FILE__, __LINE__, (pool), (message)); \
  } while (0)
