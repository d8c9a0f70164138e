/* Spikes -> incidents. Complaints (complaints, bug reports, crises) are counted per topic
 * in time buckets in Redis (spike:{<topic>}); finished buckets teach a baseline (an
 * exponentially weighted mean per bucket, frozen while an incident is open). When the
 * sliding window (the last N buckets) holds at least min_count complaints and at least
 * factor x the baseline's window, one incident opens for the topic: the cases of its
 * complaints are linked to it, the owning department is notified once, and linked
 * customers get the incident's acknowledgement instead of the generic one. Resolving the
 * incident (API) sends every linked customer a follow-up.
 *
 * Recurring phrases (phrases.h) are counted in the same script call per (topic, phrase)
 * and open their own incident (field `phrase` of the record) when one phrase spikes
 * inside an otherwise steady topic; see the script's comment in incidents.c.
 *
 * Keys: spike:{<topic>} hash (b<bucket> counts, last, baseline, seen, incident,
 * p<phrase hash> open phrase incidents); spike:{<topic>}:p<bucket> hash (phrase hash ->
 * count, TTL (window + history + 2) buckets);
 * incident:{<id>} hash (id topic department status opened_at resolved_at window baseline
 * posts, and phrase for a phrase incident); incident:{<id>}:cases set of customers;
 * incidents zset id -> opened_at. */
#ifndef ROUTER_INCIDENTS_H
#define ROUTER_INCIDENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis.h"
#include "rules.h"

extern struct sc_redis_script router_spike_script;

/* The key phrases of a batch's complaints about one topic (see phrases.h). */
struct spike_phrases {
    const uint64_t *hash;   /* n phrase hashes */
    const long long *count; /* how many complaints of the batch carry each */
    size_t n;
    const char *const *groups; /* per post with two or more phrases: "i,j,k", the
                                  1-based indexes of its phrases */
    size_t n_groups;
};

/* @brief Adds the spike script for `count` complaints about topic at now_ms, with the
 *        batch's phrases of that topic (ph may be NULL); the reply is {incident id or
 *        "", opened 0/1, window count, baseline text} followed, for each phrase with an
 *        open incident, by {index (1-based), incident id, opened 0/1, window, baseline
 *        per bucket text} (window and baseline 0 unless checked in this call). */
void router_spike_add(struct sc_redis_batch *batch, const struct router_rules *rules,
                      const char *topic, long long count, long long now_ms,
                      const struct spike_phrases *ph);

/* The parsed reply of the spike script. */
struct spike_result {
    char incident[128]; /* "" when none is open */
    bool opened;        /* this call opened it */
    long long window;
    double baseline;
};

/* @brief Parses a spike script reply. @returns 0 or SC_EPARSE. */
int router_spike_parse(const redisReply *reply, struct spike_result *out) SC_WUR;

/* @brief Parses the phrase part of a spike script reply into out[0..n) (indexed like
 *        the phrases passed; "" incident when none). @returns 0 or SC_EPARSE. */
int router_spike_parse_phrases(const redisReply *reply, struct spike_result *out,
                               size_t n) SC_WUR;

/* @brief Pure decision used by the script (documented and unit-tested in C): true when
 *        a window count is a spike over the baseline (per bucket). */
bool router_spike_detect(long long window, double baseline, int buckets, double factor,
                         long long min_count, bool learned);

#endif
