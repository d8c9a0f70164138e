/* Helpers of the escalation router's end-to-end tests: classified posts produced straight
 * onto posts.classified (the router alone under test), and a department webhook
 * receiver run inside
 * the test process on the shared HTTP server module (handlers on its thread, state under
 * a mutex). It records every POST (path, body, signature headers), answers 503 to the
 * first `fail_first` requests and 200 afterwards, so retries can be observed; the test
 * verifies the HMAC signatures with the router's secret. For long outages (the fault
 * suite) it can also be taken down and up at any time (peer_set_down: 503 while down)
 * and counts the notifications it answered 200 by identity (type and case id, SLA due
 * time or incident id: peer_delivered_*), without the PEER_MAX limit of the recorded
 * hits. With peer_set_dedupe it behaves as a receiver that de-duplicates by the
 * X-Socialcare-Delivery header (the router's at-least-once idempotency id): a request
 * whose id was already answered 200 is answered 200 again but counted only in
 * `duplicates`. Header-only: static functions, included by the router's e2e tests. */
#ifndef SC_E2E_ROUTER_PEER_H
#define SC_E2E_ROUTER_PEER_H

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "harness.h"
#include "http.h"

#define PEER_MAX 256

struct peer_hit {
    char path[64];
    char *body;
    char signature[100];
    char timestamp[32];
    json_t *json;
    int status;        /* what the peer answered */
    char delivery[64]; /* X-Socialcare-Delivery */
};

struct peer {
    struct sc_http *http;
    struct sc_metrics *metrics;
    pthread_mutex_t lock;
    int fail_first;
    int requests;
    struct peer_hit hits[PEER_MAX];
    int n_hits;
    bool down;            /* peer_set_down: answer 503 to everything */
    json_t *delivered;    /* identity -> times answered 200 (NULL until the first) */
    long long answered;   /* requests answered 200 */
    bool dedupe;          /* peer_set_dedupe */
    json_t *delivery_ids; /* X-Socialcare-Delivery ids answered 200 */
    long long duplicates; /* requests with an id already answered 200 */
};

/* The identity of a notification body: type|case_id|sla_due_at|incident_id. */
static inline void peer_identity(json_t *j, char *out, size_t len)
{
    const char *t = json_string_value(json_object_get(j, "type"));
    const char *c = json_string_value(json_object_get(j, "case_id"));
    const char *d = json_string_value(json_object_get(j, "sla_due_at"));
    const char *i = json_string_value(json_object_get(j, "incident_id"));
    snprintf(out, len, "%s|%s|%s|%s", t ? t : "", c ? c : "", d ? d : "", i ? i : "");
}

static inline void peer_post(void *opaque, const struct sc_http_request *req,
                             struct sc_http_response *resp)
{
    struct peer *p = opaque;
    pthread_mutex_lock(&p->lock);
    int n = p->requests++;
    bool down = p->down;
    const char *did = sc_http_header(req, "X-Socialcare-Delivery");
    bool dup =
        p->dedupe && did && p->delivery_ids && json_object_get(p->delivery_ids, did);
    if (p->n_hits < PEER_MAX) {
        struct peer_hit *h = &p->hits[p->n_hits++];
        snprintf(h->path, sizeof(h->path), "%s", req->path);
        h->body = sc_strdup(req->body);
        const char *sig = sc_http_header(req, "X-Socialcare-Signature");
        const char *ts = sc_http_header(req, "X-Socialcare-Timestamp");
        snprintf(h->signature, sizeof(h->signature), "%s", sig ? sig : "");
        snprintf(h->timestamp, sizeof(h->timestamp), "%s", ts ? ts : "");
        h->json = json_loads(req->body, 0, NULL);
        h->status = n < p->fail_first || down ? 503 : 200;
        snprintf(h->delivery, sizeof(h->delivery), "%s", did ? did : "");
    }
    if (dup && !down && n >= p->fail_first) {
        p->duplicates++;
    } else if (!down && n >= p->fail_first) {
        if (did) {
            if (!p->delivery_ids)
                p->delivery_ids = json_object();
            json_object_set_new(p->delivery_ids, did, json_true());
        }
        json_t *j = json_loads(req->body, 0, NULL);
        char id[512];
        peer_identity(j, id, sizeof(id));
        json_decref(j);
        if (!p->delivered)
            p->delivered = json_object();
        json_t *cnt = json_object_get(p->delivered, id);
        json_object_set_new(p->delivered, id,
                            json_integer(cnt ? json_integer_value(cnt) + 1 : 1));
        p->answered++;
    }
    pthread_mutex_unlock(&p->lock);
    if (down) {
        sc_http_json_error(resp, 503, "unavailable", "down on purpose");
        return;
    }
    if (n < p->fail_first) {
        sc_http_json_error(resp, 503, "unavailable", "failing on purpose");
        return;
    }
    resp->status = 200;
    resp->body = sc_strdup("{\"ok\":true}");
}

