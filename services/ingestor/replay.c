/* Pipelined replay of JSONL / CSV posts into posts.inbound. JSONL batches are parsed by
 * two worker threads (one half each) while the main thread marks and produces the batch
 * parsed before (Redis round trip and produce calls overlap the parsing). */
#include "replay.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "event.h"
#include "jscan.h"
#include "ingest.h"
#include "seen.h"
#include "lifecycle.h"
#include "log.h"

#define REPLAY_BATCH  5000 /* lines per batch */
#define REPLAY_WINDOW 8    /* batches in flight */
#define REPLAY_PARTS  2    /* parse workers, each filling its part of a batch */

struct replay_item {
    size_t key_off, key_len; /* customer key */
    size_t val_off, val_len; /* message bytes */
    size_t id_off, id_len;   /* post id (dedup key part) */
    bool is_new;             /* after the Redis step */
};

/* What one parsing thread made of its share of a batch's lines. */
struct replay_part {
    struct replay_item *items;
    size_t n;
    char *arena;
    size_t arena_len, arena_cap;
    char stamp[40]; /* receive time text, re-formatted when the millisecond changes */
    int64_t stamp_ms;
    char *scan_buf; /* the strings the tree-less reader copies out of one line */
};

struct replay_batch {
    struct sc_delivery delivery;
    struct replay_part parts[REPLAY_PARTS];
    size_t n_new, n_total;
    int64_t resend_at_ms; /* backoff after a failed delivery */
    int backoff_ms;
    unsigned long long mark_seq; /* names this batch's dedup marks (replay_mark) */
    char mark_head[80];          /* "<mark_prefix>.<mark_seq>/" */
    size_t mark_head_len;
};

/* The lines of the batch being read, and per line the parse verdict. */
struct replay_lines {
    char *buf;
    size_t len, cap;
    size_t off[REPLAY_BATCH], n_bytes[REPLAY_BATCH];
    char reason[REPLAY_BATCH][160]; /* "" = valid */
    size_t n;
};

struct ingest_replay;

/* A parse worker: parses lines [from, to) into a part when told. */
struct replay_worker {
    int slice; /* its jansson arena slice */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool has_job, job_done, stop, started;
    struct ingest_replay *r;
    struct replay_part *part;
    size_t from, to;
};

struct ingest_replay {
    struct ingest_replay_conf conf;
    struct replay_batch batches[REPLAY_WINDOW];
    size_t head, count; /* ring of in-flight batches, oldest at head */
    struct sc_redis_batch *redis_batch;
    struct replay_lines *lines_buf;
    struct replay_worker workers[REPLAY_PARTS];
    bool workers_started;
    bool staged; /* batches[(head + count) % WINDOW] is parsed, not yet marked and sent */
    char *line;
    size_t line_cap;
    bool done;         /* end of input */
    bool finished_log; /* "replay finished" logged */
    long long lines;
    int64_t started_ms;
    char ttl[24];
    char mark_prefix[48];        /* "p.<pid>.<start ms>": this process's pending marks */
    char own_prefix[52];         /* mark_prefix + ".": a mark set by this process */
    unsigned long long mark_seq; /* batches launched so far */
    struct seen_checks checks;   /* other attempts' marks met by the batch being marked */
};

/* ------------------------------------------------------------------ jansson arena */

/* A bump allocator for jansson while a replay thread parses one line: parsing allocates
 * every value, key and table separately, and malloc/free were a third of the replay's
 * CPU. Each parsing thread has its own slice (a thread-local switch and offset); frees of
 * any address inside the region are no-ops (from any thread), and a slice is rewound
 * after each line, whose objects are all released by then. Larger needs use malloc. */
#define REPLAY_ARENA_SLICE ((size_t)4 << 20)
static char *replay_arena;
static _Thread_local char *replay_arena_mine;
static _Thread_local size_t replay_arena_used;

static void *replay_json_malloc(size_t n)
{
    if (replay_arena_mine) {
        size_t need = (n + 15) & ~(size_t)15;
        if (replay_arena_used + need <= REPLAY_ARENA_SLICE) {
            void *p = replay_arena_mine + replay_arena_used;
            replay_arena_used += need;
            return p;
        }
    }
    return malloc(n);
}

static void replay_json_free(void *p)
{
    if (replay_arena && (char *)p >= replay_arena &&
        (char *)p < replay_arena + REPLAY_PARTS * REPLAY_ARENA_SLICE)
        return;
    free(p);
}

