/* Unit tests of the responder's send verdicts and retry timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy.h"

static void test_verdicts(void **state)
{
    (void)state;
    assert_int_equal(responder_verdict(true, 200), SEND_VERDICT_SENT);
    assert_int_equal(responder_verdict(true, 201), SEND_VERDICT_SENT);
    assert_int_equal(responder_verdict(true, 429), SEND_VERDICT_RETRY);
    assert_int_equal(responder_verdict(true, 408), SEND_VERDICT_RETRY);
    assert_int_equal(responder_verdict(true, 503), SEND_VERDICT_RETRY);
    assert_int_equal(responder_verdict(false, 0), SEND_VERDICT_RETRY);
    assert_int_equal(responder_verdict(true, 400), SEND_VERDICT_FAILED);
    assert_int_equal(responder_verdict(true, 403), SEND_VERDICT_FAILED);
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(responder_backoff_ms(1, -1), 200);
    assert_int_equal(responder_backoff_ms(2, -1), 400);
    assert_int_equal(responder_backoff_ms(3, -1), 800);
    assert_int_equal(responder_backoff_ms(30, -1), 10000);
    assert_int_equal(responder_backoff_ms(1, 3), 3000);     /* Retry-After wins */
    assert_int_equal(responder_backoff_ms(1, 3600), 60000); /* but is capped */
    assert_int_equal(responder_backoff_ms(10, 0), 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
