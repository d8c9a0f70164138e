/* The responder's engine: for a batch of replies (from replies.outbound and the due part
 * of the deferred queue) it reads the ledger and quiet mode in one Redis round trip,
 * applies the policy, checks the shared rate limits and per-part ledgers in a second,
 * sends the messages of every reply concurrently (the parts of a thread one after the
 * other), records what the platforms accepted, defers what must wait (rate limits, 5xx)
 * into a Redis sorted set instead of sleeping, and reports each final outcome on
 * replies.delivered.
 *
 * Pipeline: the service thread decides a batch (parse, both Redis rounds), then hands it
 * to the sender thread (the platform sends) and that to the recorder thread (ledger,
 * receipts), each with its own Redis connection, and takes the next batch meanwhile. The
 * batch's delivery group is held (one extra pending send) until the recorder is done, so
 * the service loop stores its offsets only after its receipts were acknowledged, as for
 * a synchronous callback. A reply whose id is still in a batch ahead (a redelivered
 * copy) is deferred briefly rather than decided twice at once.
 *
 * Exactly once: sent:{id} (whole reply) and sent:{id}#k (part k) are written only after
 * the platform accepted; sending:{id}#k is written before each attempt and removed when
 * the platform answered "no". A part with a marker but no ledger has an unknown outcome:
 * Mastodon and the webhook get the same Idempotency-Key, Bluesky the same record key, X
 * refuses a duplicate tweet with 403 (= sent); an X or Bluesky direct message has none of
 * these, so it is held for review instead of being sent a second time. A Bluesky direct
 * message first looks up the conversation (a round that sends nothing). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "event.h"
#include "lifecycle.h"
#include "log.h"
#include "responder.h"

enum item_state {
    IT_SKIP, /* dead-lettered */
    IT_PENDING,
    IT_SENT,
    IT_FAILED,
    IT_SUPPRESSED,
    IT_HELD,
    IT_DEFER
};

struct item {
    json_t *reply;
    bool claimed; /* from the deferred queue */
    int attempts;
    const char *id, *customer;
    const struct platform_account *account;
    struct policy_plan plan;
    enum item_state state;
    char error[160];
    char post_id[256];                /* reported: first public post, else the DM */
    char prev_id[256], prev_cid[128]; /* the last public message sent (threads) */
    size_t next;                      /* first message not yet sent */
    int64_t defer_ms;
    const char *defer_reason;
    bool public_id; /* post_id is a public post's */
    size_t r_ledger, r_region, r_auto, r_parts, r_rate, r_rate_pos;
    bool has_region, has_auto, has_rate;
    bool check_marker; /* the prepare round read this reply's sending: marker */
    bool marker_set;   /* the prepare round set it; not attempted yet */
    bool lookup;       /* this round asks for the Bluesky conversation (sends nothing) */
    char convo[128];   /* Bluesky direct message: the conversation with the customer */
};

/* Buffers reused from batch to batch (no large allocation per batch). */
struct rate_slot {
    char acct[300], pause[300], cust[700], cost[16];
    const char *interval;
};

/* One batch on its way through the pipeline: the main thread decides it, the sender
 * thread sends it, the recorder thread records it and reports the receipts. */
struct responder_job {
    struct item *items;
    size_t cap_items, count;
    uint64_t *ids;        /* sorted hashes of its reply ids (duplicates in flight) */
    _Atomic size_t n_ids; /* 0 once the recorder is done with it */
    struct sc_delivery *delivery; /* held (pending + 1) until the recorder is done */
    int rc;
};

/* A pipeline thread with a one-job slot. */
struct responder_stage {
    struct responder *rs;
    pthread_t thread;
    bool started, quit;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct responder_job *job; /* NULL = idle */
    struct sc_redis *redis;    /* the thread's own connection */
    struct sc_redis_batch *batch;
    void (*run)(struct responder_stage *stage, struct responder_job *job);
    struct responder_stage *next; /* NULL: the last stage releases the job */
};

/* The keys of the decide round's MGET (main thread, reused from batch to batch). */
struct responder_keys {
    char *buf;
    size_t len, cap;
    size_t *off, *lens;
    const char **argv; /* "MGET", then the keys */
    size_t n, cap_n;
};

#define RESPONDER_JOBS 3 /* decide, send, record: one job per stage */

struct responder_scratch {
    struct responder_job jobs[RESPONDER_JOBS];
    unsigned long long seq;      /* batches started (job = seq % RESPONDER_JOBS) */
    struct platform_send *sends; /* sender thread */
    size_t *owner;
    size_t cap_sends;
    int64_t *paused_until;      /* sender thread: per account (responder_account_slot) */
    struct responder_keys keys; /* main thread: the decide round's MGET */
    struct rate_slot slots[RATELIMIT_MAX_PER_CALL];
    struct item *rate_items[RATELIMIT_MAX_PER_CALL];
    const char *argv[8 * RATELIMIT_MAX_PER_CALL];
    size_t lens[8 * RATELIMIT_MAX_PER_CALL];
    struct responder_stage sender, recorder;
};

static struct responder_scratch *responder_scratch(struct responder *rs)
{
    if (!rs->scratch)
        rs->scratch = sc_calloc(1, sizeof(*rs->scratch));
    return rs->scratch;
}

static void responder_job_reserve(struct responder_job *job, size_t items)
{
    if (items > job->cap_items) {
        sc_free(job->items);
        sc_free(job->ids);
        job->items = sc_malloc(items * sizeof(*job->items));
        job->ids = sc_malloc(items * sizeof(*job->ids));
        job->cap_items = items;
    }
}

/* The slot of an account in paused_until: the defaults, then the named ones. */
static size_t responder_account_slot(const struct responder *rs,
                                     const struct platform_account *a)
{
    if (a >= rs->accounts && a < rs->accounts + POLICY_PLATFORM_COUNT)
        return (size_t)(a - rs->accounts);
    return POLICY_PLATFORM_COUNT + (size_t)(a - rs->extra);
}

static void responder_sends_reserve(struct responder_scratch *sc, size_t sends)
{
    if (sends > sc->cap_sends) {
        sc_free(sc->sends);
        sc_free(sc->owner);
        sc->sends = sc_calloc(sends, sizeof(*sc->sends));
        sc->owner = sc_malloc(sends * sizeof(*sc->owner));
        sc->cap_sends = sends;
    }
}

