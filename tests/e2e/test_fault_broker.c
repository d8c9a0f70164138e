/* Fault suite (issue 8), broker down then up: the full stack replays the stream
 * (SC_FAULT_POSTS posts, default 2000) at a steady pace; once some have case events the
 * dev broker takes broker 1 down (SIGUSR1) for about three seconds and brings it back
 * (SIGUSR2). Afterwards every post id has exactly one distinct case event, every
 * acknowledgement was delivered, the reply sink saw each sent reply id once, and every
 * service exits 0 on SIGTERM. */
#include "fault_common.h"

#include <signal.h>

#define DOWN_AFTER 300  /* case events seen before the broker goes down */
#define DOWN_MS    3000 /* how long broker 1 stays down */

static bool some_case_events(struct e2e *e, void *arg)
{
    return fault_cases_at_least(e, arg, DOWN_AFTER);
}

/* A condition that never holds: e2e_wait_until(never) keeps the collectors pumping for
 * the outage's length (the fault's duration, not a synchronisation). */
static bool never(struct e2e *e, void *arg)
{
    (void)e;
    (void)arg;
    return false;
}

static void test_fault_broker(void **state)
{
    struct e2e *e = *state;
    struct fault_stack *fs = sc_calloc(1, sizeof(*fs));
    fault_stack_start(e, fs, false);

    assert_true(e2e_wait_until(e, some_case_events, fs, 60000));
    struct e2e_proc *broker = e2e_broker_proc(e);
    assert_non_null(broker);
    assert_int_equal(kill(e2e_proc_pid(broker), SIGUSR1), 0);
    assert_true(e2e_wait_stderr(e, broker, "broker 1 down", 10000));
    size_t at_down = e2e_index_distinct(fs->case_ids);
    /* the fault lasts a fixed time by design (not a synchronisation) */
    e2e_wait_until(e, never, NULL, DOWN_MS);
    assert_int_equal(kill(e2e_proc_pid(broker), SIGUSR2), 0);
    assert_true(e2e_wait_stderr(e, broker, "broker 1 up", 10000));
    if (at_down >= (size_t)fs->posts)
        fail_msg("the whole stream was through before the broker went down");
    fprintf(stderr,
            "fault_broker: %zu of %d posts had case events when broker 1 went "
            "down\n",
            at_down, fs->posts);

    fault_stack_check(fs, "fault_broker");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fault_broker, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
