#include <cistern/cistern.hpp>

#include <cstdio>
#include <string>

int main() {
  cistern::Pool<std::string> pool({.name = "consumer"});
  { auto s = pool.get(); s->assign("hello"); }
  auto stats = pool.stats();
  std::printf("gets=%llu cached=%zu\n", static_cast<unsigned long long>(stats.gets), stats.cached);
  return stats.gets == 1 && stats.cached == 1 ? 0 : 1;
}
