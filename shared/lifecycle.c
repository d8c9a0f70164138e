/* Process lifecycle: signal handlers that do nothing but set lock-free atomic flags (read
 * by the main loop), the monotonic and wall clocks, the fixed "ready" line, and RFC 3339
 * time formatting and parsing (also X's legacy "Wed Oct 10 20:19:24 +0000 2018" form). */
#include "lifecycle.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "signal flags need lock-free atomic int");

static atomic_int sc_lifecycle_stop_flag;
static atomic_int sc_lifecycle_reload_flag;

/* ---- signals
 * ---------------------------------------------------------------------------- */

static void sc_lifecycle_on_stop(int sig)
{
    (void)sig;
    atomic_store(&sc_lifecycle_stop_flag, 1);
}

static void sc_lifecycle_on_reload(int sig)
{
    (void)sig;
    atomic_store(&sc_lifecycle_reload_flag, 1);
}

static void sc_lifecycle_handle(int sig, void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(sig, &sa, NULL) != 0)
        sc_log(SC_LOG_ERR, "MAIN", "sigaction(%d) failed", sig);
}

void sc_lifecycle_install(void)
{
    sc_lifecycle_handle(SIGTERM, sc_lifecycle_on_stop);
    sc_lifecycle_handle(SIGINT, sc_lifecycle_on_stop);
    sc_lifecycle_handle(SIGHUP, sc_lifecycle_on_reload);
    sc_lifecycle_handle(SIGPIPE, SIG_IGN);
}

bool sc_lifecycle_stopping(void)
{
    return atomic_load(&sc_lifecycle_stop_flag) != 0;
}

void sc_lifecycle_request_stop(void)
{
    atomic_store(&sc_lifecycle_stop_flag, 1);
}

bool sc_lifecycle_take_reload(void)
{
    return atomic_exchange(&sc_lifecycle_reload_flag, 0) != 0;
}

void sc_lifecycle_ready(const char *service, int http_port)
{
    static const char prefix[] = "socialcare-";
    sc_log(SC_LOG_INFO, "MAIN", "ready port=%d", http_port);
    /* Accept both "ingestor" and "socialcare-ingestor". */
    bool prefixed = !strncmp(service, prefix, sizeof(prefix) - 1);
    printf("%s%s ready port=%d\n", prefixed ? "" : prefix, service, http_port);
    fflush(stdout);
}

/* ---- clocks
 * ----------------------------------------------------------------------------- */

static int64_t sc_lifecycle_clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sc_now_ms(void)
{
    return sc_lifecycle_clock_ms(CLOCK_MONOTONIC);
}

int64_t sc_wall_ms(void)
{
    return sc_lifecycle_clock_ms(CLOCK_REALTIME);
}

/* ---- time text
 * -------------------------------------------------------------------------- */

char *sc_format_time(int64_t wall_ms, char *buf, size_t size)
{
    /* Floor division, so times before 1970 still get a fraction in [0, 999]. */
    int64_t secs = wall_ms / 1000, ms = wall_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!size)
        return buf;
    if (!gmtime_r(&t, &tm)) {
        buf[0] = '\0';
        return buf;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
    return buf;
}

/* Reads exactly n digits at *p. */
static int sc_time_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int sc_time_expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

static int sc_time_days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* Checks the fields of tm (tm_year is the full year here) and converts them with timegm.
 */
static int sc_time_to_utc(struct tm *tm, int64_t *secs)
{
    int year = tm->tm_year;
    if (tm->tm_mon < 1 || tm->tm_mon > 12 || tm->tm_mday < 1 ||
        tm->tm_mday > sc_time_days_in_month(year, tm->tm_mon) || tm->tm_hour > 23 ||
        tm->tm_min > 59 || tm->tm_sec > 60)
        return -1;
    tm->tm_year = year - 1900;
    tm->tm_mon -= 1;
    tm->tm_isdst = 0;
    *secs = (int64_t)timegm(tm);
    return 0;
}

