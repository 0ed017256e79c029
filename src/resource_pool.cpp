// SPDX-License-Identifier: Apache-2.0
// src/resource_pool.cpp — what ResourcePool<T> needs that is not a template.
#include <cxxabi.h>
#include <execinfo.h>

#include <atomic>
#include <cstdlib>
#include <memory>

#include "cistern/resource_pool.hpp"

namespace cistern::detail {

std::uint64_t next_resource_pool_uid() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);  // unique, nothing else
}

std::string symbolize(void* const* frames, int n) {
  std::string out;
  if (n <= 0) return "  (no stack captured)\n";
  std::unique_ptr<char*, decltype(&std::free)> names(backtrace_symbols(frames, n), &std::free);
  for (int i = 0; i < n; ++i) {
    out += "  #" + std::to_string(i) + " ";
    out += names ? names.get()[i] : "?";
    out += '\n';
  }
  return out;
}

double WaitHistogram::percentile(double q) const noexcept {
  std::array<std::uint64_t, 32> c{};
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < c.size(); ++i) total += c[i] = buckets[i].load(std::memory_order_relaxed);
  if (total == 0) return 0;
  std::uint64_t want = static_cast<std::uint64_t>(q * static_cast<double>(total) + 0.5), seen = 0;
  if (want == 0) want = 1;
  for (std::size_t i = 0; i < c.size(); ++i) {
    seen += c[i];
    if (seen >= want) return i == 0 ? 0.0 : static_cast<double>(std::uint64_t{1} << (i - 1)) * 1.5;  // bucket middle
  }
  return static_cast<double>(std::uint64_t{1} << 30);
}

}  // namespace cistern::detail
