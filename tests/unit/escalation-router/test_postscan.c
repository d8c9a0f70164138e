/* Unit tests of the router's fast post scan (postscan.h): it reads the fields the router
 * needs exactly as the full parser does, and it declines (never accepts) what
 * sc_event_parse rejects — checked differentially over valid posts and many mutations
 * of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "event.h"
#include "postscan.h"

#include "../mutations.h"

static const char *const good =
    "{\"v\":1,\"id\":\"x:42\",\"platform\":\"x\",\"kind\":\"mention\","
    "\"created_at\":\"2026-11-22T07:33:29Z\",\"received_at\":\"2026-11-22T07:33:30."
    "120Z\","
    "\"author\":{\"id\":\"b7\",\"handle\":\"jane\",\"followers\":250000,\"verified\":"
    "true,"
    "\"region\":\"eu\"},\"text\":\"I was charged twice \xc3\xa9\",\"lang\":\"en\","
    "\"engagement\":{\"likes\":3,\"reposts\":2,\"replies\":1,\"quotes\":9},"
    "\"source\":{\"type\":\"search\",\"name\":\"bench\"},\"classification\":{"
    "\"sentiment\":{\"label\":\"negative\",\"score\":-0.62},\"intent\":\"complaint\","
    "\"topic\":\"billing\",\"confidence\":0.8,\"influence\":0.75,\"pii\":[],"
    "\"model\":\"m\"}}";

static void expect_same(const struct post_fields *a, const struct post_fields *b)
{
#define SAME_STR(f)                                                                      \
    do {                                                                                 \
        if (!a->f || !b->f)                                                              \
            assert_ptr_equal(a->f, b->f);                                                \
        else                                                                             \
            assert_string_equal(a->f, b->f);                                             \
    } while (0)
    SAME_STR(id);
    SAME_STR(platform);
    SAME_STR(kind);
    SAME_STR(created_at);
    SAME_STR(text);
    SAME_STR(lang);
    SAME_STR(region);
    SAME_STR(source_type);
    SAME_STR(author_id);
    SAME_STR(handle);
    SAME_STR(intent);
    SAME_STR(topic);
    SAME_STR(label);
#undef SAME_STR
    assert_true(a->score == b->score);
    assert_true(a->influence == b->influence);
    assert_int_equal(a->followers, b->followers);
    assert_int_equal(a->verified, b->verified);
    assert_int_equal(a->interactions, b->interactions);
}

/* Runs both parsers on text: the fast one may decline, but when it accepts, the full
 * parser accepts too and yields the same fields. @returns whether the fast one
 * accepted. */
static bool check(const char *text, size_t len)
{
    struct postscan_arena arena = {0};
    postscan_arena_reset(&arena, len + 16);
    struct post_fields fast;
    bool ok = router_post_scan(text, len, &arena, &fast);
    char reason[256];
    json_t *ev = sc_event_parse(text, len, SC_EVENT_POST, NULL, reason, sizeof(reason));
    if (ok) {
        if (!ev)
            fail_msg("fast scan accepted what sc_event_parse rejects (%s): %.*s", reason,
                     (int)len, text);
        struct post_fields slow;
        post_fields_from_json(ev, &slow);
        expect_same(&fast, &slow);
        assert_true(arena.used <= len + 16);
    } else {
        assert_int_equal(arena.used, 0);
    }
    json_decref(ev);
    postscan_arena_free(&arena);
    return ok;
}

static void test_reads_a_classified_post(void **state)
{
    (void)state;
    struct postscan_arena arena = {0};
    size_t len = strlen(good);
    postscan_arena_reset(&arena, len + 16);
    struct post_fields f;
    assert_true(router_post_scan(good, len, &arena, &f));
    assert_string_equal(f.id, "x:42");
    assert_string_equal(f.region, "eu"); /* from author.region */
    assert_string_equal(f.source_type, "search");
    assert_string_equal(f.intent, "complaint");
    assert_string_equal(f.label, "negative");
    assert_true(f.score < -0.61 && f.score > -0.63);
    assert_int_equal(f.followers, 250000);
    assert_true(f.verified);
    assert_int_equal(f.interactions, 6); /* likes + reposts + replies */
    postscan_arena_free(&arena);
    assert_true(check(good, len));
}

