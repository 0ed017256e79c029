#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs cistern into a scratch prefix and builds and runs a consumer against it.
# Usage: run.sh SOURCE_DIR WORK_DIR
set -euo pipefail
src="$1"
work="$2"
rm -rf "$work"
mkdir -p "$work"
cmake -S "$src" -B "$work/lib" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCISTERN_BUILD_TESTS=OFF \
  -DCISTERN_BUILD_BENCH=OFF -DCISTERN_BUILD_EXAMPLES=OFF -DCISTERN_INSTALL=ON >/dev/null
cmake --build "$work/lib" >/dev/null
cmake --install "$work/lib" --prefix "$work/prefix" >/dev/null
cmake -S "$src/tests/install" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer"
# A version the package does not offer is refused by its version file.
for too_high in 0.2 1.0; do
  mkdir -p "$work/too-high-$too_high"
  cat > "$work/too-high-$too_high/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.20)
project(too_high LANGUAGES CXX)
find_package(cistern $too_high CONFIG REQUIRED)
CMAKE
  if cmake -S "$work/too-high-$too_high" -B "$work/too-high-$too_high/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
      >/dev/null 2>&1; then
    echo "find_package(cistern $too_high) was accepted by an older package"
    exit 1
  fi
done
# add_subdirectory works too.
mkdir -p "$work/sub"
cat > "$work/sub/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.20)
project(sub LANGUAGES CXX)
add_subdirectory("$src" cistern)
add_executable(consumer "$src/tests/install/consumer.cpp")
target_link_libraries(consumer PRIVATE cistern::cistern)
CMAKE
cmake -S "$work/sub" -B "$work/sub/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/sub/build" >/dev/null
"$work/sub/build/consumer"
echo "install and add_subdirectory consumers OK"
