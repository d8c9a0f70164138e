/* Normalisation of posts before publication, and the ingestor's Redis key names. */
#include "ingest.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "lifecycle.h"

void ingest_normalise(json_t *post, int64_t now_wall_ms)
{
    if (!json_object_get(post, "v"))
        json_object_set_new(post, "v", json_integer(1));
    if (!json_object_get(post, "received_at")) {
        char buf[40];
        json_object_set_new(post, "received_at",
                            json_string(sc_format_time(now_wall_ms, buf, sizeof(buf))));
    }
}

size_t ingest_mark_attempt(char *buf, size_t size)
{
    static atomic_ullong seq;
    int n = snprintf(buf, size, INGEST_MARK_PENDING "%ld.%llu%c", (long)getpid(),
                     (unsigned long long)atomic_fetch_add(&seq, 1) + 1, INGEST_MARK_SEP);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

enum ingest_mark ingest_mark_classify(bool is_nil, const char *old, size_t old_len,
                                      const char *own_prefix, size_t *batch_len)
{
    *batch_len = 0;
    if (is_nil)
        return INGEST_NEW;
    size_t plen = sizeof(INGEST_MARK_PENDING) - 1;
    if (old_len < plen || memcmp(old, INGEST_MARK_PENDING, plen) != 0)
        return INGEST_DUPLICATE;
    if (own_prefix) {
        size_t olen = strlen(own_prefix);
        if (old_len >= olen && memcmp(old, own_prefix, olen) == 0)
            return INGEST_DUPLICATE;
    }
    const char *sep = memchr(old, INGEST_MARK_SEP, old_len);
    *batch_len = sep ? (size_t)(sep - old) : 0; /* 0: an older mark, no record */
    return INGEST_CHECK;
}

int ingest_batch_key(const char *batch, size_t batch_len, char *buf, size_t size)
{
    int n = snprintf(buf, size, "seen:batch:{%.*s}", (int)batch_len, batch);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

int ingest_seen_key(const char *id, char *buf, size_t size)
{
    int n = snprintf(buf, size, "seen:{%s}", id);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

void ingest_top_keys(const char *p, size_t len, bool *has_v, bool *has_recv)
{
    *has_v = *has_recv = false;
    int depth = 0;
    const char *end = p + len;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            const char *start = ++p;
            /* The closing quote: the next one not escaped by an odd run of backslashes.
             */
            while (1) {
                const char *q = memchr(p, '"', (size_t)(end - p));
                if (!q) {
                    p = end;
                    break;
                }
                size_t bs = 0;
                while (q - bs > start && q[-1 - (ptrdiff_t)bs] == '\\')
                    bs++;
                p = q;
                if (bs % 2 == 0)
                    break;
                p++;
            }
            size_t n = (size_t)(p - start);
            p++;
            if (depth == 1) {
                const char *q = p;
                while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
                    q++;
                if (q < end && *q == ':') {
                    if (n == 1 && start[0] == 'v')
                        *has_v = true;
                    else if (n == 11 && memcmp(start, "received_at", 11) == 0)
                        *has_recv = true;
                }
            }
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        p++;
    }
}
