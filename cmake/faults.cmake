# Fault suite (issue 8, part 1): the fault-injection end-to-end tests
# (tests/e2e/test_fault_*.c, auto-registered as e2e.fault_*) also carry the "faults"
# label, so that `make test-faults` runs exactly them (and `make test` runs them with
# everything else).
foreach(fault_test fault_broker fault_redis)
    if(TEST e2e.${fault_test})
        set_tests_properties(e2e.${fault_test} PROPERTIES
                             LABELS "e2e;needs-broker;faults")
    endif()
endforeach()
