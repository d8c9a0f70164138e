/* Unit tests of routing decisions over the default routing configuration and small
 * purpose-made ones: rule order and conditions, priority maths (severity, influence
 * tiers, verification, virality), the acknowledgement policy (addressed posts only,
 * never spam, crisis or search results, praise thanked), template rendering, the
 * case-script result parser and the spike rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cases.h"
#include "incidents.h"
#include "route.h"
#include "rules.h"

static struct router_rules *defaults;

static int setup(void **state)
{
    (void)state;
    char err[256];
    return router_rules_load(NULL, &defaults, err, sizeof(err));
}

static int teardown(void **state)
{
    (void)state;
    router_rules_free(defaults);
    return 0;
}

static struct route_input post(const char *intent, const char *topic, const char *label,
                               double score)
{
    struct route_input in = {.intent = intent,
                             .topic = topic,
                             .sentiment = label,
                             .sentiment_score = score,
                             .platform = "x",
                             .kind = "mention",
                             .language = "en",
                             .source_type = "webhook",
                             .text = "some text",
                             .followers = 120};
    return in;
}

static struct route_decision decide(const struct route_input *in)
{
    struct route_decision d;
    router_route(defaults, in, &d);
    return d;
}

static bool has_reason(const struct route_decision *d, const char *reason)
{
    for (size_t i = 0; i < d->n_reasons; i++)
        if (!strcmp(d->reasons[i], reason))
            return true;
    return false;
}

static void test_departments(void **state)
{
    (void)state;
    struct route_input in = post("complaint", "billing", "negative", -0.4);
    assert_string_equal(decide(&in).department, "billing");
    in.topic = "shipping";
    assert_string_equal(decide(&in).department, "shipping");
    in.topic = "technical_support";
    assert_string_equal(decide(&in).department, "technical_support");
    in.topic = "accounts";
    assert_string_equal(decide(&in).department, "accounts");
    in.topic = "other";
    assert_string_equal(decide(&in).department, "customer_service");
    in = post("crisis", "billing", "negative", -0.9);
    assert_string_equal(decide(&in).department, "communications");
    in = post("praise", "shipping", "positive", 0.8);
    assert_string_equal(decide(&in).department, "marketing");
    in = post("bug_report", "billing", "negative", -0.3);
    assert_string_equal(decide(&in).department, "technical_support");
    /* keywords: a journalist's question goes to communications (case-insensitive) */
    in = post("question", "shipping", "neutral", 0);
    in.text = "Hi, I am a JOURNALIST writing about delays";
    struct route_decision d = decide(&in);
    assert_string_equal(d.department, "communications");
    assert_string_equal(d.rule, "press");
    assert_int_equal(d.ack, ROUTE_ACK_NONE);
}

static void test_priorities(void **state)
{
    (void)state;
    struct route_input in = post("complaint", "billing", "negative", -0.3);
    struct route_decision d = decide(&in);
    assert_int_equal(d.priority, 3);
    assert_true(has_reason(&d, "complaint"));
    in.sentiment_score = -0.9; /* severe */
    d = decide(&in);
    assert_int_equal(d.priority, 2);
    assert_true(has_reason(&d, "severe_sentiment"));
    /* a celebrity's mild complaint is P1 and its acknowledgement waits for review */
    in = post("complaint", "billing", "neutral", 0);
    in.followers = 2000000;
    d = decide(&in);
    assert_int_equal(d.priority, 1);
    assert_true(has_reason(&d, "celebrity"));
    assert_true(d.requires_review);
    /* tiers: notable raises one level, verified one more */
    in.followers = 20000;
    d = decide(&in);
    assert_int_equal(d.priority, 2);
    assert_true(has_reason(&d, "notable"));
    assert_false(d.requires_review);
    in.verified = true;
    d = decide(&in);
    assert_int_equal(d.priority, 1);
    assert_true(has_reason(&d, "verified"));
    /* virality: engagement velocity over the threshold */
    in = post("question", "shipping", "neutral", 0);
    assert_int_equal(decide(&in).priority, 4);
    in.engagement_per_min = 50;
    d = decide(&in);
    assert_int_equal(d.priority, 3);
    assert_true(has_reason(&d, "viral"));
    /* crisis is P1 whatever the rules; spam is never raised */
    in = post("crisis", "other", "negative", -0.2);
    assert_int_equal(decide(&in).priority, 1);
    in = post("spam", "other", "neutral", 0);
    in.followers = 5000000;
    in.engagement_per_min = 1000;
    d = decide(&in);
    assert_int_equal(d.priority, 4);
    assert_int_equal(d.n_reasons, 0);
    /* bug reports are high */
    in = post("bug_report", "other", "negative", -0.2);
    assert_int_equal(decide(&in).priority, 2);
}

