#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: promtool_check.sh PROMTOOL METRICS_DUMP... — lints the metrics text that the
# command prints (the command may start with an emulator, as in the aarch64 build).
set -euo pipefail
promtool="$1"
shift
out=$("$@")
echo "$out"
printf '%s\n' "$out" | "$promtool" check metrics
