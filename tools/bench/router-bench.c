/* socialcare-router-bench: load generator for the escalation router benchmark. It
 * produces --count classified posts (the shape the classifier publishes: a mix of
 * complaints, questions, praise, bug reports, spam and the odd crisis, over --customers
 * customers and every default topic, some from influencers and some found by search) to
 * posts.classified as fast as the producer allows (lz4, keyed by customer), waits for
 * every delivery report and prints one line "produced N posts in S s (R posts/s)". The
 * router is then timed on that backlog by scripts/bench-router.sh. Development tool:
 * never pointed at a production cluster. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>

#include "lifecycle.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: socialcare-router-bench --brokers B [--count N] [--customers C]\n"
            "                              [--topic posts.classified] [--seed S]\n");
}

static unsigned long long rng_next(unsigned long long *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *topic = "posts.classified";
    long count = 200000, customers = 20000;
    unsigned long long seed = 88172645463325252ULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--brokers") && i + 1 < argc)
            brokers = argv[++i];
        else if (!strcmp(argv[i], "--count") && i + 1 < argc)
            count = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--customers") && i + 1 < argc)
            customers = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--topic") && i + 1 < argc)
            topic = argv[++i];
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10) | 1;
        else {
            usage(!strcmp(argv[i], "--help") ? stdout : stderr);
            return !strcmp(argv[i], "--help") ? 0 : 2;
        }
    }
    if (!brokers || count <= 0 || customers <= 0) {
        usage(stderr);
        return 2;
    }
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *props[][2] = {{"bootstrap.servers", brokers},
                              {"compression.type", "lz4"},
                              {"linger.ms", "20"},
                              {"batch.num.messages", "10000"},
                              {"queue.buffering.max.messages", "1000000"},
                              {"enable.idempotence", "true"}};
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "router-bench: %s\n", errstr);
            return 1;
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "router-bench: %s\n", errstr);
        return 1;
    }
    static const char *const intents[] = {
        "complaint", "complaint", "complaint",  "complaint", "question", "question",
        "praise",    "praise",    "bug_report", "spam",      "other",    "crisis"};
    static const char *const topics[] = {"billing",           "shipping",
                                         "technical_support", "accounts",
                                         "customer_service",  "other"};
    static const char *const kinds[] = {"mention", "mention", "mention",
                                        "reply",   "dm",      "comment"};
    static const char *const texts[] = {
        "I was charged twice for my order and nobody answers",
        "Where is my parcel? It was due three days ago",
        "The app keeps crashing when I open my account page",
        "Love the new store layout, great job team",
        "How do I change the delivery address on my order?",
        "Worst service ever, hours on hold and still no refund"};
    int64_t t0 = sc_now_ms();
    char buf[2048], key[64];
    long failed = 0;
    for (long i = 0; i < count; i++) {
        unsigned long long r = rng_next(&seed);
        long customer = (long)(r % (unsigned long long)customers);
        const char *intent = intents[(r >> 16) % 12];
        const char *topic_name = topics[(r >> 24) % 6];
        const char *kind = kinds[(r >> 32) % 6];
        const char *text = texts[(r >> 40) % 6];
        double score = !strcmp(intent, "praise")                                 ? 0.8
                       : !strcmp(intent, "question") || !strcmp(intent, "other") ? 0.0
                                                                                 : -0.6;
        long long followers =
            (r >> 48) % 100 == 0 ? 250000 : (long long)((r >> 20) % 5000);
        const char *source = (r >> 56) % 20 == 0 ? "search" : "webhook";
        snprintf(key, sizeof(key), "x:b%ld", customer);
        int n = snprintf(
            buf, sizeof(buf),
            "{\"v\":1,\"id\":\"x:bench%ld\",\"platform\":\"x\",\"kind\":\"%s\","
            "\"created_at\":\"2026-11-22T07:33:29Z\",\"received_at\":"
            "\"2026-11-22T07:33:30.120Z\",\"author\":{\"id\":\"b%ld\",\"handle\":\"cust%"
            "ld\","
            "\"followers\":%lld,\"verified\":false},\"text\":\"%s\",\"lang\":\"en\","
            "\"engagement\":{\"likes\":%d,\"reposts\":0,\"replies\":0},"
            "\"source\":{\"type\":\"%s\",\"name\":\"bench\"},\"classification\":{"
            "\"sentiment\":{\"label\":\"%s\",\"score\":%.2f},\"intent\":\"%s\","
            "\"topic\":\"%s\",\"confidence\":0.8,\"influence\":%.2f,\"pii\":[],"
            "\"model\":\"bench\"}}",
            i, kind, customer, customer, followers, text, (int)((r >> 8) % 7), source,
            score < -0.2  ? "negative"
            : score > 0.2 ? "positive"
                          : "neutral",
            score, intent, topic_name, followers > 100000 ? 0.8 : 0.1);
        for (;;) {
            rd_kafka_resp_err_t err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                RD_KAFKA_V_VALUE(buf, (size_t)n),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 10);
                continue;
            }
            if (err)
                failed++;
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 120000);
    int64_t ms = sc_now_ms() - t0;
    rd_kafka_destroy(rk);
    printf("produced %ld posts in %.2f s (%.0f posts/s)%s\n", count - failed,
           (double)ms / 1e3, (double)(count - failed) * 1e3 / (double)(ms > 0 ? ms : 1),
           failed ? " WITH FAILURES" : "");
    return failed ? 1 : 0;
}
