/* Self-test of the end-to-end harness: child process control (ready lines, exit statuses,
 * SIGTERM/SIGKILL, log waits), sanitizer detection at teardown, the real redis-server on
 * a free port, metric parsing, the string set, and — when the dev broker is built — a
 * Kafka round trip through the raw producer and a collector (keys, values, headers). */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static const char *const sh_env[] = {"PATH=/usr/bin:/bin", NULL};

static void test_process_control(void **state)
{
    struct e2e *e = *state;

    /* A child that traps SIGTERM and exits 0. */
    const char *argv_trap[] = {
        "/bin/sh", "-c",
        "trap 'echo bye >&2; exit 0' TERM; echo 'socialcare-fake ready port=4242'; "
        "echo started >&2; while :; do sleep 0.02; done",
        NULL};
    struct e2e_proc *trap = e2e_spawn(e, "trap", argv_trap, sh_env);
    assert_true(e2e_wait_stdout(e, trap, "ready port=4242", 5000));
    assert_true(e2e_wait_stderr(e, trap, "started", 5000));
    assert_true(e2e_proc_running(trap));
    assert_int_equal(e2e_stop(trap, 5000), 0);
    assert_false(e2e_proc_running(trap));
    assert_true(e2e_wait_stderr(e, trap, "bye", 1000));

    /* Restart keeps argv/env and writes new files; SIGKILL gives 128+9. */
    e2e_restart(e, trap);
    assert_true(e2e_proc_running(trap));
    assert_true(strstr(e2e_proc_stdout(trap), "trap.2.stdout") != NULL);
    assert_true(e2e_wait_stdout(e, trap, "ready port=4242", 5000));
    e2e_kill(trap);
    assert_false(e2e_proc_running(trap));

    /* A child with the default SIGTERM action reports 128+15. */
    const char *argv_plain[] = {"/bin/sleep", "60", NULL};
    struct e2e_proc *plain = e2e_spawn(e, "plain", argv_plain, sh_env);
    assert_true(e2e_proc_running(plain));
    assert_int_equal(e2e_stop(plain, 5000), 128 + SIGTERM);

    /* A child that exits by itself with a status. */
    const char *argv_exit[] = {"/bin/sh", "-c", "exit 3", NULL};
    struct e2e_proc *quick = e2e_spawn(e, "quick", argv_exit, sh_env);
    assert_int_equal(e2e_wait_exit(quick, 5000), 3);
    assert_int_equal(e2e_stop(quick, 5000), 3);

    /* A needle that never appears times out with false. */
    assert_false(e2e_wait_stdout(e, quick, "never printed", 50));

    e2e_finish(e);
}

static void test_sanitizer_report_fails_teardown(void **state)
{
    (void)state;
    void *inner = NULL;
    assert_int_equal(e2e_setup(&inner), 0);
    const char *argv_bad[] = {
        "/bin/sh", "-c", "echo 'x.c:1:2: runtime error: signed integer overflow' >&2",
        NULL};
    struct e2e_proc *bad = e2e_spawn(inner, "bad", argv_bad, sh_env);
    assert_int_equal(e2e_wait_exit(bad, 5000), 0);
    fprintf(stderr, "(the sanitizer report below is expected)\n");
    assert_int_equal(e2e_teardown(&inner), -1);
    assert_null(inner);

    /* And a clean child passes teardown. */
    assert_int_equal(e2e_setup(&inner), 0);
    const char *argv_good[] = {"/bin/sh", "-c", "echo fine >&2", NULL};
    struct e2e_proc *good = e2e_spawn(inner, "good", argv_good, sh_env);
    assert_int_equal(e2e_wait_exit(good, 5000), 0);
    e2e_finish(inner);
    assert_int_equal(e2e_teardown(&inner), 0);
}

