# Deploy area (issue 7): the deploy checks alone, and regeneration of generated files.
.PHONY: deploy-check deploy-generate

# Compose, Kubernetes, Prometheus rules and the observability e2e test, in the test build.
deploy-check: deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSC_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@ctest --test-dir $(TEST_BUILD) --output-on-failure -L deploy

# After editing deploy/prometheus/rules/socialcare.rules.yml or gen-dashboard.mjs.
deploy-generate:
	@sh deploy/validate/setup.sh $(TEST_BUILD)/deploy-tools >/dev/null
	@SC_DEPLOY_NODE_DIR=$(TEST_BUILD)/deploy-tools/node node deploy/validate/gen-prometheusrule.mjs
	@node deploy/validate/gen-dashboard.mjs
