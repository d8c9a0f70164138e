/* Rate limits shared by every responder replica, kept in Redis: a GCRA (generic cell rate
 * algorithm) bucket per platform account and per customer, checked and charged together
 * by one Lua script, and a pause per account set when the platform said "no more until
 * reset" (429, or a remaining count of 0) that every replica honours. Also the Lua
 * scripts of the deferred-reply queue and the pure parsing of the platforms' rate-limit
 * headers. */
#ifndef RESPONDER_RATELIMIT_H
#define RESPONDER_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* Decisions per call of the GCRA script (bounds the time Redis spends in one script). */
#define RATELIMIT_MAX_PER_CALL 128

/* The GCRA script: decides for several replies in one call, in order (as separate calls
 * would). KEYS: for each decision, account TAT, account pause, customer TAT. ARGV: for
 * each decision, account emission interval ms, account burst, customer interval ms,
 * customer burst, cost (the messages of the reply; the customer bucket is charged 1). An
 * interval <= 0 disables that bucket; a refused decision charges nothing. Reply: for
 * each decision {allowed 0|1, wait ms, account tokens left (-1 unknown)}, flattened.
 * Uses Redis TIME, so every replica agrees on now. */
extern const char ratelimit_gcra_lua[];

/* Sets an account's pause: KEYS: pause key; ARGV: ms from now. Keeps a later pause. */
extern const char ratelimit_pause_lua[];

/* Deferred replies: KEYS: sorted set, hash. defer ARGV: id, delay ms, data: the reply is
 * due at Redis TIME + delay. claim ARGV: lease ms, max: returns the data of up to max due
 * replies and pushes their due time lease ms ahead (another replica re-drives them if
 * this one dies before finishing). */
extern const char ratelimit_defer_lua[];
extern const char ratelimit_claim_lua[];

/* Bucket parameters (configuration). */
struct ratelimit_conf {
    bool enabled;
    double account_per_min; /* sustained sends per platform account */
    double webhook_per_min; /* the same for the generic webhook (0 = unlimited) */
    int account_burst;
    double customer_per_min; /* replies per customer */
    int customer_burst;
};

/* @brief Emission interval in ms for a rate per minute (0 when the rate is <= 0). */
double ratelimit_interval_ms(double per_min);

/* @brief Redis keys of the buckets: rl:acct:{<account>}, rl:pause:{<account>},
 * rl:cust:{<customer>}. */
void ratelimit_keys(const char *account, const char *customer, char *acct, char *pause,
                    char *cust, size_t size);

/* What a platform's answer said about its limits (-1 / 0 when absent). */
struct ratelimit_headers {
    long limit;
    long remaining;
    int64_t reset_ms;    /* absolute wall-clock time of the reset */
    long retry_after_s;  /* Retry-After in seconds (-1 none) */
    int64_t retry_at_ms; /* Retry-After as an HTTP-date: absolute time (0 none) */
};

/* @brief Clears h to "nothing known". */
void ratelimit_headers_init(struct ratelimit_headers *h);

/* @brief Takes one response header line ("Name: value\r\n") into h: X's
 * x-rate-limit-{limit,remaining,reset} (reset in epoch seconds), Mastodon's
 * X-RateLimit-{Limit,Remaining,Reset} (reset an ISO 8601 time), Bluesky's
 * RateLimit-{Limit,Remaining,Reset} (epoch seconds) and Retry-After (seconds or an
 * HTTP-date, RFC 9110). */
void ratelimit_header_line(struct ratelimit_headers *h, const char *line, size_t len);

/* @brief How long the account must pause after an answer, in ms from now_ms: until the
 * reset on 429 or when remaining is 0 (at least 1 s when the reset is unknown or past,
 * Retry-After when larger); 0 when no pause is needed. Capped at 15 minutes. */
int64_t ratelimit_pause_ms(long http_status, const struct ratelimit_headers *h,
                           int64_t now_ms);

/* @brief Retry-After in whole seconds from now_ms (an HTTP-date rounded up), or -1 when
 * the answer had none. */
long ratelimit_retry_after_s(const struct ratelimit_headers *h, int64_t now_ms);

/* @brief Parses an ISO 8601 UTC time ("2026-11-22T09:15:00.000Z", fraction optional) to
 * epoch ms. @returns the time, or -1 when malformed. */
int64_t ratelimit_parse_iso8601(const char *s);

#endif