/* Starts the peer on a free loopback port with routes for the given paths. */
static inline struct peer *peer_start(int fail_first, const char *const *paths)
{
    struct peer *p = sc_calloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    p->fail_first = fail_first;
    p->metrics = sc_metrics_new("router-peer", "test");
    struct sc_http_config conf = {
        .port = 0, .bind_addr = "127.0.0.1", .metrics = p->metrics};
    char err[256];
    p->http = sc_http_new(&conf, err, sizeof(err));
    assert_non_null(p->http);
    for (size_t i = 0; paths[i]; i++)
        assert_int_equal(sc_http_route(p->http, "POST", paths[i], peer_post, p), 0);
    assert_int_equal(sc_http_start(p->http, err, sizeof(err)), 0);
    return p;
}

static inline int peer_port(const struct peer *p)
{
    return sc_http_port(p->http);
}

static inline void peer_free(struct peer *p)
{
    sc_http_free(p->http);
    for (int i = 0; i < p->n_hits; i++) {
        sc_free(p->hits[i].body);
        json_decref(p->hits[i].json);
    }
    sc_metrics_free(p->metrics);
    json_decref(p->delivered);
    json_decref(p->delivery_ids);
    pthread_mutex_destroy(&p->lock);
    sc_free(p);
}

/* Takes the peer down (every request answered 503) or back up. */
static inline void peer_set_down(struct peer *p, bool down)
{
    pthread_mutex_lock(&p->lock);
    p->down = down;
    pthread_mutex_unlock(&p->lock);
}

/* Makes the peer de-duplicate by X-Socialcare-Delivery (see the top). */
static inline void peer_set_dedupe(struct peer *p, bool on)
{
    pthread_mutex_lock(&p->lock);
    p->dedupe = on;
    pthread_mutex_unlock(&p->lock);
}

/* Distinct notification identities answered 200, the most times one of them was
 * answered 200, and whether id was. */
static inline size_t peer_delivered_distinct(struct peer *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->delivered ? json_object_size(p->delivered) : 0;
    pthread_mutex_unlock(&p->lock);
    return n;
}

static inline long long peer_delivered_max(struct peer *p)
{
    long long max = 0;
    pthread_mutex_lock(&p->lock);
    const char *k;
    json_t *v;
    if (p->delivered)
        json_object_foreach(p->delivered, k, v)
        {
            if (json_integer_value(v) > max)
                max = json_integer_value(v);
        }
    pthread_mutex_unlock(&p->lock);
    return max;
}

static inline bool peer_delivered_has(struct peer *p, const char *id)
{
    pthread_mutex_lock(&p->lock);
    bool has = p->delivered && json_object_get(p->delivered, id) != NULL;
    pthread_mutex_unlock(&p->lock);
    return has;
}

