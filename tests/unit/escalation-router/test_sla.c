/* Unit tests of SLA due times within business hours: inside the day, across closing
 * time, over weekends, 24/7 departments, time zones (the same instant is a different
 * local day) and a daylight-saving change. Times are UTC instants built from text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lifecycle.h"
#include "sla.h"

static int64_t at(const char *rfc3339)
{
    int64_t ms = 0;
    assert_int_equal(sc_parse_time(rfc3339, &ms), 0);
    return ms;
}

#define MIN  60000LL
#define HOUR (60 * MIN)

static struct router_hours weekdays(const char *tz, int open_h, int close_h)
{
    struct router_hours h = {.always = false,
                             .timezone = (char *)tz,
                             .days = 0x3e, /* mon..fri */
                             .open_min = open_h * 60,
                             .close_min = close_h * 60};
    return h;
}

static void test_within_day(void **state)
{
    (void)state;
    struct router_hours h = weekdays("UTC", 9, 17);
    /* Wednesday 2026-11-18 10:00 UTC + 2 h = 12:00 */
    assert_true(router_sla_due(&h, at("2026-11-18T10:00:00Z"), 2 * HOUR) ==
                at("2026-11-18T12:00:00Z"));
    /* before opening: the clock starts at 09:00 */
    assert_true(router_sla_due(&h, at("2026-11-18T06:30:00Z"), 30 * MIN) ==
                at("2026-11-18T09:30:00Z"));
    /* across closing time: 16:00 + 3 h = 1 h today, 2 h tomorrow -> Thu 11:00 */
    assert_true(router_sla_due(&h, at("2026-11-18T16:00:00Z"), 3 * HOUR) ==
                at("2026-11-19T11:00:00Z"));
    /* exactly at closing time */
    assert_true(router_sla_due(&h, at("2026-11-18T16:00:00Z"), HOUR) ==
                at("2026-11-18T17:00:00Z"));
    assert_true(router_sla_open(&h, at("2026-11-18T16:59:59Z")));
    assert_false(router_sla_open(&h, at("2026-11-18T17:00:00Z")));
}

static void test_weekend(void **state)
{
    (void)state;
    struct router_hours h = weekdays("UTC", 9, 17);
    /* Friday 2026-11-20 16:30 + 1 h -> Monday 2026-11-23 09:30 */
    assert_true(router_sla_due(&h, at("2026-11-20T16:30:00Z"), HOUR) ==
                at("2026-11-23T09:30:00Z"));
    /* Saturday: nothing runs until Monday 09:00 */
    assert_true(router_sla_due(&h, at("2026-11-21T12:00:00Z"), 15 * MIN) ==
                at("2026-11-23T09:15:00Z"));
    assert_false(router_sla_open(&h, at("2026-11-21T12:00:00Z")));
    /* a budget longer than a working day: 20 h from Monday 09:00 = Wed 13:00 */
    assert_true(router_sla_due(&h, at("2026-11-23T09:00:00Z"), 20 * HOUR) ==
                at("2026-11-25T13:00:00Z"));
    /* 24/7 */
    struct router_hours always = {.always = true, .timezone = "UTC", .days = 0x7f};
    assert_true(router_sla_due(&always, at("2026-11-21T12:00:00Z"), 15 * MIN) ==
                at("2026-11-21T12:15:00Z"));
    assert_true(router_sla_open(&always, at("2026-11-22T03:00:00Z")));
}

static void test_time_zones(void **state)
{
    (void)state;
    /* Tokyo office 09:00-18:00 (UTC+9): Friday 20 Nov 23:30 UTC is Saturday 08:30 in
     * Tokyo, so the clock starts Monday 09:00 JST = Monday 00:00 UTC */
    struct router_hours tokyo = weekdays("Asia/Tokyo", 9, 18);
    assert_true(router_sla_due(&tokyo, at("2026-11-20T23:30:00Z"), 30 * MIN) ==
                at("2026-11-23T00:30:00Z"));
    /* New York 09:00-17:00 (UTC-5 in November): Monday 13:00 UTC is 08:00 local */
    struct router_hours ny = weekdays("America/New_York", 9, 17);
    assert_true(router_sla_due(&ny, at("2026-11-23T13:00:00Z"), HOUR) ==
                at("2026-11-23T15:00:00Z"));
    assert_false(router_sla_open(&ny, at("2026-11-23T13:00:00Z")));
    assert_true(router_sla_open(&ny, at("2026-11-23T14:00:00Z")));
    /* daylight saving: London moves to UTC+1 on Sunday 29 March 2026. Friday 27 March
     * 16:30 UTC (= 16:30 local) + 1 h with 09:00-17:00: 30 min Friday, 30 min Monday
     * from 09:00 BST = 08:00 UTC -> 08:30 UTC */
    struct router_hours london = weekdays("Europe/London", 9, 17);
    assert_true(router_sla_due(&london, at("2026-03-27T16:30:00Z"), HOUR) ==
                at("2026-03-30T08:30:00Z"));
    /* the process time zone is not left changed for UTC formatting */
    char buf[40];
    sc_format_time(at("2026-11-23T13:00:00Z"), buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-23T13:00:00.000Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_within_day),
        cmocka_unit_test(test_weekend),
        cmocka_unit_test(test_time_zones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
