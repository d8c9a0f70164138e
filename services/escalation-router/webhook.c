/* The webhook queue over libcurl multi (see webhook.h). */
#include "webhook.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "alloc.h"
#include "error.h"
#include "lifecycle.h"
#include "log.h"

struct job {
    struct job *next;
    char *department, *url, *secret, *body;
    size_t len;
    int attempts;
    int64_t not_before; /* monotonic ms */
    char id[48];        /* stream entry id; "" for an in-memory notification */
    CURL *easy;
    struct curl_slist *headers;
};

struct webhooks {
    struct webhook_opts o;
    CURLM *multi;
    struct job *queue; /* waiting (FIFO by insertion) */
    struct job *active;
    size_t n_queued, n_active;
    struct sc_metric *m_total;
    /* persisted queue */
    char consumer[96];
    bool group_ready, poked;
    int64_t next_read, next_claim; /* monotonic ms */
};

struct webhooks *webhooks_new(const struct webhook_opts *opts)
{
    struct webhooks *wh = sc_calloc(1, sizeof(*wh));
    wh->o = *opts;
    if (wh->o.max_attempts <= 0)
        wh->o.max_attempts = 8;
    if (wh->o.backoff_min_ms <= 0)
        wh->o.backoff_min_ms = 500;
    if (wh->o.backoff_max_ms < wh->o.backoff_min_ms)
        wh->o.backoff_max_ms = 60000;
    if (wh->o.max_queue == 0)
        wh->o.max_queue = 10000;
    if (wh->o.max_in_flight <= 0)
        wh->o.max_in_flight = 16;
    if (wh->o.timeout_ms <= 0)
        wh->o.timeout_ms = 5000;
    if (wh->o.claim_idle_ms <= 0)
        wh->o.claim_idle_ms = 60000;
    char host[64] = "router";
    (void)gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(wh->consumer, sizeof(wh->consumer), "%s-%ld", host, (long)getpid());
    wh->multi = curl_multi_init();
    if (opts->metrics)
        wh->m_total =
            sc_metrics_counter(opts->metrics, "socialcare_router_webhooks_total",
                               "Department webhook notifications by outcome "
                               "(delivered, retried, dropped, dead)",
                               "department,outcome");
    return wh;
}

static void job_free(struct job *j)
{
    if (j->easy)
        curl_easy_cleanup(j->easy);
    curl_slist_free_all(j->headers);
    sc_free(j->department);
    sc_free(j->url);
    sc_free(j->secret);
    sc_free(j->body);
    sc_free(j);
}

void webhooks_free(struct webhooks *wh)
{
    if (!wh)
        return;
    size_t dropped = 0, kept = 0;
    for (struct job *j = wh->active, *n; j; j = n) {
        n = j->next;
        curl_multi_remove_handle(wh->multi, j->easy);
        *j->id ? kept++ : dropped++;
        job_free(j);
    }
    for (struct job *j = wh->queue, *n; j; j = n) {
        n = j->next;
        *j->id ? kept++ : dropped++;
        job_free(j);
    }
    if (dropped)
        sc_log(SC_LOG_WARNING, "HOOK", "%zu webhook notifications dropped at shutdown",
               dropped);
    if (kept)
        sc_log(SC_LOG_NOTICE, "HOOK",
               "%zu webhook notifications left in the stream for the next instance",
               kept);
    curl_multi_cleanup(wh->multi);
    sc_free(wh);
}

void webhook_signature(const char *secret, long long ts, const char *body, size_t len,
                       char *out, size_t out_size)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char prefix[32];
    int pl = snprintf(prefix, sizeof(prefix), "%lld.", ts);
    unsigned char *msg = sc_malloc((size_t)pl + len + 1);
    memcpy(msg, prefix, (size_t)pl);
    memcpy(msg + pl, body, len);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, (size_t)pl + len, mac, &mac_len);
    sc_free(msg);
    size_t n = (size_t)snprintf(out, out_size, "sha256=");
    for (unsigned i = 0; i < mac_len && n + 2 < out_size; i++)
        n += (size_t)snprintf(out + n, out_size - n, "%02x", mac[i]);
}

void webhooks_persist_add(struct sc_redis_batch *batch, const char *department,
                          const char *url, const char *body, size_t len)
{
    const char *argv[] = {"XADD", WEBHOOK_STREAM, "*", "department", department, "url",
                          url,    "body",         body};
    size_t lens[] = {
        4, strlen(WEBHOOK_STREAM), 1, 10, strlen(department), 3, strlen(url), 4, len};
    sc_redis_batch_add(batch, 9, argv, lens);
}

void webhooks_poke(struct webhooks *wh)
{
    wh->poked = true;
}

static bool known(const struct webhooks *wh, const char *id)
{
    for (const struct job *j = wh->queue; j; j = j->next)
        if (!strcmp(j->id, id))
            return true;
    for (const struct job *j = wh->active; j; j = j->next)
        if (!strcmp(j->id, id))
            return true;
    return false;
}

static const redisReply *field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            !strcmp(fields->element[i]->str, name) &&
            fields->element[i + 1]->type == REDIS_REPLY_STRING)
            return fields->element[i + 1];
    return NULL;
}

