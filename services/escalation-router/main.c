/* socialcare-escalation-router: applies each classified post to its customer's case in
 * Redis (once, atomically), routes it by the routing configuration to a department with
 * a priority and an SLA due time, emits a case event for every post, queues automatic
 * acknowledgements within the policy (addressed posts only, daily cap, quiet mode),
 * counts complaints per topic to open incidents on spikes, scans SLA clocks for breaches
 * and notifies departments by signed webhooks. Delivered replies close the loop: the case
 * waits for the customer and the first-response time is measured. SIGHUP reloads the
 * routing file between batches; the case API runs on the HTTP thread. */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "alloc.h"
#include "cases.h"
#include "event.h"
#include "incidents.h"
#include "phrases.h"
#include "jsonw.h"
#include "lifecycle.h"
#include "log.h"
#include "postscan.h"
#include "route.h"
#include "router.h"
#include "service.h"
#include "sla.h"
#include "webhook.h"

struct router_config {
    struct sc_common_config common; /* first: see sc_config_load */
    char *routing_config;
    char *api_token;
    char *webhook_secret;
    long long sla_scan_ms;
    long long webhook_timeout_ms;
    long long webhook_attempts;
    long long webhook_claim_idle_ms;
};

static const struct sc_config_item router_items[] = {
    SC_CONFIG_COMMON_ITEMS(struct router_config, "socialcare-escalation-router"),
    {"ROUTING_CONFIG", SC_CFG_STRING, "", 0, -1,
     "Routing configuration file (JSON, see docs/configuration.md); empty = the built-in "
     "config/routing.json. SIGHUP reloads it",
     offsetof(struct router_config, routing_config)},
    {"ROUTER_API_TOKEN", SC_CFG_SECRET, "", 0, -1,
     "Bearer token of the case API (/v1/cases ...); empty disables the API",
     offsetof(struct router_config, api_token)},
    {"ROUTER_WEBHOOK_SECRET", SC_CFG_SECRET, "", 0, -1,
     "HMAC-SHA256 key signing department webhooks (a webhook's secret_env overrides it)",
     offsetof(struct router_config, webhook_secret)},
    {"SLA_SCAN_INTERVAL_MS", SC_CFG_INT, "1000", 50, 600000,
     "How often SLA clocks are checked for breaches",
     offsetof(struct router_config, sla_scan_ms)},
    {"WEBHOOK_TIMEOUT_MS", SC_CFG_INT, "5000", 100, 120000,
     "Timeout of one webhook attempt",
     offsetof(struct router_config, webhook_timeout_ms)},
    {"WEBHOOK_MAX_ATTEMPTS", SC_CFG_INT, "8", 1, 100,
     "Attempts per webhook notification (exponential backoff from 0.5 s to 60 s)",
     offsetof(struct router_config, webhook_attempts)},
    {"WEBHOOK_CLAIM_IDLE_MS", SC_CFG_INT, "60000", 100, 86400000,
     "Department notifications read from the Redis queue (hooks:queue) by an instance "
     "but not acknowledged for this long (it crashed) are taken over",
     offsetof(struct router_config, webhook_claim_idle_ms)},
};
#define N_ITEMS (sizeof(router_items) / sizeof(router_items[0]))

struct router_item;
struct batch_ctx;

/* The applier thread: runs one pipelined batch of apply calls at a time on its own
 * Redis connection, so Redis works on a batch while the main thread prepares the next
 * one and produces the previous one's outputs. */
struct applier {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sc_redis *redis;
    struct sc_redis_batch *job; /* submitted and not yet taken back */
    bool running, done, quit, started;
    int rc;
};

static void *applier_main(void *opaque)
{
    struct applier *a = opaque;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->quit && !(a->job && a->running))
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->quit)
            break;
        struct sc_redis_batch *job = a->job;
        pthread_mutex_unlock(&a->mu);
        int rc = sc_redis_batch_run(a->redis, job);
        pthread_mutex_lock(&a->mu);
        a->rc = rc;
        a->running = false;
        a->done = true;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static int applier_start(struct applier *a, const char *url, char *errstr,
                         size_t errstr_size)
{
    a->redis = sc_redis_new(url, 2000, errstr, errstr_size);
    if (!a->redis)
        return SC_EINVAL;
    sc_redis_script_register(a->redis, &router_case_apply_script);
    sc_redis_script_register(a->redis, &router_case_delivered_script);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (pthread_create(&a->thread, NULL, applier_main, a) != 0) {
        snprintf(errstr, errstr_size, "cannot start the applier thread");
        return SC_EIO;
    }
    a->started = true;
    return 0;
}

/* Hands a batch to the thread (an empty one completes at once). */
static void applier_submit(struct applier *a, struct sc_redis_batch *job)
{
    pthread_mutex_lock(&a->mu);
    a->job = job;
    a->rc = 0;
    a->done = sc_redis_batch_count(job) == 0;
    a->running = !a->done;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* Waits for the submitted batch. @returns sc_redis_batch_run's result. */
static int applier_wait(struct applier *a)
{
    pthread_mutex_lock(&a->mu);
    while (!a->done)
        pthread_cond_wait(&a->cv, &a->mu);
    int rc = a->rc;
    a->job = NULL;
    a->done = false;
    pthread_mutex_unlock(&a->mu);
    return rc;
}

static void applier_stop(struct applier *a)
{
    if (a->started) {
        pthread_mutex_lock(&a->mu);
        a->quit = true;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->cv);
        a->started = false;
    }
    sc_redis_free(a->redis);
    a->redis = NULL;
}

/* One batch from consumption to its outputs (two slots alternate). */
struct router_slot {
    struct router_item *items;
    size_t n, cap;
    struct batch_ctx *ctx;
    struct postscan_arena arena; /* the batch's post strings */
    struct sc_redis_batch *apply;
    struct sc_delivery *delivery; /* its delivery group (owned by the service loop) */
    struct router_rules *rules;   /* the rules it was routed with */
    int64_t now;
    char at[40]; /* now, RFC 3339 */
    bool held;   /* submitted, outputs not yet produced (the delivery group's hold) */
};

/* Posts per call of the apply script (8 to 16 measured best; 32 and 64 were slower in
 * Redis, see docs/benchmarks/router.md). */
#define ROUTER_CHUNK           16
#define ROUTER_DELIVERED_CHUNK 32 /* receipts per delivery script call */

/* A variadic command being built (ZADD key s1 m1 s2 m2 ..., SADD key m1 m2 ...): one
 * command per batch instead of one per post. */
struct varcmd {
    const char *cmd; /* static string; the key is string 1 in buf */
    size_t n;        /* arguments after command and key */
    char *buf;
    size_t used, cap;
    size_t *off, ocap;
    const char **argv;
    size_t *lens, vcap;
};

static void varcmd_put(struct varcmd *v, const char *text)
{
    size_t len = strlen(text);
    if (v->used + len + 1 > v->cap) {
        v->cap = (v->used + len + 1) * 2;
        v->buf = sc_realloc(v->buf, v->cap);
    }
    if (v->n + 2 >= v->ocap) {
        v->ocap = (v->n + 2) * 2;
        v->off = sc_realloc(v->off, v->ocap * sizeof(*v->off));
    }
    memcpy(v->buf + v->used, text, len + 1);
    v->off[v->n + 2] = v->used; /* slots 0 and 1: command and key */
    v->used += len + 1;
}

static void varcmd_start(struct varcmd *v, const char *cmd, const char *key)
{
    v->used = 0;
    v->n = 0;
    v->cmd = cmd;
    varcmd_put(v, key); /* lands in slot 2 (no argument yet): move it to slot 1 */
    v->off[1] = v->off[2];
}

static void varcmd_arg(struct varcmd *v, const char *arg)
{
    varcmd_put(v, arg);
    v->n++;
}

/* Appends the command to batch when it has arguments, and empties it. */
static void varcmd_flush(struct varcmd *v, struct sc_redis_batch *batch)
{
    if (v->n == 0)
        return;
    size_t argc = v->n + 2;
    if (argc > v->vcap) {
        v->vcap = argc * 2;
        v->argv = sc_realloc(v->argv, v->vcap * sizeof(*v->argv));
        v->lens = sc_realloc(v->lens, v->vcap * sizeof(*v->lens));
    }
    v->argv[0] = v->cmd;
    v->argv[1] = v->buf + v->off[1];
    for (size_t i = 2; i < argc; i++)
        v->argv[i] = v->buf + v->off[i];
    for (size_t i = 0; i < argc; i++)
        v->lens[i] = strlen(v->argv[i]);
    sc_redis_batch_add(batch, (int)argc, v->argv, v->lens);
    v->n = 0;
}

