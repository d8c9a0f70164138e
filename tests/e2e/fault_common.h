/* Shared body of the fault-injection end-to-end tests (tests/e2e/test_fault_*.c, issue
 * 8): the full stack (redis-server, dev broker, the four services, the platform peer as
 * the replies' webhook) with a paced replay of N posts from 400 customers (N from
 * SC_FAULT_POSTS, default 2000; `make test-faults` runs 20,000), hooks where a test
 * injects its faults mid-stream (by progress of the stream, never by sleeping), and the
 * by-id invariants checked at the end of every round, with the counts printed:
 *  - every input post id has exactly one distinct case update (case.opened or
 *    case.updated; redeliveries repeat the same post, case and type), none missing and
 *    none unknown, and each customer's case in Redis counts each of its posts exactly
 *    once (SLA breaches and amplify suggestions are counted apart);
 *  - every acknowledgement that should go out (one per customer with a complaint, one
 *    per customer who praised) has a reply id and a delivery receipt (one outcome), no
 *    receipt is for an unknown reply;
 *  - the platform peer accepted exactly the reply ids delivered as "sent", each once
 *    (a resend after an unknown outcome carries the same Idempotency-Key and is
 *    answered from the first copy, counted by the peer as a duplicate, never posted);
 *  - every service still running exits 0 on SIGTERM.
 * Also: a seeded random generator (SC_FAULT_SEED, printed), service restart and scaling
 * helpers, a client of the dev broker's control socket (tools/devbroker/control.h), and
 * a trace of posts.inbound / posts.classified that names the hop where a lost post
 * stopped (printed when the case-update check fails); for the rounds that combine faults
 * (test_fault_combined.c): holding a fault for its length, steps placed by the input's
 * progress, scaling down, Redis SIGKILL with the routers' /readyz, and the department
 * webhooks' receiver (router_peer.h) down, with the routing configuration pointing at it
 * and the by-id check that every escalation reached it once after the outage.
 * Header-only (static inline functions): each test binary includes it once. */
#ifndef SC_E2E_FAULT_COMMON_H
#define SC_E2E_FAULT_COMMON_H

#include "harness.h"
#include "router_peer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"

#define FAULT_CUSTOMERS   400
#define FAULT_WAIT        120000
#define FAULT_MAX_REPLICA 3

/* Posts per round: SC_FAULT_POSTS (default 2000), rounded up to a multiple of the
 * customers so that every case counts the same number of posts. */
static inline int fault_posts(void)
{
    const char *v = getenv("SC_FAULT_POSTS");
    long n = v && *v ? strtol(v, NULL, 10) : 2000;
    if (n < FAULT_CUSTOMERS)
        n = FAULT_CUSTOMERS;
    if (n > 1000000)
        n = 1000000;
    return (int)((n + FAULT_CUSTOMERS - 1) / FAULT_CUSTOMERS * FAULT_CUSTOMERS);
}

/* The replay's pace in posts per second: SC_FAULT_RATE (default 250). */
static inline const char *fault_rate(void)
{
    const char *v = getenv("SC_FAULT_RATE");
    return v && *v ? v : "250";
}

/* ------------------------------------------------------------------ random moments */

/* The seed of this run: SC_FAULT_SEED, or the clock; printed so a run can be repeated. */
static inline uint64_t fault_seed(const char *name)
{
    const char *v = getenv("SC_FAULT_SEED");
    uint64_t seed = v && *v ? strtoull(v, NULL, 0) : (uint64_t)time(NULL);
    fprintf(stderr, "%s: seed %llu (repeat with SC_FAULT_SEED=%llu)\n", name,
            (unsigned long long)seed, (unsigned long long)seed);
    return seed ? seed : 0x9e3779b97f4a7c15ULL;
}

/* xorshift64*: the next value in [0, n). */
static inline uint64_t fault_rand(uint64_t *state, uint64_t n)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return n ? (x * 0x2545F4914F6CDD1DULL) % n : 0;
}

/* ------------------------------------------------------------------ the stack */

struct fault_opts {
    bool persistent_redis;
    const char *const *peer_args;     /* more platform-peer arguments (may be NULL) */
    const char *const *responder_env; /* more responder variables (may be NULL) */
    const char *const *router_env;    /* more router variables (may be NULL) */
    const char *const *service_env;   /* more variables of every service (may be NULL) */
    const char *rate;                 /* posts per second; NULL = fault_rate() */
    int posts; /* posts in the round; 0 = fault_posts() (rounded up to the customers) */
};

struct fault_stack {
    struct e2e *e;
    int posts;
    struct e2e_proc *peer;
    struct e2e_proc *ingestor;
    struct e2e_proc *classifier[FAULT_MAX_REPLICA], *router[FAULT_MAX_REPLICA],
        *responder[FAULT_MAX_REPLICA];
    int n_classifier, n_router, n_responder; /* replicas started (running or stopped) */
    struct e2e_collector *coll;
    struct e2e_index *case_ids;
    struct e2e_index *acks;
    struct e2e_index *delivered;
    /* posts.inbound and posts.classified, read only to locate a lost post's hop */
    struct e2e_collector *trace;
    struct e2e_index *inbound_ids, *classified_ids;
    char *file;
    char *ingest_file;
    char *responder_envv[24];
    char *router_envv[24];
    char *classifier_envv[24];
    char *ingestor_envv[24];
    size_t
        want_acks; /* one per customer with a complaint, one per customer who praised */
    bool ingestor_restarted; /* a restarted replay re-reads the file: duplicates expected
                              */
    int restarts;
    long long min_resends; /* the peer must have answered at least this many resends */
    /* more checks of the round, run after the common ones, before the stack stops */
    void (*extra_check)(struct fault_stack *fs, const char *name, void *arg);
    void *extra_arg;
};

