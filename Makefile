# AgentIdP — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc)
PORT       ?= 3000
DATA_DIR   ?= data

.PHONY: all deps build run test test-sanitize fuzz bench bench-scaleout format tidy clean

all: build

deps:
	@bash scripts/install-deps.sh

# Optimized server build (make run, make bench).
build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DAGENTIDP_BUILD_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	@$(BUILD)/agentidp serve --data-dir $(DATA_DIR) --port $(PORT)

# Unoptimized build of everything + unit, contract, integration and conformance suites.
test: deps
	@bash scripts/test.sh $(TEST_BUILD)

# Unit, contract and integration suites against an ASan+UBSan build (gcc, Debug, build-asan).
test-sanitize: deps
	@bash scripts/sanitize.sh

# Every libFuzzer target (tests/fuzz; clang, ASan+UBSan, build-fuzz) for FUZZ_SECONDS each.
FUZZ_SECONDS ?= 300
fuzz: deps
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

bench: build
	@AGENTIDP_BIN=$(abspath $(BUILD))/agentidp bash bench/run.sh

# Embedded store vs 1 and 2 nodes on PostgreSQL + Redis (throw-away servers), same run.
bench-scaleout: build
	@AGENTIDP_BIN=$(abspath $(BUILD))/agentidp node bench/scaleout.mjs

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

tidy:
	@cmake -S . -B $(TEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@git ls-files 'src/*.cpp' | xargs clang-tidy -p $(TEST_BUILD) --quiet

clean:
	@rm -rf $(BUILD) $(TEST_BUILD) build-asan build-fuzz