static void varcmd_free(struct varcmd *v)
{
    sc_free(v->buf);
    sc_free(v->off);
    sc_free(v->argv);
    sc_free(v->lens);
    memset(v, 0, sizeof(*v));
}

/* An item of the list of rule sets retired by reloads (freed at exit). */
struct retired {
    struct retired *next;
    struct router_rules *rules;
};

struct router {
    struct sc_service svc;
    struct router_config conf;
    _Atomic(struct router_rules *) rules;
    struct retired *retired;
    struct sc_redis_batch *pre, *post;
    struct webhooks *hooks;
    bool notified; /* notifications added to the post batch */
    struct router_api api;
    struct applier applier;
    struct router_slot slots[2];       /* the batch being prepared and the held one */
    unsigned next;                     /* index of the slot the next batch goes to */
    struct postscan_arena *scan_arena; /* the preparing slot's */
    struct case_chunk chunk;           /* posts of the next apply call */
    struct delivered_chunk dchunk;     /* receipts of the next delivery call */
    struct varcmd due, pending, links; /* variadic index commands being built */
    struct jsonw out;                  /* the message being written */
    char batch_at[40];                 /* the batch's time, RFC 3339 */
    int64_t next_scan;
    struct sc_metric *m_posts; /* socialcare_router_posts_total{department,priority} */
    struct sc_metric *m_cases_opened;   /* socialcare_router_cases_opened_total */
    struct sc_metric *m_acks;           /* socialcare_router_acknowledgements_total */
    struct sc_metric *m_ack_skipped;    /* ..._acknowledgements_skipped_total{reason} */
    struct sc_metric *m_first_response; /* socialcare_first_response_seconds */
    struct sc_metric *m_breaches;  /* socialcare_router_sla_breaches_total{dept,prio} */
    struct sc_metric *m_incidents; /* socialcare_router_incidents_total{topic} */
    struct sc_metric *m_phrase_incidents; /* ..._phrase_incidents_total{topic} */
    struct sc_metric *m_reloads;          /* socialcare_router_config_reloads_total */
    struct sc_metric *m_amplify;          /* socialcare_router_amplify_total */
};

/* What one consumed message turned into before the Redis round trips. */
struct router_item {
    json_t *event; /* a delivery, or a post the fast scan declined; NULL otherwise */
    bool valid;    /* accepted (false: dead-lettered) */
    bool is_post;
    struct post_fields pf; /* a post's fields */
    struct route_input in;
    struct route_decision decision;
    char customer[512];
    long redis_index; /* index of its command in the batch, -1 when none */
    size_t chunk_pos; /* its position in its apply or delivery call's reply */
    int topic_slot;   /* index into the batch's topics, -1 when not counted */
    uint16_t phr[ROUTER_PHRASE_MAX]; /* its key phrases: indexes into the batch's */
    int n_phr;
    const char *incident; /* the incident it is linked to ("" when none) */
    long long due_ms;
    bool auto_reply; /* delivery of an automatic message */
    struct case_result res;
};

#define MAX_TOPICS  64
#define MAX_REGIONS 64

/* Distinct (topic, phrase) pairs per batch (more are not counted), and the size of the
 * open-addressing table over them (a power of two). */
#define MAX_PHRASES  2048
#define PHRASE_TABLE 4096

/* One (topic, phrase) pair of a batch and what its spike counter said. */
struct batch_phrase {
    uint64_t hash;
    int topic_slot;
    int index; /* 1-based, among its topic's phrases in this batch */
    long long count;
    char text[ROUTER_PHRASE_TEXT];
    struct spike_result res;
};

/* Per-batch aggregates for the pre round trip (quiet mode, spikes). */
struct batch_ctx {
    const char *topics[MAX_TOPICS];
    long long topic_count[MAX_TOPICS];
    long topic_cmd[MAX_TOPICS];
    struct spike_result spikes[MAX_TOPICS];
    size_t n_topics;
    const char *regions[MAX_REGIONS];
    bool region_quiet[MAX_REGIONS];
    size_t n_regions;
    bool global_quiet;
    long long due[64][ROUTER_N_PRIORITIES]; /* memo per department and priority */
    size_t n_phrases;
    uint16_t phrase_table[PHRASE_TABLE]; /* index + 1 into phrases, 0: free */
    /* not cleared per batch from here on */
    struct batch_phrase phrases[MAX_PHRASES];
};

/* Writes a positive int in decimal at out; returns the end. */
static char *format_index(char *out, int v)
{
    char tmp[12];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0)
        *out++ = tmp[--n];
    return out;
}

/* Counts the key phrases of a complaint (it->topic_slot set) in the batch's table. */
static void count_phrases(const struct router_rules *rules, struct batch_ctx *ctx,
                          struct router_item *it)
{
    struct router_phrase ph[ROUTER_PHRASE_MAX];
    size_t n = router_phrases_extract(it->in.text, ph, (size_t)rules->phrases_per_post);
    for (size_t i = 0; i < n; i++) {
        uint64_t h =
            ph[i].hash ^ ((uint64_t)(it->topic_slot + 1) * 0x9e3779b97f4a7c15ULL);
        size_t pos = (size_t)(h ^ (h >> 29)) & (PHRASE_TABLE - 1);
        for (;;) {
            uint16_t e = ctx->phrase_table[pos];
            if (e == 0) {
                if (ctx->n_phrases >= MAX_PHRASES)
                    break;
                struct batch_phrase *bp = &ctx->phrases[ctx->n_phrases];
                bp->hash = ph[i].hash;
                bp->topic_slot = it->topic_slot;
                bp->index = 0;
                bp->count = 0;
                memset(&bp->res, 0, sizeof(bp->res));
                memcpy(bp->text, ph[i].text, sizeof(bp->text));
                ctx->phrase_table[pos] = (uint16_t)++ctx->n_phrases;
                e = ctx->phrase_table[pos];
            }
            struct batch_phrase *bp = &ctx->phrases[e - 1];
            if (bp->hash == ph[i].hash && bp->topic_slot == it->topic_slot) {
                bp->count++;
                it->phr[it->n_phr++] = (uint16_t)(e - 1);
                break;
            }
            pos = (pos + 1) & (PHRASE_TABLE - 1);
        }
    }
}

static bool counts_for_spikes(const char *intent)
{
    int i = router_intent_index(intent);
    return i == ROUTER_INTENT_COMPLAINT || i == ROUTER_INTENT_BUG_REPORT ||
           i == ROUTER_INTENT_CRISIS;
}

static void fill_input(const struct post_fields *pf, struct route_input *in, int64_t now)
{
    memset(in, 0, sizeof(*in));
    in->intent = pf->intent;
    in->topic = pf->topic;
    in->sentiment = pf->label;
    in->sentiment_score = pf->score;
    in->influence = pf->influence;
    in->language = pf->lang;
    in->platform = pf->platform;
    in->kind = pf->kind;
    in->region = pf->region;
    in->source_type = pf->source_type;
    in->text = pf->text;
    in->followers = pf->followers;
    in->verified = pf->verified;
    int64_t created = now;
    if (!pf->created_at || sc_parse_time(pf->created_at, &created) != 0)
        created = now;
    in->engagement_per_min = router_engagement_velocity(pf->interactions, created, now);
}

/* Copies s into out as the inside of a JSON string (quotes, backslashes and control
 * characters escaped), cut short (at a character boundary) when out is too small. */
static void json_escape(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (; s && *s && n + 7 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80 && *s) /* mid-character */
        n--;
    if (n > 0 && (unsigned char)out[n - 1] >= 0xc0 && *s)
        n--;
    out[n] = '\0';
}

static int send_json(struct router *rt, const char *topic, const char *key, json_t *obj,
                     struct sc_delivery *delivery)
{
    size_t len;
    char *out = sc_event_dump(obj, &len);
    int rc = sc_producer_send(rt->svc.producer, topic, key, strlen(key), out, len, NULL,
                              delivery);
    free(out);
    return rc;
}

/* Queues a department notification on each of its webhooks (or the escalation hook) in
 * the persisted queue: XADDs added to batch (sent with the batch's other writes), or
 * sent at once when batch is NULL. */
