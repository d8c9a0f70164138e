/* socialcare-ingestor: turns platform input into normalised v1 posts on posts.inbound,
 * keyed by customer. Sources in this build: a JSONL replay (file or stdin) on the main
 * thread and POST /v1/posts on the HTTP thread. Each post is validated (invalid replay
 * lines are dead-lettered, invalid HTTP bodies get a 4xx JSON error), de-duplicated with
 * Redis SET NX + TTL, and acknowledged only after Kafka acknowledged it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "event.h"
#include "ingest.h"
#include "lifecycle.h"
#include "log.h"
#include "service.h"

#define INGESTOR_BATCH          500
#define INGESTOR_HTTP_MAX_POSTS 1000

struct ingestor_config {
    struct sc_common_config common; /* first: see sc_config_load */
    char *ingest_file;
    long long dedup_ttl_s;
    double ingest_rate;
};

static const struct sc_config_item ingestor_items[] = {
    SC_CONFIG_COMMON_ITEMS(struct ingestor_config, "socialcare-ingestor"),
    {"INGEST_FILE", SC_CFG_STRING, "", 0, -1,
     "JSONL file of posts to replay at start (\"-\" = stdin; empty = none)",
     offsetof(struct ingestor_config, ingest_file)},
    {"DEDUP_TTL_S", SC_CFG_INT, "604800", 60, 31536000,
     "How long a post id is remembered for duplicate detection (seconds)",
     offsetof(struct ingestor_config, dedup_ttl_s)},
    {"INGEST_RATE", SC_CFG_DOUBLE, "0", 0, 1e7,
     "Replay pace in posts per second (0 = as fast as possible)",
     offsetof(struct ingestor_config, ingest_rate)},
};
#define N_ITEMS (sizeof(ingestor_items) / sizeof(ingestor_items[0]))

struct ingestor {
    struct sc_service svc;
    struct ingestor_config conf;
    struct sc_metric *m_posts; /* socialcare_ingestor_posts_total{source,outcome} */
    /* Replay state (main thread). */
    FILE *in;
    bool replay_done;
    char *line;
    size_t line_cap;
    long long replayed;
    int64_t replay_started_ms;
    struct sc_redis_batch *batch;
    json_t *pending[INGESTOR_BATCH]; /* validated posts awaiting publication */
    size_t n_pending;
    /* HTTP thread state. */
    struct sc_redis *http_redis;
    struct sc_redis_batch *http_batch;
};

/* ------------------------------------------------------------------ publication */

/* De-duplicates and publishes posts; is_new[i] tells which were new. Returns 0 when every
 * new post was acknowledged by Kafka; otherwise the seen marks of this call are removed
 * again so that a retry publishes them, and an error is returned. */
static int ingestor_publish(struct ingestor *in, struct sc_redis *redis,
                            struct sc_redis_batch *batch, json_t **posts, size_t n,
                            bool *is_new)
{
    char key[600], ttl[32];
    snprintf(ttl, sizeof(ttl), "%lld", in->conf.dedup_ttl_s);
    sc_redis_batch_reset(batch);
    for (size_t i = 0; i < n; i++) {
        int klen = ingest_seen_key(sc_event_str(posts[i], "id"), key, sizeof(key));
        const char *argv[] = {"SET", key, "1", "NX", "EX", ttl};
        size_t lens[] = {3, (size_t)klen, 1, 2, 2, strlen(ttl)};
        sc_redis_batch_add(batch, 6, argv, lens);
    }
    int rc = sc_redis_batch_run(redis, batch);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = sc_redis_batch_reply(batch, i);
        if (!r || r->type == REDIS_REPLY_ERROR)
            return SC_EIO;
        is_new[i] = r->type == REDIS_REPLY_STATUS;
    }

    struct sc_delivery delivery = {0};
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!is_new[i])
            continue;
        char ckey[512];
        int clen = sc_event_customer_key(posts[i], ckey, sizeof(ckey));
        size_t len;
        char *out = sc_event_dump(posts[i], &len);
        rc = sc_producer_send(in->svc.producer, in->conf.common.topic_posts_inbound, ckey,
                              clen > 0 ? (size_t)clen : 0, out, len, NULL, &delivery);
        free(out);
    }
    int drc = sc_service_settle(&in->svc, &delivery);
    if (rc == 0 && drc == 0)
        return 0;

    /* Not published: forget the marks so the retry is not taken for a duplicate. */
    sc_redis_batch_reset(batch);
    for (size_t i = 0; i < n; i++) {
        if (!is_new[i])
            continue;
        int klen = ingest_seen_key(sc_event_str(posts[i], "id"), key, sizeof(key));
        const char *argv[] = {"DEL", key};
        size_t lens[] = {3, (size_t)klen};
        sc_redis_batch_add(batch, 2, argv, lens);
    }
    if (sc_redis_batch_count(batch) > 0 && sc_redis_batch_run(redis, batch) != 0)
        sc_log(SC_LOG_ERR, "DEDUP", "could not clear seen marks after a failed publish");
    return rc ? rc : drc;
}

