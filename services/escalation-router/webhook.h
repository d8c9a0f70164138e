/* Department webhooks: an in-memory queue of JSON (or Slack-compatible) notifications
 * sent over libcurl multi, HMAC-SHA256 signed, retried with exponential backoff, driven
 * from the router's loop by webhook_pump (never blocking: each call does only the socket
 * work that is ready). Each endpoint backs off on its own, so a failing endpoint does not
 * hold up other departments. The queue is not persisted: notifications still queued at
 * shutdown are logged as dropped.
 *
 * Signature: header X-Socialcare-Signature: sha256=<hex HMAC-SHA256(secret,
 * "<timestamp>.<body>")> with X-Socialcare-Timestamp: <unix seconds>. */
#ifndef ROUTER_WEBHOOK_H
#define ROUTER_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

struct webhooks;

struct webhook_opts {
    int timeout_ms;     /* per attempt */
    int max_attempts;   /* then the notification is dropped (counted) */
    int backoff_min_ms; /* doubled per failure, capped at backoff_max_ms */
    int backoff_max_ms;
    size_t max_queue;           /* beyond it, new notifications are dropped (counted) */
    int max_in_flight;          /* transfers at once */
    struct sc_metrics *metrics; /* socialcare_router_webhooks_total{department,outcome} */
};

struct webhooks *webhooks_new(const struct webhook_opts *opts);
void webhooks_free(struct webhooks *wh);

/* @brief Queues one notification (copies everything). secret may be NULL (unsigned).
 * @returns 0, or SC_EAGAIN when the queue is full. */
int webhooks_enqueue(struct webhooks *wh, const char *department, const char *url,
                     const char *secret, const char *body, size_t len);

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
