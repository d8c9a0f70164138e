/* The one HTTP server wrapper (libmicrohttpd, internal polling thread). Every service
 * gets GET /metrics, /healthz and /readyz, plus the routes it adds. Request bodies are
 * capped; errors are JSON bodies {"error":"<code>","message":"<text>"}. Handlers run on
 * the server's thread, one at a time, never on the service's main thread: they must only
 * touch thread-safe state (metrics, the Kafka producer) or state they own. */
#ifndef SC_HTTP_H
#define SC_HTTP_H

#include <stddef.h>

#include "error.h"
#include "metrics.h"

struct sc_http;

struct sc_http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* without the query string */
    const char *body;   /* NUL-terminated copy of the body ("" when none) */
    size_t body_len;
    void *internal; /* used by sc_http_header / sc_http_query */
};

#define SC_HTTP_MAX_EXTRA_HEADERS 4

struct sc_http_response {
    int status;               /* default 200 */
    char *body;               /* new string, freed by the server; NULL = empty */
    size_t body_len;          /* 0 = strlen(body) */
    const char *content_type; /* static; default "application/json" */
    const char *header_names[SC_HTTP_MAX_EXTRA_HEADERS]; /* static names */
    char *header_values[SC_HTTP_MAX_EXTRA_HEADERS]; /* new strings, freed by server */
};

typedef void (*sc_http_handler_fn)(void *opaque, const struct sc_http_request *req,
                                   struct sc_http_response *resp);

/* Readiness probe: return 1 when ready; else 0 and a short reason in why. Called on the
 * HTTP thread: read only atomics or thread-safe state. */
typedef int (*sc_http_ready_fn)(void *opaque, char *why, size_t why_size);

struct sc_http_config {
    int port;              /* 0 picks a free port: see sc_http_port */
    const char *bind_addr; /* NULL = all interfaces */
    size_t max_body;       /* request body cap in bytes; 0 = 1 MiB */
    struct sc_metrics
        *metrics; /* rendered on /metrics; also gets http request counters */
    sc_http_ready_fn ready;
    void *ready_opaque;
};

/* @brief Creates a server (not yet listening). @returns a new server, or NULL with
 * errstr. */
struct sc_http *sc_http_new(const struct sc_http_config *conf, char *errstr,
                            size_t errstr_size);

/* @brief Adds a route for an exact method and path (before sc_http_start).
 * @returns 0 or SC_EINVAL (table full / after start). */
int sc_http_route(struct sc_http *http, const char *method, const char *path,
                  sc_http_handler_fn handler, void *opaque) SC_WUR;

/* @brief Before sc_http_start: with on != 0, every connection gets its own thread, so
 * handlers run concurrently (at most one per connection) and may block, e.g. to wait
 * for a group commit; they must then be thread-safe towards each other. Default off
 * (one handler at a time, as above). @returns 0 or SC_EINVAL (after start). */
int sc_http_set_concurrent(struct sc_http *http, int on);

/* @brief Starts listening. @returns 0, or SC_EIO with errstr (port in use, ...). */
int sc_http_start(struct sc_http *http, char *errstr, size_t errstr_size) SC_WUR;

/* @brief The port actually bound (useful with port 0); 0 before start. */
int sc_http_port(const struct sc_http *http);

/* @brief Stops the server (waits for the running handler) and frees it; NULL is fine. */
void sc_http_free(struct sc_http *http);

/* @brief Request header / query argument lookup. @returns borrowed string or NULL. */
const char *sc_http_header(const struct sc_http_request *req, const char *name);
const char *sc_http_query(const struct sc_http_request *req, const char *name);

/* @brief Fills resp with status and {"error":code,"message":message} (message
 * JSON-escaped). */
void sc_http_json_error(struct sc_http_response *resp, int status, const char *code,
                        const char *message);

/* @brief Adds an extra response header (value copied); ignored when the table is full. */
void sc_http_add_header(struct sc_http_response *resp, const char *name,
                        const char *value);

#endif
