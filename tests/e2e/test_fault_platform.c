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
#include "router_peer.h"

#ifndef SC_SOURCE_DIR
#define SC_SOURCE_DIR "."
#endif

/* A member of the peer's "early_by_form" object (-1 if absent). */
static long long early_form(struct fault_stack *fs, const char *form)
{
    struct e2e_http_resp resp;
    long long v = -1;
    if (e2e_http_get(e2e_proc_port(fs->peer), "/stats", &resp) == 200 && resp.json) {
        json_t *j = json_object_get(json_object_get(resp.json, "early_by_form"), form);
        if (json_is_integer(j))
            v = (long long)json_integer_value(j);
    }
    e2e_http_resp_cleanup(&resp);
    return v;
}

static int webhook_down_ms(void)
{
    const char *v = getenv("SC_FAULT_WEBHOOK_DOWN_MS");
    int ms = v && *v ? atoi(v) : 20000;
    return ms < 1000 ? 1000 : ms;
}

/* The built-in routing configuration with every department's webhook and escalation
 * webhook on the receiver, an SLA of 1.2 s for every priority, always open. */
static char *routing_config(struct e2e *e, int port)
{
    json_error_t jerr;
    json_t *cfg = json_load_file(SC_SOURCE_DIR "/config/routing.json", 0, &jerr);
    if (!cfg)
        fail_msg("cannot read config/routing.json: %s", jerr.text);
    json_t *deps = json_object_get(cfg, "departments");
    assert_true(json_array_size(deps) > 0);
    char hook[128], escalate[128];
    snprintf(hook, sizeof(hook), "http://127.0.0.1:%d/hooks/dept", port);
    snprintf(escalate, sizeof(escalate), "http://127.0.0.1:%d/hooks/escalate", port);
    for (size_t i = 0; i < json_array_size(deps); i++) {
        json_t *d = json_array_get(deps, i);
        json_object_set_new(d, "webhooks", json_pack("[s]", hook));
        json_object_set_new(d, "sla_minutes",
                            json_pack("{s:f,s:f,s:f,s:f}", "P1", 0.02, "P2", 0.02, "P3",
                                      0.02, "P4", 0.02));
        json_object_set_new(d, "business_hours", json_pack("{s:b}", "always", 1));
        json_object_set_new(
            d, "escalation",
            json_pack("{s:s,s:{s:s}}", "name", "Duty lead", "webhook", "url", escalate));
    }
    char *path = e2e_path(e, "routing.json");
    assert_int_equal(json_dump_file(cfg, path, JSON_INDENT(1)), 0);
    json_decref(cfg);
    return path;
}

struct breach_wait {
    struct fault_stack *fs;
    struct peer *peer;
    size_t breaches, missing;
};

/* True when every SLA breach collected so far was delivered to the webhook. */
static bool breaches_delivered(struct e2e *e, void *arg)
{
    (void)e;
    struct breach_wait *w = arg;
    w->breaches = w->missing = 0;
    for (size_t i = 0; i < e2e_collector_count(w->fs->coll); i++) {
        const struct e2e_msg *m = e2e_collector_msg(w->fs->coll, i);
        const char *type = e2e_msg_str(m, "type");
        if (strcmp(m->topic, "cases.events") != 0 || !type ||
            strcmp(type, "case.sla_breached") != 0)
            continue;
        char id[512];
        peer_identity(m->json, id, sizeof(id));
        w->breaches++;
        w->missing += !peer_delivered_has(w->peer, id);
    }
    return w->breaches > 0 && w->missing == 0;
}

static void webhook_check(struct fault_stack *fs, const char *name, void *arg)
{
    struct peer *peer = arg;
    struct breach_wait w = {fs, peer, 0, 0};
    /* the router's backoff reaches 60 s: allow it a full step after the outage */
    for (int pass = 0; pass < 2; pass++) {
        assert_true(e2e_collector_sync(fs->coll, 30000));
        if (!e2e_wait_until(fs->e, breaches_delivered, &w, 150000))
            fail_msg("%s: %zu of %zu SLA breaches never reached the escalation webhook",
                     name, w.missing, w.breaches);
    }
    size_t distinct = peer_delivered_distinct(peer);
    long long max = peer_delivered_max(peer);
    pthread_mutex_lock(&peer->lock);
    long long requests = peer->requests, answered = peer->answered;
    pthread_mutex_unlock(&peer->lock);
    long long early_s = early_form(fs, "seconds"), early_d = early_form(fs, "date"),
              early_r = early_form(fs, "reset");
    long long limited = fault_peer_stat(fs, "rate_limited");
    long long injected = fault_peer_stat(fs, "injected");
    fprintf(stderr,
            "%s: COUNTS webhooks: requests=%lld answered_200=%lld distinct=%zu "
            "max_per_notification=%lld sla_breach_events=%zu (all delivered) | "
            "platform: injected=%lld rate_limited=%lld early seconds=%lld date=%lld "
            "reset=%lld\n",
            name, requests, answered, distinct, max, w.breaches, injected, limited,
            early_s, early_d, early_r);
    if (max != 1)
        fail_msg("%s: a department notification was delivered %lld times", name, max);
    if (distinct < w.breaches)
        fail_msg("%s: %zu notifications delivered for %zu breaches", name, distinct,
                 w.breaches);
    assert_true(injected > 0 && limited > 0);
    if (early_s != 0 || early_d != 0 || early_r != 0)
        fail_msg("%s: the responder came back before the Retry-After in seconds (%lld "
                 "times), as an HTTP-date (%lld) or the rate-limit reset (%lld) it was "
                 "given",
                 name, early_s, early_d, early_r);
}

static void test_fault_platform(void **state)
{
    struct e2e *e = *state;
    const char *paths[] = {"/hooks/dept", "/hooks/escalate", NULL};
    struct peer *hooks = peer_start(0, paths);
    peer_set_down(hooks, true);
    int64_t down_since = e2e_now_ms();
    char *cfg_path = routing_config(e, peer_port(hooks));
    char *cfg_env = sc_asprintf("ROUTING_CONFIG=%s", cfg_path);
    sc_free(cfg_path);

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
    const char *responder_env[] = {"REPLY_TIMEOUT_MS=1000", "REPLY_MAX_ATTEMPTS=50",
                                   NULL};
    const char *router_env[] = {cfg_env, "SLA_SCAN_INTERVAL_MS=200",
                                "WEBHOOK_MAX_ATTEMPTS=100", "WEBHOOK_TIMEOUT_MS=1000",
                                NULL};
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
