/* Shared declaration of the libFuzzer entry point, so each target (tests/fuzz/fuzz_*.c)
 * compiles warning-free (-Wmissing-prototypes) both under clang's libFuzzer and when
 * linked with the corpus replay driver (replay_main.c) in the gcc test build. */
#ifndef SC_FUZZ_H
#define SC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* @brief Runs one input through the code under test. @returns 0 (libFuzzer contract). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