static void queue_job(struct webhooks *wh, struct job *j)
{
    struct job **tail = &wh->queue;
    while (*tail)
        tail = &(*tail)->next;
    *tail = j;
    wh->n_queued++;
}

static void persist_finish(struct webhooks *wh, const struct job *j, const char *reason);

/* Queues the stream entries of a reply ([id, [field, value, ...]] each). */
static void load_entries(struct webhooks *wh, const redisReply *entries)
{
    if (!entries || entries->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING ||
            e->element[0]->len >= sizeof(((struct job *)0)->id))
            continue;
        const char *id = e->element[0]->str;
        if (known(wh, id))
            continue;
        struct job *j = sc_calloc(1, sizeof(*j));
        memcpy(j->id, id, e->element[0]->len + 1);
        const redisReply *f = e->element[1];
        const redisReply *dept =
            f->type == REDIS_REPLY_ARRAY ? field(f, "department") : NULL;
        const redisReply *url = f->type == REDIS_REPLY_ARRAY ? field(f, "url") : NULL;
        const redisReply *body = f->type == REDIS_REPLY_ARRAY ? field(f, "body") : NULL;
        if (!dept || !url || !body) { /* deleted meanwhile, or not ours */
            j->department = sc_strdup("unknown");
            j->url = sc_strdup("");
            j->body = sc_strdup("");
            persist_finish(wh, j, "malformed entry");
            job_free(j);
            continue;
        }
        j->department = sc_strdup(dept->str);
        j->url = sc_strdup(url->str);
        const char *secret = wh->o.secret_for
                                 ? wh->o.secret_for(wh->o.secret_ud, dept->str, url->str)
                                 : NULL;
        j->secret = secret ? sc_strdup(secret) : NULL;
        j->body = sc_malloc(body->len + 1);
        memcpy(j->body, body->str, body->len);
        j->body[body->len] = '\0';
        j->len = body->len;
        queue_job(wh, j);
    }
}

/* Reads new entries for this consumer and claims entries idle elsewhere (no blocking
 * command). Failures are retried on a later pump. */
static void persist_read(struct webhooks *wh, int64_t now)
{
    struct sc_redis *r = wh->o.redis;
    wh->poked = false;
    wh->next_read = now + 1000; /* also after a failure: Redis may be down */
    if (!wh->group_ready) {
        redisReply *g = sc_redis_commandf(r, "XGROUP CREATE %s %s 0 MKSTREAM",
                                          WEBHOOK_STREAM, WEBHOOK_GROUP);
        if (!g)
            return;
        wh->group_ready = g->type != REDIS_REPLY_ERROR || strstr(g->str, "BUSYGROUP");
        freeReplyObject(g);
        if (!wh->group_ready)
            return;
    }
    if (now >= wh->next_claim) {
        redisReply *c = sc_redis_commandf(r, "XAUTOCLAIM %s %s %s %lld 0-0 COUNT 64",
                                          WEBHOOK_STREAM, WEBHOOK_GROUP, wh->consumer,
                                          (long long)wh->o.claim_idle_ms);
        if (c && c->type == REDIS_REPLY_ARRAY && c->elements >= 2)
            load_entries(wh, c->element[1]);
        if (c)
            freeReplyObject(c);
        int64_t every = wh->o.claim_idle_ms / 2;
        wh->next_claim = now + (every < 200 ? 200 : every);
    }
    redisReply *x = sc_redis_commandf(r, "XREADGROUP GROUP %s %s COUNT 64 STREAMS %s >",
                                      WEBHOOK_GROUP, wh->consumer, WEBHOOK_STREAM);
    if (x && x->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < x->elements; i++) {
            const redisReply *st = x->element[i];
            if (st->type == REDIS_REPLY_ARRAY && st->elements == 2)
                load_entries(wh, st->element[1]);
        }
    }
    if (x)
        freeReplyObject(x);
}

/* A persisted notification is done: delivered (reason NULL) or dead (moved to
 * hooks:dead with the reason). */
static void persist_finish(struct webhooks *wh, const struct job *j, const char *reason)
{
    if (!*j->id || !wh->o.redis)
        return;
    if (reason) {
        const char *argv[] = {"XADD",        WEBHOOK_DEAD_STREAM,
                              "*",           "id",
                              j->id,         "department",
                              j->department, "url",
                              j->url,        "reason",
                              reason,        "body",
                              j->body};
        size_t lens[13];
        for (int i = 0; i < 13; i++)
            lens[i] = strlen(argv[i]);
        lens[12] = j->len;
        redisReply *d = sc_redis_command(wh->o.redis, 13, argv, lens);
        if (d)
            freeReplyObject(d);
        if (wh->m_total)
            sc_metric_inc(wh->m_total, SC_LABELS(j->department, "dead"));
    }
    redisReply *a = sc_redis_commandf(wh->o.redis, "XACK %s %s %s", WEBHOOK_STREAM,
                                      WEBHOOK_GROUP, j->id);
    if (a)
        freeReplyObject(a);
    a = sc_redis_commandf(wh->o.redis, "XDEL %s %s", WEBHOOK_STREAM, j->id);
    if (a)
        freeReplyObject(a);
}

