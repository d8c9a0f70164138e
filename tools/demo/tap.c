/* socialcare-tap: reads every pipeline topic from the beginning (manual assignment, no
 * consumer group, nothing committed) and sums up what the pipeline did: posts in,
 * intents, cases opened and updated, replies requested and their delivery outcomes,
 * dead-lettered input by service and reason, and the end-to-end latency of each post
 * (from its received_at to the broker timestamp of the message that completed it: its
 * case event or, when it was answered, the delivery report of its reply). Everything is
 * counted by id, so redelivered messages are not counted twice. It stops when --expect
 * posts reached their outcome and every requested reply was delivered, or at --timeout
 * (exit 1, partial summary). `make demo` ends with its summary. With --defer-ms it reads
 * nothing while the pipeline works: it watches the topics' high watermarks (a cheap
 * ListOffsets request) and reads only once they were unchanged for that long, so a
 * benchmark's observer does not compete with the pipeline for CPU; the figures are the
 * same because they come from the broker's timestamps. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "demo-map.h"
#include "lifecycle.h"

/* ------------------------------------------------------------------ options */

enum tap_topic {
    TAP_POSTS_INBOUND,
    TAP_POSTS_CLASSIFIED,
    TAP_CASES_EVENTS,
    TAP_REPLIES_OUTBOUND,
    TAP_REPLIES_DELIVERED,
    TAP_DLQ,
    TAP_TOPIC_COUNT
};

/* Defaults; each can be changed with the service's environment variable name. */
static const char *const tap_topic_env[TAP_TOPIC_COUNT] = {
    "TOPIC_POSTS_INBOUND",    "TOPIC_POSTS_CLASSIFIED",  "TOPIC_CASES_EVENTS",
    "TOPIC_REPLIES_OUTBOUND", "TOPIC_REPLIES_DELIVERED", "TOPIC_DLQ"};
static const char *const tap_topic_default[TAP_TOPIC_COUNT] = {
    "posts.inbound",    "posts.classified",  "cases.events",
    "replies.outbound", "replies.delivered", "pipeline.dlq"};

struct tap_options {
    const char *brokers;
    long expect;
    long timeout_s;
    bool json;
    bool quiet;
    long defer_ms; /* 0: read as messages arrive; else only after the topics were still */
    const char *ingestor_metrics;
    const char *topics[TAP_TOPIC_COUNT];
};

/* ------------------------------------------------------------------ state */

#define TAP_INTENT_MAX 16
static const char *const tap_known_intents[] = {
    "complaint", "question", "praise", "spam", "bug_report", "crisis", "other"};

enum tap_status {
    TAP_ST_NONE = -1,
    TAP_ST_SENT,
    TAP_ST_HELD,
    TAP_ST_FAILED,
    TAP_ST_SUPPRESSED,
    TAP_ST_OTHER,
    TAP_ST_COUNT
};

struct tap_post {
    bool in;             /* seen on posts.inbound */
    int64_t received_ms; /* its received_at; -1 unknown */
    int intent;          /* index into tap.intents; -1 none yet */
    bool has_case;
    int64_t case_ts;
    int n_replies;   /* replies requested in reply to it */
    int n_delivered; /* of those, how many have a delivery */
    int64_t last_delivery_ts;
    int64_t
        inbound_ts; /* broker timestamps per hop, for SC_TAP_LATENCY_FILE; 0 unknown */
    int64_t classified_ts;
    int64_t outbound_ts; /* first reply requested for it */
    bool outcome;
};

struct tap_reply {
    struct tap_post *post; /* the post it answers, when known */
    bool requested;        /* seen on replies.outbound */
    int status;            /* last delivery status; TAP_ST_NONE until delivered */
    int64_t delivered_ts;  /* broker time of its first delivery report */
};

struct tap_count {
    char *name;
    long n;
};

struct tap_dlq_service {
    char *service;
    long total;
    struct tap_count *reasons;
    size_t n_reasons;
};

struct tap {
    struct demo_map posts;   /* id -> struct tap_post */
    struct demo_map replies; /* reply_id -> struct tap_reply */
    struct demo_map cases;   /* case_id of case.opened -> NULL */
    struct demo_map updates; /* post_id of case.updated -> NULL */
    long posts_in, outcomes;
    long replies_requested, replies_requested_delivered;
    long by_status[TAP_ST_COUNT];
    struct tap_count intents[TAP_INTENT_MAX];
    size_t n_intents;
    struct tap_dlq_service *dlq;
    size_t n_dlq;
    long dlq_total;
    long unparsed[TAP_TOPIC_COUNT];
    long messages;
};

static void tap_free_value(void *value)
{
    sc_free(value);
}

