/* Unit tests of shared/kafka against librdkafka's in-process mock cluster (no external
 * broker): grouped deliveries, dead-lettering with its headers, consumer groups, store +
 * commit and resume in a new member, batch rewind, injected produce errors, delivery
 * failure while the broker is down, and passthrough property checks. Each test builds its
 * own cluster with its topics created before any client connects. Every wait is for a
 * condition, with a deadline scaled by SC_TEST_TIMEOUT_MULTIPLIER. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "alloc.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"

#define WAIT_MS           30000 /* generous: a first group join alone takes ~3 s */
#define KAFKA_API_PRODUCE 0     /* ApiKey of Produce requests (rdkafka_protocol.h) */
#define MAX_BATCH         64

/* ------------------------------------------------------------------ helpers */

static int timeout_multiplier(void)
{
    const char *env = getenv("SC_TEST_TIMEOUT_MULTIPLIER");
    int m = env ? atoi(env) : 1;
    return m > 0 ? m : 1;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long deadline_in(int ms)
{
    return now_ms() + (long long)ms * timeout_multiplier();
}

struct mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    const char *bootstraps;
};

/* Starts a one-broker mock cluster and creates topics[i] with parts[i] partitions. */
static void mock_start(struct mock *m, const char *const *topics, const int *parts,
                       size_t n)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(m->rk);
    m->mc = rd_kafka_mock_cluster_new(m->rk, 1);
    assert_non_null(m->mc);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rd_kafka_mock_topic_create(m->mc, topics[i], parts[i], 1),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    m->bootstraps = rd_kafka_mock_cluster_bootstraps(m->mc);
}

static void mock_stop(struct mock *m)
{
    rd_kafka_mock_cluster_destroy(m->mc); /* before its rd_kafka_t, or it asserts */
    rd_kafka_destroy(m->rk);
}

#define KV(k, v)                                                                         \
    {                                                                                    \
        (char *)(k), (char *)(v)                                                         \
    }

/* Consumer settings the mock needs (kafka-dev-broker.md), plus fast statistics. */
static const struct sc_kv test_props[] = {
    KV("session.timeout.ms", "6000"),
    KV("heartbeat.interval.ms", "500"),
    KV("fetch.wait.max.ms", "10"),
    KV("statistics.interval.ms", "200"),
};

static struct sc_kafka_conf test_conf(const struct mock *m, struct sc_metrics *metrics)
{
    struct sc_kafka_conf conf = {
        .brokers = m->bootstraps,
        .client_id = "test-kafka",
        .props = test_props,
        .n_props = sizeof(test_props) / sizeof(test_props[0]),
        .metrics = metrics,
    };
    return conf;
}

static struct sc_producer *producer_new(const struct mock *m, struct sc_metrics *metrics)
{
    char errstr[256] = "";
    struct sc_kafka_conf conf = test_conf(m, metrics);
    struct sc_producer *producer = sc_producer_new(&conf, errstr, sizeof(errstr));
    if (!producer)
        fail_msg("sc_producer_new: %s", errstr);
    return producer;
}

static struct sc_consumer *consumer_new(const struct mock *m, struct sc_metrics *metrics,
                                        const char *group, const char *const *topics,
                                        size_t n_topics)
{
    char errstr[256] = "";
    struct sc_kafka_conf conf = test_conf(m, metrics);
    struct sc_consumer *consumer =
        sc_consumer_new(&conf, group, topics, n_topics, errstr, sizeof(errstr));
    if (!consumer)
        fail_msg("sc_consumer_new: %s", errstr);
    return consumer;
}

/* Produces values "m-<i>" (key "k-<i>") for i in [from, to) and waits until all are
 * acked. */
static void produce_range(struct sc_producer *producer, const char *topic, int from,
                          int to)
{
    struct sc_delivery delivery = {0};
    for (int i = from; i < to; i++) {
        char key[32], value[32];
        snprintf(key, sizeof(key), "k-%d", i);
        snprintf(value, sizeof(value), "m-%d", i);
        assert_int_equal(sc_producer_send(producer, topic, key, strlen(key), value,
                                          strlen(value), NULL, &delivery),
                         0);
    }
    assert_int_equal(
        sc_producer_wait(producer, &delivery, WAIT_MS * timeout_multiplier()), 0);
    assert_int_equal(delivery.pending, 0);
    assert_int_equal(delivery.failed, 0);
}

