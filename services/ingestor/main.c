/* socialcare-ingestor: turns platform input into normalised v1 posts on posts.inbound,
 * keyed by customer. Sources: a JSONL or CSV replay (file or stdin) and the pollers
 * (Mastodon, X API v2, Bluesky; libcurl multi, cursors in Redis) on the main thread;
 * POST /v1/posts and the signed webhooks (X Account Activity, Meta, generic) on the HTTP
 * server's connection threads, published through a group commit (commit.h). Each post is
 * validated (invalid replay lines are dead-lettered, invalid HTTP bodies get a 4xx JSON
 * error), de-duplicated with Redis SET NX + TTL, and acknowledged (HTTP answer, cursor
 * advance) only after Kafka acknowledged it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "alloc.h"
#include "commit.h"
#include "csv.h"
#include "event.h"
#include "ingest.h"
#include "seen.h"
#include "mapping.h"
#include "poller.h"
#include "replay.h"
#include "signature.h"
#include "lifecycle.h"
#include "log.h"
#include "service.h"

#define INGESTOR_HTTP_MAX_POSTS 1000

struct ingestor_config {
    struct sc_common_config common; /* first: see sc_config_load */
    char *ingest_file;
    long long dedup_ttl_s;
    double ingest_rate;
    char *ingest_format;
    char *csv_columns;
    char *x_consumer_secret;
    char *meta_app_secret;
    char *meta_verify_token;
    char *webhook_secret;
    long long webhook_tolerance_s;
    char *brand_terms;
    char *mastodon_url;
    char *mastodon_token;
    char *mastodon_account_id;
    long long mastodon_poll_s;
    char *x_api_url;
    char *x_bearer_token;
    char *x_user_id;
    long long x_poll_s;
    char *bluesky_url;
    char *bluesky_token;
    char *bluesky_handle;
    char *bluesky_app_password;
    long long bluesky_poll_s;
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
    {"INGEST_FORMAT", SC_CFG_STRING, "jsonl", 0, -1,
     "Replay format: jsonl (one v1 post per line) or csv (see INGEST_CSV_COLUMNS)",
     offsetof(struct ingestor_config, ingest_format)},
    {"INGEST_CSV_COLUMNS", SC_CFG_STRING, "id,platform,kind,created_at,author.id,text", 0,
     -1,
     "CSV replay: the post field of each column in order (id, platform, kind, "
     "created_at, "
     "text, lang, url, in_reply_to, thread_id, author.id, author.handle, author.name, "
     "author.followers, author.verified; empty or '-' skips a column). A first line "
     "equal "
     "to the mapping is a header and skipped",
     offsetof(struct ingestor_config, csv_columns)},
    {"X_CONSUMER_SECRET", SC_CFG_SECRET, "", 0, -1,
     "X app consumer secret: enables GET/POST /webhooks/x (Account Activity CRC and "
     "x-twitter-webhooks-signature)",
     offsetof(struct ingestor_config, x_consumer_secret)},
    {"META_APP_SECRET", SC_CFG_SECRET, "", 0, -1,
     "Meta app secret: enables POST /webhooks/meta (X-Hub-Signature-256; Pages and "
     "Instagram)",
     offsetof(struct ingestor_config, meta_app_secret)},
    {"META_VERIFY_TOKEN", SC_CFG_SECRET, "", 0, -1,
     "Meta webhook verify token, answered on GET /webhooks/meta (hub.challenge)",
     offsetof(struct ingestor_config, meta_verify_token)},
    {"WEBHOOK_SECRET", SC_CFG_SECRET, "", 0, -1,
     "Shared secret of the generic signed webhook POST /webhooks/generic "
     "(X-Socialcare-Signature: sha256=<hex HMAC of \"<X-Socialcare-Timestamp>.<body>\">)",
     offsetof(struct ingestor_config, webhook_secret)},
    {"WEBHOOK_TOLERANCE_S", SC_CFG_INT, "300", 1, 86400,
     "Generic webhook: deliveries whose X-Socialcare-Timestamp is further than this from "
     "now are rejected as stale (seconds)",
     offsetof(struct ingestor_config, webhook_tolerance_s)},
    {"BRAND_TERMS", SC_CFG_STRING, "", 0, -1,
     "Comma-separated brand terms (product names, the brand's handles, #hashtags) "
     "searched "
     "on Mastodon (one v2 search per term) and X (one recent search OR-ing them)",
     offsetof(struct ingestor_config, brand_terms)},
    {"MASTODON_URL", SC_CFG_STRING, "", 0, -1,
     "Mastodon server of the brand account, e.g. https://mastodon.social (empty = no "
     "Mastodon polling)",
     offsetof(struct ingestor_config, mastodon_url)},
    {"MASTODON_TOKEN", SC_CFG_SECRET, "", 0, -1,
     "Mastodon access token (scope read:notifications read:search), sent as Bearer",
     offsetof(struct ingestor_config, mastodon_token)},
    {"MASTODON_ACCOUNT_ID", SC_CFG_STRING, "", 0, -1,
     "The brand's Mastodon account id (its own statuses are skipped)",
     offsetof(struct ingestor_config, mastodon_account_id)},
    {"MASTODON_POLL_S", SC_CFG_INT, "15", 1, 86400,
     "Pause between Mastodon polls of a caught-up source (seconds)",
     offsetof(struct ingestor_config, mastodon_poll_s)},
    {"X_API_URL", SC_CFG_STRING, "https://api.x.com", 0, -1, "X API v2 base URL",
     offsetof(struct ingestor_config, x_api_url)},
    {"X_BEARER_TOKEN", SC_CFG_SECRET, "", 0, -1,
     "X API v2 bearer token (empty = no X polling)",
     offsetof(struct ingestor_config, x_bearer_token)},
    {"X_USER_ID", SC_CFG_STRING, "", 0, -1,
     "The brand's X user id: its mentions are polled (GET /2/users/:id/mentions)",
     offsetof(struct ingestor_config, x_user_id)},
    {"X_POLL_S", SC_CFG_INT, "60", 1, 86400,
     "Pause between X polls of a caught-up source (seconds)",
     offsetof(struct ingestor_config, x_poll_s)},
    {"BLUESKY_URL", SC_CFG_STRING, "https://bsky.social", 0, -1,
     "Bluesky PDS / AppView base URL", offsetof(struct ingestor_config, bluesky_url)},
    {"BLUESKY_TOKEN", SC_CFG_SECRET, "", 0, -1,
     "Bluesky access token used as is (prefer BLUESKY_HANDLE + BLUESKY_APP_PASSWORD; "
     "neither = no Bluesky polling)",
     offsetof(struct ingestor_config, bluesky_token)},
    {"BLUESKY_HANDLE", SC_CFG_STRING, "", 0, -1,
     "Bluesky account (handle or DID) to log in as with BLUESKY_APP_PASSWORD "
     "(com.atproto.server.createSession; the session is renewed when it expires)",
     offsetof(struct ingestor_config, bluesky_handle)},
    {"BLUESKY_APP_PASSWORD", SC_CFG_SECRET, "", 0, -1,
     "Bluesky app password (Settings > App passwords) of BLUESKY_HANDLE",
     offsetof(struct ingestor_config, bluesky_app_password)},
    {"BLUESKY_POLL_S", SC_CFG_INT, "15", 1, 86400,
     "Pause between Bluesky polls when caught up (seconds)",
     offsetof(struct ingestor_config, bluesky_poll_s)},
};
#define N_ITEMS (sizeof(ingestor_items) / sizeof(ingestor_items[0]))

