# Fuzzing area targets (tests/fuzz). `make fuzz` builds the libFuzzer targets with clang in
# build-fuzz (-DSC_FUZZ=ON, -O2 -g; the tree gets coverage instrumentation and ASan+UBSan)
# and runs each for FUZZ_SECONDS over its seed corpus. New corpus entries go to
# $(FUZZ_WORK)/<name> (not into the repo); crashes are written to $(FUZZ_WORK)/artifacts/.
# A crash fails the target: minimise it, fix it, and add it to tests/fuzz/regressions/<name>/.
# FUZZ_TARGETS picks a subset, e.g. `make fuzz FUZZ_TARGETS="event text" FUZZ_SECONDS=10`.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_WORK    ?= $(FUZZ_BUILD)/fuzz-work
FUZZ_TARGETS ?= event jscan signature webhook routing text policy
FUZZ_FLAGS   ?= -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

.PHONY: fuzz fuzz-build fuzz-replay

fuzz-build: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSC_SANITIZE=ON \
		-DSC_FUZZ=ON -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" \
		-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g" >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))

fuzz: fuzz-build
	@mkdir -p $(FUZZ_WORK)/artifacts
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_WORK)/$$t; \
		echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
		$(FUZZ_BUILD)/bin/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) \
			-artifact_prefix=$(FUZZ_WORK)/artifacts/$$t- \
			$(FUZZ_WORK)/$$t tests/fuzz/corpus/$$t \
			$$(test -d tests/fuzz/regressions/$$t && echo tests/fuzz/regressions/$$t) \
			2>$(FUZZ_WORK)/$$t.log || { tail -n 60 $(FUZZ_WORK)/$$t.log; exit 1; }; \
		grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units)' $(FUZZ_WORK)/$$t.log || true; \
	done

# The corpora and reproducers through the gcc ASan+UBSan build (what `make test` runs).
fuzz-replay: deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSC_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS) --target $(addprefix replay_,$(FUZZ_TARGETS))
	@ctest --test-dir $(TEST_BUILD) --output-on-failure -L fuzz
