/* Unit tests of the routing configuration loader: the shipped default is valid and covers
 * the required departments; every kind of error names its key path (or line and column
 * for syntax errors); unknown keys are rejected; values land where they belong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "route.h"
#include "rules.h"

static void test_default_config(void **state)
{
    (void)state;
    struct router_rules *r = NULL;
    char err[256] = "";
    assert_int_equal(router_rules_load(NULL, &r, err, sizeof(err)), 0);
    const char *required[] = {"billing",  "shipping",         "technical_support",
                              "accounts", "customer_service", "communications",
                              "marketing"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        assert_true(router_rules_department(r, required[i]) >= 0);
    assert_true(r->n_rules >= 5);
    assert_non_null(router_rules_template(r, "complaint"));
    assert_non_null(router_rules_template(r, "incident"));
    assert_non_null(router_rules_template(r, "incident_resolved"));
    int billing = router_rules_department(r, "billing");
    assert_false(r->departments[billing].hours.always);
    assert_string_equal(r->departments[billing].hours.timezone, "Europe/London");
    assert_int_equal(r->departments[billing].hours.open_min, 8 * 60);
    assert_true(r->departments[billing].sla_ms[0] == 30 * 60000LL);
    router_rules_free(r);

    /* the repository file is the built-in default */
    const char *src = getenv("SC_SOURCE_DIR");
    if (src) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/config/routing.json", src);
        assert_int_equal(router_rules_load(path, &r, err, sizeof(err)), 0);
        router_rules_free(r);
    }
    assert_int_not_equal(
        router_rules_load("/nonexistent/routing.json", &r, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "/nonexistent/routing.json"));
}

/* Parses text and expects an error containing want. */
static void expect_error(const char *text, const char *want)
{
    struct router_rules *r = NULL;
    char err[512] = "";
    int rc = router_rules_parse(text, strlen(text), "test.json", &r, err, sizeof(err));
    if (rc == 0 || !strstr(err, want))
        fail_msg("for %s\n got rc %d, error \"%s\", want \"%s\"", text, rc, err, want);
    assert_null(r);
}

#define HEAD                                                                             \
    "{\"version\":1,\"default_department\":\"a\",\"departments\":[{\"name\":\"a\"}],"

static void test_errors(void **state)
{
    (void)state;
    expect_error("{\"version\":1,\n\"rules\": [,]}", "test.json: line 2");
    expect_error("{\"version\":2}", "version: must be 1");
    expect_error(HEAD "\"rules\":[], \"extra\":1}", "unknown key \"extra\"");
    expect_error(HEAD "\"rules\":[{\"match\":{\"intent\":\"complain\"}}]}",
                 "rules[0].match.intent: unknown intent \"complain\"");
    expect_error(HEAD "\"rules\":[{\"match\":{}},{\"match\":{\"topic\":3}}]}",
                 "rules[1].match.topic: expected a string or a non-empty array");
    expect_error(HEAD "\"rules\":[{\"match\":{},\"department\":\"zzz\"}]}",
                 "rules[0].department: no department named \"zzz\"");
    expect_error(HEAD "\"rules\":[{\"match\":{},\"priority\":\"P7\"}]}",
                 "rules[0].priority: expected P1, P2, P3 or P4");
    expect_error(HEAD "\"rules\":[{\"match\":{},\"ack\":\"nope\"}]}",
                 "rules[0].ack: no template named \"nope\"");
    expect_error(HEAD "\"rules\":[{\"department\":\"a\"}]}", "rules[0].match: missing");
    expect_error(HEAD "\"rules\":[{\"match\":{\"influence_min\":2}}]}",
                 "rules[0].match.influence_min: 2 is out of range");
    expect_error("{\"version\":1,\"default_department\":\"b\",\"departments\":[{\"name\":"
                 "\"a\"}],\"rules\":[]}",
                 "default_department: no department named \"b\"");
    expect_error("{\"version\":1,\"default_department\":\"a\",\"departments\":[{\"name\":"
                 "\"a\",\"business_hours\":{\"open\":\"9:00\",\"close\":\"8:00\"}}],"
                 "\"rules\":[]}",
                 "departments[0].business_hours: close must be after open");
    expect_error("{\"version\":1,\"default_department\":\"a\",\"departments\":[{\"name\":"
                 "\"a\",\"business_hours\":{\"days\":[\"mon\",\"funday\"],\"open\":\"09:"
                 "00\",\"close\":\"17:00\"}}],\"rules\":[]}",
                 "departments[0].business_hours.days: \"funday\" is not a day");
    expect_error("{\"version\":1,\"default_department\":\"a\",\"departments\":[{\"name\":"
                 "\"a\",\"business_hours\":{\"timezone\":\"Mars/Olympus\",\"open\":"
                 "\"09:00\",\"close\":\"17:00\"}}],\"rules\":[]}",
                 "departments[0].business_hours.timezone: unknown time zone");
    expect_error("{\"version\":1,\"default_department\":\"a\",\"departments\":[{\"name\":"
                 "\"a\",\"webhooks\":[{\"url\":\"ftp://x\"}]}],\"rules\":[]}",
                 "departments[0].webhooks[0]: url must start with http");
    expect_error("{\"version\":1,\"default_department\":\"a\",\"departments\":[{\"name\":"
                 "\"a\",\"sla_minutes\":{\"P5\":3}}],\"rules\":[]}",
                 "departments[0].sla_minutes: unknown key \"P5\"");
    expect_error("{\"version\":1,\"default_department\":\"a\",\"departments\":[{\"name\":"
                 "\"a\"},{\"name\":\"a\"}],\"rules\":[]}",
                 "duplicate department \"a\"");
    expect_error(HEAD "\"rules\":[],\"priority\":{\"influence_tiers\":[{\"name\":\"s\","
                      "\"min_followers\":10},{\"name\":\"b\",\"min_followers\":100}]}}",
                 "priority.influence_tiers[1]: tiers must be ordered");
    expect_error(HEAD "\"rules\":[],\"spikes\":{\"factor\":0.5}}",
                 "spikes.factor: 0.5 is out of range");
}

