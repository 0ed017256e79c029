#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make demo: the ePRO service measured with pooling off and on, under the same load.
#
# Installs what is missing, builds epro_server, starts a private redis-server on
# a free loopback port, and runs the service with --pooling=off and --pooling=on
# under wrk (2 threads, 32 connections, varied submissions from
# scripts/demo/submissions.lua) for a fixed time: with the in-memory store under
# each of glibc's malloc, mimalloc, tcmalloc and jemalloc (LD_PRELOAD), and with
# Redis under glibc. Prints one table (scripts/demo/table.py) and writes it as
# Markdown, with a PNG chart, under out/demo/. Stops everything it started.
# Usage: scripts/demo.sh [SECONDS_PER_RUN]   (DEMO_ALLOCATORS="glibc jemalloc" for a subset)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN="${1:-${DEMO_SECONDS:-12}}"
OUT=out/demo
mkdir -p "$OUT"
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

step "dependencies"
scripts/deps.sh --quiet
step "building epro_server (release)"
cmake --preset release >/dev/null
cmake --build --preset release --target epro_server 2>&1 | tail -1
SERVER=build/release/examples/epro/epro_server

pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [[ -n "$p" ]] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]:-}"; do [[ -n "$p" ]] && wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

step "starting redis-server on a free loopback port"
REDIS_DIR="$OUT/redis"
rm -rf "$REDIS_DIR"
mkdir -p "$REDIS_DIR"
for attempt in $(seq 1 20); do
  REDIS_PORT=$((20000 + RANDOM % 40000))
  # No automatic AOF rewrite: it forks once the file has doubled, which would land
  # in whichever run comes last and tax it alone.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" --save "" --appendonly yes \
    --appendfsync everysec --auto-aof-rewrite-percentage 0 --daemonize no --loglevel warning \
    >"$REDIS_DIR/log" 2>&1 &
  REDIS_PID=$!
  for i in $(seq 1 50); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    kill -0 "$REDIS_PID" 2>/dev/null || break
    sleep 0.1
  done
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then break; fi
  kill "$REDIS_PID" 2>/dev/null || true
  REDIS_PID=""
done
[[ -n "${REDIS_PID:-}" ]] || { echo "could not start redis-server"; exit 1; }
pids+=("$REDIS_PID")
echo "redis-server pid $REDIS_PID on 127.0.0.1:$REDIS_PORT"

metric() {  # metric FILE NAME_WITH_LABELS -> value (0 if absent)
  awk -v k="$2" '$1 == k { v = $2 } END { print (v == "" ? 0 : v) }' "$1"
}

# The allocators a C++ team would try before pooling, each loaded for the whole
# server with LD_PRELOAD (Debian's packages: libmimalloc2.0, libtcmalloc-minimal4,
# libjemalloc2). glibc's malloc is the baseline.
preload_of() {  # preload_of ALLOCATOR -> the library's path ("" for glibc)
  local lib
  case "$1" in
    glibc) echo ""; return ;;
    mimalloc) lib=libmimalloc.so.2 ;;
    tcmalloc) lib=libtcmalloc_minimal.so.4 ;;
    jemalloc) lib=libjemalloc.so.2 ;;
  esac
  local path
  path=$(ldconfig -p | awk -v n="$lib" '$1 == n { print $NF; exit }')
  [[ -n "$path" ]] || { echo "demo: $lib not found (scripts/deps.sh installs it)" >&2; exit 1; }
  echo "$path"
}

RAW="$OUT/runs.tsv"
printf 'store\tallocator\tpooling\trequests\tduration_us\tp50_us\tp99_us\tp999_us\thandled\thandler_allocs\thandler_bytes\taccepted\tprocess_allocs\tprocess_bytes\tpeak_rss_mb\trss_mb\tstore_mb\tsub_hits\tsub_gets\tparser_hits\tparser_gets\tbuf_hits\tbuf_gets\tnon2xx\n' >"$RAW"

