/* Unit tests for shared/event: the byte-level limits (size, UTF-8, NUL, depth), strict
 * JSON (duplicate keys, \u0000, trailing data), the validators of posts, replies and
 * delivery reports, the reason classes, the customer key and compact, order-preserving
 * serialisation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "event.h"

static const char valid_post[] =
    "{\"v\":1,\"id\":\"x:1460000000000000000\",\"platform\":\"x\",\"kind\":\"mention\","
    "\"created_at\":\"2026-11-22T07:33:29Z\",\"received_at\":\"2026-11-22T07:33:30."
    "120Z\","
    "\"author\":{\"id\":\"12345\",\"handle\":\"jane\",\"name\":\"Jane\",\"followers\":"
    "48200,"
    "\"verified\":false,\"location\":\"Boston, MA\"},\"text\":\"my order never "
    "arrived "
    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"lang\":\"en\",\"url\":\"https://x.com/s/"
    "1\","
    "\"in_reply_to\":\"x:1459999999999999999\",\"thread_id\":\"x:1459999999999999990\","
    "\"engagement\":{\"likes\":3,\"reposts\":1,\"replies\":0},"
    "\"source\":{\"type\":\"webhook\",\"name\":\"x-account-activity\"},"
    "\"classification\":{\"sentiment\":{\"label\":\"negative\",\"score\":-0.75},"
    "\"intent\":\"complaint\",\"pii\":[\"order_number\"]},"
    "\"routing\":{\"case_id\":\"c-1\",\"reasons\":[\"influencer\",\"negative\"]}}";

static const char minimal_post[] =
    "{\"id\":\"mastodon:1\",\"platform\":\"mastodon\",\"kind\":\"reply\","
    "\"created_at\":\"2026-11-22T07:33:29+01:00\",\"author\":{\"id\":\"a\"},\"text\":"
    "\"hi\"}";

static const char valid_reply[] =
    "{\"v\":1,\"reply_id\":\"r-1\",\"case_id\":\"c-1\",\"customer\":\"x:12345\","
    "\"platform\":\"x\",\"channel\":\"dm\",\"in_reply_to\":\"x:1\",\"text\":\"Sorry!\","
    "\"origin\":\"agent:42\",\"requires_review\":true}";

static const char valid_delivery[] =
    "{\"v\":1,\"reply_id\":\"r-1\",\"status\":\"sent\","
    "\"platform_post_id\":null,\"attempts\":2,\"error\":null}";

/* Parses text (NUL-terminated) and expects a rejection whose reason starts with prefix.
 */
static void expect_reject_n(const char *buf, size_t len, enum sc_event_kind kind,
                            const struct sc_event_limits *limits, const char *prefix)
{
    char reason[256] = "";
    json_t *ev = sc_event_parse(buf, len, kind, limits, reason, sizeof(reason));
    if (ev) {
        json_decref(ev);
        fail_msg("accepted, expected \"%s\"", prefix);
    }
    if (strncmp(reason, prefix, strlen(prefix)) != 0)
        fail_msg("reason \"%s\", expected prefix \"%s\"", reason, prefix);
    /* The class before ':' is a short word usable as a metric label. */
    const char *colon = strchr(reason, ':');
    assert_non_null(colon);
    for (const char *p = reason; p < colon; p++)
        assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
}

static void expect_reject(const char *text, enum sc_event_kind kind, const char *prefix)
{
    expect_reject_n(text, strlen(text), kind, NULL, prefix);
}

static json_t *expect_accept(const char *text, enum sc_event_kind kind)
{
    char reason[256] = "";
    json_t *ev = sc_event_parse(text, strlen(text), kind, NULL, reason, sizeof(reason));
    if (!ev)
        fail_msg("rejected: %s", reason);
    return ev;
}

/* Takes a valid document, applies a change to it and returns the compact text (new). */
static char *mutate(const char *base, void (*change)(json_t *root, const void *arg),
                    const void *arg)
{
    json_error_t error;
    json_t *root = json_loads(base, 0, &error);
    assert_non_null(root);
    change(root, arg);
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    assert_non_null(out);
    return out;
}