static void notify(struct router *rt, const struct router_department *d, bool escalate,
                   json_t *payload, const char *summary, struct sc_redis_batch *batch)
{
    const struct router_webhook *hooks = d->webhooks;
    size_t n = d->n_webhooks;
    if (escalate && d->escalation.url) {
        hooks = &d->escalation;
        n = 1;
    }
    if (n == 0)
        return;
    size_t jlen;
    char *json = sc_event_dump(payload, &jlen);
    json_t *slack = json_pack("{s:s}", "text", summary);
    size_t slen;
    char *stext = sc_event_dump(slack, &slen);
    json_decref(slack);
    struct sc_redis_batch *b = batch ? batch : sc_redis_batch_new();
    rt->notified |= batch != NULL;
    for (size_t i = 0; i < n; i++)
        webhooks_persist_add(b, d->name, hooks[i].url, hooks[i].slack ? stext : json,
                             hooks[i].slack ? slen : jlen);
    if (!batch) {
        if (sc_redis_batch_run(rt->svc.redis, b) != 0)
            sc_log(SC_LOG_ERR, "HOOK", "notification for %s not queued: Redis failed",
                   d->name);
        sc_redis_batch_free(b);
        webhooks_poke(rt->hooks);
    }
    free(json);
    free(stext);
}

/* The signing secret of a persisted notification, from the current rules. */
static const char *hook_secret(void *ud, const char *department, const char *url)
{
    struct router *rt = ud;
    const struct router_rules *rules = atomic_load(&rt->rules);
    const char *global = *rt->conf.webhook_secret ? rt->conf.webhook_secret : NULL;
    int di = router_rules_department(rules, department);
    if (di < 0)
        return global;
    const struct router_department *d = &rules->departments[di];
    for (size_t i = 0; i < d->n_webhooks; i++)
        if (d->webhooks[i].url && !strcmp(d->webhooks[i].url, url))
            return d->webhooks[i].secret ? d->webhooks[i].secret : global;
    if (d->escalation.url && !strcmp(d->escalation.url, url))
        return d->escalation.secret ? d->escalation.secret : global;
    return global;
}

static int router_emit_post(struct router *rt, const struct router_rules *rules,
                            struct router_item *it, const char *incident,
                            struct sc_delivery *delivery)
{
    const struct sc_common_config *common = &rt->conf.common;
    struct case_result *res = &it->res;
    const char *post_id = it->pf.id;
    struct jsonw *w = &rt->out;
    char due_at[40];
    sc_format_time(res->due_ms, due_at, sizeof(due_at));
    jsonw_begin(w);
    jsonw_int(w, "v", 1);
    jsonw_str(w, "type", res->opened ? "case.opened" : "case.updated");
    jsonw_str(w, "case_id", res->case_id);
    jsonw_str(w, "customer", it->customer);
    jsonw_str(w, "post_id", post_id);
    jsonw_str(w, "department", it->decision.department);
    jsonw_str(w, "priority", res->priority);
    jsonw_str(w, "status", res->status);
    jsonw_str(w, "intent", it->in.intent);
    jsonw_strs(w, "reasons", it->decision.reasons, it->decision.n_reasons);
    jsonw_str(w, "at", rt->batch_at);
    const struct router_strlist *tags = it->decision.tags;
    jsonw_strs(w, "tags", tags ? (const char *const *)tags->v : NULL, tags ? tags->n : 0);
    jsonw_str(w, "sla_due_at", due_at);
    jsonw_bool(w, "reopened", res->reopened);
    if (res->agent[0])
        jsonw_str(w, "agent", res->agent);
    if (it->decision.rule)
        jsonw_str(w, "rule", it->decision.rule);
    if (incident && *incident)
        jsonw_str(w, "incident_id", incident);
    jsonw_end(w);
    size_t klen = strlen(it->customer);
    int rc = sc_producer_send(rt->svc.producer, common->topic_cases_events, it->customer,
                              klen, w->buf, w->len, NULL, delivery);
    if (rc != 0)
        return rc;
    sc_metric_inc(rt->m_posts, SC_LABELS(it->decision.department, res->priority));
    if (res->opened)
        sc_metric_inc(rt->m_cases_opened, NULL);
    if (res->skipped[0])
        sc_metric_inc(rt->m_ack_skipped, SC_LABELS(res->skipped));
    if (res->ack == CASE_ACK_NONE)
        return 0;

    const struct router_department *dept =
        &rules->departments[it->decision.department_index];
    const char *tpl = it->decision.ack_template;
    if (res->ack == CASE_ACK_INCIDENT) {
        const char *inc_tpl = router_rules_template(rules, "incident");
        if (inc_tpl)
            tpl = inc_tpl;
    }
    if (!tpl)
        return 0;
    char text[1024], reply_id[600];
    const char *signature = dept->signature ? dept->signature : rules->team_signature;
    if (router_ack_render(tpl, it->pf.handle, res->case_id, signature, dept->name, text,
                          sizeof(text)) < 0) {
        sc_log(SC_LOG_ERR, "ROUTE", "acknowledgement text too long; not sent");
        return 0;
    }
    snprintf(reply_id, sizeof(reply_id), "ack-%s", post_id);
    const char *kind = it->in.kind;
    jsonw_begin(w);
    jsonw_int(w, "v", 1);
    jsonw_str(w, "reply_id", reply_id);
    jsonw_str(w, "case_id", res->case_id);
    jsonw_str(w, "customer", it->customer);
    jsonw_str(w, "platform", it->in.platform);
    jsonw_str(w, "channel", kind && !strcmp(kind, "dm") ? "dm" : "public");
    jsonw_str(w, "in_reply_to", post_id);
    jsonw_str(w, "text", text);
    jsonw_str(w, "origin", "auto");
    jsonw_bool(w, "requires_review", it->decision.requires_review);
    jsonw_end(w);
    rc = sc_producer_send(rt->svc.producer, common->topic_replies_outbound, it->customer,
                          klen, w->buf, w->len, NULL, delivery);
    if (rc == 0)
        sc_metric_inc(rt->m_acks, NULL);
    return rc;
}

/* Praise whose routing rule says "amplify": true. */
static bool wants_amplify(const struct router_item *it)
{
    return it->decision.amplify &&
           router_intent_index(it->in.intent) == ROUTER_INTENT_PRAISE;
}

/* case.amplify on cases.events: a suggestion that an agent (or a tool acting for one)
 * share or like the post. The router takes no public action itself. A redelivered post
 * emits it again (consumers de-duplicate by post_id and type). */
static int router_emit_amplify(struct router *rt, const struct router_item *it,
                               struct sc_delivery *delivery)
{
    struct jsonw *w = &rt->out;
    jsonw_begin(w);
    jsonw_int(w, "v", 1);
    jsonw_str(w, "type", "case.amplify");
    jsonw_str(w, "case_id", it->res.case_id);
    jsonw_str(w, "customer", it->customer);
    jsonw_str(w, "post_id", it->pf.id);
    jsonw_str(w, "department", it->decision.department);
    jsonw_str(w, "platform", it->in.platform);
    jsonw_str(w, "kind", it->in.kind);
    jsonw_str(w, "source", it->in.source_type);
    jsonw_str(w, "at", rt->batch_at);
    jsonw_end(w);
    int rc = sc_producer_send(rt->svc.producer, rt->conf.common.topic_cases_events,
                              it->customer, strlen(it->customer), w->buf, w->len, NULL,
                              delivery);
    if (rc == 0)
        sc_metric_inc(rt->m_amplify, NULL);
    return rc;
}

static int slot_of(const char **list, size_t *n, size_t max, const char *value)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(list[i], value))
            return (int)i;
    if (*n >= max)
        return -1;
    list[*n] = value;
    return (int)(*n)++;
}

