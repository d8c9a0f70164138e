/* Unit tests of routing decisions, acknowledgement texts and case-script result parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cases.h"
#include "route.h"

static struct route_decision decide(const char *intent, const char *topic,
                                    const char *sentiment, double influence)
{
    struct route_input in = {intent, topic, sentiment, influence};
    struct route_decision d;
    router_route(&in, &d);
    return d;
}

static void test_departments(void **state)
{
    (void)state;
    assert_string_equal(decide("complaint", "billing", "negative", 0).department,
                        "billing");
    assert_string_equal(decide("complaint", "shipping", "negative", 0).department,
                        "shipping");
    assert_string_equal(decide("complaint", "other", "negative", 0).department,
                        "customer_service");
    assert_string_equal(decide("crisis", "billing", "negative", 0).department,
                        "communications");
    assert_string_equal(decide("praise", "other", "positive", 0).department, "marketing");
    assert_string_equal(decide("bug_report", "other", "negative", 0).department,
                        "technical_support");
}

static void test_priorities(void **state)
{
    (void)state;
    struct route_decision d = decide("complaint", "billing", "negative", 0.1);
    assert_string_equal(d.priority, "P2");
    assert_true(d.acknowledge);
    assert_false(d.requires_review);
    d = decide("complaint", "billing", "neutral", 0.9); /* a celebrity's mild complaint */
    assert_string_equal(d.priority, "P1");
    assert_true(d.requires_review);
    int found = 0;
    for (size_t i = 0; i < d.n_reasons; i++)
        found += strcmp(d.reasons[i], "influencer") == 0;
    assert_int_equal(found, 1);
    d = decide("crisis", "other", "negative", 0);
    assert_string_equal(d.priority, "P1");
    assert_true(d.requires_review);
    d = decide("question", "other", "neutral", 0);
    assert_string_equal(d.priority, "P3");
    assert_false(d.acknowledge);
    d = decide("spam", "other", "neutral", 0.95);
    assert_string_equal(d.priority, "P4");
    assert_false(d.acknowledge);
}

static void test_ack_text(void **state)
{
    (void)state;
    struct route_decision d = decide("complaint", "billing", "negative", 0);
    char buf[256];
    assert_true(router_ack_text("jane", &d, buf, sizeof(buf)) > 0);
    assert_true(strncmp(buf, "@jane ", 6) == 0);
    assert_true(router_ack_text(NULL, &d, buf, sizeof(buf)) > 0);
    assert_true(buf[0] != '@');
    assert_int_equal(router_ack_text("jane", &d, buf, 10), -1);
}

static void test_case_result(void **state)
{
    (void)state;
    struct case_result r;
    const char *t = "c-x:1|1|P2|1|open";
    assert_int_equal(router_case_result_parse(t, strlen(t), &r), 0);
    assert_string_equal(r.case_id, "c-x:1");
    assert_true(r.opened);
    assert_string_equal(r.priority, "P2");
    assert_true(r.acknowledge);
    assert_string_equal(r.status, "open");
    t = "c-x:1|0|P1|0|open";
    assert_int_equal(router_case_result_parse(t, strlen(t), &r), 0);
    assert_false(r.opened);
    assert_false(r.acknowledge);
    t = "c-x:1|1|P2";
    assert_int_not_equal(router_case_result_parse(t, strlen(t), &r), 0);
    t = "|1|P2|1|open";
    assert_int_not_equal(router_case_result_parse(t, strlen(t), &r), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_departments),
        cmocka_unit_test(test_priorities),
        cmocka_unit_test(test_ack_text),
        cmocka_unit_test(test_case_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
