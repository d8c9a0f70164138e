# Escalation router area targets.
.PHONY: bench-router

# One router on a 200,000-post backlog through the dev broker and a real redis-server
# (release build in build-rtr-rel). BENCH_COUNT=N changes the size.
bench-router: deps
	@cmake -S . -B build-rtr-rel -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build-rtr-rel -j $(JOBS) --target socialcare-escalation-router \
		socialcare-devbroker socialcare-router-bench
	@./scripts/bench-router.sh build-rtr-rel/bin
