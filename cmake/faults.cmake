# Fault suite (issue 8, part 1): the dev broker's control socket, and the
# fault-injection end-to-end tests (tests/e2e/test_fault_*.c, auto-registered as
# e2e.fault_*) with the "faults" label, so that `make test-faults` runs exactly them (at
# full size, SC_FAULT_POSTS=20000) and `make test` runs them with everything else (at the
# default 2000 posts per round).
target_sources(socialcare-devbroker PRIVATE ${CMAKE_SOURCE_DIR}/tools/devbroker/control.c)
target_link_libraries(socialcare-devbroker PRIVATE Threads::Threads)

set(sc_fault_tests fault_broker fault_redis fault_kill fault_send_crash fault_broker_errors
    fault_scale fault_platform fault_replay_marks fault_combined)
foreach(fault_test ${sc_fault_tests})
    if(TEST e2e.${fault_test})
        # a full-size round (20,000 posts) takes minutes under ASan
        set_tests_properties(e2e.${fault_test} PROPERTIES
                             LABELS "e2e;needs-broker;faults" TIMEOUT 1800)
    endif()
    if(TARGET e2e_test_${fault_test})
        add_dependencies(e2e_test_${fault_test} socialcare-devbroker socialcare-ingestor
                         socialcare-classifier socialcare-escalation-router
                         socialcare-responder socialcare-platform-peer)
    endif()
endforeach()
if(TARGET e2e_test_fault_platform)
    target_compile_definitions(e2e_test_fault_platform PRIVATE
                               SC_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endif()

