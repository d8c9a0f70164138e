/* Unit tests of the classifier's fast path: the tree-less post scan never accepts a
 * message that sc_event_parse rejects (hand-picked invalid posts, then every truncation
 * and many one-byte changes of valid ones), reads the same fields as the tree, and the
 * spliced output (original bytes + the classification written by classifier_json_write)
 * is a valid post equal to what the full path builds with jansson. Needs the shipped
 * airline model and rules (SC_SOURCE_DIR). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "alloc.h"
#include "classify.h"
#include "event.h"
#include "postscan.h"

static struct classifier *cl;
static struct classifier_scratch *scr;
static char strbuf[65536 + 16];

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("SC_SOURCE_DIR");
    char model[1024], rules[1024], err[512];
    snprintf(model, sizeof(model), "%s/models/airline.scm", src ? src : ".");
    snprintf(rules, sizeof(rules), "%s/config/classifier-rules.conf", src ? src : ".");
    cl = sc_malloc(sizeof(*cl));
    if (classifier_open(cl, model, rules, err, sizeof(err)) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        sc_free(cl);
        return -1;
    }
    scr = classifier_scratch_new(cl);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    classifier_scratch_free(scr);
    classifier_close(cl);
    sc_free(cl);
    return 0;
}

/* The fast path as main.c runs it: the scan (after the size and UTF-8 checks). */
static bool scan(const char *buf, size_t len, struct cls_post *p)
{
    return len <= sc_event_default_limits.max_bytes && sc_utf8_valid(buf, len) &&
           cls_post_scan(buf, len, strbuf, p);
}

static bool full_accepts(const char *buf, size_t len)
{
    char reason[256];
    json_t *j = sc_event_parse(buf, len, SC_EVENT_POST, NULL, reason, sizeof(reason));
    json_decref(j);
    return j != NULL;
}

static const char *const valid[] = {
    "{\"v\":1,\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"mention\",\"created_at\":"
    "\"2026-11-22T10:00:00Z\",\"author\":{\"id\":\"42\",\"handle\":\"ann\",\"followers\":"
    "1200,\"verified\":true},\"text\":\"@united my bag is lost\",\"lang\":\"en\","
    "\"engagement\":{\"likes\":3,\"reposts\":1,\"replies\":0}}",
    /* whitespace, escapes in the text and the author id, unicode escapes and a surrogate
     * pair, nested objects and arrays, reals, null, unknown members */
    " {\n  \"v\" : 1 ,\n  \"id\": \"mastodon:9\", \"platform\": \"mastodon\", \"kind\": "
    "\"reply\",\n  \"created_at\": \"2026-11-22T10:00:00.123+01:00\", \"received_at\": "
    "\"2026-11-22T09:00:01z\",\n  \"author\": {\"id\": \"a\\\"b\", \"name\": "
    "\"J\\u00f6rg\","
    " \"extra\": [1, 2.5, -0, null, {\"k\": [true, false]}]},\n  \"text\": \"he said "
    "\\\"no\\\"\\n\\tthen \\ud83d\\ude00 \\u00e9t\\u00e9 \\/ \\\\ done\",\n  \"source\": "
    "{\"type\": \"webhook\", \"ids\": [\"a\", \"b\"]}, \"routing\": {}, \"url\": "
    "\"https://x/y\", \"thread_id\": \"t1\", \"in_reply_to\": \"x:0\", \"misc\": -12.75 "
    "}\n",
    "{\"v\":1,\"id\":\"generic:abc\",\"platform\":\"generic\",\"kind\":\"review\","
    "\"created_at\":\"2026-01-31T23:59:60-23:59\",\"author\":{\"id\":\"z\"},\"text\":"
    "\"\","
    "\"engagement\":{}}",
};

