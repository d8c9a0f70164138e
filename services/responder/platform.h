/* The responder's platform client: sends many replies at once with libcurl multi, each as
 * a JSON POST with an Idempotency-Key header, and records status, platform post id and
 * errors. In this build every platform is reached through one configurable HTTP endpoint.
 */
#ifndef RESPONDER_PLATFORM_H
#define RESPONDER_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

struct platform_send {
    /* Filled by the caller. */
    const char *idempotency_key; /* the reply id */
    char *body;                  /* JSON request body (borrowed) */
    /* Filled by platform_send_round. */
    int attempts;
    enum send_verdict verdict;
    long http_status;
    long retry_after_s; /* -1 when absent */
    char platform_post_id[128];
    char error[160];
    bool done; /* SENT or FAILED: no more attempts */
};

struct platform_client;

/* @brief Creates a client posting to url with a per-request timeout, keeping at most
 *        max_connections connections to the host (further sends queue inside libcurl).
 * @returns a new client. */
struct platform_client *platform_client_new(const char *url, long timeout_ms,
                                            long max_connections);
void platform_client_free(struct platform_client *client);

/* @brief One round: every send not yet done is attempted once, concurrently; each
 * attempted send has its attempts incremented and its verdict set. */
void platform_send_round(struct platform_client *client, struct platform_send *sends,
                         size_t n);

#endif
