#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages that cistern's build, tests, benchmarks and demo need.
# Idempotent: packages already installed are skipped, and apt-get runs only when
# something is missing. Usage: scripts/deps.sh [--quiet]
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ clang libclang-rt-14-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # peers measured in the benchmarks
  libmimalloc-dev libboost-dev libconcurrentqueue-dev libtbb-dev
  # metrics check (promtool), license headers (licensecheck)
  prometheus licensecheck
  # Redis adapter and the demo service
  redis-server redis-tools libhiredis-dev libsimdjson-dev libcpp-httplib-dev wrk curl gnuplot-nox python3
  # the allocators the demo compares pooling with (loaded with LD_PRELOAD)
  libmimalloc2.0 libtcmalloc-minimal4 libjemalloc2
  # packaging checks (tests/install/run.sh): pkg-config, the .deb and its lint
  pkg-config lintian
  # the API reference (make docs)
  doxygen
  # the second compiler's standard library (public headers checked with libc++)
  libc++-dev libc++abi-dev
  # aarch64: cross compiler and qemu-user for its tests (scripts/aarch64.sh)
  g++-aarch64-linux-gnu qemu-user
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  [[ "${1:-}" == "--quiet" ]] || echo "deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian redis-server package starts a system-wide server; the project never uses
# it (tests and the demo start their own on a free loopback port).
echo "deps: done"
