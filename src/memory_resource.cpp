// SPDX-License-Identifier: Apache-2.0
// src/memory_resource.cpp — PoolResource's construction.
#include "cistern/memory_resource.hpp"

#include <stdexcept>
#include <string>

namespace cistern {

PoolResource::PoolResource(detail::pmr::memory_resource* upstream) : upstream_(upstream) {
  if (upstream_ == nullptr) throw std::invalid_argument("cistern::PoolResource: upstream must not be null");
  for (std::size_t i = 0; i < kClasses; ++i) {
    std::size_t size = kMinBlock << i;
    classes_[i] = std::make_unique<detail::BlockPool>("PoolResource class " + std::to_string(size), size);
  }
}

PoolResource::~PoolResource() = default;

}  // namespace cistern
