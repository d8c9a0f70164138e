/* The v1 event schema: limits that run before jansson ever sees the bytes (size, UTF-8,
 * nesting depth), strict parsing (duplicate keys, NUL escapes and trailing data
 * rejected), and one validator per kind of message. Every rejection gets a reason "class:
 * detail" whose class is a fixed word usable as a metric label and whose detail names a
 * field, never its content. */
#include "event.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"

const struct sc_event_limits sc_event_default_limits = {
    .max_bytes = 65536,
    .max_depth = 8,
    .max_text = 8192,
    .max_string = 1024,
};

static const char *const sc_event_platforms[] = {
    "x", "mastodon", "bluesky", "facebook", "instagram", "generic", NULL};
static const char *const sc_event_kinds[] = {"mention", "reply",  "dm",
                                             "comment", "review", NULL};
static const char *const sc_event_channels[] = {"public", "dm", NULL};
static const char *const sc_event_statuses[] = {"sent", "failed", "suppressed",
                                                "held_for_review", NULL};

/* ----------------------------------------------------------------------------------------
 */
/* Byte-level checks */
/* ----------------------------------------------------------------------------------------
 */

/* @returns the offset of the first byte that starts an invalid sequence (or is NUL), or
 * len when buf[0..len) is valid UTF-8. */
static size_t sc_utf8_check(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c == 0)
            return i;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return i; /* a stray continuation byte, or a 5/6-byte lead (0xF8..0xFF) */
        }
        if (len - i - 1 < n)
            return i; /* truncated */
        for (size_t k = 1; k <= n; k++) {
            unsigned char b = s[i + k];
            if ((b & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (b & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i; /* overlong, beyond Unicode, or a surrogate */
        i += n + 1;
    }
    return len;
}

int sc_utf8_valid(const char *buf, size_t len)
{
    return sc_utf8_check((const unsigned char *)buf, len) == len;
}

/* @returns true when no object/array nesting outside strings exceeds max_depth. */
static bool sc_event_depth_ok(const char *buf, size_t len, int max_depth)
{
    int depth = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                return false;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return true;
}

/* ----------------------------------------------------------------------------------------
 */
/* Validation helpers */
/* ----------------------------------------------------------------------------------------
 */

struct sc_event_check {
    struct sc_event_limits limits;
    char *reason;
    size_t reason_size;
};

static int sc_event_fail(struct sc_event_check *chk, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int sc_event_fail(struct sc_event_check *chk, const char *fmt, ...)
{
    if (chk->reason && chk->reason_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(chk->reason, chk->reason_size, fmt, ap);
        va_end(ap);
    }
    return SC_EPARSE;
}

static void sc_event_limits_resolve(const struct sc_event_limits *in,
                                    struct sc_event_limits *out)
{
    *out = sc_event_default_limits;
    if (!in)
        return;
    /* Zero fields keep their defaults. */
    if (in->max_bytes)
        out->max_bytes = in->max_bytes;
    if (in->max_depth > 0)
        out->max_depth = in->max_depth;
    if (in->max_text)
        out->max_text = in->max_text;
    if (in->max_string)
        out->max_string = in->max_string;
}

static bool sc_event_in(const char *value, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(value, *set) == 0)
            return true;
    return false;
}

/* A required string member: @returns it, or NULL with the reason set. */
static const char *sc_event_req_str(struct sc_event_check *chk, const json_t *obj,
                                    const char *prefix, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        sc_event_fail(chk, "missing_field: %s%s", prefix, key);
        return NULL;
    }
    if (!json_is_string(v)) {
        sc_event_fail(chk, "wrong_type: %s%s", prefix, key);
        return NULL;
    }
    return json_string_value(v);
}

/* An optional member of one JSON type (null accepted when null_ok). @returns 0 or
 * SC_EPARSE. */
static int sc_event_opt(struct sc_event_check *chk, const json_t *obj, const char *prefix,
                        const char *key, json_type type, bool null_ok)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || (null_ok && json_is_null(v)))
        return 0;
    if (type == JSON_TRUE) {
        if (!json_is_boolean(v))
            return sc_event_fail(chk, "wrong_type: %s%s", prefix, key);
        return 0;
    }
    if (json_typeof(v) != type)
        return sc_event_fail(chk, "wrong_type: %s%s", prefix, key);
    return 0;
}

/* An optional non-negative integer member. */
static int sc_event_opt_count(struct sc_event_check *chk, const json_t *obj,
                              const char *prefix, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return sc_event_fail(chk, "wrong_type: %s%s", prefix, key);
    if (json_integer_value(v) < 0)
        return sc_event_fail(chk, "invalid_value: %s%s", prefix, key);
    return 0;
}

