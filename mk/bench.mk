# Benchmark harness (issue 8): `make bench` runs, in one go on this machine, the raw broker
# baseline, each service alone (the areas' bench targets) and the whole pipeline (throughput,
# p50/p99 latency at a fixed offered load, peak RSS), prints the table with ratios to the
# broker baseline and writes docs/benchmarks/pipeline.md. See scripts/bench/pipeline.sh for
# the knobs (BENCH_*_COUNT, BENCH_LATENCY_RATE, BENCH_ONLY, CLASSIFIER_DATA).
.PHONY: bench

bench: build
	@./scripts/bench/pipeline.sh $(BUILD)/bin
