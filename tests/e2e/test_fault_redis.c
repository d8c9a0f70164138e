/* Fault suite (issue 8), Redis SIGKILL and restart: the full stack (redis-server with
 * AOF, fsync always) replays the stream (SC_FAULT_POSTS posts, default 2000) at a steady
 * pace; once some have case events redis-server is SIGKILLed, the escalation router's
 * /readyz must answer 503 while it is down, and after about two seconds it is started
 * again on the same port with its data. Afterwards the router is ready again, every post
 * id has exactly one distinct case event, every acknowledgement was delivered, the reply
 * sink saw each sent reply id once, and every service exits 0 on SIGTERM. */
#include "fault_common.h"

#define DOWN_AFTER 300  /* case events seen before Redis is killed */
#define DOWN_MS    2000 /* how long Redis stays down (at least) */

static bool some_case_events(struct e2e *e, void *arg)
{
    return fault_cases_at_least(e, arg, DOWN_AFTER);
}

static void test_fault_redis(void **state)
{
    struct e2e *e = *state;
    struct fault_stack *fs = sc_calloc(1, sizeof(*fs));
    fault_stack_start(e, fs, true);

    assert_true(e2e_wait_until(e, some_case_events, fs, 60000));
    int64_t killed_at = e2e_now_ms();
    e2e_kill(e2e_redis_proc(e));
    size_t at_kill = e2e_index_distinct(fs->case_ids);
    if (at_kill >= (size_t)fs->posts)
        fail_msg("the whole stream was through before Redis was killed");
    fprintf(stderr, "fault_redis: %zu of %d posts had case events at SIGKILL\n", at_kill,
            fs->posts);

    /* The router notices: /readyz goes 503 while Redis is down. */
    if (!e2e_wait_http_status(e, e2e_proc_port(fs->router[0]), "/readyz", 503, 15000))
        fail_msg("the escalation router's /readyz did not answer 503 with Redis down");
    int64_t down_for = e2e_now_ms() - killed_at;
    if (down_for < DOWN_MS) {
        /* keep the outage DOWN_MS long: wait for a condition that stays true (the
         * router not ready) until then */
        int64_t until = killed_at + DOWN_MS;
        while (e2e_now_ms() < until)
            assert_true(e2e_wait_http_status(e, e2e_proc_port(fs->router[0]), "/readyz",
                                             503, 5000));
    }
    e2e_restart_redis(e);
    if (!e2e_wait_http_status(e, e2e_proc_port(fs->router[0]), "/readyz", 200, 30000))
        fail_msg("the escalation router's /readyz did not answer 200 after the restart");

    fault_stack_check(fs, "fault_redis");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fault_redis, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
