// SPDX-License-Identifier: Apache-2.0
// src/check.cpp — the one place where a broken invariant stops the program.
#include <cstdio>
#include <cstdlib>

#include "cistern/detail/config.hpp"

namespace cistern::detail {

void check_failed(const char* condition, const char* file, int line, const char* pool,
                  const char* message) noexcept {
  std::fprintf(stderr, "cistern: pool '%s': %s\n  (check failed: %s at %s:%d)\n",
               pool != nullptr && pool[0] != '\0' ? pool : "(unnamed)", message, condition, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace cistern::detail
