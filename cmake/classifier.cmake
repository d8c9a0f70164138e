# Classifier area (issue 4): text pipeline and model libraries need utf8proc and PCRE2; the
# trainer and evaluator tools (socialcare-train, socialcare-eval); the throughput benchmark.
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
target_link_libraries(svc_classifier PUBLIC PkgConfig::UTF8PROC PkgConfig::PCRE2)

add_library(sc_train STATIC tools/train/dataset.c)
sc_target_defaults(sc_train)
target_include_directories(sc_train PUBLIC ${CMAKE_SOURCE_DIR}/tools/train)
target_link_libraries(sc_train PUBLIC svc_classifier sc_shared m)

foreach(tool train eval)
    add_executable(socialcare-${tool} tools/train/${tool}.c)
    sc_target_defaults(socialcare-${tool})
    target_link_libraries(socialcare-${tool} PRIVATE sc_train)
endforeach()

add_executable(socialcare-classifier-bench tools/train/bench.c)
sc_target_defaults(socialcare-classifier-bench)
target_link_libraries(socialcare-classifier-bench PRIVATE sc_train)

# Trainer library tests (tests/unit/train): data under tests/data/classifier only.
add_executable(train_test_train tests/unit/train/test_train.c)
sc_target_defaults(train_test_train)
target_link_libraries(train_test_train PRIVATE sc_train PkgConfig::CMOCKA)
add_test(NAME unit.train COMMAND train_test_train)
set_tests_properties(unit.train PROPERTIES LABELS unit ENVIRONMENT "${SC_TEST_ENV}")

# Throughput of one classifier through the dev broker (a program, not a ctest test).
if(TARGET sc_e2e_harness)
    add_executable(socialcare-classifier-broker-bench tools/train/broker_bench.c)
    sc_target_defaults(socialcare-classifier-broker-bench)
    target_link_libraries(socialcare-classifier-broker-bench PRIVATE sc_train sc_e2e_harness)
endif()
