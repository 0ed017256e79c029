// SPDX-License-Identifier: Apache-2.0
// cistern/detail/export.hpp — CISTERN_API, what libcistern exports.
//
// Internal: users include the public headers, never this file.
//
// The library is compiled with hidden visibility (-fvisibility=hidden and
// -fvisibility-inlines-hidden), as a static or a shared library. CISTERN_API
// marks what must stay visible to a program that links libcistern.so:
//   - the classes and functions defined in src/ that inline code calls;
//   - the classes whose type or vtable crosses the boundary (exceptions caught by
//     type, classes with virtual functions);
//   - the thread_local variables that inline code and the library both use: hidden,
//     each side would have its own, and a thread's cache would be two caches.
// On ELF this is the default visibility attribute; the same declaration serves the
// library and its users.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define CISTERN_API __attribute__((visibility("default")))
#else
#define CISTERN_API
#endif
