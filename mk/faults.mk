# Fault suite (issue 8, part 1): the full stack under injected faults, checked by id, in
# the ASan+UBSan test build (ctest label faults). `make test-faults` runs every round at
# full size (SC_FAULT_POSTS posts per round, default 20,000, paced at SC_FAULT_RATE
# posts/s; four SIGKILL rounds; department webhooks down for 150 s); `make test` runs the
# same tests in their bounded form (2,000 posts per round, one SIGKILL round, a 20 s
# webhook outage). Any of these can be overridden: make test-faults SC_FAULT_POSTS=40000,
# and SC_FAULT_SEED=<n> repeats a run's random moments (printed by each round).
.PHONY: test-faults

SC_FAULT_POSTS ?= 20000
SC_FAULT_RATE ?= 400
SC_FAULT_KILL_ROUNDS ?= 4
SC_FAULT_WEBHOOK_DOWN_MS ?= 150000

test-faults: deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSC_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@SC_FAULT_POSTS=$(SC_FAULT_POSTS) SC_FAULT_RATE=$(SC_FAULT_RATE) \
	  SC_FAULT_KILL_ROUNDS=$(SC_FAULT_KILL_ROUNDS) \
	  SC_FAULT_WEBHOOK_DOWN_MS=$(SC_FAULT_WEBHOOK_DOWN_MS) \
	  ctest --test-dir $(TEST_BUILD) --output-on-failure -L faults
