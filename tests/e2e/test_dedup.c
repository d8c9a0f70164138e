/* End-to-end: the ingestor's duplicate detection. The same post sent twice over HTTP, a
 * batch that repeats a post inside itself, and a replay file that repeats a line each
 * reach posts.inbound once; the HTTP answers count the duplicates, the Redis seen:{id}
 * marks carry a TTL, and socialcare_ingestor_posts_total{outcome="duplicate"} grows by
 * the number dropped. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static double duplicate_metric(struct e2e_proc *ingestor)
{
    struct e2e_http_resp resp;
    assert_int_equal(e2e_http_get(e2e_proc_port(ingestor), "/metrics", &resp), 200);
    double v =
        e2e_metric(resp.body, "socialcare_ingestor_posts_total{outcome=\"duplicate\"}");
    e2e_http_resp_cleanup(&resp);
    return v < 0 ? 0 : v;
}

/* POSTs body and checks 202 with the given accepted / duplicates counts. */
static void post_expect(struct e2e_proc *ingestor, const char *body, json_int_t accepted,
                        json_int_t duplicates)
{
    struct e2e_http_resp resp;
    long status = e2e_http_post_json(e2e_proc_port(ingestor), "/v1/posts", body, &resp);
    if (status != 202)
        fprintf(stderr, "POST /v1/posts: %ld %s\n", status, resp.body);
    assert_int_equal(status, 202);
    assert_non_null(resp.json);
    assert_int_equal(json_integer_value(json_object_get(resp.json, "accepted")),
                     accepted);
    assert_int_equal(json_integer_value(json_object_get(resp.json, "duplicates")),
                     duplicates);
    assert_int_equal(json_array_size(json_object_get(resp.json, "rejected")), 0);
    e2e_http_resp_cleanup(&resp);
}

/* How many posts.inbound messages carry this id. */
static size_t count_id(struct e2e_collector *coll, const char *id)
{
    size_t n = 0;
    for (size_t i = 0; i < e2e_collector_count(coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(coll, i);
        const char *got = e2e_msg_str(msg, "id");
        n += strcmp(msg->topic, "posts.inbound") == 0 && got && strcmp(got, id) == 0;
    }
    return n;
}

static bool replay_counted(struct e2e *e, void *arg)
{
    (void)e;
    struct e2e_http_resp resp;
    if (e2e_http_get(e2e_proc_port(arg), "/metrics", &resp) != 200) {
        e2e_http_resp_cleanup(&resp);
        return false;
    }
    double accepted =
        e2e_metric(resp.body, "socialcare_ingestor_posts_total{source=\"replay\"}");
    e2e_http_resp_cleanup(&resp);
    return accepted >= 3;
}

static bool replay_done_and_visible(struct e2e *e, void *arg)
{
    (void)e;
    return e2e_collector_count_topic(arg, "posts.inbound") >= 5;
}

static void test_dedup(void **state)
{
    struct e2e *e = *state;
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);

    /* The replay repeats one line (the third is the first again). */
    char *file = e2e_path(e, "replay.jsonl");
    char *r1 = e2e_post_new("x", "r1", "u2", e2e_sample_text(E2E_QUESTION, 0));
    char *r2 = e2e_post_new("x", "r2", "u2", e2e_sample_text(E2E_PRAISE, 0));
    char *lines = sc_asprintf("%s\n%s\n%s\n", r1, r2, r1);
    e2e_write_file(file, lines, strlen(lines), false);

    const char *topics[] = {"posts.inbound", "pipeline.dlq", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    char *ingest_file = sc_asprintf("INGEST_FILE=%s", file);
    const char *env[] = {ingest_file, NULL};
    struct e2e_proc *ingestor = e2e_start_service(e, "ingestor", env);
    /* "replay finished" is logged at end of file, before the last batch is published:
     * wait for the count instead. */
    assert_true(e2e_wait_stderr(e, ingestor, "replay finished", 30000));
    assert_true(e2e_wait_until(e, replay_counted, ingestor, 30000));
    double dup_after_replay = duplicate_metric(ingestor);
    assert_true(dup_after_replay == 1);

    /* The same post twice. */
    char *a = e2e_post_new("x", "a1", "u1", e2e_sample_text(E2E_COMPLAINT, 0));
    post_expect(ingestor, a, 1, 0);
    post_expect(ingestor, a, 0, 1);
    assert_true(duplicate_metric(ingestor) == dup_after_replay + 1);

    /* A batch with an internal duplicate (and the earlier post once more). */
    char *b = e2e_post_new("x", "b1", "u1", e2e_sample_text(E2E_QUESTION, 1));
    char *c = e2e_post_new("x", "c1", "u3", e2e_sample_text(E2E_PRAISE, 2));
    char *batch = sc_asprintf("[%s,%s,%s,%s]", b, c, b, a);
    post_expect(ingestor, batch, 2, 2);
    assert_true(duplicate_metric(ingestor) == dup_after_replay + 3);

    /* Everything acknowledged is in the log: read it all and count each id. */
    assert_true(e2e_wait_until(e, replay_done_and_visible, coll, 30000));
    assert_true(e2e_collector_sync(coll, 30000));
    assert_int_equal(e2e_collector_count_topic(coll, "posts.inbound"), 5);
    assert_int_equal(count_id(coll, "x:a1"), 1);
    assert_int_equal(count_id(coll, "x:b1"), 1);
    assert_int_equal(count_id(coll, "x:c1"), 1);
    assert_int_equal(count_id(coll, "x:r1"), 1);
    assert_int_equal(count_id(coll, "x:r2"), 1);
    assert_int_equal(e2e_collector_count_topic(coll, "pipeline.dlq"), 0);

    /* The dedup marks exist with a TTL. */
    redisReply *reply = e2e_redis(e, "TTL %s", "seen:{x:a1}");
    assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
    assert_true(reply->integer > 0);
    freeReplyObject(reply);
    reply = e2e_redis(e, "EXISTS %s", "seen:{x:r1}");
    assert_int_equal(reply->integer, 1);
    freeReplyObject(reply);

    /* Accepted counts match what went out. */
    struct e2e_http_resp resp;
    assert_int_equal(e2e_http_get(e2e_proc_port(ingestor), "/metrics", &resp), 200);
    assert_true(e2e_metric(resp.body,
                           "socialcare_ingestor_posts_total{outcome=\"accepted\"}") == 5);
    e2e_http_resp_cleanup(&resp);

    sc_free(batch);
    sc_free(a);
    sc_free(b);
    sc_free(c);
    sc_free(r1);
    sc_free(r2);
    sc_free(lines);
    sc_free(ingest_file);
    sc_free(file);
    e2e_finish(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dedup, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