/* Parses "+hh:mm", "+hhmm", "-..." into seconds east of UTC. */
static int sc_time_offset(const char **p, int *offset)
{
    int sign = **p == '+' ? 1 : **p == '-' ? -1 : 0;
    int hh, mm;
    if (!sign)
        return -1;
    (*p)++;
    if (sc_time_digits(p, 2, &hh))
        return -1;
    if (**p == ':')
        (*p)++;
    if (sc_time_digits(p, 2, &mm) || hh > 23 || mm > 59)
        return -1;
    *offset = sign * (hh * 3600 + mm * 60);
    return 0;
}

/* RFC 3339: 2026-11-22T07:33:29[.fff...](Z|+hh:mm|-hh:mm). */
static int sc_parse_rfc3339(const char *p, int64_t *wall_ms)
{
    struct tm tm;
    int ms = 0, offset = 0;
    memset(&tm, 0, sizeof(tm));
    if (sc_time_digits(&p, 4, &tm.tm_year) || sc_time_expect(&p, '-') ||
        sc_time_digits(&p, 2, &tm.tm_mon) || sc_time_expect(&p, '-') ||
        sc_time_digits(&p, 2, &tm.tm_mday))
        return SC_EPARSE;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return SC_EPARSE;
    p++;
    if (sc_time_digits(&p, 2, &tm.tm_hour) || sc_time_expect(&p, ':') ||
        sc_time_digits(&p, 2, &tm.tm_min) || sc_time_expect(&p, ':') ||
        sc_time_digits(&p, 2, &tm.tm_sec))
        return SC_EPARSE;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return SC_EPARSE;
        /* Milliseconds from the first three digits; further digits are truncated. */
        for (int i = 0; *p >= '0' && *p <= '9'; i++, p++)
            if (i < 3)
                ms += (*p - '0') * (i == 0 ? 100 : i == 1 ? 10 : 1);
    }
    if (*p == 'Z' || *p == 'z')
        p++;
    else if (sc_time_offset(&p, &offset))
        return SC_EPARSE;
    if (*p)
        return SC_EPARSE;
    int64_t secs;
    if (sc_time_to_utc(&tm, &secs))
        return SC_EPARSE;
    *wall_ms = (secs - offset) * 1000 + ms;
    return 0;
}

static int sc_time_name(const char **p, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        if (!strncmp(*p, names[i], 3)) {
            *p += 3;
            return i;
        }
    }
    return -1;
}

/* X (Twitter) v1.1: "Wed Oct 10 20:19:24 +0000 2018". The weekday must match the date. */
static int sc_parse_legacy(const char *p, int64_t *wall_ms)
{
    static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    int offset = 0;
    memset(&tm, 0, sizeof(tm));
    int wday = sc_time_name(&p, wdays, 7);
    if (wday < 0 || sc_time_expect(&p, ' '))
        return SC_EPARSE;
    int mon = sc_time_name(&p, months, 12);
    if (mon < 0 || sc_time_expect(&p, ' '))
        return SC_EPARSE;
    tm.tm_mon = mon + 1;
    if (sc_time_digits(&p, 2, &tm.tm_mday) && sc_time_digits(&p, 1, &tm.tm_mday))
        return SC_EPARSE;
    if (sc_time_expect(&p, ' ') || sc_time_digits(&p, 2, &tm.tm_hour) ||
        sc_time_expect(&p, ':') || sc_time_digits(&p, 2, &tm.tm_min) ||
        sc_time_expect(&p, ':') || sc_time_digits(&p, 2, &tm.tm_sec) ||
        sc_time_expect(&p, ' ') || sc_time_offset(&p, &offset) ||
        sc_time_expect(&p, ' ') || sc_time_digits(&p, 4, &tm.tm_year) || *p)
        return SC_EPARSE;
    int64_t secs;
    if (sc_time_to_utc(&tm, &secs) || tm.tm_wday != wday)
        return SC_EPARSE;
    *wall_ms = (secs - offset) * 1000;
    return 0;
}

int sc_parse_time(const char *text, int64_t *wall_ms)
{
    if (!text)
        return SC_EPARSE;
    if (text[0] >= '0' && text[0] <= '9')
        return sc_parse_rfc3339(text, wall_ms);
    return sc_parse_legacy(text, wall_ms);
}