static bool sc_event_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int sc_event_num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

bool sc_event_timestamp_ok(const char *s, size_t len)
{
    if (len < 20 || !sc_event_digits(s, 4) || s[4] != '-' || !sc_event_digits(s + 5, 2) ||
        s[7] != '-' || !sc_event_digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') ||
        !sc_event_digits(s + 11, 2) || s[13] != ':' || !sc_event_digits(s + 14, 2) ||
        s[16] != ':' || !sc_event_digits(s + 17, 2))
        return false;
    int month = sc_event_num(s + 5, 2), day = sc_event_num(s + 8, 2);
    int hour = sc_event_num(s + 11, 2), minute = sc_event_num(s + 14, 2);
    int second = sc_event_num(s + 17, 2);
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
        second > 60)
        return false;
    size_t i = 19;
    if (s[i] == '.') {
        size_t first = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == first)
            return false;
    }
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z'))
        return true;
    return i + 6 == len && (s[i] == '+' || s[i] == '-') &&
           sc_event_digits(s + i + 1, 2) && s[i + 3] == ':' &&
           sc_event_digits(s + i + 4, 2) && sc_event_num(s + i + 1, 2) <= 23 &&
           sc_event_num(s + i + 4, 2) <= 59;
}

static bool sc_event_rfc3339(const char *s)
{
    return sc_event_timestamp_ok(s, strlen(s));
}

/* Whether v[0 .. n) is one of set's strings. */
static bool sc_event_in_n(const char *v, size_t n, const char *const *set)
{
    for (; *set; set++)
        if (strlen(*set) == n && !memcmp(*set, v, n))
            return true;
    return false;
}

bool sc_event_platform_ok(const char *v, size_t n)
{
    return sc_event_in_n(v, n, sc_event_platforms);
}

bool sc_event_post_kind_ok(const char *v, size_t n)
{
    return sc_event_in_n(v, n, sc_event_kinds);
}

/* "v": required integer 1, or (optional_v) absent. */
static int sc_event_check_version(struct sc_event_check *chk, const json_t *event,
                                  bool optional_v)
{
    const json_t *v = json_object_get(event, "v");
    if (!v)
        return optional_v ? 0 : sc_event_fail(chk, "missing_field: v");
    if (!json_is_integer(v))
        return sc_event_fail(chk, "wrong_type: v");
    if (json_integer_value(v) != SC_EVENT_VERSION)
        return sc_event_fail(chk, "unsupported_version: %" JSON_INTEGER_FORMAT,
                             json_integer_value(v));
    return 0;
}

/* Walks every string (and key) in value against its cap: top-level "text" gets max_text,
 * everything else max_string. path is the dotted location used in the reason. */