static void test_ack_policy(void **state)
{
    (void)state;
    struct route_input in = post("complaint", "billing", "negative", -0.4);
    struct route_decision d = decide(&in);
    assert_int_equal(d.ack, ROUTE_ACK_CASE);
    assert_non_null(d.ack_template);
    assert_false(d.requires_review);
    in.kind = "dm";
    assert_int_equal(decide(&in).ack, ROUTE_ACK_CASE);
    in.kind = "reply";
    assert_int_equal(decide(&in).ack, ROUTE_ACK_CASE);
    /* public comments and reviews did not address the brand: a person answers */
    in.kind = "comment";
    d = decide(&in);
    assert_int_equal(d.ack, ROUTE_ACK_NONE);
    assert_string_equal(d.ack_why, "not_addressed");
    in.kind = "review";
    assert_int_equal(decide(&in).ack, ROUTE_ACK_NONE);
    /* brand-term search results never get a bot */
    in.kind = "mention";
    in.source_type = "search";
    d = decide(&in);
    assert_int_equal(d.ack, ROUTE_ACK_NONE);
    assert_string_equal(d.ack_why, "search_result");
    /* spam and crisis: never */
    in = post("spam", "other", "neutral", 0);
    assert_int_equal(decide(&in).ack, ROUTE_ACK_NONE);
    in = post("crisis", "other", "negative", -0.9);
    d = decide(&in);
    assert_int_equal(d.ack, ROUTE_ACK_NONE);
    assert_string_equal(d.ack_why, "crisis");
    /* praise gets thanks; questions get a person */
    in = post("praise", "other", "positive", 0.9);
    d = decide(&in);
    assert_int_equal(d.ack, ROUTE_ACK_THANKS);
    assert_non_null(strstr(d.ack_template, "Thank"));
    in = post("question", "billing", "neutral", 0);
    assert_int_equal(decide(&in).ack, ROUTE_ACK_NONE);
    in = post("bug_report", "other", "negative", -0.3);
    assert_int_equal(decide(&in).ack, ROUTE_ACK_CASE);
}

static void test_rule_conditions(void **state)
{
    (void)state;
    const char *cfg =
        "{\"version\":1,\"default_department\":\"a\","
        "\"departments\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"}],"
        "\"templates\":{\"t\":\"{handle} hi {case} {signature}\"},"
        "\"rules\":["
        " {\"name\":\"eu-fr\",\"match\":{\"region\":\"eu\",\"language\":[\"fr\",\"de\"]},"
        "  \"department\":\"b\",\"priority\":\"P2\",\"tags\":[\"eu\"],\"ack\":\"t\"},"
        " {\"name\":\"vip\",\"match\":{\"influence_min\":0.5,\"platform\":\"mastodon\"},"
        "  \"department\":\"c\",\"review\":true,\"amplify\":true},"
        " {\"name\":\"angry\",\"match\":{\"sentiment_max\":-0.5,\"followers_min\":10},"
        "  \"department\":\"c\",\"priority\":\"P1\"}]}";
    struct router_rules *r = NULL;
    char err[256];
    assert_int_equal(router_rules_parse(cfg, strlen(cfg), "t", &r, err, sizeof(err)), 0);
    struct route_input in = post("complaint", "x", "negative", -0.1);
    in.region = "eu";
    in.language = "fr";
    struct route_decision d;
    router_route(r, &in, &d);
    assert_string_equal(d.rule, "eu-fr");
    assert_string_equal(d.department, "b");
    assert_int_equal(d.priority, 2);
    assert_int_equal(d.tags->n, 1);
    assert_int_equal(d.ack, ROUTE_ACK_CASE);
    in.language = "en"; /* the first rule no longer matches; nothing else does */
    router_route(r, &in, &d);
    assert_null(d.rule);
    assert_string_equal(d.department, "a");
    assert_int_equal(d.ack, ROUTE_ACK_NONE); /* no "complaint" template here */
    in.platform = "mastodon";
    in.influence = 0.6;
    router_route(r, &in, &d);
    assert_string_equal(d.rule, "vip");
    assert_true(d.requires_review);
    assert_true(d.amplify);
    in.platform = "x";
    in.sentiment_score = -0.8;
    router_route(r, &in, &d);
    assert_string_equal(d.rule, "angry");
    assert_int_equal(d.priority, 1);
    assert_false(d.amplify);
    in.followers = 5;
    router_route(r, &in, &d);
    assert_null(d.rule);
    router_rules_free(r);
    /* "amplify" must be a boolean, named in the error */
    const char *bad = "{\"version\":1,\"default_department\":\"a\","
                      "\"departments\":[{\"name\":\"a\"}],"
                      "\"rules\":[{\"name\":\"p\",\"match\":{\"intent\":\"praise\"},"
                      "\"amplify\":\"yes\"}]}";
    r = NULL;
    assert_int_not_equal(router_rules_parse(bad, strlen(bad), "t", &r, err, sizeof(err)),
                         0);
    assert_non_null(strstr(err, "amplify"));
    router_rules_free(r);
}

