/* Fault suite (issue 8), platform and department-webhook outages:
 *  - the platform peer answers every 11th post request with the next of: 429 with
 *    Retry-After in seconds, 500, a timeout (no answer, nothing posted), 503, 429 with
 *    Retry-After as an HTTP-date, a connection reset, 502, 429 with only the
 *    x-rate-limit reset headers, and "hang" (posted, then no answer: an unknown outcome
 *    the responder must resolve by resending with the same Idempotency-Key); the
 *    responder's attempt timeout is 1 s and it may try 50 times;
 *  - the department webhooks (an in-process receiver, router_peer.h) are down from the
 *    start for SC_FAULT_WEBHOOK_DOWN_MS (default 20 s, `make test-faults` 150 s: longer
 *    than the router's backoff reaches) and until 60 % of the stream: every department's
 *    SLA is 1.2 s, so every case breaches and its escalation must reach the webhook once
 *    it is back.
 * Afterwards the invariants of fault_common.h hold (every reply that should go out
 * reached the peer exactly once), every SLA breach on cases.events reached the
 * escalation webhook exactly once (no notification lost while it was down, none twice),
 * and the responder never came back to the platform before a Retry-After (seconds or
 * HTTP-date) or rate-limit reset it was given had passed: the 429s announce 4 s, and
 * the peer counts the requests that arrive between 1.5 s after a 429 and the time it
 * announced ("early" by form). The 1.5 s grace leaves out sends the responder had
 * already started before the 429 reached it (they wait at most REPLY_TIMEOUT_MS = 1 s
 * for a connection); a responder that ignored the header and paused a 1 s default
 * would be counted. */
#include "fault_common.h"

static int webhook_down_ms(void)
{
    const char *v = getenv("SC_FAULT_WEBHOOK_DOWN_MS");
    int ms = v && *v ? atoi(v) : 20000;
    return ms < 1000 ? 1000 : ms;
}

static void webhook_check(struct fault_stack *fs, const char *name, void *arg)
{
    fault_check_webhooks(fs, arg, name);
    assert_true(fault_peer_stat(fs, "injected") > 0 &&
                fault_peer_stat(fs, "rate_limited") > 0);
    fault_check_not_early(fs, name);
}

static void test_fault_platform(void **state)
{
    struct e2e *e = *state;
    char *cfg_env = NULL;
    struct peer *hooks = fault_hooks_start_down(e, &cfg_env);
    int64_t down_since = e2e_now_ms();

    const char *peer_args[] = {"--fault-every",
                               "11",
                               "--faults",
                               "429s,500,timeout,503,429d,reset,502,"
                               "429r,hang",
                               "--retry-after-s",
                               "4",
                               "--early-grace-ms",
                               "1500",
                               "--hang-ms",
                               "3000",
                               NULL};
    const char *responder_env[] = {FAULT_RESPONDER_PATIENT, NULL};
    const char *router_env[] = {cfg_env, FAULT_ROUTER_WEBHOOKS, NULL};
    struct fault_opts opts = {
        .peer_args = peer_args, .responder_env = responder_env, .router_env = router_env};
    struct fault_stack *fs = sc_calloc(1, sizeof(*fs));
    fault_stack_start_opts(e, fs, &opts);
    sc_free(cfg_env);

    /* the webhooks stay down until 60 % of the stream and at least the outage */
    size_t seen = fault_wait_progress(fs, (size_t)fs->posts * 60 / 100, FAULT_WAIT);
    int64_t until = down_since + webhook_down_ms();
    while (e2e_now_ms() < until) /* the outage lasts its time: pump meanwhile */
        e2e_collector_pump(fs->coll, 100);
    pthread_mutex_lock(&hooks->lock);
    int refused = hooks->requests;
    pthread_mutex_unlock(&hooks->lock);
    fprintf(stderr,
            "fault_platform: webhooks up again after %lld ms (%d requests refused "
            "meanwhile; %zu of %d posts had case events at 60 %%)\n",
            (long long)(e2e_now_ms() - down_since), refused, seen, fs->posts);
    if (refused == 0)
        fail_msg("the router never tried the webhooks while they were down");
    peer_set_down(hooks, false);

    fs->extra_check = webhook_check;
    fs->extra_arg = hooks;
    fault_stack_check(fs, "fault_platform");
    peer_free(hooks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fault_platform, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
