/* End-to-end bad-input suite, HTTP: thousands of deterministic hostile requests (see
 * hostile.h) on every HTTP endpoint of the stack — the ingestor's POST /v1/posts and its
 * signed webhooks (/webhooks/x, /webhooks/meta, /webhooks/generic: hostile bodies with
 * valid signatures, forged, tampered, missing, stale and replayed signatures), the
 * responder's agent API and the escalation router's case API (hostile bodies, hostile
 * query strings, forged bearer tokens), unknown paths and methods, bodies at the 1 MiB
 * cap and one byte past it, a header flood and slow clients. Every input that is not
 * valid gets a 4xx with a JSON body holding "error"; inputs that parse as JSON objects
 * where the endpoint may legitimately accept them get no 5xx and a JSON body. The
 * rejections are counted (socialcare_http_requests_total 4xx, the ingestor's webhook
 * and post counters); afterwards valid posts still reach posts.classified and
 * cases.events, every service answers /healthz 200 and exits 0 on SIGTERM with no
 * sanitizer report (e2e_finish). */
#include "harness.h"
#include "hostile.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "alloc.h"

#define X_SECRET    "x-consumer-secret"
#define META_SECRET "meta-app-secret"
#define GEN_SECRET  "generic-secret"
#define RSP_TOKEN   "responder-api-token"
#define RTR_TOKEN   "router-api-token"

#define N_POSTS   600 /* hostile bodies on /v1/posts */
#define N_GENERIC 300 /* hostile bodies, validly signed, on /webhooks/generic */
#define N_WEBHOOK                                                                        \
    250             /* hostile bodies, validly signed, on /webhooks/x and /meta each     \
                     */
#define N_FORGED 60 /* forged or missing signatures per webhook */
#define N_API    60 /* hostile bodies per agent/case API route */

/* 1100 characters: a crc_token past its 1024 cap */
#define LONG_TOKEN_100                                                                   \
    "0123456789012345678901234567890123456789012345678901234567890123456789"             \
    "012345678901234567890123456789"
#define LONG_TOKEN                                                                       \
    LONG_TOKEN_100 LONG_TOKEN_100 LONG_TOKEN_100 LONG_TOKEN_100 LONG_TOKEN_100           \
        LONG_TOKEN_100 LONG_TOKEN_100 LONG_TOKEN_100 LONG_TOKEN_100 LONG_TOKEN_100       \
            LONG_TOKEN_100

#define ROUTING_CFG                                                                      \
    "{\"version\":1,\"default_department\":\"customer_service\",\n"                      \
    "\"departments\":[{\"name\":\"customer_service\",\"signature\":\"Ana\"}],\n"         \
    "\"rules\":[]}\n"

static const char *const post_required[] = {"id",   "platform", "kind",      "created_at",
                                            "text", "author",   "author.id", NULL};
static const char *const post_enums[] = {"platform", "kind", NULL};
static const char *const api_required[] = {"customer", "reply_id", "text", NULL};

static const char XBODY[] =
    "{\"for_user_id\":\"100\",\"tweet_create_events\":[{\"created_at\":\"Sun Nov 22 "
    "07:00:00 +0000 2026\",\"id_str\":\"9001\",\"text\":\"@acme my modem is down\","
    "\"user\":{\"id_str\":\"7\",\"screen_name\":\"jane\",\"followers_count\":48200,"
    "\"verified\":true}}]}";
static const char MBODY[] =
    "{\"object\":\"page\",\"entry\":[{\"id\":\"500\",\"time\":1795333409,\"changes\":[{"
    "\"field\":\"feed\",\"value\":{\"item\":\"comment\",\"verb\":\"add\",\"comment_id\":"
    "\"500_1_9\",\"post_id\":\"500_1\",\"message\":\"Where is my parcel?\","
    "\"created_time\":1795333409,\"from\":{\"id\":\"77\",\"name\":\"Ann\"}}}],"
    "\"messaging\":[{\"sender\":{\"id\":\"88\"},\"recipient\":{\"id\":\"500\"},"
    "\"timestamp\":1795333409000,\"message\":{\"mid\":\"m_1\",\"text\":\"hello\"}}]}]}";

/* Tallies of what each service answered. */
struct tally {
    size_t requests, rejected; /* rejected: answered 4xx */
};

static void mac(const char *key, const void *msg, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)strlen(key), msg, len, out, &n);
}

