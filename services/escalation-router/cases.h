/* Cases in Redis: one per customer conversation, updated atomically by Lua scripts so
 * that each post is applied once. The script records, per post, the result it produced,
 * so a redelivered post yields the same outputs again (downstream consumers de-duplicate
 * by id).
 *
 * Lifecycle: new (opened by a post) -> open (a follow-up, or an agent took it) ->
 * waiting_for_customer (an agent's reply was delivered) -> open (the customer wrote
 * again) ... -> resolved (API). A complaint within the reopen window after resolution
 * reopens the same case; any other post after resolution opens a new case, which goes to
 * the agent who helped before when that agent is available.
 *
 * Keys (customer key in the hash tag, so they work on Redis Cluster):
 *   case:{<customer>}          hash: case_id status department priority opened_at
 *       updated_at resolved_at posts last_post last_intent trend acked thanked
 *       ack_day ack_count due pending agent last_agent reopened incident
 * first_response_at case:{<customer>}:posts    hash: post id -> applied result (see
 * case_result) case:{<customer>}:history  list: the last posts (JSON: post_id intent
 * sentiment score at), newest last; trimmed to last_posts whenever it grows past twice
 * that The keys expire 30 days after the last activity (the TTL is refreshed at most
 * every 15 days, tracked in the exp_at field). Global indexes, written by separate
 * commands (not inside the per-customer scripts): cases:due     zset customer -> SLA due
 * ms of every unresolved case (the case list) sla:pending   zset customer -> SLA due ms
 * of cases waiting for our response agents:available  set of agent ids who take returning
 * customers */
#ifndef ROUTER_CASES_H
#define ROUTER_CASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis.h"

extern struct sc_redis_script router_case_apply_script;
extern struct sc_redis_script router_case_delivered_script;
extern struct sc_redis_script router_case_assign_script;
extern struct sc_redis_script router_case_resolve_script;
extern struct sc_redis_script router_case_breach_script;

/* What kind of automatic message the script granted. */
enum case_ack {
    CASE_ACK_NONE = 0,
    CASE_ACK_CASE = 1,    /* acknowledgement of the case */
    CASE_ACK_THANKS = 2,  /* thanks for praise */
    CASE_ACK_INCIDENT = 3 /* the incident's acknowledgement */
};

/* The outcome of applying one post to its case. */
struct case_result {
    char case_id[160];
    bool opened;      /* this post opened (or reopened) the case */
    bool reopened;    /* ... by reopening a resolved case */
    char priority[8]; /* the case's priority after the post */
    enum case_ack ack;
    char status[32];
    long long due_ms;   /* SLA due of the case's next response */
    bool pending;       /* waiting for our response (SLA clock running) */
    char agent[64];     /* assigned agent, or "" */
    char preferred[64]; /* agent who helped before (new case of a returning customer) */
    char skipped[16];   /* why a wanted acknowledgement was not granted: quiet, cap */
    bool reindex;       /* the SLA due or pending state changed: update the indexes */
};

/* Everything the apply script needs about one post. */
struct case_apply {
    const char *customer;
    const char *post_id;
    const char *department;
    const char *priority; /* "P1".."P4" */
    const char *intent;
    bool complaint;    /* complaint, bug report or crisis: reopens a resolved case */
    enum case_ack ack; /* wanted: NONE, CASE or THANKS (CASE becomes INCIDENT when
                          incident is set) */
    bool quiet;        /* quiet mode: no automatic message */
    int daily_cap;
    long long now_ms;
    long long due_ms; /* SLA due if the clock starts now */
    long long reopen_window_ms;
    int last_posts;
    const char *history;  /* JSON entry for the history list */
    double score;         /* sentiment score for the trend */
    const char *incident; /* open incident id for the post's topic, or "" */
};

/* @brief Parses the script's result text
 *        "case_id|opened|priority|ack|status|due|pending|agent|reopened|skipped|preferred|
 *        reindex".
 * @returns 0 or SC_EPARSE. */
int router_case_result_parse(const char *text, size_t len,
                             struct case_result *out) SC_WUR;

/* @brief Adds the apply script for one post to a pipelined batch. */
void router_case_apply_add(struct sc_redis_batch *batch, const struct case_apply *a);

/* @brief Adds the delivery script for a delivered reply of a case. auto_reply: an
 *        automatic message (it counts as first response but does not stop the SLA
 *        clock). The script returns an array {first_ms, stopped}: first_ms is the
 *        first-response time when this delivery is the case's first sent reply, else -1;
 *        stopped is 1 when it stopped the SLA clock (an agent's reply was sent). */
void router_case_delivered_add(struct sc_redis_batch *batch, const char *customer,
                               const char *case_id, const char *status, bool auto_reply,
                               long long now_ms);

#endif
