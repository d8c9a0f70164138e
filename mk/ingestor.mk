# Ingestor benchmarks (not tests): see docs/benchmarks/ingestor.md.
# make bench-ingestor-replay [INGEST_BENCH_COUNT=400000]; make bench-ingestor-webhook [INGEST_BENCH_DURATION=15s]
INGEST_BENCH_BUILD ?= build-ing-rel
INGEST_BENCH_COUNT ?= 400000
INGEST_BENCH_DURATION ?= 15s

.PHONY: bench-ingestor bench-ingestor-replay bench-ingestor-webhook

bench-ingestor: bench-ingestor-replay bench-ingestor-webhook

bench-ingestor-replay: deps
	@cmake -S . -B $(INGEST_BENCH_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(INGEST_BENCH_BUILD) -j $(JOBS) --target socialcare-ingestor socialcare-devbroker socialcare-demo-gen
	@./scripts/bench/ingestor.sh replay $(INGEST_BENCH_BUILD)/bin $(INGEST_BENCH_COUNT)

bench-ingestor-webhook: deps
	@cmake -S . -B $(INGEST_BENCH_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(INGEST_BENCH_BUILD) -j $(JOBS) --target socialcare-ingestor socialcare-devbroker
	@./scripts/bench/ingestor.sh webhook $(INGEST_BENCH_BUILD)/bin $(INGEST_BENCH_DURATION)