/* Parses one message and routes it (pure); dead-letters what can never be applied. */
static int router_prepare(struct router *rt, const struct router_rules *rules,
                          const rd_kafka_message_t *msg, struct router_item *it,
                          struct batch_ctx *ctx, int64_t now,
                          struct sc_delivery *delivery)
{
    const struct sc_common_config *common = &rt->conf.common;
    char reason[256];
    it->redis_index = -1;
    it->topic_slot = -1;
    it->is_post =
        strcmp(rd_kafka_topic_name(msg->rkt), common->topic_replies_delivered) != 0;
    bool scanned =
        it->is_post && router_post_scan(msg->payload, msg->len, rt->scan_arena, &it->pf);
    it->event = NULL;
    if (!scanned) {
        it->event = sc_event_parse(msg->payload, msg->len,
                                   it->is_post ? SC_EVENT_POST : SC_EVENT_DELIVERY, NULL,
                                   reason, sizeof(reason));
        if (it->event && it->is_post)
            post_fields_from_json(it->event, &it->pf);
    }
    if ((scanned || it->event) && it->is_post) {
        fill_input(&it->pf, &it->in, now);
        const struct post_fields *pf = &it->pf;
        int klen = -1;
        if (pf->platform && pf->author_id && *pf->platform && *pf->author_id)
            klen = snprintf(it->customer, sizeof(it->customer), "%s:%s", pf->platform,
                            pf->author_id);
        if (!it->in.intent || !it->in.topic || !it->in.sentiment) {
            snprintf(reason, sizeof(reason), "missing_field: classification");
        } else if (klen < 0 || (size_t)klen >= sizeof(it->customer)) {
            it->customer[0] = '\0';
            snprintf(reason, sizeof(reason), "invalid_field: customer key too long");
        } else {
            it->valid = true;
            router_route(rules, &it->in, &it->decision);
            int d = it->decision.department_index, p = it->decision.priority;
            if (d < 64) {
                if (!ctx->due[d][p - 1])
                    ctx->due[d][p - 1] =
                        router_sla_due(&rules->departments[d].hours, now,
                                       rules->departments[d].sla_ms[p - 1]);
                it->due_ms = ctx->due[d][p - 1];
            } else {
                it->due_ms = router_sla_due(&rules->departments[d].hours, now,
                                            rules->departments[d].sla_ms[p - 1]);
            }
            if (counts_for_spikes(it->in.intent)) {
                it->topic_slot =
                    slot_of(ctx->topics, &ctx->n_topics, MAX_TOPICS, it->in.topic);
                if (it->topic_slot >= 0) {
                    ctx->topic_count[it->topic_slot]++;
                    if (rules->phrases_per_post > 0)
                        count_phrases(rules, ctx, it);
                }
            }
            if (it->in.region)
                (void)slot_of(ctx->regions, &ctx->n_regions, MAX_REGIONS, it->in.region);
            return 0;
        }
        json_decref(it->event);
        it->event = NULL;
    } else if (it->event) {
        it->valid = true;
        return 0;
    }
    return sc_producer_dead_letter(rt->svc.producer, common->topic_dlq,
                                   "escalation-router", reason, msg, msg->payload,
                                   msg->len, delivery);
}

bool router_quiet_active(const char *value, long long now_ms)
{
    if (!value)
        return false;
    char *end;
    long long until = strtoll(value, &end, 10);
    return end != value && until > now_ms;
}

static bool reply_quiet(redisReply *r, long long now)
{
    return r && r->type == REDIS_REPLY_STRING && router_quiet_active(r->str, now);
}

/* First round trip: quiet mode switches and spike counters. */
static int router_pre(struct router *rt, const struct router_rules *rules,
                      struct batch_ctx *ctx, struct router_item *items, size_t n_items,
                      int64_t now)
{
    sc_redis_batch_reset(rt->pre);
    const char *argv[2] = {"GET", "quiet:global"};
    size_t lens[2] = {3, 12};
    sc_redis_batch_add(rt->pre, 2, argv, lens);
    char keys[MAX_REGIONS][300];
    for (size_t i = 0; i < ctx->n_regions; i++) {
        snprintf(keys[i], sizeof(keys[i]), "quiet:region:%s", ctx->regions[i]);
        argv[1] = keys[i];
        lens[1] = strlen(keys[i]);
        sc_redis_batch_add(rt->pre, 2, argv, lens);
    }
    /* each topic's phrases (hash, count) and, per post with several, its group */
    uint64_t *hashes =
        ctx->n_phrases ? sc_malloc(ctx->n_phrases * sizeof(*hashes)) : NULL;
    long long *counts =
        ctx->n_phrases ? sc_malloc(ctx->n_phrases * sizeof(*counts)) : NULL;
    const char **groups = n_items ? sc_malloc(n_items * sizeof(*groups)) : NULL;
    char *gbuf = n_items ? sc_malloc(n_items * ROUTER_PHRASE_MAX * 6) : NULL;
    for (size_t i = 0; i < ctx->n_topics; i++) {
        ctx->topic_cmd[i] = (long)sc_redis_batch_count(rt->pre);
        struct spike_phrases ph = {.hash = hashes, .count = counts, .groups = groups};
        for (size_t p = 0; p < ctx->n_phrases; p++) {
            struct batch_phrase *bp = &ctx->phrases[p];
            if (bp->topic_slot != (int)i)
                continue;
            hashes[ph.n] = bp->hash;
            counts[ph.n] = bp->count;
            bp->index = (int)++ph.n;
        }
        char *g = gbuf;
        for (size_t k = 0; ph.n && k < n_items; k++) {
            const struct router_item *it = &items[k];
            if (it->topic_slot != (int)i || it->n_phr < 2)
                continue;
            char *start = g;
            for (int j = 0; j < it->n_phr; j++) {
                if (j)
                    *g++ = ',';
                g = format_index(g, ctx->phrases[it->phr[j]].index);
            }
            *g++ = '\0';
            /* posts with the same phrases (copies, templates) need one group */
            size_t len = (size_t)(g - start);
            bool dup = false;
            for (size_t q = ph.n_groups; q-- > 0 && ph.n_groups - q <= 8 && !dup;)
                dup = strlen(groups[q]) + 1 == len && !memcmp(groups[q], start, len);
            if (dup) {
                g = start;
                continue;
            }
            groups[ph.n_groups++] = start;
        }
        router_spike_add(rt->pre, rules, ctx->topics[i], ctx->topic_count[i], now, &ph);
    }
    sc_free(hashes);
    sc_free(counts);
    sc_free(groups);
    sc_free(gbuf);
    int rc = sc_redis_batch_run(rt->svc.redis, rt->pre);
    if (rc != 0)
        return rc;
    ctx->global_quiet = reply_quiet(sc_redis_batch_reply(rt->pre, 0), now);
    for (size_t i = 0; i < ctx->n_regions; i++)
        ctx->region_quiet[i] = reply_quiet(sc_redis_batch_reply(rt->pre, i + 1), now);
    struct spike_result *pres =
        ctx->n_phrases ? sc_malloc(ctx->n_phrases * sizeof(*pres)) : NULL;
    for (size_t i = 0; i < ctx->n_topics && rc == 0; i++) {
        redisReply *r = sc_redis_batch_reply(rt->pre, (size_t)ctx->topic_cmd[i]);
        if (router_spike_parse(r, &ctx->spikes[i]) != 0) {
            rc = SC_EIO;
            break;
        }
        if (r->elements == 4)
            continue;
        size_t np = 0;
        for (size_t p = 0; p < ctx->n_phrases; p++)
            np += ctx->phrases[p].topic_slot == (int)i;
        if (router_spike_parse_phrases(r, pres, np) != 0) {
            rc = SC_EIO;
            break;
        }
        for (size_t p = 0; p < ctx->n_phrases; p++)
            if (ctx->phrases[p].topic_slot == (int)i)
                ctx->phrases[p].res = pres[ctx->phrases[p].index - 1];
    }
    sc_free(pres);
    /* each complaint's incident: its topic's, else the first of its phrases' */
    for (size_t k = 0; k < n_items; k++) {
        struct router_item *it = &items[k];
        it->incident = "";
        if (it->topic_slot < 0)
            continue;
        it->incident = ctx->spikes[it->topic_slot].incident;
        for (int j = 0; j < it->n_phr && !*it->incident; j++)
            it->incident = ctx->phrases[it->phr[j]].res.incident;
    }
    return rc;
}

static bool item_quiet(const struct batch_ctx *ctx, const struct router_item *it)
{
    if (ctx->global_quiet)
        return true;
    for (size_t i = 0; it->in.region && i < ctx->n_regions; i++)
        if (!strcmp(ctx->regions[i], it->in.region))
            return ctx->region_quiet[i];
    return false;
}

static void add_cmd(struct sc_redis_batch *b, int argc, const char **argv)
{
    size_t lens[8];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    sc_redis_batch_add(b, argc, argv, lens);
}

static bool linked_to(const struct router_item *it, const char *incident)
{
    return it->valid && it->is_post && it->incident && *it->incident &&
           !strcmp(it->incident, incident);
}

/* Opens the incident record (of a topic, or of a phrase within it when phrase is set)
 * and notifies the owning department once. */
