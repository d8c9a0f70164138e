/* The v1 event schema (see docs/architecture.md): parse with limits, validate, serialise.
 * Parsing rejects, with a clear reason: more than max_bytes, nesting deeper than
 * max_depth, invalid UTF-8, NUL bytes (also escaped \u0000), malformed JSON, a wrong "v",
 * missing or wrong-typed required fields, and strings longer than their caps. */
#ifndef SC_EVENT_H
#define SC_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "error.h"

#define SC_EVENT_VERSION 1

struct sc_event_limits {
    size_t max_bytes;  /* whole message; default 65536 */
    int max_depth;     /* object/array nesting; default 8 */
    size_t max_text;   /* "text" in bytes; default 8192 */
    size_t max_string; /* any other string; default 1024 */
};

/* The defaults above. */
extern const struct sc_event_limits sc_event_default_limits;

/* What a message is, to pick its validator. */
enum sc_event_kind {
    SC_EVENT_POST,     /* posts.inbound / posts.classified */
    SC_EVENT_REPLY,    /* replies.outbound */
    SC_EVENT_DELIVERY, /* replies.delivered */
    SC_EVENT_KIND_COUNT
};

/* @brief Parses and validates buf[0..len) as an event of the given kind (limits may be
 * NULL for the defaults). For SC_EVENT_POST, "received_at" is not required (the ingestor
 *        stamps it) and "v" defaults to 1 when absent.
 * @returns a new reference, or NULL with a short reason (no personal data) in reason. */
json_t *sc_event_parse(const char *buf, size_t len, enum sc_event_kind kind,
                       const struct sc_event_limits *limits, char *reason,
                       size_t reason_size);

/* @brief Validates an already-built object of the given kind. @returns 0 or SC_EPARSE. */
int sc_event_validate(const json_t *event, enum sc_event_kind kind,
                      const struct sc_event_limits *limits, char *reason,
                      size_t reason_size) SC_WUR;

/* @brief Writes the customer key "platform:author_id" of a post into buf.
 * @returns the length, or SC_EINVAL when fields are missing or buf is too small. */
int sc_event_customer_key(const json_t *post, char *buf, size_t size) SC_WUR;

/* @brief Borrowed string member lookups: sc_event_str(ev, "id"), sc_event_path(ev,
 *        "classification", "intent") (NULL when absent or not a string). */
const char *sc_event_str(const json_t *event, const char *key);
const char *sc_event_path(const json_t *event, const char *key1, const char *key2);

/* @brief Serialises compactly. @returns a new string (free with free()), *len its length.
 */
char *sc_event_dump(const json_t *event, size_t *len);

/* @brief The post checks sc_event_parse applies, for readers that scan a post without
 *        building a tree (the classifier's and router's fast paths): an RFC 3339
 *        timestamp (YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm), plausible ranges), a
 *        known platform, a known post kind. Each takes s[0 .. len), not NUL-terminated.
 */
bool sc_event_timestamp_ok(const char *s, size_t len);
bool sc_event_platform_ok(const char *s, size_t len);
bool sc_event_post_kind_ok(const char *s, size_t len);

/* @brief Checks that buf[0..len) is valid UTF-8 with no NUL byte. @returns 1 or 0. */
int sc_utf8_valid(const char *buf, size_t len);

#endif
