/* Cases in Redis: one per customer conversation, updated atomically by Lua scripts so
 * that each post is applied once. The script records, per post, the result it produced,
 * so a redelivered post yields the same outputs again (downstream consumers de-duplicate
 * by id).
 *
 * Keys (customer key in the hash tag, so they work on Redis Cluster):
 *   case:{<customer>}        hash: case_id status department priority opened_at
 * updated_at posts last_post last_intent acked first_response_at case:{<customer>}:posts
 * hash: post id -> applied result "case_id|opened|priority|ack|status"
 */
#ifndef ROUTER_CASES_H
#define ROUTER_CASES_H

#include <stdbool.h>
#include <stddef.h>

#include "redis.h"

extern struct sc_redis_script router_case_apply_script;
extern struct sc_redis_script router_case_delivered_script;

/* The outcome of applying one post to its case. */
struct case_result {
    char case_id[160];
    bool opened;      /* this post opened (or reopened) the case */
    char priority[8]; /* the case's priority after the post */
    bool acknowledge; /* send the acknowledgement for this post */
    char status[32];
};

/* @brief Parses the script's result text "case_id|opened|priority|ack|status".
 * @returns 0 or SC_EPARSE. */
int router_case_result_parse(const char *text, size_t len,
                             struct case_result *out) SC_WUR;

/* @brief Adds the apply script for one post to a pipelined batch: keys case:{customer},
 *        case:{customer}:posts. */
void router_case_apply_add(struct sc_redis_batch *batch, const char *customer,
                           const char *post_id, const char *department,
                           const char *priority, const char *intent, bool wants_ack,
                           long long now_ms);

/* @brief Adds the delivery script (first response, waiting for customer) for a delivered
 *        reply of a case to the batch. */
void router_case_delivered_add(struct sc_redis_batch *batch, const char *customer,
                               const char *case_id, const char *status, long long now_ms);

#endif