/* The named account "<platform>:<account>" among the extra ones, or NULL. */
static const struct platform_account *
responder_extra(const struct responder *rs, const char *platform, const char *account)
{
    if (!platform || !account || !account[0])
        return NULL;
    size_t pl = strlen(platform);
    for (size_t i = 0; i < rs->n_extra; i++) {
        const char *name = rs->extra[i].name;
        if (strncmp(name, platform, pl) == 0 && name[pl] == ':' &&
            strcmp(name + pl + 1, account) == 0)
            return &rs->extra[i];
    }
    return NULL;
}

const struct platform_account *
responder_account(const struct responder *rs, const char *platform, const char *account)
{
    const struct platform_account *named = responder_extra(rs, platform, account);
    if (named)
        return named;
    enum policy_platform p = policy_platform_of(platform);
    return rs->native[p] ? &rs->accounts[p] : &rs->accounts[POLICY_GENERIC];
}

bool responder_account_known(const struct responder *rs, const char *platform,
                             const char *account)
{
    return !account || !account[0] || responder_extra(rs, platform, account) != NULL;
}

static bool responder_bool(const json_t *reply, const char *key)
{
    return json_is_true(json_object_get(reply, key));
}

void responder_policy_input(const struct responder *rs, const json_t *reply,
                            struct policy_input *in)
{
    memset(in, 0, sizeof(*in));
    (void)rs;
    /* the platform's own rules, also when a webhook stands in for its API */
    in->platform = policy_platform_of(sc_event_str(reply, "platform"));
    in->dm = strcmp(sc_event_str(reply, "channel") ? sc_event_str(reply, "channel") : "",
                    "dm") == 0;
    in->text = sc_event_str(reply, "text");
    in->origin = sc_event_str(reply, "origin");
    in->handle = sc_event_str(reply, "handle");
    in->signature = sc_event_str(reply, "signature");
    in->intent = sc_event_str(reply, "intent");
    in->requires_review = responder_bool(reply, "requires_review");
    in->influencer = responder_bool(reply, "influencer");
    in->sensitive = responder_bool(reply, "sensitive");
    in->approved = responder_bool(reply, "approved");
    in->broadcast = responder_bool(reply, "broadcast");
}

/* "x:123" -> "123" when the prefix is the reply's platform. */
static const char *responder_strip(const char *id, const char *platform)
{
    if (!id || !platform)
        return id;
    size_t pl = strlen(platform);
    if (strncmp(id, platform, pl) == 0 && id[pl] == ':')
        return id + pl + 1;
    return id;
}

int responder_publish_receipt(struct responder *rs, const json_t *reply,
                              const char *status, const char *post_id, int attempts,
                              const char *error, struct sc_delivery *delivery)
{
    const char *customer = sc_event_str(reply, "customer");
    char at[40];
    json_t *out =
        json_pack("{s:i,s:s,s:s,s:s,s:s,s:s?,s:i,s:s?,s:s}", "v", 1, "reply_id",
                  sc_event_str(reply, "reply_id"), "case_id",
                  sc_event_str(reply, "case_id"), "customer", customer, "status", status,
                  "platform_post_id", post_id && post_id[0] ? post_id : NULL, "attempts",
                  attempts, "error", error && error[0] ? error : NULL, "at",
                  sc_format_time(sc_wall_ms(), at, sizeof(at)));
    if (!out)
        return SC_EINVAL;
    size_t len;
    char *buf = sc_event_dump(out, &len);
    json_decref(out);
    int rc = sc_producer_send(rs->svc.producer, rs->conf.common.topic_replies_delivered,
                              customer, strlen(customer), buf, len, NULL, delivery);
    free(buf);
    if (rc == 0)
        sc_metric_inc(rs->m_replies, SC_LABELS(status));
    return rc;
}

static void responder_add(struct sc_redis_batch *b, int argc, const char **argv)
{
    size_t lens[8];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    sc_redis_batch_add(b, argc, argv, lens);
}

static void responder_add_eval(struct sc_redis_batch *b, struct sc_redis_script *script,
                               int n_keys, int argc, const char **argv)
{
    size_t lens[10];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    sc_redis_batch_add_eval(b, script, n_keys, argc, argv, lens);
}

static int64_t responder_reply_int(const redisReply *r)
{
    if (!r)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return 0;
}

static bool responder_reply_bad(const redisReply *r)
{
    return !r || r->type == REDIS_REPLY_ERROR;
}

/* True when an unknown earlier outcome of message k must not be retried blindly: an X
 * or Bluesky direct message (no idempotency key, no duplicate refusal). */
static bool responder_unknown_is_risky(const struct item *it, size_t k)
{
    return (it->account->platform == POLICY_X ||
            it->account->platform == POLICY_BLUESKY) &&
           it->plan.msgs[k].dm;
}

/* Keeps the id to report: the first public post's, else the first direct message's. */
static void responder_note_id(struct item *it, bool dm, const char *id)
{
    if (it->public_id || (dm && it->post_id[0]))
        return;
    snprintf(it->post_id, sizeof(it->post_id), "%s", id);
    it->public_id = !dm;
}

/* Parses a part ledger value "<post id> <cid>". */
static void responder_part_ids(const char *v, char *id, size_t id_size, char *cid,
                               size_t cid_size)
{
    const char *sp = strchr(v, ' ');
    size_t il = sp ? (size_t)(sp - v) : strlen(v);
    snprintf(id, id_size, "%.*s", (int)il, v);
    snprintf(cid, cid_size, "%s", sp ? sp + 1 : "");
}

/* Claims up to max due deferred replies into items[*n ...]. */
static int responder_claim(struct responder *rs, struct item *items, size_t *n,
                           size_t max)
{
    if (max == 0)
        return 0;
    char lease[24], count[24];
    snprintf(lease, sizeof(lease), "%lld", rs->conf.defer_lease_ms);
    snprintf(count, sizeof(count), "%zu", max);
    const char *argv[] = {RESPONDER_DEFERRED_KEY, RESPONDER_DEFERRED_DATA, lease, count};
    size_t lens[4];
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = sc_redis_eval(rs->svc.redis, &rs->claim, 2, 4, argv, lens);
    if (!r)
        return SC_EIO;
    int rc = 0;
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *d = r->element[i];
            if (d->type != REDIS_REPLY_STRING)
                continue;
            char reason[256];
            json_t *reply = sc_event_parse(d->str, d->len, SC_EVENT_REPLY, NULL, reason,
                                           sizeof(reason));
            if (!reply) {
                sc_log(SC_LOG_WARNING, "DEFER", "dropping unreadable deferred entry: %s",
                       reason);
                continue;
            }
            struct item *it = &items[(*n)++];
            it->reply = reply;
            it->claimed = true;
            it->attempts = (int)json_integer_value(json_object_get(reply, "_attempts"));
            json_object_del(reply, "_attempts");
        }
    } else if (r->type == REDIS_REPLY_ERROR) {
        sc_log(SC_LOG_ERR, "DEFER", "claim failed: %s", r->str);
        rc = SC_EIO;
    }
    freeReplyObject(r);
    return rc;
}

