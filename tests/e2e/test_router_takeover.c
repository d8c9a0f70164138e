/* End-to-end: two escalation routers in one consumer group share the partitions, and a
 * post is never applied twice. Router A starts alone; while posts stream in, router B
 * joins (cooperative rebalance: B takes over some of A's partitions); later A stops with
 * SIGTERM and B takes over the rest. In the end every post has exactly one distinct
 * (post, case, type) case event (a redelivered post repeats the same outcome), each
 * customer's case in Redis counts exactly that customer's posts (each applied once), each
 * customer with a complaint got exactly one acknowledgement, and both routers applied
 * posts. */
#include "harness.h"

#include "router_peer.h"

#define N_CUSTOMERS 200
#define N_POSTS     1200
#define WAIT_MS     90000

struct takeover {
    struct e2e_collector *coll;
    struct e2e_index *events;
    size_t produced;
    int posts_of[N_CUSTOMERS];
    int complaints_of[N_CUSTOMERS];
};

static bool events_for(struct e2e *e, void *arg)
{
    (void)e;
    struct takeover *t = arg;
    return e2e_index_distinct(t->events) >= t->produced;
}

static bool some_events(struct e2e *e, void *arg)
{
    (void)e;
    struct takeover *t = arg;
    return e2e_index_distinct(t->events) >= 50;
}

static void produce_range(struct e2e *e, struct takeover *t, int from, int to)
{
    static const char *const intents[] = {"complaint", "question", "praise"};
    for (int i = from; i < to; i++) {
        int c = i % N_CUSTOMERS;
        const char *intent = intents[(i / N_CUSTOMERS + c) % 3];
        char id[32], author[32];
        snprintf(id, sizeof(id), "x:t%d", i);
        snprintf(author, sizeof(author), "t%d", c);
        struct rpost p = {.id = id,
                          .author = author,
                          .intent = intent,
                          .topic = "billing",
                          .score = !strcmp(intent, "praise")      ? 0.8
                                   : !strcmp(intent, "complaint") ? -0.5
                                                                  : 0};
        produce_post(e, &p);
        t->posts_of[c]++;
        t->complaints_of[c] += !strcmp(intent, "complaint");
        t->produced++;
    }
}

static double applied_by(struct e2e_proc *router)
{
    struct e2e_http_resp resp;
    double sum = 0;
    if (e2e_http_get(e2e_proc_port(router), "/metrics", &resp) == 200) {
        for (const char *p = resp.body;
             (p = strstr(p, "\nsocialcare_router_posts_total{")); p++) {
            const char *sp = strchr(p + 1, ' ');
            if (sp)
                sum += strtod(sp + 1, NULL);
        }
    }
    e2e_http_resp_cleanup(&resp);
    return sum;
}

static void test_router_takeover(void **state)
{
    struct e2e *e = *state;
    struct takeover *t = sc_calloc(1, sizeof(*t));
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    const char *topics[] = {"cases.events", "replies.outbound", NULL};
    t->coll = e2e_collector_new(e, topics);
    t->events = e2e_index_new(t->coll, "cases.events", "post_id", NULL);
    struct e2e_proc *a = e2e_start_service(e, "escalation-router", NULL);

    produce_range(e, t, 0, 400);
    assert_true(e2e_wait_until(e, some_events, t, WAIT_MS));
    struct e2e_proc *b = e2e_start_service(e, "escalation-router", NULL);
    assert_true(e2e_wait_stderr(e, b, "assigned", WAIT_MS));
    produce_range(e, t, 400, 800);
    if (!e2e_wait_until(e, events_for, t, WAIT_MS))
        fail_msg("%zu of %zu posts applied with two routers",
                 e2e_index_distinct(t->events), t->produced);
    double by_a = applied_by(a), by_b = applied_by(b);
    fprintf(stderr, "takeover: router A applied %.0f, router B %.0f\n", by_a, by_b);
    assert_true(by_a > 0);
    assert_true(by_b > 0);

    /* A leaves; B takes over everything. */
    assert_int_equal(e2e_stop(a, 30000), 0);
    produce_range(e, t, 800, N_POSTS);
    if (!e2e_wait_until(e, events_for, t, WAIT_MS))
        fail_msg("%zu of %zu posts applied after A left", e2e_index_distinct(t->events),
                 t->produced);
    /* Once B stored the offsets of every post it applied, all it produced for them is at
     * the broker. */
    router_settle(e, b, t->coll, (size_t)applied_by(b));

    /* One outcome per post: redeliveries repeat the same case and type. */
    struct e2e_strset *triples = e2e_strset_new();
    for (size_t i = 0; i < e2e_collector_count(t->coll); i++) {
        const struct e2e_msg *m = e2e_collector_msg(t->coll, i);
        if (strcmp(m->topic, "cases.events") != 0)
            continue;
        char triple[256];
        snprintf(triple, sizeof(triple), "%s|%s|%s", e2e_msg_str(m, "post_id"),
                 e2e_msg_str(m, "case_id"), e2e_msg_str(m, "type"));
        e2e_strset_add(triples, triple);
    }
    assert_int_equal(e2e_strset_count(triples), N_POSTS);
    e2e_strset_free(triples);

    /* Redis: each customer's posts applied exactly once. */
    for (int c = 0; c < N_CUSTOMERS; c++) {
        redisReply *r = e2e_redis(e, "HGET case:{x:t%d} posts", c);
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        if (atoi(r->str) != t->posts_of[c])
            fail_msg("customer t%d: %s posts applied, want %d", c, r->str,
                     t->posts_of[c]);
        freeReplyObject(r);
        r = e2e_redis(e, "HLEN case:{x:t%d}:posts", c);
        assert_int_equal(r->integer, t->posts_of[c]);
        freeReplyObject(r);
    }

    /* One acknowledgement per customer with a complaint (praise thanks are separate). */
    struct e2e_strset *acked = e2e_strset_new();
    struct e2e_strset *ack_ids = e2e_strset_new();
    for (size_t i = 0; i < e2e_collector_count(t->coll); i++) {
        const struct e2e_msg *m = e2e_collector_msg(t->coll, i);
        if (strcmp(m->topic, "replies.outbound") != 0)
            continue;
        const struct e2e_msg *ev = find_msg(t->coll, "cases.events", "post_id",
                                            e2e_msg_str(m, "in_reply_to"), NULL, NULL);
        assert_non_null(ev);
        if (!strcmp(e2e_msg_str(ev, "intent"), "complaint") &&
            e2e_strset_add(ack_ids, e2e_msg_str(m, "reply_id")))
            assert_true(e2e_strset_add(acked, e2e_msg_str(m, "customer")));
    }
    size_t want = 0;
    for (int c = 0; c < N_CUSTOMERS; c++)
        want += t->complaints_of[c] > 0;
    assert_int_equal(e2e_strset_count(acked), want);
    e2e_strset_free(acked);
    e2e_strset_free(ack_ids);
    sc_free(t);
    e2e_finish(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_router_takeover, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