/* @returns i for a message whose value is "m-<i>", else -1. */
static int message_id(const rd_kafka_message_t *msg)
{
    char buf[32];
    if (msg->len < 3 || msg->len >= sizeof(buf))
        return -1;
    memcpy(buf, msg->payload, msg->len);
    buf[msg->len] = '\0';
    return strncmp(buf, "m-", 2) ? -1 : atoi(buf + 2);
}

/* Consumes until `want` messages have arrived (or the deadline), counting ids into seen[]
 * (size n_seen) and storing every batch when store is set. @returns messages consumed. */
static int consume_ids(struct sc_consumer *consumer, int *seen, int n_seen, int want,
                       bool store, int wait_ms)
{
    rd_kafka_message_t *msgs[MAX_BATCH];
    int got = 0;
    long long deadline = deadline_in(wait_ms);
    while (got < want && now_ms() < deadline) {
        size_t room = (size_t)(want - got) < MAX_BATCH ? (size_t)(want - got) : MAX_BATCH;
        size_t n = sc_consumer_poll_batch(consumer, msgs, room, 100);
        for (size_t i = 0; i < n; i++) {
            int id = message_id(msgs[i]);
            assert_true(id >= 0 && id < n_seen);
            seen[id]++;
        }
        if (store && n > 0)
            assert_int_equal(sc_consumer_store(consumer, msgs, n), 0);
        sc_consumer_release(msgs, n);
        got += (int)n;
    }
    return got;
}

/* ------------------------------------------------------------------ tests */

static void test_bad_property(void **state)
{
    (void)state;
    char errstr[256] = "";
    struct sc_kv unknown[] = {KV("linger.ms", "1"), KV("no.such.property", "1")};
    struct sc_kafka_conf conf = {
        .brokers = "127.0.0.1:1", .client_id = "t", .props = unknown, .n_props = 2};
    assert_null(sc_producer_new(&conf, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "\"no.such.property\""));

    /* An invalid value names the property but never echoes the value (it may be secret).
     */
    struct sc_kv invalid[] = {KV("acks", "s3cret-banana")};
    conf.props = invalid;
    conf.n_props = 1;
    errstr[0] = '\0';
    assert_null(sc_producer_new(&conf, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "\"acks\""));
    assert_null(strstr(errstr, "s3cret"));

    const char *topics[] = {"t"};
    conf.props = unknown;
    conf.n_props = 2;
    errstr[0] = '\0';
    assert_null(sc_consumer_new(&conf, "g", topics, 1, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "\"no.such.property\""));

    /* A consumer-only property on a producer (and the reverse) is skipped with a debug
     * line, so librdkafka has nothing to warn about (CONFWARN); the log goes to a
     * temporary file. */
    char path[] = "/tmp/test_kafka_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    sc_log_init("test_kafka", SC_LOG_DEBUG, fd);
    struct sc_kv cross[] = {KV("fetch.wait.max.ms", "10"), KV("linger.ms", "1")};
    conf.props = cross;
    struct sc_producer *producer = sc_producer_new(&conf, errstr, sizeof(errstr));
    assert_non_null(producer);
    sc_producer_free(producer, 0);
    struct sc_consumer *consumer =
        sc_consumer_new(&conf, "g", topics, 1, errstr, sizeof(errstr));
    assert_non_null(consumer);
    sc_consumer_free(consumer);
    sc_log_init("test_kafka", SC_LOG_NOTICE, 2);

    char log[16384];
    ssize_t len = pread(fd, log, sizeof(log) - 1, 0);
    close(fd);
    unlink(path);
    assert_true(len > 0);
    log[len] = '\0';
    assert_non_null(strstr(log, "property fetch.wait.max.ms is for consumers only"));
    assert_non_null(strstr(log, "property linger.ms is for producers only"));
    assert_null(strstr(log, "CONFWARN"));
}

