/* socialcare-reply-sink: a local stand-in for a social platform's reply API, used by the
 * demo and the end-to-end tests as the responder's REPLY_ENDPOINT. POST /v1/replies (also
 * / and /replies) with a JSON body answers 200 {"id":"sink-<n>"}; the same
 * Idempotency-Key always gets the same id and is counted once, as a platform that honours
 * idempotency keys would. GET /stats answers {"received":<requests>,"unique":<distinct
 * keys>}. --fail-every N answers 503 to every Nth POST, so retries can be exercised. It
 * prints the usual ready line
 * ("socialcare-reply-sink ready port=<port>") and exits 0 on SIGTERM or SIGINT. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "demo-map.h"
#include "http.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"

struct sink {
    pthread_mutex_t lock;
    struct demo_map keys; /* Idempotency-Key -> id number (as uintptr_t) */
    uint64_t received;    /* POST requests, failed ones included */
    uint64_t unique;      /* ids handed out: distinct keys plus requests without a key */
    uint64_t next_id;
    long fail_every;
    struct sc_metric *requests; /* socialcare_reply_sink_requests_total{result} */
};

static void sink_post(void *opaque, const struct sc_http_request *req,
                      struct sc_http_response *resp)
{
    struct sink *sink = opaque;
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
    int valid = body && json_is_object(body);
    json_decref(body);
    const char *key = sc_http_header(req, "Idempotency-Key");

    pthread_mutex_lock(&sink->lock);
    uint64_t n = ++sink->received;
    if (sink->fail_every > 0 && n % (uint64_t)sink->fail_every == 0) {
        pthread_mutex_unlock(&sink->lock);
        sc_metric_inc(sink->requests, SC_LABELS("failed"));
        sc_http_json_error(resp, 503, "unavailable", "injected failure (--fail-every)");
        return;
    }
    if (!valid) {
        pthread_mutex_unlock(&sink->lock);
        sc_metric_inc(sink->requests, SC_LABELS("invalid"));
        sc_http_json_error(resp, 400, "invalid_json", "the body must be a JSON object");
        return;
    }
    uint64_t id;
    int added = 1;
    if (key && *key) {
        void **value = demo_map_put(&sink->keys, key, &added);
        if (added)
            *value = (void *)(uintptr_t)++sink->next_id;
        id = (uint64_t)(uintptr_t)*value;
    } else {
        id = ++sink->next_id;
    }
    if (added)
        sink->unique++;
    pthread_mutex_unlock(&sink->lock);

    sc_metric_inc(sink->requests, SC_LABELS(added ? "accepted" : "repeated"));
    resp->status = 200;
    resp->body = sc_asprintf("{\"id\":\"sink-%" PRIu64 "\"}", id);
}

static void sink_stats(void *opaque, const struct sc_http_request *req,
                       struct sc_http_response *resp)
{
    struct sink *sink = opaque;
    (void)req;
    pthread_mutex_lock(&sink->lock);
    uint64_t received = sink->received, unique = sink->unique;
    pthread_mutex_unlock(&sink->lock);
    resp->status = 200;
    resp->body = sc_asprintf("{\"received\":%" PRIu64 ",\"unique\":%" PRIu64 "}",
                             received, unique);
}

static int sink_ready(void *opaque, char *why, size_t why_size)
{
    (void)opaque;
    (void)why;
    (void)why_size;
    return 1;
}

static void sink_usage(FILE *out)
{
    fprintf(
        out,
        "usage: socialcare-reply-sink [--port N] [--bind ADDR] [--fail-every N]\n"
        "A stand-in platform for replies: POST /v1/replies (or / or /replies) with a\n"
        "JSON body -> 200 {\"id\":\"sink-<n>\"}, the same Idempotency-Key -> the same\n"
        "id; GET /stats -> {\"received\":n,\"unique\":n}.\n"
        "  --port N        listen port, 0 picks a free one (default 0)\n"
        "  --bind ADDR     listen address (default 127.0.0.1)\n"
        "  --fail-every N  answer 503 to every Nth POST (default 0: never)\n"
        "Prints \"socialcare-reply-sink ready port=<port>\" when listening.\n");
}

static int sink_parse_long(const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || errno || end == text || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    long port = 0, fail_every = 0;
    const char *bind_addr = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            sink_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--port") &&
                   sink_parse_long(val, 0, 65535, &port) == 0) {
            i++;
        } else if (!strcmp(argv[i], "--fail-every") &&
                   sink_parse_long(val, 0, 1000000000, &fail_every) == 0) {
            i++;
        } else if (!strcmp(argv[i], "--bind") && val) {
            bind_addr = val;
            i++;
        } else {
            fprintf(stderr, "reply-sink: unknown option or bad value: %s\n", argv[i]);
            sink_usage(stderr);
            return 2;
        }
    }

    sc_log_init("reply-sink", SC_LOG_INFO, 2);
    sc_lifecycle_install();

    struct sc_metrics *metrics = sc_metrics_new("reply-sink", SC_VERSION);
    struct sink sink = {.fail_every = fail_every};
    pthread_mutex_init(&sink.lock, NULL);
    sink.requests = sc_metrics_counter(metrics, "socialcare_reply_sink_requests_total",
                                       "POST requests by result", "result");

    char errstr[256];
    struct sc_http_config conf = {.port = (int)port,
                                  .bind_addr = bind_addr,
                                  .metrics = metrics,
                                  .ready = sink_ready,
                                  .ready_opaque = &sink};
    struct sc_http *http = sc_http_new(&conf, errstr, sizeof(errstr));
    int rc = http ? 0 : SC_EINVAL;
    static const char *const post_paths[] = {"/v1/replies", "/replies", "/"};
    for (size_t i = 0; rc == 0 && i < sizeof(post_paths) / sizeof(post_paths[0]); i++)
        rc = sc_http_route(http, "POST", post_paths[i], sink_post, &sink);
    if (rc == 0)
        rc = sc_http_route(http, "GET", "/stats", sink_stats, &sink);
    if (rc == 0)
        rc = sc_http_start(http, errstr, sizeof(errstr));
    else if (http)
        snprintf(errstr, sizeof(errstr), "adding routes failed");
    if (rc != 0) {
        sc_log(SC_LOG_CRIT, "HTTP", "cannot serve: %s", errstr);
        sc_http_free(http);
        sc_metrics_free(metrics);
        return 1;
    }

    sc_lifecycle_ready("reply-sink", sc_http_port(http));
    /* Wait for SIGTERM/SIGINT: the handler only sets a flag, so look at it a few times a
     * second. */
    const struct timespec tick = {0, 50 * 1000 * 1000};
    while (!sc_lifecycle_stopping())
        nanosleep(&tick, NULL);

    sc_http_free(http);
    sc_log(SC_LOG_INFO, "MAIN", "stopped: received=%" PRIu64 " unique=%" PRIu64,
           sink.received, sink.unique);
    demo_map_cleanup(&sink.keys, NULL);
    pthread_mutex_destroy(&sink.lock);
    sc_metrics_free(metrics);
    return 0;
}
