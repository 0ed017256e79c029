// SPDX-License-Identifier: Apache-2.0
/// @file
/// @brief statistics of every named pool, for scraping.
///
/// Any pool given a non-empty `name` in its Options registers itself for as long
/// as it lives; two live pools may not share a name (the second constructor
/// throws std::invalid_argument). These functions render all of them:
///
///   metrics_text()  Prometheus text exposition format 0.0.4: one family per
///                   statistic (counters end in _total), HELP and TYPE lines, and
///                   a `pool` label carrying the pool's name. Serve it at /metrics.
///   metrics_json()  {"pools":[{"name":..,"kind":..,"metrics":{family: value}}]}
///
/// Thread-safety: callable from any thread, concurrently with pools being used,
/// made and destroyed. Values are a consistent-enough snapshot: each pool's
/// figures are read once, without stopping its users.
#pragma once

#include <string>

#include "cistern/detail/export.hpp"

namespace cistern {

CISTERN_API std::string metrics_text();
CISTERN_API std::string metrics_json();

}  // namespace cistern