static void test_produce_and_wait(void **state)
{
    (void)state;
    const char *topics[] = {"t.produce"};
    const int parts[] = {4};
    struct mock m;
    mock_start(&m, topics, parts, 1);
    struct sc_metrics *metrics = sc_metrics_new("test", "0");
    struct sc_producer *producer = producer_new(&m, metrics);
    assert_non_null(sc_producer_handle(producer));

    /* An idle producer becomes healthy from statistics alone (what /readyz relies on). */
    long long deadline = deadline_in(WAIT_MS);
    while (!sc_producer_healthy(producer) && now_ms() < deadline)
        sc_producer_poll(producer, 50);
    assert_true(sc_producer_healthy(producer));

    produce_range(producer, "t.produce", 0, 1000);
    assert_true(sc_producer_healthy(producer));
    struct sc_metric *produced = sc_metrics_counter(
        metrics, "socialcare_kafka_messages_produced_total", "x", "topic");
    assert_int_equal((int)sc_metric_value(produced, SC_LABELS("t.produce")), 1000);

    /* An empty group is done at once. */
    struct sc_delivery none = {0};
    assert_int_equal(sc_producer_wait(producer, &none, 0), 0);

    sc_producer_free(producer, 5000);
    sc_metrics_free(metrics);
    mock_stop(&m);
}

static void test_consumer_group_gets_all(void **state)
{
    (void)state;
    enum { N = 300 };
    const char *topics[] = {"t.all"};
    const int parts[] = {4};
    struct mock m;
    mock_start(&m, topics, parts, 1);
    struct sc_metrics *metrics = sc_metrics_new("test", "0");
    struct sc_producer *producer = producer_new(&m, metrics);
    produce_range(producer, "t.all", 0, N);

    struct sc_consumer *consumer = consumer_new(&m, metrics, "g-all", topics, 1);
    int seen[N] = {0};
    assert_int_equal(consume_ids(consumer, seen, N, N, true, WAIT_MS), N);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(sc_consumer_assigned(consumer), 4);
    assert_true(sc_consumer_healthy(consumer));

    struct sc_metric *consumed = sc_metrics_counter(
        metrics, "socialcare_kafka_messages_consumed_total", "x", "topic");
    assert_int_equal((int)sc_metric_value(consumed, SC_LABELS("t.all")), N);
    struct sc_metric *assigned =
        sc_metrics_gauge(metrics, "socialcare_kafka_assigned_partitions", "x", NULL);
    assert_int_equal((int)sc_metric_value(assigned, NULL), 4);

    /* After the commit, statistics report a lag of 0 for every partition. */
    assert_int_equal(sc_consumer_commit(consumer, true), 0);
    bool lag_seen = false;
    long long deadline = deadline_in(WAIT_MS);
    while (!lag_seen && now_ms() < deadline) {
        rd_kafka_message_t *msgs[1];
        sc_consumer_release(msgs, sc_consumer_poll_batch(consumer, msgs, 1, 100));
        size_t len;
        char *text = sc_metrics_render(metrics, &len);
        lag_seen = true;
        for (int p = 0; p < 4; p++) {
            char series[128];
            snprintf(series, sizeof(series),
                     "socialcare_kafka_consumer_lag_messages{topic=\"t.all\",partition="
                     "\"%d\"} "
                     "0\n",
                     p);
            if (!strstr(text, series))
                lag_seen = false;
        }
        sc_free(text);
    }
    assert_true(lag_seen);

    sc_consumer_free(consumer);
    assert_int_equal((int)sc_metric_value(assigned, NULL), 0);
    sc_producer_free(producer, 5000);
    sc_metrics_free(metrics);
    mock_stop(&m);
}

static void test_eager_assignment(void **state)
{
    (void)state;
    enum { N = 40 };
    const char *topics[] = {"t.eager"};
    const int parts[] = {3};
    struct mock m;
    mock_start(&m, topics, parts, 1);
    struct sc_producer *producer = producer_new(&m, NULL);
    produce_range(producer, "t.eager", 0, N);

    /* The eager protocol (rd_kafka_assign) instead of the default cooperative one. */
    struct sc_kv props[] = {
        KV("session.timeout.ms", "6000"), KV("heartbeat.interval.ms", "500"),
        KV("fetch.wait.max.ms", "10"), KV("partition.assignment.strategy", "range")};
    struct sc_metrics *metrics = sc_metrics_new("test", "0");
    struct sc_kafka_conf conf = {.brokers = m.bootstraps,
                                 .client_id = "test-eager",
                                 .props = props,
                                 .n_props = 4,
                                 .metrics = metrics};
    char errstr[256] = "";
    struct sc_consumer *consumer =
        sc_consumer_new(&conf, "g-eager", topics, 1, errstr, sizeof(errstr));
    assert_non_null(consumer);
    int seen[N] = {0};
    assert_int_equal(consume_ids(consumer, seen, N, N, true, WAIT_MS), N);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(sc_consumer_assigned(consumer), 3);
    struct sc_metric *assigned =
        sc_metrics_gauge(metrics, "socialcare_kafka_assigned_partitions", "x", NULL);
    assert_int_equal((int)sc_metric_value(assigned, NULL), 3);
    sc_consumer_free(consumer);
    assert_int_equal((int)sc_metric_value(assigned, NULL), 0);
    sc_metrics_free(metrics);
    sc_producer_free(producer, 5000);
    mock_stop(&m);
}

