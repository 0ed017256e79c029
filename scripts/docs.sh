#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make docs: the API reference from the public headers (Doxygen, docs/Doxyfile).
# Any Doxygen warning is an error. Usage: scripts/docs.sh [OUT_DIR]   (default out/docs)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out/docs}"
mkdir -p "$out"
command -v doxygen >/dev/null || { echo "docs: doxygen not installed (scripts/deps.sh installs it)"; exit 1; }
part() { sed -n "s/^#define CISTERN_VERSION_$1 \([0-9]*\)$/\1/p" include/cistern/version.hpp; }
version="$(part MAJOR).$(part MINOR).$(part PATCH)"
CISTERN_VERSION="$version" CISTERN_DOCS_OUT="$out" doxygen docs/Doxyfile
echo "docs: $out/html/index.html (cistern $version, no warnings)"
