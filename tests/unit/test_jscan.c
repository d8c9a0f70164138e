/* Unit tests of the shared tree-less post reader (jscan.h): it reads a post, classified
 * or not, exactly as the full parser does (the fields, and whether "v" and "received_at"
 * are present), and it declines (never accepts) what sc_event_parse rejects — checked
 * differentially over valid posts and every single-byte mutation of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "event.h"
#include "jscan.h"
#include "mutations.h"

/* An inbound post as the ingestor replays it: no "v", no "received_at", no
 * classification. */
static const char *const inbound =
    "{\"id\":\"bluesky:3000000000\",\"platform\":\"bluesky\",\"kind\":\"mention\","
    "\"created_at\":\"2026-11-22T06:43:25Z\",\"author\":{\"id\":\"7025463124\","
    "\"handle\":\"grace\",\"name\":\"Grace Hale\",\"followers\":26,\"verified\":false},"
    "\"text\":\"Earn $80 a day \xc3\xa9 #travel\",\"lang\":\"en\",\"engagement\":{"
    "\"likes\":0,\"reposts\":4,\"replies\":1},\"source\":{\"type\":\"replay\","
    "\"name\":\"demo\"}}";

/* A classified post with every field the router reads. */
static const char *const classified =
    "{\"v\":1,\"id\":\"x:42\",\"platform\":\"x\",\"kind\":\"mention\","
    "\"created_at\":\"2026-11-22T07:33:29Z\",\"received_at\":\"2026-11-22T07:33:30."
    "120Z\",\"author\":{\"id\":\"b7\",\"handle\":\"jane\",\"followers\":250000,"
    "\"verified\":true,\"region\":\"eu\"},\"text\":\"I was charged twice\",\"lang\":"
    "\"en\",\"engagement\":{\"likes\":3,\"reposts\":2,\"replies\":1,\"quotes\":9},"
    "\"source\":{\"type\":\"search\"},\"classification\":{\"sentiment\":{\"label\":"
    "\"negative\",\"score\":-0.62},\"intent\":\"complaint\",\"topic\":\"billing\","
    "\"influence\":0.75,\"pii\":[]}}";

static void same_str(const char *fast, const char *slow)
{
    if (!fast || !slow)
        assert_ptr_equal(fast, slow);
    else
        assert_string_equal(fast, slow);
}

/* Runs both parsers on text: the reader may decline, but when it accepts, the full
 * parser accepts too and yields the same fields and presence flags. @returns whether the
 * reader accepted. */
static bool check(const char *text, size_t len)
{
    static char strbuf[SC_JSCAN_MAX_BYTES + 16];
    struct sc_jscan_post p;
    size_t used = 12345;
    bool ok = sc_jscan_post(text, len, strbuf, &used, &p);
    char reason[256];
    json_t *ev = sc_event_parse(text, len, SC_EVENT_POST, NULL, reason, sizeof(reason));
    if (!ok) {
        assert_int_equal(used, 0);
        json_decref(ev);
        return false;
    }
    if (!ev)
        fail_msg("reader accepted what sc_event_parse rejects (%s): %.*s", reason,
                 (int)len, text);
    assert_true(used > 0 && used <= len + 16);
    /* sc_event_parse defaults an absent "v": ask a plain parse which keys were there */
    json_t *plain = json_loadb(text, len, 0, NULL);
    assert_non_null(plain);
    assert_int_equal(p.has_v, json_object_get(plain, "v") != NULL);
    assert_int_equal(p.has_received_at, json_object_get(plain, "received_at") != NULL);
    json_decref(plain);
    same_str(p.id, sc_event_str(ev, "id"));
    same_str(p.platform, sc_event_str(ev, "platform"));
    same_str(p.kind, sc_event_str(ev, "kind"));
    same_str(p.created_at, sc_event_str(ev, "created_at"));
    same_str(p.text, sc_event_str(ev, "text"));
    same_str(p.lang, sc_event_str(ev, "lang"));
    same_str(p.author_id, sc_event_path(ev, "author", "id"));
    same_str(p.handle, sc_event_path(ev, "author", "handle"));
    same_str(p.source_type, sc_event_path(ev, "source", "type"));
    const char *region = sc_event_str(ev, "region");
    same_str(p.region, region ? region : sc_event_path(ev, "author", "region"));
    json_t *cls = json_object_get(ev, "classification");
    same_str(p.intent, json_string_value(json_object_get(cls, "intent")));
    same_str(p.topic, json_string_value(json_object_get(cls, "topic")));
    same_str(p.label, json_string_value(
                          json_object_get(json_object_get(cls, "sentiment"), "label")));
    json_t *author = json_object_get(ev, "author");
    assert_int_equal(p.followers,
                     (long long)json_integer_value(json_object_get(author, "followers")));
    assert_int_equal(p.verified, json_is_true(json_object_get(author, "verified")));
    json_decref(ev);
    return true;
}

static void test_reads_an_inbound_post(void **state)
{
    (void)state;
    static char strbuf[SC_JSCAN_MAX_BYTES + 16];
    size_t len = strlen(inbound), used;
    struct sc_jscan_post p;
    assert_true(sc_jscan_post(inbound, len, strbuf, &used, &p));
    assert_string_equal(p.id, "bluesky:3000000000");
    assert_string_equal(p.platform, "bluesky");
    assert_string_equal(p.author_id, "7025463124");
    assert_string_equal(p.text, "Earn $80 a day \xc3\xa9 #travel");
    assert_false(p.has_v);
    assert_false(p.has_received_at);
    assert_null(p.intent);
    assert_null(p.label);
    assert_int_equal(p.interactions, 5);
    assert_true(used <= len + 16);
    assert_true(check(inbound, len));
}

