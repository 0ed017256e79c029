#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the benchmarks with every peer in the same run (repetitions interleaved at
# random, so that the machine's slow and fast stretches hit every contender) and
# prints Markdown tables of the medians with ratios. Raw JSON goes to out/bench/.
# Usage: scripts/bench.sh [REPETITIONS] [FILTER]
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-5}"
filter="${2:-.}"
out=out/bench
mkdir -p "$out"
common=(--benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true
        --benchmark_report_aggregates_only=true --benchmark_out_format=json)
echo "== pool_bench ($reps repetitions, interleaved; this takes a few minutes)"
build/release/bench/pool_bench "${common[@]}" --benchmark_min_time=0.2 --benchmark_filter="$filter" \
  --benchmark_out="$out/pool_bench.json" >"$out/pool_bench.txt"
echo "== buffer_workload_bench"
build/release/bench/buffer_workload_bench "${common[@]}" --benchmark_filter="$filter" \
  --benchmark_out="$out/buffer_workload_bench.json" >"$out/buffer_workload_bench.txt"
echo "== shared_snapshot_bench"
build/release/bench/shared_snapshot_bench "${common[@]}" --benchmark_min_time=0.3 --benchmark_filter="$filter" \
  --benchmark_out="$out/shared_snapshot_bench.json" >"$out/shared_snapshot_bench.txt"
echo "== buffer_bench"
build/release/bench/buffer_bench "${common[@]}" --benchmark_min_time=0.2 --benchmark_filter="$filter" \
  --benchmark_out="$out/buffer_bench.json" >"$out/buffer_bench.txt"
if [[ -x build/release/bench/resource_pool_bench ]]; then
  echo "== resource_pool_bench (starts its own redis-server)"
  build/release/bench/resource_pool_bench "${common[@]}" --benchmark_min_time=0.3 --benchmark_filter="$filter" \
    --benchmark_out="$out/resource_pool_bench.json" >"$out/resource_pool_bench.txt"
fi
echo "== worker_pool_bench"
build/release/bench/worker_pool_bench "${common[@]}" --benchmark_filter="$filter" \
  --benchmark_out="$out/worker_pool_bench.json" >"$out/worker_pool_bench.txt"
python3 scripts/bench_report.py "$out"/*.json | tee "$out/report.md"
