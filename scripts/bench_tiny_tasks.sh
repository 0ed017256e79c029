#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# WorkerPool's throughput target: 1e6 tiny tasks through WorkerPool and through a
# mutex+condvar queue pool (2 threads each), every round in a fresh process: how
# the scheduler places three busy threads on the vCPUs differs from process to
# process, so repetitions inside one process are not enough. Prints each round,
# then the medians and the ratio. VARIANT: Tiny (tasks count on their own
# thread) or TinyShared (tasks increment one shared atomic).
# Usage: scripts/bench_tiny_tasks.sh [ROUNDS] [VARIANT]   (after a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-15}"
variant="${2:-Tiny}"
for ((i = 1; i <= rounds; ++i)); do
  build/release/bench/worker_pool_bench --benchmark_filter="^BM_${variant}_(WorkerPool|QueuePool)/" 2>/dev/null |
    awk '/_WorkerPool\// {w = $2} /_QueuePool\// {q = $2} END {print w, q}'
done | python3 -c '
import statistics, sys
rows = [tuple(map(float, line.split())) for line in sys.stdin if line.strip()]
for w, q in rows:
    print(f"WorkerPool {w:7.1f} ms   queue pool {q:7.1f} ms   {q / w:5.2f}x")
ratios = [q / w for w, q in rows]
print(f"medians of {len(rows)} rounds: WorkerPool {statistics.median(w for w, _ in rows):.1f} ms, "
      f"queue pool {statistics.median(q for _, q in rows):.1f} ms; ratio median {statistics.median(ratios):.2f}x "
      f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x)")'
