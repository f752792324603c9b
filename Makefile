# Warden: `make run` starts the gateway in front of a demo model; `make test` runs every test.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)

.PHONY: all deps build run test bench format tidy clean

all: build

deps:
	./scripts/install-deps
	cd tests && npm ci --no-audit --no-fund --loglevel=error

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	./scripts/run-demo $(BUILD_DIR)/warden

test: build
	./scripts/test-services
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j 2

bench: build
	./scripts/test-services
	./bench/run.sh $(BUILD_DIR)

format:
	clang-format -i $$(git ls-files 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'bench/*.cpp')

tidy: $(BUILD_DIR)/build.ninja
	clang-tidy -p $(BUILD_DIR) $$(git ls-files 'src/*.cpp')

clean:
	rm -rf $(BUILD_DIR)
