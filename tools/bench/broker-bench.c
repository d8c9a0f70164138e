/* socialcare-broker-bench: the raw broker baseline of `make bench`. A plain librdkafka
 * producer with the services' producer settings (idempotence, acks=all, lz4, linger.ms=5)
 * sends N messages of about 300 bytes, keyed over the topic's partitions, while a plain
 * consumer (assigned to every partition from the beginning, fetch.wait.max.ms=10) reads
 * them back in another thread. It prints one line of JSON: the producer's rate (first
 * produce to the last delivery report), the consumer's rate and the hop's rate (first
 * produce to last message consumed), which is the figure the services are compared with.
 * No part of the socialcare library is used, so this measures librdkafka and the broker
 * alone. The topic must exist and be empty (a fresh dev broker with --topics). */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

struct bench_opts {
    const char *brokers;
    const char *topic;
    long count;
    int size;
    int keys;
    int timeout_s;
};

struct bench_state {
    rd_kafka_t *consumer;
    long want;
    int timeout_s;
    atomic_long delivered;
    atomic_long delivery_errors;
    atomic_llong last_dr_ns;
    long consumed;
    int64_t bytes_consumed;
    int64_t first_consumed_ns;
    int64_t last_consumed_ns;
    int consumer_failed;
};

static int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void bench_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: socialcare-broker-bench --brokers HOST:PORT [options]\n"
        "\n"
        "Raw broker baseline: a plain librdkafka producer (enable.idempotence, "
        "acks=all,\n"
        "lz4, linger.ms=5, as the services) and a plain consumer (fetch.wait.max.ms=10)\n"
        "on one topic, concurrently. Prints one JSON line with msgs/s.\n"
        "\n"
        "Options:\n"
        "  --brokers LIST   bootstrap servers (or KAFKA_BROKERS)\n"
        "  --topic NAME     an existing topic (default bench.raw)\n"
        "  --count N        messages (default 1000000)\n"
        "  --size BYTES     value size (default 300)\n"
        "  --keys N         distinct keys (default 10000)\n"
        "  --timeout S      give up after S seconds (default 120)\n");
}

static int bench_parse(int argc, char **argv, struct bench_opts *o)
{
    o->brokers = getenv("KAFKA_BROKERS");
    o->topic = "bench.raw";
    o->count = 1000000;
    o->size = 300;
    o->keys = 10000;
    o->timeout_s = 120;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            bench_usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "broker-bench: missing value for %s\n", arg);
            return -1;
        }
        const char *val = argv[++i];
        char *end = NULL;
        long n = 0;
        if (strcmp(arg, "--brokers") && strcmp(arg, "--topic")) {
            n = strtol(val, &end, 10);
            if (!end || *end || n <= 0) {
                fprintf(stderr, "broker-bench: bad value for %s: %s\n", arg, val);
                return -1;
            }
        }
        if (!strcmp(arg, "--brokers"))
            o->brokers = val;
        else if (!strcmp(arg, "--topic"))
            o->topic = val;
        else if (!strcmp(arg, "--count"))
            o->count = n;
        else if (!strcmp(arg, "--size") && n >= 32 && n <= 1000000)
            o->size = (int)n;
        else if (!strcmp(arg, "--keys") && n <= 10000000)
            o->keys = (int)n;
        else if (!strcmp(arg, "--timeout") && n <= 3600)
            o->timeout_s = (int)n;
        else {
            fprintf(stderr, "broker-bench: unknown option or bad value: %s %s\n", arg,
                    val);
            return -1;
        }
    }
    if (!o->brokers || !*o->brokers) {
        fprintf(stderr, "broker-bench: --brokers (or KAFKA_BROKERS) is required\n");
        return -1;
    }
    return 0;
}

static void bench_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct bench_state *st = opaque;
    if (msg->err)
        atomic_fetch_add(&st->delivery_errors, 1);
    atomic_fetch_add(&st->delivered, 1);
    atomic_store(&st->last_dr_ns, bench_now_ns());
}

static int bench_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[256];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "broker-bench: %s=%s: %s\n", name, value, err);
        return -1;
    }
    return 0;
}

static void *bench_consume(void *arg)
{
    struct bench_state *st = arg;
    int64_t deadline = bench_now_ns() + (int64_t)st->timeout_s * 1000000000LL;
    while (st->consumed < st->want) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(st->consumer, 100);
        if (!msg) {
            if (bench_now_ns() > deadline) {
                st->consumer_failed = 1;
                break;
            }
            continue;
        }
        if (msg->err) {
            if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "broker-bench: consume: %s\n",
                        rd_kafka_message_errstr(msg));
        } else {
            int64_t t = bench_now_ns();
            if (st->consumed == 0)
                st->first_consumed_ns = t;
            st->last_consumed_ns = t;
            st->consumed++;
            st->bytes_consumed += (int64_t)msg->len;
        }
        rd_kafka_message_destroy(msg);
    }
    return NULL;
}