/* arg: "key" or "obj.key" to delete. */
static void del_path(json_t *root, const void *arg)
{
    const char *path = arg;
    const char *dot = strchr(path, '.');
    if (dot) {
        char obj[64];
        snprintf(obj, sizeof(obj), "%.*s", (int)(dot - path), path);
        json_object_del(json_object_get(root, obj), dot + 1);
    } else {
        json_object_del(root, path);
    }
}

struct set_arg {
    const char *path;
    const char *json; /* the new value */
};

static void set_path(json_t *root, const void *arg)
{
    const struct set_arg *set = arg;
    json_error_t error;
    json_t *value = json_loads(set->json, JSON_DECODE_ANY, &error);
    assert_non_null(value);
    const char *dot = strchr(set->path, '.');
    if (dot) {
        char obj[64];
        snprintf(obj, sizeof(obj), "%.*s", (int)(dot - set->path), set->path);
        json_object_set_new(json_object_get(root, obj), dot + 1, value);
    } else {
        json_object_set_new(root, set->path, value);
    }
}

static void expect_set_reject(const char *base, enum sc_event_kind kind, const char *path,
                              const char *json_value, const char *prefix)
{
    struct set_arg arg = {path, json_value};
    char *text = mutate(base, set_path, &arg);
    expect_reject(text, kind, prefix);
    free(text);
}

static void expect_set_accept(const char *base, enum sc_event_kind kind, const char *path,
                              const char *json_value)
{
    struct set_arg arg = {path, json_value};
    char *text = mutate(base, set_path, &arg);
    json_decref(expect_accept(text, kind));
    free(text);
}

/* ----------------------------------------------------------------------------------------
 */
/* Posts */
/* ----------------------------------------------------------------------------------------
 */

static void test_post_round_trip(void **state)
{
    (void)state;
    json_t *ev = expect_accept(valid_post, SC_EVENT_POST);
    size_t len = 0;
    char *out = sc_event_dump(ev, &len);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    /* Compact and in the original key order: byte-identical to the compact input. */
    assert_string_equal(out, valid_post);
    assert_string_equal(sc_event_str(ev, "id"), "x:1460000000000000000");
    assert_string_equal(sc_event_path(ev, "classification", "intent"), "complaint");
    assert_null(sc_event_path(ev, "classification", "nope"));
    assert_null(sc_event_path(ev, "author", "followers")); /* not a string */
    assert_null(sc_event_str(ev, "author"));
    char reason[128];
    assert_int_equal(sc_event_validate(ev, SC_EVENT_POST, NULL, reason, sizeof(reason)),
                     0);

    /* The dump parses back to an equal, still valid event. */
    json_t *again = sc_event_parse(out, len, SC_EVENT_POST, NULL, reason, sizeof(reason));
    assert_non_null(again);
    assert_true(json_equal(ev, again));
    json_decref(again);
    free(out);
    json_decref(ev);
}

static void test_post_defaults_version(void **state)
{
    (void)state;
    json_t *ev = expect_accept(minimal_post, SC_EVENT_POST);
    json_t *v = json_object_get(ev, "v");
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), 1);
    char *out = sc_event_dump(ev, NULL);
    assert_non_null(out);
    assert_true(strncmp(out, "{\"v\":1,\"id\":", 12) == 0); /* "v" first, rest in order */
    free(out);
    json_decref(ev);
}

static void test_post_missing_fields(void **state)
{
    (void)state;
    static const char *const required[] = {"id",   "platform", "kind",     "created_at",
                                           "text", "author",   "author.id"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        char *text = mutate(valid_post, del_path, required[i]);
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "missing_field: %s", required[i]);
        expect_reject(text, SC_EVENT_POST, prefix);
        free(text);
    }
    /* received_at and the other optional fields may be absent. */
    static const char *const optional[] = {"received_at",
                                           "lang",
                                           "url",
                                           "in_reply_to",
                                           "thread_id",
                                           "engagement",
                                           "source",
                                           "classification",
                                           "routing",
                                           "author.handle",
                                           "author.followers"};
    for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
        char *text = mutate(valid_post, del_path, optional[i]);
        json_decref(expect_accept(text, SC_EVENT_POST));
        free(text);
    }
}

