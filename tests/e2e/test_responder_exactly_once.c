/* End-to-end: exactly one copy per reply, and shared rate limits.
 * - SIGKILL mid-send, three times: the peer accepts the next new post and never answers
 *   it (an unknown outcome for the responder), the responder is killed with SIGKILL while
 *   waiting and started again. Every reply (Mastodon with Idempotency-Key, X whose
 *   duplicate text is refused with 403, the webhook with Idempotency-Key, Bluesky with
 * its record key) ends "sent" and the peer holds exactly one copy of each.
 * - An X direct message with an unknown outcome (no idempotency key, no duplicate check
 *   on X) is held for review after the restart instead of being sent twice.
 * - 429 pauses every replica: two responders share the peer's limit, which another
 *   tool on the same account has just spent; after the peer answered 429, replies
 * arriving at either replica are deferred by the shared pause (not sent into the limit),
 * and in the end every reply is sent exactly once. */
#include "responder_common.h"

#include <signal.h>

struct peer_cond {
    int port;
    const char *field;
    long want;
};

static bool peer_at_least(struct e2e *e, void *arg)
{
    (void)e;
    struct peer_cond *c = arg;
    return rsp_peer_stat(c->port, c->field) >= c->want;
}

static struct e2e_proc *start_responder(struct e2e *e, int peer_port,
                                        const char *const *extra)
{
    char **env = rsp_env(peer_port, extra);
    struct e2e_proc *p = e2e_start_service(e, "responder", (const char *const *)env);
    rsp_env_free(env);
    assert_true(e2e_wait_http_status(e, e2e_proc_port(p), "/readyz", 200, 30000));
    return p;
}

