/* End-to-end: the whole pipeline on the dev broker and a real Redis. 300 generated posts
 * go in through POST /v1/posts (arrays of 50) and 60 more through an INGEST_FILE replay,
 * from 60 customers with a mix of complaints, questions and praise (ten customers only
 * praise). The test checks every post is classified with the expected intent and applied
 * to its customer's case exactly once (one distinct case event per post id), every
 * customer with a complaint got exactly one acknowledgement of a complaint and every
 * customer who praised exactly one thanks for a praise (nothing for questions), each sent
 * by the responder through the reply sink (which saw each reply once), Redis holds each
 * customer's case
 * with the right post count, nothing was dead-lettered, and each service answers
 * /healthz, /readyz and a /metrics page that promtool accepts, and documents
 * KAFKA_BROKERS in --help. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define N_CUSTOMERS      60
#define N_PRAISE_ONLY    10 /* the last ten customers only praise */
#define N_HTTP           300
#define N_FILE           60
#define N_POSTS          (N_HTTP + N_FILE)
#define HTTP_BATCH       50
#define PIPELINE_WAIT_MS 90000

struct expected_post {
    char id[32];
    int customer;
    enum e2e_intent intent;
};

struct pipeline {
    struct expected_post posts[N_POSTS];
    int posts_of[N_CUSTOMERS];
    int complaints_of[N_CUSTOMERS];
    int praise_of[N_CUSTOMERS];
    struct e2e_collector *coll;
    struct e2e_index *case_ids;      /* cases.events post_id */
    struct e2e_index *classified;    /* posts.classified id */
    struct e2e_index *acks;          /* replies.outbound reply_id */
    struct e2e_index *ack_customers; /* replies.outbound customer */
    struct e2e_index *delivered;     /* replies.delivered reply_id */
    size_t want_acks;
};

static enum e2e_intent intent_for(int customer, int k)
{
    if (customer >= N_CUSTOMERS - N_PRAISE_ONLY)
        return E2E_PRAISE;
    return (enum e2e_intent)((customer + k) % 3);
}

static void plan_posts(struct pipeline *pl)
{
    for (int i = 0; i < N_HTTP; i++) {
        struct expected_post *p = &pl->posts[i];
        p->customer = i % N_CUSTOMERS;
        p->intent = intent_for(p->customer, i / N_CUSTOMERS);
        snprintf(p->id, sizeof(p->id), "x:p%d", i);
    }
    for (int j = 0; j < N_FILE; j++) {
        struct expected_post *p = &pl->posts[N_HTTP + j];
        p->customer = (j * 7) % N_CUSTOMERS;
        p->intent = intent_for(p->customer, 5 + j);
        snprintf(p->id, sizeof(p->id), "x:f%d", j);
    }
    for (int i = 0; i < N_POSTS; i++) {
        pl->posts_of[pl->posts[i].customer]++;
        pl->complaints_of[pl->posts[i].customer] += pl->posts[i].intent == E2E_COMPLAINT;
        pl->praise_of[pl->posts[i].customer] += pl->posts[i].intent == E2E_PRAISE;
    }
    /* one acknowledgement per case with a complaint, one thanks per case with praise */
    for (int c = 0; c < N_CUSTOMERS; c++)
        pl->want_acks += (pl->complaints_of[c] > 0) + (pl->praise_of[c] > 0);
}

static char *post_json(const struct expected_post *p, unsigned variant)
{
    char author[16];
    snprintf(author, sizeof(author), "u%03d", p->customer);
    return e2e_post_new("x", p->id + 2, author, e2e_sample_text(p->intent, variant));
}

static bool all_posts_have_case_events(struct e2e *e, void *arg)
{
    (void)e;
    struct pipeline *pl = arg;
    return e2e_index_distinct(pl->case_ids) >= N_POSTS;
}

static bool all_acks_delivered(struct e2e *e, void *arg)
{
    (void)e;
    struct pipeline *pl = arg;
    return e2e_index_distinct(pl->acks) >= pl->want_acks &&
           e2e_index_distinct(pl->delivered) >= e2e_index_distinct(pl->acks);
}

