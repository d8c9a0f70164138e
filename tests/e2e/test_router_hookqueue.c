/* End-to-end: the department webhook queue survives a router crash. The department's
 * endpoint is down; a burst of complaints opens an incident, whose incident.opened
 * notification goes to the Redis stream hooks:queue with the batch's writes and is
 * attempted (503) by the router; the router is SIGKILLed with the notification still
 * pending in the stream. The endpoint comes back (de-duplicating by the
 * X-Socialcare-Delivery id, as documented for receivers), the router is restarted (a new
 * consumer): it claims the entry once it has been idle for WEBHOOK_CLAIM_IDLE_MS and
 * delivers it. The endpoint got it exactly once (no duplicate by id either, in this
 * scenario), with the stream entry's id, and the stream is empty afterwards (acknowledged
 * and deleted), with nothing dead-lettered. Then, with two attempts allowed and the
 * endpoint down, a second incident's notification is dead-lettered to hooks:dead with
 * its reason and counted. */
#include "harness.h"

#include <time.h>

#include "router_peer.h"

#define N_SPIKE 20

struct applied {
    struct e2e_index *events;
    size_t n;
};

static bool all_applied(struct e2e *e, void *arg)
{
    (void)e;
    struct applied *a = arg;
    return e2e_index_distinct(a->events) >= a->n;
}

static long long xlen(struct e2e *e, const char *stream)
{
    redisReply *r = e2e_redis(e, "XLEN %s", stream);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    return v;
}

/* The notification was read by the router (pending in the group) and attempted. */
static bool attempted(struct e2e *e, void *arg)
{
    struct peer *p = arg;
    pthread_mutex_lock(&p->lock);
    int requests = p->requests;
    pthread_mutex_unlock(&p->lock);
    redisReply *r = e2e_redis(e, "XPENDING hooks:queue router");
    bool pending = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                   r->element[0]->type == REDIS_REPLY_INTEGER &&
                   r->element[0]->integer >= 1;
    if (r)
        freeReplyObject(r);
    return requests >= 1 && pending;
}

static bool delivered(struct e2e *e, void *arg)
{
    struct peer *p = arg;
    return peer_count(p, "/hooks/tech", "incident.opened", 200) >= 1 &&
           xlen(e, "hooks:queue") == 0;
}

static bool dead_lettered(struct e2e *e, void *arg)
{
    (void)arg;
    return xlen(e, "hooks:dead") == 1 && xlen(e, "hooks:queue") == 0;
}

static void produce(struct e2e *e, struct applied *a, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char id[32], author[32];
        snprintf(id, sizeof(id), "x:%s%d", prefix, i);
        snprintf(author, sizeof(author), "%s%d", prefix, i);
        struct rpost p = {.id = id,
                          .author = author,
                          .intent = "complaint",
                          .topic = "technical",
                          .score = -0.6};
        produce_post(e, &p);
        a->n++;
    }
}

