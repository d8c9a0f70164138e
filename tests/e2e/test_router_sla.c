/* End-to-end: SLA clocks and department webhooks of the escalation router, through the
 * dev broker and a real Redis. A routing file gives department "ops" a sub-second P3
 * budget and a webhook peer that fails its first two requests. A complaint nobody answers
 * breaches: exactly one case.sla_breached event (no post_id, so it is never counted as a
 * post's case event),
 * socialcare_router_sla_breaches_total{department="ops",priority="P3"} = 1, and the
 * escalation notification reaches the escalation contact's hook after retries with a
 * valid HMAC signature. A complaint routed to "desk" (one hour budget) that an agent
 * answers stops its clock (no breach, off sla:pending), while the automatic
 * acknowledgement alone does not; the first-response histogram counts it. */
#include "harness.h"

#include "router_peer.h"

#define SECRET "e2e-webhook-secret"

static bool breached(struct e2e *e, void *arg)
{
    (void)e;
    return count_msgs(arg, "cases.events", "type", "case.sla_breached") >= 1;
}

struct hook_wait {
    struct peer *peer;
    const char *path;
    const char *type;
};

static bool hook_delivered(struct e2e *e, void *arg)
{
    (void)e;
    struct hook_wait *w = arg;
    return peer_count(w->peer, w->path, w->type, 200) >= 1;
}

struct case_wait {
    struct e2e_collector *coll;
    size_t n;
};

static bool case_events(struct e2e *e, void *arg)
{
    (void)e;
    struct case_wait *w = arg;
    return count_msgs(w->coll, "cases.events", "type", "case.opened") +
               count_msgs(w->coll, "cases.events", "type", "case.updated") >=
           w->n;
}

static bool ack_seen(struct e2e *e, void *arg)
{
    (void)e;
    return find_msg(arg, "replies.outbound", "reply_id", "ack-x:s2", NULL, NULL) != NULL;
}

static bool not_pending(struct e2e *e, void *arg)
{
    redisReply *r = e2e_redis(e, "ZSCORE sla:pending %s", (const char *)arg);
    bool gone = r->type == REDIS_REPLY_NIL;
    freeReplyObject(r);
    return gone;
}

static bool first_response_counted(struct e2e *e, void *arg)
{
    (void)e;
    return router_metric(arg, "socialcare_first_response_seconds_count") >= 1;
}

static bool hook_counted(struct e2e *e, void *arg)
{
    (void)e;
    return router_metric(arg, "socialcare_router_webhooks_total{department=\"ops\","
                              "outcome=\"delivered\"}") >= 1;
}