static inline bool fault_cases_at_least(struct e2e *e, void *arg, size_t n)
{
    (void)e;
    struct fault_stack *fs = arg;
    return e2e_index_distinct(fs->case_ids) >= n;
}

static inline bool fault_all_case_events(struct e2e *e, void *arg)
{
    struct fault_stack *fs = arg;
    return fault_cases_at_least(e, arg, (size_t)fs->posts);
}

struct fault_progress {
    struct fault_stack *fs;
    size_t want;
};

static inline bool fault_progress_cond(struct e2e *e, void *arg)
{
    struct fault_progress *p = arg;
    return fault_cases_at_least(e, p->fs, p->want);
}

/* Waits (with a deadline) until at least n posts have case events; fails the test if
 * that never happens. @returns how many had them when it returned. */
static inline size_t fault_wait_progress(struct fault_stack *fs, size_t n, int timeout_ms)
{
    struct fault_progress p = {fs, n};
    if (!e2e_wait_until(fs->e, fault_progress_cond, &p, timeout_ms))
        fail_msg("only %zu of %zu posts got case events in time",
                 e2e_index_distinct(fs->case_ids), n);
    return e2e_index_distinct(fs->case_ids);
}

static inline bool fault_inbound_cond(struct e2e *e, void *arg)
{
    (void)e;
    struct fault_progress *p = arg;
    return e2e_index_distinct(p->fs->inbound_ids) >= p->want;
}

/* Waits (with a deadline) until at least n posts were published on posts.inbound (the
 * input's progress, whatever the services downstream are doing). @returns how many. */
static inline size_t fault_wait_input(struct fault_stack *fs, size_t n, int timeout_ms)
{
    struct fault_progress p = {fs, n};
    if (!e2e_wait_until(fs->e, fault_inbound_cond, &p, timeout_ms))
        fail_msg("only %zu of %zu posts were published in time",
                 e2e_index_distinct(fs->inbound_ids), n);
    return e2e_index_distinct(fs->inbound_ids);
}

/* Post number from "x:f<n>", or -1. */
static inline int fault_post_number(const struct fault_stack *fs, const char *id)
{
    int n;
    char extra;
    if (!id || sscanf(id, "x:f%d%c", &n, &extra) != 1 || n < 0 || n >= fs->posts)
        return -1;
    return n;
}

/* A NULL-terminated copy of base plus extra into out (entries owned by out). */
static inline void fault_env(char **out, size_t cap, const char *const *base,
                             const char *const *extra)
{
    size_t n = 0;
    for (size_t i = 0; base && base[i] && n + 1 < cap; i++)
        out[n++] = sc_strdup(base[i]);
    for (size_t i = 0; extra && extra[i] && n + 1 < cap; i++)
        out[n++] = sc_strdup(extra[i]);
    out[n] = NULL;
}

static inline void fault_env_free(char **env)
{
    for (size_t i = 0; env[i]; i++)
        sc_free(env[i]);
}

static inline struct e2e_proc *fault_start_classifier(struct fault_stack *fs)
{
    assert_true(fs->n_classifier < FAULT_MAX_REPLICA);
    struct e2e_proc *p =
        e2e_start_service(fs->e, "classifier", (const char *const *)fs->classifier_envv);
    fs->classifier[fs->n_classifier++] = p;
    return p;
}

static inline struct e2e_proc *fault_start_router(struct fault_stack *fs)
{
    assert_true(fs->n_router < FAULT_MAX_REPLICA);
    struct e2e_proc *p = e2e_start_service(fs->e, "escalation-router",
                                           (const char *const *)fs->router_envv);
    fs->router[fs->n_router++] = p;
    return p;
}

static inline struct e2e_proc *fault_start_responder(struct fault_stack *fs)
{
    assert_true(fs->n_responder < FAULT_MAX_REPLICA);
    struct e2e_proc *p =
        e2e_start_service(fs->e, "responder", (const char *const *)fs->responder_envv);
    fs->responder[fs->n_responder++] = p;
    return p;
}

/* Starts redis (persistent or not), the broker, the platform peer, the three consuming
 * services (waiting until ready) and then the paced ingestor. */