static void test_router_hookqueue(void **state)
{
    struct e2e *e = *state;
    const char *paths[] = {"/hooks/tech", NULL};
    struct peer *peer = peer_start(0, paths);
    peer_set_down(peer, true);
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    char *cfg = sc_asprintf(
        "{\"version\":1,\"default_department\":\"care\",\n"
        "\"departments\":[{\"name\":\"care\"},\n"
        " {\"name\":\"tech\",\"webhooks\":[\"http://127.0.0.1:%d/hooks/tech\"]}],\n"
        "\"rules\":[{\"match\":{\"topic\":\"technical\"},\"department\":\"tech\"}],\n"
        "\"spikes\":{\"bucket_seconds\":0.2,\"window_buckets\":1,\"factor\":4,"
        "\"min_count\":8,\"baseline_alpha\":0.5,\"samples\":2,\"phrases_per_post\":0}}\n",
        peer_port(peer));
    char *path = e2e_path(e, "routing.json");
    e2e_write_file(path, cfg, strlen(cfg), false);
    char *env_cfg = sc_asprintf("ROUTING_CONFIG=%s", path);
    const char *env[] = {env_cfg,
                         "ROUTER_WEBHOOK_SECRET=hook-secret",
                         "WEBHOOK_CLAIM_IDLE_MS=500",
                         "WEBHOOK_MAX_ATTEMPTS=100",
                         "WEBHOOK_TIMEOUT_MS=2000",
                         NULL};
    const char *topics[] = {"cases.events", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    struct applied a = {.events = e2e_index_new(coll, "cases.events", "post_id", NULL)};
    struct e2e_proc *router = e2e_start_service(e, "escalation-router", env);

    /* one complaint teaches the baseline; a burst a few buckets later opens an incident
     */
    produce(e, &a, "w", 1);
    assert_true(e2e_wait_until(e, all_applied, &a, 30000));
    int64_t later = e2e_now_ms() + 700;
    (void)e2e_wait_until(e, router_clock_reached, &later, 5000);
    produce(e, &a, "sp", N_SPIKE);
    assert_true(e2e_wait_until(e, all_applied, &a, 30000));
    assert_true(e2e_wait_until(e, attempted, peer, 30000));
    assert_int_equal(peer_count(peer, "/hooks/tech", NULL, 200), 0);

    /* crash with the notification pending */
    e2e_kill(router);
    assert_int_equal(xlen(e, "hooks:queue"), 1);
    peer_set_dedupe(peer, true);
    peer_set_down(peer, false);
    e2e_restart(e, router);
    if (!e2e_wait_until(e, delivered, peer, 60000))
        fail_msg("not delivered after the restart: %d answered 200, stream length %lld",
                 peer_count(peer, "/hooks/tech", NULL, 200), xlen(e, "hooks:queue"));

    /* exactly once, with its stream id, signed; nothing dead-lettered */
    assert_int_equal(peer_count(peer, "/hooks/tech", "incident.opened", 200), 1);
    assert_int_equal(peer_count(peer, "/hooks/tech", NULL, 200), 1);
    pthread_mutex_lock(&peer->lock);
    assert_int_equal(peer->duplicates, 0);
    const struct peer_hit *ok = NULL;
    for (int i = 0; i < peer->n_hits; i++) {
        assert_true(peer->hits[i].delivery[0] != '\0');
        /* every attempt, before and after the crash, carries the same id */
        assert_string_equal(peer->hits[i].delivery, peer->hits[0].delivery);
        if (peer->hits[i].status == 200)
            ok = &peer->hits[i];
    }
    assert_non_null(ok);
    assert_true(peer_signature_ok(ok, "hook-secret"));
    pthread_mutex_unlock(&peer->lock);
    assert_true(xlen(e, "hooks:dead") <= 0);
    assert_true(router_metric(router, "socialcare_router_webhooks_total{department="
                                      "\"tech\",outcome=\"delivered\"}") == 1);

    /* Bounded retries: a new router allowed two attempts, the endpoint down again, a
     * second incident (after resolving the first): its notification is dead-lettered
     * to hooks:dead with the reason, counted, and removed from the queue. */
    assert_int_equal(e2e_stop(router, 10000), 0);
    peer_set_down(peer, true);
    const char *env2[] = {env_cfg,
                          "ROUTER_WEBHOOK_SECRET=hook-secret",
                          "WEBHOOK_CLAIM_IDLE_MS=500",
                          "WEBHOOK_MAX_ATTEMPTS=2",
                          "ROUTER_API_TOKEN=tok",
                          NULL};
    struct e2e_proc *router2 = e2e_start_service(e, "escalation-router", env2);
    redisReply *ids = e2e_redis(e, "ZRANGE incidents 0 -1");
    assert_non_null(ids);
    assert_int_equal(ids->elements, 1);
    char body[200];
    snprintf(body, sizeof(body), "{\"id\":\"%s\"}", ids->element[0]->str);
    freeReplyObject(ids);
    const char *auth[] = {"Authorization: Bearer tok", "Content-Type: application/json",
                          NULL};
    struct e2e_http_resp resp;
    assert_int_equal(e2e_http(e2e_proc_port(router2), "POST", "/v1/incidents/resolve",
                              body, strlen(body), auth, &resp),
                     200);
    e2e_http_resp_cleanup(&resp);
    later = e2e_now_ms() + 700;
    (void)e2e_wait_until(e, router_clock_reached, &later, 5000);
    produce(e, &a, "sq", N_SPIKE);
    assert_true(e2e_wait_until(e, all_applied, &a, 30000));
    assert_true(e2e_wait_until(e, dead_lettered, NULL, 30000));
    redisReply *dead = e2e_redis(e, "XRANGE hooks:dead - +");
    assert_non_null(dead);
    assert_int_equal(dead->type, REDIS_REPLY_ARRAY);
    assert_int_equal(dead->elements, 1);
    const redisReply *f = dead->element[0]->element[1];
    bool has_reason = false, has_dept = false;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        if (!strcmp(f->element[i]->str, "reason"))
            has_reason = strstr(f->element[i + 1]->str, "2 attempts") != NULL;
        if (!strcmp(f->element[i]->str, "department"))
            has_dept = !strcmp(f->element[i + 1]->str, "tech");
    }
    freeReplyObject(dead);
    assert_true(has_reason);
    assert_true(has_dept);
    assert_true(router_metric(router2, "socialcare_router_webhooks_total{department="
                                       "\"tech\",outcome=\"dead\"}") == 1);
    assert_int_equal(peer_count(peer, "/hooks/tech", NULL, 200), 1); /* still one */

    sc_free(env_cfg);
    sc_free(path);
    sc_free(cfg);
    e2e_finish(e);
    peer_free(peer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_router_hookqueue, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
