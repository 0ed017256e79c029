// SPDX-License-Identifier: Apache-2.0
/// @file
/// @brief everything cistern offers, in one include.
///
/// Which tool for which job: see docs/guide.md. Each header below opens with what
/// it provides, its thread-safety and when not to use it.
#pragma once

#include "cistern/buffer.hpp"
#include "cistern/memory_resource.hpp"
#include "cistern/metrics.hpp"
#include "cistern/pool.hpp"
#include "cistern/resource_pool.hpp"
#include "cistern/ring.hpp"
#include "cistern/shared.hpp"
#include "cistern/snapshot.hpp"
#include "cistern/stats.hpp"
#include "cistern/version.hpp"
#include "cistern/worker_pool.hpp"

// The Redis adapter (target cistern::redis) when its headers are on the include path.
#if __has_include("cistern/redis.hpp")
#include "cistern/redis.hpp"
#endif