/* Appends the key pre + v + post, cut at 699 bytes as the other rounds' keys (a char[700]
 * each), so every round names the same key. @returns its position among the keys. */
static size_t responder_key_add(struct responder_keys *k, const char *pre, const char *v,
                                const char *post)
{
    char key[700];
    snprintf(key, sizeof(key), "%s%s%s", pre, v, post);
    size_t l = strlen(key);
    if (k->len + l + 1 > k->cap) {
        k->cap = 2 * (k->len + l + 1) + 4096;
        k->buf = sc_realloc(k->buf, k->cap);
    }
    if (k->n == k->cap_n) {
        k->cap_n = k->cap_n ? 2 * k->cap_n : 256;
        k->off = sc_realloc(k->off, k->cap_n * sizeof(*k->off));
        k->lens = sc_realloc(k->lens, (k->cap_n + 1) * sizeof(*k->lens));
        k->argv = sc_realloc(k->argv, (k->cap_n + 1) * sizeof(*k->argv));
    }
    memcpy(k->buf + k->len, key, l + 1);
    k->off[k->n] = k->len;
    k->lens[k->n + 1] = l;
    k->len += l + 1;
    return k->n++;
}

static void responder_keys_free(struct responder_keys *k)
{
    sc_free(k->buf);
    sc_free(k->off);
    sc_free(k->lens);
    sc_free(k->argv);
    memset(k, 0, sizeof(*k));
}

/* The value of key `pos` in the MGET reply (NULL when the key does not exist). */
static const redisReply *responder_mget_value(const redisReply *r, size_t pos)
{
    const redisReply *e = r->element[pos];
    return e->type == REDIS_REPLY_STRING ? e : NULL;
}

/* Round 1: ledger, quiet mode, first-automatic-reply marker, all in one MGET. Then the
 * policy. */
static int responder_decide(struct responder *rs, struct item *items, size_t n)
{
    struct sc_redis_batch *b = rs->batch;
    struct responder_keys *k = &responder_scratch(rs)->keys;
    k->len = k->n = 0;
    sc_redis_batch_reset(b);
    size_t r_global = responder_key_add(k, "quiet:global", "", "");
    for (size_t i = 0; i < n; i++) {
        struct item *it = &items[i];
        if (!it->reply)
            continue;
        it->id = sc_event_str(it->reply, "reply_id");
        it->customer = sc_event_str(it->reply, "customer");
        it->account = responder_account(rs, sc_event_str(it->reply, "platform"),
                                        sc_event_str(it->reply, "account"));
        it->r_ledger = responder_key_add(k, "sent:{", it->id, "}");
        const char *region = sc_event_str(it->reply, "region");
        it->has_region = region && region[0];
        if (it->has_region)
            it->r_region = responder_key_add(k, "quiet:region:", region, "");
        it->has_auto = responder_bool(it->reply, "sensitive");
        if (it->has_auto)
            it->r_auto = responder_key_add(k, "autoreply:{", it->customer, "}");
    }
    k->argv[0] = "MGET";
    k->lens[0] = 4;
    for (size_t i = 0; i < k->n; i++)
        k->argv[i + 1] = k->buf + k->off[i];
    sc_redis_batch_add(b, (int)(k->n + 1), k->argv, k->lens);
    int rc = sc_redis_batch_run(rs->svc.redis, b);
    if (rc != 0)
        return rc;
    redisReply *rq = sc_redis_batch_reply(b, 0);
    if (responder_reply_bad(rq) || rq->type != REDIS_REPLY_ARRAY || rq->elements != k->n)
        return SC_EIO;
    int64_t global_end = responder_reply_int(responder_mget_value(rq, r_global));
    int64_t now = sc_wall_ms();
    for (size_t i = 0; i < n; i++) {
        struct item *it = &items[i];
        if (!it->reply)
            continue;
        const redisReply *rl = responder_mget_value(rq, it->r_ledger);
        if (rl) {
            it->state = IT_SENT;
            snprintf(it->post_id, sizeof(it->post_id), "%s", rl->str);
            continue;
        }
        int64_t region_end = 0;
        if (it->has_region)
            region_end = responder_reply_int(responder_mget_value(rq, it->r_region));
        const char *origin = sc_event_str(it->reply, "origin");
        if (policy_quiet(origin, now, global_end, region_end)) {
            it->state = IT_SUPPRESSED;
            snprintf(it->error, sizeof(it->error), "quiet_mode");
            continue;
        }
        struct policy_input in;
        responder_policy_input(rs, it->reply, &in);
        if (it->has_auto)
            in.first_auto_reply = responder_mget_value(rq, it->r_auto) == NULL;
        policy_decide(&in, &rs->limits, &it->plan);
        if (it->plan.outcome == POLICY_SEND) {
            it->state = IT_PENDING;
        } else {
            it->state = it->plan.outcome == POLICY_HOLD ? IT_HELD : IT_FAILED;
            snprintf(it->error, sizeof(it->error), "%s", it->plan.reason);
        }
    }
    return 0;
}

/* Rate-limit decisions collected for one call of the GCRA script. */
struct rate_chunk {
    struct rate_slot *slots;
    struct item **items;
    const char **argv;
    size_t *lens;
    size_t n;
};

