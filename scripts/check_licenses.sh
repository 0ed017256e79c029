#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every source file carries the Apache-2.0 SPDX header: licensecheck (Debian's) must
# find the license on each file under the given directories.
# Usage: check_licenses.sh DIR...
set -euo pipefail
out=$(licensecheck -r "$@")
missing=$(grep -v "Apache License 2.0" <<<"$out" || true)
if [[ -n "$missing" ]]; then
  echo "files without the Apache-2.0 SPDX header:"
  echo "$missing"
  exit 1
fi
echo "$(wc -l <<<"$out") files: Apache-2.0"
