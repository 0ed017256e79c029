// SPDX-License-Identifier: Apache-2.0
// ByteRing: contiguous spans across the wrap, errors, and a checked byte stream.
#include "cistern/ring.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <thread>

namespace {

TEST(ByteRing, CapacityIsAPageMultiple) {
  cistern::ByteRing ring(1);
  EXPECT_EQ(ring.capacity(), 4096u);
  cistern::ByteRing big(10000);
  EXPECT_EQ(big.capacity(), 16384u);
  EXPECT_THROW(cistern::ByteRing(0), std::invalid_argument);
}

TEST(ByteRing, SpansStayContiguousAcrossTheWrap) {
  cistern::ByteRing ring(4096);
  // Move the positions near the end of the ring.
  ring.commit(4000);
  ring.consume(4000);
  auto w = ring.write_span();
  ASSERT_EQ(w.size(), 4096u);
  for (std::size_t i = 0; i < 300; ++i) w[i] = std::byte(i & 0xFF);  // crosses the end
  ring.commit(300);
  auto r = ring.read_span();
  ASSERT_EQ(r.size(), 300u);
  for (std::size_t i = 0; i < 300; ++i) ASSERT_EQ(r[i], std::byte(i & 0xFF)) << i;
  ring.consume(300);
  EXPECT_TRUE(ring.read_span().empty());
}

TEST(ByteRing, OverCommitAndOverConsumeThrow) {
  cistern::ByteRing ring(4096);
  EXPECT_THROW(ring.commit(4097), std::length_error);
  ring.commit(10);
  EXPECT_THROW(ring.consume(11), std::length_error);
  ring.consume(10);
}

// A producer writes a pseudo-random byte stream in random chunk sizes; the consumer
// reads in its own random chunk sizes and checks every byte.
TEST(ByteRing, StressTwoThreadsEveryByteChecked) {
  cistern::ByteRing ring(8192);
  constexpr std::uint64_t kTotal = 20'000'000;
  std::thread producer([&] {
    std::mt19937_64 sizes(1);
    std::minstd_rand bytes(7);
    std::uint64_t written = 0;
    while (written < kTotal) {
      auto w = ring.write_span();
      if (w.empty()) {
        std::this_thread::yield();
        continue;
      }
      std::size_t n = std::min<std::uint64_t>({w.size(), sizes() % 3000 + 1, kTotal - written});
      for (std::size_t i = 0; i < n; ++i) w[i] = std::byte(bytes() & 0xFF);
      ring.commit(n);
      written += n;
    }
  });
  std::mt19937_64 sizes(2);
  std::minstd_rand expect(7);
  std::uint64_t read = 0, mismatches = 0;
  while (read < kTotal) {
    auto r = ring.read_span();
    if (r.empty()) {
      std::this_thread::yield();
      continue;
    }
    std::size_t n = std::min<std::uint64_t>(r.size(), sizes() % 5000 + 1);
    for (std::size_t i = 0; i < n; ++i)
      if (r[i] != std::byte(expect() & 0xFF)) ++mismatches;
    ring.consume(n);
    read += n;
  }
  producer.join();
  EXPECT_EQ(mismatches, 0u);
}

}  // namespace