/* Appends one EVALSHA deciding every collected reply, in order. */
static void responder_rate_flush(struct responder *rs, struct rate_chunk *c,
                                 const char *ab, const char *ci, const char *cb)
{
    if (c->n == 0)
        return;
    size_t n_keys = 3 * c->n;
    for (size_t i = 0; i < c->n; i++) {
        struct rate_slot *s = &c->slots[i];
        c->argv[3 * i] = s->acct;
        c->argv[3 * i + 1] = s->pause;
        c->argv[3 * i + 2] = s->cust;
        const char **a = &c->argv[n_keys + 5 * i];
        a[0] = s->interval;
        a[1] = ab;
        a[2] = ci;
        a[3] = cb;
        a[4] = s->cost;
    }
    size_t argc = 8 * c->n;
    size_t *lens = c->lens;
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(c->argv[i]);
    size_t reply = sc_redis_batch_count(rs->batch);
    sc_redis_batch_add_eval(rs->batch, &rs->gcra, (int)n_keys, (int)argc, c->argv, lens);
    for (size_t i = 0; i < c->n; i++)
        c->items[i]->r_rate = reply;
    c->n = 0;
}

/* Round 2: per-part ledgers and markers, and the shared rate limits. */
static int responder_prepare(struct responder *rs, struct item *items, size_t n)
{
    struct sc_redis_batch *b = rs->batch;
    char key[700], mttl[24];
    char ai[32], wi[32], ab[32], ci[32], cb[32];
    snprintf(mttl, sizeof(mttl), "%d", RESPONDER_MARKER_TTL_S);
    struct responder_scratch *scr = responder_scratch(rs);
    struct rate_chunk rc_chunk = {.slots = scr->slots,
                                  .items = scr->rate_items,
                                  .argv = scr->argv,
                                  .lens = scr->lens};
    snprintf(ai, sizeof(ai), "%.3f", ratelimit_interval_ms(rs->rl.account_per_min));
    snprintf(wi, sizeof(wi), "%.3f", ratelimit_interval_ms(rs->rl.webhook_per_min));
    snprintf(ab, sizeof(ab), "%d", rs->rl.account_burst);
    snprintf(ci, sizeof(ci), "%.3f", ratelimit_interval_ms(rs->rl.customer_per_min));
    snprintf(cb, sizeof(cb), "%d", rs->rl.customer_burst);
    sc_redis_batch_reset(b);
    size_t pending = 0;
    for (size_t i = 0; i < n; i++) {
        struct item *it = &items[i];
        if (it->state != IT_PENDING)
            continue;
        pending++;
        it->r_parts = sc_redis_batch_count(b);
        if (it->plan.n_msgs > 1) { /* a thread: where did it stop? */
            for (size_t k = 0; k < it->plan.n_msgs; k++) {
                snprintf(key, sizeof(key), "sent:{%s}#%zu", it->id, k);
                responder_add(b, 2, (const char *[]){"GET", key});
                snprintf(key, sizeof(key), "sending:{%s}#%zu", it->id, k);
                responder_add(b, 2, (const char *[]){"EXISTS", key});
            }
        } else {
            /* one message (sent:{id} said it is not sent): an earlier attempt matters
             * only for an X direct message; the marker of this attempt is set here, in
             * the same round trip, and removed again if the reply is not attempted now */
            snprintf(key, sizeof(key), "sending:{%s}#0", it->id);
            it->check_marker = responder_unknown_is_risky(it, 0);
            if (it->check_marker)
                responder_add(b, 2, (const char *[]){"EXISTS", key});
            responder_add(b, 5, (const char *[]){"SET", key, "1", "EX", mttl});
            it->marker_set = true;
        }
        it->has_rate = rs->rl.enabled;
        if (it->has_rate) {
            struct rate_slot *slot = &rc_chunk.slots[rc_chunk.n];
            ratelimit_keys(it->account->name, it->customer, slot->acct, slot->pause,
                           slot->cust, sizeof(slot->cust));
            snprintf(slot->cost, sizeof(slot->cost), "%zu", it->plan.n_msgs);
            slot->interval = it->account->platform == POLICY_GENERIC ? wi : ai;
            it->r_rate_pos = rc_chunk.n;
            rc_chunk.items[rc_chunk.n++] = it;
            if (rc_chunk.n == RATELIMIT_MAX_PER_CALL)
                responder_rate_flush(rs, &rc_chunk, ab, ci, cb);
        }
    }
    responder_rate_flush(rs, &rc_chunk, ab, ci, cb);
    if (pending == 0)
        return 0;
    int rc = sc_redis_batch_run(rs->svc.redis, b);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct item *it = &items[i];
        if (it->state != IT_PENDING)
            continue;
        bool marker = false;
        it->next = 0;
        if (it->plan.n_msgs == 1) {
            redisReply *rm = sc_redis_batch_reply(b, it->r_parts);
            if (responder_reply_bad(rm))
                return SC_EIO;
            marker = it->check_marker && responder_reply_int(rm) > 0;
        }
        for (size_t k = 0; it->plan.n_msgs > 1 && k < it->plan.n_msgs; k++) {
            redisReply *rl = sc_redis_batch_reply(b, it->r_parts + 2 * k);
            redisReply *rm = sc_redis_batch_reply(b, it->r_parts + 2 * k + 1);
            if (responder_reply_bad(rl) || responder_reply_bad(rm))
                return SC_EIO;
            if (rl->type != REDIS_REPLY_STRING) {
                marker = responder_reply_int(rm) > 0;
                break;
            }
            it->next = k + 1;
            char pid[256], pcid[128];
            responder_part_ids(rl->str, pid, sizeof(pid), pcid, sizeof(pcid));
            if (!it->plan.msgs[k].dm) {
                snprintf(it->prev_id, sizeof(it->prev_id), "%s", pid);
                snprintf(it->prev_cid, sizeof(it->prev_cid), "%s", pcid);
            }
            responder_note_id(it, it->plan.msgs[k].dm, pid);
        }
        if (it->next == it->plan.n_msgs) {
            it->state = IT_SENT; /* every part went out before a crash */
            continue;
        }
        if (it->has_rate) {
            redisReply *rr = sc_redis_batch_reply(b, it->r_rate);
            size_t at = 3 * it->r_rate_pos;
            if (responder_reply_bad(rr) || rr->type != REDIS_REPLY_ARRAY ||
                rr->elements < at + 3) {
                sc_log(SC_LOG_ERR, "RATE", "rate-limit script failed: %s",
                       rr && rr->type == REDIS_REPLY_ERROR ? rr->str : "bad reply");
                return SC_EIO;
            }
            int64_t allowed = rr->element[at]->integer;
            int64_t wait = rr->element[at + 1]->integer;
            int64_t level = rr->element[at + 2]->integer;
            if (level >= 0)
                sc_metric_set(rs->m_tokens, SC_LABELS(it->account->name), (double)level);
            if (!allowed) {
                it->state = IT_DEFER;
                it->defer_ms = wait > 0 ? wait : 1;
                it->defer_reason = "rate_limit";
                continue;
            }
        }
        if (marker && responder_unknown_is_risky(it, it->next)) {
            it->state = IT_HELD;
            snprintf(it->error, sizeof(it->error),
                     "unknown_outcome: direct message may have been sent");
        }
    }
    return 0;
}