static char *sig_base64(const char *key, const void *msg, size_t len)
{
    unsigned char m[32];
    mac(key, msg, len, m);
    char b64[48];
    EVP_EncodeBlock((unsigned char *)b64, m, 32);
    return sc_asprintf("sha256=%s", b64);
}

static char *sig_hex(const char *key, const void *msg, size_t len)
{
    unsigned char m[32];
    mac(key, msg, len, m);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", m[i]);
    return sc_asprintf("sha256=%s", hex);
}

/* Sends one request and checks the answer. must_reject: a 4xx with a JSON "error" is
 * required; otherwise any answer but a 5xx or a transport failure, with a JSON body.
 * want (0 = any of those) pins the exact status. @returns the status. */
static long check(struct tally *t, int port, const char *method, const char *path,
                  const void *body, size_t len, const char *const *headers,
                  bool must_reject, long want, const char *what, unsigned n)
{
    struct e2e_http_resp resp;
    long status = e2e_http(port, method, path, body, len, headers, &resp);
    t->requests++;
    if (status == 0 || status >= 500)
        fail_msg("%s #%u (%s %s): HTTP %ld: %.300s", what, n, method, path, status,
                 resp.body ? resp.body : "");
    if (want && status != want)
        fail_msg("%s #%u (%s %s): HTTP %ld, want %ld: %.300s", what, n, method, path,
                 status, want, resp.body);
    if (must_reject && (status < 400 || status >= 500))
        fail_msg("%s #%u (%s %s): HTTP %ld, want a 4xx: %.300s", what, n, method, path,
                 status, resp.body);
    if (!json_is_object(resp.json))
        fail_msg("%s #%u (%s %s): HTTP %ld without a JSON object body: %.300s", what, n,
                 method, path, status, resp.body);
    if (status >= 400 && !json_is_string(json_object_get(resp.json, "error")))
        fail_msg("%s #%u (%s %s): HTTP %ld without \"error\": %.300s", what, n, method,
                 path, status, resp.body);
    if (status >= 400)
        t->rejected++;
    e2e_http_resp_cleanup(&resp);
    return status;
}

/* Sum of every sample of a counter whose line contains needle (NULL = all). */
static double metric_sum(int port, const char *name, const char *needle)
{
    struct e2e_http_resp resp;
    assert_int_equal(e2e_http_get(port, "/metrics", &resp), 200);
    double sum = 0;
    size_t nlen = strlen(name);
    for (char *line = resp.body; line && *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        if (!strncmp(line, name, nlen) && line[nlen] == '{' &&
            (!needle || strstr(line, needle))) {
            char *sp = strrchr(line, ' ');
            if (sp)
                sum += strtod(sp + 1, NULL);
        }
        line = end ? end + 1 : NULL;
    }
    e2e_http_resp_cleanup(&resp);
    return sum;
}

static json_t *load(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    return j;
}

/* ------------------------------------------------------------------ ingestor */

static void flood_posts(struct hrng *r, struct tally *t, int port)
{
    const char *hdr[] = {"Content-Type: application/json", NULL};
    char *p = e2e_post_new("x", "hostile", "u1", "my order is late");
    json_t *post = load(p);
    struct hostile_base b = {post, post_required, post_enums, "text", 8192, true};
    for (unsigned i = 0; i < N_POSTS; i++) {
        struct hostile h;
        hostile_make(r, &b, i, 100000, &h);
        check(t, port, "POST", "/v1/posts", h.bytes, h.len, hdr, true, 0, h.cls, i);
        hostile_free(&h);
    }
    /* At the caps: a text of exactly 8 KiB is valid; a body of exactly 1 MiB that is not
     * JSON is a 400, one byte more is a 413. */
    char *text = sc_malloc(8193);
    memset(text, 'c', 8192);
    text[8192] = '\0';
    char *at_cap = e2e_post_new("x", "atcap", "u2", text);
    check(t, port, "POST", "/v1/posts", at_cap, strlen(at_cap), hdr, false, 202,
          "text at cap", 0);
    size_t mib = 1024 * 1024;
    char *big = sc_malloc(mib + 1);
    memset(big, 'a', mib + 1);
    big[0] = '[';
    check(t, port, "POST", "/v1/posts", big, mib, hdr, true, 400, "body at cap", 0);
    check(t, port, "POST", "/v1/posts", big, mib + 1, hdr, true, 413, "body past cap", 0);
    /* A valid post wrapped one level too deep, and a post with 200 extra headers. */
    char *flood_hdr[203];
    for (int i = 0; i < 200; i++)
        flood_hdr[i] = sc_asprintf("X-Hostile-%d: %064d", i, i);
    flood_hdr[200] = sc_strdup("Content-Type: application/json");
    flood_hdr[201] = NULL;
    check(t, port, "POST", "/v1/posts", "{\"v\":1", 6, (const char *const *)flood_hdr,
          true, 400, "many headers", 0);
    for (int i = 0; i < 201; i++)
        sc_free(flood_hdr[i]);
    sc_free(big);
    sc_free(at_cap);
    sc_free(text);
    json_decref(post);
    sc_free(p);
}

