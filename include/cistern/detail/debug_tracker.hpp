// SPDX-License-Identifier: Apache-2.0
// cistern/detail/debug_tracker.hpp — bookkeeping behind the debug checks.
//
// Internal. With CISTERN_DEBUG_CHECKS the pools report every object they hand
// out, take back and destroy here. The tracker knows, for each live object, the
// pool it belongs to and whether it is in use or cached, and so can name misuse:
// a double return, a return to the wrong pool, an object that never came from a
// pool, objects still leased when their pool is destroyed.
//
// It is one global table under one lock: slow, and meant only for debug builds.
// Under ThreadSanitizer its lock is hidden from the race detector, so the
// synchronisation it adds does not mask races in the pool's own data path.
#pragma once

#include <cstddef>

#include "cistern/detail/export.hpp"

namespace cistern::detail::debug {

// `pool` identifies the pool; `name` is used in messages.
CISTERN_API void on_make(const void* pool, const void* object) noexcept;      // a new object is handed out
CISTERN_API void on_get(const void* pool, const char* name, const void* object) noexcept;  // cached -> in use
CISTERN_API void on_put(const void* pool, const char* name, const void* object) noexcept;  // in use -> cached
CISTERN_API void on_destroy(const void* object) noexcept;                     // the pool destroyed it
CISTERN_API void on_detach(const void* object) noexcept;  // a lease let go of it: the caller owns it now
CISTERN_API std::size_t in_use(const void* pool) noexcept;                    // objects of `pool` in use

}  // namespace cistern::detail::debug
