/* Tree-less reading of a v1 post: one pass over the message bytes that checks the JSON
 * grammar and the post schema (the same rules as sc_event_parse for SC_EVENT_POST with
 * the default limits of shared/event.h) and picks out the fields services use, without
 * building a jansson tree (parsing the tree and its allocations dominate a service that
 * only reads a few fields). The reader is conservative: anything it does not handle
 * itself — an escape sequence in a string, an exponent or an integer of more than 18
 * digits, more than 64 members in an object, a schema violation — makes it decline, and
 * the caller then parses the message with sc_event_parse, which accepts it or names the
 * reason to dead-letter it. So it never accepts a post the full parser would reject, and
 * a declined post costs one extra scan. Used by the router (services/escalation-router/
 * postscan.c) and the ingestor's replay. */
#ifndef SC_JSCAN_H
#define SC_JSCAN_H

#include <stdbool.h>
#include <stddef.h>

/* The largest message the reader scans (the default max_bytes of shared/event.h). */
#define SC_JSCAN_MAX_BYTES 65536

/* What the reader picks out of a post. Strings are NUL-terminated copies in the caller's
 * string buffer, NULL when absent or not a string. */
struct sc_jscan_post {
    const char *id, *platform, *kind, *created_at, *text, *lang;
    const char *region; /* "region", else author.region */
    const char *source_type, *author_id, *handle;
    const char *intent, *topic, *label; /* classification (NULL when absent) */
    double score;                       /* classification.sentiment.score (0 if absent) */
    double influence;                   /* classification.influence (0 if absent) */
    long long followers;                /* author.followers (0 if absent) */
    bool verified;                      /* author.verified */
    long long interactions; /* engagement likes + reposts + replies (saturating) */
    bool has_v;             /* the top-level object has "v" (then it is 1) */
    bool has_received_at;   /* ... has "received_at" (then it is RFC 3339) */
};

/* @brief Scans buf[0 .. len) as a v1 post. Copies the strings it returns into strbuf,
 *        which must have room for len + 16 bytes, and sets *strbuf_used to the bytes it
 *        used (0 when it declines).
 * @returns true when sc_event_parse(buf, len, SC_EVENT_POST, NULL, ...) would accept the
 *          post and the reader handled all of it; false when the caller must use
 *          sc_event_parse (out is then undefined). */
bool sc_jscan_post(const char *buf, size_t len, char *strbuf, size_t *strbuf_used,
                   struct sc_jscan_post *out);

#endif
