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
 * Keys (customer key in the hash tag, so each works on Redis Cluster):
 *
 *     case:{<customer>}          hash: case_id status department priority opened_at
 *                                updated_at resolved_at posts last_post last_intent
 *                                trend acked thanked ack_day ack_count due pending agent
 *                                last_agent reopened incident first_response_at exp_at
 *     case:{<customer>}:posts    hash: post id -> applied result (see case_result)
 *     case:{<customer>}:history  list: the last posts (JSON: post_id intent sentiment
 *                                score at, and region when the post had one), newest
 *                                last; trimmed to last_posts whenever it grows past twice
 *                                that
 *
 * The keys expire 30 days after the last activity (the TTL is refreshed at most every 15
 * days, tracked in the exp_at field). One apply call takes a chunk of up to 16 posts of
 * different customers: on Redis Cluster a chunk would have to hold customers of one hash
 * slot (not done: sc_redis talks to one node). Global indexes, written by separate
 * variadic commands once per batch (not inside the per-customer scripts):
 *
 *     cases:due         zset customer -> SLA due ms of every unresolved case (case list)
 *     sla:pending       zset customer -> SLA due ms of cases waiting for our response
 *     agents:available  set of agent ids who take returning customers */
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

/* Posts collected for one call of the apply script (reused between chunks). */
#define CASE_CHUNK_FIELDS 14 /* strings per post: 3 keys, 11 arguments */
struct case_chunk {
    size_t n;  /* posts added since the last flush */
    char *buf; /* the strings */
    size_t used, cap;
    size_t *off, *len; /* per post CASE_CHUNK_FIELDS strings in buf */
    size_t fcap;
    const char **argv; /* assembled at flush */
    size_t *lens;
    size_t vcap;
    char common[6][32]; /* the batch-wide arguments, from the chunk's first post */
};

/* @brief Adds one post to the chunk (zero-initialise the chunk before first use). The
 *        batch-wide fields of a (daily cap, now, reopen window, last posts) are taken
 *        from the chunk's first post. */
void case_chunk_add(struct case_chunk *c, const struct case_apply *a);

/* @brief Appends one EVALSHA of the apply script for the posts added since the last
 *        flush to batch; its reply is an array with one result text per post, in order.
 * @returns the number of posts flushed (0: nothing appended). */
size_t case_chunk_flush(struct case_chunk *c, struct sc_redis_batch *batch);

void case_chunk_free(struct case_chunk *c);

/* Delivery receipts collected for one call of the delivery script (reused). */
#define DELIVERED_CHUNK_FIELDS 4 /* strings per receipt: the key, 3 arguments */
struct delivered_chunk {
    size_t n; /* receipts added since the last flush */
    char *buf;
    size_t used, cap;
    size_t *off, *len;
    size_t fcap;
    const char **argv;
    size_t *lens;
    size_t vcap;
    char now[32]; /* from the chunk's first receipt */
};

/* @brief Adds the receipt of a delivered reply of a case to the chunk (zero-initialise
 *        the chunk before first use). auto_reply: an automatic message (it counts as
 *        first response but does not stop the SLA clock). now_ms is taken from the
 *        chunk's first receipt. */
void delivered_chunk_add(struct delivered_chunk *c, const char *customer,
                         const char *case_id, const char *status, bool auto_reply,
                         long long now_ms);

/* @brief Appends one EVALSHA of the delivery script for the receipts added since the
 *        last flush to batch; its reply is an array of 2 integers per receipt, in order:
 *        first_ms (the first-response time when this delivery is the case's first sent
 *        reply, else -1) and stopped (1 when it stopped the SLA clock: an agent's reply
 *        was sent). @returns the number of receipts flushed (0: nothing appended). */
size_t delivered_chunk_flush(struct delivered_chunk *c, struct sc_redis_batch *batch);

void delivered_chunk_free(struct delivered_chunk *c);

#endif