static struct tap_post *tap_post_get(struct tap *tap, const char *id)
{
    int added;
    void **value = demo_map_put(&tap->posts, id, &added);
    if (added) {
        struct tap_post *post = sc_calloc(1, sizeof(*post));
        post->received_ms = -1;
        post->intent = -1;
        *value = post;
    }
    return *value;
}

static struct tap_reply *tap_reply_get(struct tap *tap, const char *id)
{
    int added;
    void **value = demo_map_put(&tap->replies, id, &added);
    if (added) {
        struct tap_reply *reply = sc_calloc(1, sizeof(*reply));
        reply->status = TAP_ST_NONE;
        *value = reply;
    }
    return *value;
}

/* A post reached its outcome when its case event arrived and every reply requested for it
 * has a delivery report. A reply that shows up later reopens it. */
static void tap_post_check(struct tap *tap, struct tap_post *post)
{
    bool done = post->has_case && post->n_delivered >= post->n_replies;
    if (done && !post->outcome)
        tap->outcomes++;
    else if (!done && post->outcome)
        tap->outcomes--;
    post->outcome = done;
}

static int tap_intent_index(struct tap *tap, const char *name)
{
    for (size_t i = 0; i < tap->n_intents; i++)
        if (!strcmp(tap->intents[i].name, name))
            return (int)i;
    if (tap->n_intents == TAP_INTENT_MAX)
        return (int)TAP_INTENT_MAX - 1; /* the last slot collects any further names */
    tap->intents[tap->n_intents].name = sc_strdup(name);
    return (int)tap->n_intents++;
}

static void tap_count_add(struct tap_count **counts, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++) {
        if (!strcmp((*counts)[i].name, name)) {
            (*counts)[i].n++;
            return;
        }
    }
    *counts = sc_realloc(*counts, (*n + 1) * sizeof(**counts));
    (*counts)[*n].name = sc_strdup(name);
    (*counts)[*n].n = 1;
    (*n)++;
}

static int tap_status_parse(const char *status)
{
    if (!status)
        return TAP_ST_OTHER;
    if (!strcmp(status, "sent"))
        return TAP_ST_SENT;
    if (!strcmp(status, "held_for_review"))
        return TAP_ST_HELD;
    if (!strcmp(status, "failed"))
        return TAP_ST_FAILED;
    if (!strcmp(status, "suppressed"))
        return TAP_ST_SUPPRESSED;
    return TAP_ST_OTHER;
}

/* ------------------------------------------------------------------ messages */