static void test_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        const char *b = valid[i];
        size_t len = strlen(b);
        char reason[256];
        json_t *tree =
            sc_event_parse(b, len, SC_EVENT_POST, NULL, reason, sizeof(reason));
        if (!tree)
            fail_msg("valid[%zu] rejected by sc_event_parse: %s", i, reason);
        struct cls_post p;
        if (!scan(b, len, &p))
            fail_msg("valid[%zu] declined by the scan", i);
        const char *text = sc_event_str(tree, "text");
        assert_int_equal(p.text_len, strlen(text));
        assert_memory_equal(p.text, text, p.text_len);
        const char *aid = sc_event_path(tree, "author", "id");
        assert_int_equal(p.author_id_len, strlen(aid));
        assert_memory_equal(p.author_id, aid, p.author_id_len);
        const char *lang = sc_event_str(tree, "lang");
        assert_true((lang == NULL) == (p.lang == NULL));
        if (lang)
            assert_memory_equal(p.lang, lang, p.lang_len);
        json_t *author = json_object_get(tree, "author");
        json_t *eng = json_object_get(tree, "engagement");
        assert_int_equal(p.followers,
                         json_integer_value(json_object_get(author, "followers")));
        assert_int_equal(p.verified, json_is_true(json_object_get(author, "verified")));
        assert_int_equal(p.likes, json_integer_value(json_object_get(eng, "likes")));
        assert_int_equal(p.reposts, json_integer_value(json_object_get(eng, "reposts")));
        assert_int_equal(b[p.close], '}');
        json_decref(tree);
    }
}

/* Each is rejected by sc_event_parse; the scan must decline it too. */
#define POST(body)                                                                       \
    "{\"v\":1,\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"mention\",\"created_at\":"    \
    "\"2026-11-22T10:00:00Z\",\"author\":{\"id\":\"42\"},\"text\":\"hi\"" body "}"
static const char *const invalid[] = {
    POST(",\"text\":\"again\""),                  /* duplicate key */
    POST(",\"source\":{\"a\":1,\"a\":2}"),        /* duplicate nested key */
    POST(",\"lang\":null"),                       /* wrong type */
    POST(",\"lang\":5"),                          /* wrong type */
    POST(",\"url\":[\"a\"]"),                     /* wrong type */
    POST(",\"source\":[]"),                       /* wrong type */
    POST(",\"routing\":\"r\""),                   /* wrong type */
    POST(",\"engagement\":{\"likes\":-1}"),       /* negative count */
    POST(",\"engagement\":{\"likes\":1.5}"),      /* real count */
    POST(",\"engagement\":{\"views\":\"many\"}"), /* any member must be a count */
    POST(",\"engagement\":[]"),                   /* wrong type */
    POST(",\"received_at\":\"yesterday\""),       /* not RFC 3339 */
    POST(",\"x\":01"),                            /* leading zero */
    POST(",\"x\":1."),                            /* bad real */
    POST(",\"x\":-"),                             /* bad number */
    POST(",\"x\":tru"),                           /* bad literal */
    POST(",\"x\":\"\\u0000\""),                   /* NUL */
    POST(",\"x\":\"\\ud800\""),                   /* lone surrogate */
    POST(",\"x\":\"\\udc00\\ud800\""),            /* reversed pair */
    POST(",\"x\":\"\\q\""),                       /* bad escape */
    POST(",\"x\":\"a\tb\""),                      /* raw control character */
    POST(",\"x\":[1,]"),                          /* trailing comma */
    /* depth 9 */
    POST(",\"x\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{}}}}}}}}"),
    POST(","), /* trailing comma */
    "{\"v\":2,\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"mention\",\"created_at\":"
    "\"2026-11-22T10:00:00Z\",\"author\":{\"id\":\"42\"},\"text\":\"hi\"}",
    "{\"v\":1,\"id\":\"y:1\",\"platform\":\"x\",\"kind\":\"mention\",\"created_at\":"
    "\"2026-11-22T10:00:00Z\",\"author\":{\"id\":\"42\"},\"text\":\"hi\"}",
    "{\"v\":1,\"id\":\"x:\",\"platform\":\"x\",\"kind\":\"mention\",\"created_at\":"
    "\"2026-11-22T10:00:00Z\",\"author\":{\"id\":\"42\"},\"text\":\"hi\"}",
    "{\"v\":1,\"id\":\"q:1\",\"platform\":\"q\",\"kind\":\"mention\",\"created_at\":"
    "\"2026-11-22T10:00:00Z\",\"author\":{\"id\":\"42\"},\"text\":\"hi\"}",
    "{\"v\":1,\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"shout\",\"created_at\":"
    "\"2026-11-22T10:00:00Z\",\"author\":{\"id\":\"42\"},\"text\":\"hi\"}",
    "{\"v\":1,\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"mention\",\"created_at\":"
    "\"2026-13-22T10:00:00Z\",\"author\":{\"id\":\"42\"},\"text\":\"hi\"}",
    "{\"v\":1,\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"mention\",\"created_at\":"
    "\"2026-11-22T10:00:00Z\",\"author\":{\"handle\":\"42\"},\"text\":\"hi\"}",
    "{\"v\":1,\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"mention\",\"created_at\":"
    "\"2026-11-22T10:00:00Z\",\"author\":{\"id\":42},\"text\":\"hi\"}",
    "{\"v\":1,\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"mention\",\"created_at\":"
    "\"2026-11-22T10:00:00Z\",\"author\":{\"id\":\"42\",\"verified\":1},\"text\":\"hi\"}",
    "{\"v\":1,\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"mention\",\"created_at\":"
    "\"2026-11-22T10:00:00Z\",\"author\":{\"id\":\"42\",\"followers\":-3},\"text\":"
    "\"hi\"}",
    "{\"v\":1,\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"mention\",\"created_at\":"
    "\"2026-11-22T10:00:00Z\",\"author\":{\"id\":\"42\"}}",
    "{\"v\":1,\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"mention\",\"created_at\":"
    "\"2026-11-22T10:00:00Z\",\"author\":{\"id\":\"42\"},\"text\":\"hi\"} x",
    "[1]",
    "",
};

