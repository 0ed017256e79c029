// SPDX-License-Identifier: Apache-2.0
/// @file
/// @brief the library's version (semantic versioning).
///
/// The one place the version is written: CMake reads these three lines for
/// project(VERSION), the package version file and the shared library's SOVERSION.
/// Before 1.0.0 a minor release may change the API (CHANGELOG.md says what).
#pragma once

#include <string_view>

#define CISTERN_VERSION_MAJOR 0
#define CISTERN_VERSION_MINOR 1
#define CISTERN_VERSION_PATCH 0

#define CISTERN_DETAIL_STR2(x) #x
#define CISTERN_DETAIL_STR(x) CISTERN_DETAIL_STR2(x)
// "MAJOR.MINOR.PATCH" as a string literal.
#define CISTERN_VERSION_STRING                                                            \
  CISTERN_DETAIL_STR(CISTERN_VERSION_MAJOR)                                               \
  "." CISTERN_DETAIL_STR(CISTERN_VERSION_MINOR) "." CISTERN_DETAIL_STR(CISTERN_VERSION_PATCH)

namespace cistern {

/// The version of the headers in use, "MAJOR.MINOR.PATCH".
constexpr std::string_view version() noexcept { return CISTERN_VERSION_STRING; }

}  // namespace cistern