/* A new Bluesky session after the access token expired (the replies that met the expiry
 * are deferred and retried with it). */
static void responder_bluesky_refresh(struct responder *rs)
{
    char *jwt = NULL, *did = NULL, err[256];
    if (platform_bluesky_session(
            rs->conf.bluesky_url, rs->conf.bluesky_identifier, rs->conf.bluesky_password,
            (long)rs->conf.reply_timeout_ms, &jwt, &did, err, sizeof(err)) != 0) {
        sc_log(SC_LOG_ERR, "BLUESKY", "%s", err);
        return;
    }
    sc_free(rs->bluesky_jwt);
    sc_free(rs->bluesky_did);
    rs->bluesky_jwt = jwt;
    rs->bluesky_did = did;
    rs->accounts[POLICY_BLUESKY].token = jwt;
    rs->accounts[POLICY_BLUESKY].repo = did;
    sc_log(SC_LOG_NOTICE, "BLUESKY", "new session after the access token expired");
}

/* Sends the next message of every pending reply, round after round. */
static int responder_send(struct responder_stage *lane, struct item *items, size_t n)
{
    struct responder *rs = lane->rs;
    struct responder_scratch *scr = responder_scratch(rs);
    responder_sends_reserve(scr, n);
    struct platform_send *sends = scr->sends;
    size_t *owner = scr->owner;
    memset(sends, 0, n * sizeof(*sends));
    struct sc_redis_batch *b = lane->batch;
    char key[700], val[400], ttl[24], err[160];
    bool refresh_session = false;
    int rc = 0;
    for (;;) {
        size_t ns = 0;
        int64_t now = sc_wall_ms();
        sc_redis_batch_reset(b);
        snprintf(ttl, sizeof(ttl), "%d", RESPONDER_MARKER_TTL_S);
        for (size_t i = 0; i < n; i++) {
            struct item *it = &items[i];
            if (it->state != IT_PENDING)
                continue;
            /* a platform pause seen by an earlier round (this batch's or a previous
             * one's, which may have ended after this batch's rate-limit check) */
            int64_t until = scr->paused_until[responder_account_slot(rs, it->account)];
            if (until > now) {
                it->state = IT_DEFER;
                it->defer_ms = until - now;
                it->defer_reason = "paused";
                continue;
            }
            const struct policy_msg *m = &it->plan.msgs[it->next];
            const char *platform = sc_event_str(it->reply, "platform");
            char pkey[600];
            if (it->plan.n_msgs > 1)
                snprintf(pkey, sizeof(pkey), "%s#%zu", it->id, it->next);
            else
                snprintf(pkey, sizeof(pkey), "%s", it->id);
            const char *orig =
                responder_strip(sc_event_str(it->reply, "in_reply_to"), platform);
            bool threaded = !m->dm && it->prev_id[0];
            struct platform_msg msg = {
                .key = pkey,
                .reply_id = it->id,
                .platform = platform,
                .dm = m->dm,
                .text = m->text,
                .in_reply_to = threaded ? it->prev_id : orig,
                .parent_cid =
                    threaded ? it->prev_cid : sc_event_str(it->reply, "in_reply_to_cid"),
                .root_uri = sc_event_str(it->reply, "root_uri"),
                .root_cid = sc_event_str(it->reply, "root_cid"),
                .recipient = responder_strip(it->customer, platform),
                .convo_id = it->convo[0] ? it->convo : NULL,
                .now_ms = now,
            };
            /* a Bluesky direct message needs its conversation first (a round of its own
             * that sends nothing: no marker for it) */
            it->lookup =
                m->dm && it->account->platform == POLICY_BLUESKY && !it->convo[0];
            if (m->dm && it->account->platform == POLICY_MASTODON)
                msg.in_reply_to = orig;
            if (!msg.root_uri && threaded) { /* the thread's root is what we answered */
                msg.root_uri = orig;
                msg.root_cid = sc_event_str(it->reply, "in_reply_to_cid");
            }
            if (it->account->platform == POLICY_BLUESKY && msg.in_reply_to &&
                !msg.root_uri)
                msg.root_uri = NULL; /* root = parent */
            if (platform_build(it->account, &msg, &sends[ns].req, err, sizeof(err)) !=
                0) {
                platform_request_free(&sends[ns].req);
                it->state = IT_FAILED;
                snprintf(it->error, sizeof(it->error), "%s", err);
                continue;
            }
            owner[ns++] = i;
            if (it->lookup)
                continue;
            if (it->marker_set) { /* set in the prepare round trip */
                it->marker_set = false;
                continue;
            }
            snprintf(key, sizeof(key), "sending:{%s}#%zu", it->id, it->next);
            responder_add(b, 5, (const char *[]){"SET", key, "1", "EX", ttl});
        }
        if (ns == 0)
            break;
        /* markers first: an attempt is never made without one */
        if ((rc = sc_redis_batch_run(lane->redis, b)) != 0) {
            for (size_t s = 0; s < ns; s++)
                platform_request_free(&sends[s].req);
            break;
        }
        platform_send_round(rs->client, sends, ns);
        now = sc_wall_ms();
        sc_redis_batch_reset(b);
        snprintf(ttl, sizeof(ttl), "%d", RESPONDER_SENT_TTL_S);
        for (size_t s = 0; s < ns; s++) {
            struct item *it = &items[owner[s]];
            struct platform_result *res = &sends[s].res;
            const struct policy_msg *m = &it->plan.msgs[it->next];
            sc_metric_inc(rs->m_attempts,
                          SC_LABELS(res->verdict == SEND_VERDICT_SENT    ? "sent"
                                    : res->verdict == SEND_VERDICT_RETRY ? "retry"
                                                                         : "failed"));
            int64_t pause_ms = ratelimit_pause_ms(res->http_status, &res->rl, now);
            if (pause_ms > 0) {
                char acct[300], pause[300], cust[700], ms[24];
                ratelimit_keys(it->account->name, it->customer, acct, pause, cust,
                               sizeof(cust));
                snprintf(ms, sizeof(ms), "%lld", (long long)pause_ms);
                responder_add_eval(b, &rs->pause, 1, 2, (const char *[]){pause, ms});
                int64_t *until =
                    &scr->paused_until[responder_account_slot(rs, it->account)];
                if (now + pause_ms > *until)
                    *until = now + pause_ms;
                sc_metric_inc(rs->m_paused, SC_LABELS(it->account->name));
                sc_log(SC_LOG_NOTICE, "RATE",
                       "account %s paused for %lld ms by the platform", it->account->name,
                       (long long)pause_ms);
            }
            if (res->rl.remaining >= 0)
                sc_metric_set(rs->m_tokens, SC_LABELS(it->account->name),
                              (double)res->rl.remaining);
            snprintf(key, sizeof(key), "sending:{%s}#%zu", it->id, it->next);
            if (it->lookup && res->verdict == SEND_VERDICT_SENT) {
                snprintf(it->convo, sizeof(it->convo), "%s", res->convo_id);
                continue; /* the message itself goes in the next round */
            }
            if (it->lookup && res->transport_error) /* nothing was sent */
                responder_add(b, 2, (const char *[]){"DEL", key});
            if (res->verdict == SEND_VERDICT_SENT) {
                if (res->duplicate && it->account->platform == POLICY_BLUESKY) {
                    char rkey[14], pkey[600];
                    if (it->plan.n_msgs > 1)
                        snprintf(pkey, sizeof(pkey), "%s#%zu", it->id, it->next);
                    else
                        snprintf(pkey, sizeof(pkey), "%s", it->id);
                    platform_bluesky_rkey(pkey, rkey);
                    snprintf(res->post_id, sizeof(res->post_id),
                             "at://%s/app.bsky.feed.post/%s",
                             it->account->repo ? it->account->repo : "", rkey);
                }
                if (!m->dm) {
                    snprintf(it->prev_id, sizeof(it->prev_id), "%s", res->post_id);
                    snprintf(it->prev_cid, sizeof(it->prev_cid), "%s", res->cid);
                }
                responder_note_id(it, m->dm, res->post_id);
                snprintf(val, sizeof(val), "%s %s", res->post_id[0] ? res->post_id : "?",
                         res->cid);
                if (it->plan.n_msgs > 1) { /* one message: sent:{id} covers it */
                    char pk[700];
                    snprintf(pk, sizeof(pk), "sent:{%s}#%zu", it->id, it->next);
                    responder_add(b, 5, (const char *[]){"SET", pk, val, "EX", ttl});
                }
                it->attempts++;
                it->next++;
                if (it->next == it->plan.n_msgs)
                    it->state = IT_SENT;
                continue;
            }
            if (!res->transport_error) /* the platform said no: nothing went out */
                responder_add(b, 2, (const char *[]){"DEL", key});
            if (res->expired_token)
                refresh_session = true;
            if (res->http_status == 429) {
                it->state = IT_DEFER;
                it->defer_ms = pause_ms > 0 ? pause_ms : 1000;
                it->defer_reason = "platform_429";
            } else if (res->verdict == SEND_VERDICT_RETRY) {
                it->attempts++;
                snprintf(it->error, sizeof(it->error), "%s", res->error);
                if (it->attempts >= rs->conf.reply_max_attempts) {
                    it->state = IT_FAILED;
                } else {
                    it->state = IT_DEFER;
                    it->defer_ms = responder_backoff_ms(
                        it->attempts, ratelimit_retry_after_s(&res->rl, now));
                    it->defer_reason = res->transport_error ? "transport"
                                       : res->expired_token ? "session"
                                                            : "server_error";
                }
            } else {
                it->attempts++;
                it->state = IT_FAILED;
                snprintf(it->error, sizeof(it->error), "%s", res->error);
            }
        }
        for (size_t s = 0; s < ns; s++)
            platform_request_free(&sends[s].req);
        memset(sends, 0, n * sizeof(*sends));
        if (refresh_session) {
            refresh_session = false;
            responder_bluesky_refresh(rs);
        }
        if ((rc = sc_redis_batch_run(lane->redis, b)) != 0)
            break;
        if (sc_lifecycle_stopping())
            break;
    }
    return rc;
}

