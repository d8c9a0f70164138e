/* Shared body of the fault-injection end-to-end tests (tests/e2e/test_fault_*.c, issue
 * 8): the full stack (redis-server, dev broker, the four services, the reply sink) with
 * a paced replay of N posts from 400 customers, a hook where the test injects its fault
 * mid-stream, and the by-id invariants checked afterwards: every input post id has
 * exactly one distinct case event (redeliveries repeat the same post, case and type),
 * none missing and none unknown; every acknowledgement reply id has a delivery; the
 * reply sink's unique count equals the distinct acknowledgement ids delivered as "sent"
 * (so no reply id reached the platform twice except as an idempotent retry); each
 * customer's case in Redis counts each of its posts exactly once; and every
 * service exits 0 on SIGTERM at the end. Header-only (static functions): each test
 * binary includes it once. */
#ifndef SC_E2E_FAULT_COMMON_H
#define SC_E2E_FAULT_COMMON_H

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define FAULT_POSTS     2000
#define FAULT_CUSTOMERS 400
#define FAULT_RATE      "250" /* posts per second: the replay takes about 8 s */
#define FAULT_WAIT      120000

struct fault_stack {
    struct e2e *e;
    struct e2e_proc *sink;
    struct e2e_proc *ingestor, *classifier, *router, *responder;
    struct e2e_collector *coll;
    struct e2e_index *case_ids;
    struct e2e_index *acks;
    struct e2e_index *delivered;
    char *file;
    char *ingest_file;
    char *endpoint;
    size_t
        want_acks; /* one per customer with a complaint, one per customer who praised */
};

static bool fault_cases_at_least(struct e2e *e, void *arg, size_t n)
{
    (void)e;
    struct fault_stack *fs = arg;
    return e2e_index_distinct(fs->case_ids) >= n;
}

static bool fault_all_case_events(struct e2e *e, void *arg)
{
    return fault_cases_at_least(e, arg, FAULT_POSTS);
}

/* Post number from "x:f<n>", or -1. */
static int fault_post_number(const char *id)
{
    int n;
    char extra;
    if (!id || sscanf(id, "x:f%d%c", &n, &extra) != 1 || n < 0 || n >= FAULT_POSTS)
        return -1;
    return n;
}

/* Starts redis (persistent or not), the broker, the sink, the three consuming services
 * (waiting until ready) and then the paced ingestor. */