static void test_ack_render(void **state)
{
    (void)state;
    char buf[256];
    int n = router_ack_render("{handle} Sorry! Case {case}. {signature}", "jane", "c-x:1",
                              "Ana, Care", "billing", buf, sizeof(buf));
    assert_true(n > 0);
    assert_string_equal(buf, "@jane Sorry! Case c-x:1. Ana, Care");
    n = router_ack_render("{handle} Sorry! {department}", NULL, "c", "s", "billing", buf,
                          sizeof(buf));
    assert_string_equal(buf, "Sorry! billing");
    assert_int_equal(n, (int)strlen(buf));
    assert_int_equal(
        router_ack_render("{handle} long text here", "jane", "", "", "", buf, 10), -1);
    /* unknown placeholders are kept as text */
    router_ack_render("{nope} x", "j", "", "", "", buf, sizeof(buf));
    assert_string_equal(buf, "{nope} x");
}

static void test_case_result(void **state)
{
    (void)state;
    struct case_result r;
    const char *t = "c-x:1|1|P2|1|new|1700000000000|1||0||agent7|1";
    assert_int_equal(router_case_result_parse(t, strlen(t), &r), 0);
    assert_string_equal(r.case_id, "c-x:1");
    assert_true(r.opened);
    assert_string_equal(r.priority, "P2");
    assert_int_equal(r.ack, CASE_ACK_CASE);
    assert_string_equal(r.status, "new");
    assert_true(r.due_ms == 1700000000000LL);
    assert_true(r.pending);
    assert_string_equal(r.preferred, "agent7");
    assert_true(r.reindex);
    t = "c-x:1|0|P1|0|open|5|0|a1|1|quiet||0";
    assert_int_equal(router_case_result_parse(t, strlen(t), &r), 0);
    assert_false(r.opened);
    assert_true(r.reopened);
    assert_int_equal(r.ack, CASE_ACK_NONE);
    assert_string_equal(r.agent, "a1");
    assert_string_equal(r.skipped, "quiet");
    assert_false(r.reindex);
    t = "c-x:1|1|P2|1|open";
    assert_int_not_equal(router_case_result_parse(t, strlen(t), &r), 0);
    t = "|1|P2|1|open|5|0||0|||1";
    assert_int_not_equal(router_case_result_parse(t, strlen(t), &r), 0);
    t = "c|1|P2|9|open|5|0||0|||1";
    assert_int_not_equal(router_case_result_parse(t, strlen(t), &r), 0);
    t = "c|1|P2|1|open|5x|0||0|||1";
    assert_int_not_equal(router_case_result_parse(t, strlen(t), &r), 0);
}

static void test_spike_rule(void **state)
{
    (void)state;
    /* steady noise: 10 per bucket, window of 5 buckets = 50, not 4x the baseline */
    assert_false(router_spike_detect(50, 10, 5, 4, 20, true));
    assert_false(router_spike_detect(199, 10, 5, 4, 20, true));
    assert_true(router_spike_detect(200, 10, 5, 4, 20, true));
    /* quiet topic: the minimum count decides */
    assert_false(router_spike_detect(19, 0, 5, 4, 20, true));
    assert_true(router_spike_detect(20, 0, 5, 4, 20, true));
    /* nothing before the baseline was learned */
    assert_false(router_spike_detect(1000, 0, 5, 4, 20, false));
    assert_true(router_engagement_velocity(600, 0, 10 * 60000) == 60.0);
    assert_true(router_engagement_velocity(30, 0, 1000) == 30.0); /* at least a minute */
    assert_true(router_engagement_velocity(0, 0, 1000) == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_departments), cmocka_unit_test(test_priorities),
        cmocka_unit_test(test_ack_policy),  cmocka_unit_test(test_rule_conditions),
        cmocka_unit_test(test_ack_render),  cmocka_unit_test(test_case_result),
        cmocka_unit_test(test_spike_rule),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