static const struct expected_post *find_post(const struct pipeline *pl, const char *id)
{
    for (int i = 0; id && i < N_POSTS; i++)
        if (strcmp(pl->posts[i].id, id) == 0)
            return &pl->posts[i];
    return NULL;
}

static int customer_index(const char *customer)
{
    int n;
    char extra;
    if (!customer || sscanf(customer, "x:u%d%c", &n, &extra) != 1 || n < 0 ||
        n >= N_CUSTOMERS)
        return -1;
    return n;
}

static void check_help(struct e2e *e, const char *service)
{
    char program[64];
    snprintf(program, sizeof(program), "socialcare-%s", service);
    const char *args[] = {"--help", NULL};
    struct e2e_proc *proc = NULL;
    assert_int_equal(e2e_run(e, program, args, 10000, &proc), 0);
    char *out = e2e_read_file(e2e_proc_stdout(proc), NULL);
    char *err = e2e_read_file(e2e_proc_stderr(proc), NULL);
    bool documented =
        (out && strstr(out, "KAFKA_BROKERS")) || (err && strstr(err, "KAFKA_BROKERS"));
    if (!documented)
        fprintf(stderr, "%s --help does not mention KAFKA_BROKERS:\n%s\n", program,
                out ? out : "");
    sc_free(out);
    sc_free(err);
    assert_true(documented);
}

static void check_endpoints(struct e2e *e, struct e2e_proc *proc)
{
    int port = e2e_proc_port(proc);
    assert_true(port > 0);
    struct e2e_http_resp resp;
    assert_int_equal(e2e_http_get(port, "/healthz", &resp), 200);
    e2e_http_resp_cleanup(&resp);
    assert_true(e2e_wait_http_status(e, port, "/readyz", 200, 10000));
    assert_int_equal(e2e_http_get(port, "/metrics", &resp), 200);
    int prom = e2e_promtool_check(e, resp.body, resp.len);
    if (prom > 0)
        fprintf(stderr, "(metrics of %s)\n", e2e_proc_name(proc));
    assert_true(prom <= 0); /* -1: promtool not installed, assertion skipped */
    e2e_http_resp_cleanup(&resp);
}

static double metric_of(struct e2e_proc *proc, const char *series)
{
    struct e2e_http_resp resp;
    assert_int_equal(e2e_http_get(e2e_proc_port(proc), "/metrics", &resp), 200);
    double v = e2e_metric(resp.body, series);
    e2e_http_resp_cleanup(&resp);
    return v;
}

