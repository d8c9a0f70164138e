# Fault suite (issue 8, part 1): the full stack under injected faults (broker down then
# up, Redis SIGKILL and restart), checked by id, in the ASan+UBSan test build (ctest
# label faults; the same tests also run in `make test`).
.PHONY: test-faults

test-faults: deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSC_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@ctest --test-dir $(TEST_BUILD) --output-on-failure -L faults
