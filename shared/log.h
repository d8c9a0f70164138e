/* Structured logging: one JSON object per line on stderr (or a chosen fd), with syslog
 * levels and a short upper-case facility. Lines are built in a stack buffer and written
 * with one write(2), so threads (librdkafka's, libmicrohttpd's) never interleave. Never
 * log personal data. */
#ifndef SC_LOG_H
#define SC_LOG_H

#include <stdarg.h>

enum sc_log_level {
    SC_LOG_CRIT = 2,
    SC_LOG_ERR = 3,
    SC_LOG_WARNING = 4,
    SC_LOG_NOTICE = 5,
    SC_LOG_INFO = 6,
    SC_LOG_DEBUG = 7
};

/* The current threshold; lines above it are not formatted at all. */
extern int sc_log_level_current;

/* @brief Sets the service name stamped on every line, the threshold and the output fd
 *        (normally 2). @remark service is copied. */
void sc_log_init(const char *service, int level, int fd);

/* @brief Parses "debug", "info", "notice", "warning", "error", "crit" (or 2..7).
 * @returns the level, or -1 when the text is none of those. */
int sc_log_level_parse(const char *text);

/* @brief Name of a level ("info", ...). */
const char *sc_log_level_name(int level);

/* @brief Logs one line when level is enabled. fac is a short upper-case facility
 * ("KAFKA"). */
#define sc_log(level, fac, ...)                                                          \
    do {                                                                                 \
        if ((level) <= sc_log_level_current)                                             \
            sc_log_emit((level), (fac), __VA_ARGS__);                                    \
    } while (0)

void sc_log_emit(int level, const char *fac, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sc_log_vemit(int level, const char *fac, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* @brief Writes a message that is already formatted (e.g. from a library's log callback).
 */
void sc_log_raw(int level, const char *fac, const char *msg);

#endif