/* Validly signed hostile bodies, then forged signatures, on the three webhooks. */
static void flood_webhooks(struct hrng *r, struct tally *t, int port, size_t *forged)
{
    char *p = e2e_post_new("generic", "hostile", "u1", "my invoice is wrong");
    json_t *post = load(p);
    struct hostile_base gb = {post, post_required, post_enums, "text", 8192, true};
    char ts[32];
    for (unsigned i = 0; i < N_GENERIC; i++) {
        struct hostile h;
        hostile_make(r, &gb, i, 100000, &h);
        snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
        char *signed_text = sc_malloc(strlen(ts) + 1 + h.len + 1);
        memcpy(signed_text, ts, strlen(ts));
        signed_text[strlen(ts)] = '.';
        memcpy(signed_text + strlen(ts) + 1, h.bytes, h.len);
        char *sig = sig_hex(GEN_SECRET, signed_text, strlen(ts) + 1 + h.len);
        char *h1 = sc_asprintf("X-Socialcare-Signature: %s", sig);
        char *h2 = sc_asprintf("X-Socialcare-Timestamp: %s", ts);
        const char *hdr[] = {h1, h2, "Content-Type: application/json", NULL};
        check(t, port, "POST", "/webhooks/generic", h.bytes, h.len, hdr, true, 400, h.cls,
              i);
        sc_free(h1);
        sc_free(h2);
        sc_free(sig);
        sc_free(signed_text);
        hostile_free(&h);
    }

    json_t *xj = load(XBODY), *mj = load(MBODY);
    static const char *const x_req[] = {"for_user_id", "tweet_create_events", NULL};
    static const char *const m_req[] = {"object", "entry", NULL};
    struct hostile_base xb = {xj, x_req, NULL, "for_user_id", 1024, false};
    struct hostile_base mb = {mj, m_req, NULL, "object", 1024, false};
    for (unsigned i = 0; i < 2 * N_WEBHOOK; i++) {
        bool is_x = i % 2 == 0;
        struct hostile h;
        hostile_make(r, is_x ? &xb : &mb, i / 2, 100000, &h);
        char *sig = is_x ? sig_base64(X_SECRET, h.bytes, h.len)
                         : sig_hex(META_SECRET, h.bytes, h.len);
        char *h1 = sc_asprintf(
            "%s: %s", is_x ? "x-twitter-webhooks-signature" : "X-Hub-Signature-256", sig);
        const char *hdr[] = {h1, "Content-Type: application/json", NULL};
        /* a signed JSON object is a delivery (its events may be skipped): 200 or 4xx */
        check(t, port, "POST", is_x ? "/webhooks/x" : "/webhooks/meta", h.bytes, h.len,
              hdr, !hostile_is_object(h.bytes, h.len), 0, h.cls, i);
        sc_free(h1);
        sc_free(sig);
        hostile_free(&h);
    }

    /* Forged, tampered, malformed, missing, stale and future signatures. */
    long long now = (long long)time(NULL);
    for (unsigned i = 0; i < 3 * N_FORGED; i++) {
        int hook = (int)(i % 3);
        const char *path = hook == 0   ? "/webhooks/x"
                           : hook == 1 ? "/webhooks/meta"
                                       : "/webhooks/generic";
        const char *body = hook == 0 ? XBODY : hook == 1 ? MBODY : p;
        size_t len = strlen(body);
        const char *secret = hook == 0 ? X_SECRET : hook == 1 ? META_SECRET : GEN_SECRET;
        long long when = now;
        unsigned variant = (unsigned)hrng_below(r, 9);
        if (hook == 2 && variant == 7)
            when = now - 301 - (long long)hrng_below(r, 100000); /* replayed, stale */
        if (hook == 2 && variant == 8)
            when = now + 301 + (long long)hrng_below(r, 100000); /* from the future */
        snprintf(ts, sizeof(ts), "%lld", when);
        char *signed_text = hook == 2 ? sc_asprintf("%s.%s", ts, body) : sc_strdup(body);
        const char *key = variant == 0 ? "not-the-secret" : secret;
        char *sig = hook == 0 ? sig_base64(key, signed_text, strlen(signed_text))
                              : sig_hex(key, signed_text, strlen(signed_text));
        char *value = NULL;
        switch (variant) {
            case 1: /* one character flipped */
                sig[10] = sig[10] == 'a' ? 'b' : 'a';
                value = sc_strdup(sig);
                break;
            case 2:
                value = sc_strdup("sha256=");
                break;
            case 3:
                value = sc_asprintf("sha1=%s", sig + 7);
                break;
            case 4: { /* very long garbage */
                char *junk = sc_malloc(4001);
                for (int k = 0; k < 4000; k++)
                    junk[k] = "0123456789abcdef"[hrng_below(r, 16)];
                junk[4000] = '\0';
                value = sc_asprintf("sha256=%s", junk);
                sc_free(junk);
                break;
            }
            case 5: /* truncated */
                sig[strlen(sig) / 2] = '\0';
                value = sc_strdup(sig);
                break;
            default:
                value = sc_strdup(sig);
                break;
        }
        /* variant 6: a valid signature over other bytes (the body is tampered) */
        char *sent = variant == 6 ? sc_asprintf("%s ", body) : sc_strdup(body);
        size_t sent_len = variant == 6 ? len + 1 : len;
        char *h1 = NULL, *h2 = sc_asprintf("X-Socialcare-Timestamp: %s", ts);
        /* X and Meta have no timestamp: their variants 7 and 8 send no signature */
        bool missing = hrng_below(r, 8) == 0 || (hook != 2 && variant >= 7);
        if (!missing)
            h1 = sc_asprintf("%s: %s",
                             hook == 0   ? "x-twitter-webhooks-signature"
                             : hook == 1 ? "X-Hub-Signature-256"
                                         : "X-Socialcare-Signature",
                             value);
        const char *hdr[4] = {NULL, NULL, NULL, NULL};
        size_t nh = 0;
        if (h1)
            hdr[nh++] = h1;
        if (hook == 2 && hrng_below(r, 8) != 0)
            hdr[nh++] = h2;
        hdr[nh] = "Content-Type: application/json";
        check(t, port, "POST", path, sent, sent_len, hdr, true, 401, "forged signature",
              i);
        (*forged)++;
        sc_free(sent);
        sc_free(h1);
        sc_free(h2);
        sc_free(value);
        sc_free(sig);
        sc_free(signed_text);
    }

    /* Replays of a valid delivery inside the window: accepted once, then duplicates. */
    snprintf(ts, sizeof(ts), "%lld", now);
    char *gpost = e2e_post_new("generic", "replayed", "u5", "my invoice is wrong");
    char *signed_text = sc_asprintf("%s.%s", ts, gpost);
    char *sig = sig_hex(GEN_SECRET, signed_text, strlen(signed_text));
    char *h1 = sc_asprintf("X-Socialcare-Signature: %s", sig);
    char *h2 = sc_asprintf("X-Socialcare-Timestamp: %s", ts);
    const char *hdr[] = {h1, h2, "Content-Type: application/json", NULL};
    for (unsigned i = 0; i < 5; i++) {
        struct e2e_http_resp resp;
        long status =
            e2e_http(port, "POST", "/webhooks/generic", gpost, strlen(gpost), hdr, &resp);
        t->requests++;
        assert_int_equal(status, 202);
        assert_non_null(resp.json);
        assert_int_equal(json_integer_value(json_object_get(resp.json, "accepted")),
                         i == 0 ? 1 : 0);
        e2e_http_resp_cleanup(&resp);
    }
    sc_free(h1);
    sc_free(h2);
    sc_free(sig);
    sc_free(signed_text);
    sc_free(gpost);
    json_decref(xj);
    json_decref(mj);
    json_decref(post);
    sc_free(p);
}