static void test_post_wrong_types(void **state)
{
    (void)state;
    static const struct {
        const char *path, *value;
    } cases[] = {
        {"id", "17"},
        {"platform", "null"},
        {"kind", "[]"},
        {"created_at", "1700000000"},
        {"text", "{}"},
        {"author", "\"12345\""},
        {"author.id", "12345"},
        {"received_at", "1"},
        {"lang", "true"},
        {"url", "{}"},
        {"in_reply_to", "1"},
        {"thread_id", "null"},
        {"author.handle", "1"},
        {"author.name", "[]"},
        {"author.location", "false"},
        {"author.followers", "\"48200\""},
        {"author.followers", "482.5"},
        {"author.verified", "\"yes\""},
        {"author.verified", "1"},
        {"engagement", "[1]"},
        {"engagement.likes", "\"3\""},
        {"source", "\"webhook\""},
        {"classification", "[]"},
        {"routing", "\"P1\""},
        {"v", "\"1\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "wrong_type: %s", cases[i].path);
        expect_set_reject(valid_post, SC_EVENT_POST, cases[i].path, cases[i].value,
                          prefix);
    }
    expect_set_reject(valid_post, SC_EVENT_POST, "author.followers", "-1",
                      "invalid_value: author.followers");
    expect_set_reject(valid_post, SC_EVENT_POST, "engagement.likes", "-3",
                      "invalid_value: engagement.likes");
    expect_set_accept(valid_post, SC_EVENT_POST, "author.verified", "true");
}

static void test_post_values(void **state)
{
    (void)state;
    expect_set_reject(valid_post, SC_EVENT_POST, "v", "2", "unsupported_version: 2");
    expect_set_reject(valid_post, SC_EVENT_POST, "v", "0", "unsupported_version: 0");
    expect_set_reject(valid_post, SC_EVENT_POST, "platform", "\"myspace\"",
                      "invalid_value: platform");
    expect_set_reject(valid_post, SC_EVENT_POST, "kind", "\"shout\"",
                      "invalid_value: kind");
    /* The id must be "<platform>:<post id>" for the same platform. */
    expect_set_reject(valid_post, SC_EVENT_POST, "id", "\"mastodon:146\"",
                      "invalid_value: id");
    expect_set_reject(valid_post, SC_EVENT_POST, "id", "\"1460000000\"",
                      "invalid_value: id");
    expect_set_reject(valid_post, SC_EVENT_POST, "id", "\"x:\"", "invalid_value: id");
    expect_set_reject(valid_post, SC_EVENT_POST, "id", "\"xx:1\"", "invalid_value: id");
    static const char *const bad_times[] = {
        "\"yesterday\"",
        "\"2026-11-22\"",
        "\"2026-11-22 07:33:29Z\"",
        "\"2026-13-22T07:33:29Z\"",
        "\"2026-11-22T07:33:29\"",
        "\"2026-11-22T07:33:29.Z\"",
        "\"2026-11-22T07:33:29+0100\"",
    };
    for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++)
        expect_set_reject(valid_post, SC_EVENT_POST, "created_at", bad_times[i],
                          "invalid_value: created_at");
    expect_set_reject(valid_post, SC_EVENT_POST, "received_at", "\"now\"",
                      "invalid_value: received_at");
    expect_set_accept(valid_post, SC_EVENT_POST, "created_at",
                      "\"2026-11-22T07:33:29.5-05:00\"");
    static const char *const platforms[] = {"x",        "mastodon",  "bluesky",
                                            "facebook", "instagram", "generic"};
    for (size_t i = 0; i < sizeof(platforms) / sizeof(platforms[0]); i++) {
        char doc[512];
        snprintf(doc, sizeof(doc),
                 "{\"id\":\"%s:9\",\"platform\":\"%s\",\"kind\":\"review\","
                 "\"created_at\":\"2026-01-01T00:00:00Z\",\"author\":{\"id\":\"1\"},"
                 "\"text\":\"\"}",
                 platforms[i], platforms[i]);
        json_decref(expect_accept(doc, SC_EVENT_POST));
    }
}

