/* Batch records of the dedup marks: resolving other attempts' pending marks, confirming
 * an acknowledged batch. */
#include "seen.h"

#include <string.h>

#include "alloc.h"
#include "ingest.h"

static size_t checks_put(struct seen_checks *c, const char *s, size_t n)
{
    if (c->used + n > c->buf_cap) {
        size_t cap = c->buf_cap ? c->buf_cap * 2 : 4096;
        while (cap < c->used + n)
            cap *= 2;
        c->buf = sc_realloc(c->buf, cap);
        c->buf_cap = cap;
    }
    size_t off = c->used;
    if (n)
        memcpy(c->buf + off, s, n);
    c->used += n;
    return off;
}

void seen_checks_add(struct seen_checks *c, size_t item, const char *batch,
                     size_t batch_len, const char *key, size_t key_len, const char *value,
                     size_t value_len)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = sc_realloc(c->v, c->cap * sizeof(*c->v));
    }
    struct seen_check *k = &c->v[c->n++];
    k->item = item;
    k->batch = checks_put(c, batch, batch_len);
    k->batch_len = batch_len;
    k->key = checks_put(c, key, key_len);
    k->key_len = key_len;
    k->value = checks_put(c, value, value_len);
    k->value_len = value_len;
    k->done = false;
}

void seen_checks_reset(struct seen_checks *c)
{
    c->n = c->used = 0;
}

void seen_checks_free(struct seen_checks *c)
{
    sc_free(c->v);
    sc_free(c->buf);
    memset(c, 0, sizeof(*c));
}

int seen_resolve(struct sc_redis *redis, struct seen_checks *c, const char *ttl)
{
    if (c->n == 0)
        return 0;
    struct sc_redis_batch *b = sc_redis_batch_new();
    char key[600];
    long *cmd = sc_malloc(c->n * sizeof(*cmd));
    size_t ncmd = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct seen_check *k = &c->v[i];
        cmd[i] = -1;
        if (k->batch_len == 0)
            continue;
        const struct seen_check *p = i > 0 ? &c->v[i - 1] : NULL;
        if (p && p->batch_len == k->batch_len &&
            memcmp(c->buf + p->batch, c->buf + k->batch, k->batch_len) == 0) {
            cmd[i] = cmd[i - 1];
            continue;
        }
        int klen = ingest_batch_key(c->buf + k->batch, k->batch_len, key, sizeof(key));
        if (klen < 0)
            continue; /* a name this long is nobody's: no record */
        const char *argv[] = {"EXISTS", key};
        size_t lens[] = {6, (size_t)klen};
        sc_redis_batch_add(b, 2, argv, lens);
        cmd[i] = (long)ncmd++;
    }
    int rc = ncmd ? sc_redis_batch_run(redis, b) : 0;
    for (size_t i = 0; i < c->n && rc == 0; i++) {
        if (cmd[i] < 0)
            continue;
        redisReply *r = sc_redis_batch_reply(b, (size_t)cmd[i]);
        if (!r || r->type != REDIS_REPLY_INTEGER)
            rc = SC_EIO;
        else
            c->v[i].done = r->integer > 0;
    }
    /* take over the marks of the posts this attempt publishes */
    sc_redis_batch_reset(b);
    for (size_t i = 0; i < c->n && rc == 0; i++) {
        const struct seen_check *k = &c->v[i];
        if (k->done)
            continue;
        const char *argv[] = {"SET", c->buf + k->key, c->buf + k->value, "EX", ttl};
        size_t lens[] = {3, k->key_len, k->value_len, 2, strlen(ttl)};
        sc_redis_batch_add(b, 5, argv, lens);
    }
    if (rc == 0 && sc_redis_batch_count(b) > 0)
        rc = sc_redis_batch_run(redis, b);
    for (size_t i = 0; i < sc_redis_batch_count(b) && rc == 0; i++) {
        redisReply *r = sc_redis_batch_reply(b, i);
        if (!r || r->type == REDIS_REPLY_ERROR)
            rc = SC_EIO;
    }
    sc_free(cmd);
    sc_redis_batch_free(b);
    return rc;
}

int seen_confirm(struct sc_redis *redis, struct sc_redis_batch *batch, const char *name,
                 size_t len, const char *ttl)
{
    char key[600];
    int klen = ingest_batch_key(name, len, key, sizeof(key));
    if (klen < 0)
        return SC_EINVAL;
    sc_redis_batch_reset(batch);
    const char *argv[] = {"SET", key, INGEST_MARK_DONE, "EX", ttl};
    size_t lens[] = {3, (size_t)klen, sizeof(INGEST_MARK_DONE) - 1, 2, strlen(ttl)};
    sc_redis_batch_add(batch, 5, argv, lens);
    int rc = sc_redis_batch_run(redis, batch);
    redisReply *r = rc == 0 ? sc_redis_batch_reply(batch, 0) : NULL;
    if (rc == 0 && (!r || r->type == REDIS_REPLY_ERROR))
        rc = SC_EIO;
    return rc;
}
