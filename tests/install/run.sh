#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cistern as a user gets it, each way built and run with tests/install/consumer.cpp:
#   1. static, installed into a scratch prefix: find_package(cistern 0.1 CONFIG), and too
#      high a version refused; add_subdirectory;
#   2. shared (BUILD_SHARED_LIBS=ON): libcistern.so.0 with its SONAME, exporting cistern's
#      symbols only; consumers through find_package and through pkg-config;
#   3. FetchContent from a file:// URL;
#   4. the Debian package (cpack -G DEB) checked by lintian (no errors); as root it is
#      installed with dpkg -i, consumers build against /usr, and it is removed again.
# Usage: run.sh SOURCE_DIR WORK_DIR
set -euo pipefail
src="$1"
work="$2"
rm -rf "$work"
mkdir -p "$work"
step() { echo "== $*"; }
configure_lib() {  # configure_lib BUILD_DIR [CMAKE ARGS...]
  local dir="$1"
  shift
  cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCISTERN_BUILD_TESTS=OFF \
    -DCISTERN_BUILD_BENCH=OFF -DCISTERN_BUILD_EXAMPLES=OFF -DCISTERN_INSTALL=ON "$@" >/dev/null
  cmake --build "$dir" >/dev/null
}
cmake_consumer() {  # cmake_consumer BUILD_DIR [CMAKE ARGS...]: the find_package consumer, built and run
  local dir="$1"
  shift
  cmake -S "$src/tests/install" -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" >/dev/null
  "$dir/consumer"
}
source_consumer() {  # source_consumer DIR CMAKE: cistern brought in by CMAKE lines, consumer built and run
  local dir="$1"
  mkdir -p "$dir"
  cat > "$dir/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.20)
project(consumer LANGUAGES CXX)
$2
add_executable(consumer "$src/tests/install/consumer.cpp")
target_link_libraries(consumer PRIVATE cistern::cistern)
CMAKE
  cmake -S "$dir" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$dir/build" >/dev/null
  "$dir/build/consumer"
}
pkgconfig_consumer() {  # pkgconfig_consumer OUT: built with g++ and pkg-config's flags only, and run
  local out="$1"
  # shellcheck disable=SC2046
  g++ -std=c++20 -O2 "$src/tests/install/consumer.cpp" -o "$out" $(pkg-config --cflags --libs cistern)
  "$out"
}

step "static library, installed"
configure_lib "$work/lib"
cmake --install "$work/lib" --prefix "$work/prefix" >/dev/null
cmake_consumer "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix"
PKG_CONFIG_PATH=$(dirname "$(find "$work/prefix" -name cistern.pc)") pkgconfig_consumer "$work/pc-static"
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

step "add_subdirectory"
source_consumer "$work/sub" "add_subdirectory(\"$src\" cistern)"

step "shared library"
configure_lib "$work/shared" -DBUILD_SHARED_LIBS=ON
cmake --install "$work/shared" --prefix "$work/shared-prefix" >/dev/null
so=$(find "$work/shared-prefix" -name 'libcistern.so.0.*' -type f)
[[ -n "$so" ]] || { echo "no libcistern.so.0.* installed"; exit 1; }
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ "$soname" == "libcistern.so.0" ]] || { echo "SONAME is '$soname', not libcistern.so.0"; exit 1; }
# Every exported definition is cistern's (its functions, its classes' vtables and type
# information, its thread_locals) or the standard library's: libstdc++ declares
# namespace std with default visibility, so its template instantiations and the
# function-local statics that must be one per process (the atomic wait table) stay
# visible. Nothing of an anonymous namespace, nothing else.
foreign=$(nm -DC --defined-only "$so" | awk '{ $1 = ""; $2 = ""; print }' | sed 's/^ *//' |
  grep -v -E '^((vtable|typeinfo|typeinfo name|VTT|construction vtable|guard variable|TLS init function|TLS wrapper function) for )?(cistern|std|__gnu_cxx)::' |
  grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$' || true)
foreign+=$(nm -DC --defined-only "$so" | grep -F '(anonymous namespace)' || true)
if [[ -n "$foreign" ]]; then
  echo "libcistern.so exports symbols that are not cistern's:"
  echo "$foreign" | head -20
  exit 1
fi
# The thread_locals that inline code and the library share are exported: one per
# process. (Hidden, the library would keep its own copy; the consumer below does not
# notice that, so this checks the symbols themselves.)
exported=$(nm -DC --defined-only "$so")
for shared_tls in cistern::detail::tls_table cistern::detail::hazard::tls_hazards; do
  [[ "$exported" == *" $shared_tls"* ]] || { echo "libcistern.so does not export $shared_tls"; exit 1; }
done
echo "libcistern.so.0: $(nm -DC --defined-only "$so" | grep -c ' cistern::') of cistern's symbols exported, $(nm -DC --defined-only "$so" | grep -c -E ' (std|__gnu_cxx)::') of the standard library's"
cmake_consumer "$work/shared-consumer" -DCMAKE_PREFIX_PATH="$work/shared-prefix"
libdir=$(dirname "$so")
PKG_CONFIG_PATH="$libdir/pkgconfig" LD_LIBRARY_PATH="$libdir" pkgconfig_consumer "$work/pc-shared"
linked=$(LD_LIBRARY_PATH="$libdir" ldd "$work/pc-shared")  # not piped into grep -q: pipefail and SIGPIPE
[[ "$linked" == *"libcistern.so.0 => $libdir"* ]] || { echo "pc-shared is not linked to libcistern.so.0"; exit 1; }

step "FetchContent from a file:// URL"
(cd "$src" && cmake -E tar czf "$work/cistern-src.tar.gz" -- CMakeLists.txt cmake include src adapters LICENSE)
source_consumer "$work/fetch" "include(FetchContent)
FetchContent_Declare(cistern URL \"file://$work/cistern-src.tar.gz\" DOWNLOAD_EXTRACT_TIMESTAMP TRUE)
FetchContent_MakeAvailable(cistern)"

step "Debian package"
configure_lib "$work/deb" -DCMAKE_INSTALL_PREFIX=/usr
(cd "$work/deb" && cpack -G DEB >/dev/null)
deb=$(find "$work/deb" -maxdepth 1 -name 'libcistern-dev_*.deb')
[[ -n "$deb" ]] || { echo "cpack made no .deb"; exit 1; }
if command -v lintian >/dev/null; then
  lintian --fail-on error "$deb"
  echo "lintian: no errors in $(basename "$deb")"
else
  echo "lintian not installed (scripts/deps.sh installs it)"
  exit 1
fi
if [[ $(id -u) -eq 0 ]] && ! dpkg-query -W libcistern-dev >/dev/null 2>&1; then
  trap 'dpkg -r libcistern-dev >/dev/null 2>&1 || true' EXIT
  dpkg -i "$deb" >/dev/null
  cmake_consumer "$work/deb-consumer"
  pkgconfig_consumer "$work/pc-deb"
  dpkg -r libcistern-dev >/dev/null
  trap - EXIT
  echo "the .deb installed, served both consumers and was removed"
else
  echo "not root, or libcistern-dev already installed: dpkg -i of the package skipped"
fi
echo "install, add_subdirectory, shared, pkg-config, FetchContent and .deb consumers OK"