static void fault_stack_start(struct e2e *e, struct fault_stack *fs,
                              bool persistent_redis)
{
    fs->e = e;
    if (persistent_redis)
        e2e_start_redis_persistent(e);
    else
        e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    const char *sink_args[] = {"--port", "0", NULL};
    fs->sink = e2e_start_tool(e, "reply-sink", sink_args);

    fs->file = e2e_path(e, "replay.jsonl");
    size_t cap = 1024 * 1024, len = 0;
    char *data = sc_malloc(cap);
    bool complained[FAULT_CUSTOMERS] = {false}, praised[FAULT_CUSTOMERS] = {false};
    for (int i = 0; i < FAULT_POSTS; i++) {
        int customer = i % FAULT_CUSTOMERS;
        enum e2e_intent intent = (enum e2e_intent)((customer + i / FAULT_CUSTOMERS) % 3);
        complained[customer] |= intent == E2E_COMPLAINT;
        praised[customer] |= intent == E2E_PRAISE;
        char post_id[16], author[16];
        snprintf(post_id, sizeof(post_id), "f%d", i);
        snprintf(author, sizeof(author), "u%d", customer);
        char *json =
            e2e_post_new("x", post_id, author, e2e_sample_text(intent, (unsigned)i / 3));
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
    e2e_write_file(fs->file, data, len, false);
    sc_free(data);
    for (int c = 0; c < FAULT_CUSTOMERS; c++)
        fs->want_acks += (size_t)complained[c] + (size_t)praised[c];

    const char *topics[] = {"cases.events", "replies.outbound", "replies.delivered",
                            NULL};
    fs->coll = e2e_collector_new(e, topics);
    fs->case_ids = e2e_index_new(fs->coll, "cases.events", "post_id", NULL);
    fs->acks = e2e_index_new(fs->coll, "replies.outbound", "reply_id", NULL);
    fs->delivered = e2e_index_new(fs->coll, "replies.delivered", "reply_id", NULL);

    fs->classifier = e2e_start_service(e, "classifier", NULL);
    fs->router = e2e_start_service(e, "escalation-router", NULL);
    fs->endpoint = sc_asprintf("REPLY_ENDPOINT=http://127.0.0.1:%d/v1/replies",
                               e2e_proc_port(fs->sink));
    const char *responder_env[] = {fs->endpoint, NULL};
    fs->responder = e2e_start_service(e, "responder", responder_env);
    assert_true(
        e2e_wait_http_status(e, e2e_proc_port(fs->classifier), "/readyz", 200, 30000));
    assert_true(
        e2e_wait_http_status(e, e2e_proc_port(fs->router), "/readyz", 200, 30000));
    assert_true(
        e2e_wait_http_status(e, e2e_proc_port(fs->responder), "/readyz", 200, 30000));
    fs->ingest_file = sc_asprintf("INGEST_FILE=%s", fs->file);
    const char *ingestor_env[] = {fs->ingest_file, "INGEST_RATE=" FAULT_RATE, NULL};
    fs->ingestor = e2e_start_service(e, "ingestor", ingestor_env);
}

/* After the fault: waits for everything, checks the invariants, prints the counts
 * (prefixed with name), stops the stack (every service must exit 0) and frees fs. */
static void fault_stack_check(struct fault_stack *fs, const char *name)
{
    struct e2e *e = fs->e;
    bool all_cases = e2e_wait_until(e, fault_all_case_events, fs, FAULT_WAIT);
    /* The input holds no duplicate ids: any the ingestor counted as duplicates were
     * dropped as "already seen" and never published. */
    struct e2e_http_resp mresp;
    assert_int_equal(e2e_http_get(e2e_proc_port(fs->ingestor), "/metrics", &mresp), 200);
    double dups =
        e2e_metric(mresp.body, "socialcare_ingestor_posts_total{source=\"replay\","
                               "outcome=\"duplicate\"}");
    e2e_http_resp_cleanup(&mresp);
    if (!all_cases)
        fail_msg("%s: only %zu of %d posts got a case event (the ingestor counted %.0f "
                 "replayed posts as duplicates)",
                 name, e2e_index_distinct(fs->case_ids), FAULT_POSTS, dups);
    if (dups > 0)
        fail_msg("%s: the ingestor dropped %.0f replayed posts as duplicates", name,
                 dups);
    assert_true(e2e_wait_stderr(e, fs->ingestor, "replay finished", 30000));

    /* Acknowledgements: wait until every expected ack id was seen and has a delivery,
     * and nothing new arrives across a second sync. */
    size_t acks = 0, delivered = 0;
    int64_t deadline = e2e_now_ms() + e2e_ms(FAULT_WAIT);
    for (;;) {
        assert_true(e2e_collector_sync(fs->coll, 30000));
        acks = e2e_index_distinct(fs->acks);
        delivered = e2e_index_distinct(fs->delivered);
        if (acks >= fs->want_acks && delivered >= acks) {
            /* stable across a second sync: nothing new arrived meanwhile */
            assert_true(e2e_collector_sync(fs->coll, 30000));
            if (e2e_index_distinct(fs->acks) == acks &&
                e2e_index_distinct(fs->delivered) == delivered)
                break;
            continue;
        }
        if (e2e_now_ms() > deadline)
            fail_msg("%s: %zu acknowledgements of %zu expected, %zu delivered", name,
                     acks, fs->want_acks, delivered);
        e2e_collector_pump(fs->coll, 50);
    }

    /* Case events: exactly one distinct (post, case, type) per input post. */
    struct e2e_strset *triples = e2e_strset_new();
    size_t events = 0;
    for (size_t i = 0; i < e2e_collector_count(fs->coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(fs->coll, i);
        if (strcmp(msg->topic, "cases.events") != 0)
            continue;
        events++;
        const char *post_id = e2e_msg_str(msg, "post_id");
        if (fault_post_number(post_id) < 0)
            fail_msg("%s: case event for an unknown post id %s", name,
                     post_id ? post_id : "(none)");
        const char *case_id = e2e_msg_str(msg, "case_id");
        const char *type = e2e_msg_str(msg, "type");
        assert_non_null(case_id);
        assert_non_null(type);
        if (strcmp(type, "case.opened") != 0 && strcmp(type, "case.updated") != 0)
            fail_msg("%s: post %s: case event type %s", name, post_id, type);
        char triple[160];
        snprintf(triple, sizeof(triple), "%s|%s|%s", post_id, case_id, type);
        e2e_strset_add(triples, triple);
    }
    assert_int_equal(e2e_index_distinct(fs->case_ids), FAULT_POSTS);
    if (e2e_strset_count(triples) != FAULT_POSTS)
        fail_msg("%s: %zu distinct (post, case, type) triples for %d posts: a post was "
                 "applied twice, differently",
                 name, e2e_strset_count(triples), FAULT_POSTS);
    e2e_strset_free(triples);

    /* Every acknowledgement answers a known post and was delivered; count the ids
     * delivered as sent. */
    size_t outbound = 0;
    for (size_t i = 0; i < e2e_collector_count(fs->coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(fs->coll, i);
        if (strcmp(msg->topic, "replies.outbound") != 0)
            continue;
        outbound++;
        const char *reply_id = e2e_msg_str(msg, "reply_id");
        assert_non_null(reply_id);
        if (fault_post_number(e2e_msg_str(msg, "in_reply_to")) < 0)
            fail_msg("%s: reply %s answers an unknown post", name, reply_id);
        if (!e2e_index_has(fs->delivered, reply_id))
            fail_msg("%s: reply %s was never delivered", name, reply_id);
    }
    struct e2e_strset *sent = e2e_strset_new();
    for (size_t i = 0; i < e2e_collector_count(fs->coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(fs->coll, i);
        if (strcmp(msg->topic, "replies.delivered") != 0)
            continue;
        const char *reply_id = e2e_msg_str(msg, "reply_id");
        assert_non_null(reply_id);
        if (!e2e_index_has(fs->acks, reply_id))
            fail_msg("%s: delivery of an unknown reply %s", name, reply_id);
        const char *status = e2e_msg_str(msg, "status");
        if (status && strcmp(status, "sent") == 0)
            e2e_strset_add(sent, reply_id);
    }
    size_t n_sent = e2e_strset_count(sent);
    e2e_strset_free(sent);
    assert_int_equal(e2e_index_distinct(fs->delivered), acks);
    if (acks != fs->want_acks)
        fail_msg("%s: %zu distinct acknowledgements, want %zu", name, acks,
                 fs->want_acks);

    /* The platform peer: each sent reply id exactly once (repeats only as idempotent
     * retries with the same key, which the sink does not count as unique). */
    struct e2e_http_resp resp;
    assert_int_equal(e2e_http_get(e2e_proc_port(fs->sink), "/stats", &resp), 200);
    assert_non_null(resp.json);
    json_int_t unique = json_integer_value(json_object_get(resp.json, "unique"));
    json_int_t received = json_integer_value(json_object_get(resp.json, "received"));
    e2e_http_resp_cleanup(&resp);
    fprintf(stderr,
            "%s: %d posts, %zu case events (%zu redelivered), %zu acks (%zu outbound "
            "messages), %zu sent; sink received %lld, unique %lld\n",
            name, FAULT_POSTS, events, events - FAULT_POSTS, acks, outbound, n_sent,
            (long long)received, (long long)unique);
    if (unique != (json_int_t)n_sent)
        fail_msg(
            "%s: the reply sink saw %lld unique reply ids, %zu acknowledgements were "
            "delivered as sent",
            name, (long long)unique, n_sent);
    assert_true(n_sent > 0);

    /* Redis state: each customer's case counts each of its posts exactly once (nothing
     * lost across the fault, nothing applied twice). */
    for (int c = 0; c < FAULT_CUSTOMERS; c++) {
        redisReply *reply = e2e_redis(e, "HGET case:{x:u%d} posts", c);
        if (reply->type != REDIS_REPLY_STRING ||
            atoi(reply->str) != FAULT_POSTS / FAULT_CUSTOMERS)
            fail_msg("%s: case of customer x:u%d counts %s posts, want %d", name, c,
                     reply->type == REDIS_REPLY_STRING ? reply->str : "no",
                     FAULT_POSTS / FAULT_CUSTOMERS);
        freeReplyObject(reply);
    }

    sc_free(fs->ingest_file);
    sc_free(fs->endpoint);
    sc_free(fs->file);
    sc_free(fs);
    e2e_finish(e);
}

#endif
