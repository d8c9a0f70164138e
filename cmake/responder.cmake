# Responder area: the local platform peer (tests, benchmarks) and the responder benchmark.
add_executable(socialcare-platform-peer ${CMAKE_SOURCE_DIR}/tests/peers/platform-peer.c)
sc_target_defaults(socialcare-platform-peer)
target_link_libraries(socialcare-platform-peer PRIVATE PkgConfig::MHD PkgConfig::JANSSON
                      PkgConfig::CRYPTO Threads::Threads)

add_executable(socialcare-responder-bench ${CMAKE_SOURCE_DIR}/tests/bench/responder-bench.c)
sc_target_defaults(socialcare-responder-bench)
target_link_libraries(socialcare-responder-bench PRIVATE svc_responder sc_shared PkgConfig::CURL)

# The e2e tests of the responder start the peer: build it with them.
foreach(t test_responder_platforms test_responder_exactly_once)
    if(TARGET e2e_${t})
        add_dependencies(e2e_${t} socialcare-platform-peer socialcare-responder)
    endif()
endforeach()