static const char *tap_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static char *tap_header(const rd_kafka_message_t *msg, const char *name)
{
    rd_kafka_headers_t *headers = NULL;
    const void *value;
    size_t size;
    if (rd_kafka_message_headers(msg, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(headers, name, &value, &size) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        !value)
        return NULL;
    return sc_strndup(value, size);
}

static void tap_dlq(struct tap *tap, const rd_kafka_message_t *msg)
{
    char *service = tap_header(msg, "service");
    char *reason = tap_header(msg, "reason");
    if (!service)
        service = sc_strdup("unknown");
    if (!reason)
        reason = sc_strdup("unknown");
    reason[strcspn(reason, ":")] = '\0'; /* the class: the text before ':' */
    struct tap_dlq_service *svc = NULL;
    for (size_t i = 0; i < tap->n_dlq && !svc; i++)
        if (!strcmp(tap->dlq[i].service, service))
            svc = &tap->dlq[i];
    if (!svc) {
        tap->dlq = sc_realloc(tap->dlq, (tap->n_dlq + 1) * sizeof(*tap->dlq));
        svc = &tap->dlq[tap->n_dlq++];
        memset(svc, 0, sizeof(*svc));
        svc->service = sc_strdup(service);
    }
    svc->total++;
    tap->dlq_total++;
    tap_count_add(&svc->reasons, &svc->n_reasons, reason[0] ? reason : "unknown");
    sc_free(service);
    sc_free(reason);
}

static void tap_message(struct tap *tap, enum tap_topic topic,
                        const rd_kafka_message_t *msg)
{
    tap->messages++;
    if (topic == TAP_DLQ) {
        tap_dlq(tap, msg);
        return;
    }
    int64_t ts = rd_kafka_message_timestamp(msg, NULL);
    json_t *ev = json_loadb(msg->payload, msg->len, 0, NULL);
    if (!ev || !json_is_object(ev)) {
        tap->unparsed[topic]++;
        json_decref(ev);
        return;
    }
    switch (topic) {
        case TAP_POSTS_INBOUND: {
            const char *id = tap_str(ev, "id");
            if (!id)
                break;
            struct tap_post *post = tap_post_get(tap, id);
            if (!post->in) {
                post->in = true;
                post->inbound_ts = ts;
                tap->posts_in++;
                int64_t ms;
                const char *received = tap_str(ev, "received_at");
                if (received && sc_parse_time(received, &ms) == 0)
                    post->received_ms = ms;
            }
            break;
        }
        case TAP_POSTS_CLASSIFIED: {
            const char *id = tap_str(ev, "id");
            const char *intent = json_string_value(
                json_object_get(json_object_get(ev, "classification"), "intent"));
            if (!id || !intent)
                break;
            struct tap_post *post = tap_post_get(tap, id);
            if (post->intent < 0) {
                post->classified_ts = ts;
                post->intent = tap_intent_index(tap, intent);
                tap->intents[post->intent].n++;
            }
            break;
        }
        case TAP_CASES_EVENTS: {
            const char *type = tap_str(ev, "type"), *post_id = tap_str(ev, "post_id");
            const char *case_id = tap_str(ev, "case_id");
            int added;
            if (type && case_id && !strcmp(type, "case.opened"))
                demo_map_put(&tap->cases, case_id, &added);
            if (type && post_id && !strcmp(type, "case.updated"))
                demo_map_put(&tap->updates, post_id, &added);
            if (!post_id)
                break;
            struct tap_post *post = tap_post_get(tap, post_id);
            if (!post->has_case) {
                post->has_case = true;
                post->case_ts = ts;
                tap_post_check(tap, post);
            }
            break;
        }
        case TAP_REPLIES_OUTBOUND: {
            const char *reply_id = tap_str(ev, "reply_id");
            if (!reply_id)
                break;
            struct tap_reply *reply = tap_reply_get(tap, reply_id);
            if (reply->requested)
                break;
            reply->requested = true;
            tap->replies_requested++;
            if (reply->status != TAP_ST_NONE)
                tap->replies_requested_delivered++;
            const char *in_reply_to = tap_str(ev, "in_reply_to");
            if (in_reply_to) {
                reply->post = tap_post_get(tap, in_reply_to);
                reply->post->n_replies++;
                if (!reply->post->outbound_ts || ts < reply->post->outbound_ts)
                    reply->post->outbound_ts = ts;
                if (reply->status != TAP_ST_NONE) {
                    reply->post->n_delivered++;
                    if (reply->delivered_ts > reply->post->last_delivery_ts)
                        reply->post->last_delivery_ts = reply->delivered_ts;
                }
                tap_post_check(tap, reply->post);
            }
            break;
        }
        case TAP_REPLIES_DELIVERED: {
            const char *reply_id = tap_str(ev, "reply_id");
            if (!reply_id)
                break;
            struct tap_reply *reply = tap_reply_get(tap, reply_id);
            int status = tap_status_parse(tap_str(ev, "status"));
            if (reply->status != TAP_ST_NONE) {
                /* A repeated report: the last status wins. */
                tap->by_status[reply->status]--;
                tap->by_status[status]++;
                reply->status = status;
                break;
            }
            reply->status = status;
            reply->delivered_ts = ts;
            tap->by_status[status]++;
            if (reply->requested)
                tap->replies_requested_delivered++;
            if (reply->post) {
                reply->post->n_delivered++;
                if (ts > reply->post->last_delivery_ts)
                    reply->post->last_delivery_ts = ts;
                tap_post_check(tap, reply->post);
            }
            break;
        }
        case TAP_DLQ:
        case TAP_TOPIC_COUNT:
            break;
    }
    json_decref(ev);
}

/* ------------------------------------------------------------------ ingestor metrics */

struct tap_body {
    char *data;
    size_t len;
};

static size_t tap_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct tap_body *body = userdata;
    size_t n = size * nmemb;
    if (body->len + n > 4 * 1024 * 1024)
        return 0; /* a metrics page is never that big: give up */
    body->data = sc_realloc(body->data, body->len + n + 1);
    memcpy(body->data + body->len, ptr, n);
    body->len += n;
    body->data[body->len] = '\0';
    return n;
}

/* Sums socialcare_ingestor_posts_total{...,outcome="<outcome>",...} over its other labels
 * (source, ...) in a Prometheus text page. @returns the sum, or -1 when no series
 * matched. */
static double tap_metric_value(const char *page, const char *outcome)
{
    static const char family[] = "socialcare_ingestor_posts_total{";
    char label[64];
    snprintf(label, sizeof(label), "outcome=\"%s\"", outcome);
    double sum = -1;
    for (const char *line = page; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > sizeof(family) && !strncmp(line, family, sizeof(family) - 1)) {
            const char *close = memchr(line, '}', len);
            char *labels = sc_strndup(line, close ? (size_t)(close - line) : len);
            bool match = strstr(labels, label) != NULL;
            sc_free(labels);
            if (match && close)
                sum = (sum < 0 ? 0 : sum) + strtod(close + 1, NULL);
        }
        line = end ? end + 1 : NULL;
    }
    return sum;
}

