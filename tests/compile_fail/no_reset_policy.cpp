// SPDX-License-Identifier: Apache-2.0
// Must NOT compile (unless OPT_OUT): a pool of a type the pool cannot reset,
// made without saying how. tests/CMakeLists.txt checks that the compiler stops
// at cistern's static_assert, and that the explicit opt-out compiles.
#include <cistern/pool.hpp>
#include <cistern/shared.hpp>

struct Plain {
  int field = 0;
};

int main() {
#ifdef OPT_OUT
  cistern::Pool<Plain> pool({.reset = cistern::keep_as_is});
  cistern::SharedPool<Plain> shared({.reset = cistern::keep_as_is});
#else
#ifdef POOL
  cistern::Pool<Plain> pool;
#endif
#ifdef SHARED
  cistern::SharedPool<Plain> shared;
#endif
#endif
  return 0;
}
