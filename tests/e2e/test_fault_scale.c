/* Fault suite (issue 8), scaling 1 -> 3 -> 1 mid-stream: at 10 % of the stream two more
 * classifiers and two more escalation routers join their consumer groups (partitions
 * move to them while posts flow), at 60 % those two of each leave again by SIGTERM
 * (each must exit 0: it finishes its batches in flight and commits before leaving), so
 * the first replica of each takes every partition back (the steps are placed by the
 * input's progress on posts.inbound). Afterwards the invariants of
 * fault_common.h hold. A bounded stream (under 5,000 posts) is paced at 40 posts/s so
 * that both steps fall inside it (the new replicas take 10-20 s to start and be given
 * partitions). */
#include "fault_common.h"

static void test_fault_scale(void **state)
{
    struct e2e *e = *state;
    struct fault_opts opts = {.rate = fault_posts() < 5000 ? "40" : NULL};
    struct fault_stack *fs = sc_calloc(1, sizeof(*fs));
    fault_stack_start_opts(e, fs, &opts);

    size_t seen = fault_at_input(fs, 10, "fault_scale");
    fprintf(stderr,
            "fault_scale: 1 -> 3 classifiers and routers at %zu of %d posts published\n",
            seen, fs->posts);
    /* All four start at once, then their readiness is awaited: one after the other, each
     * join was a rebalance of its own (two rounds each with cooperative-sticky, ~5 s a
     * round on the dev broker), and on CI the four took 30 s, longer than the stream. */
    struct e2e_proc *joined[4];
    int64_t t0 = e2e_now_ms();
    for (int i = 0; i < 2; i++) {
        joined[2 * i] = fault_start_classifier(fs);
        joined[2 * i + 1] = fault_start_router(fs);
    }
    for (int i = 0; i < 4; i++)
        if (!e2e_wait_http_status(e, e2e_proc_port(joined[i]), "/readyz", 200, 45000))
            fail_msg("%s not ready (no partitions) within 45 s",
                     e2e_proc_name(joined[i]));
    fprintf(stderr, "fault_scale: the four new replicas had partitions after %lld ms\n",
            (long long)(e2e_now_ms() - t0));

    seen = fault_at_input(fs, 60, "fault_scale");
    fprintf(stderr,
            "fault_scale: 3 -> 1 classifiers and routers at %zu of %d posts published\n",
            seen, fs->posts);
    for (int i = 2; i >= 1; i--) {
        int rc = e2e_stop(fs->classifier[i], 30000);
        if (rc != 0)
            fail_msg("classifier replica %d exited with %d on SIGTERM", i + 1, rc);
        rc = e2e_stop(fs->router[i], 30000);
        if (rc != 0)
            fail_msg("router replica %d exited with %d on SIGTERM", i + 1, rc);
    }
    fault_stack_check(fs, "fault_scale");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fault_scale, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
