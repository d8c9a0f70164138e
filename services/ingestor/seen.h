/* The Redis side of the batch-confirmed dedup marks (ingest.h): asking the batch records
 * that decide other attempts' pending marks, and writing a batch's record once Kafka
 * acknowledged it. Thin adapters over sc_redis; the decisions are in ingest.c. */
#ifndef INGESTOR_SEEN_H
#define INGESTOR_SEEN_H

#include <stdbool.h>
#include <stddef.h>

#include "redis.h"

/* The posts of a marking round trip whose old value was another attempt's pending mark
 * (reused between rounds; zero-initialise before first use). */
struct seen_checks {
    struct seen_check {
        size_t item;             /* the caller's item index */
        size_t batch, batch_len; /* its batch name in buf (batch_len 0: none to ask) */
        size_t key, key_len;     /* the post's seen key in buf */
        size_t value, value_len; /* this attempt's mark value in buf */
        bool done;               /* out: the batch record exists: a duplicate */
    } * v;
    size_t n, cap;
    char *buf;
    size_t used, buf_cap;
};

/* @brief Records a post whose old mark value was another attempt's pending mark: the
 *        batch name it carries (batch_len 0 for an older mark without one), the post's
 *        seen key and this attempt's mark value. Everything is copied. */
void seen_checks_add(struct seen_checks *c, size_t item, const char *batch,
                     size_t batch_len, const char *key, size_t key_len, const char *value,
                     size_t value_len);

/* @brief Decides the recorded posts: asks whether each batch record exists (one
 *        pipelined round trip, one EXISTS per run of equal names) and sets done; then
 *        points the marks of the posts that are not done at this attempt (SET key value
 *        EX ttl, one more round trip), so that this attempt's batch record confirms them
 *        once published. Does nothing when no post was recorded. Uses a batch of its
 *        own. @returns 0 or an error (nothing decided). */
int seen_resolve(struct sc_redis *redis, struct seen_checks *c, const char *ttl) SC_WUR;

/* @brief Forgets the recorded posts (keeps the memory). */
void seen_checks_reset(struct seen_checks *c);
void seen_checks_free(struct seen_checks *c);

/* @brief Confirms every mark of a batch: SET seen:batch:{<batch>} 1 EX ttl, with batch
 *        reset and reused. @returns 0 or an error (the marks stay pending: a later copy
 *        of such a post is published again, a duplicate the consumers absorb). */
int seen_confirm(struct sc_redis *redis, struct sc_redis_batch *batch, const char *name,
                 size_t len, const char *ttl) SC_WUR;

#endif
