/* Normalisation of posts before publication, and the ingestor's Redis key names. */
#include "ingest.h"

#include <stdio.h>

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

int ingest_seen_key(const char *id, char *buf, size_t size)
{
    int n = snprintf(buf, size, "seen:{%s}", id);
    return n < 0 || (size_t)n >= size ? -1 : n;
}