/* Installs the allocator once, before other threads use jansson. */
static void replay_arena_init(void)
{
    if (!replay_arena) {
        replay_arena = sc_malloc(REPLAY_PARTS * REPLAY_ARENA_SLICE);
        json_set_alloc_funcs(replay_json_malloc, replay_json_free);
    }
}

static void replay_arena_begin(int slice)
{
    replay_arena_used = 0;
    replay_arena_mine =
        replay_arena ? replay_arena + (size_t)slice * REPLAY_ARENA_SLICE : NULL;
}

static void replay_arena_end(void)
{
    replay_arena_mine = NULL;
    replay_arena_used = 0;
}

/* ------------------------------------------------------------------ parsing */

static size_t part_put(struct replay_part *p, const void *data, size_t n)
{
    if (p->arena_len + n > p->arena_cap) {
        size_t cap = p->arena_cap ? p->arena_cap * 2 : 1u << 20;
        while (cap < p->arena_len + n)
            cap *= 2;
        char *a = sc_malloc(cap);
        if (p->arena_len)
            memcpy(a, p->arena, p->arena_len);
        sc_free(p->arena);
        p->arena = a;
        p->arena_cap = cap;
    }
    size_t off = p->arena_len;
    memcpy(p->arena + off, data, n);
    p->arena_len += n;
    return off;
}

static const char *part_stamp(struct replay_part *p)
{
    int64_t now = sc_wall_ms();
    if (now != p->stamp_ms) {
        sc_format_time(now, p->stamp, sizeof(p->stamp));
        p->stamp_ms = now;
    }
    return p->stamp;
}

/* Starts the next item of the part: its id and its customer key "platform:author_id"
 * (built without printf); the caller adds the message bytes. */
static struct replay_item *part_item(struct replay_part *p, const char *id,
                                     const char *platform, const char *author)
{
    struct replay_item *it = &p->items[p->n++];
    it->id_len = strlen(id);
    it->id_off = part_put(p, id, it->id_len);
    size_t pl = strlen(platform), al = strlen(author);
    it->key_off = part_put(p, platform, pl);
    part_put(p, ":", 1);
    part_put(p, author, al);
    it->key_len = pl + 1 + al;
    it->is_new = false;
    return it;
}

/* Adds one valid post: its id, its customer key "platform:author_id" (built without
 * printf) and its message bytes, the original JSONL line raw with "v" and "received_at"
 * spliced in when absent. */
static void part_add_raw(struct replay_part *p, const char *id, const char *platform,
                         const char *author, bool has_v, bool has_recv, const char *raw,
                         size_t raw_len)
{
    struct replay_item *it = part_item(p, id, platform, author);
    while (raw_len && (*raw == ' ' || *raw == '\t'))
        raw++, raw_len--;
    it->val_off = part_put(p, "{", 1);
    if (!has_v)
        part_put(p, "\"v\":1,", 6);
    if (!has_recv) {
        const char *stamp = part_stamp(p);
        part_put(p, "\"received_at\":\"", 15);
        part_put(p, stamp, strlen(stamp));
        part_put(p, "\",", 2);
    }
    part_put(p, raw + 1, raw_len - 1);
    it->val_len = p->arena_len - it->val_off;
}

/* Adds one post validated by the full parser. raw is the original JSONL line (NULL for
 * CSV: the object is serialised). */
static void part_add(struct replay_part *p, json_t *post, const char *raw, size_t raw_len)
{
    const char *id = sc_event_str(post, "id");
    const char *platform = sc_event_str(post, "platform");
    const char *author = sc_event_path(post, "author", "id");
    if (raw) {
        bool has_v, has_recv;
        const char *t = raw;
        size_t tl = raw_len;
        while (tl && (*t == ' ' || *t == '\t'))
            t++, tl--;
        ingest_top_keys(t, tl, &has_v, &has_recv);
        part_add_raw(p, id, platform, author, has_v, has_recv, raw, raw_len);
        return;
    }
    struct replay_item *it = part_item(p, id, platform, author);
    ingest_normalise(post, sc_wall_ms());
    size_t len;
    char *out = sc_event_dump(post, &len);
    it->val_off = part_put(p, out, len);
    it->val_len = len;
    free(out);
}

