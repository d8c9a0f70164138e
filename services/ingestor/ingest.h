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

#endif
