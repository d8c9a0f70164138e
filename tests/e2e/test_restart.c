/* End-to-end: graceful restarts lose nothing and apply nothing twice. 2000 posts are
 * replayed from INGEST_FILE at a steady pace (INGEST_RATE) through the whole pipeline;
 * once some but not all have case events, the classifier and the escalation router get
 * SIGTERM together, must drain and exit 0, and are started again. In the end every post
 * id has exactly one distinct case event (redeliveries repeat the same case and type) and
 * none is missing or unknown, every customer with a complaint got one acknowledgement
 * of a complaint and every customer who praised one thanks for a praise, every
 * acknowledgement was delivered as sent, and the reply sink saw each reply id once
 * (Idempotency-Key). */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define N_POSTS      2000
#define N_CUSTOMERS  400
#define INGEST_RATE  "250" /* posts per second: the replay takes about 8 s */
#define STOP_AFTER   300   /* case events seen before the restart */
#define RESTART_WAIT 120000

struct restart {
    enum e2e_intent intent[N_POSTS];
    int complaints_of[N_CUSTOMERS];
    int praise_of[N_CUSTOMERS];
    size_t want_acks;
    struct e2e_collector *coll;
    struct e2e_index *case_ids;
    struct e2e_index *acks;
    struct e2e_index *ack_customers;
    struct e2e_index *delivered;
};

static bool some_case_events(struct e2e *e, void *arg)
{
    (void)e;
    struct restart *rs = arg;
    return e2e_index_distinct(rs->case_ids) >= STOP_AFTER;
}

static bool all_case_events(struct e2e *e, void *arg)
{
    (void)e;
    struct restart *rs = arg;
    return e2e_index_distinct(rs->case_ids) >= N_POSTS;
}

static bool all_acks_delivered(struct e2e *e, void *arg)
{
    (void)e;
    struct restart *rs = arg;
    return e2e_index_distinct(rs->acks) >= rs->want_acks &&
           e2e_index_distinct(rs->delivered) >= e2e_index_distinct(rs->acks);
}

/* Post number from "x:r<n>", or -1. */
static int post_number(const char *id)
{
    int n;
    char extra;
    if (!id || sscanf(id, "x:r%d%c", &n, &extra) != 1 || n < 0 || n >= N_POSTS)
        return -1;
    return n;
}

