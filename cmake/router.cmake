# Escalation router area: compiles config/routing.json into the router as its built-in
# default routing configuration (the file in the repo is the single source), and adds the
# router benchmark tool.
set(SC_ROUTING_JSON ${CMAKE_SOURCE_DIR}/config/routing.json)
set(SC_ROUTING_C ${CMAKE_BINARY_DIR}/generated/routing_default.c)
add_custom_command(
    OUTPUT ${SC_ROUTING_C}
    COMMAND ${CMAKE_COMMAND} -DIN=${SC_ROUTING_JSON} -DOUT=${SC_ROUTING_C}
            -P ${CMAKE_SOURCE_DIR}/cmake/router/embed.cmake
    DEPENDS ${SC_ROUTING_JSON} ${CMAKE_SOURCE_DIR}/cmake/router/embed.cmake
    COMMENT "Embedding config/routing.json")
target_sources(svc_escalation_router PRIVATE ${SC_ROUTING_C})
target_link_libraries(svc_escalation_router PUBLIC Threads::Threads)

if(EXISTS ${CMAKE_SOURCE_DIR}/tools/bench/router-bench.c)
    add_executable(socialcare-router-bench ${CMAKE_SOURCE_DIR}/tools/bench/router-bench.c)
    sc_target_defaults(socialcare-router-bench)
    target_link_libraries(socialcare-router-bench PRIVATE sc_shared)
endif()
