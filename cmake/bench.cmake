# Benchmark area (issue 8, `make bench`): the raw broker baseline, a plain librdkafka
# producer -> consumer on the dev broker with the services' producer settings.
add_executable(socialcare-broker-bench ${CMAKE_SOURCE_DIR}/tools/bench/broker-bench.c)
sc_target_defaults(socialcare-broker-bench)
target_link_libraries(socialcare-broker-bench PRIVATE PkgConfig::RDKAFKA Threads::Threads)
