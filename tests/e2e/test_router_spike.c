/* End-to-end: spikes -> incidents in the escalation router, through the dev broker and a
 * real Redis. A steady stream of complaints about billing and about shipping (two per
 * 0.5 s bucket each, far below min_count 30 over the 3-bucket window) runs for a few
 * seconds, then 120 billing complaints arrive at once while the noise goes on. Exactly
 * one incident opens, for billing: the billing department's webhook gets one
 * incident.opened notification with the size and three samples (none for shipping), most
 * spike customers' cases are linked and their acknowledgement is the incident message,
 * the case events carry the incident id; steady shipping noise opens nothing. Resolving
 * the incident through the API sends every linked customer one follow-up, except those
 * whose region (a quarter of the spike posts come from "eu") is in quiet mode by then:
 * their follow-ups are held. Recurring-phrase incidents are off here (the spike posts
 * share one text; test_router_phrase.c covers phrases). */
#include "harness.h"

#include <time.h>

#include "router_peer.h"

#define TOKEN   "spike-token"
#define N_SPIKE 120
#define TICK_MS 250

static const char *const auth[] = {"Authorization: Bearer " TOKEN,
                                   "Content-Type: application/json", NULL};

static void noise_tick(struct e2e *e, struct router_stream *s, int tick)
{
    static const char *const topics[] = {"billing", "shipping"};
    for (int t = 0; t < 2; t++) {
        char id[32], author[32];
        snprintf(id, sizeof(id), "x:n%d-%d", tick, t);
        snprintf(author, sizeof(author), "n%d-%d", tick, t);
        struct rpost p = {.id = id,
                          .author = author,
                          .intent = "complaint",
                          .topic = topics[t],
                          .score = -0.5};
        produce_post(e, &p);
        s->n_posts++;
    }
}