struct ingestor {
    struct sc_service svc;
    struct ingestor_config conf;
    struct sc_metric *m_posts;    /* socialcare_ingestor_posts_total{source,outcome} */
    struct sc_metric *m_webhooks; /* socialcare_ingestor_webhooks_total{source,outcome} */
    struct sc_metric
        *m_polls; /* socialcare_ingestor_poll_requests_total{source,outcome} */
    struct ingest_poller *poller;
    struct ingest_csv *csv; /* CSV column mapping when INGEST_FORMAT=csv */
    /* Replay and polling state (main thread). */
    FILE *in;
    struct ingest_replay *replay;
    struct sc_redis_batch *batch;
    /* HTTP thread state. */
    struct committer *committer; /* group commit of the concurrent HTTP handlers */
};

/* ------------------------------------------------------------------ publication */

/* De-duplicates and publishes posts; is_new[i] tells which were new. Returns 0 when every
 * new post was acknowledged by Kafka; otherwise the seen marks of this call are removed
 * again so that a retry publishes them, and an error is returned. */
static int ingestor_publish(struct ingestor *in, struct sc_redis *redis,
                            struct sc_redis_batch *batch, json_t **posts, size_t n,
                            bool *is_new)
{
    char key[600], ttl[32], attempt[64], mark[96];
    snprintf(ttl, sizeof(ttl), "%lld", in->conf.dedup_ttl_s);
    size_t alen = ingest_mark_attempt(attempt, sizeof(attempt));
    sc_redis_batch_reset(batch);
    for (size_t i = 0; i < n; i++) {
        int klen = ingest_seen_key(sc_event_str(posts[i], "id"), key, sizeof(key));
        int mlen = snprintf(mark, sizeof(mark), "%.*s%zu", (int)alen, attempt, i);
        const char *argv[] = {"SET", key, mark, "NX", "EX", ttl, "GET"};
        size_t lens[] = {3, (size_t)klen, (size_t)mlen, 2, 2, strlen(ttl), 3};
        sc_redis_batch_add(batch, 7, argv, lens);
    }
    int rc = sc_redis_batch_run(redis, batch);
    if (rc != 0)
        return rc;
    struct seen_checks checks = {0};
    for (size_t i = 0; i < n && rc == 0; i++) {
        redisReply *r = sc_redis_batch_reply(batch, i);
        if (!r || (r->type != REDIS_REPLY_NIL && r->type != REDIS_REPLY_STRING)) {
            rc = SC_EIO;
            break;
        }
        size_t blen;
        enum ingest_mark v = ingest_mark_classify(r->type == REDIS_REPLY_NIL, r->str,
                                                  r->len, attempt, &blen);
        is_new[i] = v == INGEST_NEW;
        if (v == INGEST_CHECK) {
            int klen = ingest_seen_key(sc_event_str(posts[i], "id"), key, sizeof(key));
            int mlen = snprintf(mark, sizeof(mark), "%.*s%zu", (int)alen, attempt, i);
            seen_checks_add(&checks, i, r->str, blen, key, (size_t)klen, mark,
                            (size_t)mlen);
        }
    }
    if (rc == 0)
        rc = seen_resolve(redis, &checks, ttl);
    for (size_t k = 0; k < checks.n && rc == 0; k++)
        is_new[checks.v[k].item] = !checks.v[k].done;
    seen_checks_free(&checks);
    if (rc != 0)
        return rc;

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
    if (rc == 0 && drc == 0) {
        /* Published: confirm the marks with the attempt's batch record. If this fails
         * they stay pending, and a later copy of the post is published again (a
         * duplicate the consumers absorb), never lost. */
        bool any = false;
        for (size_t i = 0; i < n && !any; i++)
            any = is_new[i];
        if (any && seen_confirm(redis, batch, attempt, alen - 1, ttl) != 0)
            sc_log(SC_LOG_WARNING, "DEDUP",
                   "seen marks not confirmed; they stay pending");
        return 0;
    }

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

/* Publishes validated posts from an HTTP handler thread through the group commit:
 * serialises them here (in parallel with other handlers), then waits for the group. */
static int ingestor_http_publish(struct ingestor *in, json_t **posts, size_t n,
                                 bool *is_new)
{
    struct commit_post *cp = sc_calloc(n, sizeof(*cp));
    char(*keys)[256] = sc_calloc(n, sizeof(*keys));
    for (size_t i = 0; i < n; i++) {
        int klen = sc_event_customer_key(posts[i], keys[i], sizeof(keys[i]));
        size_t len;
        cp[i].id = sc_event_str(posts[i], "id");
        cp[i].key = keys[i];
        cp[i].key_len = klen > 0 ? (size_t)klen : 0;
        cp[i].value = sc_event_dump(posts[i], &len);
        cp[i].value_len = len;
    }
    int rc = committer_submit(in->committer, cp, n);
    for (size_t i = 0; i < n; i++) {
        is_new[i] = cp[i].is_new;
        free((char *)cp[i].value);
    }
    sc_free(keys);
    sc_free(cp);
    return rc;
}

/* ------------------------------------------------------------------ replay */

/* The main loop's idle work: the replay, then the pollers (waiting on their transfers
 * only when the replay has nothing to do). */
static int ingestor_idle(void *opaque)
{
    struct ingestor *in = opaque;
    int busy = in->replay ? ingest_replay_step(in->replay) : 0;
    if (in->poller)
        busy |= ingest_poller_step(in->poller, busy ? 0 : 50);
    return busy;
}

/* Publishes the posts of one polled page (main thread); 0 once Kafka acknowledged. */
static int ingestor_publish_polled(void *opaque, const char *source, json_t *posts)
{
    struct ingestor *in = opaque;
    size_t n = json_array_size(posts);
    if (n == 0)
        return 0;
    json_t **list = sc_calloc(n, sizeof(*list));
    bool *is_new = sc_calloc(n, sizeof(*is_new));
    size_t n_ok = 0;
    int64_t now = sc_wall_ms();
    for (size_t i = 0; i < n; i++) {
        json_t *post = json_array_get(posts, i);
        char reason[256];
        ingest_normalise(post, now);
        if (sc_event_validate(post, SC_EVENT_POST, NULL, reason, sizeof(reason)) == 0)
            list[n_ok++] = post;
        else
            sc_metric_inc(in->m_posts, SC_LABELS("poll", "rejected"));
    }
    int rc =
        n_ok ? ingestor_publish(in, in->svc.redis, in->batch, list, n_ok, is_new) : 0;
    if (rc == 0)
        ingestor_count(in, "poll", is_new, n_ok);
    else
        sc_log(SC_LOG_WARNING, "POLL", "source %s: publishing %zu posts failed (%s)",
               source, n_ok, sc_strerror(rc));
    sc_free(is_new);
    sc_free(list);
    return rc;
}

/* ------------------------------------------------------------------ HTTP */

/* Takes a body of one v1 post or an array of them (POST /v1/posts and the generic
 * webhook): validates, publishes, answers 202 with counts (4xx / 503 otherwise). */
static void ingestor_accept_posts(struct ingestor *in, const char *source,
                                  const struct sc_http_request *req,
                                  struct sc_http_response *resp)
{
    json_error_t jerr;
    json_t *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        char msg[256];
        snprintf(msg, sizeof(msg), "invalid JSON at line %d column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        sc_metric_inc(in->m_posts, SC_LABELS(source, "rejected"));
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
    sc_metric_add(in->m_posts, SC_LABELS(source, "rejected"), (double)(n - n_ok));

    if (single && n_ok == 0) {
        const char *reason =
            json_string_value(json_object_get(json_array_get(rejected, 0), "reason"));
        sc_http_json_error(resp, 400, "invalid_post", reason ? reason : "invalid post");
    } else if (n_ok > 0 && ingestor_http_publish(in, posts, n_ok, is_new) != 0) {
        sc_metric_inc(in->m_webhooks, SC_LABELS(source, "unavailable"));
        sc_http_json_error(resp, 503, "unavailable",
                           "posts could not be stored now; retry later");
        sc_http_add_header(resp, "Retry-After", "1");
    } else {
        ingestor_count(in, source, is_new, n_ok);
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

static void ingestor_http_posts(void *opaque, const struct sc_http_request *req,
                                struct sc_http_response *resp)
{
    ingestor_accept_posts(opaque, "http", req, resp);
}

/* ------------------------------------------------------------------ webhooks */

/* Answers 401 for a failed signature check and counts it. */
static void ingestor_unauthorized(struct ingestor *in, const char *source,
                                  enum ingest_sig sig, struct sc_http_response *resp)
{
    sc_metric_inc(in->m_webhooks, SC_LABELS(source, "unauthorized"));
    char msg[96];
    snprintf(msg, sizeof(msg), "signature %s", ingest_sig_name(sig));
    sc_http_json_error(resp, 401, "unauthorized", msg);
}

/* Publishes posts mapped from a verified delivery and answers 200, or 503 when Kafka or
 * Redis cannot take them now (the platform retries; dedup absorbs the retry). */
static void ingestor_webhook_publish(struct ingestor *in, const char *source,
                                     json_t *mapped, struct sc_http_response *resp)
{
    size_t n = json_array_size(mapped);
    json_t **posts = sc_calloc(n ? n : 1, sizeof(*posts));
    bool *is_new = sc_calloc(n ? n : 1, sizeof(*is_new));
    size_t n_ok = 0;
    int64_t now = sc_wall_ms();
    for (size_t i = 0; i < n; i++) {
        json_t *post = json_array_get(mapped, i);
        char reason[256];
        ingest_normalise(post, now);
        if (sc_event_validate(post, SC_EVENT_POST, NULL, reason, sizeof(reason)) == 0)
            posts[n_ok++] = post;
        else
            sc_metric_inc(in->m_posts, SC_LABELS(source, "rejected"));
    }
    if (n_ok > 0 && ingestor_http_publish(in, posts, n_ok, is_new) != 0) {
        sc_metric_inc(in->m_webhooks, SC_LABELS(source, "unavailable"));
        sc_http_json_error(resp, 503, "unavailable", "retry later");
        sc_http_add_header(resp, "Retry-After", "1");
    } else {
        sc_metric_inc(in->m_webhooks, SC_LABELS(source, "ok"));
        ingestor_count(in, source, is_new, n_ok);
        size_t fresh = 0;
        for (size_t i = 0; i < n_ok; i++)
            fresh += is_new[i];
        resp->status = 200;
        resp->body =
            sc_asprintf("{\"accepted\":%zu,\"duplicates\":%zu}", fresh, n_ok - fresh);
    }
    sc_free(is_new);
    sc_free(posts);
}

/* Parses a verified delivery body as a JSON object, or answers 400. */
static json_t *ingestor_webhook_json(struct ingestor *in, const char *source,
                                     const struct sc_http_request *req,
                                     struct sc_http_response *resp)
{
    json_t *root = json_loadb(req->body, req->body_len, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        sc_metric_inc(in->m_webhooks, SC_LABELS(source, "invalid"));
        sc_http_json_error(resp, 400, "invalid_json", "body must be a JSON object");
        return NULL;
    }
    return root;
}

/* GET /webhooks/x?crc_token=...: the Account Activity challenge-response check. */
static void ingestor_x_crc(void *opaque, const struct sc_http_request *req,
                           struct sc_http_response *resp)
{
    struct ingestor *in = opaque;
    const char *token = sc_http_query(req, "crc_token");
    if (!token || !*token || strlen(token) > 1024) {
        sc_http_json_error(resp, 400, "missing_crc_token", "crc_token is required");
        return;
    }
    char sig[64];
    ingest_x_crc_response(in->conf.x_consumer_secret, token, sig, sizeof(sig));
    sc_metric_inc(in->m_webhooks, SC_LABELS("x", "crc"));
    resp->status = 200;
    resp->body = sc_asprintf("{\"response_token\":\"%s\"}", sig);
}

/* POST /webhooks/x: Account Activity events. */
/* A platform delivery whose signature was checked: parse, map to v1 posts, publish. */
static void ingestor_signed_delivery(struct ingestor *in, const char *source,
                                     enum ingest_sig sig,
                                     size_t (*map)(const json_t *, json_t *),
                                     const struct sc_http_request *req,
                                     struct sc_http_response *resp)
{
    if (sig != INGEST_SIG_OK) {
        ingestor_unauthorized(in, source, sig, resp);
        return;
    }
    json_t *root = ingestor_webhook_json(in, source, req, resp);
    if (!root)
        return;
    json_t *mapped = json_array();
    map(root, mapped);
    ingestor_webhook_publish(in, source, mapped, resp);
    json_decref(mapped);
    json_decref(root);
}

static void ingestor_x_events(void *opaque, const struct sc_http_request *req,
                              struct sc_http_response *resp)
{
    struct ingestor *in = opaque;
    enum ingest_sig sig =
        ingest_x_verify(in->conf.x_consumer_secret, req->body, req->body_len,
                        sc_http_header(req, "x-twitter-webhooks-signature"));
    ingestor_signed_delivery(in, "x", sig, ingest_map_x_activity, req, resp);
}

/* GET /webhooks/meta: subscription verification (hub.mode=subscribe). */
static void ingestor_meta_verify(void *opaque, const struct sc_http_request *req,
                                 struct sc_http_response *resp)
{
    struct ingestor *in = opaque;
    const char *mode = sc_http_query(req, "hub.mode");
    const char *token = sc_http_query(req, "hub.verify_token");
    const char *challenge = sc_http_query(req, "hub.challenge");
    const char *want = in->conf.meta_verify_token;
    size_t n = token ? strlen(token) : 0;
    if (!mode || strcmp(mode, "subscribe") != 0 || !challenge || !token || !*want ||
        n != strlen(want) || CRYPTO_memcmp(token, want, n) != 0) {
        sc_metric_inc(in->m_webhooks, SC_LABELS("meta", "unauthorized"));
        sc_http_json_error(resp, 403, "forbidden", "verification failed");
        return;
    }
    sc_metric_inc(in->m_webhooks, SC_LABELS("meta", "challenge"));
    resp->status = 200;
    resp->content_type = "text/plain";
    resp->body = sc_strdup(challenge);
}

/* POST /webhooks/meta: Pages and Instagram deliveries. */
static void ingestor_meta_events(void *opaque, const struct sc_http_request *req,
                                 struct sc_http_response *resp)
{
    struct ingestor *in = opaque;
    enum ingest_sig sig =
        ingest_meta_verify(in->conf.meta_app_secret, req->body, req->body_len,
                           sc_http_header(req, "X-Hub-Signature-256"));
    ingestor_signed_delivery(in, "meta", sig, ingest_map_meta, req, resp);
}

/* POST /webhooks/generic: v1 posts signed with WEBHOOK_SECRET. */
static void ingestor_generic(void *opaque, const struct sc_http_request *req,
                             struct sc_http_response *resp)
{
    struct ingestor *in = opaque;
    enum ingest_sig sig =
        ingest_generic_verify(in->conf.webhook_secret, req->body, req->body_len,
                              sc_http_header(req, "X-Socialcare-Timestamp"),
                              sc_http_header(req, "X-Socialcare-Signature"),
                              sc_wall_ms() / 1000, in->conf.webhook_tolerance_s);
    if (sig != INGEST_SIG_OK) {
        ingestor_unauthorized(in, "generic", sig, resp);
        return;
    }
    ingestor_accept_posts(in, "generic", req, resp);
    if (resp->status == 202)
        sc_metric_inc(in->m_webhooks, SC_LABELS("generic", "ok"));
}

/* ------------------------------------------------------------------ polling set-up */

/* Adds the configured sources: Mastodon mentions + one search per brand term, X mentions
 * + one recent search of all terms, Bluesky notifications. */
static void ingestor_add_sources(struct ingestor *in)
{
    struct ingestor_config *c = &in->conf;
    bool mastodon = c->mastodon_url[0] && c->mastodon_token[0];
    bool x = c->x_bearer_token[0] != '\0';
    bool bluesky_login = c->bluesky_handle[0] && c->bluesky_app_password[0];
    bool bluesky = c->bluesky_token[0] != '\0' || bluesky_login;
    if (!mastodon && !x && !bluesky)
        return;
    in->m_polls =
        sc_metrics_counter(in->svc.metrics, "socialcare_ingestor_poll_requests_total",
                           "Polling requests, by source and outcome", "source,outcome");
    in->poller =
        ingest_poller_new(in->svc.redis, ingestor_publish_polled, in, in->m_polls);
    char *terms = sc_strdup(c->brand_terms);
    char *query = NULL;
    if (mastodon) {
        struct ingest_source_conf sc = {
            .name = "mastodon:mentions",
            .kind = INGEST_POLL_MASTODON_MENTIONS,
            .base = c->mastodon_url,
            .token = c->mastodon_token,
            .own_id = c->mastodon_account_id[0] ? c->mastodon_account_id : NULL,
            .page_size = 40,
            .interval_ms = (int)(c->mastodon_poll_s * 1000)};
        ingest_poller_add(in->poller, &sc);
    }
    char *save = NULL;
    for (char *t = strtok_r(terms, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        size_t len = strlen(t);
        while (len && t[len - 1] == ' ')
            t[--len] = '\0';
        if (!len)
            continue;
        if (mastodon) {
            char *name = sc_asprintf("mastodon:search:%s", t);
            struct ingest_source_conf sc = {
                .name = name,
                .kind = INGEST_POLL_MASTODON_SEARCH,
                .base = c->mastodon_url,
                .token = c->mastodon_token,
                .arg = t,
                .own_id = c->mastodon_account_id[0] ? c->mastodon_account_id : NULL,
                .page_size = 40,
                .interval_ms = (int)(c->mastodon_poll_s * 1000)};
            ingest_poller_add(in->poller, &sc);
            sc_free(name);
        }
        char *q = query ? sc_asprintf("%s OR %s", query, t) : sc_asprintf("(%s", t);
        sc_free(query);
        query = q;
    }
    if (x && c->x_user_id[0]) {
        struct ingest_source_conf sc = {.name = "x:mentions",
                                        .kind = INGEST_POLL_X_MENTIONS,
                                        .base = c->x_api_url,
                                        .token = c->x_bearer_token,
                                        .arg = c->x_user_id,
                                        .own_id = c->x_user_id,
                                        .page_size = 100,
                                        .interval_ms = (int)(c->x_poll_s * 1000)};
        ingest_poller_add(in->poller, &sc);
    }
    if (x && query) {
        char *q = sc_asprintf("%s) -is:retweet", query);
        struct ingest_source_conf sc = {.name = "x:search",
                                        .kind = INGEST_POLL_X_SEARCH,
                                        .base = c->x_api_url,
                                        .token = c->x_bearer_token,
                                        .arg = q,
                                        .own_id = c->x_user_id[0] ? c->x_user_id : NULL,
                                        .page_size = 100,
                                        .interval_ms = (int)(c->x_poll_s * 1000)};
        ingest_poller_add(in->poller, &sc);
        sc_free(q);
    }
    if (bluesky) {
        struct ingest_source_conf sc = {
            .name = "bluesky:notifications",
            .kind = INGEST_POLL_BLUESKY,
            .base = c->bluesky_url,
            .token = c->bluesky_token,
            .page_size = 50,
            .interval_ms = (int)(c->bluesky_poll_s * 1000),
            .login_id = bluesky_login ? c->bluesky_handle : NULL,
            .login_password = bluesky_login ? c->bluesky_app_password : NULL};
        ingest_poller_add(in->poller, &sc);
    }
    sc_free(query);
    sc_free(terms);
    sc_log(SC_LOG_INFO, "POLL", "%zu polled sources", ingest_poller_count(in->poller));
}

/* ------------------------------------------------------------------ main */

/* The HTTP sources' own Redis connection and producer (linger 1 ms: a group is small and
 * its handlers are waiting), handed to the committer thread. */
static int ingestor_start_committer(struct ingestor *in, char *errstr, size_t errstr_size)
{
    struct sc_redis *redis =
        sc_redis_new(in->conf.common.redis_url, 2000, errstr, errstr_size);
    if (!redis)
        return SC_EINVAL;
    size_t n = in->conf.common.n_kafka_props;
    struct sc_kv *props = sc_calloc(n + 1, sizeof(*props));
    props[0].key = (char *)"linger.ms";
    props[0].value = (char *)"1";
    for (size_t i = 0; i < n; i++)
        props[i + 1] = in->conf.common.kafka_props[i];
    struct sc_kafka_conf kconf = {.brokers = in->conf.common.kafka_brokers,
                                  .client_id = "socialcare-ingestor-http",
                                  .props = props,
                                  .n_props = n + 1,
                                  .metrics = in->svc.metrics};
    struct sc_producer *producer = sc_producer_new(&kconf, errstr, errstr_size);
    sc_free(props);
    if (!producer) {
        sc_redis_free(redis);
        return SC_EINVAL;
    }
    const char *topics[] = {in->conf.common.topic_posts_inbound};
    (void)sc_producer_warm(producer, topics, 1, 5000);
    in->committer = committer_new(redis, producer, in->conf.common.topic_posts_inbound,
                                  in->conf.dedup_ttl_s);
    return 0;
}

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

    curl_global_init(CURL_GLOBAL_DEFAULT);
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
    if (ingestor_start_committer(&in, errstr, sizeof(errstr)) != 0)
        goto fail;
    (void)sc_http_set_concurrent(in.svc.http, 1);
    in.m_webhooks =
        sc_metrics_counter(in.svc.metrics, "socialcare_ingestor_webhooks_total",
                           "Webhook deliveries, by source and outcome", "source,outcome");
    if (sc_http_route(in.svc.http, "POST", "/v1/posts", ingestor_http_posts, &in) != 0 ||
        (in.conf.x_consumer_secret[0] &&
         (sc_http_route(in.svc.http, "GET", "/webhooks/x", ingestor_x_crc, &in) != 0 ||
          sc_http_route(in.svc.http, "POST", "/webhooks/x", ingestor_x_events, &in) !=
              0)) ||
        (in.conf.meta_app_secret[0] &&
         (sc_http_route(in.svc.http, "GET", "/webhooks/meta", ingestor_meta_verify,
                        &in) != 0 ||
          sc_http_route(in.svc.http, "POST", "/webhooks/meta", ingestor_meta_events,
                        &in) != 0)) ||
        (in.conf.webhook_secret[0] &&
         sc_http_route(in.svc.http, "POST", "/webhooks/generic", ingestor_generic, &in) !=
             0)) {
        snprintf(errstr, sizeof(errstr), "cannot add route");
        goto fail;
    }
    if (strcmp(in.conf.ingest_format, "csv") == 0) {
        in.csv = ingest_csv_new(in.conf.csv_columns, errstr, sizeof(errstr));
        if (!in.csv)
            goto fail;
    } else if (strcmp(in.conf.ingest_format, "jsonl") != 0) {
        snprintf(errstr, sizeof(errstr), "INGEST_FORMAT: must be jsonl or csv");
        goto fail;
    }
    ingestor_add_sources(&in);
    if (in.conf.ingest_file[0]) {
        in.in = strcmp(in.conf.ingest_file, "-") == 0 ? stdin
                                                      : fopen(in.conf.ingest_file, "r");
        if (!in.in) {
            snprintf(errstr, sizeof(errstr), "INGEST_FILE: cannot open: %s",
                     strerror(errno));
            goto fail;
        }
    }
    struct ingest_replay_conf rconf = {.in = in.in,
                                       .csv = in.csv,
                                       .rate = in.conf.ingest_rate,
                                       .dedup_ttl_s = in.conf.dedup_ttl_s,
                                       .svc = &in.svc,
                                       .m_posts = in.m_posts};
    in.replay = ingest_replay_new(&rconf);
    if (sc_service_start(&in.svc, errstr, sizeof(errstr)) != 0)
        goto fail;
    exit_code = sc_service_run(&in.svc, NULL, ingestor_idle, &in) == 0 ? 0 : 1;
    /* The drain flushed the producer: reap what it acknowledged. */
    while (in.replay && ingest_replay_unpublished(in.replay) > 0 &&
           ingest_replay_step(in.replay))
        ;
    if (in.replay && ingest_replay_unpublished(in.replay) > 0) {
        sc_log(SC_LOG_WARNING, "REPLAY", "%zu replayed posts not published before stop",
               ingest_replay_unpublished(in.replay));
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
    ingest_replay_free(in.replay);
    if (in.in && in.in != stdin)
        fclose(in.in);
    ingest_poller_free(in.poller);
    ingest_csv_free(in.csv);
    sc_redis_batch_free(in.batch);
    committer_free(in.committer);
    sc_service_cleanup(&in.svc);
    sc_config_cleanup(ingestor_items, N_ITEMS, &in.conf, 1);
    curl_global_cleanup();
    return exit_code;
}
