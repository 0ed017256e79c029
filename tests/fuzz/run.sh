#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the fuzz target with clang (libFuzzer + ASan + UBSan) and runs it for a
# bounded time. Usage: run.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src="$1"
work="$2"
seconds="${3:-20}"
mkdir -p "$work/corpus"
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$src/include" "$src/tests/fuzz/buffer_ring_fuzz.cpp" "$src"/src/*.cpp \
  -o "$work/buffer_ring_fuzz" -lpthread
"$work/buffer_ring_fuzz" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 "$work/corpus" 2>&1 | tail -8