static void test_router_spike(void **state)
{
    struct e2e *e = *state;
    const char *paths[] = {"/hooks/billing", "/hooks/shipping", NULL};
    struct peer *peer = peer_start(0, paths);
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    char *cfg = sc_asprintf(
        "{\"version\":1,\"default_department\":\"care\",\n"
        "\"departments\":[{\"name\":\"care\"},\n"
        " {\"name\":\"billing\",\"webhooks\":[\"http://127.0.0.1:%d/hooks/billing\"],"
        "\"signature\":\"Priya\"},\n"
        " {\"name\":\"shipping\",\"webhooks\":[\"http://127.0.0.1:%d/hooks/"
        "shipping\"]}],\n"
        "\"rules\":[{\"match\":{\"topic\":\"billing\"},\"department\":\"billing\"},\n"
        "  {\"match\":{\"topic\":\"shipping\"},\"department\":\"shipping\"}],\n"
        "\"templates\":{\"complaint\":\"{handle} Sorry, case {case}.\",\n"
        "  \"incident\":\"{handle} We know about this problem (case {case}).\",\n"
        "  \"incident_resolved\":\"Fixed now, thank you for your patience ({case}). "
        "{signature}\"},\n"
        "\"spikes\":{\"bucket_seconds\":0.5,\"window_buckets\":3,\"factor\":4,"
        "\"min_count\":30,\"baseline_alpha\":0.3,\"samples\":3,"
        "\"phrases_per_post\":0}}\n",
        peer_port(peer), peer_port(peer));
    char *path = e2e_path(e, "routing.json");
    e2e_write_file(path, cfg, strlen(cfg), false);
    char *env_cfg = sc_asprintf("ROUTING_CONFIG=%s", path);
    const char *env[] = {env_cfg, "ROUTER_API_TOKEN=" TOKEN, NULL};
    const char *topics[] = {"cases.events", "replies.outbound", NULL};
    struct router_stream s = {.coll = e2e_collector_new(e, topics)};
    s.events = e2e_index_new(s.coll, "cases.events", "post_id", NULL);
    struct e2e_proc *router = e2e_start_service(e, "escalation-router", env);

    /* Warm up: the router has its partitions and has applied a first post. */
    noise_tick(e, &s, 0);
    assert_true(e2e_wait_until(e, router_all_events, &s, 30000));

    /* four seconds of steady noise: eight buckets learned */
    router_noise(e, &s, 1, 17, TICK_MS, noise_tick);
    for (int i = 0; i < N_SPIKE; i++) {
        char id[32], author[32];
        snprintf(id, sizeof(id), "x:sp%d", i);
        snprintf(author, sizeof(author), "sp%d", i);
        struct rpost p = {.id = id,
                          .author = author,
                          .intent = "complaint",
                          .topic = "billing",
                          .score = -0.7,
                          .region = i % 4 == 0 ? "eu" : NULL,
                          .text = "The app charges me twice at checkout"};
        produce_post(e, &p);
        s.n_posts++;
    }
    router_noise(e, &s, 17, 25, TICK_MS, noise_tick);
    if (!e2e_wait_until(e, router_all_events, &s, 60000))
        fail_msg("%zu of %zu posts applied", e2e_index_distinct(s.events), s.n_posts);
    router_settle(e, router, s.coll, s.n_posts);

    /* One incident, for billing. */
    struct e2e_http_resp resp;
    json_t *inc = router_single_incident(router, auth, &resp);
    assert_string_equal(json_string_value(json_object_get(inc, "topic")), "billing");
    assert_string_equal(json_string_value(json_object_get(inc, "department")), "billing");
    assert_string_equal(json_string_value(json_object_get(inc, "status")), "open");
    char incident_id[128];
    snprintf(incident_id, sizeof(incident_id), "%s",
             json_string_value(json_object_get(inc, "id")));
    json_int_t linked = json_integer_value(json_object_get(inc, "cases"));
    e2e_http_resp_cleanup(&resp);
    fprintf(stderr, "spike: incident %s with %lld linked cases\n", incident_id,
            (long long)linked);
    assert_true(linked >= N_SPIKE / 2);
    assert_true(router_metric(
                    router, "socialcare_router_incidents_total{topic=\"billing\"}") == 1);
    assert_true(router_metric(
                    router, "socialcare_router_incidents_total{topic=\"shipping\"}") < 0);

    /* The billing department was told once, with size and samples; shipping never. */
    assert_int_equal(peer_count(peer, "/hooks/billing", "incident.opened", 200), 1);
    assert_int_equal(peer_count(peer, "/hooks/shipping", NULL, 200), 0);
    pthread_mutex_lock(&peer->lock);
    for (int i = 0; i < peer->n_hits; i++) {
        json_t *j = peer->hits[i].json;
        assert_true(json_integer_value(json_object_get(j, "size")) >= 30);
        assert_int_equal(json_array_size(json_object_get(j, "samples")), 3);
        assert_string_equal(json_string_value(json_object_get(j, "incident_id")),
                            incident_id);
    }
    pthread_mutex_unlock(&peer->lock);

    /* Linked cases: their events carry the incident id, their acknowledgement is the
     * incident message; no shipping post is linked. */
    size_t linked_events = 0, incident_acks = 0;
    for (size_t i = 0; i < e2e_collector_count(s.coll); i++) {
        const struct e2e_msg *m = e2e_collector_msg(s.coll, i);
        if (!strcmp(m->topic, "cases.events")) {
            const char *iid = e2e_msg_str(m, "incident_id");
            if (!iid)
                continue;
            assert_string_equal(iid, incident_id);
            assert_string_equal(e2e_msg_str(m, "department"), "billing");
            linked_events++;
        } else if (strstr(e2e_msg_str(m, "text"), "We know about this problem")) {
            incident_acks++;
        }
    }
    assert_true(linked_events >= (size_t)linked);
    assert_int_equal(incident_acks, (size_t)linked); /* one per linked customer */

    /* The linked customers from region eu (spike posts sp<i> with i % 4 == 0). */
    redisReply *members = e2e_redis(e, "SMEMBERS incident:{%s}:cases", incident_id);
    assert_non_null(members);
    assert_int_equal(members->type, REDIS_REPLY_ARRAY);
    json_int_t linked_eu = 0;
    for (size_t i = 0; i < members->elements; i++) {
        int n;
        if (sscanf(members->element[i]->str, "x:sp%d", &n) == 1 && n % 4 == 0)
            linked_eu++;
    }
    freeReplyObject(members);
    assert_true(linked_eu > 0);

    /* Quiet mode for eu, then resolve: one follow-up per linked customer outside eu. */
    static const char quiet_eu[] = "{\"region\":\"eu\",\"minutes\":10}";
    assert_int_equal(e2e_http(e2e_proc_port(router), "POST", "/v1/quiet", quiet_eu,
                              strlen(quiet_eu), auth, &resp),
                     200);
    e2e_http_resp_cleanup(&resp);
    char body[200];
    snprintf(body, sizeof(body), "{\"id\":\"%s\"}", incident_id);
    assert_int_equal(e2e_http(e2e_proc_port(router), "POST", "/v1/incidents/resolve",
                              body, strlen(body), auth, &resp),
                     200);
    assert_int_equal(json_integer_value(json_object_get(resp.json, "followups")),
                     linked - linked_eu);
    assert_int_equal(json_integer_value(json_object_get(resp.json, "held_by_quiet_mode")),
                     linked_eu);
    e2e_http_resp_cleanup(&resp);
    assert_true(e2e_collector_sync(s.coll, 30000));
    char prefix[160];
    snprintf(prefix, sizeof(prefix), "incident-%s-", incident_id);
    size_t followups = 0;
    for (size_t i = 0; i < e2e_collector_count(s.coll); i++) {
        const struct e2e_msg *m = e2e_collector_msg(s.coll, i);
        const char *rid = e2e_msg_str(m, "reply_id");
        if (!strcmp(m->topic, "replies.outbound") && rid &&
            !strncmp(rid, prefix, strlen(prefix))) {
            followups++;
            assert_non_null(strstr(e2e_msg_str(m, "text"), "Fixed now"));
            int n;
            const char *customer = e2e_msg_str(m, "customer");
            assert_false(sscanf(customer, "x:sp%d", &n) == 1 && n % 4 == 0); /* not eu */
        }
    }
    assert_int_equal(followups, (size_t)(linked - linked_eu));
    assert_int_equal(e2e_http(e2e_proc_port(router), "POST", "/v1/incidents/resolve",
                              "{\"id\":\"inc-nope\"}", 17, auth, &resp),
                     404);
    e2e_http_resp_cleanup(&resp);

    sc_free(env_cfg);
    sc_free(path);
    sc_free(cfg);
    e2e_finish(e);
    peer_free(peer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_router_spike, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
