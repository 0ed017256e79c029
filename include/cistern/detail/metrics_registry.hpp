// SPDX-License-Identifier: Apache-2.0
// cistern/detail/metrics_registry.hpp — how a named pool shows up in metrics.
//
// Internal. A pool with a name registers a collector; metrics_text() and
// metrics_json() call every collector and render what they return. A name may be
// used by one live pool at a time (register_metrics throws otherwise).
//
// Thread-safety: all functions may be called from any thread. Collectors run
// under the registry's lock, so a collector must not register or unregister.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cistern/detail/export.hpp"
#include "cistern/detail/id_handle.hpp"

namespace cistern::detail {

struct MetricSample {
  const char* family;  // e.g. "cistern_pool_gets_total"; static storage
  const char* help;    // one line; static storage
  bool counter;        // counter (true) or gauge (false)
  double value;
};
using MetricsCollector = std::function<void(std::vector<MetricSample>&)>;

CISTERN_API void unregister_metrics(std::uint64_t id) noexcept;
// Unregisters on destruction. Move-only.
using MetricsRegistration = IdHandle<&unregister_metrics>;

// Registers `name` (non-empty) of the given kind ("pool", "buffer_pool", ...).
// Throws std::invalid_argument if a live registration already uses `name`.
CISTERN_API MetricsRegistration register_metrics(const std::string& name, const char* kind,
                                     MetricsCollector collector);

}  // namespace cistern::detail
