#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make test-aarch64: cistern cross-built for aarch64 (Debian's g++-aarch64-linux-gnu)
# and its tests run under qemu-user, release build. Built: the library and its unit
# and concurrency tests, with GoogleTest cross-built from Debian's sources
# (/usr/src/googletest). Left out, because Debian 12 offers no arm64 build of them
# to a cross build here: the Redis adapter (hiredis), the demo (boost, simdjson,
# hiredis) and the benchmarks (Google Benchmark and the peers).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${JOBS:-$(nproc)}"
gtest_build=build/aarch64-gtest
if [[ ! -f "$gtest_build/prefix/lib/cmake/GTest/GTestConfig.cmake" ]]; then
  cmake -S /usr/src/googletest -B "$gtest_build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchains/aarch64-linux-gnu.cmake" \
    -DCMAKE_INSTALL_PREFIX="$PWD/$gtest_build/prefix" >/dev/null
  cmake --build "$gtest_build" -j "$jobs" >/dev/null
  cmake --install "$gtest_build" >/dev/null
fi
cmake --preset aarch64 >/dev/null
cmake --build --preset aarch64 -j "$jobs"
ctest --preset aarch64 -j "$jobs"
