/* End-to-end: a recurring phrase spiking inside a steady topic opens its own incident,
 * through the dev broker and a real Redis. Steady technical complaints (six per 0.25 s
 * tick, twelve per 0.5 s bucket, far below the topic's factor over its baseline) with
 * varied texts (random pairs from a vocabulary, "customer service" in every third post)
 * run for a few seconds, then 40 complaints mentioning "app login error" arrive at once
 * while the noise goes on. Exactly one incident opens, a phrase incident naming the
 * phrase ("app login" or "login error": the bigrams of one post join one incident); the
 * technical department's webhook gets one incident.opened with the phrase; only spike
 * customers are linked (most of them), and they get the incident message; the varied
 * noise and the steady "customer service" open nothing, and the topic opens no
 * incident of its own. */
#include "harness.h"

#include <time.h>

#include "router_peer.h"

#define TOKEN    "phrase-token"
#define N_SPIKE  40
#define TICK_MS  250
#define PER_TICK 6

static const char *const auth[] = {"Authorization: Bearer " TOKEN,
                                   "Content-Type: application/json", NULL};

static const char *const vocab[] = {
    "screen",  "battery", "update",  "router",  "modem",    "cable",   "signal",
    "speaker", "camera",  "printer", "charger", "keyboard", "monitor", "laptop",
    "tablet",  "mouse",   "headset", "adapter", "firmware", "driver",  "sensor",
    "remote",  "antenna", "fan",     "plug",    "socket",   "lamp",    "switch",
    "server",  "backup",  "sync",    "widget",  "pairing",  "volume",  "display",
    "touch",   "storage", "memory",  "profile", "setting"};
#define N_VOCAB (sizeof(vocab) / sizeof(vocab[0]))

static unsigned next_rand(struct router_stream *s)
{
    s->seed = s->seed * 1103515245u + 12345u;
    return (s->seed >> 16) & 0x7fff;
}

static void noise_tick(struct e2e *e, struct router_stream *s, int tick)
{
    for (int t = 0; t < PER_TICK; t++) {
        char id[32], author[32], text[200];
        snprintf(id, sizeof(id), "x:n%d-%d", tick, t);
        snprintf(author, sizeof(author), "n%d-%d", tick, t);
        const char *a = vocab[next_rand(s) % N_VOCAB], *b = vocab[next_rand(s) % N_VOCAB];
        const char *c = vocab[next_rand(s) % N_VOCAB];
        if (t % 3 == 0)
            snprintf(text, sizeof(text), "customer service: my %s, the %s", a, b);
        else
            snprintf(text, sizeof(text), "My %s and the %s %s are broken", a, b, c);
        struct rpost p = {.id = id,
                          .author = author,
                          .intent = "complaint",
                          .topic = "technical",
                          .score = -0.5,
                          .text = text};
        produce_post(e, &p);
        s->n_posts++;
    }
}

