/* The classifier's fast read of an inbound post: one pass over the message bytes that
 * checks the JSON grammar and the v1 post schema (the rules of sc_event_parse for
 * SC_EVENT_POST with the default limits, shared/event.c) and picks out only what the
 * classifier needs, without building a jansson tree, plus the offset where the
 * classification can be spliced into the original bytes. It is conservative: anything it
 * does not handle itself (an absent "v", an existing "classification", an escape in a
 * key, an exponent or a very long number, any schema violation) makes it decline, and
 * the caller then takes the full path (sc_event_parse, which accepts the post or names
 * the reason to dead-letter it). So it never accepts a post the full parser rejects. */
#ifndef CLASSIFIER_POSTSCAN_H
#define CLASSIFIER_POSTSCAN_H

#include <stdbool.h>
#include <stddef.h>

/* What the classifier reads from a post. Strings point into the caller's string buffer
 * (escapes decoded; not NUL-terminated) or are NULL when absent. */
struct cls_post {
    const char *text;
    size_t text_len;
    const char *lang; /* NULL when absent */
    size_t lang_len;
    const char *platform;
    size_t platform_len;
    const char *author_id;
    size_t author_id_len;
    long long followers, likes, reposts, replies; /* 0 when absent */
    bool verified;
    size_t close; /* offset of the top-level object's closing '}' */
};

/* @brief Scans buf[0 .. len) (the caller has checked len against the size limit and
 *        the bytes with sc_utf8_valid). Decoded strings go to strbuf, which needs len
 *        bytes.
 * @returns true when the post is valid and the fast path applies; false when the caller
 *          must use sc_event_parse (out is then undefined). */
bool cls_post_scan(const char *buf, size_t len, char *strbuf, struct cls_post *out);

/* @brief Writes the classified post: buf[0 .. p->close) (the original bytes up to the
 *        closing brace), then ,"classification": and cls[0 .. cls_len), then '}', into
 *        out[0 .. cap).
 * @returns the length written, or 0 when it does not fit. */
size_t cls_post_splice(const char *buf, const struct cls_post *p, const char *cls,
                       size_t cls_len, char *out, size_t cap);

#endif
