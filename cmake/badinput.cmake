# Bad-input area (issue 8, part 2): the hostile-input end-to-end tests
# (tests/e2e/test_hostile_*.c, auto-registered as e2e.hostile_*) also carry the
# "bad-input" label, so that `make test-bad-input` runs exactly them (and `make test`
# runs them with everything else).
foreach(bad_input_test hostile_http hostile_topics)
    if(TEST e2e.${bad_input_test})
        set_tests_properties(e2e.${bad_input_test} PROPERTIES
                             LABELS "e2e;needs-broker;bad-input")
    endif()
endforeach()