static void test_commit_then_resume(void **state)
{
    (void)state;
    enum { N = 100, FIRST = 60 };
    const char *topics[] = {"t.resume"};
    const int parts[] = {2};
    struct mock m;
    mock_start(&m, topics, parts, 1);
    struct sc_producer *producer = producer_new(&m, NULL);
    produce_range(producer, "t.resume", 0, N);

    int seen_a[N] = {0}, seen_b[N] = {0};
    struct sc_consumer *a = consumer_new(&m, NULL, "g-resume", topics, 1);
    assert_int_equal(consume_ids(a, seen_a, N, FIRST, true, WAIT_MS), FIRST);
    assert_int_equal(sc_consumer_commit(a, true), 0);
    sc_consumer_free(a);

    struct sc_consumer *b = consumer_new(&m, NULL, "g-resume", topics, 1);
    assert_int_equal(consume_ids(b, seen_b, N, N - FIRST, true, WAIT_MS), N - FIRST);
    /* Nothing more arrives: no redelivery of what a committed. */
    assert_int_equal(consume_ids(b, seen_b, N, 1, true, 1000), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen_a[i] + seen_b[i], 1);
    sc_consumer_free(b);
    sc_producer_free(producer, 5000);
    mock_stop(&m);
}

/* One poll of up to MAX_BATCH messages: counts ids into seen[] and stores them (a store
 * may fail while the partition is being revoked: its next owner reads it again). */
static void poll_some(struct sc_consumer *consumer, int *seen, int n_seen)
{
    rd_kafka_message_t *msgs[MAX_BATCH];
    size_t n = sc_consumer_poll_batch(consumer, msgs, MAX_BATCH, 50);
    for (size_t i = 0; i < n; i++) {
        int id = message_id(msgs[i]);
        assert_true(id >= 0 && id < n_seen);
        seen[id]++;
    }
    if (n > 0 && sc_consumer_store(consumer, msgs, n) != 0)
        fprintf(stderr,
                "store refused during a revoke (the next owner reads it again)\n");
    sc_consumer_release(msgs, n);
}

/* @returns true when every id below n was seen at least once. */
static bool all_seen(const int *seen, int n)
{
    for (int i = 0; i < n; i++)
        if (!seen[i])
            return false;
    return true;
}

/* A scale-down: two consumers of a group leave one right after the other, the second
 * while the group still rebalances after the first leave. Both frees return
 * (librdkafka 2.0 can abort when a close meets a cooperative rebalance; sc_consumer_free
 * leaves the group first), and a new consumer then gets every partition and every
 * message. */