/* A minimal post whose text is the format argument. */
#define TEXT_POST_FMT                                                                    \
    "{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"dm\","                                \
    "\"created_at\":\"2026-01-01T00:00:00Z\",\"author\":{\"id\":\"1\"},\"text\":\"%s\"}"

static void test_string_caps(void **state)
{
    (void)state;
    struct sc_event_limits limits = sc_event_default_limits;
    limits.max_text = 16;
    limits.max_string = 32;
    char reason[256];

    /* text at its cap passes, one byte over fails. */
    char doc[512];
    snprintf(doc, sizeof(doc), TEXT_POST_FMT, "0123456789abcdef");
    json_t *ev =
        sc_event_parse(doc, strlen(doc), SC_EVENT_POST, &limits, reason, sizeof(reason));
    if (!ev)
        fail_msg("rejected: %s", reason);
    json_decref(ev);
    snprintf(doc, sizeof(doc), TEXT_POST_FMT, "0123456789abcdefX");
    expect_reject_n(doc, strlen(doc), SC_EVENT_POST, &limits, "too_long: text");

    /* Any other string, nested too, is held to max_string. */
    limits.max_string = 20;
    snprintf(doc, sizeof(doc),
             "{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"dm\","
             "\"created_at\":\"2026-01-01T00:00:00Z\",\"author\":{\"id\":\"1\","
             "\"name\":\"%s\"},\"text\":\"t\"}",
             "a-name-that-is-too-long");
    expect_reject_n(doc, strlen(doc), SC_EVENT_POST, &limits, "too_long: author.name");
    snprintf(doc, sizeof(doc),
             "{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"dm\","
             "\"created_at\":\"2026-01-01T00:00:00Z\",\"author\":{\"id\":\"1\"},"
             "\"text\":\"t\",\"routing\":{\"reasons\":[\"ok\",\"%s\"]}}",
             "a-reason-that-is-too-long");
    expect_reject_n(doc, strlen(doc), SC_EVENT_POST, &limits,
                    "too_long: routing.reasons[1]");
    /* The default text cap is 8192 bytes. */
    char *big = malloc(9000);
    assert_non_null(big);
    memset(big, 'a', 8193);
    big[8193] = '\0';
    char *text = malloc(9500);
    assert_non_null(text);
    snprintf(text, 9500, TEXT_POST_FMT, big);
    expect_reject(text, SC_EVENT_POST, "too_long: text");
    big[8192] = '\0';
    snprintf(text, 9500, TEXT_POST_FMT, big);
    json_decref(expect_accept(text, SC_EVENT_POST));
    free(text);
    free(big);
}

/* ----------------------------------------------------------------------------------------
 */
/* Byte-level limits and strict JSON */
/* ----------------------------------------------------------------------------------------
 */

static void test_too_large(void **state)
{
    (void)state;
    size_t len = strlen(valid_post);
    struct sc_event_limits limits = sc_event_default_limits;
    limits.max_bytes = len;
    char reason[128];
    json_t *ev =
        sc_event_parse(valid_post, len, SC_EVENT_POST, &limits, reason, sizeof(reason));
    assert_non_null(ev); /* exactly at the cap */
    json_decref(ev);
    limits.max_bytes = len - 1;
    char expected[64];
    snprintf(expected, sizeof(expected), "too_large: %zu bytes > %zu", len, len - 1);
    expect_reject_n(valid_post, len, SC_EVENT_POST, &limits, expected);

    /* Default cap: 65536 bytes; whitespace padding keeps the JSON valid. */
    char *buf = malloc(65537);
    assert_non_null(buf);
    memset(buf, ' ', 65537);
    memcpy(buf, minimal_post, strlen(minimal_post));
    ev = sc_event_parse(buf, 65536, SC_EVENT_POST, NULL, reason, sizeof(reason));
    assert_non_null(ev);
    json_decref(ev);
    expect_reject_n(buf, 65537, SC_EVENT_POST, NULL, "too_large: 65537 bytes > 65536");
    free(buf);
}

