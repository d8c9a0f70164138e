/* Fault suite (issue 8), the regression found by e2e.fault_kill: an ingestor SIGKILLed
 * during a replay left the seen:{id} marks of its unacknowledged posts behind, and the
 * restarted replay took them for duplicates, so those posts were never published. The
 * replay now sets pending marks ("p.<pid>.<start>.<batch>/<item>") and confirms them with
 * one record per batch (seen:batch:{<batch>}) only once Kafka acknowledged it. This test
 * sets up what a dead replay leaves behind, without needing to hit the moment: x:m1
 * carries another (dead) process's pending mark, x:m2 a confirmed one. A replay of m0..m3
 * must publish m0, m1 and m3 once each and drop m2 as a duplicate, and leave the marks of
 * m0, m1 and m3 confirmed, with their TTL (m1's mark taken over by the replay's batch).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static bool replay_done(struct e2e *e, void *arg)
{
    (void)e;
    struct e2e_http_resp resp;
    double accepted = -1, duplicate = -1;
    if (e2e_http_get(e2e_proc_port(arg), "/metrics", &resp) == 200) {
        accepted =
            e2e_metric(resp.body, "socialcare_ingestor_posts_total{source=\"replay\","
                                  "outcome=\"accepted\"}");
        duplicate =
            e2e_metric(resp.body, "socialcare_ingestor_posts_total{source=\"replay\","
                                  "outcome=\"duplicate\"}");
    }
    e2e_http_resp_cleanup(&resp);
    return accepted + duplicate >= 4;
}

static size_t count_id(struct e2e_collector *coll, const char *id)
{
    size_t n = 0;
    for (size_t i = 0; i < e2e_collector_count(coll); i++) {
        const char *got = e2e_msg_str(e2e_collector_msg(coll, i), "id");
        n += got && strcmp(got, id) == 0;
    }
    return n;
}

static void test_replay_after_crash(void **state)
{
    struct e2e *e = *state;
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    /* what a replay killed before Kafka's acknowledgement leaves, and a finished one */
    freeReplyObject(e2e_redis(e, "SET seen:{x:m1} p.99999.1700000000000.3.0.7 EX 600"));
    freeReplyObject(e2e_redis(e, "SET seen:{x:m2} 1 EX 600"));

    char *file = e2e_path(e, "replay.jsonl");
    for (int i = 0; i < 4; i++) {
        char id[8];
        snprintf(id, sizeof(id), "m%d", i);
        char *json = e2e_post_new("x", id, "u1", e2e_sample_text(E2E_QUESTION, 0));
        e2e_write_file(file, json, strlen(json), i > 0);
        e2e_write_file(file, "\n", 1, true);
        sc_free(json);
    }
    const char *topics[] = {"posts.inbound", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    char *env_file = sc_asprintf("INGEST_FILE=%s", file);
    const char *env[] = {env_file, NULL};
    struct e2e_proc *ingestor = e2e_start_service(e, "ingestor", env);
    assert_true(e2e_wait_until(e, replay_done, ingestor, 30000));
    assert_true(e2e_collector_sync(coll, 30000));

    assert_int_equal(count_id(coll, "x:m0"), 1);
    assert_int_equal(count_id(coll, "x:m1"), 1); /* the dead replay's pending mark */
    assert_int_equal(count_id(coll, "x:m2"), 0); /* confirmed: a duplicate */
    assert_int_equal(count_id(coll, "x:m3"), 1);
    const char *confirmed[] = {"seen:{x:m0}", "seen:{x:m1}", "seen:{x:m3}"};
    for (size_t i = 0; i < 3; i++) {
        /* confirmed: the mark names its batch ("<batch>/<item>"), whose record
         * seen:batch:{<batch>} exists once Kafka acknowledged the batch */
        redisReply *r = e2e_redis(e, "GET %s", confirmed[i]);
        const char *sep = r->type == REDIS_REPLY_STRING ? strchr(r->str, '/') : NULL;
        if (!sep)
            fail_msg("%s is %s, want a mark naming its batch", confirmed[i],
                     r->type == REDIS_REPLY_STRING ? r->str : "(none)");
        redisReply *b =
            e2e_redis(e, "EXISTS seen:batch:{%b}", r->str, (size_t)(sep - r->str));
        if (b->type != REDIS_REPLY_INTEGER || b->integer != 1)
            fail_msg("%s is %s, but its batch has no record (not confirmed)",
                     confirmed[i], r->str);
        freeReplyObject(b);
        freeReplyObject(r);
        r = e2e_redis(e, "TTL %s", confirmed[i]);
        assert_true(r->type == REDIS_REPLY_INTEGER && r->integer > 0);
        freeReplyObject(r);
    }
    sc_free(env_file);
    sc_free(file);
    e2e_finish(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replay_after_crash, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
