#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Compiles every public header on its own in C++20 with -Wall -Wextra -Werror:
# with GCC, with clang on libstdc++, and with clang on libc++ (when Debian's
# libc++-dev is installed). Usage: scripts/check_headers.sh [INCLUDE_DIR]
set -euo pipefail
inc="${1:-$(dirname "$0")/../include}"
extra_inc="$(cd "$inc/.." && pwd)/adapters/redis/include"
compilers=()
for cxx in g++ clang++; do command -v "$cxx" >/dev/null && compilers+=("$cxx"); done
# clang with libc++: one word in the list, split where it is used.
if command -v clang++ >/dev/null && echo '#include <version>' | clang++ -stdlib=libc++ -x c++ -fsyntax-only - 2>/dev/null; then
  compilers+=("clang++:-stdlib=libc++")
fi
compile() {  # compile COMPILER[:FLAGS] INCLUDE... < source
  local cxx="${1%%:*}" flags=""
  [[ "$1" == *:* ]] && flags="${1#*:}"
  shift
  local incs=()
  for i in "$@"; do incs+=(-I "$i"); done
  # shellcheck disable=SC2086
  "$cxx" $flags -std=c++20 -Wall -Wextra -Werror -fsyntax-only "${incs[@]}" -x c++ -
}
status=0
count=0
while IFS= read -r header; do
  rel="${header#"$inc"/}"
  for cxx in "${compilers[@]}"; do
    if ! echo "#include <$rel>" | compile "$cxx" "$inc"; then
      echo "FAIL: $rel with $cxx"
      status=1
    fi
    count=$((count + 1))
  done
done < <(find "$inc/cistern" -name '*.hpp' -not -path '*/detail/*' | sort)
# The Redis adapter's header (needs only cistern's headers to compile).
if [[ -d "$extra_inc" ]]; then
  for cxx in "${compilers[@]}"; do
    if ! echo "#include <cistern/redis.hpp>" | compile "$cxx" "$inc" "$extra_inc"; then
      echo "FAIL: cistern/redis.hpp with $cxx"
      status=1
    fi
    count=$((count + 1))
  done
fi
echo "checked $count header compilations with: ${compilers[*]}"
exit $status