static void incident_opened(struct router *rt, const struct router_rules *rules,
                            struct router_item *items, size_t n,
                            const struct spike_result *sp, const char *topic,
                            const char *phrase, int64_t now)
{
    int dept_idx = rules->default_department;
    for (size_t i = 0; i < n; i++)
        if (linked_to(&items[i], sp->incident)) {
            dept_idx = items[i].decision.department_index;
            break;
        }
    const struct router_department *d = &rules->departments[dept_idx];
    int buckets = rules->spike_buckets;
    char key[200], nowt[32], win[32], base[32];
    snprintf(key, sizeof(key), "incident:{%s}", sp->incident);
    snprintf(nowt, sizeof(nowt), "%lld", (long long)now);
    snprintf(win, sizeof(win), "%lld", sp->window);
    snprintf(base, sizeof(base), "%.2f", sp->baseline);
    const char *hset[] = {"HSET",  key,   "id",         sp->incident,
                          "topic", topic, "department", d->name};
    add_cmd(rt->post, 8, hset);
    const char *hset2[] = {"HSET",      key,  "status", "open",
                           "opened_at", nowt, "window", win};
    add_cmd(rt->post, 8, hset2);
    const char *hset3[] = {"HSET", key, "baseline", base};
    add_cmd(rt->post, 4, hset3);
    if (phrase) {
        const char *hset4[] = {"HSET", key, "phrase", phrase};
        add_cmd(rt->post, 4, hset4);
    }
    const char *zadd[] = {"ZADD", "incidents", nowt, sp->incident};
    add_cmd(rt->post, 4, zadd);
    sc_metric_inc(phrase ? rt->m_phrase_incidents : rt->m_incidents, SC_LABELS(topic));
    sc_log(SC_LOG_NOTICE, "SPIKE", "incident %s opened: %lld %s in the window",
           sp->incident, sp->window,
           phrase ? "complaints with one recurring phrase" : "complaints");

    json_t *samples = json_array();
    for (size_t i = 0; i < n && (int)json_array_size(samples) < rules->spike_samples; i++)
        if (linked_to(&items[i], sp->incident) && items[i].in.text)
            json_array_append_new(samples,
                                  json_pack("{s:s,s:s}", "post_id", items[i].pf.id,
                                            "text", items[i].in.text));
    char at[40];
    sc_format_time(now, at, sizeof(at));
    json_t *payload =
        json_pack("{s:i,s:s,s:s,s:s,s:s,s:I,s:f,s:o,s:s}", "v", 1, "type",
                  "incident.opened", "incident_id", sp->incident, "topic", topic,
                  "department", d->name, "size", (json_int_t)sp->window, "baseline",
                  sp->baseline * buckets, "samples", samples, "at", at);
    if (phrase)
        json_object_set_new(payload, "phrase", json_string(phrase));
    char summary[600];
    long long seconds = (long long)(rules->spike_bucket_ms * buckets / 1000);
    if (phrase)
        snprintf(summary, sizeof(summary),
                 "Incident %s: %lld complaints about %s mention \"%s\" in the last %lld "
                 "s (usual: %.1f). Department: %s.",
                 sp->incident, sp->window, topic, phrase, seconds, sp->baseline * buckets,
                 d->name);
    else
        snprintf(summary, sizeof(summary),
                 "Incident %s: %lld complaints about %s in the last %lld s (usual: "
                 "%.1f). Department: %s.",
                 sp->incident, sp->window, topic, seconds, sp->baseline * buckets,
                 d->name);
    notify(rt, d, false, payload, summary, rt->post);
    json_decref(payload);
}

/* A batch retried after the opening one failed still leaves an incident record. */
static void incident_record_nx(struct router *rt, const char *incident, const char *topic,
                               const char *phrase, int64_t now)
{
    char key[200], nowt[32];
    snprintf(key, sizeof(key), "incident:{%s}", incident);
    snprintf(nowt, sizeof(nowt), "%lld", (long long)now);
    const char *nx1[] = {"HSETNX", key, "id", incident};
    const char *nx2[] = {"HSETNX", key, "topic", topic};
    const char *nx3[] = {"HSETNX", key, "status", "open"};
    const char *nx4[] = {"ZADD", "incidents", "NX", nowt, incident};
    add_cmd(rt->post, 4, nx1);
    add_cmd(rt->post, 4, nx2);
    add_cmd(rt->post, 4, nx3);
    if (phrase) {
        const char *nx5[] = {"HSETNX", key, "phrase", phrase};
        add_cmd(rt->post, 4, nx5);
    }
    add_cmd(rt->post, 5, nx4);
}

/* The distinct incidents of a batch (topics' and phrases'), at most MAX_TOPICS +
 * MAX_PHRASES; writes pointers to their ids into out. */
static size_t batch_incidents(const struct batch_ctx *ctx, const char **out)
{
    size_t n = 0;
    for (size_t s = 0; s < ctx->n_topics; s++)
        if (ctx->spikes[s].incident[0])
            out[n++] = ctx->spikes[s].incident;
    for (size_t p = 0; p < ctx->n_phrases; p++) {
        const char *id = ctx->phrases[p].res.incident;
        bool seen = !*id;
        for (size_t k = 0; k < n && !seen; k++)
            seen = !strcmp(out[k], id);
        if (!seen)
            out[n++] = id;
    }
    return n;
}

static int router_batch(void *opaque, rd_kafka_message_t **msgs, size_t n,
                        struct sc_delivery *delivery);

static void router_reload(struct router *rt)
{
    char err[512];
    struct router_rules *fresh = NULL;
    if (router_rules_load(rt->conf.routing_config, &fresh, err, sizeof(err)) != 0) {
        sc_log(SC_LOG_ERR, "CONFIG", "reload failed, keeping the current rules: %s", err);
        sc_metric_inc(rt->m_reloads, SC_LABELS("failed"));
        return;
    }
    struct retired *r = sc_calloc(1, sizeof(*r));
    r->rules = atomic_exchange(&rt->rules, fresh);
    r->next = rt->retired;
    rt->retired = r;
    sc_metric_inc(rt->m_reloads, SC_LABELS("ok"));
    sc_log(SC_LOG_NOTICE, "CONFIG",
           "routing configuration reloaded: %zu departments, %zu rules",
           fresh->n_departments, fresh->n_rules);
}

static int router_sla_scan(struct router *rt, int64_t now);

/* Periodic work between batches: reload, SLA scan, webhooks. */
static int router_periodic(void *opaque)
{
    struct router *rt = opaque;
    if (sc_lifecycle_take_reload())
        router_reload(rt);
    int64_t mono = sc_now_ms();
    int busy = 0;
    if (mono >= rt->next_scan) {
        rt->next_scan = mono + rt->conf.sla_scan_ms;
        busy |= router_sla_scan(rt, sc_wall_ms()) > 0;
    }
    busy |= webhooks_pump(rt->hooks);
    return busy;
}

/* Prepares a consumed batch in slot sl: parses and routes every message (dead-letters
 * with `delivery`), reads quiet mode and counts spikes (first round trip), and builds the
 * batch of apply calls for the applier thread. */
