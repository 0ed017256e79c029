# SPDX-License-Identifier: Apache-2.0
# cistern — the project's entry points. Every target installs what it needs first
# (scripts/deps.sh: idempotent apt-get of Debian packages).
#
#   make demo    the ePRO service with pooling off and on under wrk: one table, out/demo/
#   make test    unit tests (release), then concurrency tests under ASan+UBSan and TSan
#   make bench   the benchmarks, every peer in the same run; tables under out/bench/
#   make format  clang-format the sources

JOBS ?= $(shell nproc)
BENCH_REPS ?= 5


.PHONY: all deps demo examples test test-release test-asan test-tsan bench format clean

all: test

deps:
	@scripts/deps.sh --quiet

build-release: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

demo: deps
	@scripts/demo.sh

# The examples and the short pool-versus-new/delete comparison.
examples: build-release
	@build/release/examples/pool_example | head -3
	@build/release/examples/pool_vs_new

test: test-release test-asan test-tsan
	@echo "all test suites passed (release, asan+ubsan, tsan)"

test-release: build-release
	ctest --preset release -j $(JOBS)

test-asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS)

test-tsan: deps
	@cmake --preset tsan >/dev/null
	@cmake --build --preset tsan -j $(JOBS)
	ctest --preset tsan -j $(JOBS)

bench: build-release
	@scripts/bench.sh $(BENCH_REPS)

format:
	clang-format -i $$(git ls-files '*.hpp' '*.cpp')

clean:
	rm -rf build out