static void ingestor_count(struct ingestor *in, const char *source, const bool *is_new,
                           size_t n)
{
    size_t fresh = 0;
    for (size_t i = 0; i < n; i++)
        fresh += is_new[i];
    sc_metric_add(in->m_posts, SC_LABELS(source, "accepted"), (double)fresh);
    sc_metric_add(in->m_posts, SC_LABELS(source, "duplicate"), (double)(n - fresh));
}

/* ------------------------------------------------------------------ replay */

/* Publishes the pending replay batch, retrying with backoff until it succeeds or a stop
 * is requested. Returns 0 when the batch is out. */
static int ingestor_flush_pending(struct ingestor *in)
{
    bool is_new[INGESTOR_BATCH];
    int backoff = 100;
    while (in->n_pending > 0) {
        int rc = ingestor_publish(in, in->svc.redis, in->batch, in->pending,
                                  in->n_pending, is_new);
        if (rc == 0) {
            ingestor_count(in, "replay", is_new, in->n_pending);
            for (size_t i = 0; i < in->n_pending; i++)
                json_decref(in->pending[i]);
            in->n_pending = 0;
            return 0;
        }
        if (sc_lifecycle_stopping())
            return rc;
        sc_log(SC_LOG_WARNING, "REPLAY", "publishing %zu posts failed (%s); retrying",
               in->n_pending, sc_strerror(rc));
        sc_service_backoff(backoff);
        backoff = backoff < 5000 ? backoff * 2 : 5000;
    }
    return 0;
}

/* Reads the next line of the replay into in->line. Returns its length, or -1 at the end.
 */
static ssize_t ingestor_read_line(struct ingestor *in)
{
    return getline(&in->line, &in->line_cap, in->in);
}

