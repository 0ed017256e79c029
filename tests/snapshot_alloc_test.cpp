// SPDX-License-Identifier: Apache-2.0
// Snapshot<T>: what allocates. Only store() does, one version each; a reader that
// reclaims a replaced version (in its noexcept destructor) allocates nothing.
#include <gtest/gtest.h>

#include <cstdint>

#include "cistern/snapshot.hpp"
#include "cistern/testing/alloc_counter.hpp"

namespace {

using cistern::testing::thread_alloc_counts;

TEST(SnapshotAlloc, StoreAllocatesOneVersionAndReclaimingAllocatesNothing) {
  ASSERT_TRUE(cistern::testing::alloc_counter_linked());
  cistern::Snapshot<std::uint64_t> s(1);
  { auto warm = s.load(); }  // this thread's hazard record

  auto before = thread_alloc_counts();
  s.store(2);  // no reader: the old version goes at once
  auto made = thread_alloc_counts() - before;
  EXPECT_EQ(made.allocations, 1u) << "the new version only";
  EXPECT_EQ(made.deallocations, 1u) << "the replaced version";

  for (int round = 1; round <= 3; ++round) {
    auto r1 = s.load();
    auto r2 = s.load();
    s.store(10 + static_cast<std::uint64_t>(round));  // held: retired, not destroyed
    if (round > 1) s.store(20 + static_cast<std::uint64_t>(round));  // a second retired one, unheld
    EXPECT_EQ(s.retired(), 1u);
    before = thread_alloc_counts();
    r1 = s.load();  // r1's old version stays held by r2
    {
      auto dropped = std::move(r2);  // the last reader of the replaced version
    }
    made = thread_alloc_counts() - before;
    EXPECT_EQ(made.allocations, 0u);
    EXPECT_EQ(made.deallocations, 1u) << "the replaced version, reclaimed by its last reader";
    EXPECT_EQ(s.retired(), 0u);
  }
}

}  // namespace
