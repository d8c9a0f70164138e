/* One-byte mutations of a valid message, for the unit tests of the tree-less readers
 * (shared/jscan, the router's post scan): every single-byte deletion, and every byte
 * replaced by each character that matters to the JSON grammar. The test's check(buf, len)
 * runs the reader, asserts that the full parser accepts whatever the reader accepts, and
 * returns whether the reader accepted. */
#ifndef SC_TEST_MUTATIONS_H
#define SC_TEST_MUTATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "alloc.h"

/* @returns how many mutations the reader accepted; *total counts them all. */
static inline size_t mutations_run(const char *good, bool (*check)(const char *, size_t),
                                   size_t *total)
{
    static const char subst[] = {'"', '{', '}', '[',  ']', ',', ':', '0',    '-',
                                 '.', 'x', ' ', '\\', 't', 'n', '1', '\x01', '\xff'};
    size_t len = strlen(good), accepted = 0;
    char *buf = sc_malloc(len + 1);
    *total = 0;
    for (size_t i = 0; i < len; i++) {
        memcpy(buf, good, i);
        memcpy(buf + i, good + i + 1, len - i - 1);
        accepted += check(buf, len - 1);
        (*total)++;
        for (size_t k = 0; k < sizeof(subst); k++) {
            memcpy(buf, good, len);
            buf[i] = subst[k];
            accepted += check(buf, len);
            (*total)++;
        }
    }
    sc_free(buf);
    return accepted;
}

#endif