/* The topic's partition count from the broker's metadata, or -1. */
static int bench_partitions(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && !md->topics[0].err)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    if (bench_parse(argc, argv, &o) != 0) {
        bench_usage(stderr);
        return 2;
    }
    static struct bench_state st;
    st.want = o.count;
    st.timeout_s = o.timeout_s;
    char err[512];

    /* Producer: the services' settings (shared/kafka.c sc_producer_new). */
    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    if (bench_set(pconf, "bootstrap.servers", o.brokers) ||
        bench_set(pconf, "enable.idempotence", "true") ||
        bench_set(pconf, "acks", "all") || bench_set(pconf, "linger.ms", "5") ||
        bench_set(pconf, "compression.type", "lz4") ||
        bench_set(pconf, "message.timeout.ms", "300000"))
        return 2;
    rd_kafka_conf_set_dr_msg_cb(pconf, bench_dr_cb);
    rd_kafka_conf_set_opaque(pconf, &st);
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof(err));
    if (!producer) {
        fprintf(stderr, "broker-bench: producer: %s\n", err);
        return 2;
    }

    /* Consumer: assigned to every partition (no group join to wait for). */
    rd_kafka_conf_t *cconf = rd_kafka_conf_new();
    char group[64];
    snprintf(group, sizeof(group), "broker-bench-%lld", (long long)bench_now_ns());
    if (bench_set(cconf, "bootstrap.servers", o.brokers) ||
        bench_set(cconf, "group.id", group) ||
        bench_set(cconf, "enable.auto.commit", "false") ||
        bench_set(cconf, "fetch.wait.max.ms", "10") ||
        bench_set(cconf, "enable.partition.eof", "false"))
        return 2;
    st.consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, err, sizeof(err));
    if (!st.consumer) {
        fprintf(stderr, "broker-bench: consumer: %s\n", err);
        return 2;
    }
    rd_kafka_poll_set_consumer(st.consumer);
    int partitions = bench_partitions(producer, o.topic);
    if (partitions <= 0) {
        fprintf(stderr, "broker-bench: no metadata for topic %s\n", o.topic);
        return 1;
    }
    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(parts, o.topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t aerr = rd_kafka_assign(st.consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (aerr) {
        fprintf(stderr, "broker-bench: assign: %s\n", rd_kafka_err2str(aerr));
        return 1;
    }
    pthread_t thread;
    if (pthread_create(&thread, NULL, bench_consume, &st) != 0) {
        fprintf(stderr, "broker-bench: cannot start the consumer thread\n");
        return 1;
    }

    /* A post-like JSON value; the id varies, the rest repeats as real posts partly do. */
    char *value = malloc((size_t)o.size + 1);
    if (!value)
        return 1;
    for (int i = 0; i < o.size; i++)
        value[i] = (char)('a' + (i * 7 + i / 13) % 26);
    memcpy(value, "{\"id\":\"", 7);
    char key[32];
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(producer, o.topic, NULL);
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < o.count; i++) {
        int klen = snprintf(key, sizeof(key), "author-%ld", i % o.keys);
        char idbuf[24];
        int idlen = snprintf(idbuf, sizeof(idbuf), "%016ld", i);
        if (7 + idlen < o.size)
            memcpy(value + 7, idbuf, (size_t)idlen);
        for (;;) {
            if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, value,
                                 (size_t)o.size, key, (size_t)klen, NULL) == 0)
                break;
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "broker-bench: produce: %s\n", rd_kafka_err2str(e));
                return 1;
            }
            rd_kafka_poll(producer, 1);
        }
        if ((i & 1023) == 0)
            rd_kafka_poll(producer, 0);
    }
    rd_kafka_resp_err_t ferr = rd_kafka_flush(producer, o.timeout_s * 1000);
    pthread_join(thread, NULL);

    long delivered = atomic_load(&st.delivered);
    long derr = atomic_load(&st.delivery_errors);
    double produce_s = (double)(atomic_load(&st.last_dr_ns) - t0) / 1e9;
    double hop_s = (double)(st.last_consumed_ns - t0) / 1e9;
    double consume_s = (double)(st.last_consumed_ns - st.first_consumed_ns) / 1e9;
    printf(
        "{\"bench\":\"broker\",\"topic\":\"%s\",\"partitions\":%d,\"messages\":%ld,"
        "\"value_bytes\":%d,\"delivered\":%ld,\"delivery_errors\":%ld,\"consumed\":%ld,"
        "\"produce_s\":%.3f,\"produce_msgs_per_s\":%.0f,\"consume_msgs_per_s\":%.0f,"
        "\"hop_s\":%.3f,\"hop_msgs_per_s\":%.0f}\n",
        o.topic, partitions, o.count, o.size, delivered, derr, st.consumed, produce_s,
        produce_s > 0 ? (double)delivered / produce_s : 0.0,
        consume_s > 0 ? (double)(st.consumed - 1) / consume_s : 0.0, hop_s,
        hop_s > 0 ? (double)st.consumed / hop_s : 0.0);
    fflush(stdout);

    free(value);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(st.consumer);
    rd_kafka_destroy(st.consumer);
    rd_kafka_destroy(producer);
    if (ferr || derr || st.consumer_failed || st.consumed < o.count) {
        fprintf(stderr,
                "broker-bench: incomplete: flush %s, %ld delivery errors, %ld of %ld "
                "consumed\n",
                rd_kafka_err2str(ferr), derr, st.consumed, o.count);
        return 1;
    }
    return 0;
}