static void test_router_sla(void **state)
{
    struct e2e *e = *state;
    const char *paths[] = {"/hooks/ops", "/hooks/escalate", "/hooks/desk", NULL};
    struct peer *peer = peer_start(2, paths);
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);

    char *cfg = sc_asprintf(
        "{\"version\":1,\"default_department\":\"ops\",\n"
        "\"departments\":[\n"
        " {\"name\":\"ops\",\"webhooks\":[\"http://127.0.0.1:%d/hooks/ops\"],\n"
        "  \"sla_minutes\":{\"P1\":0.01,\"P2\":0.01,\"P3\":0.01,\"P4\":0.01},\n"
        "  \"business_hours\":{\"always\":true},\n"
        "  \"escalation\":{\"name\":\"Ops lead\",\"webhook\":{\"url\":"
        "\"http://127.0.0.1:%d/hooks/escalate\"}},\"signature\":\"Ops\"},\n"
        " {\"name\":\"desk\",\"webhooks\":[\"http://127.0.0.1:%d/hooks/desk\"],\n"
        "  \"sla_minutes\":{\"P3\":60}}],\n"
        "\"rules\":[{\"name\":\"desk\",\"match\":{\"topic\":\"desk\"},\"department\":"
        "\"desk\"}],\n"
        "\"templates\":{\"complaint\":\"{handle} We are on it ({case}). "
        "{signature}\"}}\n",
        peer_port(peer), peer_port(peer), peer_port(peer));
    char *path = e2e_path(e, "routing.json");
    e2e_write_file(path, cfg, strlen(cfg), false);
    char *env_cfg = sc_asprintf("ROUTING_CONFIG=%s", path);
    const char *env[] = {env_cfg, "ROUTER_WEBHOOK_SECRET=" SECRET,
                         "SLA_SCAN_INTERVAL_MS=100", NULL};
    const char *topics[] = {"cases.events", "replies.outbound", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    struct e2e_proc *router = e2e_start_service(e, "escalation-router", env);

    struct rpost late = {.id = "x:s1",
                         .author = "late",
                         .intent = "complaint",
                         .topic = "billing",
                         .score = -0.4,
                         .followers = 10};
    struct rpost served = {.id = "x:s2",
                           .author = "served",
                           .intent = "complaint",
                           .topic = "desk",
                           .score = -0.4,
                           .followers = 10};
    produce_post(e, &late);
    produce_post(e, &served);
    struct case_wait cw = {coll, 2};
    assert_true(e2e_wait_until(e, case_events, &cw, 30000));

    /* The automatic acknowledgement of "served" is delivered: first response measured,
     * but the SLA clock keeps running (a bot is not an answer). */
    assert_true(e2e_wait_until(e, ack_seen, coll, 30000));
    const struct e2e_msg *ack =
        find_msg(coll, "replies.outbound", "reply_id", "ack-x:s2", NULL, NULL);
    assert_non_null(ack);
    const char *case_id = e2e_msg_str(ack, "case_id");
    assert_string_equal(case_id, "c-x:s2");
    char *delivered = sc_asprintf("{\"v\":1,\"reply_id\":\"ack-x:s2\",\"case_id\":\"%s\","
                                  "\"customer\":\"x:served\",\"status\":\"sent\","
                                  "\"platform_post_id\":\"p1\",\"attempts\":1,\"at\":"
                                  "\"2026-11-22T07:33:31Z\"}",
                                  case_id);
    e2e_produce(e, "replies.delivered", "x:served", delivered, strlen(delivered), NULL);
    assert_true(e2e_wait_until(e, first_response_counted, router, 30000));
    redisReply *r = e2e_redis(e, "ZSCORE sla:pending x:served");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
    /* An agent's reply stops the clock and the case waits for the customer. */
    sc_free(delivered);
    delivered = sc_asprintf("{\"v\":1,\"reply_id\":\"agent-1\",\"case_id\":\"%s\","
                            "\"customer\":\"x:served\",\"status\":\"sent\","
                            "\"platform_post_id\":\"p2\",\"attempts\":1,\"at\":"
                            "\"2026-11-22T07:33:32Z\"}",
                            case_id);
    e2e_produce(e, "replies.delivered", "x:served", delivered, strlen(delivered), NULL);
    assert_true(e2e_wait_until(e, not_pending, "x:served", 30000));
    r = e2e_redis(e, "HGET case:{x:served} status");
    assert_string_equal(r->str, "waiting_for_customer");
    freeReplyObject(r);

    /* "late" breaches once. */
    assert_true(e2e_wait_until(e, breached, coll, 30000));
    struct hook_wait hw = {peer, "/hooks/escalate", "case.sla_breached"};
    assert_true(e2e_wait_until(e, hook_delivered, &hw, 30000));
    assert_true(e2e_collector_sync(coll, 30000));
    assert_int_equal(count_msgs(coll, "cases.events", "type", "case.sla_breached"), 1);
    const struct e2e_msg *b =
        find_msg(coll, "cases.events", "type", "case.sla_breached", NULL, NULL);
    assert_string_equal(e2e_msg_str(b, "case_id"), "c-x:s1");
    assert_string_equal(e2e_msg_str(b, "customer"), "x:late");
    assert_string_equal(e2e_msg_str(b, "department"), "ops");
    assert_string_equal(e2e_msg_str(b, "priority"), "P3");
    assert_null(e2e_msg_str(b, "post_id"));
    assert_null(find_msg(coll, "cases.events", "type", "case.sla_breached", "customer",
                         "x:served"));
    assert_true(router_metric(router, "socialcare_router_sla_breaches_total{department="
                                      "\"ops\",priority=\"P3\"}") == 1);
    r = e2e_redis(e, "ZSCORE sla:pending x:late");
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);

    /* The escalation went to the escalation contact's hook (not the department's),
     * after the peer's two failures, signed. */
    assert_int_equal(peer_count(peer, "/hooks/escalate", NULL, 503), 2);
    assert_int_equal(peer_count(peer, "/hooks/escalate", "case.sla_breached", 200), 1);
    assert_int_equal(peer_count(peer, "/hooks/ops", NULL, 200), 0);
    pthread_mutex_lock(&peer->lock);
    int signed_ok = 0;
    for (int i = 0; i < peer->n_hits; i++) {
        const struct peer_hit *h = &peer->hits[i];
        assert_true(peer_signature_ok(h, SECRET));
        assert_false(peer_signature_ok(h, "another secret"));
        signed_ok++;
        if (h->status == 200)
            assert_string_equal(
                json_string_value(json_object_get(h->json, "escalation_contact")),
                "Ops lead");
    }
    pthread_mutex_unlock(&peer->lock);
    assert_int_equal(signed_ok, 3);
    /* the peer answered before the router read the answer: wait for the count */
    assert_true(e2e_wait_until(e, hook_counted, router, 30000));
    assert_true(router_metric(router,
                              "socialcare_router_webhooks_total{department=\"ops\","
                              "outcome=\"retried\"}") == 2);
    assert_true(router_metric(router,
                              "socialcare_router_webhooks_total{department=\"ops\","
                              "outcome=\"delivered\"}") == 1);

    sc_free(delivered);
    sc_free(env_cfg);
    sc_free(path);
    sc_free(cfg);
    e2e_finish(e);
    peer_free(peer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_router_sla, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
