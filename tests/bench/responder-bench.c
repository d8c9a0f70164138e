/* socialcare-responder-bench: throughput of the responder's two hot paths.
 *   ratelimit --redis URL [--decisions N] [--per-call K] [--pipeline P] [--accounts A]
 *             [--customers C]
 *       rate-limit decisions per second against a real Redis: EVALSHA of the GCRA script
 *       deciding K replies per call (as the engine decides a consumed batch), P calls
 *       pipelined per round trip, for A accounts and C customers (limits set so high that
 *       every decision is "allowed", the expensive path: two SETs).
 *   send --url BASE [--platform mastodon|x|bluesky|generic] [--token T] [--replies N]
 *        [--batch B] [--connections C]
 *       replies per second through the platform client (request building, libcurl multi,
 *       answer reading) to a local peer (socialcare-platform-peer, limits off), B replies
 *       per round as the engine sends one consumed batch.
 *   produce --brokers B [--platform P] [--replies N] [--customers C]
 *       loads a backlog of N agent replies onto replies.outbound (for
 *       scripts/bench-responder.sh, which then times the responder service on it).
 * Prints one JSON line with the result. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "platform.h"
#include "ratelimit.h"
#include "kafka.h"
#include "redis.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

static int bench_ratelimit(int argc, char **argv)
{
    const char *url = arg(argc, argv, "--redis", "redis://127.0.0.1:6379/0");
    long n = atol(arg(argc, argv, "--decisions", "1000000"));
    long pipeline = atol(arg(argc, argv, "--pipeline", "16"));
    long per_call = atol(arg(argc, argv, "--per-call", "64"));
    long accounts = atol(arg(argc, argv, "--accounts", "4"));
    long customers = atol(arg(argc, argv, "--customers", "100000"));
    char err[256];
    struct sc_redis *redis = sc_redis_new(url, 5000, err, sizeof(err));
    if (!redis) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    struct sc_redis_script gcra = {.source = ratelimit_gcra_lua};
    sc_redis_script_register(redis, &gcra);
    if (sc_redis_connect(redis) != 0) {
        fprintf(stderr, "cannot connect to %s\n", url);
        sc_redis_free(redis);
        return 2;
    }
    struct sc_redis_batch *b = sc_redis_batch_new();
    /* 1e9 per minute: never the limiting factor, so every decision writes both buckets */
    const char *ai = "0.00006", *ab = "1000000", *ci = "0.00006", *cb = "1000000";
    if (per_call < 1 || per_call > RATELIMIT_MAX_PER_CALL)
        per_call = RATELIMIT_MAX_PER_CALL;
    char(*keys)[3][64] = sc_malloc((size_t)per_call * sizeof(*keys));
    const char **args = sc_malloc(8 * (size_t)per_call * sizeof(*args));
    size_t *lens = sc_malloc(8 * (size_t)per_call * sizeof(*lens));
    long done = 0, allowed = 0, calls = 0;
    double t0 = now_s();
    while (done < n) {
        sc_redis_batch_reset(b);
        long queued = 0;
        for (long c = 0; c < pipeline && done + queued < n; c++) {
            long k = n - done - queued < per_call ? n - done - queued : per_call;
            for (long i = 0; i < k; i++) {
                long id = done + queued + i;
                char a[32], cu[32];
                snprintf(a, sizeof(a), "x:acct%ld", id % accounts);
                snprintf(cu, sizeof(cu), "x:u%ld", id % customers);
                ratelimit_keys(a, cu, keys[i][0], keys[i][1], keys[i][2],
                               sizeof(keys[i][0]));
                args[3 * i] = keys[i][0];
                args[3 * i + 1] = keys[i][1];
                args[3 * i + 2] = keys[i][2];
                const char **v = &args[3 * k + 5 * i];
                v[0] = ai, v[1] = ab, v[2] = ci, v[3] = cb, v[4] = "1";
            }
            for (long i = 0; i < 8 * k; i++)
                lens[i] = strlen(args[i]);
            sc_redis_batch_add_eval(b, &gcra, (int)(3 * k), (int)(8 * k), args, lens);
            queued += k;
            calls++;
        }
        if (sc_redis_batch_run(redis, b) != 0) {
            fprintf(stderr, "redis batch failed\n");
            break;
        }
        for (size_t i = 0; i < sc_redis_batch_count(b); i++) {
            redisReply *r = sc_redis_batch_reply(b, i);
            for (size_t j = 0; r && r->type == REDIS_REPLY_ARRAY && j + 2 < r->elements;
                 j += 3)
                allowed += r->element[j]->integer == 1;
        }
        done += queued;
    }
    double dt = now_s() - t0;
    printf(
        "{\"bench\":\"ratelimit\",\"decisions\":%ld,\"allowed\":%ld,\"calls\":%ld,"
        "\"per_call\":%ld,\"pipeline\":%ld,\"seconds\":%.3f,\"decisions_per_s\":%.0f}\n",
        done, allowed, calls, per_call, pipeline, dt, done / dt);
    sc_free(keys);
    sc_free(args);
    sc_free(lens);
    sc_redis_batch_free(b);
    sc_redis_free(redis);
    return done == n && allowed == n ? 0 : 1;
}

