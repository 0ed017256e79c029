#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make demo: the ePRO service measured with pooling off and on, under the same load.
#
# Installs what is missing, builds epro_server, starts a private redis-server on
# a free loopback port, and for each store (in-memory, Redis) runs the service with
# --pooling=off and then --pooling=on under wrk (2 threads, 32 connections, varied
# submissions from scripts/demo/submissions.lua) for a fixed time. Prints one table
# and writes it as Markdown, with a PNG chart, under out/demo/. Stops everything it
# started. Usage: scripts/demo.sh [SECONDS_PER_RUN]
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

RAW="$OUT/runs.tsv"
: >"$RAW"

run() {  # run STORE_FLAG LABEL POOLING THREADS SECONDS: one measured run, one raw line in $RAW
  local store_flag="$1" label="$2" pooling="$3" threads="$4" seconds="$5"
  step "$label store, pooling $pooling: ${seconds}s under wrk -t2 -c32 (epro_server --threads $threads)"
  redis-cli -p "$REDIS_PORT" flushall >/dev/null  # every run starts from the same (empty) data set
  "$SERVER" --port 0 --threads "$threads" --redis="$store_flag" --pooling="$pooling" >"$OUT/server.out" 2>&1 &
  local pid=$!
  pids+=("$pid")
  local port=""
  for i in $(seq 1 100); do
    port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$OUT/server.out")
    [[ -n "$port" ]] && break
    sleep 0.05
  done
  [[ -n "$port" ]] || { echo "epro_server did not start"; cat "$OUT/server.out"; exit 1; }
  local url="http://127.0.0.1:$port"
  wrk -t2 -c32 -d2s -s scripts/demo/submissions.lua "$url" >/dev/null  # warm-up: caches, pools, connections
  curl -s "$url/metrics" >"$OUT/m0.txt"
  wrk -t2 -c32 -d"${seconds}s" --timeout 5s -s scripts/demo/submissions.lua "$url" >"$OUT/wrk.txt"
  curl -s "$url/metrics" >"$OUT/m1.txt"
  local rss
  rss=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
  kill -TERM "$pid"
  wait "$pid" || { echo "epro_server exited with an error"; exit 1; }
  local line
  line=$(grep WRK_RESULT "$OUT/wrk.txt")
  val() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$line"; }
  delta() { awk -v a="$(metric "$OUT/m0.txt" "$1")" -v b="$(metric "$OUT/m1.txt" "$1")" 'BEGIN { print b - a }'; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$label" "$pooling" "$(val requests)" "$(val duration_us)" "$(val p50_us)" "$(val p99_us)" "$(val p999_us)" \
    "$(delta epro_handled_submissions_total)" "$(delta epro_handler_allocations_total)" \
    "$(delta epro_handler_allocated_bytes_total)" "$(delta 'epro_requests_total{status="202"}')" \
    "$(delta epro_process_allocations_total)" "$(delta epro_process_allocated_bytes_total)" "$rss" \
    "$(delta 'cistern_pool_hits_total{pool="epro_submissions"}')" "$(delta 'cistern_pool_gets_total{pool="epro_submissions"}')" \
    "$(delta 'cistern_pool_hits_total{pool="epro_parsers"}')" "$(delta 'cistern_pool_gets_total{pool="epro_parsers"}')" \
    "$(delta 'cistern_buffer_pool_hits_total{pool="epro_buffers"}')" "$(delta 'cistern_buffer_pool_gets_total{pool="epro_buffers"}')" \
    "$(val non2xx)" >>"$RAW"
}

# Each configuration runs twice, in the order off, on, on, off, half the time each:
# the machine drifts (Redis's append-only file grows, the VM's neighbours come and
# go), and this order cancels a drift that is linear in time. The event loop needs a
# thread per core with the in-memory store; a Redis call blocks its thread for a
# round trip, so the Redis runs use more threads.
HALF=$(( (SECONDS_PER_RUN + 1) / 2 ))
for pooling in off on on off; do run none memory "$pooling" 2 "$HALF"; done
for pooling in off on on off; do run "127.0.0.1:$REDIS_PORT" redis "$pooling" 16 "$HALF"; done

# One row per configuration: requests/s over both runs; latency percentiles the
# mean of the two runs'; allocations and hit rates over both runs.
RESULTS="$OUT/results.tsv"
printf 'store\tpooling\trps\tp50_ms\tp99_ms\tp999_ms\thandler_allocs\thandler_bytes\tprocess_allocs\tprocess_bytes\tpeak_rss_mb\thit_submissions\thit_parsers\thit_buffers\tnon2xx\n' >"$RESULTS"
awk -F'\t' '
  { k = $1 "\t" $2; if (!(k in n)) order[++keys] = k; n[k]++
    req[k] += $3; dur[k] += $4; p50[k] += $5; p99[k] += $6; p999[k] += $7; handled[k] += $8; alloc[k] += $9
    bytes[k] += $10; acc[k] += $11; palloc[k] += $12; pbytes[k] += $13; if ($14 > rss[k]) rss[k] = $14
    sh[k] += $15; sg[k] += $16; ph[k] += $17; pg[k] += $18; bh[k] += $19; bg[k] += $20; bad[k] += $21 }
  function rate(h, g) { return g > 0 ? sprintf("%.4f", h / g) : "-" }
  END { for (i = 1; i <= keys; i++) { k = order[i]; h = handled[k] > 0 ? handled[k] : 1; a = acc[k] > 0 ? acc[k] : 1
          printf "%s\t%.0f\t%.3f\t%.3f\t%.3f\t%.2f\t%.0f\t%.2f\t%.0f\t%s\t%s\t%s\t%s\t%d\n", k,
            req[k] / (dur[k] / 1e6), p50[k] / n[k] / 1000, p99[k] / n[k] / 1000, p999[k] / n[k] / 1000,
            alloc[k] / h, bytes[k] / h, palloc[k] / a, pbytes[k] / a, rss[k],
            rate(sh[k], sg[k]), rate(ph[k], pg[k]), rate(bh[k], bg[k]), bad[k] } }' "$RAW" >>"$RESULTS"

step "results"
{
  echo "ePRO service, pooling off vs on: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) vCPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), wrk -t2 -c32, ${SECONDS_PER_RUN}s per configuration (two runs of ${HALF}s, in the order off-on-on-off), epro_server --threads 2 (memory) / 16 (Redis)"
  echo
  echo "| store | pooling | requests/s | p50 ms | p99 ms | p99.9 ms | allocs/req (handler) | bytes/req (handler) | allocs/req (process) | bytes/req (process) | peak RSS MB | hit rate: submissions / parsers / buffers | non-2xx |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
  tail -n +2 "$RESULTS" | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 }'
  echo
  awk -F'\t' 'NR > 1 { rps[$1 "," $2] = $3; a[$1 "," $2] = $7; p99[$1 "," $2] = $5 }
    END { for (s in rps) {} 
          split("memory redis", stores, " ")
          for (i = 1; i <= 2; i++) { st = stores[i]
            if (rps[st ",off"] > 0 && a[st ",on"] != "")
              printf "%s store: throughput on/off %.2fx, handler allocations on/off %.3f, p99 on/off %.2fx\n", st,
                rps[st ",on"] / rps[st ",off"], (a[st ",off"] > 0 ? a[st ",on"] / a[st ",off"] : 0), (p99[st ",off"] > 0 ? p99[st ",on"] / p99[st ",off"] : 0) } }'
} | tee "$OUT/results.md"

if command -v gnuplot >/dev/null; then
  awk -F'\t' 'NR > 1 { print $1 "-" $2, $3, $7, $5 }' "$RESULTS" >"$OUT/chart.dat"
  gnuplot <<GP 2>/dev/null || echo "(chart not drawn)"
set terminal png size 1100,420
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