/* Final round: whole-reply ledger, held and deferred entries, claimed entries done. */
static int responder_record(struct responder_stage *lane, struct item *items, size_t n)
{
    struct responder *rs = lane->rs;
    struct sc_redis_batch *b = lane->batch;
    char key[700], ttl[24], delay[24];
    snprintf(ttl, sizeof(ttl), "%d", RESPONDER_SENT_TTL_S);
    sc_redis_batch_reset(b);
    for (size_t i = 0; i < n; i++) {
        struct item *it = &items[i];
        if (!it->reply || it->state == IT_PENDING)
            continue;
        if (it->state == IT_SENT) {
            snprintf(key, sizeof(key), "sent:{%s}", it->id);
            responder_add(b, 5,
                          (const char *[]){"SET", key, it->post_id[0] ? it->post_id : "?",
                                           "EX", ttl});
            if (policy_is_automatic(sc_event_str(it->reply, "origin"))) {
                snprintf(key, sizeof(key), "autoreply:{%s}", it->customer);
                responder_add(b, 5, (const char *[]){"SET", key, "1", "EX", ttl});
            }
        } else if (it->state == IT_HELD) {
            json_t *held = json_pack("{s:O,s:s,s:I}", "reply", it->reply, "reason",
                                     it->error, "held_at", (json_int_t)sc_wall_ms());
            char *s = json_dumps(held, JSON_COMPACT);
            json_decref(held);
            responder_add(b, 4, (const char *[]){"HSET", RESPONDER_HELD_KEY, it->id, s});
            free(s);
            const char *reason = it->error;
            char cls[40];
            snprintf(cls, sizeof(cls), "%.*s", (int)strcspn(reason, ":"), reason);
            sc_metric_inc(rs->m_held, SC_LABELS(cls));
        } else if (it->state == IT_DEFER) {
            json_object_set_new(it->reply, "_attempts", json_integer(it->attempts));
            char *s = json_dumps(it->reply, JSON_COMPACT);
            json_object_del(it->reply, "_attempts");
            snprintf(delay, sizeof(delay), "%lld", (long long)it->defer_ms);
            responder_add_eval(b, &rs->defer, 2, 5,
                               (const char *[]){RESPONDER_DEFERRED_KEY,
                                                RESPONDER_DEFERRED_DATA, it->id, delay,
                                                s});
            free(s);
            sc_metric_inc(rs->m_deferred,
                          SC_LABELS(it->defer_reason ? it->defer_reason : "other"));
        }
        if (it->marker_set) { /* marked in prepare, then deferred or held: no attempt */
            snprintf(key, sizeof(key), "sending:{%s}#0", it->id);
            responder_add(b, 2, (const char *[]){"DEL", key});
        }
        if (it->claimed && it->state != IT_DEFER) {
            responder_add(b, 3, (const char *[]){"ZREM", RESPONDER_DEFERRED_KEY, it->id});
            responder_add(b, 3,
                          (const char *[]){"HDEL", RESPONDER_DEFERRED_DATA, it->id});
        }
    }
    if (sc_redis_batch_count(b) == 0)
        return 0;
    int rc = sc_redis_batch_run(lane->redis, b);
    for (size_t i = 0; rc == 0 && i < sc_redis_batch_count(b); i++)
        if (responder_reply_bad(sc_redis_batch_reply(b, i)))
            rc = SC_EIO;
    return rc;
}

