# Classifier area targets (issue 4): train the shipped models, cross-validate, benchmark.
#   make classifier-models  [CLASSIFIER_DATA=../shared/data]  retrain models/*.scm
#   make classifier-cv      [CLASSIFIER_DATA=...]             5-fold CV of both profiles
#   make bench-classifier   [CLASSIFIER_DATA=...]             in-process and dev-broker throughput
CLASSIFIER_DATA ?= ../shared/data
CLS_BUILD       ?= build-cls-rel
CLS_BIN          = $(CLS_BUILD)/bin

.PHONY: classifier-tools classifier-models classifier-cv bench-classifier

classifier-tools: deps
	@cmake -S . -B $(CLS_BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(CLS_BUILD) -j $(JOBS) --target socialcare-train socialcare-eval \
		socialcare-classifier-bench socialcare-classifier-broker-bench \
		socialcare-classifier socialcare-devbroker

classifier-models: classifier-tools
	$(CLS_BIN)/socialcare-train --profile models/airline.profile \
		--data $(CLASSIFIER_DATA)/airline_train.csv --out models/airline.scm
	$(CLS_BIN)/socialcare-train --profile models/retail.profile \
		--data $(CLASSIFIER_DATA)/bitext_train.csv --out models/retail.scm

classifier-cv: classifier-tools
	$(CLS_BIN)/socialcare-eval --profile models/airline.profile \
		--data $(CLASSIFIER_DATA)/airline_train.csv --folds 5
	$(CLS_BIN)/socialcare-eval --profile models/retail.profile \
		--data $(CLASSIFIER_DATA)/bitext_train.csv --folds 5

bench-classifier: classifier-tools
	$(CLS_BIN)/socialcare-classifier-bench --model models/airline.scm \
		--rules config/classifier-rules.conf --csv $(CLASSIFIER_DATA)/airline_train.csv \
		--seconds 5
	SC_BIN_DIR=$(abspath $(CLS_BIN)) SC_SOURCE_DIR=$(CURDIR) \
		CLASSIFIER_BENCH_CSV=$(CLASSIFIER_DATA)/airline_train.csv \
		$(CLS_BIN)/socialcare-classifier-broker-bench