/* ------------------------------------------------------------------ agent/case APIs */

struct route {
    const char *method, *path;
};

static void flood_api(struct hrng *r, struct tally *t, int port, const char *token,
                      const struct route *routes, size_t n_routes, const char *who)
{
    json_t *base =
        json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "v", 1, "customer", "x:u1",
                  "reply_id", "r1", "text", "hello", "agent", "ana", "region", "eu",
                  "case_id", "c1", "platform", "x", "origin", "agent:ana");
    struct hostile_base b = {base, api_required, NULL, "text", 8192, false};
    char *auth = sc_asprintf("Authorization: Bearer %s", token);
    const char *hdr[] = {auth, "Content-Type: application/json", NULL};
    for (size_t k = 0; k < n_routes; k++) {
        for (unsigned i = 0; i < N_API; i++) {
            struct hostile h;
            hostile_make(r, &b, i, 100000, &h);
            check(t, port, routes[k].method, routes[k].path, h.bytes, h.len, hdr,
                  !hostile_is_object(h.bytes, h.len), 0, who, i);
            hostile_free(&h);
        }
        /* Forged bearer tokens. */
        char *longtok = sc_malloc(5001);
        memset(longtok, 'A', 5000);
        longtok[5000] = '\0';
        char *variants[] = {
            NULL,
            sc_strdup("Authorization: Bearer"),
            sc_strdup("Authorization: Bearer "),
            sc_strdup("Authorization: Bearer wrong"),
            sc_asprintf("Authorization: Bearer %sx", token),
            sc_asprintf("Authorization: Bearer %.*s", (int)strlen(token) - 1, token),
            sc_asprintf("Authorization: bearer%s", token),
            sc_asprintf("Authorization: Basic %s", token),
            sc_asprintf("Authorization: Bearer %s", longtok),
        };
        for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
            const char *vh[] = {variants[v] ? variants[v] : "X-No-Auth: 1",
                                "Content-Type: application/json", NULL};
            check(t, port, routes[k].method, routes[k].path, "{}", 2, vh, true, 401,
                  "forged bearer", (unsigned)v);
            sc_free(variants[v]);
        }
        sc_free(longtok);
    }
    sc_free(auth);
    json_decref(base);
}

