/* The polling adapter: several sources polled concurrently with one libcurl multi handle
 * on the caller's thread. Each source's cursor is read from Redis (cursor:{<name>})
 * before its first request and written after each page's posts were published through the
 * caller's publish callback; a failed publish or cursor write re-fetches the same page
 * later (dedup absorbs the overlap). Rate-limit headers and 429 delay the source until
 * the reset time; 5xx and transport errors back off exponentially (up to 5 minutes). */
#ifndef INGESTOR_POLLER_H
#define INGESTOR_POLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "metrics.h"
#include "poll.h"
#include "redis.h"

/* Publishes posts (validated by the callee); returns 0 once Kafka acknowledged them. */
typedef int (*ingest_publish_fn)(void *opaque, const char *source, json_t *posts);

struct ingest_poller;

struct ingest_source_conf {
    const char *name; /* unique; the Redis cursor key is cursor:{<name>} */
    enum ingest_poll_kind kind;
    const char *base;  /* https://mastodon.example (no trailing slash) */
    const char *token; /* Bearer token */
    const char *arg;   /* X user id, or the search term / query */
    const char
        *own_id; /* the brand's own account id (its posts are skipped); may be NULL */
    int page_size;
    int interval_ms; /* pause after a caught-up source */
    /* Bluesky: log in with com.atproto.server.createSession (identifier + app password)
     * before the first request and again when the access token expired (401); the
     * session's accessJwt then replaces token. Both NULL = use token as is. */
    const char *login_id;
    const char *login_password;
};

/* @brief Creates a poller; redis is the caller's thread's connection (borrowed).
 * posts_metric (may be NULL) counts requests as {source,outcome}. */
struct ingest_poller *ingest_poller_new(struct sc_redis *redis, ingest_publish_fn publish,
                                        void *opaque, struct sc_metric *requests_metric);
void ingest_poller_free(struct ingest_poller *poller);

/* @brief Adds a source (strings copied). */
void ingest_poller_add(struct ingest_poller *poller,
                       const struct ingest_source_conf *conf);

/* @brief Number of sources. */
size_t ingest_poller_count(const struct ingest_poller *poller);

/* @brief Starts due requests, runs transfers for up to wait_ms, handles finished ones.
 * @returns 1 when a page was handled (work done), 0 otherwise. */
int ingest_poller_step(struct ingest_poller *poller, int wait_ms);

#endif
