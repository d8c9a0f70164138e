/* The escalation router's shared state between its main loop (main.c) and its case API
 * (api.c, on the HTTP thread): the current routing rules (swapped atomically on reload;
 * retired sets live until exit, so a reader never sees freed rules), the producer, topic
 * names and the API's own Redis connection. */
#ifndef ROUTER_ROUTER_H
#define ROUTER_ROUTER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "http.h"
#include "kafka.h"
#include "metrics.h"
#include "redis.h"
#include "rules.h"

struct router_api {
    _Atomic(struct router_rules *) *rules; /* the main loop's current rules */
    struct sc_redis *redis;                /* the HTTP thread's connection */
    struct sc_producer *producer;          /* thread-safe */
    const char *token;                     /* bearer token; NULL/"" disables the API */
    const char *topic_replies_outbound;
};

/* @brief Registers the case API routes on http (before it starts). @returns 0 or
 * SC_EINVAL. */
int router_api_register(struct sc_http *http, struct router_api *api) SC_WUR;

/* @brief Writes quiet mode: scope "global" or a region, until end_ms (0 = off).
 * @returns 0 or SC_EIO. Shared contract with the responder: keys quiet:global and
 * quiet:region:<region> hold the end time in ms as a string, with a TTL to it. */
int router_quiet_set(struct sc_redis *redis, const char *region, long long end_ms,
                     long long now_ms) SC_WUR;

/* @brief True when the stored end time text means quiet at now_ms. */
bool router_quiet_active(const char *value, long long now_ms);

#endif
