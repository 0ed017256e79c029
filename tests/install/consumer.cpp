// SPDX-License-Identifier: Apache-2.0
// A program built against an installed cistern (CMake package, pkg-config, the
// .deb, FetchContent). It crosses the library boundary both ways: the pool's
// fast path (inline, here) and its statistics (in the library) must see the same
// thread cache; a WorkerPool runs in the library; metrics come from it.
#include <cistern/cistern.hpp>

#include <cstdio>
#include <string>

int main() {
  cistern::Pool<std::string> pool({.name = "consumer"});
  {
    auto s = pool.get();
    s->assign("hello");
  }
  auto stats = pool.stats();
  std::printf("cistern %.*s: gets=%llu cached=%zu\n", int(cistern::version().size()), cistern::version().data(),
              static_cast<unsigned long long>(stats.gets), stats.cached);
  static_assert(cistern::version() == CISTERN_VERSION_STRING);
  cistern::WorkerPool workers({.capacity = 2, .name = "consumer_workers"});
  int ran = workers.async([] { return 42; }).get();
  bool named = cistern::metrics_text().find("pool=\"consumer\"") != std::string::npos;
  return stats.gets == 1 && stats.cached == 1 && ran == 42 && named ? 0 : 1;
}