/* Fetches the ingestor's /metrics. @returns duplicates dropped, or -1 when unknown. */
static long tap_ingestor_duplicates(const char *url)
{
    struct tap_body body = {0};
    CURL *curl = curl_easy_init();
    if (!curl)
        return -1;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, tap_curl_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    long status = 0;
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    double dup = -1;
    if (rc == CURLE_OK && status == 200 && body.data)
        dup = tap_metric_value(body.data, "duplicate");
    else
        fprintf(stderr, "tap: cannot read %s: %s (HTTP %ld)\n", url,
                rc == CURLE_OK ? "bad status" : curl_easy_strerror(rc), status);
    sc_free(body.data);
    return dup < 0 ? -1 : (long)dup;
}

/* ------------------------------------------------------------------ summary */

static int tap_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int tap_cmp_count(const void *a, const void *b)
{
    const struct tap_count *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? 1 : -1;
    return strcmp(x->name, y->name);
}

static int tap_cmp_dlq(const void *a, const void *b)
{
    const struct tap_dlq_service *x = a, *y = b;
    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    return strcmp(x->service, y->service);
}

struct tap_latency {
    size_t n;
    int64_t p50, p99, max;
    int64_t first_ms, last_ms; /* first receive and last outcome, wall ms */
};

static struct tap_latency tap_latency(const struct tap *tap)
{
    struct tap_latency lat = {0};
    int64_t *v = sc_malloc((tap->posts.len + 1) * sizeof(*v));
    /* For latency analysis: SC_TAP_LATENCY_FILE gets one row per post: "received_ms
     * latency_ms replied", then the broker timestamps (ms) of its hops: posts.inbound,
     * posts.classified, its case event, its first replies.outbound, its last delivery
     * (0 when it has none). */
    const char *dump_path = getenv("SC_TAP_LATENCY_FILE");
    FILE *dump = dump_path ? fopen(dump_path, "w") : NULL;
    for (size_t i = 0; i < tap->posts.cap; i++) {
        const struct tap_post *post = tap->posts.slots[i].value;
        if (!tap->posts.slots[i].key || !post->outcome || post->received_ms < 0)
            continue;
        int64_t end = post->case_ts;
        if (post->n_replies > 0 && post->last_delivery_ts > end)
            end = post->last_delivery_ts;
        if (lat.n == 0 || post->received_ms < lat.first_ms)
            lat.first_ms = post->received_ms;
        if (lat.n == 0 || end > lat.last_ms)
            lat.last_ms = end;
        v[lat.n++] = end - post->received_ms;
        if (dump)
            fprintf(dump,
                    "%" PRId64 " %" PRId64 " %d %" PRId64 " %" PRId64 " %" PRId64
                    " %" PRId64 " %" PRId64 "\n",
                    post->received_ms, end - post->received_ms, post->n_replies > 0,
                    post->inbound_ts, post->classified_ts, post->case_ts,
                    post->outbound_ts, post->n_replies > 0 ? post->last_delivery_ts : 0);
    }
    if (dump)
        fclose(dump);
    if (lat.n) {
        qsort(v, lat.n, sizeof(*v), tap_cmp_i64);
        /* Nearest rank. */
        lat.p50 = v[(lat.n * 50 + 99) / 100 - 1];
        lat.p99 = v[(lat.n * 99 + 99) / 100 - 1];
        lat.max = v[lat.n - 1];
    }
    sc_free(v);
    return lat;
}

/* Intents in a fixed order (the known ones first, then any other names seen). */
static size_t tap_intent_order(const struct tap *tap, size_t *order)
{
    size_t n = 0;
    for (size_t k = 0; k < sizeof(tap_known_intents) / sizeof(tap_known_intents[0]); k++)
        for (size_t i = 0; i < tap->n_intents; i++)
            if (!strcmp(tap->intents[i].name, tap_known_intents[k]))
                order[n++] = i;
    for (size_t i = 0; i < tap->n_intents; i++) {
        bool known = false;
        for (size_t k = 0; k < sizeof(tap_known_intents) / sizeof(tap_known_intents[0]);
             k++)
            known |= !strcmp(tap->intents[i].name, tap_known_intents[k]);
        if (!known)
            order[n++] = i;
    }
    return n;
}

static long tap_pending(const struct tap *tap)
{
    return tap->replies_requested - tap->replies_requested_delivered;
}

static long tap_dlq_of(const struct tap *tap, const char *service)
{
    for (size_t i = 0; i < tap->n_dlq; i++)
        if (!strcmp(tap->dlq[i].service, service))
            return tap->dlq[i].total;
    return 0;
}