static void test_too_deep(void **state)
{
    (void)state;
    /* Depth 8 (the top-level object counts as 1) is allowed, 9 is not. */
    char doc[512];
    snprintf(doc, sizeof(doc),
             "{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"dm\","
             "\"created_at\":\"2026-01-01T00:00:00Z\",\"author\":{\"id\":\"1\"},\"text\":"
             "\"t\","
             "\"source\":{\"a\":[[[[[[1]]]]]]}}");
    json_decref(expect_accept(doc, SC_EVENT_POST));
    snprintf(doc, sizeof(doc),
             "{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"dm\","
             "\"created_at\":\"2026-01-01T00:00:00Z\",\"author\":{\"id\":\"1\"},\"text\":"
             "\"t\","
             "\"source\":{\"a\":[[[[[[[1]]]]]]]}}");
    expect_reject(doc, SC_EVENT_POST, "too_deep");
    /* Brackets inside strings (with escaped quotes) do not count. */
    snprintf(doc, sizeof(doc),
             "{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"dm\","
             "\"created_at\":\"2026-01-01T00:00:00Z\",\"author\":{\"id\":\"1\"},"
             "\"text\":\"\\\"[[[[[[[[[[{{{{{{{{{{\"}");
    json_decref(expect_accept(doc, SC_EVENT_POST));
    /* Far too deep never reaches the parser. */
    char *deep = malloc(20001);
    assert_non_null(deep);
    memset(deep, '[', 20000);
    deep[20000] = '\0';
    expect_reject(deep, SC_EVENT_POST, "too_deep");
    free(deep);
}

static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
        int valid;
    } cases[] = {
        {"plain ascii", 11, 1},
        {"\xc3\xa9", 2, 1},                 /* U+00E9 */
        {"\xe2\x82\xac", 3, 1},             /* U+20AC */
        {"\xf0\x9f\x98\x80", 4, 1},         /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, 1},         /* U+10FFFF, the last code point */
        {"\xed\x9f\xbf", 3, 1},             /* U+D7FF, just below the surrogates */
        {"\xee\x80\x80", 3, 1},             /* U+E000, just above */
        {"\xc0\xaf", 2, 0},                 /* overlong '/' */
        {"\xe0\x80\xaf", 3, 0},             /* overlong '/' in 3 bytes */
        {"\xf0\x80\x80\xaf", 4, 0},         /* overlong '/' in 4 bytes */
        {"\xc1\xbf", 2, 0},                 /* overlong U+007F */
        {"\xed\xa0\x80", 3, 0},             /* U+D800, a surrogate */
        {"\xed\xbf\xbf", 3, 0},             /* U+DFFF */
        {"\xe2\x82", 2, 0},                 /* truncated */
        {"\xf0\x9f\x98", 3, 0},             /* truncated 4-byte */
        {"\xf8\x88\x80\x80\x80", 5, 0},     /* 5-byte form */
        {"\xfc\x84\x80\x80\x80\x80", 6, 0}, /* 6-byte form */
        {"\xf4\x90\x80\x80", 4, 0},         /* U+110000 */
        {"\xff", 1, 0},
        {"\x80", 1, 0},     /* lone continuation */
        {"\xc3\x28", 2, 0}, /* bad continuation */
        {"a\0b", 3, 0},     /* NUL byte */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (sc_utf8_valid(cases[i].bytes, cases[i].len) != cases[i].valid)
            fail_msg("case %zu: expected %d", i, cases[i].valid);

    /* The same sequences inside an otherwise valid post are rejected before parsing. */
    static const char *const bad_in_text[] = {"\xc0\xaf", "\xed\xa0\x80", "\xe2\x82",
                                              "\xf8\x88\x80\x80\x80", "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof(bad_in_text) / sizeof(bad_in_text[0]); i++) {
        char doc[512];
        snprintf(doc, sizeof(doc),
                 "{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"dm\","
                 "\"created_at\":\"2026-01-01T00:00:00Z\",\"author\":{\"id\":\"1\"},"
                 "\"text\":\"bad %s here\"}",
                 bad_in_text[i]);
        expect_reject(doc, SC_EVENT_POST, "invalid_utf8");
    }
}

