/* JSON-lines logger. Each line is assembled in a fixed stack buffer (long messages are
 * cut and marked) and emitted with a single write(2). */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int sc_log_level_current = SC_LOG_INFO;
static char sc_log_service[48] = "socialcare";
static int sc_log_fd = 2;

#define SC_LOG_LINE_MAX 4096

void sc_log_init(const char *service, int level, int fd)
{
    snprintf(sc_log_service, sizeof(sc_log_service), "%s",
             service ? service : "socialcare");
    sc_log_level_current = level;
    sc_log_fd = fd;
}

static const char *const sc_log_names[] = {"emerg",   "alert",  "crit", "error",
                                           "warning", "notice", "info", "debug"};

const char *sc_log_level_name(int level)
{
    if (level < 0 || level > 7)
        return "unknown";
    return sc_log_names[level];
}

int sc_log_level_parse(const char *text)
{
    if (!text || !*text)
        return -1;
    for (int i = SC_LOG_CRIT; i <= SC_LOG_DEBUG; i++)
        if (!strcasecmp(text, sc_log_names[i]))
            return i;
    if (!strcasecmp(text, "warn"))
        return SC_LOG_WARNING;
    if (!strcasecmp(text, "err"))
        return SC_LOG_ERR;
    if (text[0] >= '2' && text[0] <= '7' && text[1] == '\0')
        return text[0] - '0';
    return -1;
}

/* Appends s to buf[*pos..cap) as JSON string content; stops (marking the cut) when full.
 */
static void sc_log_escape(char *buf, size_t *pos, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t p = *pos;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (p + 8 >= cap)
            break;
        if (c == '"' || c == '\\') {
            buf[p++] = '\\';
            buf[p++] = (char)c;
        } else if (c == '\n') {
            buf[p++] = '\\';
            buf[p++] = 'n';
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(buf + p, "\\u00", 4);
            p += 4;
            buf[p++] = hex[c >> 4];
            buf[p++] = hex[c & 15];
        } else {
            buf[p++] = (char)c;
        }
    }
    if (*s && p + 4 < cap) {
        memcpy(buf + p, "...", 3);
        p += 3;
    }
    *pos = p;
}

void sc_log_raw(int level, const char *fac, const char *msg)
{
    char line[SC_LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\","
                     "\"service\":\"%s\",\"fac\":\"",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, sc_log_level_name(level),
                     sc_log_service);
    size_t pos = (size_t)n;
    sc_log_escape(line, &pos, 256, fac ? fac : "MAIN");
    memcpy(line + pos, "\",\"msg\":\"", 9);
    pos += 9;
    sc_log_escape(line, &pos, sizeof(line) - 4, msg ? msg : "");
    line[pos++] = '"';
    line[pos++] = '}';
    line[pos++] = '\n';
    ssize_t w = write(sc_log_fd, line, pos);
    (void)w;
}

void sc_log_vemit(int level, const char *fac, const char *fmt, va_list ap)
{
    char msg[SC_LOG_LINE_MAX - 256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    sc_log_raw(level, fac, msg);
}

void sc_log_emit(int level, const char *fac, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sc_log_vemit(level, fac, fmt, ap);
    va_end(ap);
}
