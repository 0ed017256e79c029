// SPDX-License-Identifier: Apache-2.0
#include <cistern/cistern.hpp>

#include <cstdio>
#include <string>

int main() {
  cistern::Pool<std::string> pool({.name = "consumer"});
  { auto s = pool.get(); s->assign("hello"); }
  auto stats = pool.stats();
  std::printf("cistern %.*s: gets=%llu cached=%zu\n", int(cistern::version().size()), cistern::version().data(),
              static_cast<unsigned long long>(stats.gets), stats.cached);
  static_assert(cistern::version() == CISTERN_VERSION_STRING);
  return stats.gets == 1 && stats.cached == 1 ? 0 : 1;
}
