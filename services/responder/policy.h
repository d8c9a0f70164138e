/* The responder's decisions as pure functions: what an HTTP outcome from a platform means
 * (sent, retry later, failed for good), how long to wait before the next attempt, and
 * what a reply's outcome is before any send (already sent, held for review). */
#ifndef RESPONDER_POLICY_H
#define RESPONDER_POLICY_H

#include <stdbool.h>

enum send_verdict {
    SEND_VERDICT_SENT,  /* the platform accepted it */
    SEND_VERDICT_RETRY, /* transient: timeout, reset, 5xx, 408, 429 */
    SEND_VERDICT_FAILED /* permanent: other 4xx, or a malformed request */
};

/* @brief Verdict from a transport result (transport_ok false = timeout/reset/refused)
 * and, when transport_ok, the HTTP status. */
enum send_verdict responder_verdict(bool transport_ok, long http_status);

/* @brief Delay before attempt `attempt` (1 = the first retry): 200 ms doubling, at most
 * 10 s. A server's Retry-After (seconds, -1 when absent) wins when larger, capped at 60
 * s. */
int responder_backoff_ms(int attempt, long retry_after_s);

#endif
