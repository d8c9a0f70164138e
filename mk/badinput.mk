# Bad-input suite (issue 8, part 2): thousands of generated hostile inputs on every HTTP
# endpoint and every consumed topic, in the ASan+UBSan test build (ctest label bad-input;
# the same tests also run in `make test`). SC_BAD_INPUT_SEED=<n> replays another seed.
.PHONY: test-bad-input

test-bad-input: deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSC_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@ctest --test-dir $(TEST_BUILD) --output-on-failure -L bad-input
