/* Unit tests of the ingestor's normalisation and key names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_seen_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