static int sc_event_check_lengths(struct sc_event_check *chk, const json_t *value,
                                  char *path, size_t path_len, size_t path_size,
                                  int depth)
{
    if (json_is_string(value)) {
        bool is_text = strcmp(path, "text") == 0;
        size_t cap = is_text ? chk->limits.max_text : chk->limits.max_string;
        size_t n = json_string_length(value);
        if (n > cap)
            return sc_event_fail(chk, "too_long: %s (%zu bytes > %zu)", path, n, cap);
        return 0;
    }
    if (json_is_object(value)) {
        const char *key;
        json_t *member;
        json_object_foreach((json_t *)value, key, member)
        {
            size_t key_len = strlen(key);
            if (key_len > chk->limits.max_string)
                return sc_event_fail(chk, "too_long: key in %s",
                                     path_len ? path : "event");
            int n = snprintf(path + path_len, path_size - path_len, "%s%s",
                             path_len ? "." : "", key);
            size_t new_len = path_len + (size_t)n;
            if (new_len >= path_size)
                new_len = path_size - 1;
            int rc =
                sc_event_check_lengths(chk, member, path, new_len, path_size, depth + 1);
            path[path_len] = '\0';
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    if (json_is_array(value)) {
        for (size_t i = 0; i < json_array_size(value); i++) {
            int n = snprintf(path + path_len, path_size - path_len, "[%zu]", i);
            size_t new_len = path_len + (size_t)n;
            if (new_len >= path_size)
                new_len = path_size - 1;
            int rc = sc_event_check_lengths(chk, json_array_get(value, i), path, new_len,
                                            path_size, depth + 1);
            path[path_len] = '\0';
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* ----------------------------------------------------------------------------------------
 */
/* Validators per kind */
/* ----------------------------------------------------------------------------------------
 */

static int sc_event_validate_post(struct sc_event_check *chk, const json_t *event)
{
    int rc = sc_event_check_version(chk, event, true);
    if (rc)
        return rc;
    const char *id = sc_event_req_str(chk, event, "", "id");
    if (!id)
        return SC_EPARSE;
    const char *platform = sc_event_req_str(chk, event, "", "platform");
    if (!platform)
        return SC_EPARSE;
    if (!sc_event_in(platform, sc_event_platforms))
        return sc_event_fail(chk, "invalid_value: platform");
    size_t plen = strlen(platform);
    if (strncmp(id, platform, plen) != 0 || id[plen] != ':' || id[plen + 1] == '\0')
        return sc_event_fail(chk, "invalid_value: id (must be platform:post_id)");
    const char *kind = sc_event_req_str(chk, event, "", "kind");
    if (!kind)
        return SC_EPARSE;
    if (!sc_event_in(kind, sc_event_kinds))
        return sc_event_fail(chk, "invalid_value: kind");
    const char *created_at = sc_event_req_str(chk, event, "", "created_at");
    if (!created_at)
        return SC_EPARSE;
    if (!sc_event_rfc3339(created_at))
        return sc_event_fail(chk, "invalid_value: created_at (not RFC 3339)");
    if (!sc_event_req_str(chk, event, "", "text"))
        return SC_EPARSE;
    const json_t *author = json_object_get(event, "author");
    if (!author)
        return sc_event_fail(chk, "missing_field: author");
    if (!json_is_object(author))
        return sc_event_fail(chk, "wrong_type: author");
    if (!sc_event_req_str(chk, author, "author.", "id"))
        return SC_EPARSE;

    static const char *const opt_strings[] = {"received_at", "lang",      "url",
                                              "in_reply_to", "thread_id", NULL};
    for (const char *const *k = opt_strings; *k; k++)
        if ((rc = sc_event_opt(chk, event, "", *k, JSON_STRING, false)))
            return rc;
    const char *received_at = sc_event_str(event, "received_at");
    if (received_at && !sc_event_rfc3339(received_at))
        return sc_event_fail(chk, "invalid_value: received_at (not RFC 3339)");
    static const char *const author_strings[] = {"handle", "name", "location", NULL};
    for (const char *const *k = author_strings; *k; k++)
        if ((rc = sc_event_opt(chk, author, "author.", *k, JSON_STRING, false)))
            return rc;
    if ((rc = sc_event_opt_count(chk, author, "author.", "followers")))
        return rc;
    if ((rc = sc_event_opt(chk, author, "author.", "verified", JSON_TRUE, false)))
        return rc;

    const json_t *engagement = json_object_get(event, "engagement");
    if (engagement) {
        if (!json_is_object(engagement))
            return sc_event_fail(chk, "wrong_type: engagement");
        const char *key;
        json_t *member;
        json_object_foreach((json_t *)engagement, key, member)
        {
            (void)member;
            if ((rc = sc_event_opt_count(chk, engagement, "engagement.", key)))
                return rc;
        }
    }
    static const char *const opt_objects[] = {"source", "classification", "routing",
                                              NULL};
    for (const char *const *k = opt_objects; *k; k++)
        if ((rc = sc_event_opt(chk, event, "", *k, JSON_OBJECT, false)))
            return rc;
    return 0;
}

static int sc_event_validate_reply(struct sc_event_check *chk, const json_t *event)
{
    int rc = sc_event_check_version(chk, event, false);
    if (rc)
        return rc;
    static const char *const required[] = {"reply_id", "case_id", "customer", "platform",
                                           "channel",  "text",    "origin",   NULL};
    for (const char *const *k = required; *k; k++)
        if (!sc_event_req_str(chk, event, "", *k))
            return SC_EPARSE;
    if (!sc_event_in(sc_event_str(event, "platform"), sc_event_platforms))
        return sc_event_fail(chk, "invalid_value: platform");
    if (!sc_event_in(sc_event_str(event, "channel"), sc_event_channels))
        return sc_event_fail(chk, "invalid_value: channel");
    if ((rc = sc_event_opt(chk, event, "", "in_reply_to", JSON_STRING, false)))
        return rc;
    return sc_event_opt(chk, event, "", "requires_review", JSON_TRUE, false);
}

static int sc_event_validate_delivery(struct sc_event_check *chk, const json_t *event)
{
    int rc = sc_event_check_version(chk, event, false);
    if (rc)
        return rc;
    if (!sc_event_req_str(chk, event, "", "reply_id"))
        return SC_EPARSE;
    const char *status = sc_event_req_str(chk, event, "", "status");
    if (!status)
        return SC_EPARSE;
    if (!sc_event_in(status, sc_event_statuses))
        return sc_event_fail(chk, "invalid_value: status");
    if ((rc = sc_event_opt(chk, event, "", "platform_post_id", JSON_STRING, true)))
        return rc;
    if ((rc = sc_event_opt_count(chk, event, "", "attempts")))
        return rc;
    return sc_event_opt(chk, event, "", "error", JSON_STRING, true);
}

static int sc_event_validate_with(struct sc_event_check *chk, const json_t *event,
                                  enum sc_event_kind kind)
{
    if (!json_is_object(event))
        return sc_event_fail(chk, "not_object: top level is not an object");
    int rc;
    switch (kind) {
        case SC_EVENT_POST:
            rc = sc_event_validate_post(chk, event);
            break;
        case SC_EVENT_REPLY:
            rc = sc_event_validate_reply(chk, event);
            break;
        case SC_EVENT_DELIVERY:
            rc = sc_event_validate_delivery(chk, event);
            break;
        default:
            return sc_event_fail(chk, "invalid_kind: %d", (int)kind);
    }
    if (rc)
        return rc;
    char path[128] = "";
    return sc_event_check_lengths(chk, event, path, 0, sizeof(path), 0);
}

/* ----------------------------------------------------------------------------------------
 */
/* Public API */
/* ----------------------------------------------------------------------------------------
 */

int sc_event_validate(const json_t *event, enum sc_event_kind kind,
                      const struct sc_event_limits *limits, char *reason,
                      size_t reason_size)
{
    struct sc_event_check chk = {.reason = reason, .reason_size = reason_size};
    sc_event_limits_resolve(limits, &chk.limits);
    return sc_event_validate_with(&chk, event, kind);
}

json_t *sc_event_parse(const char *buf, size_t len, enum sc_event_kind kind,
                       const struct sc_event_limits *limits, char *reason,
                       size_t reason_size)
{
    struct sc_event_check chk = {.reason = reason, .reason_size = reason_size};
    sc_event_limits_resolve(limits, &chk.limits);
    if (len > chk.limits.max_bytes) {
        sc_event_fail(&chk, "too_large: %zu bytes > %zu", len, chk.limits.max_bytes);
        return NULL;
    }
    size_t bad = sc_utf8_check((const unsigned char *)buf, len);
    if (bad != len) {
        sc_event_fail(&chk, "invalid_utf8: %s at byte %zu",
                      buf[bad] == '\0' ? "NUL" : "bad sequence", bad);
        return NULL;
    }
    if (!sc_event_depth_ok(buf, len, chk.limits.max_depth)) {
        sc_event_fail(&chk, "too_deep: nesting > %d", chk.limits.max_depth);
        return NULL;
    }
    json_error_t error;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);
    if (!root) {
        sc_event_fail(&chk, "invalid_json: %s at line %d column %d", error.text,
                      error.line, error.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        sc_event_fail(&chk, "not_object: top level is not an object");
        return NULL;
    }
    if (kind == SC_EVENT_POST && !json_object_get(root, "v")) {
        /* Put the defaulted "v" first, as producers write it. */
        json_t *event = json_object();
        json_object_set_new(event, "v", json_integer(SC_EVENT_VERSION));
        json_object_update(event, root);
        json_decref(root);
        root = event;
    }
    if (sc_event_validate_with(&chk, root, kind) != 0) {
        json_decref(root);
        return NULL;
    }
    return root;
}

int sc_event_customer_key(const json_t *post, char *buf, size_t size)
{
    const char *platform = sc_event_str(post, "platform");
    const char *author_id = sc_event_path(post, "author", "id");
    if (!platform || !author_id || !*platform || !*author_id || !buf || size == 0)
        return SC_EINVAL;
    int n = snprintf(buf, size, "%s:%s", platform, author_id);
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return SC_EINVAL;
    }
    return n;
}

const char *sc_event_str(const json_t *event, const char *key)
{
    return json_string_value(json_object_get(event, key));
}

const char *sc_event_path(const json_t *event, const char *key1, const char *key2)
{
    return json_string_value(json_object_get(json_object_get(event, key1), key2));
}

char *sc_event_dump(const json_t *event, size_t *len)
{
    char *out = json_dumps(event, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (len)
        *len = out ? strlen(out) : 0;
    return out;
}