static void test_router_phrase(void **state)
{
    struct e2e *e = *state;
    const char *paths[] = {"/hooks/tech", NULL};
    struct peer *peer = peer_start(0, paths);
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    char *cfg = sc_asprintf(
        "{\"version\":1,\"default_department\":\"care\",\n"
        "\"departments\":[{\"name\":\"care\"},\n"
        " {\"name\":\"tech\",\"webhooks\":[\"http://127.0.0.1:%d/hooks/tech\"]}],\n"
        "\"rules\":[{\"match\":{\"topic\":\"technical\"},\"department\":\"tech\"}],\n"
        "\"templates\":{\"complaint\":\"{handle} Sorry, case {case}.\",\n"
        "  \"incident\":\"{handle} We know about this problem (case {case}).\"},\n"
        "\"spikes\":{\"bucket_seconds\":0.5,\"window_buckets\":3,\"factor\":4,"
        "\"min_count\":60,\"baseline_alpha\":0.3,\"samples\":3,\"phrases_per_post\":3,"
        "\"phrase_min_count\":15,\"phrase_factor\":4,\"phrase_history_buckets\":10}}\n",
        peer_port(peer));
    char *path = e2e_path(e, "routing.json");
    e2e_write_file(path, cfg, strlen(cfg), false);
    char *env_cfg = sc_asprintf("ROUTING_CONFIG=%s", path);
    const char *env[] = {env_cfg, "ROUTER_API_TOKEN=" TOKEN, NULL};
    const char *topics[] = {"cases.events", "replies.outbound", NULL};
    struct router_stream s = {.coll = e2e_collector_new(e, topics), .seed = 7};
    s.events = e2e_index_new(s.coll, "cases.events", "post_id", NULL);
    struct e2e_proc *router = e2e_start_service(e, "escalation-router", env);

    /* Warm up: the router has its partitions and has applied a first tick. */
    noise_tick(e, &s, 0);
    assert_true(e2e_wait_until(e, router_all_events, &s, 30000));

    /* four seconds of steady varied noise: eight buckets */
    router_noise(e, &s, 1, 17, TICK_MS, noise_tick);
    for (int i = 0; i < N_SPIKE; i++) {
        char id[32], author[32];
        snprintf(id, sizeof(id), "x:sp%d", i);
        snprintf(author, sizeof(author), "sp%d", i);
        struct rpost p = {.id = id,
                          .author = author,
                          .intent = "complaint",
                          .topic = "technical",
                          .score = -0.7,
                          .text = i % 2 ? "App login error AGAIN. Cannot get in"
                                        : "the app login error is back"};
        produce_post(e, &p);
        s.n_posts++;
    }
    router_noise(e, &s, 17, 25, TICK_MS, noise_tick);
    if (!e2e_wait_until(e, router_all_events, &s, 60000))
        fail_msg("%zu of %zu posts applied", e2e_index_distinct(s.events), s.n_posts);
    router_settle(e, router, s.coll, s.n_posts);

    /* One incident: the phrase's. */
    struct e2e_http_resp resp;
    json_t *inc = router_single_incident(router, auth, &resp);
    assert_string_equal(json_string_value(json_object_get(inc, "topic")), "technical");
    assert_string_equal(json_string_value(json_object_get(inc, "department")), "tech");
    assert_string_equal(json_string_value(json_object_get(inc, "status")), "open");
    const char *phrase_v = json_string_value(json_object_get(inc, "phrase"));
    assert_non_null(phrase_v);
    if (strcmp(phrase_v, "app login") != 0 && strcmp(phrase_v, "login error") != 0)
        fail_msg("incident phrase %s: %s", phrase_v, resp.body);
    char incident_id[128], phrase[64];
    snprintf(incident_id, sizeof(incident_id), "%s",
             json_string_value(json_object_get(inc, "id")));
    snprintf(phrase, sizeof(phrase), "%s", phrase_v);
    json_int_t linked = json_integer_value(json_object_get(inc, "cases"));
    e2e_http_resp_cleanup(&resp);
    fprintf(stderr, "phrase: incident %s (\"%s\") with %lld linked cases\n", incident_id,
            phrase, (long long)linked);
    assert_true(linked >= N_SPIKE / 2);
    assert_true(
        router_metric(router,
                      "socialcare_router_phrase_incidents_total{topic=\"technical\"}") ==
        1);
    assert_true(
        router_metric(router, "socialcare_router_incidents_total{topic=\"technical\"}") <
        0);

    /* The tech department was told once, with the phrase and samples of it. */
    assert_int_equal(peer_count(peer, "/hooks/tech", "incident.opened", 200), 1);
    assert_int_equal(peer_count(peer, "/hooks/tech", NULL, 200), 1);
    pthread_mutex_lock(&peer->lock);
    for (int i = 0; i < peer->n_hits; i++) {
        json_t *j = peer->hits[i].json;
        assert_string_equal(json_string_value(json_object_get(j, "phrase")), phrase);
        assert_string_equal(json_string_value(json_object_get(j, "incident_id")),
                            incident_id);
        assert_true(json_integer_value(json_object_get(j, "size")) >= 15);
        json_t *samples = json_object_get(j, "samples");
        assert_int_equal(json_array_size(samples), 3);
        for (size_t k = 0; k < json_array_size(samples); k++)
            assert_non_null(strstr(
                json_string_value(json_object_get(json_array_get(samples, k), "post_id")),
                "x:sp"));
    }
    pthread_mutex_unlock(&peer->lock);

    /* Only spike customers are linked; their acknowledgement is the incident message. */
    redisReply *members = e2e_redis(e, "SMEMBERS incident:{%s}:cases", incident_id);
    assert_non_null(members);
    assert_int_equal(members->type, REDIS_REPLY_ARRAY);
    assert_int_equal((json_int_t)members->elements, linked);
    for (size_t i = 0; i < members->elements; i++)
        if (strncmp(members->element[i]->str, "x:sp", 4) != 0)
            fail_msg("noise customer %s linked", members->element[i]->str);
    freeReplyObject(members);
    size_t linked_events = 0, incident_acks = 0;
    for (size_t i = 0; i < e2e_collector_count(s.coll); i++) {
        const struct e2e_msg *m = e2e_collector_msg(s.coll, i);
        if (!strcmp(m->topic, "cases.events")) {
            const char *iid = e2e_msg_str(m, "incident_id");
            if (!iid)
                continue;
            assert_string_equal(iid, incident_id);
            assert_non_null(strstr(e2e_msg_str(m, "post_id"), "x:sp"));
            linked_events++;
        } else if (strstr(e2e_msg_str(m, "text"), "We know about this problem")) {
            incident_acks++;
        }
    }
    assert_int_equal(linked_events, (size_t)linked);
    assert_int_equal(incident_acks, (size_t)linked);

    /* Resolving it lets the phrase (and the topic) open incidents again. */
    char body[200];
    snprintf(body, sizeof(body), "{\"id\":\"%s\"}", incident_id);
    assert_int_equal(e2e_http(e2e_proc_port(router), "POST", "/v1/incidents/resolve",
                              body, strlen(body), auth, &resp),
                     200);
    e2e_http_resp_cleanup(&resp);
    redisReply *r = e2e_redis(e, "HGET spike:{technical} pincident");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);

    sc_free(env_cfg);
    sc_free(path);
    sc_free(cfg);
    e2e_finish(e);
    peer_free(peer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_router_phrase, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
