# Fuzzing area (issue 8, part 3): one libFuzzer target per parser of untrusted input
# (tests/fuzz/fuzz_<name>.c), each linked to the library it tests.
#  * Normal (gcc) builds: replay_<name> links the target with tests/fuzz/replay_main.c and
#    ctest "fuzz.<name>" (label fuzz) replays its seed corpus (tests/fuzz/corpus/<name>/)
#    and crash reproducers (tests/fuzz/regressions/<name>/) under ASan+UBSan.
#  * -DSC_FUZZ=ON with CC=clang (build-fuzz, see mk/fuzz.mk): fuzz_<name> are libFuzzer
#    binaries; the whole tree is compiled with -fsanitize=fuzzer-no-link (coverage) there.
option(SC_FUZZ "Build the libFuzzer targets (needs clang)" OFF)

set(SC_FUZZ_DIR ${CMAKE_SOURCE_DIR}/tests/fuzz)
# name -> libraries under test
set(SC_FUZZ_TARGETS event jscan signature webhook routing text policy)
set(SC_FUZZ_LIBS_event sc_event)
set(SC_FUZZ_LIBS_jscan sc_jscan)
set(SC_FUZZ_LIBS_signature svc_ingestor)
set(SC_FUZZ_LIBS_webhook svc_ingestor)
set(SC_FUZZ_LIBS_routing svc_escalation_router)
set(SC_FUZZ_LIBS_text svc_classifier)
set(SC_FUZZ_LIBS_policy svc_responder)

if(SC_FUZZ AND NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SC_FUZZ=ON needs clang (configure with CC=clang)")
endif()

foreach(name ${SC_FUZZ_TARGETS})
    set(libs ${SC_FUZZ_LIBS_${name}})
    list(GET libs 0 first)
    if(NOT TARGET ${first})
        continue()
    endif()
    if(SC_FUZZ)
        add_executable(fuzz_${name} ${SC_FUZZ_DIR}/fuzz_${name}.c)
        sc_target_defaults(fuzz_${name})
        target_include_directories(fuzz_${name} PRIVATE ${SC_FUZZ_DIR})
        target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
        target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
        target_link_libraries(fuzz_${name} PRIVATE ${libs})
    else()
        add_executable(replay_${name} ${SC_FUZZ_DIR}/replay_main.c
                                      ${SC_FUZZ_DIR}/fuzz_${name}.c)
        sc_target_defaults(replay_${name})
        target_include_directories(replay_${name} PRIVATE ${SC_FUZZ_DIR})
        target_link_libraries(replay_${name} PRIVATE ${libs})
        add_test(NAME fuzz.${name}
                 COMMAND replay_${name} ${SC_FUZZ_DIR}/corpus/${name}
                         ${SC_FUZZ_DIR}/regressions/${name})
        set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 120
                             ENVIRONMENT "${SC_TEST_ENV}")
    endif()
endforeach()
