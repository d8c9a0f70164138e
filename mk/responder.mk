# Responder area targets.
.PHONY: bench-responder

# Rate-limit decisions against a real redis-server, the platform client against the local
# platform peer, and the responder service on a backlog through the dev broker (release
# build in build-rsp-rel). BENCH_COUNT=N changes the backlog.
bench-responder: deps
	@cmake -S . -B build-rsp-rel -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build-rsp-rel -j $(JOBS) --target socialcare-responder \
		socialcare-devbroker socialcare-platform-peer socialcare-responder-bench
	@./scripts/bench-responder.sh build-rsp-rel/bin