static void test_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        const char *b = invalid[i];
        size_t len = strlen(b);
        if (full_accepts(b, len))
            fail_msg("invalid[%zu] is accepted by sc_event_parse: fix the test", i);
        struct cls_post p;
        if (scan(b, len, &p))
            fail_msg("invalid[%zu] accepted by the scan: %s", i, b);
    }
    /* valid posts the scan leaves to the full path */
    static const char *const declined[] = {
        POST(",\"classification\":{\"intent\":\"other\"}"), /* replaced, not doubled */
        POST(",\"x\":1e3"),                                 /* exponent */
        POST(",\"x\":1234567890123456789"),                 /* long integer */
        POST(",\"k\\u0041\":1"),                            /* escaped key */
        "{\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"mention\",\"created_at\":"
        "\"2026-11-22T10:00:00Z\",\"author\":{\"id\":\"42\"},\"text\":\"hi\"}", /* no v */
    };
    for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++) {
        struct cls_post p;
        assert_true(full_accepts(declined[i], strlen(declined[i])));
        if (scan(declined[i], strlen(declined[i]), &p))
            fail_msg("declined[%zu] accepted by the scan", i);
    }
    /* caps: text 8192 bytes, any other string or key 1024, in decoded bytes */
    char *big = sc_malloc(20000);
    const char *head =
        "{\"v\":1,\"id\":\"x:1\",\"platform\":\"x\",\"kind\":\"mention\","
        "\"created_at\":\"2026-11-22T10:00:00Z\",\"author\":{\"id\":\"42\"}";
    for (int variant = 0; variant < 6; variant++) {
        size_t n = (size_t)snprintf(big, 20000, "%s,\"%s\":\"", head,
                                    variant < 2   ? "text"
                                    : variant < 4 ? "url"
                                                  : "k");
        size_t fill = variant == 0   ? 8192
                      : variant == 1 ? 8193
                      : variant == 2 ? 1024
                      : variant == 3 ? 1025
                                     : 10;
        for (size_t k = 0; k < fill; k++)
            big[n++] = 'a';
        n += (size_t)snprintf(big + n, 20000 - n, "\"%s}",
                              variant < 2 ? "" : ",\"text\":\"t\"");
        if (variant >= 4) { /* a key of 1024 / 1025 bytes */
            n = (size_t)snprintf(big, 20000, "%s,\"text\":\"t\",\"", head);
            for (size_t k = 0; k < (variant == 4 ? 1024u : 1025u); k++)
                big[n++] = 'k';
            n += (size_t)snprintf(big + n, 20000 - n, "\":1}");
        }
        struct cls_post p;
        bool full = full_accepts(big, n), fast = scan(big, n, &p);
        assert_true(full == (variant % 2 == 0));
        assert_true(fast == full);
    }
    sc_free(big);
}

/* Every truncation and many one-byte changes of the valid posts: whatever the scan
 * accepts, the full parser accepts too. */
