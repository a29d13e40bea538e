# The two commands of the README: `make run` and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
export CCACHE_DIR ?= $(HOME)/.cache/natter-ccache
# Paths relative to the clone, so another clone (CI's) hits the same cache.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1
# Two trees (gcc, and clang with sanitizers) outgrow ccache's 5 GB default.
export CCACHE_MAXSIZE ?= 20G

# The sanitizer tree: clang with ASan + UBSan, and the libFuzzer targets.
SANITIZE_BUILD ?= build-sanitize
SANITIZE_CXX ?= clang++-14
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = fuzz_ws_frame fuzz_http_api fuzz_signed_url fuzz_config
SANITIZE_TARGETS = natterd natter natter_unit_tests natter_integration_tests natter_conformance_tests \
  natter_e2e_tests $(FUZZ_TARGETS)
# What the sanitizer pass runs: the in-process and CLI suites and the fuzz
# smoke runs; not the suites whose time goes into external servers and
# browsers (PostgreSQL, Redis, s3rver, Chromium, the cluster, the benches).
SANITIZE_LABELS ?= ^(unit|integration|conformance|e2e|fuzz)$$
SANITIZE_SKIP ?= ^(postgres|redis|s3|browser|cluster|bench)$$

.PHONY: deps configure web build run test screenshots bench cluster clean \
  configure-sanitize test-sanitize fuzz

deps:
	@scripts/deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

# The web client's files (web/dist, served by natterd at /), rebuilt only
# when web/ changed.
web: deps
	@scripts/web-build.sh

build: configure web
	@cmake --build $(BUILD) -j $(JOBS)

# Only the server and the client: a first run need not compile the tests.
run: configure web
	@cmake --build $(BUILD) -j $(JOBS) --target natterd natter
	$(BUILD)/natterd $(ARGS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# A cluster on loopback: 2 Redis, 2 PostgreSQL shards, s3rver, 3 natterd and
# HAProxy (scripts/cluster.sh; docs/OPERATIONS.md "Running a cluster"); builds
# natter-bench too, for load through HAProxy.
# `make cluster ARGS="--dir /tmp/c --base-port 30000"`; stop it with scripts/cluster.sh down.
cluster: configure web
	@cmake --build $(BUILD) -j $(JOBS) --target natterd natter natter-bench
	@NATTERD=$(abspath $(BUILD))/natterd NATTER=$(abspath $(BUILD))/natter \
	  NATTER_BENCH=$(abspath $(BUILD))/natter-bench scripts/cluster.sh up $(ARGS)

# docs/screenshots/*.png: the web client in Chromium, a scene made on a fresh natterd.
screenshots: build
	scripts/screenshots.sh

# Micro-benchmarks of the hot pieces; the load scenarios are scripts/bench.sh.
bench: configure
	@cmake --build $(BUILD) -j $(JOBS) --target natter-micro-bench
	$(BUILD)/natter-micro-bench $(BENCH_ARGS)

configure-sanitize: deps
	@cmake -S . -B $(SANITIZE_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER=$(SANITIZE_CXX) -DNATTER_SANITIZE=ON >/dev/null

# The unit, integration, conformance and end-to-end tests under ASan and
# UBSan (a leak or undefined behaviour fails the test), and each fuzz target
# over its seeds for a few seconds. ASAN_OPTIONS / UBSAN_OPTIONS as set here
# also reach the natterd and natter children the tests start.
test-sanitize: configure-sanitize
	@cmake --build $(SANITIZE_BUILD) -j $(JOBS) --target $(SANITIZE_TARGETS)
	cd $(SANITIZE_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -L '$(SANITIZE_LABELS)' -LE '$(SANITIZE_SKIP)' $(CTEST_ARGS)

# Each fuzz target for FUZZ_SECONDS on its seeds (fuzz/corpus/<name>, not
# grown): runs, CPU seconds and crashes per target; `make fuzz FUZZ_SECONDS=300`.
fuzz: configure-sanitize
	@cmake --build $(SANITIZE_BUILD) -j $(JOBS) --target $(FUZZ_TARGETS)
	scripts/fuzz.sh --seconds $(FUZZ_SECONDS) $(SANITIZE_BUILD)

clean:
	rm -rf $(BUILD) $(SANITIZE_BUILD)
