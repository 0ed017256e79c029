# SPDX-License-Identifier: Apache-2.0
# cistern — the project's entry points. Every target installs what it needs first
# (scripts/deps.sh: idempotent apt-get of Debian packages).
#
#   make demo    the ePRO service with pooling off and on under wrk: one table, out/demo/
#   make test    unit tests (release, GCC and clang), then under ASan+UBSan and TSan
#   make bench   the benchmarks, every peer in the same run; tables under out/bench/
#   make docs    the API reference (Doxygen) under out/docs/, no warnings allowed
#   make format  clang-format the sources

JOBS ?= $(shell nproc)
BENCH_REPS ?= 5


.PHONY: all deps demo examples test test-release test-clang test-aarch64 test-asan test-tsan bench docs format clean

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

test: test-release test-clang test-aarch64 test-asan test-tsan
	@echo "all test suites passed (release with GCC, with clang and for aarch64 under qemu, asan+ubsan, tsan)"

test-release: build-release
	ctest --preset release -j $(JOBS)

test-clang: deps
	@cmake --preset clang >/dev/null
	@cmake --build --preset clang -j $(JOBS)
	ctest --preset clang -j $(JOBS)

# Cross-built for aarch64, the tests under qemu-user (release; scripts/aarch64.sh says what is left out).
test-aarch64: deps
	@JOBS=$(JOBS) scripts/aarch64.sh

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

docs: deps
	@scripts/docs.sh

format:
	clang-format -i $$(git ls-files '*.hpp' '*.cpp')

clean:
	rm -rf build out
