/* Group commit: one thread batching the HTTP handlers' posts into Redis and Kafka. */
#include "commit.h"
#include "ingest.h"
#include "seen.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "lifecycle.h"
#include "log.h"
#include <stdlib.h>

#define COMMIT_WAIT_MS      2500 /* answer 503 after this (X wants an answer in 3 s) */
#define COMMIT_MAX_INFLIGHT 16   /* groups sent and not yet acknowledged */

struct commit_req {
    struct commit_post *posts;
    size_t n;
    int rc;
    bool done;
    pthread_cond_t cv; /* signalled when done (one waiter: no thundering herd) */
    struct commit_req *next;
};

struct committer {
    pthread_mutex_t mu;
    pthread_cond_t work;
    struct commit_req *head, *tail;
    bool stop;
    pthread_t thread;
    struct sc_redis *redis;
    struct sc_redis_batch *batch;
    struct sc_producer *producer;
    char *topic;
    char ttl[24];
    char *keybuf;
    size_t keybuf_cap;
    struct seen_checks checks; /* other attempts' marks met by the group being marked */
};

/* A group in flight: its requests and the delivery its sends count on. */
struct commit_group {
    struct commit_req *reqs;
    struct sc_delivery delivery;
    int rc; /* a send error, or 0 */
    int64_t sent_ms;
    char attempt[64]; /* the batch name of its marks (seen.h) */
    size_t attempt_len;
    struct commit_group *next;
};

static void committer_del_marks(struct committer *c, struct commit_req *reqs)
{
    char key[600];
    sc_redis_batch_reset(c->batch);
    for (struct commit_req *r = reqs; r; r = r->next)
        for (size_t i = 0; i < r->n; i++) {
            if (!r->posts[i].is_new)
                continue;
            int klen = snprintf(key, sizeof(key), "seen:{%s}", r->posts[i].id);
            if (klen < 0 || (size_t)klen >= sizeof(key))
                klen = (int)sizeof(key) - 1;
            const char *argv[] = {"DEL", key};
            size_t lens[] = {3, (size_t)klen};
            sc_redis_batch_add(c->batch, 2, argv, lens);
        }
    if (sc_redis_batch_count(c->batch) > 0 && sc_redis_batch_run(c->redis, c->batch) != 0)
        sc_log(SC_LOG_ERR, "DEDUP", "could not clear seen marks after a failed publish");
}

/* Confirms the pending marks of a published group with its batch record. If this fails
 * they stay pending, and a later copy of a post is published again (a duplicate the
 * consumers absorb), never lost. */
static void committer_confirm_marks(struct committer *c, struct commit_group *g)
{
    if (seen_confirm(c->redis, c->batch, g->attempt, g->attempt_len, c->ttl) != 0)
        sc_log(SC_LOG_WARNING, "DEDUP", "seen marks not confirmed; they stay pending");
}