/* Hostile query strings on GET routes; all must be 4xx. */
static void flood_queries(struct tally *t, int port, const char *token,
                          const char *const *paths)
{
    char *auth = sc_asprintf("Authorization: Bearer %s", token);
    const char *hdr[] = {auth, NULL};
    for (size_t i = 0; paths[i]; i++)
        check(t, port, "GET", paths[i], NULL, 0, hdr, true, 0, "query", (unsigned)i);
    sc_free(auth);
}

/* Unknown paths and methods: 404 / 405 with a JSON error (want_delete: the answer to
 * DELETE /v1/posts, 405 where POST /v1/posts exists). */
static void flood_routes(struct tally *t, int port, long want_delete)
{
    static const char *const paths[] = {"/",
                                        "/v1",
                                        "/v1/posts/",
                                        "/V1/POSTS",
                                        "/%00",
                                        "/..%2f..%2fetc/passwd",
                                        "/v1/posts?x=%ff",
                                        "/webhooks",
                                        NULL};
    for (size_t i = 0; paths[i]; i++)
        check(t, port, "POST", paths[i], "{}", 2, NULL, true, 0, "unknown path",
              (unsigned)i);
    check(t, port, "DELETE", "/v1/posts", NULL, 0, NULL, true, want_delete,
          "wrong method", 0);
    check(t, port, "PUT", "/healthz", "{}", 2, NULL, true, 405, "wrong method", 1);
}

