/* Unit tests of the ingestor's normalisation and key names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdbool.h>
#include <cmocka.h>

#include "ingest.h"

static void test_normalise(void **state)
{
    (void)state;
    json_t *post = json_pack("{s:s}", "id", "x:1");
    ingest_normalise(post, 1795333409120LL); /* 2026-11-22T07:43:29.120Z */
    assert_int_equal(json_integer_value(json_object_get(post, "v")), 1);
    assert_string_equal(json_string_value(json_object_get(post, "received_at")),
                        "2026-11-22T07:43:29.120Z");
    /* An existing receive time is kept. */
    json_object_set_new(post, "received_at", json_string("2026-01-01T00:00:00Z"));
    ingest_normalise(post, 0);
    assert_string_equal(json_string_value(json_object_get(post, "received_at")),
                        "2026-01-01T00:00:00Z");
    json_decref(post);
}

static void test_seen_key(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(ingest_seen_key("x:123", buf, sizeof(buf)), 12);
    assert_string_equal(buf, "seen:{x:123}");
    assert_int_equal(ingest_seen_key("x:1234567890123456789012345", buf, sizeof(buf)),
                     -1);
}

static void test_top_keys(void **state)
{
    (void)state;
    bool v, recv;
    const char *a = "{\"id\":\"x:1\",\"source\":{\"v\":2,\"received_at\":\"x\"},"
                    "\"text\":\"say \\\"v\\\": hi\",\"list\":[{\"v\":1}]}";
    ingest_top_keys(a, strlen(a), &v, &recv);
    assert_false(v);
    assert_false(recv);
    const char *b =
        "{ \"text\" : \"v\", \"v\" : 1 , \"received_at\":\"2026-11-22T07:00:00Z\"}";
    ingest_top_keys(b, strlen(b), &v, &recv);
    assert_true(v);
    assert_true(recv);
    /* A string ending in an escaped backslash, then the key. */
    const char *d = "{\"text\":\"end\\\\\",\"v\":1,\"x\":\"\\\"v\\\":\"}";
    ingest_top_keys(d, strlen(d), &v, &recv);
    assert_true(v);
    assert_false(recv);
    const char *c = "{\"received_at\":\"t\",\"vv\":1}";
    ingest_top_keys(c, strlen(c), &v, &recv);
    assert_false(v);
    assert_true(recv);
}

/* Whether the old value lets the post be published (new, or another attempt's mark). */
static bool ingest_mark_is_new(bool is_nil, const char *old, size_t old_len,
                               const char *own_prefix)
{
    size_t blen;
    return ingest_mark_classify(is_nil, old, old_len, own_prefix, &blen) !=
           INGEST_DUPLICATE;
}

static void test_mark_is_new(void **state)
{
    (void)state;
    char own[64], other[64];
    ingest_mark_attempt(own, sizeof(own));
    ingest_mark_attempt(other, sizeof(other));
    assert_string_not_equal(own, other); /* every attempt has its own prefix */
    char v[96];
    assert_true(ingest_mark_is_new(true, NULL, 0, own)); /* no mark: new */
    snprintf(v, sizeof(v), "%s3", other); /* an unfinished attempt's mark */
    assert_true(ingest_mark_is_new(false, v, strlen(v), own));
    snprintf(v, sizeof(v), "%s3", own); /* the same id earlier in this batch */
    assert_false(ingest_mark_is_new(false, v, strlen(v), own));
    assert_false(ingest_mark_is_new(false, "1", 1, own));         /* published before */
    assert_false(ingest_mark_is_new(false, "1234.5.6", 8, NULL)); /* a replay's mark */
    assert_false(ingest_mark_is_new(false, "p", 1, NULL)); /* too short to be ours */
}

static void test_mark_classify(void **state)
{
    (void)state;
    char own[64], other[64], v[96];
    size_t olen = ingest_mark_attempt(own, sizeof(own));
    ingest_mark_attempt(other, sizeof(other));
    assert_int_equal(own[olen - 1], INGEST_MARK_SEP); /* "p.<pid>.<n>/" */
    size_t blen = 99;
    assert_int_equal(ingest_mark_classify(true, NULL, 0, own, &blen), INGEST_NEW);
    assert_int_equal(blen, 0);
    /* another attempt's mark: its batch record decides, the name is before the '/' */
    int n = snprintf(v, sizeof(v), "%s17", other);
    assert_int_equal(ingest_mark_classify(false, v, (size_t)n, own, &blen), INGEST_CHECK);
    assert_int_equal(blen, strlen(other) - 1);
    assert_memory_equal(v, other, blen);
    /* a replay's mark: the batch is "<prefix>.<seq>" */
    const char *replay = "p.99.1700000000000.3/1.7";
    assert_int_equal(ingest_mark_classify(false, replay, strlen(replay), NULL, &blen),
                     INGEST_CHECK);
    assert_int_equal(blen, strlen("p.99.1700000000000.3"));
    /* an older pending mark has no batch name: nothing to ask, the post is new */
    const char *older = "p.99999.1700000000000.3.0.7";
    assert_int_equal(ingest_mark_classify(false, older, strlen(older), own, &blen),
                     INGEST_CHECK);
    assert_int_equal(blen, 0);
    /* this attempt's own mark (the same id twice), a confirmed mark, anything else */
    n = snprintf(v, sizeof(v), "%s3", own);
    assert_int_equal(ingest_mark_classify(false, v, (size_t)n, own, &blen),
                     INGEST_DUPLICATE);
    assert_int_equal(ingest_mark_classify(false, "1", 1, own, &blen), INGEST_DUPLICATE);
    assert_int_equal(ingest_mark_classify(false, "x/1", 3, own, &blen), INGEST_DUPLICATE);
    /* the batch record key carries the batch name as its hash tag */
    char key[64];
    assert_int_equal(ingest_batch_key("p.1.2", 5, key, sizeof(key)), 18);
    assert_string_equal(key, "seen:batch:{p.1.2}");
    assert_int_equal(ingest_batch_key("p.1.2", 5, key, 10), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalise),   cmocka_unit_test(test_seen_key),
        cmocka_unit_test(test_mark_is_new), cmocka_unit_test(test_mark_classify),
        cmocka_unit_test(test_top_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