static inline void fault_stack_start_opts(struct e2e *e, struct fault_stack *fs,
                                          const struct fault_opts *opts)
{
    fs->e = e;
    fs->posts = fault_posts();
    if (opts->posts > 0)
        fs->posts =
            (opts->posts + FAULT_CUSTOMERS - 1) / FAULT_CUSTOMERS * FAULT_CUSTOMERS;
    if (opts->persistent_redis)
        e2e_start_redis_persistent(e);
    else
        e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    const char *peer_args[32] = {"--port", "0"};
    size_t np = 2;
    for (size_t i = 0; opts->peer_args && opts->peer_args[i] && np < 31; i++)
        peer_args[np++] = opts->peer_args[i];
    peer_args[np] = NULL;
    fs->peer = e2e_start_tool(e, "platform-peer", peer_args);

    fs->file = e2e_path(e, "replay.jsonl");
    size_t cap = 1024 * 1024, len = 0;
    char *data = sc_malloc(cap);
    bool complained[FAULT_CUSTOMERS] = {false}, praised[FAULT_CUSTOMERS] = {false};
    for (int i = 0; i < fs->posts; i++) {
        int customer = i % FAULT_CUSTOMERS;
        enum e2e_intent intent = (enum e2e_intent)((customer + i / FAULT_CUSTOMERS) % 3);
        complained[customer] |= intent == E2E_COMPLAINT;
        praised[customer] |= intent == E2E_PRAISE;
        char post_id[16], author[16];
        snprintf(post_id, sizeof(post_id), "f%d", i);
        snprintf(author, sizeof(author), "u%d", customer);
        char *json =
            e2e_post_new("x", post_id, author, e2e_sample_text(intent, (unsigned)i / 3));
        size_t n = strlen(json);
        if (len + n + 2 > cap) {
            cap *= 2;
            data = sc_realloc(data, cap);
        }
        memcpy(data + len, json, n);
        len += n;
        data[len++] = '\n';
        sc_free(json);
    }
    e2e_write_file(fs->file, data, len, false);
    sc_free(data);
    for (int c = 0; c < FAULT_CUSTOMERS; c++)
        fs->want_acks += (size_t)complained[c] + (size_t)praised[c];

    const char *topics[] = {"cases.events", "replies.outbound", "replies.delivered",
                            NULL};
    fs->coll = e2e_collector_new(e, topics);
    fs->case_ids = e2e_index_new(fs->coll, "cases.events", "post_id", NULL);
    fs->acks = e2e_index_new(fs->coll, "replies.outbound", "reply_id", NULL);
    fs->delivered = e2e_index_new(fs->coll, "replies.delivered", "reply_id", NULL);
    const char *trace_topics[] = {"posts.inbound", "posts.classified", NULL};
    fs->trace = e2e_collector_new(e, trace_topics);
    fs->inbound_ids = e2e_index_new(fs->trace, "posts.inbound", "id", NULL);
    fs->classified_ids = e2e_index_new(fs->trace, "posts.classified", "id", NULL);

    char *endpoint =
        sc_asprintf("REPLY_ENDPOINT=http://127.0.0.1:%d/hook", e2e_proc_port(fs->peer));
    const char *rsp_base[] = {endpoint, NULL};
    char *rsp_tmp[24];
    fault_env(rsp_tmp, 24, rsp_base, opts->responder_env);
    fault_env(fs->responder_envv, 24, (const char *const *)rsp_tmp, opts->service_env);
    fault_env_free(rsp_tmp);
    sc_free(endpoint);
    char *router_tmp[24];
    fault_env(router_tmp, 24, opts->router_env, NULL);
    fault_env(fs->router_envv, 24, (const char *const *)router_tmp, opts->service_env);
    fault_env_free(router_tmp);
    fault_env(fs->classifier_envv, 24, opts->service_env, NULL);

    fault_start_classifier(fs);
    fault_start_router(fs);
    fault_start_responder(fs);
    assert_true(
        e2e_wait_http_status(e, e2e_proc_port(fs->classifier[0]), "/readyz", 200, 30000));
    assert_true(
        e2e_wait_http_status(e, e2e_proc_port(fs->router[0]), "/readyz", 200, 30000));
    assert_true(
        e2e_wait_http_status(e, e2e_proc_port(fs->responder[0]), "/readyz", 200, 30000));
    fs->ingest_file = sc_asprintf("INGEST_FILE=%s", fs->file);
    const char *pace = opts->rate ? opts->rate : fault_rate();
    char *rate = sc_asprintf("INGEST_RATE=%s", pace);
    const char *ingestor_base[] = {fs->ingest_file, rate, NULL};
    fault_env(fs->ingestor_envv, 24, ingestor_base, opts->service_env);
    fs->ingestor =
        e2e_start_service(e, "ingestor", (const char *const *)fs->ingestor_envv);
    sc_free(rate);
    fprintf(stderr, "fault stack: %d posts from %d customers at %s posts/s\n", fs->posts,
            FAULT_CUSTOMERS, pace);
}

static inline void fault_stack_start(struct e2e *e, struct fault_stack *fs,
                                     bool persistent_redis)
{
    struct fault_opts opts = {.persistent_redis = persistent_redis};
    fault_stack_start_opts(e, fs, &opts);
}

/* SIGKILLs a service and starts it again (same program and environment), waiting for
 * its ready line. */
static inline void fault_kill_restart(struct fault_stack *fs, struct e2e_proc *proc)
{
    e2e_kill(proc);
    if (proc == fs->ingestor)
        fs->ingestor_restarted = true;
    fs->restarts++;
    e2e_restart(fs->e, proc);
}

/* A condition that never holds: e2e_wait_until(fault_never, ...) keeps the collectors
 * pumping for a fault's fixed length (its duration by design, not a synchronisation). */
static inline bool fault_never(struct e2e *e, void *arg)
{
    (void)e;
    (void)arg;
    return false;
}

/* Keeps a fault going until the clock reaches until (ms, e2e_now_ms), pumping the
 * collectors meanwhile: a fault's length is part of the round's design, not a wait for
 * a condition. */
static inline void fault_hold_until(struct fault_stack *fs, int64_t until)
{
    while (e2e_now_ms() < until)
        e2e_wait_until(fs->e, fault_never, NULL, 20);
}

/* Waits until percent of the input was published on posts.inbound (the stream's
 * progress, whatever the services downstream are doing) and fails if the replay had
 * already finished: a step of the round must fall inside the stream. @returns how many
 * posts were published. */