run() {  # run STORE_FLAG LABEL ALLOCATOR POOLING THREADS SECONDS: one measured run, one raw line in $RAW
  local store_flag="$1" label="$2" allocator="$3" pooling="$4" threads="$5" seconds="$6"
  step "$label store, $allocator, pooling $pooling: ${seconds}s under wrk -t2 -c32 (epro_server --threads $threads)"
  redis-cli -p "$REDIS_PORT" flushall >/dev/null  # every run starts from the same (empty) data set
  local preload
  preload=$(preload_of "$allocator")
  LD_PRELOAD="$preload" "$SERVER" --port 0 --threads "$threads" --redis="$store_flag" --pooling="$pooling" \
    >"$OUT/server.out" 2>&1 &
  local pid=$!
  pids+=("$pid")
  local port=""
  for i in $(seq 1 100); do
    port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$OUT/server.out")
    [[ -n "$port" ]] && break
    sleep 0.05
  done
  [[ -n "$port" ]] || { echo "epro_server did not start"; cat "$OUT/server.out"; exit 1; }
  if [[ -n "$preload" ]] && ! grep -q "$(basename "$preload")" "/proc/$pid/maps"; then
    echo "demo: $allocator was not loaded into epro_server"; exit 1
  fi
  local url="http://127.0.0.1:$port"
  wrk -t2 -c32 -d2s -s scripts/demo/submissions.lua "$url" >/dev/null  # warm-up: caches, pools, connections
  curl -s "$url/metrics" >"$OUT/m0.txt"
  wrk -t2 -c32 -d"${seconds}s" --timeout 5s -s scripts/demo/submissions.lua "$url" >"$OUT/wrk.txt"
  curl -s "$url/metrics" >"$OUT/m1.txt"
  local hwm rss
  hwm=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
  rss=$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
  kill -TERM "$pid"
  wait "$pid" || { echo "epro_server exited with an error"; exit 1; }
  local line
  line=$(grep WRK_RESULT "$OUT/wrk.txt")
  val() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$line"; }
  delta() { awk -v a="$(metric "$OUT/m0.txt" "$1")" -v b="$(metric "$OUT/m1.txt" "$1")" 'BEGIN { print b - a }'; }
  local store_mb
  store_mb=$(awk -v b="$(metric "$OUT/m1.txt" epro_store_bytes)" 'BEGIN { printf "%.1f", b / 1048576 }')
  local fields=(
    "$label" "$allocator" "$pooling" "$(val requests)" "$(val duration_us)" "$(val p50_us)" "$(val p99_us)" "$(val p999_us)"
    "$(delta epro_handled_submissions_total)" "$(delta epro_handler_allocations_total)"
    "$(delta epro_handler_allocated_bytes_total)" "$(delta 'epro_requests_total{status="202"}')"
    "$(delta epro_process_allocations_total)" "$(delta epro_process_allocated_bytes_total)" "$hwm" "$rss" "$store_mb"
    "$(delta 'cistern_pool_hits_total{pool="epro_submissions"}')" "$(delta 'cistern_pool_gets_total{pool="epro_submissions"}')"
    "$(delta 'cistern_pool_hits_total{pool="epro_parsers"}')" "$(delta 'cistern_pool_gets_total{pool="epro_parsers"}')"
    "$(delta 'cistern_buffer_pool_hits_total{pool="epro_buffers"}')" "$(delta 'cistern_buffer_pool_gets_total{pool="epro_buffers"}')"
    "$(val non2xx)")
  (IFS=$'\t'; echo "${fields[*]}") >>"$RAW"
}

# Each configuration runs twice, in the order off, on, on, off, half the time each:
# the machine drifts (Redis's append-only file grows, the VM's neighbours come and
# go), and this order cancels a drift that is linear in time. The event loop needs a
# thread per core with the in-memory store; a Redis call blocks its thread for a
# round trip, so the Redis runs use more threads. The allocators are compared on the
# in-memory store (with Redis the server waits on the network, not on malloc).
HALF=$(( (SECONDS_PER_RUN + 1) / 2 ))
ALLOCATORS="${DEMO_ALLOCATORS:-glibc mimalloc tcmalloc jemalloc}"
for allocator in $ALLOCATORS; do
  for pooling in off on on off; do run none memory "$allocator" "$pooling" 2 "$HALF"; done
done
for pooling in off on on off; do run "127.0.0.1:$REDIS_PORT" redis glibc "$pooling" 16 "$HALF"; done

step "results"
HEADING="ePRO service, pooling off vs on: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) vCPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), wrk -t2 -c32, ${SECONDS_PER_RUN}s per configuration (two runs of ${HALF}s, in the order off-on-on-off), epro_server --threads 2 (memory) / 16 (Redis)"
python3 scripts/demo/table.py "$RAW" "$OUT/results.tsv" "$HEADING" | tee "$OUT/results.md"

if command -v gnuplot >/dev/null; then
  awk -F'\t' 'NR > 1 { print $1 "-" $2 "-" $3, $4, $8, $6 }' "$OUT/results.tsv" >"$OUT/chart.dat"
  gnuplot <<GP 2>/dev/null || echo "(chart not drawn)"
set terminal png size 1400,460
set output "$OUT/chart.png"
set multiplot layout 1,3 title "ePRO service: pooling off vs on (wrk -t2 -c32)"
set style data histograms
set style fill solid 0.8
set boxwidth 0.8
set xtics rotate by -30
set grid ytics
set yrange [0:*]
set title "requests/s"
plot "$OUT/chart.dat" using 2:xtic(1) notitle lc rgb "#3465a4"
set title "heap allocations per request (handler)"
plot "$OUT/chart.dat" using 3:xtic(1) notitle lc rgb "#cc0000"
set title "p99 latency, ms"
plot "$OUT/chart.dat" using 4:xtic(1) notitle lc rgb "#4e9a06"
unset multiplot
GP
  echo "chart: $OUT/chart.png"
fi
echo "table: $OUT/results.md"
