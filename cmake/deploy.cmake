# Deploy area (issue 7): checks of the container, Compose, Kubernetes and Prometheus files,
# run by `make test` (label "deploy"). deploy.setup prepares the tools once per build tree
# (npm ci of deploy/validate/package-lock.json, Debian's kubectl) as a ctest fixture.
# The Prometheus end-to-end test (tests/e2e/test_observability.c) is registered with the
# other e2e tests and also carries the label.
set(SC_DEPLOY_TOOLS ${CMAKE_BINARY_DIR}/deploy-tools)
set(SC_DEPLOY_VALIDATE ${CMAKE_SOURCE_DIR}/deploy/validate)

add_test(NAME deploy.setup COMMAND sh ${SC_DEPLOY_VALIDATE}/setup.sh ${SC_DEPLOY_TOOLS})
set_tests_properties(deploy.setup PROPERTIES LABELS deploy FIXTURES_SETUP deploy_tools
                     TIMEOUT 600)

# docker-compose config (Debian's docker-compose 1.29) of the stack and the scale override,
# the stack's promises, the Dockerfile, and the compose Prometheus configuration.
add_test(NAME deploy.compose COMMAND sh ${SC_DEPLOY_VALIDATE}/check-compose.sh ${SC_DEPLOY_TOOLS})

# kustomize renders (Debian's kubectl and any newer one) validated against the upstream
# schemas (core, KEDA, Prometheus Operator) and the product's rules.
add_test(NAME deploy.k8s COMMAND sh ${SC_DEPLOY_VALIDATE}/check-k8s.sh ${SC_DEPLOY_TOOLS})

# promtool check rules + promtool test rules (unit tests of every alert).
add_test(NAME deploy.prometheus-rules
         COMMAND sh -c "promtool check rules socialcare.rules.yml && promtool test rules socialcare.rules.test.yml"
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/deploy/prometheus/rules)

# Generated files in sync (PrometheusRule, Grafana dashboard); metric names in rules and
# dashboard exist in the code; dashboard queries are valid PromQL.
add_test(NAME deploy.generated
         COMMAND sh -c "node gen-prometheusrule.mjs --check && node gen-dashboard.mjs --check && node check-monitoring.mjs"
         WORKING_DIRECTORY ${SC_DEPLOY_VALIDATE})

foreach(t deploy.compose deploy.k8s deploy.prometheus-rules deploy.generated)
    set_tests_properties(${t} PROPERTIES LABELS deploy FIXTURES_REQUIRED deploy_tools
                         TIMEOUT 300 ENVIRONMENT "SC_DEPLOY_NODE_DIR=${SC_DEPLOY_TOOLS}/node")
endforeach()

if(TEST e2e.observability)
    set_tests_properties(e2e.observability PROPERTIES LABELS "e2e;needs-broker;deploy")
endif()
if(TARGET e2e_test_observability)
    # The rules file's location when the test runs outside ctest (SC_SOURCE_DIR unset).
    target_compile_definitions(e2e_test_observability
                               PRIVATE SC_DEPLOY_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endif()