static inline size_t fault_at_input(struct fault_stack *fs, int percent, const char *name)
{
    size_t seen =
        fault_wait_input(fs, (size_t)fs->posts * (size_t)percent / 100, FAULT_WAIT);
    if (e2e_wait_stderr(fs->e, fs->ingestor, "replay finished", 0))
        fail_msg("%s: the stream was through before the step at %d %%", name, percent);
    return seen;
}

/* Scales a service down: SIGTERM to a replica, which must exit 0 (it finishes its
 * batches in flight and commits before leaving). */
static inline void fault_stop_replica(struct e2e_proc *proc, const char *name)
{
    int rc = e2e_stop(proc, 30000);
    if (rc != 0) {
        e2e_dump_stderr(proc, 60);
        fail_msg("%s: %s exited with %d on SIGTERM", name, e2e_proc_name(proc), rc);
    }
}

/* Every running escalation router answers status on /readyz (within the deadline). */
static inline bool fault_routers_ready(struct fault_stack *fs, long status,
                                       int timeout_ms)
{
    for (int i = 0; i < fs->n_router; i++)
        if (e2e_proc_running(fs->router[i]) &&
            !e2e_wait_http_status(fs->e, e2e_proc_port(fs->router[i]), "/readyz", status,
                                  timeout_ms))
            return false;
    return true;
}

/* SIGKILLs the redis-server (persistent: fault_opts.persistent_redis, so that
 * e2e_restart_redis brings its data back) and waits until every running escalation
 * router answers 503 on /readyz. */
static inline void fault_redis_kill(struct fault_stack *fs, const char *name)
{
    e2e_kill(e2e_redis_proc(fs->e));
    if (!fault_routers_ready(fs, 503, 15000))
        fail_msg("%s: an escalation router's /readyz did not answer 503 with Redis down",
                 name);
}

/* ------------------------------------------------------------------ platform peer */

/* A number from the platform peer's GET /stats (-1 if absent). */
static inline long long fault_peer_stat(struct fault_stack *fs, const char *field)
{
    struct e2e_http_resp resp;
    long long v = -1;
    if (e2e_http_get(e2e_proc_port(fs->peer), "/stats", &resp) == 200 && resp.json) {
        json_t *j = json_object_get(resp.json, field);
        if (json_is_integer(j))
            v = (long long)json_integer_value(j);
    }
    e2e_http_resp_cleanup(&resp);
    return v;
}

struct fault_peer_wait {
    struct fault_stack *fs;
    const char *field;
    long long want;
};

static inline bool fault_peer_cond(struct e2e *e, void *arg)
{
    (void)e;
    struct fault_peer_wait *w = arg;
    return fault_peer_stat(w->fs, w->field) >= w->want;
}

/* Waits until the peer's stat field is at least want. */
static inline bool fault_wait_peer(struct fault_stack *fs, const char *field,
                                   long long want, int timeout_ms)
{
    struct fault_peer_wait w = {fs, field, want};
    return e2e_wait_until(fs->e, fault_peer_cond, &w, timeout_ms);
}

/* ------------------------------------------------------------------ broker control */

/* Sends one command to the dev broker's control socket (<tmp>/bootstrap.ctl) and
 * returns its answer line in answer. Fails the test when the socket cannot be used;
 * asserts the answer starts with "ok" when must_ok. */