static void test_values(void **state)
{
    (void)state;
    setenv("TEST_HOOK_SECRET", "s3cret", 1);
    const char *cfg =
        "{\"version\":1,\"default_department\":\"ops\","
        "\"departments\":[{\"name\":\"ops\",\"webhooks\":[\"http://h/1\",{\"url\":"
        "\"https://h/2\",\"format\":\"slack\",\"secret_env\":\"TEST_HOOK_SECRET\"}],"
        "\"sla_minutes\":{\"P1\":5,\"P4\":0.5},"
        "\"business_hours\":{\"timezone\":\"America/"
        "New_York\",\"days\":[\"sat\",\"sun\"],"
        "\"open\":\"10:30\",\"close\":\"24:00\"},"
        "\"escalation\":{\"name\":\"Boss\",\"webhook\":\"http://h/boss\"},"
        "\"signature\":\"Ops\"}],"
        "\"rules\":[],\"cases\":{\"reopen_window_hours\":1,\"last_posts\":3},"
        "\"acknowledgements\":{\"daily_cap_per_customer\":2},"
        "\"spikes\":{\"bucket_seconds\":0.5,\"window_buckets\":4,\"min_count\":7}}";
    struct router_rules *r = NULL;
    char err[256] = "";
    assert_int_equal(router_rules_parse(cfg, strlen(cfg), "v", &r, err, sizeof(err)), 0);
    const struct router_department *d = &r->departments[0];
    assert_int_equal(d->n_webhooks, 2);
    assert_false(d->webhooks[0].slack);
    assert_null(d->webhooks[0].secret);
    assert_true(d->webhooks[1].slack);
    assert_string_equal(d->webhooks[1].secret, "s3cret");
    assert_true(d->sla_ms[0] == 5 * 60000LL);
    assert_true(d->sla_ms[1] == 240 * 60000LL); /* default */
    assert_true(d->sla_ms[3] == 30000LL);
    assert_int_equal(d->hours.days, (1u << 0) | (1u << 6));
    assert_int_equal(d->hours.open_min, 630);
    assert_int_equal(d->hours.close_min, 1440);
    assert_string_equal(d->escalation_name, "Boss");
    assert_string_equal(d->escalation.url, "http://h/boss");
    assert_true(r->reopen_window_ms == 3600000LL);
    assert_int_equal(r->last_posts, 3);
    assert_int_equal(r->daily_cap, 2);
    assert_true(r->spike_bucket_ms == 500);
    assert_int_equal(r->spike_buckets, 4);
    assert_true(r->spike_min == 7);
    router_rules_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_config),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