static int router_begin(struct router *rt, struct router_slot *sl,
                        rd_kafka_message_t **msgs, size_t n, struct sc_delivery *delivery)
{
    struct router_rules *rules = atomic_load(&rt->rules);
    if (n > sl->cap) {
        sc_free(sl->items);
        sl->items = sc_calloc(n, sizeof(*sl->items));
        sl->cap = n;
    }
    struct router_item *items = sl->items;
    memset(items, 0, n * sizeof(*items));
    sl->n = n;
    sl->rules = rules;
    sl->delivery = delivery;
    struct batch_ctx *ctx = sl->ctx;
    memset(ctx, 0, offsetof(struct batch_ctx, phrases));
    int64_t now = sc_wall_ms();
    sl->now = now;
    sc_format_time(now, sl->at, sizeof(sl->at));
    int rc = 0;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += msgs[i]->len + 16;
    postscan_arena_reset(&sl->arena, bytes);
    rt->scan_arena = &sl->arena;
    rt->chunk.n = 0; /* nothing left over from a failed batch */
    rt->dchunk.n = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = router_prepare(rt, rules, msgs[i], &items[i], ctx, now, delivery);
    if (rc == 0)
        rc = router_pre(rt, rules, ctx, items, n, now);

    /* Second round trip: every post applied to its case, every delivery recorded. */
    sc_redis_batch_reset(sl->apply);
    char history[1024];
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct router_item *it = &items[i];
        if (!it->valid)
            continue;
        if (it->is_post) /* keep the order */
            (void)delivered_chunk_flush(&rt->dchunk, sl->apply);
        it->redis_index = (long)sc_redis_batch_count(sl->apply); /* a post's chunk */
        if (!it->is_post) {
            const char *case_id = sc_event_str(it->event, "case_id");
            const char *status = sc_event_str(it->event, "status");
            const char *reply_id = sc_event_str(it->event, "reply_id");
            const rd_kafka_message_t *msg = msgs[i];
            if (!case_id || !status || !msg->key || msg->key_len == 0 ||
                msg->key_len >= sizeof(it->customer)) {
                it->redis_index = -1;
                continue;
            }
            memcpy(it->customer, msg->key, msg->key_len);
            it->customer[msg->key_len] = '\0';
            it->auto_reply = reply_id && (!strncmp(reply_id, "ack-", 4) ||
                                          !strncmp(reply_id, "incident-", 9));
            (void)case_chunk_flush(&rt->chunk, sl->apply); /* keep the order */
            it->redis_index = (long)sc_redis_batch_count(sl->apply);
            it->chunk_pos = rt->dchunk.n;
            delivered_chunk_add(&rt->dchunk, it->customer, case_id, status,
                                it->auto_reply, now);
            if (rt->dchunk.n == ROUTER_DELIVERED_CHUNK)
                (void)delivered_chunk_flush(&rt->dchunk, sl->apply);
            continue;
        }
        const char *incident = it->incident ? it->incident : "";
        char e_id[300], e_intent[80], e_label[80], e_region[80];
        json_escape(it->pf.id, e_id, sizeof(e_id));
        json_escape(it->in.intent, e_intent, sizeof(e_intent));
        json_escape(it->in.sentiment, e_label, sizeof(e_label));
        json_escape(it->in.region, e_region, sizeof(e_region));
        /* the region lets scheduled messages (incident follow-ups) honour the
         * customer's regional quiet mode */
        snprintf(history, sizeof(history),
                 "{\"post_id\":\"%s\",\"intent\":\"%s\",\"sentiment\":\"%s\","
                 "\"score\":%.3f,\"at\":%lld%s%s%s}",
                 e_id, e_intent, e_label, it->in.sentiment_score, (long long)now,
                 e_region[0] ? ",\"region\":\"" : "", e_region, e_region[0] ? "\"" : "");
        int intent = router_intent_index(it->in.intent);
        struct case_apply a = {
            .customer = it->customer,
            .post_id = it->pf.id,
            .department = it->decision.department,
            .priority = router_priority_name(it->decision.priority),
            .intent = it->in.intent,
            .complaint = intent == ROUTER_INTENT_COMPLAINT ||
                         intent == ROUTER_INTENT_BUG_REPORT ||
                         intent == ROUTER_INTENT_CRISIS,
            .ack = it->decision.ack == ROUTE_ACK_CASE     ? CASE_ACK_CASE
                   : it->decision.ack == ROUTE_ACK_THANKS ? CASE_ACK_THANKS
                                                          : CASE_ACK_NONE,
            .quiet = item_quiet(ctx, it),
            .daily_cap = rules->daily_cap,
            .now_ms = now,
            .due_ms = it->due_ms,
            .reopen_window_ms = rules->reopen_window_ms,
            .last_posts = rules->last_posts,
            .history = history,
            .score = it->in.sentiment_score,
            .incident = incident,
        };
        it->chunk_pos = rt->chunk.n;
        case_chunk_add(&rt->chunk, &a);
        if (rt->chunk.n == ROUTER_CHUNK)
            (void)case_chunk_flush(&rt->chunk, sl->apply);
    }
    (void)case_chunk_flush(&rt->chunk, sl->apply);
    (void)delivered_chunk_flush(&rt->dchunk, sl->apply);
    return rc;
}

/* Completes a batch whose apply calls ran (apply_rc their outcome): the global indexes,
 * returning customers' agents and incident records (third round trip), then the case
 * events and acknowledgements. Frees the batch's parsed messages. */
static int router_finish(struct router *rt, struct router_slot *sl, int apply_rc)
{
    struct router_item *items = sl->items;
    size_t n = sl->n;
    struct batch_ctx *ctx = sl->ctx;
    const struct router_rules *rules = sl->rules;
    int64_t now = sl->now;
    int rc = apply_rc;
    memcpy(rt->batch_at, sl->at, sizeof(rt->batch_at));
    rt->due.n = rt->pending.n = rt->links.n = 0;
    /* Third round trip: the global indexes (case list by SLA due, SLA clocks, incident
     * links), the returning customers' agents, and opened incidents. */
    sc_redis_batch_reset(rt->post);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct router_item *it = &items[i];
        if (it->redis_index < 0)
            continue;
        redisReply *reply = sc_redis_batch_reply(sl->apply, (size_t)it->redis_index);
        if (!it->is_post) {
            size_t at = 2 * it->chunk_pos;
            if (!reply || reply->type != REDIS_REPLY_ARRAY || at + 1 >= reply->elements ||
                reply->element[at]->type != REDIS_REPLY_INTEGER ||
                reply->element[at + 1]->type != REDIS_REPLY_INTEGER) {
                rc = SC_EIO;
                break;
            }
            long long first = reply->element[at]->integer;
            if (first >= 0)
                sc_metric_observe(rt->m_first_response, NULL, (double)first / 1e3);
            if (reply->element[at + 1]->integer == 1) {
                if (rt->pending.n > 0 && strcmp(rt->pending.cmd, "ZREM") != 0)
                    varcmd_flush(&rt->pending, rt->post);
                if (rt->pending.n == 0)
                    varcmd_start(&rt->pending, "ZREM", "sla:pending");
                varcmd_arg(&rt->pending, it->customer);
            }
            continue;
        }
        if (reply && reply->type == REDIS_REPLY_ARRAY && it->chunk_pos < reply->elements)
            reply = reply->element[it->chunk_pos];
        else
            reply = NULL;
        if (!reply || reply->type != REDIS_REPLY_STRING ||
            router_case_result_parse(reply->str, reply->len, &it->res) != 0) {
            sc_log(SC_LOG_ERR, "CASES", "unexpected reply from the case script");
            rc = SC_EIO;
            break;
        }
        char due[32];
        snprintf(due, sizeof(due), "%lld", it->res.due_ms);
        if (it->res.reindex) {
            if (rt->due.n == 0)
                varcmd_start(&rt->due, "ZADD", "cases:due");
            varcmd_arg(&rt->due, due);
            varcmd_arg(&rt->due, it->customer);
        }
        if (it->res.reindex && it->res.pending) {
            if (rt->pending.n > 0 && strcmp(rt->pending.cmd, "ZADD") != 0)
                varcmd_flush(&rt->pending, rt->post);
            if (rt->pending.n == 0)
                varcmd_start(&rt->pending, "ZADD", "sla:pending");
            varcmd_arg(&rt->pending, due);
            varcmd_arg(&rt->pending, it->customer);
        }
    }
    /* the incident links: one SADD per incident */
    const char **incs = sc_malloc((MAX_TOPICS + MAX_PHRASES) * sizeof(*incs));
    size_t n_incs = rc == 0 ? batch_incidents(ctx, incs) : 0;
    for (size_t s = 0; s < n_incs; s++) {
        char key[200];
        snprintf(key, sizeof(key), "incident:{%s}:cases", incs[s]);
        varcmd_start(&rt->links, "SADD", key);
        for (size_t i = 0; i < n; i++)
            if (items[i].redis_index >= 0 && linked_to(&items[i], incs[s]))
                varcmd_arg(&rt->links, items[i].customer);
        varcmd_flush(&rt->links, rt->post);
    }
    sc_free(incs);
    varcmd_flush(&rt->due, rt->post);
    varcmd_flush(&rt->pending, rt->post);
    for (size_t s = 0; s < ctx->n_topics && rc == 0; s++) {
        if (ctx->spikes[s].opened)
            incident_opened(rt, rules, items, n, &ctx->spikes[s], ctx->topics[s], NULL,
                            now);
        else if (ctx->spikes[s].incident[0])
            incident_record_nx(rt, ctx->spikes[s].incident, ctx->topics[s], NULL, now);
    }
    for (size_t p = 0; p < ctx->n_phrases && rc == 0; p++) {
        const struct batch_phrase *bp = &ctx->phrases[p];
        if (bp->res.opened) {
            incident_opened(rt, rules, items, n, &bp->res, ctx->topics[bp->topic_slot],
                            bp->text, now);
        } else if (bp->res.incident[0]) {
            bool first = true;
            for (size_t q = 0; q < p && first; q++)
                first = strcmp(ctx->phrases[q].res.incident, bp->res.incident) != 0;
            if (first)
                incident_record_nx(rt, bp->res.incident, ctx->topics[bp->topic_slot],
                                   bp->text, now);
        }
    }
    size_t first_pref = sc_redis_batch_count(rt->post);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct router_item *it = &items[i];
        if (it->is_post && it->valid && it->res.opened && it->res.preferred[0]) {
            const char *ism[] = {"SISMEMBER", "agents:available", it->res.preferred};
            add_cmd(rt->post, 3, ism);
        }
    }
    if (rc == 0 && sc_redis_batch_count(rt->post) > 0)
        rc = sc_redis_batch_run(rt->svc.redis, rt->post);
    if (rc == 0 && rt->notified)
        webhooks_poke(rt->hooks); /* notifications of opened incidents */
    rt->notified = false;
    /* personal service: the agent who helped before takes the new case when available */
    size_t k = first_pref;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct router_item *it = &items[i];
        if (!(it->is_post && it->valid && it->res.opened && it->res.preferred[0]))
            continue;
        redisReply *r = sc_redis_batch_reply(rt->post, k++);
        if (!r || r->type != REDIS_REPLY_INTEGER || r->integer != 1)
            continue;
        char key[600], nowt[32];
        snprintf(key, sizeof(key), "case:{%s}", it->customer);
        snprintf(nowt, sizeof(nowt), "%lld", (long long)now);
        const char *argv[] = {key, it->res.preferred, nowt};
        size_t lens[3] = {strlen(key), strlen(it->res.preferred), strlen(nowt)};
        redisReply *ar =
            sc_redis_eval(rt->svc.redis, &router_case_assign_script, 1, 3, argv, lens);
        if (ar && ar->type == REDIS_REPLY_STRING) {
            snprintf(it->res.agent, sizeof(it->res.agent), "%s", it->res.preferred);
            snprintf(it->res.status, sizeof(it->res.status), "%s", ar->str);
        }
        if (ar)
            freeReplyObject(ar);
    }

    for (size_t i = 0; i < n && rc == 0; i++) {
        struct router_item *it = &items[i];
        if (it->redis_index < 0 || !it->is_post)
            continue;
        const char *incident = it->incident ? it->incident : "";
        rc = router_emit_post(rt, rules, it, incident, sl->delivery);
        if (rc == 0 && wants_amplify(it))
            rc = router_emit_amplify(rt, it, sl->delivery);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(items[i].event);
    sl->n = 0;
    return rc;
}