/* Requests answered 200 on path whose JSON "type" is type (NULL = any). */
static inline int peer_count(struct peer *p, const char *path, const char *type,
                             int status)
{
    int n = 0;
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n_hits; i++) {
        const struct peer_hit *h = &p->hits[i];
        const char *t = json_string_value(json_object_get(h->json, "type"));
        n += !strcmp(h->path, path) && h->status == status &&
             (!type || (t && !strcmp(t, type)));
    }
    pthread_mutex_unlock(&p->lock);
    return n;
}

/* True when the hit's signature is HMAC-SHA256(secret, timestamp "." body). */
static inline bool peer_signature_ok(const struct peer_hit *h, const char *secret)
{
    size_t tl = strlen(h->timestamp), bl = strlen(h->body);
    unsigned char *msg = sc_malloc(tl + 1 + bl);
    memcpy(msg, h->timestamp, tl);
    msg[tl] = '.';
    memcpy(msg + tl + 1, h->body, bl);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tl + 1 + bl, mac, &ml);
    sc_free(msg);
    char want[100] = "sha256=";
    for (unsigned i = 0; i < ml; i++)
        snprintf(want + 7 + 2 * i, sizeof(want) - 7 - 2 * i, "%02x", mac[i]);
    return tl > 0 && !strcmp(want, h->signature);
}

/* A classified post as the classifier would publish it. */
struct rpost {
    const char *id;     /* "x:..." */
    const char *author; /* author id; customer key x:<author> */
    const char *intent;
    const char *topic;
    double score;       /* sentiment score; the label follows its sign */
    const char *kind;   /* NULL = mention */
    const char *source; /* NULL = "webhook" */
    const char *region; /* NULL = none */
    long long followers;
    const char *text; /* NULL = a neutral text */
};

static inline void produce_post(struct e2e *e, const struct rpost *p)
{
    const char *label = p->score < -0.2  ? "negative"
                        : p->score > 0.2 ? "positive"
                                         : "neutral";
    char handle[64];
    snprintf(handle, sizeof(handle), "h%s", p->author);
    json_t *post = json_pack(
        "{s:i,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:I,s:b},s:s,s:s,s:{s:s,s:s},"
        "s:{s:{s:s,s:f},s:s,s:s,s:f,s:f,s:[],s:s}}",
        "v", 1, "id", p->id, "platform", "x", "kind", p->kind ? p->kind : "mention",
        "created_at", "2026-11-22T07:33:29Z", "received_at", "2026-11-22T07:33:30.000Z",
        "author", "id", p->author, "handle", handle, "followers",
        (json_int_t)p->followers, "verified", 0, "text",
        p->text ? p->text : "Something about my order", "lang", "en", "source", "type",
        p->source ? p->source : "webhook", "name", "e2e", "classification", "sentiment",
        "label", label, "score", p->score, "intent", p->intent, "topic", p->topic,
        "confidence", 0.9, "influence", 0.1, "pii", "model", "e2e");
    assert_non_null(post);
    if (p->region)
        json_object_set_new(post, "region", json_string(p->region));
    char *dumped = json_dumps(post, JSON_COMPACT);
    json_decref(post);
    char key[64];
    snprintf(key, sizeof(key), "x:%s", p->author);
    e2e_produce(e, "posts.classified", key, dumped, strlen(dumped), NULL);
    free(dumped);
}

/* The first message on topic matching field == value (and field2 == value2 when not
 * NULL), or NULL. */
static inline const struct e2e_msg *find_msg(struct e2e_collector *coll,
                                             const char *topic, const char *field,
                                             const char *value, const char *field2,
                                             const char *value2)
{
    for (size_t i = 0; i < e2e_collector_count(coll); i++) {
        const struct e2e_msg *m = e2e_collector_msg(coll, i);
        const char *v = e2e_msg_str(m, field);
        if (strcmp(m->topic, topic) || !v || strcmp(v, value))
            continue;
        const char *v2 = field2 ? e2e_msg_str(m, field2) : NULL;
        if (!field2 || (v2 && !strcmp(v2, value2)))
            return m;
    }
    return NULL;
}

