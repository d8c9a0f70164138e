/* Department webhooks: a queue of JSON (or Slack-compatible) notifications sent over
 * libcurl multi, HMAC-SHA256 signed, retried with exponential backoff, driven from the
 * router's loop by webhook_pump (never blocking on HTTP: each call does only the socket
 * work that is ready). Each endpoint backs off on its own, so a failing endpoint does not
 * hold up other departments.
 *
 * Persisted queue (opts.redis set): notifications are added to the Redis stream
 * hooks:queue (webhooks_persist_add, pipelined with the batch's other writes), read by
 * this instance through the consumer group "router" (XREADGROUP, at most every second or
 * after a local add, never blocking), acknowledged and deleted after delivery (XACK,
 * XDEL), and after max_attempts moved to the stream hooks:dead with the reason (counted
 * as "dead"). Entries another instance (or this one before a crash) read but never
 * acknowledged are claimed after claim_idle_ms (XAUTOCLAIM). Delivery is at-least-once:
 * every request carries X-Socialcare-Delivery: <stream entry id>, the same on every
 * attempt and after a claim, for the receiver to de-duplicate. Without opts.redis the
 * queue is in memory only (notifications queued at shutdown are logged as dropped).
 *
 * Signature: header X-Socialcare-Signature: sha256=<hex HMAC-SHA256(secret,
 * "<timestamp>.<body>")> with X-Socialcare-Timestamp: <unix seconds>. */
#ifndef ROUTER_WEBHOOK_H
#define ROUTER_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "redis.h"

struct webhooks;

struct webhook_opts {
    int timeout_ms;     /* per attempt */
    int max_attempts;   /* then the notification is dropped (counted) */
    int backoff_min_ms; /* doubled per failure, capped at backoff_max_ms */
    int backoff_max_ms;
    size_t max_queue;           /* beyond it, new notifications are dropped (counted) */
    int max_in_flight;          /* transfers at once */
    struct sc_metrics *metrics; /* socialcare_router_webhooks_total{department,outcome} */
    struct sc_redis *redis;     /* persisted queue; NULL: in memory */
    int64_t claim_idle_ms;      /* claim entries pending that long elsewhere */
    /* the signing secret of a persisted notification's (department, url), NULL: none */
    const char *(*secret_for)(void *ud, const char *department, const char *url);
    void *secret_ud;
};

#define WEBHOOK_STREAM      "hooks:queue"
#define WEBHOOK_DEAD_STREAM "hooks:dead"
#define WEBHOOK_GROUP       "router"

/* @brief Adds the XADD of one notification to hooks:queue to batch (persisted queue);
 *        webhooks_poke then makes the next pump read it. */
void webhooks_persist_add(struct sc_redis_batch *batch, const char *department,
                          const char *url, const char *body, size_t len);

/* @brief Tells the queue that notifications were added to the stream. */
void webhooks_poke(struct webhooks *wh);

struct webhooks *webhooks_new(const struct webhook_opts *opts);
void webhooks_free(struct webhooks *wh);

/* @brief Starts due transfers and completes finished ones without blocking.
 * @returns 1 when work is still queued or in flight, else 0. */
int webhooks_pump(struct webhooks *wh);

/* @brief Notifications queued or in flight. */
size_t webhooks_pending(const struct webhooks *wh);

/* @brief Writes "sha256=<hex>" of HMAC-SHA256(secret, ts "." body) into out (>= 72
 * bytes). */
void webhook_signature(const char *secret, long long ts, const char *body, size_t len,
                       char *out, size_t out_size);

#endif