static void test_reads_a_classified_post(void **state)
{
    (void)state;
    static char strbuf[SC_JSCAN_MAX_BYTES + 16];
    size_t len = strlen(classified), used;
    struct sc_jscan_post p;
    assert_true(sc_jscan_post(classified, len, strbuf, &used, &p));
    assert_true(p.has_v);
    assert_true(p.has_received_at);
    assert_string_equal(p.region, "eu"); /* from author.region */
    assert_string_equal(p.intent, "complaint");
    assert_string_equal(p.topic, "billing");
    assert_string_equal(p.label, "negative");
    assert_true(p.score < -0.61 && p.score > -0.63);
    assert_true(p.influence > 0.74 && p.influence < 0.76);
    assert_int_equal(p.followers, 250000);
    assert_true(p.verified);
    assert_int_equal(p.interactions, 6); /* likes + reposts + replies */
    assert_true(check(classified, len));
}

static void test_declines_what_it_does_not_handle(void **state)
{
    (void)state;
    static const char *const declined[] = {
        /* an escape: left to the full parser (which accepts it) */
        "{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"dm\",\"created_at\":"
        "\"2026-11-22T07:33:29Z\",\"text\":\"a "
        "\\\"quote\\\"\",\"author\":{\"id\":\"a\"}}",
        /* an exponent */
        "{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"dm\",\"created_at\":"
        "\"2026-11-22T07:33:29Z\",\"text\":\"t\",\"author\":{\"id\":\"a\"},"
        "\"classification\":"
        "{\"influence\":1e-1}}",
        /* a duplicate key, a missing author, a non-object */
        "{\"id\":\"x:1\",\"id\":\"x:2\",\"platform\":\"x\",\"kind\":\"dm\",\"created_"
        "at\":"
        "\"2026-11-22T07:33:29Z\",\"text\":\"t\",\"author\":{\"id\":\"a\"}}",
        "{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"dm\",\"created_at\":"
        "\"2026-11-22T07:33:29Z\",\"text\":\"t\"}",
        "[1,2]",
        "",
    };
    for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++)
        assert_false(check(declined[i], strlen(declined[i])));
    /* over the size limit: declined without touching the buffer */
    static char big[SC_JSCAN_MAX_BYTES + 2];
    memset(big, ' ', sizeof(big));
    size_t used;
    struct sc_jscan_post p;
    assert_false(sc_jscan_post(big, sizeof(big), NULL, &used, &p));
    assert_int_equal(used, 0);
}

/* Every single-byte deletion, and replacements of each byte by characters that matter
 * to the grammar, of both posts: the reader never accepts what the full parser rejects.
 */
static void test_mutations_never_accept_bad_input(void **state)
{
    (void)state;
    const char *const bases[] = {inbound, classified};
    for (size_t b = 0; b < 2; b++) {
        size_t total;
        size_t accepted = mutations_run(bases[b], check, &total);
        /* both outcomes happen: the mutations exercise accept and decline */
        assert_true(accepted > 0);
        assert_true(accepted < total);
    }
}

/* Each replacement breaks one schema rule the full parser enforces. */
static void test_schema_rules(void **state)
{
    (void)state;
    char buf[2048];
    static const char *const swaps[][2] = {
        {"\"id\":\"bluesky:", "\"v\":2,\"id\":\"bluesky:"},
        {"\"id\":\"bluesky:", "\"v\":\"1\",\"id\":\"bluesky:"},
        {"\"id\":\"bluesky:", "\"received_at\":\"yesterday\",\"id\":\"bluesky:"},
        {"\"id\":\"bluesky:", "\"received_at\":7,\"id\":\"bluesky:"},
        {"\"platform\":\"bluesky\"", "\"platform\":\"myspace\""},
        {"\"kind\":\"mention\"", "\"kind\":\"shout\""},
        {"\"id\":\"bluesky:3000000000\"", "\"id\":\"x:3000000000\""},
        {"2026-11-22T06:43:25Z", "2026-11-22 06:43:25"},
        {"\"followers\":26", "\"followers\":-26"},
        {"\"verified\":false", "\"verified\":null"},
        {"\"reposts\":4", "\"reposts\":4.5"},
        {"\"source\":{", "\"source\":[{"},
        {"\"source\":{", "\"classification\":3,\"source\":{"},
    };
    for (size_t i = 0; i < sizeof(swaps) / sizeof(swaps[0]); i++) {
        const char *at = strstr(inbound, swaps[i][0]);
        assert_non_null(at);
        int n = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - inbound), inbound,
                         swaps[i][1], at + strlen(swaps[i][0]));
        assert_true(n > 0 && (size_t)n < sizeof(buf));
        assert_false(check(buf, (size_t)n));
    }
    /* and these keep it valid: the flags follow the keys */
    static const char *const valid[][2] = {
        {"\"id\":\"bluesky:", "\"v\":1,\"id\":\"bluesky:"},
        {"\"id\":\"bluesky:",
         "\"received_at\":\"2026-11-22T06:43:26.5Z\",\"id\":\"bluesky:"},
        {"\"source\":{", "\"classification\":{},\"source\":{"},
    };
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        const char *at = strstr(inbound, valid[i][0]);
        int n = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - inbound), inbound,
                         valid[i][1], at + strlen(valid[i][0]));
        assert_true(n > 0 && (size_t)n < sizeof(buf));
        assert_true(check(buf, (size_t)n));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_an_inbound_post),
        cmocka_unit_test(test_reads_a_classified_post),
        cmocka_unit_test(test_declines_what_it_does_not_handle),
        cmocka_unit_test(test_mutations_never_accept_bad_input),
        cmocka_unit_test(test_schema_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
