// SPDX-License-Identifier: Apache-2.0
// PoolResource with std::pmr containers, across threads.
#include "cistern/memory_resource.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory_resource>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

TEST(PoolResource, ServesContainers) {
  cistern::PoolResource pool;
  std::pmr::vector<int> v(&pool);
  for (int i = 0; i < 10000; ++i) v.push_back(i);
  std::pmr::string s("a string long enough to leave the small buffer", &pool);
  std::pmr::unordered_map<std::pmr::string, int> m(&pool);
  for (int i = 0; i < 1000; ++i) m[std::pmr::string("key number " + std::to_string(i), &pool)] = i;
  EXPECT_EQ(v[9999], 9999);
  EXPECT_EQ(m.size(), 1000u);
  EXPECT_EQ(m.at(std::pmr::string("key number 77", &pool)), 77);
}

TEST(PoolResource, AlignmentAndLargeRequests) {
  cistern::PoolResource pool;
  for (std::size_t align : {1u, 2u, 4u, 8u, 16u, 32u, 64u, 4096u}) {
    for (std::size_t bytes : {1u, 7u, 16u, 100u, 4096u, 5000u, 100000u}) {
      void* p = pool.allocate(bytes, align);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u) << bytes << " " << align;
      std::memset(p, 0x5A, bytes);
      pool.deallocate(p, bytes, align);
    }
  }
}

TEST(PoolResource, IsEqualOnlyToItself) {
  cistern::PoolResource a, b;
  EXPECT_TRUE(a.is_equal(a));
  EXPECT_FALSE(a.is_equal(b));
  EXPECT_FALSE(a.is_equal(*std::pmr::new_delete_resource()));
}

TEST(PoolResource, NullUpstreamIsRejected) { EXPECT_THROW(cistern::PoolResource(nullptr), std::invalid_argument); }

TEST(PoolResource, ContainersBuiltOnOneThreadAndFreedOnAnother) {
  cistern::PoolResource pool;
  for (int round = 0; round < 20; ++round) {
    std::vector<std::pmr::vector<std::pmr::string>> made;
    std::thread producer([&] {
      for (int i = 0; i < 200; ++i) {
        std::pmr::vector<std::pmr::string> v(&pool);
        for (int j = 0; j < 20; ++j) v.emplace_back("string number " + std::to_string(j) + " of a vector");
        made.push_back(std::move(v));
      }
    });
    producer.join();
    std::thread consumer([&] { made.clear(); });
    consumer.join();
  }
}

TEST(PoolResource, ManyThreadsAtOnce) {
  cistern::PoolResource pool;
  std::vector<std::thread> threads;
  std::atomic<long> sum{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round) {
        std::pmr::unordered_map<int, std::pmr::string> m(&pool);
        for (int i = 0; i < 50; ++i) m.emplace(i, std::pmr::string(static_cast<std::size_t>(i + t), 'z', &pool));
        long local = 0;
        for (auto& [k, v] : m) local += static_cast<long>(v.size());
        sum.fetch_add(local);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GT(sum.load(), 0);
}

}  // namespace
