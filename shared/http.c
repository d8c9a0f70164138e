/* The HTTP server wrapper around libmicrohttpd. One internal polling thread serves every
 * connection, so route handlers run one at a time. Each request gets a small state object
 * on its first callback; the body is accumulated into a buffer capped at max_body (a
 * larger Content-Length is refused before any body is read; a larger chunked body is
 * drained and then refused), and the request is dispatched on the final callback. Routes
 * match exactly on method and path (HEAD is served by GET routes). MHD's own error log is
 * routed into sc_log, and every answer is counted in
 * socialcare_http_requests_total{route,code} and timed in
 * socialcare_http_request_duration_seconds{route}, where route is a registered path or
 * "other" so that clients cannot grow the number of series. */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>

#include "alloc.h"
#include "log.h"

#define SC_HTTP_MAX_ROUTES        32
#define SC_HTTP_DEFAULT_MAX_BODY  ((size_t)1024 * 1024)
#define SC_HTTP_CONN_MEMORY_LIMIT ((size_t)64 * 1024)
#define SC_HTTP_CONN_TIMEOUT_S    30u
#define SC_HTTP_CONN_LIMIT        256u
#define SC_HTTP_METRICS_CONTENT   "text/plain; version=0.0.4; charset=utf-8"
#define SC_HTTP_JSON_CONTENT      "application/json"

/* The metrics label of every unknown path (compared by address). */
static const char sc_http_route_other[] = "other";

struct sc_http_route {
    char *method;
    char *path;
    sc_http_handler_fn handler;
    void *opaque;
};

struct sc_http {
    int port;        /* configured, then the bound one */
    char *bind_addr; /* NULL = all interfaces */
    size_t max_body;
    struct sc_metrics *metrics;
    sc_http_ready_fn ready;
    void *ready_opaque;
    struct sc_http_route routes[SC_HTTP_MAX_ROUTES];
    size_t n_routes;
    struct MHD_Daemon *daemon;
    struct sc_metric *requests;  /* socialcare_http_requests_total{route,code} */
    struct sc_metric *durations; /* socialcare_http_request_duration_seconds{route} */
    char last_error[256]; /* the last message MHD logged, for sc_http_start's errstr */
    int concurrent;       /* one thread per connection (sc_http_set_concurrent) */
};

/* Per-request state, from the first access callback to the completion callback. */
struct sc_http_conn {
    struct timespec started;
    char *body;
    size_t len, cap;
    int too_big;
};

/* ------------------------------------------------------------------------------------------
 */
/* Small helpers */
/* ------------------------------------------------------------------------------------------
 */