/* Ends the hold on a finished batch's delivery group (see router_batch); a failed
 * batch is marked failed so the service loop consumes it again. */
static void router_release(struct router_slot *sl, int rc)
{
    if (rc != 0)
        atomic_fetch_add(&sl->delivery->failed, 1);
    atomic_fetch_sub(&sl->delivery->pending, 1);
    sl->held = false;
}

/* Finishes the held batch, if any. @returns 1 when there was one. */
static int router_flush(void *opaque)
{
    struct router *rt = opaque;
    struct router_slot *held = &rt->slots[rt->next ^ 1];
    if (!held->held)
        return 0;
    int arc = applier_wait(&rt->applier);
    router_release(held, router_finish(rt, held, arc));
    return 1;
}

/* One consumed batch. The apply calls of a batch run on the applier thread (its own
 * Redis connection) while the main thread parses the next batch and produces the
 * previous one's outputs: batch n is prepared here, handed to the applier, and finished
 * (indexes, events, acknowledgements) during the call for batch n+1, or by router_flush
 * when the service loop would otherwise wait. Until then its delivery group carries one
 * extra pending count (the hold), so the loop cannot store its offsets before its
 * outputs are produced and acknowledged. Apply calls keep the batches' order (one
 * applier, one connection), and each batch's index commands follow the previous
 * batch's. */
static int router_batch(void *opaque, rd_kafka_message_t **msgs, size_t n,
                        struct sc_delivery *delivery)
{
    struct router *rt = opaque;
    struct router_slot *sl = &rt->slots[rt->next];
    struct router_slot *held = &rt->slots[rt->next ^ 1];
    int rc = router_begin(rt, sl, msgs, n, delivery);
    if (held->held) {
        int arc = applier_wait(&rt->applier);
        if (arc == 0 && rc == 0)
            applier_submit(&rt->applier, sl->apply); /* Redis works on it meanwhile */
        router_release(held, router_finish(rt, held, arc));
        if (arc != 0 && rc == 0)
            rc = arc; /* not submitted: consumed again with the failed one */
    } else if (rc == 0) {
        applier_submit(&rt->applier, sl->apply);
    }
    if (rc != 0) {
        (void)router_finish(rt, sl, rc); /* frees the parsed messages only */
        (void)router_periodic(rt);
        return rc;
    }
    atomic_fetch_add(&delivery->pending, 1); /* the hold */
    sl->held = true;
    rt->next ^= 1;
    (void)router_periodic(rt);
    return 0;
}

/* KEYS[1] sla:pending. ARGV: customer, due. Removes the entry only when it still has that
 * due time (another instance may have re-timed it meanwhile). */
static struct sc_redis_script sla_unpend_script = {
    .source = "local s = redis.call('ZSCORE', KEYS[1], ARGV[1])\n"
              "if s and tonumber(s) == tonumber(ARGV[2]) then\n"
              "  return redis.call('ZREM', KEYS[1], ARGV[1]) end\n"
              "return 0\n",
};

/* Finds overdue SLA clocks, marks each breach once, emits case.sla_breached, counts it
 * and escalates to the department's escalation contact. @returns breaches handled. */
static int router_sla_scan(struct router *rt, int64_t now)
{
    char nowt[32];
    snprintf(nowt, sizeof(nowt), "%lld", (long long)now);
    redisReply *r =
        sc_redis_commandf(rt->svc.redis,
                          "ZRANGEBYSCORE sla:pending -inf %s WITHSCORES LIMIT 0 "
                          "200",
                          nowt);
    if (!r)
        return 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        freeReplyObject(r);
        return 0;
    }
    struct router_rules *rules = atomic_load(&rt->rules);
    struct sc_delivery delivery = {0};
    int handled = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *customer = r->element[i]->str;
        const char *due = r->element[i + 1]->str;
        char due_i[32];
        snprintf(due_i, sizeof(due_i), "%lld", (long long)strtod(due, NULL));
        char key[600];
        snprintf(key, sizeof(key), "case:{%s}", customer);
        const char *argv[] = {key, due_i, nowt};
        size_t lens[3] = {strlen(key), strlen(due_i), strlen(nowt)};
        redisReply *b =
            sc_redis_eval(rt->svc.redis, &router_case_breach_script, 1, 3, argv, lens);
        if (b && b->type == REDIS_REPLY_ARRAY && b->elements == 4) {
            const char *case_id = b->element[0]->str, *dept = b->element[1]->str;
            const char *prio = b->element[2]->str, *status = b->element[3]->str;
            char at[40], due_at[40];
            sc_format_time(now, at, sizeof(at));
            sc_format_time(strtoll(due_i, NULL, 10), due_at, sizeof(due_at));
            json_t *ev =
                json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "v", 1, "type",
                          "case.sla_breached", "case_id", case_id, "customer", customer,
                          "department", dept, "priority", prio, "status", status,
                          "sla_due_at", due_at, "at", at);
            if (send_json(rt, rt->conf.common.topic_cases_events, customer, ev,
                          &delivery) != 0)
                sc_log(SC_LOG_ERR, "SLA", "breach event not queued");
            sc_metric_inc(rt->m_breaches, SC_LABELS(dept, prio));
            int d = router_rules_department(rules, dept);
            if (d >= 0) {
                const struct router_department *dep = &rules->departments[d];
                json_object_set_new(
                    ev, "escalation_contact",
                    json_string(dep->escalation_name ? dep->escalation_name : dep->name));
                char summary[512];
                snprintf(summary, sizeof(summary),
                         "SLA breached: case %s (%s, %s) had no response by %s. "
                         "Escalated to %s.",
                         case_id, dept, prio, due_at,
                         dep->escalation_name ? dep->escalation_name : dep->name);
                notify(rt, dep, true, ev, summary, NULL);
            }
            json_decref(ev);
            sc_log(SC_LOG_NOTICE, "SLA", "case %s breached its %s SLA (%s)", case_id,
                   prio, dept);
            handled++;
        }
        if (b)
            freeReplyObject(b);
        const char *uargv[] = {"sla:pending", customer, due_i};
        size_t ulens[3] = {11, strlen(customer), strlen(due_i)};
        redisReply *u =
            sc_redis_eval(rt->svc.redis, &sla_unpend_script, 1, 3, uargv, ulens);
        if (u)
            freeReplyObject(u);
    }
    freeReplyObject(r);
    if (delivery.pending > 0 || handled)
        (void)sc_service_settle(&rt->svc, &delivery);
    return handled;
}