static void tap_print_text(struct tap *tap, const struct tap_options *opt, bool done,
                           double elapsed_s, long duplicates)
{
    struct tap_latency lat = tap_latency(tap);
    printf("== socialcare demo summary ==\n");
    if (!done)
        printf(
            "INCOMPLETE:        stopped after %.1f s with %ld of %ld posts through the "
            "pipeline, %ld replies undelivered\n",
            elapsed_s, tap->outcomes, opt->expect, tap_pending(tap));
    printf("posts in:          %ld (", tap->posts_in);
    if (duplicates >= 0)
        printf("duplicates dropped: %ld, ", duplicates);
    printf("dead-lettered: %ld)\n", tap_dlq_of(tap, "ingestor"));

    size_t order[TAP_INTENT_MAX];
    size_t n = tap_intent_order(tap, order);
    printf("by intent:         ");
    for (size_t i = 0; i < n; i++)
        printf("%s%s %ld", i ? ", " : "", tap->intents[order[i]].name,
               tap->intents[order[i]].n);
    printf("%s\n", n ? "" : "(none)");

    printf("cases opened:      %zu (case updates: %zu)\n", tap->cases.len,
           tap->updates.len);
    printf("replies sent:      %ld (held for review: %ld, failed: %ld",
           tap->by_status[TAP_ST_SENT], tap->by_status[TAP_ST_HELD],
           tap->by_status[TAP_ST_FAILED]);
    if (tap->by_status[TAP_ST_SUPPRESSED])
        printf(", suppressed: %ld", tap->by_status[TAP_ST_SUPPRESSED]);
    if (tap->by_status[TAP_ST_OTHER])
        printf(", other: %ld", tap->by_status[TAP_ST_OTHER]);
    if (tap_pending(tap))
        printf(", not delivered yet: %ld", tap_pending(tap));
    printf(")\n");

    printf("dead-lettered:     %ld", tap->dlq_total);
    for (size_t i = 0; i < tap->n_dlq; i++) {
        const struct tap_dlq_service *svc = &tap->dlq[i];
        printf("%s%s:", i ? "; " : " (", svc->service);
        for (size_t r = 0; r < svc->n_reasons; r++)
            printf("%s %s %ld", r ? "," : "", svc->reasons[r].name, svc->reasons[r].n);
    }
    printf("%s\n", tap->n_dlq ? ")" : "");
    if (lat.n)
        printf("latency (end-to-end): p50 %" PRId64 " ms, p99 %" PRId64
               " ms; %.0f posts/s "
               "from first receive to last outcome\n",
               lat.p50, lat.p99,
               lat.last_ms > lat.first_ms
                   ? (double)lat.n * 1000.0 / (double)(lat.last_ms - lat.first_ms)
                   : 0.0);
    else
        printf("latency (end-to-end): n/a\n");
    fflush(stdout);
}

static void tap_print_json(struct tap *tap, const struct tap_options *opt, bool done,
                           double elapsed_s, long duplicates)
{
    struct tap_latency lat = tap_latency(tap);
    json_t *intents = json_object();
    size_t order[TAP_INTENT_MAX];
    size_t n = tap_intent_order(tap, order);
    for (size_t i = 0; i < n; i++)
        json_object_set_new(intents, tap->intents[order[i]].name,
                            json_integer(tap->intents[order[i]].n));
    json_t *dlq = json_object();
    for (size_t i = 0; i < tap->n_dlq; i++) {
        json_t *reasons = json_object();
        for (size_t r = 0; r < tap->dlq[i].n_reasons; r++)
            json_object_set_new(reasons, tap->dlq[i].reasons[r].name,
                                json_integer(tap->dlq[i].reasons[r].n));
        json_object_set_new(dlq, tap->dlq[i].service, reasons);
    }
    json_t *summary = json_pack(
        "{s:b,s:I,s:I,s:I,s:I,s:o,s:o,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I},"
        "s:{s:I,s:o},s:o}",
        "done", done, "elapsed_ms", (json_int_t)(elapsed_s * 1000.0), "expected",
        (json_int_t)opt->expect, "posts_in", (json_int_t)tap->posts_in, "outcomes",
        (json_int_t)tap->outcomes, "duplicates_dropped",
        duplicates >= 0 ? json_integer(duplicates) : json_null(), "by_intent", intents,
        "cases_opened", (json_int_t)tap->cases.len, "case_updates",
        (json_int_t)tap->updates.len, "replies", "requested",
        (json_int_t)tap->replies_requested, "sent",
        (json_int_t)tap->by_status[TAP_ST_SENT], "held_for_review",
        (json_int_t)tap->by_status[TAP_ST_HELD], "failed",
        (json_int_t)tap->by_status[TAP_ST_FAILED], "suppressed",
        (json_int_t)tap->by_status[TAP_ST_SUPPRESSED], "other",
        (json_int_t)tap->by_status[TAP_ST_OTHER], "not_delivered",
        (json_int_t)tap_pending(tap), "dead_lettered", "total",
        (json_int_t)tap->dlq_total, "by_service", dlq, "latency_ms",
        lat.n ? json_pack("{s:I,s:I,s:I,s:I}", "count", (json_int_t)lat.n, "p50",
                          (json_int_t)lat.p50, "p99", (json_int_t)lat.p99, "max",
                          (json_int_t)lat.max)
              : json_null());
    char *text = summary ? json_dumps(summary, JSON_INDENT(2)) : NULL;
    printf("%s\n", text ? text : "{}");
    fflush(stdout);
    free(text);
    json_decref(summary);
}