static double sc_http_elapsed(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) +
           (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/* Dumps a JSON value into a new sc_malloc'd string and drops the value; NULL when the
 * value could not be built (e.g. a string that is not UTF-8). */
static char *sc_http_dump(json_t *value)
{
    if (!value)
        return NULL;
    char *text = json_dumps(value, JSON_COMPACT);
    json_decref(value);
    if (!text)
        return NULL;
    char *copy = sc_strdup(text);
    free(text); /* jansson's default allocator */
    return copy;
}

static void sc_http_set_body(struct sc_http_response *resp, char *body)
{
    sc_free(resp->body);
    resp->body = body;
    resp->body_len = 0;
    resp->content_type = SC_HTTP_JSON_CONTENT;
}

void sc_http_json_error(struct sc_http_response *resp, int status, const char *code,
                        const char *message)
{
    if (!resp)
        return;
    if (!code)
        code = "error";
    if (!message)
        message = "";
    resp->status = status;
    char *body = sc_http_dump(json_pack("{s:s, s:s}", "error", code, "message", message));
    if (!body) /* not valid UTF-8: keep the shape, drop the text */
        body = sc_http_dump(json_pack("{s:s, s:s}", "error", code, "message",
                                      "(message not valid UTF-8)"));
    if (!body)
        body = sc_strdup("{\"error\":\"internal_error\",\"message\":\"\"}");
    sc_http_set_body(resp, body);
}

void sc_http_add_header(struct sc_http_response *resp, const char *name,
                        const char *value)
{
    if (!resp || !name || !value)
        return;
    for (size_t i = 0; i < SC_HTTP_MAX_EXTRA_HEADERS; i++)
        if (!resp->header_names[i]) {
            resp->header_names[i] = name;
            resp->header_values[i] = sc_strdup(value);
            return;
        }
}

const char *sc_http_header(const struct sc_http_request *req, const char *name)
{
    if (!req || !req->internal || !name)
        return NULL;
    return MHD_lookup_connection_value(req->internal, MHD_HEADER_KIND, name);
}

const char *sc_http_query(const struct sc_http_request *req, const char *name)
{
    if (!req || !req->internal || !name)
        return NULL;
    return MHD_lookup_connection_value(req->internal, MHD_GET_ARGUMENT_KIND, name);
}

/* ------------------------------------------------------------------------------------------
 */
/* Built-in routes */
/* ------------------------------------------------------------------------------------------
 */

static void sc_http_healthz(void *opaque, const struct sc_http_request *req,
                            struct sc_http_response *resp)
{
    (void)opaque;
    (void)req;
    sc_http_set_body(resp, sc_strdup("{\"status\":\"ok\"}"));
}

static void sc_http_readyz(void *opaque, const struct sc_http_request *req,
                           struct sc_http_response *resp)
{
    struct sc_http *http = opaque;
    (void)req;
    char why[256] = "";
    if (!http->ready || http->ready(http->ready_opaque, why, sizeof(why))) {
        sc_http_set_body(resp, sc_strdup("{\"status\":\"ready\"}"));
        return;
    }
    why[sizeof(why) - 1] = '\0';
    char *body = sc_http_dump(json_pack("{s:s, s:s}", "status", "not_ready", "reason",
                                        why[0] ? why : "not ready"));
    if (!body)
        body = sc_strdup("{\"status\":\"not_ready\",\"reason\":\"not ready\"}");
    resp->status = MHD_HTTP_SERVICE_UNAVAILABLE;
    sc_http_set_body(resp, body);
}

static void sc_http_metrics(void *opaque, const struct sc_http_request *req,
                            struct sc_http_response *resp)
{
    struct sc_http *http = opaque;
    (void)req;
    size_t len = 0;
    char *text = sc_metrics_render(http->metrics, &len);
    sc_free(resp->body);
    resp->body = text;
    resp->body_len = len;
    resp->content_type = SC_HTTP_METRICS_CONTENT;
}

/* ------------------------------------------------------------------------------------------
 */
/* Sending */
/* ------------------------------------------------------------------------------------------
 */

static void sc_http_response_cleanup(struct sc_http_response *resp)
{
    sc_free(resp->body);
    resp->body = NULL;
    for (size_t i = 0; i < SC_HTTP_MAX_EXTRA_HEADERS; i++) {
        sc_free(resp->header_values[i]);
        resp->header_values[i] = NULL;
    }
}

static void sc_http_free_body(void *body)
{
    sc_free(body);
}

/* Counts and times the request, then queues resp (whose strings this takes over). route
 * is a registered path or "other". */
static enum MHD_Result sc_http_send(struct sc_http *http,
                                    struct MHD_Connection *connection,
                                    const struct sc_http_conn *conn, const char *route,
                                    struct sc_http_response *resp)
{
    int status = resp->status ? resp->status : MHD_HTTP_OK;
    if (status < 100 || status > 599) {
        sc_log(SC_LOG_ERR, "HTTP", "handler for %s returned invalid status %d", route,
               status);
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    size_t len = resp->body ? (resp->body_len ? resp->body_len : strlen(resp->body)) : 0;
    struct MHD_Response *response;
    if (len > 0) {
        response = MHD_create_response_from_buffer_with_free_callback(len, resp->body,
                                                                      sc_http_free_body);
        if (response)
            resp->body = NULL; /* now MHD's */
    } else {
        response = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!response) {
        sc_http_response_cleanup(resp);
        sc_log(SC_LOG_ERR, "HTTP", "cannot create a response for %s", route);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type
                                               : SC_HTTP_JSON_CONTENT);
    for (size_t i = 0; i < SC_HTTP_MAX_EXTRA_HEADERS; i++)
        if (resp->header_names[i] && resp->header_values[i])
            MHD_add_response_header(response, resp->header_names[i],
                                    resp->header_values[i]);
    sc_http_response_cleanup(resp);

    /* Count before queueing, so a client that got its answer also sees it counted. */
    if (http->requests) {
        char code[8];
        snprintf(code, sizeof(code), "%d", status);
        sc_metric_inc(http->requests, SC_LABELS(route, code));
        sc_metric_observe(http->durations, SC_LABELS(route),
                          sc_http_elapsed(&conn->started));
    }
    enum MHD_Result ret = MHD_queue_response(connection, (unsigned int)status, response);
    MHD_destroy_response(response);
    return ret;
}

static enum MHD_Result sc_http_send_error(struct sc_http *http,
                                          struct MHD_Connection *connection,
                                          const struct sc_http_conn *conn,
                                          const char *route, int status, const char *code,
                                          const char *message)
{
    struct sc_http_response resp = {0};
    sc_http_json_error(&resp, status, code, message);
    return sc_http_send(http, connection, conn, route, &resp);
}

static enum MHD_Result sc_http_send_too_big(struct sc_http *http,
                                            struct MHD_Connection *connection,
                                            const struct sc_http_conn *conn,
                                            const char *route)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "request body exceeds %zu bytes", http->max_body);
    return sc_http_send_error(http, connection, conn, route, MHD_HTTP_CONTENT_TOO_LARGE,
                              "payload_too_large", msg);
}