static void test_leave_during_rebalance(void **state)
{
    (void)state;
    enum { N = 300 };
    const char *topics[] = {"t.leave"};
    const int parts[] = {4};
    struct mock m;
    mock_start(&m, topics, parts, 1);
    struct sc_producer *producer = producer_new(&m, NULL);
    int seen[N] = {0};

    produce_range(producer, "t.leave", 0, 100);
    struct sc_consumer *a = consumer_new(&m, NULL, "g-leave", topics, 1);
    long long deadline = deadline_in(WAIT_MS);
    while (!all_seen(seen, 100) && now_ms() < deadline)
        poll_some(a, seen, N);
    assert_true(all_seen(seen, 100));

    /* b joins; a keeps polling so that it hands partitions over. */
    struct sc_consumer *b = consumer_new(&m, NULL, "g-leave", topics, 1);
    while (sc_consumer_assigned(b) == 0 && now_ms() < deadline) {
        poll_some(a, seen, N);
        poll_some(b, seen, N);
    }
    assert_true(sc_consumer_assigned(b) > 0);
    assert_true(sc_consumer_assigned(a) > 0);
    produce_range(producer, "t.leave", 100, 200);
    while (!all_seen(seen, 200) && now_ms() < deadline) {
        poll_some(a, seen, N);
        poll_some(b, seen, N);
    }
    assert_true(all_seen(seen, 200));

    sc_consumer_free(b); /* the group starts rebalancing towards a ... */
    sc_consumer_free(a); /* ... and a leaves in the middle of it */

    produce_range(producer, "t.leave", 200, N);
    struct sc_consumer *c = consumer_new(&m, NULL, "g-leave", topics, 1);
    deadline = deadline_in(WAIT_MS);
    while (!(all_seen(seen, N) && sc_consumer_assigned(c) == 4) && now_ms() < deadline)
        poll_some(c, seen, N);
    assert_true(all_seen(seen, N));
    assert_int_equal(sc_consumer_assigned(c), 4);
    sc_consumer_free(c);
    sc_producer_free(producer, 5000);
    mock_stop(&m);
}

static void test_rewind_redelivers_batch(void **state)
{
    (void)state;
    enum { N = 10 };
    const char *topics[] = {"t.rewind"};
    const int parts[] = {1};
    struct mock m;
    mock_start(&m, topics, parts, 1);
    struct sc_producer *producer = producer_new(&m, NULL);
    produce_range(producer, "t.rewind", 0, N);

    struct sc_consumer *consumer = consumer_new(&m, NULL, "g-rewind", topics, 1);
    rd_kafka_message_t *batch[N];
    size_t n = 0;
    long long deadline = deadline_in(WAIT_MS);
    while (n < N && now_ms() < deadline)
        n += sc_consumer_poll_batch(consumer, batch + n, N - n, 100);
    assert_int_equal(n, N);
    assert_int_equal(batch[0]->offset, 0);

    /* Rewind the second half only: those come again, in order, and nothing else. */
    assert_int_equal(sc_consumer_rewind(consumer, batch + N / 2, N - N / 2), 0);
    sc_consumer_release(batch, n);
    int seen[N] = {0};
    assert_int_equal(consume_ids(consumer, seen, N, N - N / 2, false, WAIT_MS),
                     N - N / 2);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], i >= N / 2 ? 1 : 0);
    sc_consumer_free(consumer);
    sc_producer_free(producer, 5000);
    mock_stop(&m);
}

