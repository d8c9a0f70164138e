# The README's commands. Each target first installs missing Debian packages (scripts/install-deps.sh).
BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build test test-unit test-e2e demo up format format-check clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Every test (unit and end-to-end) in the ASan+UBSan build.
test: deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSC_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@ctest --test-dir $(TEST_BUILD) --output-on-failure -j $(JOBS)

test-unit: deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSC_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@ctest --test-dir $(TEST_BUILD) --output-on-failure -L unit

# The main job: the whole pipeline on this machine, a demo stream through it, a summary.
demo: build
	@./scripts/stack.sh demo $(BUILD)/bin

# The same stack, left running until Ctrl-C.
up: build
	@./scripts/stack.sh up $(BUILD)/bin

format:
	@clang-format -i shared/*.[ch] services/*/*.[ch] tools/*/*.c tests/*/*.c tests/*/*.h

format-check:
	@clang-format --dry-run --Werror shared/*.[ch] services/*/*.[ch] tools/*/*.c tests/*/*.c

clean:
	@rm -rf $(BUILD) $(TEST_BUILD)

# Area targets (mk/<area>.mk), e.g. benchmarks of one service.
-include mk/*.mk
