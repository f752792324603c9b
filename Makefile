# Warden: `make run` starts the gateway in front of a demo model; `make test` runs every test.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
# Sanitizer and fuzz builds, each in its own directory (ccache makes rebuilds cheap).
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SEED ?=
FUZZ_RUNS ?=
RELOAD_STORM_SECONDS ?= 60
TSAN_STORM_SECONDS ?= 20
# Tests the ASan run leaves out (a ctest -E regex): the checks that the committed corpora are what
# their Python generators write run no code of Warden's, so a sanitizer has nothing to watch there.
ASAN_EXCLUDE ?= _corpus_is_generated
# Sanitizer builds use clang (the fuzz targets need it anyway): it compiles Warden's Asio code
# with ASan in ~2/3 of GCC's time (responder.cpp at -O1 -g1: 42 s against 63 s of CPU); -O1 and
# line tables only (reports still name file and line; -O2 -g costs ~1.8x).
SANITIZE_CMAKE = -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWARDEN_BENCH=OFF \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"

.PHONY: all deps build run test test-asan test-address test-thread test-fuzz bench format tidy clean

all: build

deps:
	./scripts/install-deps
	cd tests && npm ci --no-audit --no-fund --loglevel=error
	cd src/tokenizer/gen && npm ci --no-audit --no-fund --loglevel=error

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	./scripts/run-demo $(BUILD_DIR)/warden

test: build
	./scripts/test-services
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j 2

# ASan + UBSan build of every unit and integration test and the reload storm; then a TSan build of
# warden under the reload and shutdown tests and a shorter reload storm. Any sanitizer report fails.
test-asan: test-address test-thread

test-address: deps
	cmake -S . -B $(ASAN_DIR) $(SANITIZE_CMAKE) -DWARDEN_SANITIZE=address
	cmake --build $(ASAN_DIR) -j $(JOBS)
	./scripts/test-services
	RELOAD_STORM_SECONDS=$(RELOAD_STORM_SECONDS) ./scripts/sanitized $(ASAN_DIR)/sanitizer \
	  ctest --test-dir $(ASAN_DIR) --output-on-failure -j 2 -E '$(ASAN_EXCLUDE)'

test-thread: deps
	cmake -S . -B $(TSAN_DIR) $(SANITIZE_CMAKE) -DWARDEN_SANITIZE=thread -DBUILD_TESTING=OFF
	cmake --build $(TSAN_DIR) -j $(JOBS) --target warden
	./scripts/test-services
	cd tests && WARDEN_BIN=$(abspath $(TSAN_DIR))/warden RELOAD_STORM_SECONDS=$(TSAN_STORM_SECONDS) \
	  ../scripts/sanitized $(abspath $(TSAN_DIR))/sanitizer \
	  node --test --test-concurrency=1 integration/lifecycle.test.mjs stress/reload_storm.test.mjs

# libFuzzer targets (clang, ASan, UBSan), each run FUZZ_SECONDS over its seed corpus.
test-fuzz: deps
	cmake -S . -B $(FUZZ_DIR) $(SANITIZE_CMAKE) -DWARDEN_FUZZ=ON
	cmake --build $(FUZZ_DIR) -j $(JOBS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_SEED=$(FUZZ_SEED) FUZZ_RUNS="$(FUZZ_RUNS)" ./scripts/fuzz $(FUZZ_DIR)

bench: build
	./scripts/test-services
	./bench/run.sh $(BUILD_DIR)

format:
	clang-format -i $$(git ls-files 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'bench/*.cpp')

tidy: $(BUILD_DIR)/build.ninja
	clang-tidy -p $(BUILD_DIR) $$(git ls-files 'src/*.cpp')

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR) $(FUZZ_DIR)
