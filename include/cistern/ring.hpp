// SPDX-License-Identifier: Apache-2.0
/// @file
/// @brief ByteRing: a single-producer single-consumer byte ring whose
/// spans never wrap.
///
/// What it is
///   A ring buffer of bytes between one producer thread and one consumer thread.
///   The ring's memory is mapped twice, back to back (one memfd, two mmaps), so the
///   free space and the readable bytes are always one contiguous span, even across
///   the end of the ring: a parser reads a whole message with no stitching, and a
///   producer writes (or recv()s) straight into the ring.
///
///   cistern::ByteRing ring(1 << 20);
///   // producer                                 // consumer
///   auto w = ring.write_span();                 auto r = ring.read_span();
///   std::size_t n = fill(w);                    std::size_t used = parse(r);
///   ring.commit(n);                             ring.consume(used);
///
/// Thread-safety and ordering: exactly one producer thread (write_span, commit) and
/// one consumer thread (read_span, consume). commit() is a release store that pairs
/// with read_span()'s acquire load, so bytes written before commit() are visible to
/// the consumer that sees them; consume() pairs the same way in the other direction.
/// No locks. capacity() from any thread.
///
/// When not to use it
///   - Several producers or consumers: use a queue made for that (or one ring each).
///   - Messages as objects rather than bytes: pass pointers through a queue.
///   - Tiny rings: capacity is rounded up to the page size (4 KiB) and costs two
///     mappings' worth of address space.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>

#include "cistern/detail/config.hpp"
#include "cistern/detail/export.hpp"

namespace cistern {

class CISTERN_API ByteRing {
 public:
  /// Capacity rounded up to the page size. Throws std::system_error naming the
  /// step that failed (memfd_create, ftruncate, mmap), std::invalid_argument for 0.
  explicit ByteRing(std::size_t min_capacity);
  ByteRing(const ByteRing&) = delete;
  ByteRing& operator=(const ByteRing&) = delete;
  ~ByteRing();

  /// Producer: the free space, contiguous (possibly empty).
  std::span<std::byte> write_span() noexcept {
    std::uint64_t tail = tail_.load(std::memory_order_relaxed);  // only the producer writes tail_
    std::uint64_t head = head_.load(std::memory_order_acquire);  // pairs with consume()'s release
    return {base_ + (tail & mask_), capacity_ - static_cast<std::size_t>(tail - head)};
  }
  /// Producer: publishes n bytes written at the start of write_span().
  /// Throws std::length_error if n exceeds the free space.
  void commit(std::size_t n) {
    std::uint64_t tail = tail_.load(std::memory_order_relaxed);  // only the producer writes tail_
    std::uint64_t head = head_.load(std::memory_order_acquire);  // pairs with consume()'s release
    if (CISTERN_UNLIKELY(n > capacity_ - (tail - head)))
      throw std::length_error("cistern::ByteRing::commit: more bytes than write_span() offered");
    tail_.store(tail + n, std::memory_order_release);  // pairs with read_span()'s acquire
  }

  /// Consumer: the readable bytes, contiguous (possibly empty).
  std::span<const std::byte> read_span() const noexcept {
    std::uint64_t head = head_.load(std::memory_order_relaxed);  // only the consumer writes head_
    std::uint64_t tail = tail_.load(std::memory_order_acquire);  // pairs with commit()'s release
    return {base_ + (head & mask_), static_cast<std::size_t>(tail - head)};
  }
  /// Consumer: frees the first n readable bytes.
  /// Throws std::length_error if n exceeds what read_span() offers.
  void consume(std::size_t n) {
    std::uint64_t head = head_.load(std::memory_order_relaxed);  // only the consumer writes head_
    std::uint64_t tail = tail_.load(std::memory_order_acquire);  // pairs with commit()'s release
    if (CISTERN_UNLIKELY(n > tail - head))
      throw std::length_error("cistern::ByteRing::consume: more bytes than read_span() offered");
    head_.store(head + n, std::memory_order_release);  // pairs with write_span()'s acquire
  }

  std::size_t capacity() const noexcept { return capacity_; }

 private:
  std::byte* base_ = nullptr;
  std::size_t capacity_ = 0;
  std::uint64_t mask_ = 0;
  alignas(detail::kCacheLine) std::atomic<std::uint64_t> head_{0};  // consumer's
  alignas(detail::kCacheLine) std::atomic<std::uint64_t> tail_{0};  // producer's (alignas rounds the class up: its own line)
};

}  // namespace cistern
