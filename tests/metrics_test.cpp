// SPDX-License-Identifier: Apache-2.0
// Named pools in metrics_text() / metrics_json().
#include "cistern/metrics.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "cistern/pool.hpp"

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Metrics, NamedPoolsAppearWithHelpTypeAndLabel) {
  cistern::Pool<int> a({.reset = cistern::keep_as_is, .name = "alpha"});
  cistern::Pool<int> b({.reset = cistern::keep_as_is, .name = "beta"});
  cistern::Pool<int> unnamed({.reset = cistern::keep_as_is});
  { auto x = a.get(); auto y = a.get(); }
  { auto z = unnamed.get(); }
  std::string text = cistern::metrics_text();
  EXPECT_TRUE(contains(text, "# HELP cistern_pool_gets_total ")) << text;
  EXPECT_TRUE(contains(text, "# TYPE cistern_pool_gets_total counter\n")) << text;
  EXPECT_TRUE(contains(text, "# TYPE cistern_pool_cached gauge\n")) << text;
  EXPECT_TRUE(contains(text, "cistern_pool_gets_total{pool=\"alpha\"} 2\n")) << text;
  EXPECT_TRUE(contains(text, "cistern_pool_cached{pool=\"alpha\"} 2\n")) << text;
  EXPECT_TRUE(contains(text, "cistern_pool_gets_total{pool=\"beta\"} 0\n")) << text;
  // One HELP line per family, whatever the number of pools.
  std::size_t first = text.find("# HELP cistern_pool_gets_total");
  EXPECT_EQ(text.find("# HELP cistern_pool_gets_total", first + 1), std::string::npos);
}

TEST(Metrics, DuplicateLiveNameIsAnErrorAndTheNameIsFreedOnDestruction) {
  {
    cistern::Pool<int> a({.reset = cistern::keep_as_is, .name = "shared-name"});
    try {
      cistern::Pool<long> b({.reset = cistern::keep_as_is, .name = "shared-name"});
      FAIL() << "two live pools with one name";
    } catch (const std::invalid_argument& e) {
      EXPECT_TRUE(contains(e.what(), "shared-name")) << e.what();
    }
  }
  cistern::Pool<int> again({.reset = cistern::keep_as_is, .name = "shared-name"});  // free again
  EXPECT_TRUE(contains(cistern::metrics_text(), "pool=\"shared-name\""));
}

TEST(Metrics, PoolLeavesTheRegistryWhenDestroyed) {
  { cistern::Pool<int> gone({.reset = cistern::keep_as_is, .name = "short-lived"}); }
  EXPECT_FALSE(contains(cistern::metrics_text(), "short-lived"));
}

TEST(Metrics, LabelValuesAreEscaped) {
  cistern::Pool<int> odd({.reset = cistern::keep_as_is, .name = "a\"b\\c\nd"});
  EXPECT_TRUE(contains(cistern::metrics_text(), "{pool=\"a\\\"b\\\\c\\nd\"}"));
  EXPECT_TRUE(contains(cistern::metrics_json(), "\"name\":\"a\\\"b\\\\c\\nd\""));
}

TEST(Metrics, JsonListsEveryNamedPool) {
  cistern::Pool<int> a({.reset = cistern::keep_as_is, .name = "json-a"});
  { auto x = a.get(); }
  std::string json = cistern::metrics_json();
  EXPECT_EQ(json.rfind("{\"pools\":[", 0), 0u) << json;
  EXPECT_TRUE(contains(json, "{\"name\":\"json-a\",\"kind\":\"pool\",\"metrics\":{\"cistern_pool_gets_total\":1,"))
      << json;
}

}  // namespace