static void test_pipeline(void **state)
{
    struct e2e *e = *state;
    struct pipeline *pl = sc_calloc(1, sizeof(*pl));
    plan_posts(pl);

    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    const char *sink_args[] = {"--port", "0", NULL};
    struct e2e_proc *sink = e2e_start_tool(e, "reply-sink", sink_args);

    /* The replay file: the last 60 posts, one per line. */
    char *file = e2e_path(e, "replay.jsonl");
    e2e_write_file(file, "", 0, false);
    for (int j = 0; j < N_FILE; j++) {
        char *json = post_json(&pl->posts[N_HTTP + j], (unsigned)j);
        e2e_write_file(file, json, strlen(json), true);
        e2e_write_file(file, "\n", 1, true);
        sc_free(json);
    }

    const char *topics[] = {"posts.inbound",
                            "posts.classified",
                            "cases.events",
                            "replies.outbound",
                            "replies.delivered",
                            "pipeline.dlq",
                            NULL};
    pl->coll = e2e_collector_new(e, topics);
    pl->case_ids = e2e_index_new(pl->coll, "cases.events", "post_id", NULL);
    pl->classified = e2e_index_new(pl->coll, "posts.classified", "id", NULL);
    pl->acks = e2e_index_new(pl->coll, "replies.outbound", "reply_id", NULL);
    pl->ack_customers = e2e_index_new(pl->coll, "replies.outbound", "customer", NULL);
    pl->delivered = e2e_index_new(pl->coll, "replies.delivered", "reply_id", NULL);

    check_help(e, "ingestor");
    check_help(e, "classifier");
    check_help(e, "escalation-router");
    check_help(e, "responder");

    struct e2e_proc *classifier = e2e_start_service(e, "classifier", NULL);
    struct e2e_proc *router = e2e_start_service(e, "escalation-router", NULL);
    char *endpoint =
        sc_asprintf("REPLY_ENDPOINT=http://127.0.0.1:%d/v1/replies", e2e_proc_port(sink));
    const char *responder_env[] = {endpoint, NULL};
    struct e2e_proc *responder = e2e_start_service(e, "responder", responder_env);
    char *ingest_file = sc_asprintf("INGEST_FILE=%s", file);
    const char *ingestor_env[] = {ingest_file, NULL};
    struct e2e_proc *ingestor = e2e_start_service(e, "ingestor", ingestor_env);

    /* 300 posts over HTTP, in arrays of 50. */
    for (int b = 0; b < N_HTTP / HTTP_BATCH; b++) {
        size_t cap = 64 * 1024, len = 0;
        char *body = sc_malloc(cap);
        body[len++] = '[';
        for (int i = b * HTTP_BATCH; i < (b + 1) * HTTP_BATCH; i++) {
            char *json = post_json(&pl->posts[i], (unsigned)(i / 7));
            size_t n = strlen(json);
            if (len + n + 4 > cap) {
                cap *= 2;
                body = sc_realloc(body, cap);
            }
            if (len > 1)
                body[len++] = ',';
            memcpy(body + len, json, n);
            len += n;
            sc_free(json);
        }
        body[len++] = ']';
        body[len] = '\0';
        struct e2e_http_resp resp;
        long status =
            e2e_http_post_json(e2e_proc_port(ingestor), "/v1/posts", body, &resp);
        if (status != 202)
            fprintf(stderr, "POST /v1/posts batch %d: %ld %s\n", b, status, resp.body);
        assert_int_equal(status, 202);
        assert_non_null(resp.json);
        assert_int_equal(json_integer_value(json_object_get(resp.json, "accepted")),
                         HTTP_BATCH);
        assert_int_equal(json_integer_value(json_object_get(resp.json, "duplicates")), 0);
        assert_int_equal(json_array_size(json_object_get(resp.json, "rejected")), 0);
        e2e_http_resp_cleanup(&resp);
        sc_free(body);
    }

    /* Everything flows through. */
    assert_true(e2e_wait_stderr(e, ingestor, "replay finished", PIPELINE_WAIT_MS));
    if (!e2e_wait_until(e, all_posts_have_case_events, pl, PIPELINE_WAIT_MS))
        fail_msg("only %zu of %d posts got a case event",
                 e2e_index_distinct(pl->case_ids), N_POSTS);
    if (!e2e_wait_until(e, all_acks_delivered, pl, PIPELINE_WAIT_MS))
        fail_msg("%zu of %zu acks (%zu customers), %zu of them delivered",
                 e2e_index_distinct(pl->acks), pl->want_acks,
                 e2e_index_distinct(pl->ack_customers),
                 e2e_index_distinct(pl->delivered));
    assert_true(e2e_collector_sync(pl->coll, 30000));

    /* posts.inbound and posts.classified: every post, with the expected intent. */
    struct e2e_strset *inbound = e2e_strset_new();
    for (size_t i = 0; i < e2e_collector_count(pl->coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(pl->coll, i);
        if (strcmp(msg->topic, "posts.inbound") == 0) {
            const struct expected_post *p = find_post(pl, e2e_msg_str(msg, "id"));
            assert_non_null(p);
            char key[32];
            snprintf(key, sizeof(key), "x:u%03d", p->customer);
            assert_non_null(msg->key);
            assert_string_equal(msg->key, key);
            assert_non_null(e2e_msg_str(msg, "received_at"));
            e2e_strset_add(inbound, p->id);
        } else if (strcmp(msg->topic, "posts.classified") == 0) {
            const struct expected_post *p = find_post(pl, e2e_msg_str(msg, "id"));
            assert_non_null(p);
            const char *intent = e2e_msg_path(msg, "classification", "intent");
            assert_non_null(intent);
            if (strcmp(intent, e2e_intent_name(p->intent)) != 0)
                fail_msg("%s classified %s, want %s", p->id, intent,
                         e2e_intent_name(p->intent));
            assert_non_null(e2e_msg_path(msg, "classification", "topic"));
            assert_non_null(json_object_get(json_object_get(msg->json, "classification"),
                                            "sentiment"));
        }
    }
    assert_int_equal(e2e_strset_count(inbound), N_POSTS);
    e2e_strset_free(inbound);
    assert_int_equal(e2e_index_distinct(pl->classified), N_POSTS);

    /* cases.events: one distinct event per post id (a redelivery repeats the same case).
     */
    struct e2e_strset *pairs = e2e_strset_new();
    for (size_t i = 0; i < e2e_collector_count(pl->coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(pl->coll, i);
        if (strcmp(msg->topic, "cases.events") != 0)
            continue;
        const char *post_id = e2e_msg_str(msg, "post_id");
        const struct expected_post *p = find_post(pl, post_id);
        if (!p)
            fail_msg("case event for an unknown post id %s",
                     post_id ? post_id : "(none)");
        const char *case_id = e2e_msg_str(msg, "case_id");
        const char *type = e2e_msg_str(msg, "type");
        assert_non_null(case_id);
        assert_non_null(type);
        assert_true(!strcmp(type, "case.opened") || !strcmp(type, "case.updated"));
        assert_int_equal(customer_index(e2e_msg_str(msg, "customer")), p->customer);
        assert_string_equal(e2e_msg_str(msg, "intent"), e2e_intent_name(p->intent));
        char pair[128];
        snprintf(pair, sizeof(pair), "%s|%s|%s", post_id, case_id, type);
        e2e_strset_add(pairs, pair);
    }
    assert_int_equal(e2e_index_distinct(pl->case_ids), N_POSTS);
    assert_int_equal(e2e_strset_count(pairs),
                     N_POSTS); /* repeats agree on case and type */
    e2e_strset_free(pairs);

    /* replies.outbound: exactly one acknowledgement per customer with a complaint, for
     * one of that customer's complaints, and one thanks per customer who praised, for
     * one of their praises; none for questions. */
    struct e2e_strset *ack_ids_per_customer[N_CUSTOMERS];
    struct e2e_strset *thanks_ids_per_customer[N_CUSTOMERS];
    for (int c = 0; c < N_CUSTOMERS; c++) {
        ack_ids_per_customer[c] = e2e_strset_new();
        thanks_ids_per_customer[c] = e2e_strset_new();
    }
    for (size_t i = 0; i < e2e_collector_count(pl->coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(pl->coll, i);
        if (strcmp(msg->topic, "replies.outbound") != 0)
            continue;
        int c = customer_index(e2e_msg_str(msg, "customer"));
        assert_true(c >= 0);
        const char *reply_id = e2e_msg_str(msg, "reply_id");
        const char *in_reply_to = e2e_msg_str(msg, "in_reply_to");
        assert_non_null(reply_id);
        assert_non_null(in_reply_to);
        const struct expected_post *p = find_post(pl, in_reply_to);
        assert_non_null(p);
        assert_int_equal(p->customer, c);
        if (p->intent != E2E_COMPLAINT && p->intent != E2E_PRAISE)
            fail_msg("automatic reply %s to a post of intent %s", reply_id,
                     e2e_intent_name(p->intent));
        char want_id[64];
        snprintf(want_id, sizeof(want_id), "ack-%s", in_reply_to);
        assert_string_equal(reply_id, want_id);
        assert_string_equal(e2e_msg_str(msg, "origin"), "auto");
        assert_false(json_is_true(json_object_get(msg->json, "requires_review")));
        /* the customer's handle leads the text */
        char handle[32];
        snprintf(handle, sizeof(handle), "@useru%03d ", c);
        assert_true(strncmp(e2e_msg_str(msg, "text"), handle, strlen(handle)) == 0);
        e2e_strset_add(p->intent == E2E_COMPLAINT ? ack_ids_per_customer[c]
                                                  : thanks_ids_per_customer[c],
                       reply_id);
    }
    for (int c = 0; c < N_CUSTOMERS; c++) {
        size_t want = pl->complaints_of[c] > 0 ? 1 : 0;
        if (e2e_strset_count(ack_ids_per_customer[c]) != want)
            fail_msg("customer u%03d (%d complaints) got %zu acknowledgements", c,
                     pl->complaints_of[c], e2e_strset_count(ack_ids_per_customer[c]));
        want = pl->praise_of[c] > 0 ? 1 : 0;
        if (e2e_strset_count(thanks_ids_per_customer[c]) != want)
            fail_msg("customer u%03d (%d praises) got %zu thanks", c, pl->praise_of[c],
                     e2e_strset_count(thanks_ids_per_customer[c]));
        e2e_strset_free(ack_ids_per_customer[c]);
        e2e_strset_free(thanks_ids_per_customer[c]);
    }
    size_t n_acks = e2e_index_distinct(pl->acks);
    assert_int_equal(n_acks, pl->want_acks);

    /* replies.delivered: every acknowledgement sent, through the sink. */
    for (size_t i = 0; i < e2e_collector_count(pl->coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(pl->coll, i);
        if (strcmp(msg->topic, "replies.delivered") != 0)
            continue;
        const char *reply_id = e2e_msg_str(msg, "reply_id");
        assert_true(e2e_index_has(pl->acks, reply_id));
        const char *status = e2e_msg_str(msg, "status");
        if (!status || strcmp(status, "sent") != 0)
            fail_msg("reply %s: status %s, want sent", reply_id,
                     status ? status : "(none)");
        const char *platform_post_id = e2e_msg_str(msg, "platform_post_id");
        assert_non_null(platform_post_id);
        assert_true(strncmp(platform_post_id, "sink-", 5) == 0);
    }
    assert_int_equal(e2e_index_distinct(pl->delivered), n_acks);

    struct e2e_http_resp resp;
    assert_int_equal(e2e_http_get(e2e_proc_port(sink), "/stats", &resp), 200);
    assert_non_null(resp.json);
    assert_int_equal(json_integer_value(json_object_get(resp.json, "unique")), n_acks);
    assert_true(json_integer_value(json_object_get(resp.json, "received")) >=
                (json_int_t)n_acks);
    e2e_http_resp_cleanup(&resp);

    /* Nothing dead-lettered. */
    assert_int_equal(e2e_collector_count_topic(pl->coll, "pipeline.dlq"), 0);

    /* Redis: one case per customer with every post applied once. */
    for (int c = 0; c < N_CUSTOMERS; c++) {
        redisReply *reply = e2e_redis(e, "HGET case:{x:u%03d} posts", c);
        if (reply->type != REDIS_REPLY_STRING)
            fail_msg("case:{x:u%03d} has no posts field", c);
        assert_int_equal(atoi(reply->str), pl->posts_of[c]);
        freeReplyObject(reply);
        reply = e2e_redis(e, "HGET case:{x:u%03d} case_id", c);
        assert_int_equal(reply->type, REDIS_REPLY_STRING);
        assert_true(strncmp(reply->str, "c-", 2) == 0);
        freeReplyObject(reply);
        /* The applied-post ids (a hash or a set, depending on the router's layout). */
        reply = e2e_redis(e, "TYPE case:{x:u%03d}:posts", c);
        bool is_hash =
            reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "hash") == 0;
        freeReplyObject(reply);
        reply = e2e_redis(
            e, is_hash ? "HLEN case:{x:u%03d}:posts" : "SCARD case:{x:u%03d}:posts", c);
        assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
        assert_int_equal(reply->integer, pl->posts_of[c]);
        freeReplyObject(reply);
    }

    /* Health, readiness and metrics of each service. */
    check_endpoints(e, ingestor);
    check_endpoints(e, classifier);
    check_endpoints(e, router);
    check_endpoints(e, responder);
    assert_true(
        metric_of(ingestor, "socialcare_ingestor_posts_total{outcome=\"accepted\"}") ==
        N_POSTS);
    assert_true(metric_of(ingestor,
                          "socialcare_ingestor_posts_total{outcome=\"duplicate\"}") <= 0);
    assert_true(
        metric_of(responder, "socialcare_responder_replies_total{status=\"sent\"}") >=
        (double)n_acks);

    sc_free(ingest_file);
    sc_free(endpoint);
    sc_free(file);
    sc_free(pl);
    e2e_finish(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipeline, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