static void test_dead_letter_headers(void **state)
{
    (void)state;
    const char *topics[] = {"t.src", "t.dlq"};
    const int parts[] = {1, 1};
    struct mock m;
    mock_start(&m, topics, parts, 2);
    struct sc_metrics *metrics = sc_metrics_new("test", "0");
    struct sc_producer *producer = producer_new(&m, metrics);
    struct sc_delivery delivery = {0};
    static const char bad[] = "{not json";
    assert_int_equal(sc_producer_send(producer, "t.src", "cust-1", 6, bad, strlen(bad),
                                      NULL, &delivery),
                     0);
    assert_int_equal(sc_producer_wait(producer, &delivery, WAIT_MS), 0);

    struct sc_consumer *consumer = consumer_new(&m, metrics, "g-dlq", topics, 2);
    rd_kafka_message_t *msgs[4];
    size_t n = 0;
    long long deadline = deadline_in(WAIT_MS);
    while (n == 0 && now_ms() < deadline)
        n = sc_consumer_poll_batch(consumer, msgs, 1, 100);
    assert_int_equal(n, 1);
    assert_string_equal(rd_kafka_topic_name(msgs[0]->rkt), "t.src");
    assert_null(sc_kafka_header(msgs[0], "reason"));

    /* A long reason is cut at 256 bytes, on a UTF-8 boundary ("é" is 2 bytes). */
    char long_reason[9 + 2 * 200 + 1] = "too_big: ";
    for (int i = 0; i < 200; i++)
        memcpy(long_reason + 9 + 2 * i, "\xc3\xa9", 2);
    long_reason[sizeof(long_reason) - 1] = '\0';
    assert_int_equal(sc_producer_dead_letter(producer, "t.dlq", "classifier",
                                             "invalid_json: '}' expected", msgs[0],
                                             msgs[0]->payload, msgs[0]->len, &delivery),
                     0);
    assert_int_equal(sc_producer_dead_letter(producer, "t.dlq", "classifier", long_reason,
                                             NULL, "x", 1, &delivery),
                     0);
    int64_t src_offset = msgs[0]->offset;
    sc_consumer_release(msgs, n);
    assert_int_equal(sc_producer_wait(producer, &delivery, WAIT_MS), 0);

    n = 0;
    deadline = deadline_in(WAIT_MS);
    while (n < 2 && now_ms() < deadline)
        n += sc_consumer_poll_batch(consumer, msgs + n, 2 - n, 100);
    assert_int_equal(n, 2);
    const rd_kafka_message_t *first = msgs[0]->len > 1 ? msgs[0] : msgs[1];
    const rd_kafka_message_t *second = first == msgs[0] ? msgs[1] : msgs[0];

    assert_string_equal(rd_kafka_topic_name(first->rkt), "t.dlq");
    assert_int_equal(first->len, strlen(bad));
    assert_memory_equal(first->payload, bad, strlen(bad));
    assert_int_equal(first->key_len, 6);
    assert_memory_equal(first->key, "cust-1", 6);
    char *h = sc_kafka_header(first, "reason");
    assert_string_equal(h, "invalid_json: '}' expected");
    sc_free(h);
    h = sc_kafka_header(first, "service");
    assert_string_equal(h, "classifier");
    sc_free(h);
    h = sc_kafka_header(first, "source.topic");
    assert_string_equal(h, "t.src");
    sc_free(h);
    h = sc_kafka_header(first, "source.partition");
    assert_string_equal(h, "0");
    sc_free(h);
    h = sc_kafka_header(first, "source.offset");
    char want_off[24];
    snprintf(want_off, sizeof(want_off), "%lld", (long long)src_offset);
    assert_string_equal(h, want_off);
    sc_free(h);
    assert_null(sc_kafka_header(first, "no-such-header"));

    h = sc_kafka_header(second, "reason");
    assert_int_equal(strlen(h), 255);
    assert_memory_equal(h, long_reason, 255);
    sc_free(h);
    assert_null(sc_kafka_header(second, "source.topic"));
    assert_null(second->key);
    sc_consumer_release(msgs, n);

    struct sc_metric *dl = sc_metrics_counter(metrics, "socialcare_dead_lettered_total",
                                              "x", "service,reason");
    assert_int_equal((int)sc_metric_value(dl, SC_LABELS("classifier", "invalid_json")),
                     1);
    assert_int_equal((int)sc_metric_value(dl, SC_LABELS("classifier", "too_big")), 1);

    sc_consumer_free(consumer);
    sc_producer_free(producer, 5000);
    sc_metrics_free(metrics);
    mock_stop(&m);
}