static void test_redis(void **state)
{
    struct e2e *e = *state;
    e2e_start_redis(e);
    assert_non_null(e2e_redis_url(e));
    assert_true(strncmp(e2e_redis_url(e), "redis://127.0.0.1:", 18) == 0);
    redisReply *reply = e2e_redis(e, "SET %s %s", "case:{x:1}", "v");
    assert_int_equal(reply->type, REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    reply = e2e_redis(e, "GET %s", "case:{x:1}");
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    assert_string_equal(reply->str, "v");
    freeReplyObject(reply);
    e2e_finish(e);
}

static void test_metric_parse(void **state)
{
    (void)state;
    const char *text = "# HELP socialcare_ingestor_posts_total Posts.\n"
                       "# TYPE socialcare_ingestor_posts_total counter\n"
                       "socialcare_ingestor_posts_total{outcome=\"accepted\"} 12\n"
                       "socialcare_ingestor_posts_total{outcome=\"duplicate\"} 3\n"
                       "socialcare_ingestor_posts_total_x 99\n"
                       "socialcare_up 1\n"
                       "socialcare_lag{topic=\"a\",partition=\"1\"} 5 1700000000\n";
    assert_true(
        e2e_metric(text, "socialcare_ingestor_posts_total{outcome=\"duplicate\"}") ==
        3.0);
    assert_true(e2e_metric(text, "socialcare_ingestor_posts_total") == 15.0);
    assert_true(e2e_metric(text, "socialcare_up") == 1.0);
    assert_true(e2e_metric(text, "socialcare_lag{partition=\"1\"}") == 5.0);
    assert_true(e2e_metric(text, "socialcare_lag{partition=\"2\"}") == -1.0);
    assert_true(e2e_metric(text, "socialcare_missing") == -1.0);
}

static void test_strset_and_post(void **state)
{
    (void)state;
    struct e2e_strset *set = e2e_strset_new();
    char buf[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(buf, sizeof(buf), "id-%d", i);
        assert_true(e2e_strset_add(set, buf));
    }
    assert_false(e2e_strset_add(set, "id-7"));
    assert_true(e2e_strset_has(set, "id-999"));
    assert_false(e2e_strset_has(set, "id-1000"));
    assert_int_equal(e2e_strset_count(set), 1000);
    e2e_strset_free(set);

    char *post = e2e_post_new("x", "17", "42", "quote \" and \xc3\xa9");
    json_t *json = json_loads(post, 0, NULL);
    assert_non_null(json);
    assert_string_equal(json_string_value(json_object_get(json, "id")), "x:17");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json, "author"), "id")), "42");
    json_decref(json);
    sc_free(post);
}

static void test_kafka_round_trip(void **state)
{
    struct e2e *e = *state;
    if (!e2e_have_bin("socialcare-devbroker"))
        skip();
    e2e_start_broker(e, NULL);
    assert_non_null(e2e_brokers(e));
    const char *topics[] = {"pipeline.dlq", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    const char *headers[] = {"reason", "test", "service", "e2e", NULL};
    for (int i = 0; i < 20; i++) {
        char key[16], value[32];
        snprintf(key, sizeof(key), "k%d", i % 5);
        snprintf(value, sizeof(value), "{\"n\":%d}", i);
        e2e_produce(e, "pipeline.dlq", key, value, strlen(value), headers);
    }
    int64_t deadline = e2e_now_ms() + e2e_ms(20000);
    while (e2e_collector_count(coll) < 20 && e2e_now_ms() < deadline)
        e2e_collector_pump(coll, 50);
    assert_int_equal(e2e_collector_count(coll), 20);
    assert_int_equal(e2e_collector_count_topic(coll, "pipeline.dlq"), 20);
    int seen_partitions = 0;
    for (size_t i = 0; i < e2e_collector_count(coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(coll, i);
        assert_non_null(msg->json);
        assert_string_equal(e2e_msg_header(msg, "reason"), "test");
        assert_string_equal(e2e_msg_header(msg, "service"), "e2e");
        assert_non_null(msg->key);
        seen_partitions |= 1 << msg->partition;
    }
    assert_true(seen_partitions != 0);
    e2e_finish(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_process_control, e2e_setup, e2e_teardown),
        cmocka_unit_test(test_sanitizer_report_fails_teardown),
        cmocka_unit_test_setup_teardown(test_redis, e2e_setup, e2e_teardown),
        cmocka_unit_test(test_metric_parse),
        cmocka_unit_test(test_strset_and_post),
        cmocka_unit_test_setup_teardown(test_kafka_round_trip, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