static void test_restart(void **state)
{
    struct e2e *e = *state;
    struct restart *rs = sc_calloc(1, sizeof(*rs));

    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    const char *sink_args[] = {"--port", "0", NULL};
    struct e2e_proc *sink = e2e_start_tool(e, "reply-sink", sink_args);

    /* 2000 posts from 400 customers, five each, intents mixed per customer. */
    char *file = e2e_path(e, "replay.jsonl");
    size_t cap = 1024 * 1024, len = 0;
    char *data = sc_malloc(cap);
    for (int i = 0; i < N_POSTS; i++) {
        int customer = i % N_CUSTOMERS;
        rs->intent[i] = (enum e2e_intent)((customer + i / N_CUSTOMERS) % 3);
        rs->complaints_of[customer] += rs->intent[i] == E2E_COMPLAINT;
        rs->praise_of[customer] += rs->intent[i] == E2E_PRAISE;
        char post_id[16], author[16];
        snprintf(post_id, sizeof(post_id), "r%d", i);
        snprintf(author, sizeof(author), "u%d", customer);
        char *json = e2e_post_new("x", post_id, author,
                                  e2e_sample_text(rs->intent[i], (unsigned)i / 3));
        size_t n = strlen(json);
        if (len + n + 2 > cap) {
            cap *= 2;
            data = sc_realloc(data, cap);
        }
        memcpy(data + len, json, n);
        len += n;
        data[len++] = '\n';
        sc_free(json);
    }
    e2e_write_file(file, data, len, false);
    sc_free(data);
    /* one acknowledgement per customer with a complaint, one thanks per customer who
     * praised */
    for (int c = 0; c < N_CUSTOMERS; c++)
        rs->want_acks += (rs->complaints_of[c] > 0) + (rs->praise_of[c] > 0);

    const char *topics[] = {"cases.events", "replies.outbound", "replies.delivered",
                            "pipeline.dlq", NULL};
    rs->coll = e2e_collector_new(e, topics);
    rs->case_ids = e2e_index_new(rs->coll, "cases.events", "post_id", NULL);
    rs->acks = e2e_index_new(rs->coll, "replies.outbound", "reply_id", NULL);
    rs->ack_customers = e2e_index_new(rs->coll, "replies.outbound", "customer", NULL);
    rs->delivered = e2e_index_new(rs->coll, "replies.delivered", "reply_id", NULL);

    /* Consumers first, ready (partitions assigned), then the paced replay. */
    struct e2e_proc *classifier = e2e_start_service(e, "classifier", NULL);
    struct e2e_proc *router = e2e_start_service(e, "escalation-router", NULL);
    char *endpoint =
        sc_asprintf("REPLY_ENDPOINT=http://127.0.0.1:%d/v1/replies", e2e_proc_port(sink));
    const char *responder_env[] = {endpoint, NULL};
    struct e2e_proc *responder = e2e_start_service(e, "responder", responder_env);
    assert_true(
        e2e_wait_http_status(e, e2e_proc_port(classifier), "/readyz", 200, 30000));
    assert_true(e2e_wait_http_status(e, e2e_proc_port(router), "/readyz", 200, 30000));
    assert_true(e2e_wait_http_status(e, e2e_proc_port(responder), "/readyz", 200, 30000));
    char *ingest_file = sc_asprintf("INGEST_FILE=%s", file);
    const char *ingestor_env[] = {ingest_file, "INGEST_RATE=" INGEST_RATE, NULL};
    struct e2e_proc *ingestor = e2e_start_service(e, "ingestor", ingestor_env);

    /* Mid-stream: stop the classifier and the router together. */
    assert_true(e2e_wait_until(e, some_case_events, rs, 60000));
    kill(e2e_proc_pid(classifier), SIGTERM);
    kill(e2e_proc_pid(router), SIGTERM);
    size_t at_stop = e2e_index_distinct(rs->case_ids);
    if (at_stop >= N_POSTS)
        fail_msg("the whole stream was through before the restart (%zu case events)",
                 at_stop);
    int classifier_status = e2e_stop(classifier, 30000);
    int router_status = e2e_stop(router, 30000);
    assert_int_equal(classifier_status, 0);
    assert_int_equal(router_status, 0);
    fprintf(stderr, "restart: %zu of %d posts had case events at SIGTERM\n", at_stop,
            N_POSTS);

    e2e_restart(e, classifier);
    e2e_restart(e, router);

    /* Everything arrives, once per post id. */
    if (!e2e_wait_until(e, all_case_events, rs, RESTART_WAIT))
        fail_msg("only %zu of %d posts got a case event after the restart",
                 e2e_index_distinct(rs->case_ids), N_POSTS);
    if (!e2e_wait_until(e, all_acks_delivered, rs, RESTART_WAIT))
        fail_msg("%zu of %zu acks (%zu customers), %zu of them delivered",
                 e2e_index_distinct(rs->acks), rs->want_acks,
                 e2e_index_distinct(rs->ack_customers),
                 e2e_index_distinct(rs->delivered));
    assert_true(e2e_wait_stderr(e, ingestor, "replay finished", 30000));
    assert_true(e2e_collector_sync(rs->coll, 30000));

    struct e2e_strset *pairs = e2e_strset_new();
    size_t events = 0;
    for (size_t i = 0; i < e2e_collector_count(rs->coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(rs->coll, i);
        if (strcmp(msg->topic, "cases.events") != 0)
            continue;
        events++;
        const char *post_id = e2e_msg_str(msg, "post_id");
        if (post_number(post_id) < 0)
            fail_msg("case event for an unknown post id %s",
                     post_id ? post_id : "(none)");
        const char *case_id = e2e_msg_str(msg, "case_id");
        const char *type = e2e_msg_str(msg, "type");
        assert_non_null(case_id);
        assert_non_null(type);
        char pair[128];
        snprintf(pair, sizeof(pair), "%s|%s|%s", post_id, case_id, type);
        e2e_strset_add(pairs, pair);
    }
    assert_int_equal(e2e_index_distinct(rs->case_ids), N_POSTS);
    if (e2e_strset_count(pairs) != N_POSTS)
        fail_msg(
            "%zu distinct (post, case, type) triples for %d posts: a redelivered post "
            "was applied differently",
            e2e_strset_count(pairs), N_POSTS);
    e2e_strset_free(pairs);
    fprintf(stderr, "restart: %zu case events for %d posts (%zu redelivered)\n", events,
            N_POSTS, events - N_POSTS);

    /* One acknowledgement per customer with a complaint, each for a complaint of theirs,
     * and one thanks per customer who praised, for a praise of theirs. */
    struct e2e_strset *ack_customers = e2e_strset_new();
    struct e2e_strset *thanked_customers = e2e_strset_new();
    for (size_t i = 0; i < e2e_collector_count(rs->coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(rs->coll, i);
        if (strcmp(msg->topic, "replies.outbound") != 0)
            continue;
        const char *in_reply_to = e2e_msg_str(msg, "in_reply_to");
        int n = post_number(in_reply_to);
        assert_true(n >= 0);
        assert_true(rs->intent[n] == E2E_COMPLAINT || rs->intent[n] == E2E_PRAISE);
        char want_id[64], want_customer[32];
        snprintf(want_id, sizeof(want_id), "ack-%s", in_reply_to);
        snprintf(want_customer, sizeof(want_customer), "x:u%d", n % N_CUSTOMERS);
        assert_string_equal(e2e_msg_str(msg, "reply_id"), want_id);
        assert_string_equal(e2e_msg_str(msg, "customer"), want_customer);
        /* a second distinct reply of the same kind to one customer would fail below */
        e2e_strset_add(rs->intent[n] == E2E_COMPLAINT ? ack_customers : thanked_customers,
                       want_customer);
    }
    size_t n_acks = e2e_index_distinct(rs->acks);
    if (n_acks != rs->want_acks)
        fail_msg("%zu distinct acknowledgements, want %zu (complaints and praise)",
                 n_acks, rs->want_acks);
    size_t want_complainers = 0, want_praisers = 0;
    for (int c = 0; c < N_CUSTOMERS; c++) {
        want_complainers += rs->complaints_of[c] > 0;
        want_praisers += rs->praise_of[c] > 0;
    }
    assert_int_equal(e2e_strset_count(ack_customers), want_complainers);
    assert_int_equal(e2e_strset_count(thanked_customers), want_praisers);
    e2e_strset_free(ack_customers);
    e2e_strset_free(thanked_customers);

    /* Every acknowledgement delivered as sent; the sink saw each reply id once. */
    for (size_t i = 0; i < e2e_collector_count(rs->coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(rs->coll, i);
        if (strcmp(msg->topic, "replies.delivered") != 0)
            continue;
        const char *reply_id = e2e_msg_str(msg, "reply_id");
        assert_true(e2e_index_has(rs->acks, reply_id));
        const char *status = e2e_msg_str(msg, "status");
        if (!status || strcmp(status, "sent") != 0)
            fail_msg("reply %s: status %s, want sent", reply_id,
                     status ? status : "(none)");
    }
    assert_int_equal(e2e_index_distinct(rs->delivered), n_acks);
    struct e2e_http_resp resp;
    assert_int_equal(e2e_http_get(e2e_proc_port(sink), "/stats", &resp), 200);
    assert_non_null(resp.json);
    assert_int_equal(json_integer_value(json_object_get(resp.json, "unique")), n_acks);
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(e2e_collector_count_topic(rs->coll, "pipeline.dlq"), 0);

    /* Each customer's case counts each of its five posts once. */
    for (int c = 0; c < N_CUSTOMERS; c++) {
        redisReply *reply = e2e_redis(e, "HGET case:{x:u%d} posts", c);
        assert_int_equal(reply->type, REDIS_REPLY_STRING);
        assert_int_equal(atoi(reply->str), N_POSTS / N_CUSTOMERS);
        freeReplyObject(reply);
    }

    sc_free(ingest_file);
    sc_free(endpoint);
    sc_free(file);
    sc_free(rs);
    e2e_finish(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restart, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