static void test_nul(void **state)
{
    (void)state;
    /* A raw NUL byte inside a string. */
    static const char raw[] =
        "{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"dm\","
        "\"created_at\":\"2026-01-01T00:00:00Z\",\"author\":{\"id\":"
        "\"1\"},\"text\":\"a\0b\"}";
    expect_reject_n(raw, sizeof(raw) - 1, SC_EVENT_POST, NULL, "invalid_utf8: NUL");
    /* The escaped form \u0000 is refused by the parser. */
    expect_reject("{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"dm\","
                  "\"created_at\":\"2026-01-01T00:00:00Z\",\"author\":{\"id\":\"1\"},"
                  "\"text\":\"a\\u0000b\"}",
                  SC_EVENT_POST, "invalid_json");
    /* Other escapes are fine. */
    json_t *ev =
        expect_accept("{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"dm\","
                      "\"created_at\":\"2026-01-01T00:00:00Z\",\"author\":{\"id\":"
                      "\"1\"},\"text\":\"a\\u00e9\\n\\ud83d\\ude00\"}",
                      SC_EVENT_POST);
    assert_string_equal(sc_event_str(ev, "text"), "a\xc3\xa9\n\xf0\x9f\x98\x80");
    json_decref(ev);
}

static void test_bad_json(void **state)
{
    (void)state;
    expect_reject("{\"id\":\"x:1\",\"id\":\"x:2\",\"platform\":\"x\",\"kind\":\"dm\","
                  "\"created_at\":\"2026-01-01T00:00:00Z\",\"author\":{\"id\":\"1\"},"
                  "\"text\":\"t\"}",
                  SC_EVENT_POST, "invalid_json: duplicate");
    expect_reject("{\"id\":\"x:1\"", SC_EVENT_POST, "invalid_json");
    expect_reject("{\"id\":\"x:1\"} trailing", SC_EVENT_POST, "invalid_json");
    expect_reject("", SC_EVENT_POST, "invalid_json");
    expect_reject("{'id':1}", SC_EVENT_POST, "invalid_json");
    char reason[256];
    assert_null(
        sc_event_parse("{\n\"a\":}", 7, SC_EVENT_POST, NULL, reason, sizeof(reason)));
    assert_non_null(strstr(reason, "line 2"));
    expect_reject("[1,2]", SC_EVENT_POST, "not_object");
    expect_reject("\"x\"", SC_EVENT_POST, "not_object");
    expect_reject("42", SC_EVENT_POST, "not_object");
    expect_reject("null", SC_EVENT_REPLY, "not_object");
    /* A NULL reason buffer is allowed. */
    assert_null(sc_event_parse("[]", 2, SC_EVENT_POST, NULL, NULL, 0));
    json_t *arr = json_array();
    assert_int_equal(sc_event_validate(arr, SC_EVENT_POST, NULL, reason, sizeof(reason)),
                     SC_EPARSE);
    assert_true(strncmp(reason, "not_object", 10) == 0);
    json_decref(arr);
}

/* ----------------------------------------------------------------------------------------
 */
/* Replies and delivery reports */
/* ----------------------------------------------------------------------------------------
 */

static void test_reply(void **state)
{
    (void)state;
    json_t *ev = expect_accept(valid_reply, SC_EVENT_REPLY);
    char *out = sc_event_dump(ev, NULL);
    assert_string_equal(out, valid_reply);
    free(out);
    json_decref(ev);

    static const char *const required[] = {"v",        "reply_id", "case_id", "customer",
                                           "platform", "channel",  "text",    "origin"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        char *text = mutate(valid_reply, del_path, required[i]);
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "missing_field: %s", required[i]);
        expect_reject(text, SC_EVENT_REPLY, prefix);
        free(text);
    }
    static const char *const optional[] = {"in_reply_to", "requires_review"};
    for (size_t i = 0; i < 2; i++) {
        char *text = mutate(valid_reply, del_path, optional[i]);
        json_decref(expect_accept(text, SC_EVENT_REPLY));
        free(text);
    }
    expect_set_reject(valid_reply, SC_EVENT_REPLY, "v", "2", "unsupported_version: 2");
    expect_set_reject(valid_reply, SC_EVENT_REPLY, "channel", "\"email\"",
                      "invalid_value: channel");
    expect_set_reject(valid_reply, SC_EVENT_REPLY, "platform", "\"fax\"",
                      "invalid_value: platform");
    expect_set_reject(valid_reply, SC_EVENT_REPLY, "text", "1", "wrong_type: text");
    expect_set_reject(valid_reply, SC_EVENT_REPLY, "in_reply_to", "7",
                      "wrong_type: in_reply_to");
    expect_set_reject(valid_reply, SC_EVENT_REPLY, "requires_review", "\"no\"",
                      "wrong_type: requires_review");
    expect_set_accept(valid_reply, SC_EVENT_REPLY, "channel", "\"public\"");
    /* A reply is not a post. */
    expect_reject(valid_reply, SC_EVENT_POST, "missing_field: id");
}

