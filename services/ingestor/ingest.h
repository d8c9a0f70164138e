/* The ingestor's decisions over data: normalising a validated post before it is published
 * (schema version, receive time) and the Redis keys it uses. Pure functions. */
#ifndef INGESTOR_INGEST_H
#define INGESTOR_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* @brief Sets "v" to 1 and "received_at" to now (RFC 3339, ms) when absent. */
void ingest_normalise(json_t *post, int64_t now_wall_ms);

/* @brief Writes the dedup key "seen:{<id>}" into buf. @returns its length, or -1 if too
 * small. The id is in the hash tag so the key shards like the post on Redis Cluster. */
int ingest_seen_key(const char *id, char *buf, size_t size);

/* @brief Whether the top-level object of VALID JSON text buf[0..len) has the keys "v"
 * and "received_at" (a linear scan that skips strings and nested values), so the replay
 * can splice the missing ones into the original bytes instead of re-serialising. */
void ingest_top_keys(const char *buf, size_t len, bool *has_v, bool *has_received_at);

/* Dedup marks are two-phase, confirmed per batch: `SET seen:{id} <batch>/<i> NX EX ttl
 * GET` marks a post as pending before it is published, naming its marking attempt
 * ("batch", e.g. "p.<pid>.<n>"), and once Kafka acknowledged the batch one record `SET
 * seen:batch:{<batch>} 1 EX ttl` confirms every mark of it (instead of one SET per post).
 * A reader that finds another attempt's pending mark asks for that attempt's record: with
 * it the post is a duplicate; without it (the attempt failed part-way, or its process
 * died before the acknowledgement) the post is published again — a possible duplicate
 * downstream, which consumers absorb, never a loss. The record is written after the marks
 * with the same TTL, so it outlives them. Marks of the older format ("1" confirmed, a
 * pending value without '/') are still understood. */
#define INGEST_MARK_PENDING "p."
#define INGEST_MARK_DONE    "1"
#define INGEST_MARK_SEP     '/'

/* @brief Writes a prefix unique to one marking attempt ("p.<pid>.<n>/") into buf (>= 48
 *        bytes): the attempt's batch name followed by INGEST_MARK_SEP. @returns its
 *        length. Thread-safe. */
size_t ingest_mark_attempt(char *buf, size_t size);

enum ingest_mark {
    INGEST_NEW = 0,       /* publish it */
    INGEST_DUPLICATE = 1, /* drop it */
    INGEST_CHECK = 2      /* another attempt's pending mark: its batch record decides */
};

/* @brief Classifies the old value the marking SET ... GET returned: none (is_nil) is
 *        INGEST_NEW; a pending mark of this attempt (own_prefix, may be NULL: the same id
 *        twice in one batch), a confirmed mark or any other value is INGEST_DUPLICATE;
 *        another attempt's pending mark is INGEST_CHECK, with *batch_len the length of
 * the batch name at the start of old (0 for an older pending mark without one: no record
 * to ask, the post is new). A post published after an INGEST_CHECK must have its mark
 *        pointed at the publishing attempt (seen.h), or its batch record would not cover
 *        it. */
enum ingest_mark ingest_mark_classify(bool is_nil, const char *old, size_t old_len,
                                      const char *own_prefix, size_t *batch_len);

/* @brief Writes the batch record key "seen:batch:{<batch>}" into buf. @returns its
 *        length, or -1 if too small. */
int ingest_batch_key(const char *batch, size_t batch_len, char *buf, size_t size);

#endif
