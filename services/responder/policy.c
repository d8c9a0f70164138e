/* Send outcome and retry timing rules. */
#include "policy.h"

enum send_verdict responder_verdict(bool transport_ok, long http_status)
{
    if (!transport_ok)
        return SEND_VERDICT_RETRY;
    if (http_status >= 200 && http_status < 300)
        return SEND_VERDICT_SENT;
    if (http_status == 408 || http_status == 429 || http_status >= 500)
        return SEND_VERDICT_RETRY;
    return SEND_VERDICT_FAILED;
}

int responder_backoff_ms(int attempt, long retry_after_s)
{
    long ms = 200;
    for (int i = 1; i < attempt && ms < 10000; i++)
        ms *= 2;
    if (ms > 10000)
        ms = 10000;
    if (retry_after_s >= 0) {
        long ra = retry_after_s > 60 ? 60000 : retry_after_s * 1000;
        if (ra > ms)
            ms = ra;
    }
    return (int)ms;
}