static inline void fault_broker_ctl(struct fault_stack *fs, const char *cmd, char *answer,
                                    size_t len, bool must_ok)
{
    char *path = e2e_path(fs->e, "bootstrap.ctl");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    sc_free(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        fail_msg("cannot connect to the dev broker's control socket: %s",
                 strerror(errno));
    char line[512];
    int n = snprintf(line, sizeof(line), "%s\n", cmd);
    assert_true(n > 0 && (size_t)n < sizeof(line));
    assert_int_equal(send(fd, line, (size_t)n, MSG_NOSIGNAL), n);
    size_t got = 0;
    while (got + 1 < len) {
        ssize_t r = recv(fd, answer + got, 1, 0);
        if (r <= 0 || answer[got] == '\n')
            break;
        got++;
    }
    answer[got] = '\0';
    close(fd);
    if (must_ok && strncmp(answer, "ok", 2) != 0)
        fail_msg("dev broker control: \"%s\" answered \"%s\"", cmd, answer);
}

struct fault_drain_wait {
    struct fault_stack *fs;
    const char *api;
};

static inline bool fault_drained_cond(struct e2e *e, void *arg)
{
    (void)e;
    struct fault_drain_wait *w = arg;
    char cmd[64], answer[128];
    snprintf(cmd, sizeof(cmd), "pending 1 %s", w->api);
    fault_broker_ctl(w->fs, cmd, answer, sizeof(answer), true);
    return strcmp(answer, "ok 0") == 0;
}

/* Waits until every error pushed onto broker 1's stack for api was returned to a
 * client (the fault really happened). */
static inline bool fault_wait_drained(struct fault_stack *fs, const char *api,
                                      int timeout_ms)
{
    struct fault_drain_wait w = {fs, api};
    return e2e_wait_until(fs->e, fault_drained_cond, &w, timeout_ms);
}

/* Sends a command that must succeed to the dev broker's control socket and prints it
 * with its answer (prefixed with name). */
static inline void fault_ctl(struct fault_stack *fs, const char *cmd, const char *name)
{
    char answer[256];
    fault_broker_ctl(fs, cmd, answer, sizeof(answer), true);
    fprintf(stderr, "%s: broker control \"%s\" -> \"%s\"\n", name, cmd, answer);
}

/* ------------------------------------------------------------------ department webhooks
 */

/* A member of an object in the platform peer's GET /stats, e.g. early_by_form.seconds
 * (-1 if absent). */
static inline long long fault_peer_stat_in(struct fault_stack *fs, const char *object,
                                           const char *field)
{
    struct e2e_http_resp resp;
    long long v = -1;
    if (e2e_http_get(e2e_proc_port(fs->peer), "/stats", &resp) == 200 && resp.json) {
        json_t *j = json_object_get(json_object_get(resp.json, object), field);
        if (json_is_integer(j))
            v = (long long)json_integer_value(j);
    }
    e2e_http_resp_cleanup(&resp);
    return v;
}

/* Responder settings of the rounds whose platform misbehaves: a 1 s attempt timeout,
 * and attempts enough to outlast the injected faults (a fault_opts.responder_env list's
 * items). */
#define FAULT_RESPONDER_PATIENT "REPLY_TIMEOUT_MS=1000", "REPLY_MAX_ATTEMPTS=50"

/* Router settings of the rounds whose department webhooks go down: SLA clocks checked
 * every 0.2 s, attempts enough for a long outage (the backoff reaches 60 s), 1 s per
 * attempt (a fault_opts.router_env list's items, after fault_hooks_start_down's
 * ROUTING_CONFIG). */
#define FAULT_ROUTER_WEBHOOKS                                                            \
    "SLA_SCAN_INTERVAL_MS=200", "WEBHOOK_MAX_ATTEMPTS=100", "WEBHOOK_TIMEOUT_MS=1000"

/* The built-in config/routing.json: under SC_SOURCE_DIR when the build defines it, else
 * found from this header's path (CMake compiles by absolute paths), else relative to
 * the working directory. @returns a new string (sc_free). */
static inline char *fault_routing_source(void)
{
#ifdef SC_SOURCE_DIR
    return sc_strdup(SC_SOURCE_DIR "/config/routing.json");
#else
    const char *self = __FILE__;
    const char *cut = strstr(self, "tests/e2e/");
    if (self[0] == '/' && cut)
        return sc_asprintf("%.*sconfig/routing.json", (int)(cut - self), self);
    return sc_strdup("config/routing.json");
#endif
}

/* Writes <tmp>/routing.json: the built-in routing configuration with every department's
 * webhook and escalation webhook on the receiver at port (paths /hooks/dept and
 * /hooks/escalate), an SLA of 1.2 s for every priority (every case breaches) and always
 * open. @returns its path (sc_free). */
static inline char *fault_routing_config(struct e2e *e, int port)
{
    char *source_path = fault_routing_source();
    json_error_t jerr;
    json_t *cfg = json_load_file(source_path, 0, &jerr);
    if (!cfg)
        fail_msg("cannot read %s: %s", source_path, jerr.text);
    json_t *deps = json_object_get(cfg, "departments");
    assert_true(json_array_size(deps) > 0);
    char hook[128], escalate[128];
    snprintf(hook, sizeof(hook), "http://127.0.0.1:%d/hooks/dept", port);
    snprintf(escalate, sizeof(escalate), "http://127.0.0.1:%d/hooks/escalate", port);
    for (size_t i = 0; i < json_array_size(deps); i++) {
        json_t *d = json_array_get(deps, i);
        json_object_set_new(d, "webhooks", json_pack("[s]", hook));
        json_object_set_new(d, "sla_minutes",
                            json_pack("{s:f,s:f,s:f,s:f}", "P1", 0.02, "P2", 0.02, "P3",
                                      0.02, "P4", 0.02));
        json_object_set_new(d, "business_hours", json_pack("{s:b}", "always", 1));
        json_object_set_new(
            d, "escalation",
            json_pack("{s:s,s:{s:s}}", "name", "Duty lead", "webhook", "url", escalate));
    }
    sc_free(source_path);
    char *path = e2e_path(e, "routing.json");
    assert_int_equal(json_dump_file(cfg, path, JSON_INDENT(1)), 0);
    json_decref(cfg);
    return path;
}

/* Starts the department webhooks' receiver (router_peer.h: /hooks/dept and
 * /hooks/escalate) down, answering 503 until peer_set_down(hooks, false), and writes the
 * routing configuration that points every department at it. @returns the receiver
 * (peer_free); *routing_env gets "ROUTING_CONFIG=<path>" for the router (sc_free). */
static inline struct peer *fault_hooks_start_down(struct e2e *e, char **routing_env)
{
    const char *paths[] = {"/hooks/dept", "/hooks/escalate", NULL};
    struct peer *hooks = peer_start(0, paths);
    peer_set_down(hooks, true);
    char *cfg_path = fault_routing_config(e, peer_port(hooks));
    *routing_env = sc_asprintf("ROUTING_CONFIG=%s", cfg_path);
    sc_free(cfg_path);
    return hooks;
}

struct fault_breach_wait {
    struct fault_stack *fs;
    struct peer *hooks;
    size_t breaches, missing;
};

/* True when every SLA breach collected so far reached the escalation webhook. */
static inline bool fault_breaches_delivered(struct e2e *e, void *arg)
{
    (void)e;
    struct fault_breach_wait *w = arg;
    w->breaches = w->missing = 0;
    for (size_t i = 0; i < e2e_collector_count(w->fs->coll); i++) {
        const struct e2e_msg *m = e2e_collector_msg(w->fs->coll, i);
        const char *type = e2e_msg_str(m, "type");
        if (strcmp(m->topic, "cases.events") != 0 || !type ||
            strcmp(type, "case.sla_breached") != 0)
            continue;
        char id[512];
        peer_identity(m->json, id, sizeof(id));
        w->breaches++;
        w->missing += !peer_delivered_has(w->hooks, id);
    }
    return w->breaches > 0 && w->missing == 0;
}

/* After an outage of the department webhooks (the receiver hooks is up again): waits
 * until every SLA breach on cases.events reached the escalation webhook, across two
 * syncs of the collectors (the router's backoff reaches 60 s: a full step is allowed),
 * prints the webhook counts and fails if a notification was delivered twice or one is
 * missing. @returns the number of breaches. */
static inline size_t fault_check_webhooks(struct fault_stack *fs, struct peer *hooks,
                                          const char *name)
{
    struct fault_breach_wait w = {fs, hooks, 0, 0};
    for (int pass = 0; pass < 2; pass++) {
        assert_true(e2e_collector_sync(fs->coll, 30000));
        if (!e2e_wait_until(fs->e, fault_breaches_delivered, &w, 150000))
            fail_msg("%s: %zu of %zu SLA breaches never reached the escalation webhook",
                     name, w.missing, w.breaches);
    }
    size_t distinct = peer_delivered_distinct(hooks);
    long long max = peer_delivered_max(hooks);
    pthread_mutex_lock(&hooks->lock);
    long long requests = hooks->requests, answered = hooks->answered;
    pthread_mutex_unlock(&hooks->lock);
    fprintf(stderr,
            "%s: COUNTS webhooks: requests=%lld answered_200=%lld distinct=%zu "
            "max_per_notification=%lld sla_breach_events=%zu (all delivered)\n",
            name, requests, answered, distinct, max, w.breaches);
    if (max != 1)
        fail_msg("%s: a department notification was delivered %lld times", name, max);
    if (distinct < w.breaches)
        fail_msg("%s: %zu notifications delivered for %zu breaches", name, distinct,
                 w.breaches);
    return w.breaches;
}

/* The responder never came back to the platform peer before a Retry-After (seconds or
 * HTTP-date) or rate-limit reset it was given (the peer's --early-grace-ms leaves out
 * sends already under way when the 429 arrived): prints the peer's counts and fails on
 * an early request. */
static inline void fault_check_not_early(struct fault_stack *fs, const char *name)
{
    long long early_s = fault_peer_stat_in(fs, "early_by_form", "seconds");
    long long early_d = fault_peer_stat_in(fs, "early_by_form", "date");
    long long early_r = fault_peer_stat_in(fs, "early_by_form", "reset");
    long long limited = fault_peer_stat(fs, "rate_limited");
    long long injected = fault_peer_stat(fs, "injected");
    fprintf(stderr,
            "%s: COUNTS platform: injected=%lld rate_limited=%lld early seconds=%lld "
            "date=%lld reset=%lld\n",
            name, injected, limited, early_s, early_d, early_r);
    if (early_s != 0 || early_d != 0 || early_r != 0)
        fail_msg("%s: the responder came back before the Retry-After in seconds (%lld "
                 "times), as an HTTP-date (%lld) or the rate-limit reset (%lld) it was "
                 "given",
                 name, early_s, early_d, early_r);
}

/* ------------------------------------------------------------------ invariants */

/* Prints where the first posts without a case event got to (for a failure message). */
static inline void fault_trace_missing(struct fault_stack *fs, const char *name)
{
    e2e_collector_sync(fs->trace, 30000);
    int shown = 0;
    for (int i = 0; i < fs->posts && shown < 10; i++) {
        char id[32];
        snprintf(id, sizeof(id), "x:f%d", i);
        if (e2e_index_has(fs->case_ids, id))
            continue;
        shown++;
        const struct e2e_msg *in = NULL, *cl = NULL;
        for (size_t k = 0; k < e2e_collector_count(fs->trace); k++) {
            const struct e2e_msg *m = e2e_collector_msg(fs->trace, k);
            const char *v = e2e_msg_str(m, "id");
            if (!v || strcmp(v, id) != 0)
                continue;
            if (!strcmp(m->topic, "posts.inbound") && !in)
                in = m;
            if (!strcmp(m->topic, "posts.classified") && !cl)
                cl = m;
        }
        redisReply *applied =
            e2e_redis(fs->e, "HGET case:{x:u%d}:posts %s", i % FAULT_CUSTOMERS, id);
        fprintf(stderr,
                "%s: lost post %s: posts.inbound %s [%d]@%lld, posts.classified %s "
                "[%d]@%lld, applied by the router (case:{x:u%d}:posts): %s, "
                "cases.events no\n",
                name, id, in ? "yes" : "no", in ? in->partition : -1,
                in ? (long long)in->offset : -1LL, cl ? "yes" : "no",
                cl ? cl->partition : -1, cl ? (long long)cl->offset : -1LL,
                i % FAULT_CUSTOMERS,
                applied->type == REDIS_REPLY_STRING ? applied->str : "no");
        freeReplyObject(applied);
    }
    fprintf(stderr, "%s: posts.inbound holds %zu distinct posts, posts.classified %zu\n",
            name, e2e_index_distinct(fs->inbound_ids),
            e2e_index_distinct(fs->classified_ids));
}

/* After the faults: waits for everything, checks the invariants, prints the counts
 * (prefixed with name), stops the stack (every service must exit 0) and frees fs. */
static inline void fault_stack_check(struct fault_stack *fs, const char *name)
{
    struct e2e *e = fs->e;
    int64_t started = e2e_now_ms();
    bool all_cases = e2e_wait_until(e, fault_all_case_events, fs, FAULT_WAIT);
    /* The input holds no duplicate ids: any the ingestor counted as duplicates were
     * dropped as "already seen" and never published (a restarted replay re-reads the
     * file from its start, so there they are expected). */
    struct e2e_http_resp mresp;
    assert_int_equal(e2e_http_get(e2e_proc_port(fs->ingestor), "/metrics", &mresp), 200);
    double dups =
        e2e_metric(mresp.body, "socialcare_ingestor_posts_total{source=\"replay\","
                               "outcome=\"duplicate\"}");
    e2e_http_resp_cleanup(&mresp);
    if (!all_cases)
        fault_trace_missing(fs, name);
    if (!all_cases)
        fail_msg("%s: only %zu of %d posts got a case event (the ingestor counted %.0f "
                 "replayed posts as duplicates)",
                 name, e2e_index_distinct(fs->case_ids), fs->posts, dups);
    if (dups > 0 && !fs->ingestor_restarted)
        fail_msg("%s: the ingestor dropped %.0f replayed posts as duplicates", name,
                 dups);
    assert_true(e2e_wait_stderr(e, fs->ingestor, "replay finished", 60000));

    /* Acknowledgements: wait until every expected ack id was seen and has a delivery,
     * and nothing new arrives across a second sync. */
    size_t acks = 0, delivered = 0;
    int64_t deadline = e2e_now_ms() + e2e_ms(FAULT_WAIT);
    for (;;) {
        assert_true(e2e_collector_sync(fs->coll, 30000));
        acks = e2e_index_distinct(fs->acks);
        delivered = e2e_index_distinct(fs->delivered);
        if (acks >= fs->want_acks && delivered >= acks) {
            /* stable across a second sync: nothing new arrived meanwhile */
            assert_true(e2e_collector_sync(fs->coll, 30000));
            if (e2e_index_distinct(fs->acks) == acks &&
                e2e_index_distinct(fs->delivered) == delivered)
                break;
            continue;
        }
        if (e2e_now_ms() > deadline)
            fail_msg("%s: %zu acknowledgements of %zu expected, %zu delivered", name,
                     acks, fs->want_acks, delivered);
        e2e_collector_pump(fs->coll, 50);
    }

    /* Case events: exactly one distinct (post, case, type) case update (case.opened or
     * case.updated) per input post. SLA breach events (no post) and amplify
     * suggestions (case.amplify, one per praise post the rules amplify) are counted
     * apart; an amplify must name a known post, and repeat only identically. */
    struct e2e_strset *triples = e2e_strset_new();
    struct e2e_strset *updated = e2e_strset_new();
    struct e2e_strset *amplified = e2e_strset_new();
    struct e2e_strset *amplified_ids = e2e_strset_new();
    size_t events = 0, breaches = 0, amplifies = 0;
    for (size_t i = 0; i < e2e_collector_count(fs->coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(fs->coll, i);
        if (strcmp(msg->topic, "cases.events") != 0)
            continue;
        const char *type = e2e_msg_str(msg, "type");
        assert_non_null(type);
        if (strcmp(type, "case.sla_breached") == 0) {
            breaches++;
            continue;
        }
        const char *post_id = e2e_msg_str(msg, "post_id");
        if (fault_post_number(fs, post_id) < 0)
            fail_msg("%s: %s event for an unknown post id %s", name, type,
                     post_id ? post_id : "(none)");
        const char *case_id = e2e_msg_str(msg, "case_id");
        assert_non_null(case_id);
        char triple[160];
        snprintf(triple, sizeof(triple), "%s|%s|%s", post_id, case_id, type);
        if (strcmp(type, "case.amplify") == 0) {
            amplifies++;
            e2e_strset_add(amplified, triple);
            e2e_strset_add(amplified_ids, post_id);
            continue;
        }
        if (strcmp(type, "case.opened") != 0 && strcmp(type, "case.updated") != 0)
            fail_msg("%s: post %s: case event type %s", name, post_id, type);
        events++;
        e2e_strset_add(triples, triple);
        e2e_strset_add(updated, post_id);
    }
    if (e2e_strset_count(updated) != (size_t)fs->posts)
        fail_msg("%s: %zu of %d posts have a case update", name,
                 e2e_strset_count(updated), fs->posts);
    if (e2e_strset_count(triples) != (size_t)fs->posts)
        fail_msg("%s: %zu distinct (post, case, type) triples for %d posts: a post was "
                 "applied twice, differently",
                 name, e2e_strset_count(triples), fs->posts);
    size_t amplified_posts = e2e_strset_count(amplified_ids);
    if (e2e_strset_count(amplified) != amplified_posts)
        fail_msg("%s: %zu distinct amplify events for %zu posts: one was repeated "
                 "differently",
                 name, e2e_strset_count(amplified), amplified_posts);
    e2e_strset_free(amplified_ids);
    e2e_strset_free(triples);
    e2e_strset_free(updated);
    e2e_strset_free(amplified);

    /* Every acknowledgement answers a known post and was delivered; count the ids
     * delivered as sent. */
    size_t outbound = 0;
    for (size_t i = 0; i < e2e_collector_count(fs->coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(fs->coll, i);
        if (strcmp(msg->topic, "replies.outbound") != 0)
            continue;
        outbound++;
        const char *reply_id = e2e_msg_str(msg, "reply_id");
        assert_non_null(reply_id);
        if (fault_post_number(fs, e2e_msg_str(msg, "in_reply_to")) < 0)
            fail_msg("%s: reply %s answers an unknown post", name, reply_id);
        if (!e2e_index_has(fs->delivered, reply_id))
            fail_msg("%s: reply %s was never delivered", name, reply_id);
    }
    struct e2e_strset *sent = e2e_strset_new();
    size_t receipts = 0, failed = 0;
    for (size_t i = 0; i < e2e_collector_count(fs->coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(fs->coll, i);
        if (strcmp(msg->topic, "replies.delivered") != 0)
            continue;
        receipts++;
        const char *reply_id = e2e_msg_str(msg, "reply_id");
        assert_non_null(reply_id);
        if (!e2e_index_has(fs->acks, reply_id))
            fail_msg("%s: delivery of an unknown reply %s", name, reply_id);
        const char *status = e2e_msg_str(msg, "status");
        if (status && strcmp(status, "sent") == 0)
            e2e_strset_add(sent, reply_id);
        else
            failed++;
    }
    size_t n_sent = e2e_strset_count(sent);
    assert_int_equal(e2e_index_distinct(fs->delivered), acks);
    if (acks != fs->want_acks)
        fail_msg("%s: %zu distinct acknowledgements, want %zu", name, acks,
                 fs->want_acks);

    /* The platform peer: it accepted exactly the reply ids delivered as sent, each once
     * (its Idempotency-Key index refuses a second post of one id: a resend is answered
     * from the first copy and counted as a duplicate). */
    struct e2e_http_resp resp;
    assert_int_equal(e2e_http_get(e2e_proc_port(fs->peer), "/posts", &resp), 200);
    json_t *posts = json_object_get(resp.json, "posts");
    assert_true(json_is_array(posts));
    struct e2e_strset *keys = e2e_strset_new();
    size_t peer_posts = json_array_size(posts), twice = 0, unknown = 0;
    for (size_t i = 0; i < peer_posts; i++) {
        const char *key =
            json_string_value(json_object_get(json_array_get(posts, i), "key"));
        if (!key || !e2e_strset_add(keys, key))
            twice++;
        else if (!e2e_strset_has(sent, key))
            unknown++;
    }
    e2e_http_resp_cleanup(&resp);
    size_t missing = 0;
    for (size_t i = 0; i < e2e_collector_count(fs->coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(fs->coll, i);
        const char *reply_id = e2e_msg_str(msg, "reply_id");
        if (strcmp(msg->topic, "replies.delivered") == 0 && reply_id &&
            e2e_strset_has(sent, reply_id) && !e2e_strset_has(keys, reply_id)) {
            missing++;
            e2e_strset_add(keys, reply_id); /* count each once */
        }
    }
    e2e_strset_free(keys);
    e2e_strset_free(sent);
    long long dup_resends = fault_peer_stat(fs, "duplicates");
    long long requests = fault_peer_stat(fs, "requests");
    long long injected = fault_peer_stat(fs, "injected");
    long long max_copies = fault_peer_stat(fs, "max_copies");
    fprintf(stderr,
            "%s: COUNTS posts=%d case_events=%zu (redelivered %zu) distinct_posts=%zu "
            "sla_breaches=%zu amplify=%zu (%zu posts) acks=%zu/%zu outbound_msgs=%zu "
            "receipts=%zu sent=%zu "
            "not_sent=%zu | peer: requests=%lld accepted=%zu twice=%zu unknown=%zu "
            "missing=%zu idempotent_resends=%lld injected=%lld max_copies=%lld | "
            "restarts=%d | check took %lld ms\n",
            name, fs->posts, events, events - (size_t)fs->posts,
            e2e_index_distinct(fs->case_ids), breaches, amplifies, amplified_posts, acks,
            fs->want_acks, outbound, receipts, n_sent, failed, requests, peer_posts,
            twice, unknown, missing, dup_resends, injected, max_copies, fs->restarts,
            (long long)(e2e_now_ms() - started));
    if (twice || unknown || missing || peer_posts != n_sent)
        fail_msg("%s: the platform peer holds %zu posts (%zu twice, %zu not delivered as "
                 "sent), %zu reply ids delivered as sent are missing there; %zu sent",
                 name, peer_posts, twice, unknown, missing, n_sent);
    if (n_sent != acks)
        fail_msg("%s: %zu of %zu acknowledgements were reported sent", name, n_sent,
                 acks);
    if (dup_resends < fs->min_resends)
        fail_msg("%s: the peer answered %lld resends from its first copy, want at least "
                 "%lld",
                 name, dup_resends, fs->min_resends);

    /* Redis state: each customer's case counts each of its posts exactly once (nothing
     * lost across the fault, nothing applied twice). */
    int per_customer = fs->posts / FAULT_CUSTOMERS;
    for (int c = 0; c < FAULT_CUSTOMERS; c++) {
        redisReply *reply = e2e_redis(e, "HGET case:{x:u%d} posts", c);
        if (reply->type != REDIS_REPLY_STRING || atoi(reply->str) != per_customer)
            fail_msg("%s: case of customer x:u%d counts %s posts, want %d", name, c,
                     reply->type == REDIS_REPLY_STRING ? reply->str : "no", per_customer);
        freeReplyObject(reply);
    }
    if (fs->extra_check)
        fs->extra_check(fs, name, fs->extra_arg);

    fault_env_free(fs->responder_envv);
    fault_env_free(fs->router_envv);
    fault_env_free(fs->classifier_envv);
    fault_env_free(fs->ingestor_envv);
    sc_free(fs->ingest_file);
    sc_free(fs->file);
    sc_free(fs);
    e2e_finish(e);
}

#endif
