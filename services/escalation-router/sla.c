/* Business-hours arithmetic for SLA clocks. The C library converts between UTC and local
 * time only for the process-wide TZ, so conversions switch TZ under a lock; the loops
 * walk local days, so daylight-saving days have their true length. */
#include "sla.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

struct tz_saved {
    int unused;
};

/* Switches TZ only when it differs: glibc re-reads the zone file whenever TZ changes, so
 * TZ is left at the last zone used (the service formats its own times in UTC). */
static void tz_enter(const char *tz, struct tz_saved *s)
{
    (void)s;
    pthread_mutex_lock(&tz_lock);
    const char *want = tz && *tz ? tz : "UTC";
    const char *cur = getenv("TZ");
    if (!cur || strcmp(cur, want) != 0) {
        setenv("TZ", want, 1);
        tzset();
    }
}

static void tz_leave(struct tz_saved *s)
{
    (void)s;
    pthread_mutex_unlock(&tz_lock);
}

/* Local time at minute `minutes` of the local day of tm (mktime normalises 24:00). */
static int64_t local_at(const struct tm *day, int minutes)
{
    struct tm t = *day;
    t.tm_hour = minutes / 60;
    t.tm_min = minutes % 60;
    t.tm_sec = 0;
    t.tm_isdst = -1;
    return (int64_t)mktime(&t) * 1000;
}

int64_t router_sla_due(const struct router_hours *h, int64_t start_ms, int64_t budget_ms)
{
    if (h->always || h->days == 0)
        return start_ms + budget_ms;
    struct tz_saved saved;
    tz_enter(h->timezone, &saved);
    int64_t t = start_ms, due = -1;
    for (int guard = 0; guard < 3700 && due < 0; guard++) {
        time_t secs = (time_t)(t / 1000);
        struct tm tm;
        localtime_r(&secs, &tm);
        if (h->days & (1u << tm.tm_wday)) {
            int64_t open = local_at(&tm, h->open_min);
            int64_t close = local_at(&tm, h->close_min);
            if (t < close) {
                int64_t s = t > open ? t : open;
                if (budget_ms <= close - s)
                    due = s + budget_ms;
                else
                    budget_ms -= close - s;
            }
        }
        tm.tm_mday += 1; /* next local midnight */
        t = local_at(&tm, 0);
    }
    tz_leave(&saved);
    return due >= 0 ? due : start_ms + budget_ms;
}

int router_sla_open(const struct router_hours *h, int64_t t_ms)
{
    if (h->always)
        return 1;
    struct tz_saved saved;
    tz_enter(h->timezone, &saved);
    time_t secs = (time_t)(t_ms / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);
    int open = (h->days & (1u << tm.tm_wday)) && t_ms >= local_at(&tm, h->open_min) &&
               t_ms < local_at(&tm, h->close_min);
    tz_leave(&saved);
    return open;
}