static void test_mutations(void **state)
{
    (void)state;
    static const char subst[] = {'"', '\\', '{', '}', '[', ']', ',',  ':', '0',
                                 '-', 'e',  '.', ' ', 'u', 'x', '\n', 1,   (char)0xc3};
    size_t checked = 0, accepted = 0;
    char *buf = sc_malloc(4096);
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        const char *b = valid[i];
        size_t len = strlen(b);
        struct cls_post p;
        for (size_t cut = 0; cut < len; cut++) {
            bool fast = scan(b, cut, &p);
            if (fast && !full_accepts(b, cut))
                fail_msg("truncation of valid[%zu] at %zu accepted by the scan only", i,
                         cut);
            checked++;
        }
        for (size_t pos = 0; pos < len; pos++)
            for (size_t k = 0; k < sizeof(subst); k++) {
                memcpy(buf, b, len);
                buf[pos] = subst[k];
                bool fast = scan(buf, len, &p);
                if (fast && !full_accepts(buf, len))
                    fail_msg("valid[%zu] with byte %zu = 0x%02x accepted by the scan "
                             "only",
                             i, pos, (unsigned char)subst[k]);
                accepted += fast;
                checked++;
            }
    }
    sc_free(buf);
    assert_true(checked > 10000);
    assert_true(accepted > 0); /* harmless changes (e.g. in the text) still pass */
}

/* The fast path's output equals the full path's: same post, same classification. */
static void test_splice(void **state)
{
    (void)state;
    char *out = sc_malloc(70000), js[4096];
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        const char *b = valid[i];
        size_t len = strlen(b);
        struct cls_post p;
        assert_true(scan(b, len, &p));
        char lang[64] = "";
        if (p.lang)
            memcpy(lang, p.lang, p.lang_len);
        struct classifier_author who = {.followers = p.followers,
                                        .verified = p.verified,
                                        .likes = p.likes,
                                        .reposts = p.reposts,
                                        .replies = p.replies,
                                        .lang = p.lang ? lang : NULL};
        struct classification c;
        assert_int_equal(classifier_classify(cl, scr, p.text, p.text_len, &who, &c), 0);
        size_t jl = classifier_json_write(cl, &c, js, sizeof(js));
        assert_true(jl < sizeof(js));
        size_t n = cls_post_splice(b, &p, js, jl, out, 70000);
        assert_true(n > len);
        char reason[256];
        json_t *fast =
            sc_event_parse(out, n, SC_EVENT_POST, NULL, reason, sizeof(reason));
        if (!fast)
            fail_msg("spliced valid[%zu] rejected: %s", i, reason);
        json_t *full =
            sc_event_parse(b, len, SC_EVENT_POST, NULL, reason, sizeof(reason));
        assert_non_null(full);
        json_object_set_new(full, "classification", classifier_to_json(cl, &c));
        assert_true(json_equal(fast, full));
        json_decref(fast);
        json_decref(full);
        /* too small an output buffer: 0, nothing promised */
        assert_int_equal(cls_post_splice(b, &p, js, jl, out, len), 0);
    }
    sc_free(out);
}

/* classifier_json_write escapes what needs it and matches classifier_to_json. */
static void test_json_write(void **state)
{
    (void)state;
    static const char *const texts[] = {"my bag is lost and nobody helps!!",
                                        "thanks, great crew :)", "smoke in the cabin",
                                        "order #A12345 card 4111 1111 1111 1111", ""};
    static const char *const langs[] = {NULL, "en", "a\"b\\c\x01z", "\xc3\xa9"};
    char js[4096];
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        for (size_t l = 0; l < sizeof(langs) / sizeof(langs[0]); l++) {
            struct classifier_author who = {
                .followers = (long long)i * 1000, .verified = l % 2, .lang = langs[l]};
            struct classification c;
            assert_int_equal(
                classifier_classify(cl, scr, texts[i], strlen(texts[i]), &who, &c), 0);
            c.sentiment_score = i == 4 ? -0.0004 : c.sentiment_score; /* rounds to 0 */
            size_t n = classifier_json_write(cl, &c, js, sizeof(js));
            assert_true(n < sizeof(js));
            assert_int_equal(strlen(js), n);
            json_error_t e;
            json_t *got = json_loadb(js, n, JSON_REJECT_DUPLICATES, &e);
            if (!got)
                fail_msg("classifier_json_write: %s: %s", e.text, js);
            json_t *want = classifier_to_json(cl, &c);
            if (!json_equal(got, want))
                fail_msg("differs from classifier_to_json: %s", js);
            /* the scores are JSON reals, as jansson writes them */
            assert_true(json_is_real(json_object_get(got, "confidence")));
            assert_true(json_is_real(
                json_object_get(json_object_get(got, "sentiment"), "score")));
            json_decref(got);
            json_decref(want);
            /* a short buffer: the needed length, a truncated prefix */
            char small[8];
            assert_int_equal(classifier_json_write(cl, &c, small, sizeof(small)), n);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),      cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_mutations),  cmocka_unit_test(test_splice),
        cmocka_unit_test(test_json_write),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