/* ------------------------------------------------------------------------------------------
 */
/* Routing and the MHD callbacks */
/* ------------------------------------------------------------------------------------------
 */

static int sc_http_method_matches(const char *route_method, const char *method)
{
    return !strcmp(route_method, method) || (!strcmp(method, MHD_HTTP_METHOD_HEAD) &&
                                             !strcmp(route_method, MHD_HTTP_METHOD_GET));
}

/* The bounded metrics label for a path: its registered spelling, or "other". */
static const char *sc_http_route_label(const struct sc_http *http, const char *path)
{
    for (size_t i = 0; i < http->n_routes; i++)
        if (!strcmp(http->routes[i].path, path))
            return http->routes[i].path;
    return sc_http_route_other;
}

static enum MHD_Result sc_http_dispatch(struct sc_http *http,
                                        struct MHD_Connection *connection,
                                        struct sc_http_conn *conn, const char *method,
                                        const char *path)
{
    const struct sc_http_route *route = NULL;
    for (size_t i = 0; i < http->n_routes && !route; i++)
        if (!strcmp(http->routes[i].path, path) &&
            sc_http_method_matches(http->routes[i].method, method))
            route = &http->routes[i];

    if (!route) {
        const char *label = sc_http_route_label(http, path);
        if (label == sc_http_route_other)
            return sc_http_send_error(http, connection, conn, label, MHD_HTTP_NOT_FOUND,
                                      "not_found", "no such path");
        /* The path exists with other methods: 405 listing them. */
        char allow[128] = "";
        int has_get = 0, has_head = 0;
        for (size_t i = 0; i < http->n_routes; i++) {
            if (strcmp(http->routes[i].path, path) != 0)
                continue;
            has_get |= !strcmp(http->routes[i].method, MHD_HTTP_METHOD_GET);
            has_head |= !strcmp(http->routes[i].method, MHD_HTTP_METHOD_HEAD);
            size_t used = strlen(allow);
            snprintf(allow + used, sizeof(allow) - used, "%s%s", used ? ", " : "",
                     http->routes[i].method);
        }
        if (has_get && !has_head) {
            size_t used = strlen(allow);
            snprintf(allow + used, sizeof(allow) - used, ", HEAD");
        }
        char msg[160];
        snprintf(msg, sizeof(msg), "allowed methods: %s", allow);
        struct sc_http_response resp = {0};
        sc_http_json_error(&resp, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", msg);
        sc_http_add_header(&resp, MHD_HTTP_HEADER_ALLOW, allow);
        return sc_http_send(http, connection, conn, label, &resp);
    }

    if (conn->too_big)
        return sc_http_send_too_big(http, connection, conn, route->path);

    struct sc_http_request req = {
        .method = method,
        .path = path,
        .body = conn->body ? conn->body : "",
        .body_len = conn->len,
        .internal = connection,
    };
    struct sc_http_response resp = {.status = MHD_HTTP_OK,
                                    .content_type = SC_HTTP_JSON_CONTENT};
    route->handler(route->opaque, &req, &resp);
    return sc_http_send(http, connection, conn, route->path, &resp);
}

/* Appends upload data to the request buffer, or marks the request too big (and from then
 * on only drains the body, so that the 413 can still be sent on a clean connection). */
static void sc_http_accumulate(const struct sc_http *http, struct sc_http_conn *conn,
                               const char *data, size_t size)
{
    if (conn->too_big)
        return;
    if (size > http->max_body - conn->len) {
        conn->too_big = 1;
        sc_free(conn->body);
        conn->body = NULL;
        conn->len = conn->cap = 0;
        return;
    }
    if (conn->len + size + 1 > conn->cap) {
        size_t cap = conn->cap ? conn->cap : 1024;
        while (cap < conn->len + size + 1)
            cap *= 2;
        if (cap > http->max_body + 1)
            cap = http->max_body + 1;
        conn->body = sc_realloc(conn->body, cap);
        conn->cap = cap;
    }
    memcpy(conn->body + conn->len, data, size);
    conn->len += size;
    conn->body[conn->len] = '\0';
}

static enum MHD_Result sc_http_access(void *cls, struct MHD_Connection *connection,
                                      const char *url, const char *method,
                                      const char *version, const char *upload_data,
                                      size_t *upload_data_size, void **con_cls)
{
    struct sc_http *http = cls;
    struct sc_http_conn *conn = *con_cls;
    (void)version;

    if (!conn) {
        /* First call: headers only. Refuse an announced oversized body before reading it.
         */
        conn = sc_calloc(1, sizeof(*conn));
        clock_gettime(CLOCK_MONOTONIC, &conn->started);
        *con_cls = conn;
        const char *cl = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end = NULL;
            unsigned long long announced = strtoull(cl, &end, 10);
            if (end != cl && announced > http->max_body)
                return sc_http_send_too_big(http, connection, conn,
                                            sc_http_route_label(http, url));
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        sc_http_accumulate(http, conn, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return sc_http_dispatch(http, connection, conn, method, url);
}

static void sc_http_completed(void *cls, struct MHD_Connection *connection,
                              void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)connection;
    (void)toe;
    struct sc_http_conn *conn = *con_cls;
    if (!conn)
        return;
    sc_free(conn->body);
    sc_free(conn);
    *con_cls = NULL;
}

/* MHD's error log, into ours (and kept for sc_http_start's errstr). */
__attribute__((format(printf, 2, 0))) static void
sc_http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct sc_http *http = cls;
    char msg[sizeof(http->last_error)];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    memcpy(http->last_error, msg, len + 1);
    if (SC_LOG_WARNING <= sc_log_level_current)
        sc_log_raw(SC_LOG_WARNING, "HTTP", msg);
}

/* ------------------------------------------------------------------------------------------
 */
/* Lifecycle */
/* ------------------------------------------------------------------------------------------
 */

int sc_http_set_concurrent(struct sc_http *http, int on)
{
    if (!http || http->daemon)
        return SC_EINVAL;
    http->concurrent = on != 0;
    return 0;
}

static int sc_http_add_route(struct sc_http *http, const char *method, const char *path,
                             sc_http_handler_fn handler, void *opaque)
{
    if (!method || !*method || !path || path[0] != '/' || !handler)
        return SC_EINVAL;
    if (http->daemon || http->n_routes == SC_HTTP_MAX_ROUTES)
        return SC_EINVAL;
    for (size_t i = 0; i < http->n_routes; i++)
        if (!strcmp(http->routes[i].method, method) &&
            !strcmp(http->routes[i].path, path))
            return SC_EINVAL;
    struct sc_http_route *route = &http->routes[http->n_routes++];
    route->method = sc_strdup(method);
    route->path = sc_strdup(path);
    route->handler = handler;
    route->opaque = opaque;
    return 0;
}

struct sc_http *sc_http_new(const struct sc_http_config *conf, char *errstr,
                            size_t errstr_size)
{
    static const struct sc_http_config defaults = {0};
    if (!conf)
        conf = &defaults;
    if (conf->port < 0 || conf->port > 65535) {
        snprintf(errstr, errstr_size, "http: port %d out of range 0..65535", conf->port);
        return NULL;
    }
    if (conf->bind_addr) {
        struct in_addr a4;
        struct in6_addr a6;
        if (inet_pton(AF_INET, conf->bind_addr, &a4) != 1 &&
            inet_pton(AF_INET6, conf->bind_addr, &a6) != 1) {
            snprintf(errstr, errstr_size,
                     "http: bind address \"%s\" is not an IP address", conf->bind_addr);
            return NULL;
        }
    }
    struct sc_http *http = sc_calloc(1, sizeof(*http));
    http->port = conf->port;
    http->bind_addr = conf->bind_addr ? sc_strdup(conf->bind_addr) : NULL;
    http->max_body = conf->max_body ? conf->max_body : SC_HTTP_DEFAULT_MAX_BODY;
    http->metrics = conf->metrics;
    http->ready = conf->ready;
    http->ready_opaque = conf->ready_opaque;
    if (http->metrics) {
        http->requests = sc_metrics_counter(
            http->metrics, "socialcare_http_requests_total",
            "HTTP requests answered, by route and status code.", "route,code");
        http->durations = sc_metrics_histogram(
            http->metrics, "socialcare_http_request_duration_seconds",
            "Time from request headers to queued response, by route.", "route",
            sc_metrics_latency_buckets, sc_metrics_latency_buckets_count);
    }
    /* Cannot fail: the table is empty and the arguments are valid. */
    int err =
        sc_http_add_route(http, MHD_HTTP_METHOD_GET, "/healthz", sc_http_healthz, http);
    err |= sc_http_add_route(http, MHD_HTTP_METHOD_GET, "/readyz", sc_http_readyz, http);
    err |=
        sc_http_add_route(http, MHD_HTTP_METHOD_GET, "/metrics", sc_http_metrics, http);
    (void)err;
    return http;
}

int sc_http_route(struct sc_http *http, const char *method, const char *path,
                  sc_http_handler_fn handler, void *opaque)
{
    if (!http)
        return SC_EINVAL;
    return sc_http_add_route(http, method, path, handler, opaque);
}

int sc_http_start(struct sc_http *http, char *errstr, size_t errstr_size)
{
    if (!http)
        return SC_EINVAL;
    if (http->daemon) {
        snprintf(errstr, errstr_size, "http: already started");
        return SC_ESTATE;
    }
    unsigned int flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
    if (http->concurrent)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    const struct sockaddr *addr = NULL;
    if (http->bind_addr) {
        memset(&sin, 0, sizeof(sin));
        memset(&sin6, 0, sizeof(sin6));
        if (inet_pton(AF_INET, http->bind_addr, &sin.sin_addr) == 1) {
            sin.sin_family = AF_INET;
            sin.sin_port = htons((uint16_t)http->port);
            addr = (const struct sockaddr *)&sin;
        } else if (inet_pton(AF_INET6, http->bind_addr, &sin6.sin6_addr) == 1) {
            sin6.sin6_family = AF_INET6;
            sin6.sin6_port = htons((uint16_t)http->port);
            addr = (const struct sockaddr *)&sin6;
            flags |= MHD_USE_IPv6;
        }
    }
    http->last_error[0] = '\0';
    /* MHD_OPTION_SOCK_ADDR goes last, so that without a bind address the list simply
     * ends. */
    http->daemon = MHD_start_daemon(
        flags, (uint16_t)http->port, NULL, NULL, sc_http_access, http,
        MHD_OPTION_EXTERNAL_LOGGER, sc_http_mhd_log, http, MHD_OPTION_NOTIFY_COMPLETED,
        sc_http_completed, http, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        SC_HTTP_CONN_MEMORY_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, SC_HTTP_CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, SC_HTTP_CONN_LIMIT,
        addr ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_END, addr, MHD_OPTION_END);
    if (!http->daemon) {
        snprintf(errstr, errstr_size, "http: cannot listen on %s port %d: %s",
                 http->bind_addr ? http->bind_addr : "*", http->port,
                 http->last_error[0] ? http->last_error
                                     : "libmicrohttpd refused to start");
        return SC_EIO;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info && info->port)
        http->port = info->port;
    sc_log(SC_LOG_INFO, "HTTP", "listening on %s port %d",
           http->bind_addr ? http->bind_addr : "*", http->port);
    return 0;
}

int sc_http_port(const struct sc_http *http)
{
    return (http && http->daemon) ? http->port : 0;
}

void sc_http_free(struct sc_http *http)
{
    if (!http)
        return;
    if (http->daemon)
        MHD_stop_daemon(http->daemon);
    for (size_t i = 0; i < http->n_routes; i++) {
        sc_free(http->routes[i].method);
        sc_free(http->routes[i].path);
    }
    sc_free(http->bind_addr);
    sc_free(http);
}