/* Wakes the requests of a finished group with rc. */
static void committer_finish(struct committer *c, struct commit_req *reqs, int rc)
{
    pthread_mutex_lock(&c->mu);
    for (struct commit_req *r = reqs, *next; r; r = next) {
        next = r->next;
        r->rc = rc;
        r->done = true; /* r belongs to its submitter from here on */
        pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

/* Marks and sends one group. Returns the group in flight, or NULL when it already
 * finished (Redis failure, nothing new). */
static struct commit_group *committer_send(struct committer *c, struct commit_req *reqs)
{
    char key[600], attempt[64], mark[96];
    size_t alen = ingest_mark_attempt(attempt, sizeof(attempt));
    size_t item = 0;
    sc_redis_batch_reset(c->batch);
    for (struct commit_req *r = reqs; r; r = r->next) {
        for (size_t i = 0; i < r->n; i++) {
            int klen = snprintf(key, sizeof(key), "seen:{%s}", r->posts[i].id);
            if (klen < 0 || (size_t)klen >= sizeof(key))
                klen = (int)sizeof(key) - 1;
            int mlen =
                snprintf(mark, sizeof(mark), "%.*s%zu", (int)alen, attempt, item++);
            const char *argv[] = {"SET", key, mark, "NX", "EX", c->ttl, "GET"};
            size_t lens[] = {3, (size_t)klen, (size_t)mlen, 2, 2, strlen(c->ttl), 3};
            sc_redis_batch_add(c->batch, 7, argv, lens);
        }
    }
    int rc = sc_redis_batch_run(c->redis, c->batch);
    size_t idx = 0, fresh = 0;
    seen_checks_reset(&c->checks);
    for (struct commit_req *r = reqs; r && rc == 0; r = r->next)
        for (size_t i = 0; i < r->n && rc == 0; i++, idx++) {
            redisReply *rep = sc_redis_batch_reply(c->batch, idx);
            if (!rep ||
                (rep->type != REDIS_REPLY_NIL && rep->type != REDIS_REPLY_STRING)) {
                rc = SC_EIO;
                break;
            }
            size_t blen;
            enum ingest_mark v = ingest_mark_classify(rep->type == REDIS_REPLY_NIL,
                                                      rep->str, rep->len, attempt, &blen);
            r->posts[i].is_new = v == INGEST_NEW;
            if (v == INGEST_CHECK) {
                int klen = snprintf(key, sizeof(key), "seen:{%s}", r->posts[i].id);
                if (klen < 0 || (size_t)klen >= sizeof(key))
                    klen = (int)sizeof(key) - 1;
                int mlen =
                    snprintf(mark, sizeof(mark), "%.*s%zu", (int)alen, attempt, idx);
                seen_checks_add(&c->checks, idx, rep->str, blen, key, (size_t)klen, mark,
                                (size_t)mlen);
            }
        }
    if (rc == 0)
        rc = seen_resolve(c->redis, &c->checks, c->ttl);
    idx = 0;
    size_t k = 0;
    for (struct commit_req *r = reqs; r && rc == 0; r = r->next)
        for (size_t i = 0; i < r->n; i++, idx++) {
            if (k < c->checks.n && c->checks.v[k].item == idx)
                r->posts[i].is_new = !c->checks.v[k++].done;
            fresh += r->posts[i].is_new;
        }
    if (rc != 0 || fresh == 0) {
        committer_finish(c, reqs, rc);
        return NULL;
    }
    struct commit_group *g = sc_calloc(1, sizeof(*g));
    g->reqs = reqs;
    g->attempt_len = alen - 1; /* the batch name: the prefix without its separator */
    memcpy(g->attempt, attempt, g->attempt_len);
    g->sent_ms = sc_now_ms();
    for (struct commit_req *r = reqs; r && g->rc == 0; r = r->next)
        for (size_t i = 0; i < r->n && g->rc == 0; i++) {
            struct commit_post *p = &r->posts[i];
            if (p->is_new)
                g->rc = sc_producer_send(c->producer, c->topic, p->key, p->key_len,
                                         p->value, p->value_len, NULL, &g->delivery);
        }
    return g;
}

/* Completes a group whose deliveries were all reported. */
static void committer_complete(struct committer *c, struct commit_group *g)
{
    int rc = g->rc ? g->rc : (g->delivery.failed > 0 ? SC_EIO : 0);
    if (rc != 0)
        committer_del_marks(c, g->reqs);
    else
        committer_confirm_marks(c, g);
    committer_finish(c, g->reqs, rc);
    sc_free(g);
}

/* The loop: while groups are in flight it keeps taking new requests as the next group
 * (so the producer always has work and the broker connection never idles waiting for a
 * delayed ACK) and serves delivery reports; idle, it sleeps on the condition variable. */
static void *committer_main(void *opaque)
{
    struct committer *c = opaque;
    struct commit_group *inflight = NULL, **tail = &inflight;
    size_t n_inflight = 0;
    while (1) {
        pthread_mutex_lock(&c->mu);
        while (!c->head && !c->stop && n_inflight == 0)
            pthread_cond_wait(&c->work, &c->mu);
        bool stop = c->stop && !c->head && n_inflight == 0;
        struct commit_req *reqs = NULL;
        if (n_inflight < COMMIT_MAX_INFLIGHT) {
            reqs = c->head;
            c->head = c->tail = NULL;
        }
        pthread_mutex_unlock(&c->mu);
        if (stop)
            break;
        if (reqs) {
            struct commit_group *g = committer_send(c, reqs);
            if (g) {
                *tail = g;
                tail = &g->next;
                n_inflight++;
            }
        }
        sc_producer_poll(c->producer, reqs ? 0 : 1);
        /* Finish every group whose deliveries are all reported, oldest first. */
        for (struct commit_group **pp = &inflight; *pp;) {
            struct commit_group *g = *pp;
            bool timed_out = sc_now_ms() - g->sent_ms > COMMIT_WAIT_MS;
            if (g->delivery.pending > 0 && !timed_out) {
                pp = &g->next;
                continue;
            }
            if (g->delivery.pending > 0) {
                /* Give up on this group (its sends still point at g: keep it). */
                if (g->rc == 0) {
                    g->rc = SC_ETIMEDOUT;
                    committer_del_marks(c, g->reqs);
                    committer_finish(c, g->reqs, SC_ETIMEDOUT);
                    g->reqs = NULL;
                }
                pp = &g->next;
                continue;
            }
            *pp = g->next;
            n_inflight--;
            if (g->reqs)
                committer_complete(c, g);
            else
                sc_free(g);
        }
        tail = &inflight;
        while (*tail)
            tail = &(*tail)->next;
    }
    return NULL;
}

struct committer *committer_new(struct sc_redis *redis, struct sc_producer *producer,
                                const char *topic, long long dedup_ttl_s)
{
    struct committer *c = sc_calloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->work, NULL);
    c->redis = redis;
    c->producer = producer;
    c->batch = sc_redis_batch_new();
    c->topic = sc_strdup(topic);
    snprintf(c->ttl, sizeof(c->ttl), "%lld", dedup_ttl_s);
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
        sc_log(SC_LOG_CRIT, "COMMIT", "cannot start the committer thread");
        abort();
    }
    return c;
}

void committer_free(struct committer *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->work);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->work);
    pthread_mutex_destroy(&c->mu);
    sc_redis_batch_free(c->batch);
    seen_checks_free(&c->checks);
    sc_redis_free(c->redis);
    sc_producer_free(c->producer, 5000);
    sc_free(c->topic);
    sc_free(c);
}

int committer_submit(struct committer *c, struct commit_post *posts, size_t n)
{
    if (n == 0)
        return 0;
    struct commit_req req = {.posts = posts, .n = n};
    pthread_cond_init(&req.cv, NULL);
    pthread_mutex_lock(&c->mu);
    if (c->stop) {
        pthread_mutex_unlock(&c->mu);
        pthread_cond_destroy(&req.cv);
        return SC_ESTATE;
    }
    if (c->tail)
        c->tail->next = &req;
    else
        c->head = &req;
    c->tail = &req;
    pthread_cond_signal(&c->work);
    while (!req.done)
        pthread_cond_wait(&req.cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    pthread_cond_destroy(&req.cv);
    return req.rc;
}