static size_t discard(char *ptr, size_t size, size_t n, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * n;
}

/* Another transfer to the same URL is failing (in backoff): keep order and spare it. */
static bool url_backing_off(const struct webhooks *wh, const struct job *self,
                            int64_t now)
{
    for (const struct job *j = wh->queue; j && j != self; j = j->next)
        if (j->not_before > now && !strcmp(j->url, self->url))
            return true;
    return false;
}

static void start(struct webhooks *wh, struct job *j)
{
    j->easy = curl_easy_init();
    char hdr[160];
    j->headers = curl_slist_append(NULL, "Content-Type: application/json");
    long long ts = (long long)(sc_wall_ms() / 1000);
    snprintf(hdr, sizeof(hdr), "X-Socialcare-Timestamp: %lld", ts);
    j->headers = curl_slist_append(j->headers, hdr);
    if (*j->id) {
        snprintf(hdr, sizeof(hdr), "X-Socialcare-Delivery: %s", j->id);
        j->headers = curl_slist_append(j->headers, hdr);
    }
    if (j->secret) {
        char sig[100];
        webhook_signature(j->secret, ts, j->body, j->len, sig, sizeof(sig));
        snprintf(hdr, sizeof(hdr), "X-Socialcare-Signature: %s", sig);
        j->headers = curl_slist_append(j->headers, hdr);
    }
    curl_easy_setopt(j->easy, CURLOPT_URL, j->url);
    curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(j->easy, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(j->easy, CURLOPT_POSTFIELDSIZE, (long)j->len);
    curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS, (long)wh->o.timeout_ms);
    curl_easy_setopt(j->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)wh->o.timeout_ms);
    curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
    curl_multi_add_handle(wh->multi, j->easy);
    j->attempts++;
}

int webhooks_pump(struct webhooks *wh)
{
    int64_t now = sc_now_ms();
    if (wh->o.redis && (wh->poked || now >= wh->next_read) &&
        wh->n_queued + wh->n_active < (size_t)wh->o.max_in_flight * 4)
        persist_read(wh, now);
    /* start due jobs */
    for (struct job **pp = &wh->queue; *pp && (int)wh->n_active < wh->o.max_in_flight;) {
        struct job *j = *pp;
        if (j->not_before > now || url_backing_off(wh, j, now)) {
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        wh->n_queued--;
        j->next = wh->active;
        wh->active = j;
        wh->n_active++;
        start(wh, j);
    }
    int running = 0;
    curl_multi_perform(wh->multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(wh->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct job *j = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        long code = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        CURLcode result = msg->data.result; /* msg dies with the handle's removal */
        bool ok = result == CURLE_OK && code >= 200 && code < 300;
        curl_multi_remove_handle(wh->multi, j->easy);
        curl_easy_cleanup(j->easy);
        j->easy = NULL;
        curl_slist_free_all(j->headers);
        j->headers = NULL;
        for (struct job **pp = &wh->active; *pp; pp = &(*pp)->next)
            if (*pp == j) {
                *pp = j->next;
                break;
            }
        wh->n_active--;
        if (ok) {
            if (wh->m_total)
                sc_metric_inc(wh->m_total, SC_LABELS(j->department, "delivered"));
            persist_finish(wh, j, NULL);
            job_free(j);
        } else if (j->attempts >= wh->o.max_attempts) {
            sc_log(SC_LOG_ERR, "HOOK",
                   "webhook of department %s dropped after %d attempts (last: %s, HTTP "
                   "%ld)",
                   j->department, j->attempts, curl_easy_strerror(result), code);
            if (*j->id) {
                char reason[200];
                snprintf(reason, sizeof(reason), "%d attempts, last: %s, HTTP %ld",
                         j->attempts, curl_easy_strerror(result), code);
                persist_finish(wh, j, reason);
            } else if (wh->m_total) {
                sc_metric_inc(wh->m_total, SC_LABELS(j->department, "dropped"));
            }
            job_free(j);
        } else {
            int64_t delay = wh->o.backoff_min_ms;
            for (int i = 1; i < j->attempts && delay < wh->o.backoff_max_ms; i++)
                delay *= 2;
            if (delay > wh->o.backoff_max_ms)
                delay = wh->o.backoff_max_ms;
            j->not_before = sc_now_ms() + delay;
            sc_log(SC_LOG_WARNING, "HOOK",
                   "webhook of department %s failed (%s, HTTP %ld); retry %d in %lld ms",
                   j->department, curl_easy_strerror(result), code, j->attempts + 1,
                   (long long)delay);
            if (wh->m_total)
                sc_metric_inc(wh->m_total, SC_LABELS(j->department, "retried"));
            /* back to the front of the queue: order per endpoint is kept */
            j->next = wh->queue;
            wh->queue = j;
            wh->n_queued++;
        }
    }
    return wh->n_queued + wh->n_active > 0 || wh->poked;
}

size_t webhooks_pending(const struct webhooks *wh)
{
    return wh->n_queued + wh->n_active;
}
