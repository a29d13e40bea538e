# The two commands of the README: `make run` and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
export CCACHE_DIR ?= $(HOME)/.cache/natter-ccache

.PHONY: deps configure web build run test screenshots bench cluster clean

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

clean:
	rm -rf $(BUILD)
