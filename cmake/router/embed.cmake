# Script mode (cmake -DIN=... -DOUT=... -P): writes IN as a C byte array
# router_default_config (NUL-terminated) with its length router_default_config_len.
# Run by cmake/router.cmake at build time.
if(NOT DEFINED IN OR NOT DEFINED OUT)
    return()
endif()
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR n "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT}
     "/* Generated from config/routing.json by cmake/router/embed.cmake; do not edit. */\n"
     "#include <stddef.h>\n"
     "const char router_default_config[] = {${bytes}0x00};\n"
     "const size_t router_default_config_len = ${n};\n")