static void test_injected_produce_errors(void **state)
{
    (void)state;
    enum { N = 200 };
    const char *topics[] = {"t.retry"};
    const int parts[] = {2};
    struct mock m;
    mock_start(&m, topics, parts, 1);
    /* The next Produce requests to broker 1 fail with retriable errors. */
    assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                         m.mc, 1, KAFKA_API_PRODUCE, 3,
                         RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, 0,
                         RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0,
                         RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, 0),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_mock_push_request_errors(m.mc, KAFKA_API_PRODUCE, 2,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    struct sc_metrics *metrics = sc_metrics_new("test", "0");
    struct sc_producer *producer = producer_new(&m, metrics);
    produce_range(producer, "t.retry", 0, N);

    size_t left = 99;
    assert_int_equal(
        rd_kafka_mock_broker_error_stack_cnt(m.mc, 1, KAFKA_API_PRODUCE, &left),
        RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(left, 0); /* every injected error was served */
    struct sc_metric *failures = sc_metrics_counter(
        metrics, "socialcare_kafka_delivery_failures_total", "x", "topic");
    assert_int_equal((int)sc_metric_value(failures, SC_LABELS("t.retry")), 0);

    struct sc_consumer *consumer = consumer_new(&m, NULL, "g-retry", topics, 1);
    int seen[N] = {0};
    int got = consume_ids(consumer, seen, N, N, false, WAIT_MS);
    assert_true(got >= N);
    for (int i = 0; i < N; i++)
        assert_true(seen[i] >= 1); /* duplicates are allowed by design, loss is not */
    sc_consumer_free(consumer);
    sc_producer_free(producer, 5000);
    sc_metrics_free(metrics);
    mock_stop(&m);
}

static void test_delivery_failure_when_broker_down(void **state)
{
    (void)state;
    const char *topics[] = {"t.down"};
    const int parts[] = {1};
    struct mock m;
    mock_start(&m, topics, parts, 1);
    assert_int_equal(rd_kafka_mock_broker_set_down(m.mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);

    struct sc_metrics *metrics = sc_metrics_new("test", "0");
    const struct sc_kv props[] = {KV("message.timeout.ms", "1000"),
                                  KV("statistics.interval.ms", "200")};
    struct sc_kafka_conf conf = {.brokers = m.bootstraps,
                                 .client_id = "test-down",
                                 .props = props,
                                 .n_props = 2,
                                 .metrics = metrics};
    char errstr[256] = "";
    struct sc_producer *producer = sc_producer_new(&conf, errstr, sizeof(errstr));
    assert_non_null(producer);

    struct sc_delivery delivery = {0};
    for (int i = 0; i < 5; i++)
        assert_int_equal(
            sc_producer_send(producer, "t.down", NULL, 0, "v", 1, NULL, &delivery), 0);
    assert_int_equal(delivery.pending, 5);
    assert_int_equal(
        sc_producer_wait(producer, &delivery, WAIT_MS * timeout_multiplier()), SC_EIO);
    assert_int_equal(delivery.pending, 0);
    assert_int_equal(delivery.failed, 5);
    assert_int_equal(delivery.last_err, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
    assert_false(sc_producer_healthy(producer));
    struct sc_metric *failures = sc_metrics_counter(
        metrics, "socialcare_kafka_delivery_failures_total", "x", "topic");
    assert_int_equal((int)sc_metric_value(failures, SC_LABELS("t.down")), 5);

    /* A full local queue: the send serves reports and retries for a while, then gives up
     * with SC_EAGAIN and takes its count back out of the group. */
    const struct sc_kv tiny[] = {KV("queue.buffering.max.messages", "1")};
    conf.props = tiny;
    conf.n_props = 1;
    struct sc_producer *full = sc_producer_new(&conf, errstr, sizeof(errstr));
    assert_non_null(full);
    struct sc_delivery one = {0};
    assert_int_equal(sc_producer_send(full, "t.down", NULL, 0, "a", 1, NULL, &one), 0);
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(hdrs, "h", -1, "v", -1);
    assert_int_equal(sc_producer_send(full, "t.down", NULL, 0, "b", 1, hdrs, &one),
                     SC_EAGAIN);
    assert_int_equal(one.pending, 1);
    rd_kafka_headers_destroy(hdrs); /* still ours after a failed send */
    sc_producer_free(full, 0);

    /* Back up: new sends are delivered and the producer reports healthy again. */
    assert_int_equal(rd_kafka_mock_broker_set_up(m.mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    struct sc_delivery again = {0};
    assert_int_equal(sc_producer_send(producer, "t.down", NULL, 0, "v", 1, NULL, &again),
                     0);
    assert_int_equal(sc_producer_wait(producer, &again, WAIT_MS * timeout_multiplier()),
                     0);
    assert_true(sc_producer_healthy(producer));

    sc_producer_free(producer, 5000);
    sc_metrics_free(metrics);
    mock_stop(&m);
}

int main(void)
{
    sc_log_init("test_kafka", SC_LOG_NOTICE, 2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_property),
        cmocka_unit_test(test_produce_and_wait),
        cmocka_unit_test(test_consumer_group_gets_all),
        cmocka_unit_test(test_eager_assignment),
        cmocka_unit_test(test_commit_then_resume),
        cmocka_unit_test(test_leave_during_rebalance),
        cmocka_unit_test(test_rewind_redelivers_batch),
        cmocka_unit_test(test_dead_letter_headers),
        cmocka_unit_test(test_injected_produce_errors),
        cmocka_unit_test(test_delivery_failure_when_broker_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
