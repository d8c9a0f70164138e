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

/* Dedup marks are two-phase: `SET seen:{id} p.<attempt>.<i> NX EX ttl GET` marks a post
 * as pending before it is published, and `SET seen:{id} 1 XX EX ttl` confirms it once
 * Kafka acknowledged it. A pending mark left by an attempt that failed part-way (Redis
 * died after applying some SETs) must not make the retry look like a duplicate, or the
 * post is lost. */
#define INGEST_MARK_PENDING "p."
#define INGEST_MARK_DONE    "1"

/* @brief Writes a prefix unique to one marking attempt ("p.<pid>.<n>.") into buf (>= 48
 *        bytes). @returns its length. Thread-safe. */
size_t ingest_mark_attempt(char *buf, size_t size);

/* @brief Whether a post is to be published, from the old value the marking SET ... GET
 *        returned: none (is_nil) means yes; a pending mark of another attempt (one that
 *        failed part-way, or a concurrent one) means yes too — a possible duplicate
 *        downstream, which consumers absorb, never a loss; a pending mark of this attempt
 *        (own_prefix: the same id twice in one batch), a confirmed mark or any other
 * value means it is a duplicate. own_prefix may be NULL. */
bool ingest_mark_is_new(bool is_nil, const char *old, size_t old_len,
                        const char *own_prefix);

#endif