/* Parses lines [from, to) of the batch into part (slice = the arena slice to use). */
static void replay_parse(struct ingest_replay *r, struct replay_part *part, size_t from,
                         size_t to, int slice)
{
    struct replay_lines *L = r->lines_buf;
    for (size_t i = from; i < to; i++) {
        const char *line = L->buf + L->off[i];
        size_t len = L->n_bytes[i];
        char *reason = L->reason[i];
        json_t *post;
        const char *raw = NULL;
        reason[0] = '\0';
        if (!r->conf.csv && len <= SC_JSCAN_MAX_BYTES) {
            /* The fast path: the tree-less reader accepts only what sc_event_parse
             * accepts; whatever it declines takes the jansson path below, which names
             * the dead-letter reason. */
            struct sc_jscan_post fp;
            size_t used;
            if (!part->scan_buf)
                part->scan_buf = sc_malloc(SC_JSCAN_MAX_BYTES + 16);
            if (sc_jscan_post(line, len, part->scan_buf, &used, &fp)) {
                part_add_raw(part, fp.id, fp.platform, fp.author_id, fp.has_v,
                             fp.has_received_at, line, len);
                continue;
            }
        }
        if (r->conf.csv) {
            post = ingest_csv_post(r->conf.csv, line, len, reason, sizeof(L->reason[i]));
            if (post && sc_event_validate(post, SC_EVENT_POST, NULL, reason,
                                          sizeof(L->reason[i])) != 0) {
                json_decref(post);
                post = NULL;
            }
        } else {
            replay_arena_begin(slice);
            post = sc_event_parse(line, len, SC_EVENT_POST, NULL, reason,
                                  sizeof(L->reason[i]));
            raw = line;
        }
        if (post) {
            part_add(part, post, raw, len);
            json_decref(post);
        } else if (!reason[0]) {
            snprintf(reason, sizeof(L->reason[i]), "invalid_post: rejected");
        }
        replay_arena_end();
    }
}