static void tap_cleanup(struct tap *tap)
{
    demo_map_cleanup(&tap->posts, tap_free_value);
    demo_map_cleanup(&tap->replies, tap_free_value);
    demo_map_cleanup(&tap->cases, NULL);
    demo_map_cleanup(&tap->updates, NULL);
    for (size_t i = 0; i < tap->n_intents; i++)
        sc_free(tap->intents[i].name);
    for (size_t i = 0; i < tap->n_dlq; i++) {
        for (size_t r = 0; r < tap->dlq[i].n_reasons; r++)
            sc_free(tap->dlq[i].reasons[r].name);
        sc_free(tap->dlq[i].reasons);
        sc_free(tap->dlq[i].service);
    }
    sc_free(tap->dlq);
}

/* ------------------------------------------------------------------ Kafka */

static rd_kafka_t *tap_consumer_new(const char *brokers)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char group[64];
    snprintf(group, sizeof(group), "socialcare-tap-%ld-%lld", (long)getpid(),
             (long long)sc_wall_ms());
    /* Settings the dev broker needs (docs/kafka-dev-broker.md); the group id is never
     * joined (we assign partitions) and nothing is committed. */
    const char *props[][2] = {{"bootstrap.servers", brokers},
                              {"client.id", "socialcare-tap"},
                              {"group.id", group},
                              {"enable.auto.commit", "false"},
                              {"enable.auto.offset.store", "false"},
                              {"enable.partition.eof", "true"},
                              {"auto.offset.reset", "earliest"},
                              {"fetch.wait.max.ms", "10"},
                              {"session.timeout.ms", "6000"},
                              {"heartbeat.interval.ms", "500"},
                              {"partition.assignment.strategy", "cooperative-sticky"},
                              {"log_level", "4"}};
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "tap: %s: %s\n", props[i][0], errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "tap: cannot create a consumer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Assigns every partition of every topic from the beginning; fills n_parts per topic.
 * @returns 0, or -1 when the metadata could not be read before the deadline. */
