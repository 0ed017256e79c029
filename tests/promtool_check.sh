#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: promtool_check.sh METRICS_DUMP PROMTOOL — lints the metrics text.
set -euo pipefail
out=$("$1")
echo "$out"
printf '%s\n' "$out" | "$2" check metrics
