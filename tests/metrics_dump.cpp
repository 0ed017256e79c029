// SPDX-License-Identifier: Apache-2.0
// Prints metrics_text() for a few named pools, for promtool to lint.
#include <cstdio>
#include <string>

#include "cistern/cistern.hpp"

int main() {
  cistern::Pool<std::string> a({.name = "requests"});
  cistern::Pool<int> b({.reset = cistern::keep_as_is, .name = "odd \"name\"\\with\nescapes"});
  { auto s = a.get(); auto t = a.get(); }
  { auto i = b.get(); }
  std::fputs(cistern::metrics_text().c_str(), stdout);
}