static int tap_assign(rd_kafka_t *rk, const struct tap_options *opt, int *n_parts,
                      int64_t deadline_ms)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(64);
    int rc = 0;
    for (int t = 0; t < TAP_TOPIC_COUNT && rc == 0; t++) {
        n_parts[t] = 0;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, opt->topics[t], NULL);
        while (n_parts[t] == 0) {
            const struct rd_kafka_metadata *md = NULL;
            rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 2000);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
                md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                n_parts[t] = md->topics[0].partition_cnt;
            else if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1)
                err = md->topics[0].err;
            if (md)
                rd_kafka_metadata_destroy(md);
            if (n_parts[t] > 0)
                break;
            if (sc_now_ms() > deadline_ms || sc_lifecycle_stopping()) {
                fprintf(stderr, "tap: no metadata for topic %s: %s\n", opt->topics[t],
                        rd_kafka_err2str(err));
                rc = -1;
                break;
            }
            const struct timespec pause_ts = {0, 200 * 1000 * 1000};
            nanosleep(&pause_ts, NULL); /* retry after a short back-off */
        }
        for (int p = 0; p < n_parts[t]; p++)
            rd_kafka_topic_partition_list_add(list, opt->topics[t], p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_topic_destroy(rkt);
    }
    if (rc == 0) {
        rd_kafka_resp_err_t err = rd_kafka_assign(rk, list);
        if (err) {
            fprintf(stderr, "tap: assign failed: %s\n", rd_kafka_err2str(err));
            rc = -1;
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

/* The sum of the end offsets of every partition the tap reads (one ListOffsets request
 * per broker: timestamp -1 asks for the end), or -1 when they could not be read. */
static int64_t tap_watermarks(rd_kafka_t *rk, const struct tap_options *opt,
                              const int *n_parts)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(64);
    for (int t = 0; t < TAP_TOPIC_COUNT; t++)
        for (int p = 0; p < n_parts[t]; p++)
            rd_kafka_topic_partition_list_add(list, opt->topics[t], p)->offset =
                RD_KAFKA_OFFSET_END;
    int64_t sum = 0;
    if (rd_kafka_offsets_for_times(rk, list, 1000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        sum = -1;
    for (int i = 0; i < list->cnt && sum >= 0; i++) {
        if (list->elems[i].err || list->elems[i].offset < 0)
            sum = -1;
        else
            sum += list->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(list);
    return sum;
}

/* --defer-ms: waits until the topics' ends stood still for opt->defer_ms (and moved past
 * `seen`, the sum at the previous read), or the deadline. @returns the sum. */
static int64_t tap_wait_still(rd_kafka_t *rk, const struct tap_options *opt,
                              const int *n_parts, int64_t seen, int64_t deadline_ms)
{
    int64_t last = -1, since = sc_now_ms(), next_progress = since + 2000;
    /* paused, the consumer does not fetch in the background either */
    rd_kafka_topic_partition_list_t *assigned = NULL;
    if (rd_kafka_assignment(rk, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR)
        (void)rd_kafka_pause_partitions(rk, assigned);
    while (!sc_lifecycle_stopping() && sc_now_ms() < deadline_ms) {
        int64_t sum = tap_watermarks(rk, opt, n_parts), now = sc_now_ms();
        if (sum != last) {
            last = sum;
            since = now;
        } else if (sum > seen && now - since >= opt->defer_ms) {
            break;
        }
        if (!opt->quiet && now >= next_progress) {
            fprintf(stderr, "tap: %" PRId64 " messages on the pipeline's topics so far\n",
                    sum);
            next_progress = now + 2000;
        }
        const struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL); /* the pipeline is working: look again shortly */
    }
    if (assigned) {
        (void)rd_kafka_resume_partitions(rk, assigned);
        rd_kafka_topic_partition_list_destroy(assigned);
    }
    return last;
}

/* ------------------------------------------------------------------ main */

static void tap_usage(FILE *out)
{
    fprintf(
        out,
        "usage: socialcare-tap --brokers LIST [options]\n"
        "Reads every pipeline topic from the beginning and prints what the pipeline "
        "did.\n"
        "  --brokers LIST          bootstrap servers (default: $KAFKA_BROKERS)\n"
        "  --expect N              stop when N posts reached their outcome (case event,\n"
        "                          and the delivery of any reply to them) and every\n"
        "                          requested reply was delivered (0: when caught up)\n"
        "  --timeout S             give up after S seconds, exit 1 (default 120)\n"
        "  --json                  print the summary as JSON\n"
        "  --ingestor-metrics URL  the ingestor's /metrics, to report duplicates "
        "dropped\n"
        "  --quiet                 no progress lines on stderr\n"
        "  --defer-ms MS           read only after the topics' ends stood still for MS\n"
        "                          (benchmarks: the tap then takes no CPU from the\n"
        "                          pipeline while it works; same figures)\n"
        "Topic names follow TOPIC_POSTS_INBOUND, ... like the services.\n"
        "Exit status: 0 done, 1 timed out or interrupted (partial summary), 2 usage or "
        "setup error.\n");
}

static int tap_args(int argc, char **argv, struct tap_options *opt)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            tap_usage(stdout);
            exit(0);
        } else if (!strcmp(arg, "--json")) {
            opt->json = true;
            continue;
        } else if (!strcmp(arg, "--quiet")) {
            opt->quiet = true;
            continue;
        }
        if (!val) {
            fprintf(stderr, "tap: unknown option or missing value: %s\n", arg);
            return -1;
        }
        char *end = NULL;
        errno = 0;
        long v = strtol(val, &end, 10);
        bool num_ok = !errno && end != val && !*end && v >= 0;
        if (!strcmp(arg, "--brokers"))
            opt->brokers = val;
        else if (!strcmp(arg, "--ingestor-metrics"))
            opt->ingestor_metrics = val;
        else if (!strcmp(arg, "--expect") && num_ok)
            opt->expect = v;
        else if (!strcmp(arg, "--defer-ms") && num_ok)
            opt->defer_ms = v;
        else if (!strcmp(arg, "--timeout") && num_ok && v > 0)
            opt->timeout_s = v;
        else {
            fprintf(stderr, "tap: unknown option or bad value: %s %s\n", arg, val);
            return -1;
        }
        i++;
    }
    if (!opt->brokers || !*opt->brokers) {
        fprintf(stderr, "tap: --brokers (or KAFKA_BROKERS) is required\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct tap_options opt = {.brokers = getenv("KAFKA_BROKERS"), .timeout_s = 120};
    for (int t = 0; t < TAP_TOPIC_COUNT; t++) {
        const char *env = getenv(tap_topic_env[t]);
        opt.topics[t] = env && *env ? env : tap_topic_default[t];
    }
    if (tap_args(argc, argv, &opt) != 0) {
        tap_usage(stderr);
        return 2;
    }
    sc_lifecycle_install();
    curl_global_init(CURL_GLOBAL_DEFAULT);

    int64_t start_ms = sc_now_ms(), deadline_ms = start_ms + opt.timeout_s * 1000;
    rd_kafka_t *rk = tap_consumer_new(opt.brokers);
    int n_parts[TAP_TOPIC_COUNT];
    if (!rk || tap_assign(rk, &opt, n_parts, deadline_ms) != 0) {
        if (rk)
            rd_kafka_destroy(rk);
        curl_global_cleanup();
        return 2;
    }
    bool *eof[TAP_TOPIC_COUNT];
    int total_parts = 0, parts_at_eof = 0;
    for (int t = 0; t < TAP_TOPIC_COUNT; t++) {
        eof[t] = sc_calloc((size_t)n_parts[t] + 1, sizeof(bool));
        total_parts += n_parts[t];
    }

    struct tap tap = {0};
    bool done = false;
    int64_t last_msg_ms = sc_now_ms(), next_progress_ms = start_ms + 2000;
    /* The goal is reached when enough posts reached their outcome and nothing requested
     * is undelivered; we then also want every partition read to its end and a short quiet
     * spell, so a reply that is still on its way is not missed. */
    const int64_t settle_ms = 300;
    int64_t seen = 0; /* --defer-ms: the topics' ends when the tap last caught up */
    if (opt.defer_ms > 0)
        seen = tap_wait_still(rk, &opt, n_parts, 0, deadline_ms);
    while (!sc_lifecycle_stopping() && sc_now_ms() < deadline_ms) {
        if (opt.defer_ms > 0 && parts_at_eof == total_parts &&
            sc_now_ms() - last_msg_ms >= settle_ms &&
            !(tap.outcomes >= opt.expect && tap_pending(&tap) == 0)) {
            /* caught up but not done: the pipeline is still working */
            seen = tap_wait_still(rk, &opt, n_parts, seen, deadline_ms);
        }
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
        int64_t now = sc_now_ms();
        if (msg) {
            int t = 0;
            if (msg->rkt) {
                const char *name = rd_kafka_topic_name(msg->rkt);
                while (t < TAP_TOPIC_COUNT && strcmp(name, opt.topics[t]) != 0)
                    t++;
            } else {
                t = TAP_TOPIC_COUNT;
            }
            bool known =
                t < TAP_TOPIC_COUNT && msg->partition >= 0 && msg->partition < n_parts[t];
            if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (known && !eof[t][msg->partition]) {
                    eof[t][msg->partition] = true;
                    parts_at_eof++;
                }
            } else if (msg->err) {
                if (!opt.quiet)
                    fprintf(stderr, "tap: consumer: %s\n", rd_kafka_message_errstr(msg));
            } else if (known) {
                if (eof[t][msg->partition]) {
                    eof[t][msg->partition] = false;
                    parts_at_eof--;
                }
                tap_message(&tap, (enum tap_topic)t, msg);
                last_msg_ms = now;
            }
            rd_kafka_message_destroy(msg);
        }
        bool goal = tap.outcomes >= opt.expect && tap_pending(&tap) == 0;
        if (goal && parts_at_eof == total_parts && now - last_msg_ms >= settle_ms) {
            done = true;
            break;
        }
        if (!opt.quiet && now >= next_progress_ms) {
            fprintf(
                stderr,
                "tap: %ld/%ld posts through the pipeline, %ld in, %ld replies requested, "
                "%ld undelivered, %ld dead-lettered\n",
                tap.outcomes, opt.expect, tap.posts_in, tap.replies_requested,
                tap_pending(&tap), tap.dlq_total);
            next_progress_ms = now + 2000;
        }
    }
    double elapsed_s = (double)(sc_now_ms() - start_ms) / 1000.0;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);

    long duplicates =
        opt.ingestor_metrics ? tap_ingestor_duplicates(opt.ingestor_metrics) : -1;
    for (int t = 0; t < TAP_TOPIC_COUNT; t++) {
        if (tap.unparsed[t] && !opt.quiet)
            fprintf(stderr, "tap: %ld messages on %s were not JSON objects\n",
                    tap.unparsed[t], opt.topics[t]);
        sc_free(eof[t]);
    }
    /* Largest first, so the summary reads the same however the partitions interleaved. */
    if (tap.n_dlq > 0)
        qsort(tap.dlq, tap.n_dlq, sizeof(*tap.dlq), tap_cmp_dlq);
    for (size_t i = 0; i < tap.n_dlq; i++)
        qsort(tap.dlq[i].reasons, tap.dlq[i].n_reasons, sizeof(*tap.dlq[i].reasons),
              tap_cmp_count);
    if (opt.json)
        tap_print_json(&tap, &opt, done, elapsed_s, duplicates);
    else
        tap_print_text(&tap, &opt, done, elapsed_s, duplicates);
    tap_cleanup(&tap);
    curl_global_cleanup();
    return done ? 0 : 1;
}