static const char *responder_status(enum item_state s)
{
    switch (s) {
        case IT_SENT:
            return "sent";
        case IT_FAILED:
            return "failed";
        case IT_SUPPRESSED:
            return "suppressed";
        case IT_HELD:
            return "held_for_review";
        default:
            return NULL;
    }
}

/* FNV-1a of a reply id (a collision only defers a reply briefly). */
static uint64_t responder_id_hash(const char *id)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *c = (const unsigned char *)id; *c; c++)
        h = (h ^ *c) * 1099511628211ULL;
    return h;
}

static int responder_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* True when a reply with this id is in a batch still ahead in the pipeline (being sent or
 * recorded): its ledger entry may not be written yet. Main thread. */
static bool responder_in_flight(struct responder_scratch *scr, const struct item *it,
                                const struct responder_job *self)
{
    uint64_t h = 0;
    bool hashed = false;
    for (size_t j = 0; j < RESPONDER_JOBS; j++) {
        const struct responder_job *job = &scr->jobs[j];
        size_t n = atomic_load(&job->n_ids);
        if (job == self || n == 0)
            continue;
        if (!hashed) {
            h = responder_id_hash(it->id);
            hashed = true;
        }
        if (bsearch(&h, job->ids, n, sizeof(h), responder_cmp_u64))
            return true;
    }
    return false;
}

/* Replies whose earlier copy is still in the pipeline wait in the deferred queue, so one
 * reply is never decided twice at the same time (main thread, after the decide round). */
static void responder_defer_in_flight(struct responder *rs, struct responder_job *job)
{
    struct responder_scratch *scr = responder_scratch(rs);
    for (size_t i = 0; i < job->count; i++) {
        struct item *it = &job->items[i];
        if (it->reply && it->state == IT_PENDING && responder_in_flight(scr, it, job)) {
            it->state = IT_DEFER;
            it->defer_ms = 100;
            it->defer_reason = "in_flight";
            policy_plan_free(&it->plan);
            memset(&it->plan, 0, sizeof(it->plan));
        }
    }
}

/* Notes the ids of a job about to leave the main thread. */
static void responder_job_ids(struct responder_job *job)
{
    size_t n = 0;
    for (size_t i = 0; i < job->count; i++)
        if (job->items[i].reply && job->items[i].id)
            job->ids[n++] = responder_id_hash(job->items[i].id);
    qsort(job->ids, n, sizeof(*job->ids), responder_cmp_u64);
    atomic_store(&job->n_ids, n);
}

static void responder_job_free_items(struct responder_job *job)
{
    for (size_t i = 0; i < job->count; i++) {
        json_decref(job->items[i].reply);
        job->items[i].reply = NULL;
        policy_plan_free(&job->items[i].plan);
    }
    job->count = 0;
}

/* Hands a job to a stage, waiting until the stage's previous job left it. */
static void responder_stage_put(struct responder_stage *stage, struct responder_job *job)
{
    pthread_mutex_lock(&stage->mu);
    while (stage->job)
        pthread_cond_wait(&stage->cv, &stage->mu);
    stage->job = job;
    pthread_cond_broadcast(&stage->cv);
    pthread_mutex_unlock(&stage->mu);
}

static void *responder_stage_main(void *arg)
{
    struct responder_stage *stage = arg;
    pthread_mutex_lock(&stage->mu);
    for (;;) {
        while (!stage->job && !stage->quit)
            pthread_cond_wait(&stage->cv, &stage->mu);
        if (!stage->job)
            break;
        struct responder_job *job = stage->job;
        pthread_mutex_unlock(&stage->mu);
        stage->run(stage, job);
        pthread_mutex_lock(&stage->mu);
        stage->job = NULL;
        pthread_cond_broadcast(&stage->cv);
    }
    pthread_mutex_unlock(&stage->mu);
    return NULL;
}

/* Sender thread: every message of every pending reply. */
static void responder_stage_send(struct responder_stage *stage, struct responder_job *job)
{
    job->rc = responder_send(stage, job->items, job->count);
    for (size_t i = 0; job->rc == 0 && i < job->count; i++)
        if (job->items[i].state == IT_PENDING)
            job->rc = SC_EAGAIN; /* stopping mid-thread: consumed again after restart */
    responder_stage_put(stage->next, job);
}

/* Recorder thread: ledger, held and deferred entries, receipts; then the batch's
 * delivery group is released (its offsets may be stored once the receipts are acked). */
static void responder_stage_record(struct responder_stage *stage,
                                   struct responder_job *job)
{
    struct responder *rs = stage->rs;
    int rc = job->rc;
    if (rc == 0)
        rc = responder_record(stage, job->items, job->count);
    for (size_t i = 0; i < job->count && rc == 0; i++) {
        struct item *it = &job->items[i];
        const char *status = responder_status(it->state);
        if (it->reply && status)
            rc = responder_publish_receipt(rs, it->reply, status, it->post_id,
                                           it->attempts, it->error, job->delivery);
    }
    responder_job_free_items(job);
    atomic_store(&job->n_ids, 0);
    struct sc_delivery *delivery = job->delivery;
    job->delivery = NULL;
    if (rc != 0) /* the loop rewinds the batch and consumes it again */
        atomic_fetch_add(&delivery->failed, 1);
    /* last: once pending reaches 0 the loop may store the offsets and reuse the group */
    atomic_fetch_sub(&delivery->pending, 1);
}

