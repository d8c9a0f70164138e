/* Process lifecycle: signal handlers that only set flags, clocks, the fixed "ready" line
 * that scripts and tests wait for, and deadlines for draining on SIGTERM. */
#ifndef SC_LIFECYCLE_H
#define SC_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* @brief Installs handlers: SIGTERM/SIGINT request a stop, SIGHUP requests a reload,
 *        SIGPIPE is ignored. Safe to call more than once. */
void sc_lifecycle_install(void);

/* @brief True once SIGTERM/SIGINT arrived (or sc_lifecycle_request_stop was called). */
bool sc_lifecycle_stopping(void);
void sc_lifecycle_request_stop(void);

/* @brief True once per SIGHUP: reading clears the flag. */
bool sc_lifecycle_take_reload(void);

/* @brief Logs the one fixed line `{"...","msg":"ready",...}` with the service's HTTP port
 * and also prints "socialcare-<service> ready port=<port>" to stdout (flushed). */
void sc_lifecycle_ready(const char *service, int http_port);

/* @brief Monotonic and wall clocks in milliseconds. */
int64_t sc_now_ms(void);
int64_t sc_wall_ms(void);

/* @brief Formats a wall time in ms as RFC 3339 UTC with milliseconds into buf (>= 25
 * bytes).
 * @returns buf. */
char *sc_format_time(int64_t wall_ms, char *buf, size_t size);

/* @brief Parses RFC 3339 ("2026-11-22T07:33:29Z", optional fraction, Z or +hh:mm).
 * @returns 0 with *wall_ms set, or SC_EPARSE. */
int sc_parse_time(const char *text, int64_t *wall_ms);

#endif