static bool wants_check_config(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--check-config"))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    static struct router rt;
    char errstr[512];
    int rc = sc_service_configure(
        argc, argv, "escalation-router",
        "Keeps cases, routes posts to departments with priorities and "
        "SLAs, acknowledges customers, opens incidents on spikes.",
        router_items, N_ITEMS, &rt.conf);
    if (rc > 0 && wants_check_config(argc, argv)) {
        struct router_rules *rules = NULL;
        int lrc =
            router_rules_load(rt.conf.routing_config, &rules, errstr, sizeof(errstr));
        if (lrc != 0)
            fprintf(stderr,
                    "socialcare-escalation-router: routing configuration error: %s\n",
                    errstr);
        else
            printf("socialcare-escalation-router: routing configuration OK (%zu "
                   "departments, %zu rules)\n",
                   rules->n_departments, rules->n_rules);
        router_rules_free(rules);
        sc_config_cleanup(router_items, N_ITEMS, &rt.conf, 1);
        return lrc == 0 ? 0 : 2;
    }
    if (rc != 0) {
        sc_config_cleanup(router_items, N_ITEMS, &rt.conf, 1);
        return rc > 0 ? 0 : 2;
    }
    struct router_rules *rules = NULL;
    if (router_rules_load(rt.conf.routing_config, &rules, errstr, sizeof(errstr)) != 0) {
        sc_log(SC_LOG_CRIT, "CONFIG", "routing configuration: %s", errstr);
        sc_config_cleanup(router_items, N_ITEMS, &rt.conf, 1);
        return 2;
    }
    atomic_store(&rt.rules, rules);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *topics[] = {rt.conf.common.topic_posts_classified,
                            rt.conf.common.topic_replies_delivered};
    const char *outputs[] = {rt.conf.common.topic_cases_events,
                             rt.conf.common.topic_replies_outbound,
                             rt.conf.common.topic_dlq};
    struct sc_service_opts opts = {.name = "escalation-router",
                                   .topics = topics,
                                   .n_topics = 2,
                                   .outputs = outputs,
                                   .n_outputs = 3,
                                   .use_redis = true};
    int exit_code = 1;
    if (sc_service_init(&rt.svc, &opts, &rt.conf.common, errstr, sizeof(errstr)) != 0)
        goto fail;
    struct sc_redis_script *scripts[] = {
        &router_case_apply_script,  &router_case_delivered_script,
        &router_case_assign_script, &router_case_breach_script,
        &router_spike_script,       &sla_unpend_script};
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
        sc_redis_script_register(rt.svc.redis, scripts[i]);
    for (size_t i = 0; i < 2; i++) {
        rt.slots[i].ctx = sc_calloc(1, sizeof(*rt.slots[i].ctx));
        rt.slots[i].apply = sc_redis_batch_new();
    }
    if (applier_start(&rt.applier, rt.conf.common.redis_url, errstr, sizeof(errstr)) != 0)
        goto fail;
    rt.svc.flush = router_flush;
    rt.pre = sc_redis_batch_new();
    rt.post = sc_redis_batch_new();
    struct sc_metrics *m = rt.svc.metrics;
    rt.m_posts = sc_metrics_counter(m, "socialcare_router_posts_total",
                                    "Posts routed, by department and priority",
                                    "department,priority");
    rt.m_cases_opened = sc_metrics_counter(m, "socialcare_router_cases_opened_total",
                                           "Cases opened or reopened", NULL);
    rt.m_acks = sc_metrics_counter(m, "socialcare_router_acknowledgements_total",
                                   "Automatic acknowledgements queued", NULL);
    rt.m_ack_skipped = sc_metrics_counter(
        m, "socialcare_router_acknowledgements_skipped_total",
        "Acknowledgements the policy wanted but quiet mode or the daily cap stopped",
        "reason");
    rt.m_first_response = sc_metrics_histogram(
        m, "socialcare_first_response_seconds",
        "Time from a case's first post to its first delivered reply", NULL,
        sc_metrics_latency_buckets, sc_metrics_latency_buckets_count);
    rt.m_breaches = sc_metrics_counter(m, "socialcare_router_sla_breaches_total",
                                       "Cases whose first-response SLA ran out",
                                       "department,priority");
    rt.m_incidents =
        sc_metrics_counter(m, "socialcare_router_incidents_total",
                           "Incidents opened from complaint spikes", "topic");
    rt.m_phrase_incidents = sc_metrics_counter(
        m, "socialcare_router_phrase_incidents_total",
        "Incidents opened from spikes of one recurring phrase within a topic", "topic");
    rt.m_amplify = sc_metrics_counter(m, "socialcare_router_amplify_total",
                                      "Praise posts suggested for amplification "
                                      "(case.amplify events)",
                                      NULL);
    rt.m_reloads =
        sc_metrics_counter(m, "socialcare_router_config_reloads_total",
                           "Routing configuration reloads (SIGHUP)", "outcome");
    struct webhook_opts wopts = {.timeout_ms = (int)rt.conf.webhook_timeout_ms,
                                 .max_attempts = (int)rt.conf.webhook_attempts,
                                 .metrics = m,
                                 .redis = rt.svc.redis,
                                 .claim_idle_ms = rt.conf.webhook_claim_idle_ms,
                                 .secret_for = hook_secret,
                                 .secret_ud = &rt};
    rt.hooks = webhooks_new(&wopts);

    rt.api.rules = &rt.rules;
    rt.api.producer = rt.svc.producer;
    rt.api.token = rt.conf.api_token;
    rt.api.topic_replies_outbound = rt.conf.common.topic_replies_outbound;
    if (rt.conf.api_token && *rt.conf.api_token) {
        rt.api.redis =
            sc_redis_new(rt.conf.common.redis_url, 2000, errstr, sizeof(errstr));
        if (!rt.api.redis)
            goto fail;
        if (router_api_register(rt.svc.http, &rt.api) != 0) {
            snprintf(errstr, sizeof(errstr), "cannot register the case API routes");
            goto fail;
        }
    }
    sc_log(SC_LOG_INFO, "CONFIG", "routing configuration: %zu departments, %zu rules",
           rules->n_departments, rules->n_rules);
    if (sc_service_start(&rt.svc, errstr, sizeof(errstr)) != 0)
        goto fail;
    exit_code = sc_service_run(&rt.svc, router_batch, router_periodic, &rt) == 0 ? 0 : 1;
    sc_log(SC_LOG_INFO, "MAIN", "stopped");
    goto out;
fail:
    sc_log(SC_LOG_CRIT, "MAIN", "start-up failed: %s", errstr);
out:
    sc_service_cleanup(&rt.svc);
    sc_redis_free(rt.api.redis);
    webhooks_free(rt.hooks);
    sc_redis_batch_free(rt.pre);
    sc_redis_batch_free(rt.post);
    applier_stop(&rt.applier);
    for (size_t i = 0; i < 2; i++) {
        sc_free(rt.slots[i].items);
        sc_free(rt.slots[i].ctx);
        postscan_arena_free(&rt.slots[i].arena);
        sc_redis_batch_free(rt.slots[i].apply);
    }
    case_chunk_free(&rt.chunk);
    delivered_chunk_free(&rt.dchunk);
    varcmd_free(&rt.due);
    varcmd_free(&rt.pending);
    varcmd_free(&rt.links);
    jsonw_free(&rt.out);
    router_rules_free(atomic_load(&rt.rules));
    while (rt.retired) {
        struct retired *r = rt.retired;
        rt.retired = r->next;
        router_rules_free(r->rules);
        sc_free(r);
    }
    curl_global_cleanup();
    sc_config_cleanup(router_items, N_ITEMS, &rt.conf, 1);
    return exit_code;
}
