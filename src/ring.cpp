// SPDX-License-Identifier: Apache-2.0
// src/ring.cpp — mapping one memfd twice, back to back.
#include "cistern/ring.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace cistern {
namespace {

[[noreturn]] void fail(const char* step, int err, std::size_t capacity) {
  throw std::system_error(err, std::generic_category(),
                          std::string("cistern::ByteRing(") + std::to_string(capacity) + "): " + step);
}

}  // namespace

ByteRing::ByteRing(std::size_t min_capacity) {
  if (min_capacity == 0) throw std::invalid_argument("cistern::ByteRing: min_capacity must be positive");
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  std::size_t capacity = page;
  while (capacity < min_capacity) {
    if (capacity > (std::size_t{1} << 40)) throw std::invalid_argument("cistern::ByteRing: min_capacity too large");
    capacity *= 2;  // a power of two, so positions wrap with a mask
  }
  int fd = memfd_create("cistern-ring", MFD_CLOEXEC);
  if (fd < 0) fail("memfd_create", errno, capacity);
  if (ftruncate(fd, static_cast<off_t>(capacity)) != 0) {
    int err = errno;
    close(fd);
    fail("ftruncate", err, capacity);
  }
  // Reserve twice the size, then map the file into each half.
  void* area = mmap(nullptr, 2 * capacity, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) {
    int err = errno;
    close(fd);
    fail("mmap (reserve)", err, capacity);
  }
  auto* base = static_cast<std::byte*>(area);
  for (int half = 0; half < 2; ++half) {
    void* at = mmap(base + half * capacity, capacity, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    if (at == MAP_FAILED) {
      int err = errno;
      munmap(area, 2 * capacity);
      close(fd);
      fail("mmap (view)", err, capacity);
    }
  }
  close(fd);  // the mappings keep the memory
  base_ = base;
  capacity_ = capacity;
  mask_ = capacity - 1;
}

ByteRing::~ByteRing() {
  if (base_ != nullptr) munmap(base_, 2 * capacity_);
}

}  // namespace cistern
