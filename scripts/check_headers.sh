#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Compiles every public header on its own with GCC and clang in C++20 with
# -Wall -Wextra -Werror. Usage: scripts/check_headers.sh [INCLUDE_DIR]
set -euo pipefail
inc="${1:-$(dirname "$0")/../include}"
extra_inc="$(cd "$inc/.." && pwd)/adapters/redis/include"
compilers=()
for cxx in g++ clang++; do command -v "$cxx" >/dev/null && compilers+=("$cxx"); done
status=0
count=0
while IFS= read -r header; do
  rel="${header#"$inc"/}"
  for cxx in "${compilers[@]}"; do
    if ! echo "#include <$rel>" | "$cxx" -std=c++20 -Wall -Wextra -Werror -fsyntax-only -I "$inc" -x c++ - ; then
      echo "FAIL: $rel with $cxx"
      status=1
    fi
    count=$((count + 1))
  done
done < <(find "$inc/cistern" -name '*.hpp' -not -path '*/detail/*' | sort)
# The Redis adapter's header (needs only cistern's headers to compile).
if [[ -d "$extra_inc" ]]; then
  for cxx in "${compilers[@]}"; do
    if ! echo "#include <cistern/redis.hpp>" | "$cxx" -std=c++20 -Wall -Wextra -Werror -fsyntax-only -I "$inc" -I "$extra_inc" -x c++ - ; then
      echo "FAIL: cistern/redis.hpp with $cxx"
      status=1
    fi
    count=$((count + 1))
  done
fi
echo "checked $count header compilations with: ${compilers[*]}"
exit $status