static void test_declines_what_it_does_not_handle(void **state)
{
    (void)state;
    static const char *const declined[] = {
        /* escapes, exponents, long integers: left to the full parser */
        "{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"dm\",\"created_at\":"
        "\"2026-11-22T07:33:29Z\",\"text\":\"a \\\"quote\\\"\",\"author\":{\"id\":\"a\"},"
        "\"classification\":{\"intent\":\"praise\",\"topic\":\"other\",\"sentiment\":{"
        "\"label\":\"positive\",\"score\":1e-1}}}",
        /* no classification */
        "{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"dm\",\"created_at\":"
        "\"2026-11-22T07:33:29Z\",\"text\":\"t\",\"author\":{\"id\":\"a\"}}",
        /* duplicate key */
        "{\"id\":\"x:1\",\"id\":\"x:2\",\"platform\":\"x\",\"kind\":\"dm\",\"created_"
        "at\":"
        "\"2026-11-22T07:33:29Z\",\"text\":\"t\",\"author\":{\"id\":\"a\"},"
        "\"classification\":{\"intent\":\"praise\",\"topic\":\"other\",\"sentiment\":{"
        "\"label\":\"positive\"}}}",
        "[1,2]",
        "",
    };
    for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++)
        assert_false(check(declined[i], strlen(declined[i])));
}

/* Every single-byte deletion, and replacements of each byte by characters that matter
 * to the grammar: the fast scan never accepts what the full parser rejects. */
static void test_mutations_never_accept_bad_input(void **state)
{
    (void)state;
    size_t total;
    size_t accepted = mutations_run(good, check, &total);
    /* both outcomes happen: the mutations exercise accept and decline */
    assert_true(accepted > 0);
    assert_true(accepted < total);
}

static void test_schema_rules(void **state)
{
    (void)state;
    char buf[2048];
    /* each replacement breaks one schema rule the full parser enforces */
    static const char *const swaps[][2] = {
        {"\"v\":1", "\"v\":2"},
        {"\"v\":1", "\"v\":1.0"},
        {"\"platform\":\"x\"", "\"platform\":\"myspace\""},
        {"\"kind\":\"mention\"", "\"kind\":\"shout\""},
        {"\"id\":\"x:42\"", "\"id\":\"mastodon:42\""},
        {"\"id\":\"x:42\"", "\"id\":\"x:\""},
        {"2026-11-22T07:33:29Z", "2026-13-22T07:33:29Z"},
        {"\"followers\":250000", "\"followers\":-1"},
        {"\"followers\":250000", "\"followers\":2.5"},
        {"\"verified\":true", "\"verified\":1"},
        {"\"likes\":3", "\"likes\":\"3\""},
        {"\"lang\":\"en\"", "\"lang\":null"},
        {"\"source\":{", "\"source\":[{"},
    };
    for (size_t i = 0; i < sizeof(swaps) / sizeof(swaps[0]); i++) {
        const char *at = strstr(good, swaps[i][0]);
        assert_non_null(at);
        int n = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - good), good,
                         swaps[i][1], at + strlen(swaps[i][0]));
        assert_true(n > 0 && (size_t)n < sizeof(buf));
        assert_false(check(buf, (size_t)n));
    }
    /* a text over the 8192-byte cap, and a handle over 1024 bytes */
    static char big[12000];
    const char *t = strstr(good, "I was charged");
    int n = snprintf(big, sizeof(big), "%.*s%09000d%s", (int)(t - good), good, 0, t);
    assert_false(check(big, (size_t)n));
    const char *h = strstr(good, "jane");
    n = snprintf(big, sizeof(big), "%.*s%01100d%s", (int)(h - good), good, 0, h);
    assert_false(check(big, (size_t)n));
    n = snprintf(big, sizeof(big), "%.*s%0900d%s", (int)(h - good), good, 0, h);
    assert_true(check(big, (size_t)n)); /* within the cap */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_a_classified_post),
        cmocka_unit_test(test_declines_what_it_does_not_handle),
        cmocka_unit_test(test_mutations_never_accept_bad_input),
        cmocka_unit_test(test_schema_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