static void *replay_worker_main(void *opaque)
{
    struct replay_worker *w = opaque;
    pthread_mutex_lock(&w->mu);
    while (1) {
        while (!w->has_job && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop)
            break;
        w->has_job = false;
        pthread_mutex_unlock(&w->mu);
        replay_parse(w->r, w->part, w->from, w->to, w->slice);
        pthread_mutex_lock(&w->mu);
        w->job_done = true;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Starts parsing the read lines into batch b: worker 0 takes the first half into
 * parts[0], worker 1 the second half into parts[1], so parts[0] then parts[1] is the
 * input's order (per-customer order is kept). CSV (or no workers) is parsed here, now. */
static void replay_parse_start(struct ingest_replay *r, struct replay_batch *b)
{
    size_t n = r->lines_buf->n;
    if (r->conf.csv || !r->workers_started) {
        replay_parse(r, &b->parts[0], 0, n, 0);
        return;
    }
    size_t split = n / 2;
    for (int k = 0; k < REPLAY_PARTS; k++) {
        struct replay_worker *w = &r->workers[k];
        pthread_mutex_lock(&w->mu);
        w->part = &b->parts[k];
        w->from = k == 0 ? 0 : split;
        w->to = k == 0 ? split : n;
        w->has_job = true;
        w->job_done = false;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
}

/* Waits until the workers finished the batch started by replay_parse_start. */
static void replay_parse_join(struct ingest_replay *r)
{
    if (r->conf.csv || !r->workers_started)
        return;
    for (int k = 0; k < REPLAY_PARTS; k++) {
        struct replay_worker *w = &r->workers[k];
        pthread_mutex_lock(&w->mu);
        while (!w->job_done)
            pthread_cond_wait(&w->cv, &w->mu);
        pthread_mutex_unlock(&w->mu);
    }
}

/* ------------------------------------------------------------------ life cycle */

struct ingest_replay *ingest_replay_new(const struct ingest_replay_conf *conf)
{
    struct ingest_replay *r = sc_calloc(1, sizeof(*r));
    r->conf = *conf;
    r->redis_batch = sc_redis_batch_new();
    for (size_t i = 0; i < REPLAY_WINDOW; i++)
        for (size_t j = 0; j < REPLAY_PARTS; j++) {
            r->batches[i].parts[j].items =
                sc_calloc(REPLAY_BATCH, sizeof(struct replay_item));
            r->batches[i].parts[j].stamp_ms = -1;
        }
    snprintf(r->ttl, sizeof(r->ttl), "%lld", conf->dedup_ttl_s);
    r->started_ms = sc_now_ms();
    /* Pending marks "<prefix>.<batch seq>/<part>.<item>" (INGEST_MARK_PENDING),
     * confirmed by the batch's record once Kafka acknowledged it (ingest.h): a mark left
     * pending by a process that died before the acknowledgement is not a duplicate for
     * the next one (its replay publishes the post again), while this process's own
     * pending marks are (it delivers them itself). */
    snprintf(r->mark_prefix, sizeof(r->mark_prefix), INGEST_MARK_PENDING "%ld.%lld",
             (long)getpid(), (long long)r->started_ms);
    snprintf(r->own_prefix, sizeof(r->own_prefix), "%s.", r->mark_prefix);
    if (!conf->in) {
        r->done = r->finished_log = true;
        return r;
    }
    r->lines_buf = sc_calloc(1, sizeof(*r->lines_buf));
    if (!conf->csv) {
        replay_arena_init();
        r->workers_started = true;
        for (int k = 0; k < REPLAY_PARTS; k++) {
            struct replay_worker *w = &r->workers[k];
            w->r = r;
            w->slice = k;
            pthread_mutex_init(&w->mu, NULL);
            pthread_cond_init(&w->cv, NULL);
            w->started = pthread_create(&w->thread, NULL, replay_worker_main, w) == 0;
            r->workers_started &= w->started;
        }
    }
    return r;
}

void ingest_replay_free(struct ingest_replay *r)
{
    if (!r)
        return;
    for (int k = 0; k < REPLAY_PARTS && r->lines_buf && !r->conf.csv; k++) {
        struct replay_worker *w = &r->workers[k];
        if (w->started) {
            pthread_mutex_lock(&w->mu);
            w->stop = true;
            pthread_cond_broadcast(&w->cv);
            pthread_mutex_unlock(&w->mu);
            pthread_join(w->thread, NULL);
        }
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
    }
    for (size_t i = 0; i < REPLAY_WINDOW; i++)
        for (size_t j = 0; j < REPLAY_PARTS; j++) {
            sc_free(r->batches[i].parts[j].items);
            sc_free(r->batches[i].parts[j].arena);
            sc_free(r->batches[i].parts[j].scan_buf);
        }
    if (r->lines_buf)
        sc_free(r->lines_buf->buf);
    sc_free(r->lines_buf);
    sc_redis_batch_free(r->redis_batch);
    seen_checks_free(&r->checks);
    free(r->line);
    sc_free(r);
}

size_t ingest_replay_unpublished(const struct ingest_replay *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->count; i++)
        n += r->batches[(r->head + i) % REPLAY_WINDOW].n_new;
    if (r->staged)
        n += r->batches[(r->head + r->count) % REPLAY_WINDOW].n_total;
    return n;
}

/* ------------------------------------------------------------------ publication */

/* Produces the batch's new posts (again, after a failure). Returns 0 or an error. */
static int replay_send(struct ingest_replay *r, struct replay_batch *b)
{
    memset(&b->delivery, 0, sizeof(b->delivery));
    struct sc_service *svc = r->conf.svc;
    for (size_t j = 0; j < REPLAY_PARTS; j++) {
        struct replay_part *p = &b->parts[j];
        for (size_t i = 0; i < p->n; i++) {
            const struct replay_item *it = &p->items[i];
            if (!it->is_new)
                continue;
            int rc = sc_producer_send(
                svc->producer, svc->common->topic_posts_inbound, p->arena + it->key_off,
                it->key_len, p->arena + it->val_off, it->val_len, NULL, &b->delivery);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* Sets the batch's mark head "<prefix>.<seq>/" (its batch name and the separator). */
static void replay_mark_head(const struct ingest_replay *r, struct replay_batch *b)
{
    int n = snprintf(b->mark_head, sizeof(b->mark_head), "%s.%llu%c", r->mark_prefix,
                     b->mark_seq, INGEST_MARK_SEP);
    b->mark_head_len = n < 0                              ? 0
                       : (size_t)n < sizeof(b->mark_head) ? (size_t)n
                                                          : sizeof(b->mark_head) - 1;
}

/* Writes v in decimal at dst. @returns the number of digits. */
static size_t replay_utoa(char *dst, size_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    return n;
}

/* The mark value of one item of a batch, "<head><part>.<i>": unique to this process,
 * batch and item (buf holds at least sizeof(mark_head) + 48 bytes; no printf: this runs
 * twice per post). */
static size_t replay_mark_value(const struct replay_batch *b, size_t part, size_t i,
                                char *buf)
{
    memcpy(buf, b->mark_head, b->mark_head_len);
    size_t n = b->mark_head_len;
    n += replay_utoa(buf + n, part);
    buf[n++] = '.';
    n += replay_utoa(buf + n, i);
    buf[n] = '\0';
    return n;
}

/* Marks the batch's ids in Redis (SET NX EX GET, Redis >= 7.0) with a pending value
 * naming this process, batch and item. Returns 0 or an error (retry later). An id is new
 * when the mark was set now, when it is another process's pending mark (that process
 * died before Kafka acknowledged the post, or is publishing it right now: published
 * twice then, a duplicate the consumers absorb, never lost), or when it was set by an
 * earlier attempt of this same batch that failed part-way (Redis died after applying
 * some SETs but before answering): without that, the retry took the batch's own marks
 * for duplicates and the posts were never published. A mark whose batch record exists
 * (confirmed), or a pending mark of another batch of this process (the same id twice in
 * the input), is a duplicate. Another process's pending mark costs one more round trip
 * (its batch record, then taking the mark over: seen.h). */
static int replay_mark(struct ingest_replay *r, struct replay_batch *b)
{
    char key[600], value[160];
    size_t ttl_len = strlen(r->ttl);
    sc_redis_batch_reset(r->redis_batch);
    for (size_t j = 0; j < REPLAY_PARTS; j++) {
        struct replay_part *p = &b->parts[j];
        for (size_t i = 0; i < p->n; i++) {
            const struct replay_item *it = &p->items[i];
            size_t id_len = it->id_len < sizeof(key) - 8 ? it->id_len : sizeof(key) - 8;
            memcpy(key, "seen:{", 6);
            memcpy(key + 6, p->arena + it->id_off, id_len);
            key[6 + id_len] = '}';
            size_t value_len = replay_mark_value(b, j, i, value);
            const char *argv[] = {"SET", key, value, "NX", "EX", r->ttl, "GET"};
            size_t lens[] = {3, 7 + id_len, value_len, 2, 2, ttl_len, 3};
            sc_redis_batch_add(r->redis_batch, 7, argv, lens);
        }
    }
    int rc = sc_redis_batch_run(r->conf.svc->redis, r->redis_batch);
    if (rc != 0)
        return rc;
    size_t idx = 0;
    b->n_new = 0;
    seen_checks_reset(&r->checks);
    for (size_t j = 0; j < REPLAY_PARTS; j++) {
        struct replay_part *p = &b->parts[j];
        for (size_t i = 0; i < p->n; i++, idx++) {
            redisReply *rep = sc_redis_batch_reply(r->redis_batch, idx);
            if (!rep || rep->type == REDIS_REPLY_ERROR)
                return SC_EIO;
            size_t blen;
            enum ingest_mark v = ingest_mark_classify(
                rep->type == REDIS_REPLY_NIL, rep->str, rep->len, r->own_prefix, &blen);
            size_t value_len = 0;
            if ((v == INGEST_DUPLICATE && rep->type == REDIS_REPLY_STRING) ||
                v == INGEST_CHECK)
                value_len = replay_mark_value(b, j, i, value);
            if (v == INGEST_DUPLICATE && rep->type == REDIS_REPLY_STRING)
                v = rep->len == value_len && memcmp(rep->str, value, value_len) == 0
                        ? INGEST_NEW
                        : INGEST_DUPLICATE;
            p->items[i].is_new = v == INGEST_NEW;
            if (v == INGEST_CHECK) {
                const struct replay_item *it = &p->items[i];
                size_t id_len =
                    it->id_len < sizeof(key) - 8 ? it->id_len : sizeof(key) - 8;
                memcpy(key, "seen:{", 6);
                memcpy(key + 6, p->arena + it->id_off, id_len);
                key[6 + id_len] = '}';
                seen_checks_add(&r->checks, idx, rep->str, blen, key, 7 + id_len, value,
                                value_len);
            }
        }
    }
    int rc2 = seen_resolve(r->conf.svc->redis, &r->checks, r->ttl);
    if (rc2 != 0)
        return rc2;
    idx = 0;
    size_t k = 0;
    for (size_t j = 0; j < REPLAY_PARTS; j++) {
        struct replay_part *p = &b->parts[j];
        for (size_t i = 0; i < p->n; i++, idx++) {
            if (k < r->checks.n && r->checks.v[k].item == idx)
                p->items[i].is_new = !r->checks.v[k++].done;
            b->n_new += p->items[i].is_new;
        }
    }
    return 0;
}

/* Confirms the pending marks of an acknowledged batch with its batch record (one SET).
 * If Redis fails here the marks stay pending: a later copy of such a post is published
 * again (a duplicate the consumers absorb), never lost. */
static void replay_confirm(struct ingest_replay *r, struct replay_batch *b)
{
    if (b->n_new == 0)
        return;
    if (b->mark_head_len < 2 ||
        seen_confirm(r->conf.svc->redis, r->redis_batch, b->mark_head,
                     b->mark_head_len - 1, r->ttl) != 0)
        sc_log(SC_LOG_WARNING, "DEDUP",
               "replay: seen marks not confirmed; they stay pending");
}

static void replay_clear(struct replay_batch *b)
{
    for (size_t j = 0; j < REPLAY_PARTS; j++)
        b->parts[j].n = b->parts[j].arena_len = 0;
    b->n_new = b->n_total = 0;
    b->backoff_ms = 0;
    b->resend_at_ms = 0;
}

/* Reaps the oldest batch when acknowledged; resends it when it failed. Returns 1 when
 * the window moved or a resend happened. */
static int replay_reap(struct ingest_replay *r, int wait_ms)
{
    if (r->count == 0)
        return 0;
    struct replay_batch *b = &r->batches[r->head];
    if (b->delivery.pending > 0) {
        int rc = sc_producer_wait(r->conf.svc->producer, &b->delivery, wait_ms);
        if (rc == SC_ETIMEDOUT)
            return 0;
    }
    if (b->delivery.failed > 0) {
        int64_t now = sc_now_ms();
        if (b->resend_at_ms == 0) {
            b->backoff_ms =
                b->backoff_ms ? (b->backoff_ms < 5000 ? b->backoff_ms * 2 : 5000) : 100;
            b->resend_at_ms = now + b->backoff_ms;
            sc_log(SC_LOG_WARNING, "REPLAY", "%zu posts not acknowledged (%s); resending",
                   b->n_new, rd_kafka_err2str(b->delivery.last_err));
        }
        if (now < b->resend_at_ms)
            return 0;
        b->resend_at_ms = 0;
        if (replay_send(r, b) != 0)
            b->delivery.failed = 1; /* queue full: try again after the backoff */
        return 1;
    }
    replay_confirm(r, b);
    sc_metric_add(r->conf.m_posts, SC_LABELS("replay", "accepted"), (double)b->n_new);
    sc_metric_add(r->conf.m_posts, SC_LABELS("replay", "duplicate"),
                  (double)(b->n_total - b->n_new));
    replay_clear(b);
    r->head = (r->head + 1) % REPLAY_WINDOW;
    r->count--;
    return 1;
}

/* Reads up to budget lines into the line buffer. Returns the number of lines taken. */
static size_t replay_read(struct ingest_replay *r, size_t budget)
{
    struct replay_lines *L = r->lines_buf;
    L->n = L->len = 0;
    size_t taken = 0;
    while (taken < budget) {
        ssize_t len = getline(&r->line, &r->line_cap, r->conf.in);
        if (len < 0) {
            r->done = true;
            break;
        }
        taken++;
        r->lines++;
        while (len > 0 && (r->line[len - 1] == '\n' || r->line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        if (r->conf.csv && r->lines == 1 &&
            ingest_csv_is_header(r->conf.csv, r->line, (size_t)len))
            continue;
        if (L->len + (size_t)len > L->cap) {
            size_t cap = L->cap ? L->cap * 2 : 4u << 20;
            while (cap < L->len + (size_t)len)
                cap *= 2;
            char *buf = sc_malloc(cap);
            if (L->len)
                memcpy(buf, L->buf, L->len);
            sc_free(L->buf);
            L->buf = buf;
            L->cap = cap;
        }
        memcpy(L->buf + L->len, r->line, (size_t)len);
        L->off[L->n] = L->len;
        L->n_bytes[L->n] = (size_t)len;
        L->len += (size_t)len;
        L->n++;
    }
    return taken;
}

/* Marks and sends the staged batch (it joins the window). Returns 0, or -1 when a stop
 * came while Redis was down (the batch is dropped: its lines were not acknowledged). */
static int replay_launch(struct ingest_replay *r)
{
    struct replay_batch *b = &r->batches[(r->head + r->count) % REPLAY_WINDOW];
    r->staged = false;
    b->mark_seq = ++r->mark_seq;
    replay_mark_head(r, b);
    int backoff = 100;
    /* The Redis step must succeed before the batch leaves: retry with backoff. */
    while (replay_mark(r, b) != 0) {
        if (sc_lifecycle_stopping()) {
            sc_log(SC_LOG_WARNING, "REPLAY",
                   "%zu parsed posts dropped at stop (Redis down)", b->n_total);
            replay_clear(b);
            return -1;
        }
        sc_log(SC_LOG_WARNING, "REPLAY", "Redis unavailable; retrying");
        sc_service_backoff(backoff);
        backoff = backoff < 5000 ? backoff * 2 : 5000;
    }
    if (replay_send(r, b) != 0)
        b->delivery.failed = 1; /* resent by replay_reap after a backoff */
    r->count++;
    return 0;
}

int ingest_replay_step(struct ingest_replay *r)
{
    int work = 0;
    /* Reap without waiting while there is input to read; wait a little when the window
     * is full or the input is done. */
    bool can_read = !r->done && r->count + r->staged < REPLAY_WINDOW;
    while (replay_reap(r, can_read ? 0 : 20))
        work = 1, can_read = !r->done && r->count + r->staged < REPLAY_WINDOW;

    bool read = false;
    if (can_read && !sc_lifecycle_stopping()) {
        size_t budget = REPLAY_BATCH;
        if (r->conf.rate > 0) {
            double elapsed = (double)(sc_now_ms() - r->started_ms) / 1000.0;
            double allowed = elapsed * r->conf.rate - (double)r->lines;
            if (allowed < 1) {
                /* Paced: wait for the next line's turn here (at most a few ms, serving
                 * delivery reports meanwhile) so a fixed rate goes out smoothly rather
                 * than in bursts at the service loop's idle period. */
                double next_s = ((double)r->lines + 1.0) / r->conf.rate - elapsed;
                int wait_ms = (int)(next_s * 1000.0) + 1;
                sc_producer_poll(r->conf.svc->producer, wait_ms < 5 ? wait_ms : 5);
                budget = 0;
                work = 1;
            } else if (allowed < (double)budget)
                budget = (size_t)allowed;
        }
        if (budget > 0) {
            read = true;
            struct replay_batch *b =
                &r->batches[(r->head + r->count + r->staged) % REPLAY_WINDOW];
            size_t taken = replay_read(r, budget);
            replay_parse_start(r, b);
            /* While the workers parse, the batch parsed before goes out. */
            if (r->staged)
                (void)replay_launch(r);
            replay_parse_join(r);

            /* Dead-letter the rejected lines, in order. */
            struct sc_service *svc = r->conf.svc;
            struct replay_lines *L = r->lines_buf;
            struct sc_delivery dlq = {0};
            for (size_t i = 0; i < L->n; i++) {
                if (!L->reason[i][0])
                    continue;
                sc_metric_inc(r->conf.m_posts, SC_LABELS("replay", "rejected"));
                if (sc_producer_dead_letter(svc->producer, svc->common->topic_dlq,
                                            "ingestor", L->reason[i], NULL,
                                            L->buf + L->off[i], L->n_bytes[i], &dlq) != 0)
                    sc_log(SC_LOG_ERR, "REPLAY", "could not dead-letter a line");
            }
            if (sc_service_settle(svc, &dlq) != 0)
                sc_log(SC_LOG_ERR, "REPLAY",
                       "a dead-letter message was not acknowledged");
            b->n_total = b->parts[0].n + b->parts[1].n;
            r->staged = b->n_total > 0;
            work |= taken > 0;
        }
    }
    /* Send the staged batch now unless the next step reads (and overlaps it). */
    bool next_reads = read && !r->done && r->conf.rate <= 0 &&
                      r->count + r->staged < REPLAY_WINDOW && !sc_lifecycle_stopping();
    if (r->staged && !next_reads) {
        (void)replay_launch(r);
        work = 1;
    }
    if (r->done && r->count == 0 && !r->staged && !r->finished_log) {
        r->finished_log = true;
        sc_log(SC_LOG_INFO, "REPLAY", "replay finished: %lld lines", r->lines);
    }
    return work;
}