static void test_delivery(void **state)
{
    (void)state;
    json_decref(expect_accept(valid_delivery, SC_EVENT_DELIVERY));
    json_decref(expect_accept("{\"v\":1,\"reply_id\":\"r\",\"status\":\"failed\","
                              "\"error\":\"http 500\"}",
                              SC_EVENT_DELIVERY));
    static const char *const statuses[] = {"\"sent\"", "\"failed\"", "\"suppressed\"",
                                           "\"held_for_review\""};
    for (size_t i = 0; i < 4; i++)
        expect_set_accept(valid_delivery, SC_EVENT_DELIVERY, "status", statuses[i]);
    expect_set_accept(valid_delivery, SC_EVENT_DELIVERY, "platform_post_id", "\"x:99\"");
    expect_set_reject(valid_delivery, SC_EVENT_DELIVERY, "status", "\"lost\"",
                      "invalid_value: status");
    expect_set_reject(valid_delivery, SC_EVENT_DELIVERY, "platform_post_id", "99",
                      "wrong_type: platform_post_id");
    expect_set_reject(valid_delivery, SC_EVENT_DELIVERY, "attempts", "\"2\"",
                      "wrong_type: attempts");
    expect_set_reject(valid_delivery, SC_EVENT_DELIVERY, "attempts", "null",
                      "wrong_type: attempts");
    expect_set_reject(valid_delivery, SC_EVENT_DELIVERY, "error", "{}",
                      "wrong_type: error");
    expect_set_reject(valid_delivery, SC_EVENT_DELIVERY, "v", "\"1\"", "wrong_type: v");
    static const char *const required[] = {"v", "reply_id", "status"};
    for (size_t i = 0; i < 3; i++) {
        char *text = mutate(valid_delivery, del_path, required[i]);
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "missing_field: %s", required[i]);
        expect_reject(text, SC_EVENT_DELIVERY, prefix);
        free(text);
    }
}

/* ----------------------------------------------------------------------------------------
 */
/* Helpers */
/* ----------------------------------------------------------------------------------------
 */

static void test_customer_key(void **state)
{
    (void)state;
    json_t *ev = expect_accept(valid_post, SC_EVENT_POST);
    char key[64];
    assert_int_equal(sc_event_customer_key(ev, key, sizeof(key)), 7);
    assert_string_equal(key, "x:12345");
    assert_int_equal(sc_event_customer_key(ev, key, 8), 7); /* exactly fits */
    assert_int_equal(sc_event_customer_key(ev, key, 7), SC_EINVAL);
    json_object_del(json_object_get(ev, "author"), "id");
    assert_int_equal(sc_event_customer_key(ev, key, sizeof(key)), SC_EINVAL);
    json_decref(ev);
    json_t *empty = json_object();
    assert_int_equal(sc_event_customer_key(empty, key, sizeof(key)), SC_EINVAL);
    json_decref(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_round_trip),
        cmocka_unit_test(test_post_defaults_version),
        cmocka_unit_test(test_post_missing_fields),
        cmocka_unit_test(test_post_wrong_types),
        cmocka_unit_test(test_post_values),
        cmocka_unit_test(test_string_caps),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_too_deep),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_nul),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_reply),
        cmocka_unit_test(test_delivery),
        cmocka_unit_test(test_customer_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
