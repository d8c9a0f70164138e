/* Unit tests for shared/http: a real server on an ephemeral loopback port, driven by a
 * tiny raw-socket HTTP/1.1 client (Connection: close, read to EOF under a deadline).
 * Covers the built-in /healthz, /readyz and /metrics routes, request counters, a POST
 * echo route, the body cap (announced and chunked), 404/405 with JSON error bodies and
 * Allow, query and header lookup, extra response headers, route registration rules and
 * start failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "alloc.h"
#include "http.h"
#include "metrics.h"

#define MAX_BODY 64

/* ------------------------------------------------------------------------------------------
 */
/* Raw HTTP client */
/* ------------------------------------------------------------------------------------------
 */

struct reply {
    int status;
    char *raw;        /* the whole response, NUL-terminated */
    const char *body; /* points into raw */
    size_t body_len;
};

static long timeout_ms(long base)
{
    const char *m = getenv("SC_TEST_TIMEOUT_MULTIPLIER");
    long mult = m ? strtol(m, NULL, 10) : 1;
    return base * (mult > 0 ? mult : 1);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void reply_free(struct reply *r)
{
    sc_free(r->raw);
    memset(r, 0, sizeof(*r));
}

/* Sends raw bytes to 127.0.0.1:port and reads the answer until the server closes. */
static void http_raw(int port, const char *req, size_t req_len, struct reply *out)
{
    memset(out, 0, sizeof(*out));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    size_t sent = 0;
    while (sent < req_len) {
        ssize_t n = send(fd, req + sent, req_len - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the server may answer early (413) and stop reading */
        sent += (size_t)n;
    }
    size_t cap = 4096, len = 0;
    char *buf = sc_malloc(cap);
    long deadline = now_ms() + timeout_ms(10000);
    for (;;) {
        long left = deadline - now_ms();
        assert_true(left > 0); /* the server must answer and close in time */
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        assert_true(pr >= 0);
        if (pr == 0)
            continue;
        if (len + 1024 + 1 > cap) {
            cap *= 2;
            buf = sc_realloc(buf, cap);
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    out->raw = buf;
    assert_true(len > 12);
    assert_int_equal(strncmp(buf, "HTTP/1.1 ", 9), 0);
    out->status = atoi(buf + 9);
    const char *end = strstr(buf, "\r\n\r\n");
    assert_non_null(end);
    out->body = end + 4;
    out->body_len = len - (size_t)(out->body - buf);
}

/* Sends METHOD path with optional extra header lines ("A: b\r\n...") and body. */
static void http_do(int port, const char *method, const char *path, const char *headers,
                    const char *body, size_t body_len, struct reply *out)
{
    char *head =
        sc_asprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s",
                    method, path, headers ? headers : "");
    char *cl =
        body ? sc_asprintf("Content-Length: %zu\r\n\r\n", body_len) : sc_strdup("\r\n");
    size_t hl = strlen(head), cll = strlen(cl);
    char *req = sc_malloc(hl + cll + body_len + 1);
    memcpy(req, head, hl);
    memcpy(req + hl, cl, cll);
    if (body)
        memcpy(req + hl + cll, body, body_len);
    http_raw(port, req, hl + cll + (body ? body_len : 0), out);
    sc_free(req);
    sc_free(cl);
    sc_free(head);
}

/* The value of a response header (case-insensitive name), copied; NULL when absent. */
static char *reply_header(const struct reply *r, const char *name)
{
    size_t n = strlen(name);
    const char *p = strstr(r->raw, "\r\n");
    while (p && p < r->body - 4) {
        p += 2;
        if (!strncasecmp(p, name, n) && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            return sc_strndup(v, (size_t)(e - v));
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

static void assert_header(const struct reply *r, const char *name, const char *expected)
{
    char *v = reply_header(r, name);
    if (!v || strcmp(v, expected) != 0)
        print_error("header %s: got %s, want %s\n", name, v ? v : "(none)", expected);
    assert_non_null(v);
    assert_string_equal(v, expected);
    sc_free(v);
}

static json_t *reply_json(const struct reply *r)
{
    json_error_t jerr;
    json_t *j = json_loadb(r->body, r->body_len, 0, &jerr);
    if (!j)
        print_error("body is not JSON (%s): %.*s\n", jerr.text, (int)r->body_len,
                    r->body);
    assert_non_null(j);
    return j;
}

/* Asserts the body is exactly {"error":code,"message":<string>}. */
static void assert_json_error(const struct reply *r, const char *code)
{
    assert_header(r, "Content-Type", "application/json");
    json_t *j = reply_json(r);
    assert_true(json_is_object(j));
    assert_int_equal(json_object_size(j), 2);
    assert_string_equal(json_string_value(json_object_get(j, "error")), code);
    assert_true(json_is_string(json_object_get(j, "message")));
    json_decref(j);
}

/* ------------------------------------------------------------------------------------------
 */
/* Fixture: a server with a few routes */
/* ------------------------------------------------------------------------------------------
 */

struct fixture {
    struct sc_metrics *metrics;
    struct sc_http *http;
    int port;
    atomic_int ready;
    atomic_int echo_calls;
};

static int fixture_ready(void *opaque, char *why, size_t why_size)
{
    struct fixture *f = opaque;
    if (atomic_load(&f->ready))
        return 1;
    snprintf(why, why_size, "kafka \"partitions\" not assigned");
    return 0;
}

static void route_echo(void *opaque, const struct sc_http_request *req,
                       struct sc_http_response *resp)
{
    struct fixture *f = opaque;
    atomic_fetch_add(&f->echo_calls, 1);
    if (req->body[req->body_len] != '\0') { /* no cmocka asserts on the server thread */
        sc_http_json_error(resp, 500, "not_terminated", "body is not NUL-terminated");
        return;
    }
    char *copy = sc_malloc(req->body_len + 1);
    memcpy(copy, req->body, req->body_len + 1);
    resp->status = 201;
    resp->body = copy;
    resp->body_len = req->body_len;
    resp->content_type = "text/plain";
    char len[32];
    snprintf(len, sizeof(len), "%zu", req->body_len);
    sc_http_add_header(resp, "X-Body-Length", len);
    sc_http_add_header(resp, "X-Method", req->method);
}

static void route_inspect(void *opaque, const struct sc_http_request *req,
                          struct sc_http_response *resp)
{
    (void)opaque;
    json_t *j =
        json_pack("{s:s?, s:s?, s:s?, s:s?, s:s, s:I}", "q", sc_http_query(req, "q"), "h",
                  sc_http_header(req, "x-test"), "missing_q", sc_http_query(req, "nope"),
                  "missing_h", sc_http_header(req, "X-Nope"), "path", req->path,
                  "body_len", (json_int_t)req->body_len);
    char *text = json_dumps(j, JSON_COMPACT);
    resp->body = sc_strdup(text);
    free(text);
    json_decref(j);
}

static void route_error(void *opaque, const struct sc_http_request *req,
                        struct sc_http_response *resp)
{
    (void)opaque;
    (void)req;
    sc_http_json_error(resp, 422, "bad_input", "field \"text\" \\ has\na newline");
}

static void route_empty(void *opaque, const struct sc_http_request *req,
                        struct sc_http_response *resp)
{
    (void)opaque;
    (void)req;
    resp->status = 204;
}

static int fixture_setup(void **state)
{
    struct fixture *f = sc_calloc(1, sizeof(*f));
    char errstr[256] = "";
    f->metrics = sc_metrics_new("test", "0.0.0");
    struct sc_http_config conf = {.port = 0,
                                  .bind_addr = "127.0.0.1",
                                  .max_body = MAX_BODY,
                                  .metrics = f->metrics,
                                  .ready = fixture_ready,
                                  .ready_opaque = f};
    f->http = sc_http_new(&conf, errstr, sizeof(errstr));
    assert_non_null(f->http);
    assert_int_equal(sc_http_port(f->http), 0);
    assert_int_equal(sc_http_route(f->http, "POST", "/echo", route_echo, f), 0);
    assert_int_equal(sc_http_route(f->http, "PUT", "/echo", route_echo, f), 0);
    assert_int_equal(sc_http_route(f->http, "GET", "/inspect", route_inspect, f), 0);
    assert_int_equal(sc_http_route(f->http, "GET", "/error", route_error, f), 0);
    assert_int_equal(sc_http_route(f->http, "DELETE", "/empty", route_empty, f), 0);
    int err = sc_http_start(f->http, errstr, sizeof(errstr));
    if (err)
        print_error("start: %s\n", errstr);
    assert_int_equal(err, 0);
    f->port = sc_http_port(f->http);
    assert_true(f->port > 0);
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    sc_http_free(f->http);
    sc_metrics_free(f->metrics);
    sc_free(f);
    return 0;
}

/* ------------------------------------------------------------------------------------------
 */
/* Tests */
/* ------------------------------------------------------------------------------------------
 */

static void test_healthz(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    http_do(f->port, "GET", "/healthz", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_header(&r, "Content-Type", "application/json");
    json_t *j = reply_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
    reply_free(&r);

    /* HEAD is answered by the GET route, without a body. */
    http_do(f->port, "HEAD", "/healthz", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    reply_free(&r);
}

static void test_readyz_flips(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    http_do(f->port, "GET", "/readyz", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 503);
    json_t *j = reply_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "not_ready");
    assert_string_equal(json_string_value(json_object_get(j, "reason")),
                        "kafka \"partitions\" not assigned");
    json_decref(j);
    reply_free(&r);

    atomic_store(&f->ready, 1);
    http_do(f->port, "GET", "/readyz", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    j = reply_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ready");
    json_decref(j);
    reply_free(&r);
}

static void test_defaults_without_ready_or_metrics(void **state)
{
    (void)state;
    char errstr[256] = "";
    struct sc_http *http = sc_http_new(NULL, errstr, sizeof(errstr));
    assert_non_null(http);
    struct fixture counts = {0};
    assert_int_equal(sc_http_route(http, "POST", "/echo", route_echo, &counts), 0);
    /* Default bind is all interfaces; loopback reaches it. */
    assert_int_equal(sc_http_start(http, errstr, sizeof(errstr)), 0);
    int port = sc_http_port(http);
    assert_true(port > 0);
    struct reply r;
    http_do(port, "GET", "/readyz", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200); /* no callback: always ready */
    reply_free(&r);
    http_do(port, "GET", "/metrics", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    reply_free(&r);
    /* The default body cap is 1 MiB: exactly that is accepted, one byte more is not. */
    size_t mib = (size_t)1024 * 1024;
    char *big = sc_malloc(mib);
    memset(big, 'z', mib);
    http_do(port, "POST", "/echo", NULL, big, mib, &r);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.body_len, mib);
    assert_memory_equal(r.body, big, mib);
    reply_free(&r);
    sc_free(big);
    const char announced[] =
        "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "Content-Length: 1048577\r\n\r\n";
    http_raw(port, announced, strlen(announced), &r);
    assert_int_equal(r.status, 413);
    reply_free(&r);
    assert_int_equal(atomic_load(&counts.echo_calls), 1);
    /* Starting twice is refused. */
    assert_int_equal(sc_http_start(http, errstr, sizeof(errstr)), SC_ESTATE);
    sc_http_free(http);
}

static void test_metrics_route_and_counters(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    for (int i = 0; i < 3; i++) {
        http_do(f->port, "GET", "/healthz", NULL, NULL, 0, &r);
        assert_int_equal(r.status, 200);
        reply_free(&r);
    }
    http_do(f->port, "GET", "/no/such/secret-path", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    http_do(f->port, "GET", "/echo", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 405);
    reply_free(&r);

    http_do(f->port, "GET", "/metrics", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_header(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    const char *b = r.body;
    assert_non_null(
        strstr(b, "socialcare_build_info{service=\"test\",version=\"0.0.0\"} 1\n"));
    assert_non_null(strstr(b, "# TYPE socialcare_http_requests_total counter\n"));
    assert_non_null(
        strstr(b, "socialcare_http_requests_total{route=\"/healthz\",code=\"200\"} 3\n"));
    assert_non_null(
        strstr(b, "socialcare_http_requests_total{route=\"other\",code=\"404\"} 1\n"));
    assert_non_null(
        strstr(b, "socialcare_http_requests_total{route=\"/echo\",code=\"405\"} 1\n"));
    assert_non_null(
        strstr(b, "# TYPE socialcare_http_request_duration_seconds histogram\n"));
    assert_non_null(strstr(
        b, "socialcare_http_request_duration_seconds_count{route=\"/healthz\"} 3\n"));
    assert_non_null(strstr(b, "socialcare_http_request_duration_seconds_bucket{route=\"/"
                              "healthz\",le=\"+Inf\"} 3\n"));
    assert_null(strstr(b, "secret-path")); /* raw URLs never become labels */

    /* The served text passes promtool (when installed), HTTP families included. */
    if (system("command -v promtool >/dev/null 2>&1") == 0) {
        char path[] = "/tmp/sc_test_http_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, r.body, r.body_len), (ssize_t)r.body_len);
        close(fd);
        char *cmd = sc_asprintf("promtool check metrics < %s", path);
        int st = system(cmd);
        unlink(path);
        sc_free(cmd);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    reply_free(&r);

    /* The /metrics request itself was counted, and the registry agrees. */
    struct sc_metric *req = sc_metrics_counter(
        f->metrics, "socialcare_http_requests_total", "x", "route,code");
    assert_non_null(req);
    assert_true(sc_metric_value(req, SC_LABELS("/metrics", "200")) == 1.0);
    assert_true(sc_metric_value(req, SC_LABELS("/healthz", "200")) == 3.0);
}

static void test_post_echo(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    const char body[] = "{\"hello\":\"world\"}";
    http_do(f->port, "POST", "/echo", "Content-Type: application/json\r\n", body,
            strlen(body), &r);
    assert_int_equal(r.status, 201);
    assert_header(&r, "Content-Type", "text/plain");
    assert_header(&r, "X-Body-Length", "17");
    assert_header(&r, "X-Method", "POST");
    assert_int_equal(r.body_len, strlen(body));
    assert_memory_equal(r.body, body, strlen(body));
    reply_free(&r);

    /* Binary bodies keep their length; exactly max_body bytes is still accepted. */
    char big[MAX_BODY];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i % 7 == 0 ? 0 : 'a' + (int)(i % 26));
    http_do(f->port, "PUT", "/echo", NULL, big, sizeof(big), &r);
    assert_int_equal(r.status, 201);
    assert_header(&r, "X-Body-Length", "64");
    assert_header(&r, "X-Method", "PUT");
    assert_int_equal(r.body_len, sizeof(big));
    assert_memory_equal(r.body, big, sizeof(big));
    reply_free(&r);

    /* No body at all: the handler sees "" and length 0. */
    http_do(f->port, "POST", "/echo", NULL, "", 0, &r);
    assert_int_equal(r.status, 201);
    assert_header(&r, "X-Body-Length", "0");
    assert_int_equal(r.body_len, 0);
    reply_free(&r);
    assert_int_equal(atomic_load(&f->echo_calls), 3);

    /* A handler that sets no body gives an empty answer with its status. */
    http_do(f->port, "DELETE", "/empty", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body_len, 0);
    reply_free(&r);
}

static void test_body_too_large(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    /* Announced too big: refused from the headers alone, without reading a body. */
    const char announced[] =
        "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "Expect: 100-continue\r\nContent-Length: 1000000\r\n\r\n";
    http_raw(f->port, announced, strlen(announced), &r);
    assert_int_equal(r.status, 413);
    assert_json_error(&r, "payload_too_large");
    assert_null(strstr(r.raw, "100 Continue"));
    reply_free(&r);

    /* Chunked, no length announced: 40 + 40 bytes > 64, drained and refused. */
    const char chunked[] =
        "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
        "28\r\n0123456789012345678901234567890123456789\r\n"
        "28\r\n0123456789012345678901234567890123456789\r\n"
        "0\r\n\r\n";
    http_raw(f->port, chunked, strlen(chunked), &r);
    assert_int_equal(r.status, 413);
    assert_json_error(&r, "payload_too_large");
    reply_free(&r);
    assert_int_equal(atomic_load(&f->echo_calls), 0); /* the handler never ran */

    /* Chunked within the cap is fine. */
    const char small[] = "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    http_raw(f->port, small, strlen(small), &r);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.body_len, 11);
    assert_memory_equal(r.body, "hello world", 11);
    reply_free(&r);

    struct sc_metric *req = sc_metrics_counter(
        f->metrics, "socialcare_http_requests_total", "x", "route,code");
    assert_true(sc_metric_value(req, SC_LABELS("/echo", "413")) == 2.0);
}

static void test_not_found(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    http_do(f->port, "GET", "/nope", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 404);
    assert_json_error(&r, "not_found");
    reply_free(&r);
    /* Paths match exactly: no prefix or trailing-slash matching. */
    http_do(f->port, "GET", "/healthz/", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 404);
    reply_free(&r);
}

static void test_method_not_allowed(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    http_do(f->port, "GET", "/echo", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 405);
    assert_json_error(&r, "method_not_allowed");
    assert_header(&r, "Allow", "POST, PUT");
    reply_free(&r);

    http_do(f->port, "POST", "/metrics", NULL, "x", 1, &r);
    assert_int_equal(r.status, 405);
    assert_json_error(&r, "method_not_allowed");
    assert_header(&r, "Allow", "GET, HEAD");
    reply_free(&r);
    assert_int_equal(atomic_load(&f->echo_calls), 0);
}

static void test_json_error_shape(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    http_do(f->port, "GET", "/error", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 422);
    assert_json_error(&r, "bad_input");
    json_t *j = reply_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "message")),
                        "field \"text\" \\ has\na newline");
    json_decref(j);
    reply_free(&r);

    /* Direct use: replaces an earlier body; invalid UTF-8 keeps the shape. */
    struct sc_http_response resp = {0};
    resp.body = sc_strdup("old");
    sc_http_json_error(&resp, 400, "bad", "bytes \xff\xfe here");
    assert_int_equal(resp.status, 400);
    assert_string_equal(resp.content_type, "application/json");
    json_t *k = json_loads(resp.body, 0, NULL);
    assert_non_null(k);
    assert_string_equal(json_string_value(json_object_get(k, "error")), "bad");
    assert_true(json_is_string(json_object_get(k, "message")));
    json_decref(k);
    /* Extra headers: at most SC_HTTP_MAX_EXTRA_HEADERS, the rest ignored. */
    for (int i = 0; i < SC_HTTP_MAX_EXTRA_HEADERS + 2; i++)
        sc_http_add_header(&resp, "X-N", "v");
    for (int i = 0; i < SC_HTTP_MAX_EXTRA_HEADERS; i++) {
        assert_string_equal(resp.header_names[i], "X-N");
        assert_string_equal(resp.header_values[i], "v");
        sc_free(resp.header_values[i]);
    }
    sc_free(resp.body);
}

static void test_query_and_headers(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    http_do(f->port, "GET", "/inspect?q=a%20b%26c&other=1", "X-Test: hello there\r\n",
            NULL, 0, &r);
    assert_int_equal(r.status, 200);
    json_t *j = reply_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "q")), "a b&c");
    assert_string_equal(json_string_value(json_object_get(j, "h")), "hello there");
    assert_true(json_is_null(json_object_get(j, "missing_q")));
    assert_true(json_is_null(json_object_get(j, "missing_h")));
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/inspect");
    assert_int_equal(json_integer_value(json_object_get(j, "body_len")), 0);
    json_decref(j);
    reply_free(&r);

    /* Lookups on a request without a connection are harmless. */
    struct sc_http_request fake = {.method = "GET", .path = "/", .body = ""};
    assert_null(sc_http_header(&fake, "X-Test"));
    assert_null(sc_http_query(&fake, "q"));
    assert_null(sc_http_header(NULL, "X-Test"));
}

static void dummy(void *opaque, const struct sc_http_request *req,
                  struct sc_http_response *resp)
{
    (void)opaque;
    (void)req;
    (void)resp;
}

static void test_route_rules_and_errors(void **state)
{
    struct fixture *f = *state;
    char errstr[256] = "";
    /* After start: refused. */
    assert_int_equal(sc_http_route(f->http, "GET", "/late", dummy, NULL), SC_EINVAL);

    struct sc_http *http = sc_http_new(&(struct sc_http_config){.bind_addr = "127.0.0.1"},
                                       errstr, sizeof(errstr));
    assert_non_null(http);
    assert_int_equal(sc_http_route(http, "GET", "/healthz", dummy, NULL),
                     SC_EINVAL); /* dup */
    assert_int_equal(sc_http_route(http, "GET", "no-slash", dummy, NULL), SC_EINVAL);
    assert_int_equal(sc_http_route(http, "GET", "/x", NULL, NULL), SC_EINVAL);
    assert_int_equal(sc_http_route(http, NULL, "/x", dummy, NULL), SC_EINVAL);
    assert_int_equal(sc_http_route(NULL, "GET", "/x", dummy, NULL), SC_EINVAL);
    int added = 0, err = 0;
    char path[32];
    while (!err && added < 100) {
        snprintf(path, sizeof(path), "/r%d", added);
        err = sc_http_route(http, "GET", path, dummy, NULL);
        if (!err)
            added++;
    }
    assert_int_equal(err, SC_EINVAL); /* the table fills up */
    assert_true(added > 8 && added < 100);
    sc_http_free(http);

    /* The fixture's port is taken: starting another server there fails with a reason. */
    http =
        sc_http_new(&(struct sc_http_config){.port = f->port, .bind_addr = "127.0.0.1"},
                    errstr, sizeof(errstr));
    assert_non_null(http);
    errstr[0] = '\0';
    assert_int_equal(sc_http_start(http, errstr, sizeof(errstr)), SC_EIO);
    assert_true(strlen(errstr) > 0);
    assert_int_equal(sc_http_port(http), 0);
    sc_http_free(http);

    /* Bad configuration. */
    errstr[0] = '\0';
    assert_null(sc_http_new(&(struct sc_http_config){.bind_addr = "localhost:80"}, errstr,
                            sizeof(errstr)));
    assert_true(strlen(errstr) > 0);
    errstr[0] = '\0';
    assert_null(
        sc_http_new(&(struct sc_http_config){.port = 70000}, errstr, sizeof(errstr)));
    assert_true(strlen(errstr) > 0);
    sc_http_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_healthz, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_readyz_flips, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test(test_defaults_without_ready_or_metrics),
        cmocka_unit_test_setup_teardown(test_metrics_route_and_counters, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_post_echo, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_body_too_large, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_not_found, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_method_not_allowed, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_json_error_shape, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_query_and_headers, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_route_rules_and_errors, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