/* ------------------------------------------------------------------ raw sockets */

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void raw_send(int fd, const char *s, size_t len)
{
    while (len) {
        ssize_t w = send(fd, s, len, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the server may close early: that is allowed */
        s += w;
        len -= (size_t)w;
    }
}

/* Reads until the peer closes or the deadline passes. @returns the bytes (sc_free). */
static char *raw_read_all(int fd, int timeout_ms)
{
    struct timeval tv = {.tv_sec = e2e_ms(timeout_ms) / 1000,
                         .tv_usec = (e2e_ms(timeout_ms) % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    size_t cap = 4096, len = 0;
    char *buf = sc_malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = sc_realloc(buf, cap + 1);
        }
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

/* A header flood (far past the server's per-connection memory) and slow clients: the
 * server answers or drops them, and keeps serving everyone else meanwhile. */
static void hostile_connections(struct e2e *e, struct tally *t, int port)
{
    /* header flood: ~200 KB of headers */
    int fd = raw_connect(port);
    size_t cap = 3000 * 96, used = 0;
    char *req = sc_malloc(cap);
    used += (size_t)snprintf(req, cap, "POST /v1/posts HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 3000; i++)
        used += (size_t)snprintf(req + used, cap - used, "X-Flood-%d: %060d\r\n", i, i);
    char *full = sc_asprintf("%sContent-Length: 2\r\n\r\n{}", req);
    raw_send(fd, full, strlen(full));
    shutdown(fd, SHUT_WR);
    char *answer = raw_read_all(fd, 10000);
    close(fd);
    /* Either dropped, or 431 (libmicrohttpd answers this one itself, with its own
     * HTML body: no JSON is possible here). */
    if (*answer && strncmp(answer, "HTTP/1.1 431", 12) != 0)
        fail_msg("header flood: %.200s", answer);
    print_message("hostile http: header flood answered: %.40s\n",
                  *answer ? answer : "(connection closed)");
    sc_free(answer);
    sc_free(full);
    sc_free(req);

    /* Malformed framing: lengths, chunking, request lines. Each is answered with a 4xx
     * (or dropped), never a 5xx. */
    static const char *const framing[] = {
        "POST /v1/posts HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n"
        "\r\n{}",
        "POST /v1/posts HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
        "POST /v1/posts HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 7\r\n"
        "\r\n{}",
        "POST /v1/posts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n"
        "{}\r\n0\r\n\r\n",
        "POST /v1/posts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "ffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
        "GARBAGE\r\n\r\n",
        "POST /v1/posts HTTP/9.9\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/posts HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/po\x01sts HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    };
    for (size_t i = 0; i < sizeof(framing) / sizeof(framing[0]); i++) {
        fd = raw_connect(port);
        raw_send(fd, framing[i], strlen(framing[i]));
        shutdown(fd, SHUT_WR);
        answer = raw_read_all(fd, 10000);
        close(fd);
        /* HTTP/9.9 gets libmicrohttpd's own 505 (Version Not Supported), as RFC 9110
         * says: that is the one 5xx allowed here. */
        bool version = strstr(framing[i], "HTTP/9.9") != NULL;
        if (*answer && strncmp(answer, "HTTP/1.1 4", 10) != 0 &&
            strncmp(answer, "HTTP/1.0 4", 10) != 0 &&
            !(version && strncmp(answer, "HTTP/1.1 505", 12) == 0))
            fail_msg("framing #%zu: %.200s", i, answer);
        print_message("hostile http: framing #%zu answered: %.*s (%s)\n", i,
                      *answer ? (int)strcspn(answer, "\r\n") : 19,
                      *answer ? answer : "connection closed",
                      strstr(answer, "\"error\"") ? "JSON error" : "server's own body");
        sc_free(answer);
        t->requests++;
    }
    /* A chunked body past the 1 MiB cap: 413 with a JSON error. */
    fd = raw_connect(port);
    const char *chead = "POST /v1/posts HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        "application/json\r\nTransfer-Encoding: chunked\r\nConnection: "
                        "close\r\n\r\n";
    raw_send(fd, chead, strlen(chead));
    size_t chunk = 300 * 1024;
    char *cbuf = sc_malloc(chunk);
    memset(cbuf, ' ', chunk);
    for (int i = 0; i < 4; i++) {
        char size_line[32];
        snprintf(size_line, sizeof(size_line), "%zx\r\n", chunk);
        raw_send(fd, size_line, strlen(size_line));
        raw_send(fd, cbuf, chunk);
        raw_send(fd, "\r\n", 2);
    }
    raw_send(fd, "0\r\n\r\n", 5);
    shutdown(fd, SHUT_WR);
    answer = raw_read_all(fd, 10000);
    close(fd);
    if (strncmp(answer, "HTTP/1.1 413", 12) != 0 || !strstr(answer, "\"error\""))
        fail_msg("chunked body past the cap: %.300s", answer);
    t->requests++;
    t->rejected++;
    sc_free(answer);
    sc_free(cbuf);

    /* 32 slow clients holding half-sent requests open */
    int slow[32];
    for (int i = 0; i < 32; i++) {
        slow[i] = raw_connect(port);
        const char *part = i % 2 ? "POST /v1/posts HTTP/1.1\r\nHost: x\r\nContent-Le"
                                 : "POST /v1/posts HTTP/1.1\r\nHost: x\r\n"
                                   "Content-Length: 1000\r\n\r\n{\"v\":1,";
        raw_send(slow[i], part, strlen(part));
    }
    /* meanwhile everyone else is served */
    char *good = e2e_post_new("x", "during-slow", "u8", e2e_sample_text(E2E_QUESTION, 3));
    const char *hdr[] = {"Content-Type: application/json", NULL};
    check(t, port, "POST", "/v1/posts", good, strlen(good), hdr, false, 202,
          "valid post while slow clients wait", 0);
    assert_true(e2e_wait_http_status(e, port, "/healthz", 200, 5000));
    /* one slow client finishing its (bad) body byte by byte gets its 400 */
    const char *body = "{\"v\":1,\"id\":\"x:slow\"}";
    char *head = sc_asprintf("POST /v1/posts HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             "application/json\r\nContent-Length: %zu\r\nConnection: "
                             "close\r\n\r\n",
                             strlen(body));
    fd = raw_connect(port);
    raw_send(fd, head, strlen(head));
    for (size_t i = 0; body[i]; i++) {
        raw_send(fd, body + i, 1);
        struct timespec pace = {0,
                                2 * 1000 * 1000}; /* pacing a slow sender, not a wait */
        nanosleep(&pace, NULL);
    }
    answer = raw_read_all(fd, 10000);
    close(fd);
    if (strncmp(answer, "HTTP/1.1 400", 12) != 0 || !strstr(answer, "\"error\""))
        fail_msg("slow client: %.300s", answer);
    t->requests++;
    t->rejected++;
    sc_free(answer);
    sc_free(head);
    sc_free(good);
    for (int i = 0; i < 32; i++)
        close(slow[i]);
}

/* ------------------------------------------------------------------ the test */

struct want_ids {
    struct e2e_index *classified;
    struct e2e_index *cases;
    const char *const *ids;
};

static bool good_through(struct e2e *e, void *arg)
{
    (void)e;
    struct want_ids *w = arg;
    for (size_t i = 0; w->ids[i]; i++)
        if (!e2e_index_has(w->classified, w->ids[i]) ||
            !e2e_index_has(w->cases, w->ids[i]))
            return false;
    return true;
}

static void test_hostile_http(void **state)
{
    struct e2e *e = *state;
    uint64_t seed = hostile_seed();
    print_message("hostile http: seed 0x%llx\n", (unsigned long long)seed);
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    char *cfg = e2e_path(e, "routing.json");
    e2e_write_file(cfg, ROUTING_CFG, strlen(ROUTING_CFG), false);
    char *env_cfg = sc_asprintf("ROUTING_CONFIG=%s", cfg);
    const char *topics[] = {"posts.classified", "cases.events", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    struct e2e_index *classified = e2e_index_new(coll, "posts.classified", "id", NULL);
    struct e2e_index *cases = e2e_index_new(coll, "cases.events", "post_id", NULL);

    const char *ing_env[] = {
        "X_CONSUMER_SECRET=" X_SECRET, "META_APP_SECRET=" META_SECRET,
        "META_VERIFY_TOKEN=meta-verify", "WEBHOOK_SECRET=" GEN_SECRET, NULL};
    const char *rtr_env[] = {env_cfg, "ROUTER_API_TOKEN=" RTR_TOKEN, NULL};
    const char *rsp_env[] = {"RESPONDER_API_TOKEN=" RSP_TOKEN, NULL};
    struct e2e_proc *ingestor = e2e_start_service(e, "ingestor", ing_env);
    struct e2e_proc *classifier = e2e_start_service(e, "classifier", NULL);
    struct e2e_proc *router = e2e_start_service(e, "escalation-router", rtr_env);
    struct e2e_proc *responder = e2e_start_service(e, "responder", rsp_env);
    int iport = e2e_proc_port(ingestor), rport = e2e_proc_port(router),
        sport = e2e_proc_port(responder);

    struct hrng rng = {seed};
    struct tally ti = {0, 0}, tr = {0, 0}, ts = {0, 0};
    size_t forged = 0;
    flood_posts(&rng, &ti, iport);
    double rejected_http =
        metric_sum(iport, "socialcare_ingestor_posts_total", "outcome=\"rejected\"");
    flood_webhooks(&rng, &ti, iport, &forged);
    flood_routes(&ti, iport, 405);
    static const char *const ing_queries[] = {
        "/webhooks/x",
        "/webhooks/x?crc_token=",
        "/webhooks/x?crc_token=%00",
        "/webhooks/x?crc_token=" LONG_TOKEN,
        "/webhooks/meta",
        "/webhooks/meta?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "/webhooks/meta?hub.mode=subscribe&hub.verify_token=%00&hub.challenge=1",
        "/webhooks/meta?hub.mode=subscribe&hub.verify_token=meta-verifyX&hub.challenge=1",
        "/webhooks/"
        "meta?hub.mode=unsubscribe&hub.verify_token=meta-verify&hub.challenge=1",
        "/webhooks/meta?hub.mode=subscribe&hub.verify_token=meta-verify",
        NULL};
    flood_queries(&ti, iport, "none", ing_queries);
    hostile_connections(e, &ti, iport);

    static const struct route rsp_routes[] = {{"POST", "/v1/replies"},
                                              {"POST", "/v1/held/approve"},
                                              {"POST", "/v1/held/reject"},
                                              {"POST", "/v1/scheduled"},
                                              {"PUT", "/v1/quiet"}};
    flood_api(&rng, &ts, sport, RSP_TOKEN, rsp_routes, 5, "responder API");
    static const char *const rsp_queries[] = {
        "/v1/quiet?region=",
        "/v1/quiet?region=%00",
        "/v1/quiet?region=%C0%AF",
        "/v1/quiet?region=a%20b",
        "/v1/quiet?region=%ED%A0%80",
        "/v1/quiet?region="
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        NULL};
    flood_queries(&ts, sport, RSP_TOKEN, rsp_queries);
    flood_routes(&ts, sport, 404);

    static const struct route rtr_routes[] = {{"POST", "/v1/case/assign"},
                                              {"POST", "/v1/case/resolve"},
                                              {"POST", "/v1/agents"},
                                              {"POST", "/v1/incidents/resolve"},
                                              {"POST", "/v1/quiet"}};
    flood_api(&rng, &tr, rport, RTR_TOKEN, rtr_routes, 5, "router API");
    static const char *const rtr_queries[] = {"/v1/cases?limit=0",
                                              "/v1/cases?limit=-1",
                                              "/v1/cases?limit=1001",
                                              "/v1/cases?limit=abc",
                                              "/v1/cases?limit=99999999999999999999999",
                                              "/v1/cases?limit=%00",
                                              "/v1/cases?priority=P9",
                                              "/v1/cases?priority=%C0%AF",
                                              "/v1/case",
                                              "/v1/case?customer=",
                                              "/v1/case?customer=%00",
                                              "/v1/case?customer=x%3Anobody",
                                              "/v1/case?customer=a%20b",
                                              "/v1/case?customer=%25s%25s%25n",
                                              "/v1/case?customer=%C0%AF%ED%A0%80",
                                              NULL};
    flood_queries(&tr, rport, RTR_TOKEN, rtr_queries);
    flood_routes(&tr, rport, 404);
    print_message(
        "hostile http: ingestor %zu requests (%zu rejected), responder %zu (%zu), "
        "router %zu (%zu)\n",
        ti.requests, ti.rejected, ts.requests, ts.rejected, tr.requests, tr.rejected);

    /* Counted: every 4xx in socialcare_http_requests_total, signatures and posts. */
    assert_true(metric_sum(iport, "socialcare_http_requests_total", "code=\"4") >=
                (double)ti.rejected);
    assert_true(metric_sum(sport, "socialcare_http_requests_total", "code=\"4") >=
                (double)ts.rejected);
    assert_true(metric_sum(rport, "socialcare_http_requests_total", "code=\"4") >=
                (double)tr.rejected);
    assert_true(metric_sum(iport, "socialcare_ingestor_webhooks_total",
                           "outcome=\"unauthorized\"") >= (double)forged);
    assert_true(metric_sum(iport, "socialcare_ingestor_webhooks_total",
                           "outcome=\"invalid\"") > 0);
    assert_true(rejected_http >= N_POSTS / 2);

    /* Good traffic still flows end to end. */
    const char *hdr[] = {"Content-Type: application/json", NULL};
    static const char *const ids[] = {"x:after0", "x:after1",      "x:after2",
                                      "x:atcap",  "x:during-slow", NULL};
    for (int i = 0; i < 3; i++) {
        char pid[16];
        snprintf(pid, sizeof(pid), "after%d", i);
        char *p = e2e_post_new("x", pid, pid, e2e_sample_text((enum e2e_intent)i, i));
        check(&ti, iport, "POST", "/v1/posts", p, strlen(p), hdr, false, 202,
              "valid post", (unsigned)i);
        sc_free(p);
    }
    struct want_ids w = {classified, cases, ids};
    assert_true(e2e_wait_until(e, good_through, &w, 30000));
    assert_true(e2e_wait_http_status(e, iport, "/healthz", 200, 5000));
    assert_true(
        e2e_wait_http_status(e, e2e_proc_port(classifier), "/healthz", 200, 5000));
    assert_true(e2e_wait_http_status(e, rport, "/healthz", 200, 5000));
    assert_true(e2e_wait_http_status(e, sport, "/healthz", 200, 5000));

    sc_free(env_cfg);
    sc_free(cfg);
    e2e_finish(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hostile_http, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