static int responder_process(struct responder *rs, rd_kafka_message_t **msgs, size_t n,
                             struct sc_delivery *delivery)
{
    size_t max_claim = (size_t)rs->conf.batch_deferred;
    struct responder_scratch *scr = responder_scratch(rs);
    /* free: the job RESPONDER_JOBS batches ago left the recorder before the previous
     * batch could enter the sender */
    struct responder_job *job = &scr->jobs[scr->seq % RESPONDER_JOBS];
    responder_job_reserve(job, n + max_claim);
    struct item *items = job->items;
    memset(items, 0, (n + max_claim) * sizeof(*items));
    size_t count = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char reason[256];
        struct item *it = &items[count++];
        it->reply = sc_event_parse(msgs[i]->payload, msgs[i]->len, SC_EVENT_REPLY, NULL,
                                   reason, sizeof(reason));
        if (!it->reply) {
            it->state = IT_SKIP;
            rc = sc_producer_dead_letter(rs->svc.producer, rs->conf.common.topic_dlq,
                                         "responder", reason, msgs[i], msgs[i]->payload,
                                         msgs[i]->len, delivery);
        }
    }
    /* the deferred queue, at most every 50 ms (the idle path covers quiet times) */
    int64_t now = sc_wall_ms();
    if (rc == 0 && (n == 0 || now - rs->last_claim_ms >= 50)) {
        rs->last_claim_ms = now;
        rc = responder_claim(rs, items, &count, max_claim);
    }
    job->count = count;
    if (rc == 0)
        rc = responder_decide(rs, items, count);
    if (rc == 0)
        responder_defer_in_flight(rs, job);
    if (rc == 0)
        rc = responder_prepare(rs, items, count);
    if (rc != 0) {
        responder_job_free_items(job);
        return rc;
    }
    /* the rest runs on the sender and recorder threads while this thread takes the next
     * batch; the group stays pending until the recorder is done with it */
    responder_job_ids(job);
    job->rc = 0;
    job->delivery = delivery;
    atomic_fetch_add(&delivery->pending, 1);
    scr->seq++;
    responder_stage_put(&scr->sender, job);
    return 0;
}

int responder_batch(void *opaque, rd_kafka_message_t **msgs, size_t n,
                    struct sc_delivery *delivery)
{
    return responder_process(opaque, msgs, n, delivery);
}

static int
responder_stage_start(struct responder *rs, struct responder_stage *stage,
                      const char *name,
                      void (*run)(struct responder_stage *, struct responder_job *),
                      struct responder_stage *next, char *errstr, size_t errstr_size)
{
    stage->rs = rs;
    stage->run = run;
    stage->next = next;
    stage->redis = sc_redis_new(rs->conf.common.redis_url, 2000, errstr, errstr_size);
    if (!stage->redis)
        return SC_EINVAL;
    sc_redis_script_register(stage->redis, &rs->pause);
    sc_redis_script_register(stage->redis, &rs->defer);
    stage->batch = sc_redis_batch_new();
    pthread_mutex_init(&stage->mu, NULL);
    pthread_cond_init(&stage->cv, NULL);
    if (pthread_create(&stage->thread, NULL, responder_stage_main, stage) != 0) {
        snprintf(errstr, errstr_size, "cannot start an engine thread");
        return SC_EIO;
    }
    pthread_setname_np(stage->thread, name); /* top -H, perf */
    stage->started = true;
    return 0;
}

int responder_engine_start(struct responder *rs, char *errstr, size_t errstr_size)
{
    struct responder_scratch *scr = responder_scratch(rs);
    scr->paused_until =
        sc_calloc(POLICY_PLATFORM_COUNT + rs->n_extra, sizeof(*scr->paused_until));
    int rc = responder_stage_start(rs, &scr->recorder, "rsp-record",
                                   responder_stage_record, NULL, errstr, errstr_size);
    if (rc == 0)
        rc = responder_stage_start(rs, &scr->sender, "rsp-send", responder_stage_send,
                                   &scr->recorder, errstr, errstr_size);
    return rc;
}

static void responder_stage_stop(struct responder_stage *stage)
{
    if (stage->started) {
        pthread_mutex_lock(&stage->mu);
        stage->quit = true;
        pthread_cond_broadcast(&stage->cv);
        pthread_mutex_unlock(&stage->mu);
        pthread_join(stage->thread, NULL); /* a job in hand is finished first */
        pthread_mutex_destroy(&stage->mu);
        pthread_cond_destroy(&stage->cv);
        stage->started = false;
    }
    sc_redis_batch_free(stage->batch);
    stage->batch = NULL;
    sc_redis_free(stage->redis);
    stage->redis = NULL;
}

void responder_engine_free(struct responder *rs)
{
    struct responder_scratch *scr = rs->scratch;
    if (!scr)
        return;
    responder_stage_stop(&scr->sender); /* first: it hands jobs to the recorder */
    responder_stage_stop(&scr->recorder);
    for (size_t j = 0; j < RESPONDER_JOBS; j++) {
        responder_job_free_items(&scr->jobs[j]);
        sc_free(scr->jobs[j].items);
        sc_free(scr->jobs[j].ids);
    }
    responder_keys_free(&scr->keys);
    sc_free(scr->sends);
    sc_free(scr->owner);
    sc_free(scr->paused_until);
    sc_free(scr);
    rs->scratch = NULL;
}

int responder_idle(void *opaque)
{
    struct responder *rs = opaque;
    char lease[24];
    snprintf(lease, sizeof(lease), "%lld", rs->conf.defer_lease_ms);
    /* cheap check first: anything due at all? */
    redisReply *r =
        sc_redis_commandf(rs->svc.redis, "ZRANGEBYSCORE %s -inf %lld LIMIT 0 1",
                          RESPONDER_DEFERRED_KEY, (long long)sc_wall_ms());
    bool due = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0;
    if (r)
        freeReplyObject(r);
    if (!due)
        return 0;
    struct sc_delivery delivery = {0};
    int rc = responder_process(rs, NULL, 0, &delivery);
    int settled = sc_service_settle(&rs->svc, &delivery);
    if (rc != 0 || settled != 0)
        return 0;
    return 1;
}