static int bench_send(int argc, char **argv)
{
    const char *url = arg(argc, argv, "--url", "http://127.0.0.1:8099");
    const char *platform = arg(argc, argv, "--platform", "mastodon");
    const char *token = arg(argc, argv, "--token", "bench-token");
    long n = atol(arg(argc, argv, "--replies", "100000"));
    long batch = atol(arg(argc, argv, "--batch", "500"));
    long conns = atol(arg(argc, argv, "--connections", "16"));
    enum policy_platform p = policy_platform_of(platform);
    char *hook = sc_asprintf("%s/hook", url);
    struct platform_account acc = {.platform = p,
                                   .name = "bench",
                                   .base_url = p == POLICY_GENERIC ? hook : url,
                                   .token = token,
                                   .repo = "did:plc:peer"};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct platform_client *client = platform_client_new(10000, conns);
    struct platform_send *sends = sc_calloc((size_t)batch, sizeof(*sends));
    long done = 0, sent = 0;
    char err[128];
    double t0 = now_s();
    while (done < n) {
        long k = n - done < batch ? n - done : batch;
        for (long i = 0; i < k; i++) {
            char id[48], text[96], irt[32];
            snprintf(id, sizeof(id), "bench-%ld", done + i);
            snprintf(text, sizeof(text), "@c%ld thanks, we are on it (%ld)", done + i,
                     done + i);
            snprintf(irt, sizeof(irt), "%ld", 1000 + done + i);
            struct platform_msg msg = {.key = id,
                                       .reply_id = id,
                                       .platform = platform,
                                       .text = text,
                                       .in_reply_to = irt,
                                       .parent_cid = "bafyx",
                                       .now_ms = 0};
            if (platform_build(&acc, &msg, &sends[i].req, err, sizeof(err)) != 0) {
                fprintf(stderr, "%s\n", err);
                return 2;
            }
        }
        platform_send_round(client, sends, (size_t)k);
        for (long i = 0; i < k; i++) {
            sent += sends[i].res.verdict == SEND_VERDICT_SENT;
            platform_request_free(&sends[i].req);
        }
        done += k;
    }
    double dt = now_s() - t0;
    printf("{\"bench\":\"send\",\"platform\":\"%s\",\"replies\":%ld,\"sent\":%ld,"
           "\"batch\":%ld,\"connections\":%ld,\"seconds\":%.3f,\"replies_per_s\":%.0f}\n",
           platform, done, sent, batch, conns, dt, done / dt);
    sc_free(sends);
    platform_client_free(client);
    sc_free(hook);
    curl_global_cleanup();
    return sent == n ? 0 : 1;
}

static int bench_produce(int argc, char **argv)
{
    const char *brokers = arg(argc, argv, "--brokers", "127.0.0.1:9092");
    const char *platform = arg(argc, argv, "--platform", "mastodon");
    long n = atol(arg(argc, argv, "--replies", "100000"));
    long customers = atol(arg(argc, argv, "--customers", "20000"));
    char err[256];
    struct sc_kafka_conf conf = {.brokers = brokers, .client_id = "responder-bench"};
    struct sc_producer *producer = sc_producer_new(&conf, err, sizeof(err));
    if (!producer) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    struct sc_delivery delivery = {0};
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        char buf[512], customer[64];
        snprintf(customer, sizeof(customer), "%s:u%ld", platform, i % customers);
        int len = snprintf(buf, sizeof(buf),
                           "{\"v\":1,\"reply_id\":\"svc-%ld\",\"case_id\":\"case-%ld\","
                           "\"customer\":\"%s\",\"platform\":\"%s\",\"channel\":"
                           "\"public\",\"in_reply_to\":\"%s:p%ld\",\"text\":\"Thanks, we "
                           "are looking into it (%ld)\",\"origin\":\"agent:bench\"}",
                           i, i, customer, platform, platform, i, i);
        if (sc_producer_send(producer, "replies.outbound", customer, strlen(customer),
                             buf, (size_t)len, NULL, &delivery) != 0) {
            fprintf(stderr, "produce failed at %ld\n", i);
            return 1;
        }
    }
    int rc = sc_producer_wait(producer, &delivery, 120000);
    printf("{\"bench\":\"produce\",\"replies\":%ld,\"seconds\":%.3f,\"ok\":%s}\n", n,
           now_s() - t0, rc == 0 ? "true" : "false");
    sc_producer_free(producer, 10000);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "produce") == 0)
        return bench_produce(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "ratelimit") == 0)
        return bench_ratelimit(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "send") == 0)
        return bench_send(argc, argv);
    fprintf(stderr, "usage: %s ratelimit|send [options] (see the source header)\n",
            argv[0]);
    return 2;
}