static void test_sigkill_mid_send(void **state)
{
    struct e2e *e = *state;
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    const char *peer_args[] = {
        "--port",       "0", "--token",   RSP_TOKEN, "--secret", "hook-secret",
        "--hang-first", "3", "--hang-ms", "120000",  NULL};
    struct e2e_proc *peer = e2e_start_tool(e, "platform-peer", peer_args);
    int peer_port = e2e_proc_port(peer);
    const char *topics[] = {"replies.delivered", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    const char *ids[] = {"m1", "m2", "m3", "x1", "x2", "x3", "h1", "h2", "b1", NULL};
    const char *platforms[] = {"mastodon", "mastodon", "mastodon", "x",      "x",
                               "x",        "facebook", "facebook", "bluesky"};
    for (size_t i = 0; ids[i]; i++) {
        char customer[64], in_reply_to[64], text[96];
        snprintf(customer, sizeof(customer), "%s:c%zu", platforms[i], i);
        snprintf(in_reply_to, sizeof(in_reply_to), "%s:p%zu", platforms[i], i);
        snprintf(text, sizeof(text), "Sorry for the trouble, fixed now (%s)", ids[i]);
        char *json = rsp_reply(
            ids[i], platforms[i], customer, in_reply_to, "public", text, "agent:1",
            strcmp(platforms[i], "bluesky") == 0 ? "{\"in_reply_to_cid\":\"bafyx\"}"
                                                 : NULL);
        rsp_produce(e, json);
        sc_free(json);
    }
    /* Three times: the next new post is accepted by the peer and never answered, and the
     * responder is SIGKILLed while it waits for the answer, then started again. */
    const char *env[] = {"REPLY_TIMEOUT_MS=60000", NULL};
    struct e2e_proc *responder = start_responder(e, peer_port, env);
    for (long round = 1; round <= 3; round++) {
        struct peer_cond hung = {peer_port, "accepted", round};
        if (!e2e_wait_until(e, peer_at_least, &hung, 30000))
            fail_msg("round %ld: the peer did not get a new post", round);
        e2e_kill(responder);
        e2e_restart(e, responder);
    }

    struct rsp_wait w = {coll, ids, "sent"};
    if (!e2e_wait_until(e, rsp_all_have, &w, 60000)) {
        for (size_t i = 0; ids[i]; i++)
            print_message("%s: %s\n", ids[i],
                          rsp_status(coll, ids[i]) ? rsp_status(coll, ids[i]) : "-");
        fail_msg("not every reply was reported sent");
    }
    assert_int_equal(rsp_peer_stat(peer_port, "accepted"), 9);
    assert_int_equal(rsp_peer_stat(peer_port, "max_copies"), 1);
    assert_true(rsp_peer_stat(peer_port, "duplicates") >= 3); /* the resends */
    e2e_finish(e);
}

static void test_x_dm_unknown_outcome_held(void **state)
{
    struct e2e *e = *state;
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    const char *peer_args[] = {
        "--port", "0",         "--token", RSP_TOKEN, "--hang-first",
        "1",      "--hang-ms", "120000",  NULL};
    struct e2e_proc *peer = e2e_start_tool(e, "platform-peer", peer_args);
    int peer_port = e2e_proc_port(peer);
    const char *topics[] = {"replies.delivered", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    const char *env[] = {"REPLY_TIMEOUT_MS=60000", NULL};
    struct e2e_proc *responder = start_responder(e, peer_port, env);
    char *json = rsp_reply("dm1", "x", "x:4242", NULL, "dm", "Your refund is on its way",
                           "agent:1", NULL);
    rsp_produce(e, json);
    sc_free(json);
    struct peer_cond one = {peer_port, "accepted", 1};
    assert_true(e2e_wait_until(e, peer_at_least, &one, 30000));
    e2e_kill(responder);
    e2e_restart(e, responder);
    const char *ids[] = {"dm1", NULL};
    struct rsp_wait w = {coll, ids, "held_for_review"};
    assert_true(e2e_wait_until(e, rsp_all_have, &w, 60000));
    assert_non_null(
        strstr(e2e_msg_str(rsp_receipt(coll, "dm1"), "error"), "unknown_outcome"));
    assert_int_equal(rsp_peer_stat(peer_port, "accepted"), 1);
    e2e_finish(e);
}

#define WAVE1 4
#define WAVE2 16
#define LIMIT 8

/* The brand's other tool posting on the same account: LIMIT statuses straight to the
 * peer, so the window is spent before the responders send anything and their first
 * send meets a 429 however the sends interleave (a responder that honours the
 * remaining-count headers never walks into the limit on its own). */
static void spend_window(int peer_port)
{
    char auth[96];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", RSP_TOKEN);
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    for (int i = 0; i < LIMIT; i++) {
        char body[96];
        snprintf(body, sizeof(body), "{\"status\":\"Scheduled post %d\"}", i);
        struct e2e_http_resp resp;
        long status = e2e_http(peer_port, "POST", "/api/v1/statuses", body, strlen(body),
                               headers, &resp);
        e2e_http_resp_cleanup(&resp);
        assert_int_equal(status, 200);
    }
}

static void test_429_pauses_every_replica(void **state)
{
    struct e2e *e = *state;
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    char window[32];
    /* Long enough that the first wave always lands inside one window on a loaded machine.
     */
    snprintf(window, sizeof(window), "%d", e2e_ms(10000));
    const char *peer_args[] = {"--port", "0",           "--token", RSP_TOKEN, "--limit",
                               "8",      "--window-ms", window,    NULL};
    _Static_assert(LIMIT == 8, "--limit above");
    struct e2e_proc *peer = e2e_start_tool(e, "platform-peer", peer_args);
    int peer_port = e2e_proc_port(peer);
    const char *topics[] = {"replies.delivered", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    const char *env[] = {"RATE_ACCOUNT_PER_MIN=1000000", "RATE_ACCOUNT_BURST=1000", NULL};
    struct e2e_proc *a = start_responder(e, peer_port, env);
    struct e2e_proc *b = start_responder(e, peer_port, env);
    /* b's join rebalanced the group: wait until both have their partitions (b is ready
     * only once the cooperative rebalance's second round gave it some), so the first wave
     * is sent at once rather than spread over the rebalance and past the peer's window.
     */
    assert_true(e2e_wait_http_status(e, e2e_proc_port(a), "/readyz", 200, 30000));
    assert_true(e2e_wait_http_status(e, e2e_proc_port(b), "/readyz", 200, 30000));
    assert_true(e2e_wait_http_status(e, e2e_proc_port(a), "/readyz", 200, 30000));

    spend_window(peer_port);
    char *ids[WAVE1 + WAVE2 + 1] = {0};
    for (int i = 0; i < WAVE1 + WAVE2; i++) {
        if (i == WAVE1) { /* the second wave while the account is paused */
            struct peer_cond limited = {peer_port, "rate_limited", 1};
            if (!e2e_wait_until(e, peer_at_least, &limited, 30000)) {
                for (int k = 0; k < i; k++)
                    sc_free(ids[k]);
                fail_msg("no 429 yet: accepted %ld, requests %ld",
                         rsp_peer_stat(peer_port, "accepted"),
                         rsp_peer_stat(peer_port, "requests"));
            }
        }
        ids[i] = sc_asprintf("rl-%d", i);
        char customer[32], text[64];
        snprintf(customer, sizeof(customer), "mastodon:u%d", i);
        snprintf(text, sizeof(text), "Thanks for waiting (%d)", i);
        char *json = rsp_reply(ids[i], "mastodon", customer, "mastodon:1", "public", text,
                               "agent:1", NULL);
        rsp_produce(e, json);
        sc_free(json);
    }
    struct rsp_wait w = {coll, (const char *const *)ids, "sent"};
    assert_true(e2e_wait_until(e, rsp_all_have, &w, 120000));
    assert_int_equal(rsp_peer_stat(peer_port, "accepted"), LIMIT + WAVE1 + WAVE2);
    assert_int_equal(rsp_peer_stat(peer_port, "max_copies"), 1);
    /* both replicas deferred replies because of the shared pause */
    const char *deferred = "socialcare_responder_deferred_total{reason=\"rate_limit\"}";
    double da = rsp_metric(e2e_proc_port(a), deferred);
    double db = rsp_metric(e2e_proc_port(b), deferred);
    if (da < 1 || db < 1)
        fail_msg("deferred by the shared pause: replica a %.0f, replica b %.0f", da, db);
    double pauses =
        rsp_metric(
            e2e_proc_port(a),
            "socialcare_responder_ratelimit_pauses_total{account=\"mastodon:default\"}") +
        rsp_metric(
            e2e_proc_port(b),
            "socialcare_responder_ratelimit_pauses_total{account=\"mastodon:default\"}");
    assert_true(pauses >= 1);
    /* nobody hammered the platform: without the pause every deferred reply would come
     * back every 200 ms..10 s; with it, each reply meets at most a few 429s */
    long limited = rsp_peer_stat(peer_port, "rate_limited");
    if (limited > 2 * (WAVE1 + WAVE2))
        fail_msg("the peer answered 429 %ld times", limited);
    for (int i = 0; i < WAVE1 + WAVE2; i++)
        sc_free(ids[i]);
    e2e_finish(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sigkill_mid_send, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_x_dm_unknown_outcome_held, e2e_setup,
                                        e2e_teardown),
        cmocka_unit_test_setup_teardown(test_429_pauses_every_replica, e2e_setup,
                                        e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