static int ingestor_replay_step(void *opaque)
{
    struct ingestor *in = opaque;
    if (in->n_pending > 0)
        return ingestor_flush_pending(in) == 0;
    if (!in->in || in->replay_done)
        return 0;

    size_t budget = INGESTOR_BATCH;
    if (in->conf.ingest_rate > 0) {
        double elapsed = (double)(sc_now_ms() - in->replay_started_ms) / 1000.0;
        double allowed = elapsed * in->conf.ingest_rate - (double)in->replayed;
        if (allowed < 1)
            return 0;
        if (allowed < (double)budget)
            budget = (size_t)allowed;
    }

    struct sc_delivery dlq = {0};
    size_t taken = 0;
    while (taken < budget) {
        ssize_t len = ingestor_read_line(in);
        if (len < 0) {
            in->replay_done = true;
            break;
        }
        taken++;
        while (len > 0 && (in->line[len - 1] == '\n' || in->line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        char reason[256];
        json_t *post = sc_event_parse(in->line, (size_t)len, SC_EVENT_POST, NULL, reason,
                                      sizeof(reason));
        if (!post) {
            sc_metric_inc(in->m_posts, SC_LABELS("replay", "rejected"));
            if (sc_producer_dead_letter(in->svc.producer, in->conf.common.topic_dlq,
                                        "ingestor", reason, NULL, in->line, (size_t)len,
                                        &dlq) != 0)
                sc_log(SC_LOG_ERR, "REPLAY", "could not dead-letter a line");
            continue;
        }
        ingest_normalise(post, sc_wall_ms());
        in->pending[in->n_pending++] = post;
    }
    in->replayed += (long long)taken;
    if (sc_service_settle(&in->svc, &dlq) != 0)
        sc_log(SC_LOG_ERR, "REPLAY", "a dead-letter message was not acknowledged");
    if (ingestor_flush_pending(in) == 0 && in->replay_done)
        sc_log(SC_LOG_INFO, "REPLAY", "replay finished: %lld lines", in->replayed);
    return taken > 0;
}

/* ------------------------------------------------------------------ HTTP */

static void ingestor_http_posts(void *opaque, const struct sc_http_request *req,
                                struct sc_http_response *resp)
{
    struct ingestor *in = opaque;
    json_error_t jerr;
    json_t *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        char msg[256];
        snprintf(msg, sizeof(msg), "invalid JSON at line %d column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        sc_metric_inc(in->m_posts, SC_LABELS("http", "rejected"));
        sc_http_json_error(resp, 400, "invalid_json", msg);
        return;
    }
    bool single = json_is_object(root);
    if (!single && !json_is_array(root)) {
        json_decref(root);
        sc_http_json_error(resp, 400, "invalid_post",
                           "body must be a post or an array of posts");
        return;
    }
    size_t n = single ? 1 : json_array_size(root);
    if (n > INGESTOR_HTTP_MAX_POSTS) {
        json_decref(root);
        sc_http_json_error(resp, 413, "too_many_posts", "at most 1000 posts per request");
        return;
    }
    json_t **posts = sc_calloc(n ? n : 1, sizeof(*posts));
    bool *is_new = sc_calloc(n ? n : 1, sizeof(*is_new));
    json_t *rejected = json_array();
    size_t n_ok = 0;
    int64_t now = sc_wall_ms();
    for (size_t i = 0; i < n; i++) {
        json_t *item = single ? root : json_array_get(root, i);
        char reason[256];
        if (json_is_object(item))
            ingest_normalise(item, now);
        if (!json_is_object(item)) {
            snprintf(reason, sizeof(reason), "not_object: a post must be a JSON object");
        } else if (sc_event_validate(item, SC_EVENT_POST, NULL, reason, sizeof(reason)) ==
                   0) {
            posts[n_ok++] = item;
            continue;
        }
        json_array_append_new(
            rejected, json_pack("{s:I,s:s}", "index", (json_int_t)i, "reason", reason));
    }
    sc_metric_add(in->m_posts, SC_LABELS("http", "rejected"), (double)(n - n_ok));

    if (single && n_ok == 0) {
        const char *reason =
            json_string_value(json_object_get(json_array_get(rejected, 0), "reason"));
        sc_http_json_error(resp, 400, "invalid_post", reason ? reason : "invalid post");
    } else if (n_ok > 0 && ingestor_publish(in, in->http_redis, in->http_batch, posts,
                                            n_ok, is_new) != 0) {
        sc_http_json_error(resp, 503, "unavailable",
                           "posts could not be stored now; retry later");
        sc_http_add_header(resp, "Retry-After", "1");
    } else {
        ingestor_count(in, "http", is_new, n_ok);
        size_t fresh = 0;
        for (size_t i = 0; i < n_ok; i++)
            fresh += is_new[i];
        json_t *body =
            json_pack("{s:I,s:I,s:O}", "accepted", (json_int_t)fresh, "duplicates",
                      (json_int_t)(n_ok - fresh), "rejected", rejected);
        if (n_ok == 0) {
            json_object_set_new(body, "error", json_string("invalid_posts"));
            json_object_set_new(body, "message",
                                json_string("no valid post in the request"));
        }
        resp->status = n_ok > 0 ? 202 : 400;
        resp->body = json_dumps(body, JSON_COMPACT);
        json_decref(body);
    }
    json_decref(rejected);
    sc_free(is_new);
    sc_free(posts);
    json_decref(root);
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    static struct ingestor in;
    int rc = sc_service_configure(
        argc, argv, "ingestor", "Normalises, de-duplicates and publishes customer posts.",
        ingestor_items, N_ITEMS, &in.conf);
    if (rc != 0) {
        sc_config_cleanup(ingestor_items, N_ITEMS, &in.conf, 1);
        return rc > 0 ? 0 : 2;
    }

    char errstr[512];
    const char *outputs[] = {in.conf.common.topic_posts_inbound,
                             in.conf.common.topic_dlq};
    struct sc_service_opts opts = {
        .name = "ingestor", .use_redis = true, .outputs = outputs, .n_outputs = 2};
    int exit_code = 1;
    if (sc_service_init(&in.svc, &opts, &in.conf.common, errstr, sizeof(errstr)) != 0)
        goto fail;
    in.m_posts =
        sc_metrics_counter(in.svc.metrics, "socialcare_ingestor_posts_total",
                           "Posts received, by source and outcome", "source,outcome");
    in.batch = sc_redis_batch_new();
    in.http_batch = sc_redis_batch_new();
    in.http_redis = sc_redis_new(in.conf.common.redis_url, 2000, errstr, sizeof(errstr));
    if (!in.http_redis)
        goto fail;
    if (sc_http_route(in.svc.http, "POST", "/v1/posts", ingestor_http_posts, &in) != 0) {
        snprintf(errstr, sizeof(errstr), "cannot add route");
        goto fail;
    }
    if (in.conf.ingest_file[0]) {
        in.in = strcmp(in.conf.ingest_file, "-") == 0 ? stdin
                                                      : fopen(in.conf.ingest_file, "r");
        if (!in.in) {
            snprintf(errstr, sizeof(errstr), "INGEST_FILE: cannot open: %s",
                     strerror(errno));
            goto fail;
        }
    }
    if (sc_service_start(&in.svc, errstr, sizeof(errstr)) != 0)
        goto fail;
    in.replay_started_ms = sc_now_ms();
    exit_code = sc_service_run(&in.svc, NULL, ingestor_replay_step, &in) == 0 ? 0 : 1;
    if (in.n_pending > 0) {
        sc_log(SC_LOG_WARNING, "REPLAY", "%zu replayed posts not published before stop",
               in.n_pending);
        exit_code = 1;
    }
    sc_log(SC_LOG_INFO, "MAIN", "stopped");
    goto out;
fail:
    sc_log(SC_LOG_CRIT, "MAIN", "start-up failed: %s", errstr);
out:
    /* Stop the HTTP thread before freeing what its handler uses. */
    sc_http_free(in.svc.http);
    in.svc.http = NULL;
    for (size_t i = 0; i < in.n_pending; i++)
        json_decref(in.pending[i]);
    if (in.in && in.in != stdin)
        fclose(in.in);
    free(in.line);
    sc_redis_batch_free(in.batch);
    sc_redis_batch_free(in.http_batch);
    sc_redis_free(in.http_redis);
    sc_service_cleanup(&in.svc);
    sc_config_cleanup(ingestor_items, N_ITEMS, &in.conf, 1);
    return exit_code;
}