/* Messages on topic matching field == value. */
static inline size_t count_msgs(struct e2e_collector *coll, const char *topic,
                                const char *field, const char *value)
{
    size_t n = 0;
    for (size_t i = 0; i < e2e_collector_count(coll); i++) {
        const struct e2e_msg *m = e2e_collector_msg(coll, i);
        const char *v = e2e_msg_str(m, field);
        n += !strcmp(m->topic, topic) && v && !strcmp(v, value);
    }
    return n;
}

/* The router's metric sample (or -1). */
static inline double router_metric(struct e2e_proc *router, const char *series)
{
    struct e2e_http_resp resp;
    double v = -1;
    if (e2e_http_get(e2e_proc_port(router), "/metrics", &resp) == 200)
        v = e2e_metric(resp.body, series);
    e2e_http_resp_cleanup(&resp);
    return v;
}

struct settle_wait {
    struct e2e_proc *router;
    double messages;
};

static inline bool router_settled_cond(struct e2e *e, void *arg)
{
    (void)e;
    struct settle_wait *w = arg;
    return router_metric(w->router, "socialcare_messages_processed_total") >= w->messages;
}

/* @brief Waits until the router has finished (outputs acknowledged by the broker, offsets
 *        stored) at least `messages` consumed messages, then until the collector holds
 *        everything the broker has: nothing the router produced for them is still on its
 *        way, so an absent message is really absent. */
static inline void router_settle(struct e2e *e, struct e2e_proc *router,
                                 struct e2e_collector *coll, size_t messages)
{
    struct settle_wait w = {router, (double)messages};
    assert_true(e2e_wait_until(e, router_settled_cond, &w, 30000));
    assert_true(e2e_collector_sync(coll, 30000));
}

/* e2e_wait_until condition: the monotonic clock reached *(int64_t *)arg (for pacing a
 * stream in ticks). */
static inline bool router_clock_reached(struct e2e *e, void *arg)
{
    (void)e;
    return e2e_now_ms() >= *(int64_t *)arg;
}

/* The posts a spike or phrase test produced and the case events seen for them. */
struct router_stream {
    struct e2e_collector *coll;
    struct e2e_index *events;
    size_t n_posts;
    unsigned seed; /* for tests that draw their noise */
};

/* Condition: a case event arrived for every post produced so far. */
static inline bool router_all_events(struct e2e *e, void *arg)
{
    (void)e;
    struct router_stream *s = arg;
    return e2e_index_distinct(s->events) >= s->n_posts;
}

/* @brief Noise ticks from `from` to `to`, each at least tick_ms after the previous one
 *        (so a stalled test never bursts to catch up). The pacing shapes the load;
 *        every result is awaited as a condition later. */
static inline void
router_noise(struct e2e *e, struct router_stream *s, int from, int to, int tick_ms,
             void (*tick_fn)(struct e2e *, struct router_stream *, int))
{
    for (int tick = from; tick < to; tick++) {
        int64_t at = e2e_now_ms() + tick_ms;
        tick_fn(e, s, tick);
        (void)e2e_wait_until(e, router_clock_reached, &at, tick_ms * 4);
    }
}

/* @brief GET /v1/incidents and expect exactly one incident. @returns it (owned by
 *        resp, which the caller cleans up). */
static inline json_t *router_single_incident(struct e2e_proc *router,
                                             const char *const *auth,
                                             struct e2e_http_resp *resp)
{
    assert_int_equal(
        e2e_http(e2e_proc_port(router), "GET", "/v1/incidents", NULL, 0, auth, resp),
        200);
    json_t *incs = json_object_get(resp->json, "incidents");
    if (json_array_size(incs) != 1)
        fail_msg("%zu incidents: %s", json_array_size(incs), resp->body);
    return json_array_get(incs, 0);
}

#endif
