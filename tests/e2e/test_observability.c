/* End-to-end observability: a real Prometheus (the Debian package's binary) scrapes the
 * four services' /metrics every second, with the product's alert and recording rules
 * (deploy/prometheus/rules/socialcare.rules.yml) loaded, while a paced replay and an HTTP
 * batch go through the pipeline on the dev broker and a real Redis. The test then asks
 * Prometheus's HTTP API, not the services, and checks that the pipeline's counters add
 * up: posts accepted by the ingestor = produced to posts.inbound = classified = routed;
 * duplicates and invalid lines are counted as such (and the invalid ones dead-lettered);
 * once everything is routed, one agent reply per case is queued on replies.outbound (as
 * the agent APIs do), and replies queued (the router's acknowledgements plus the agents')
 * = consumed by the responder = sent = received by the platform stand-in = outcomes
 * produced and consumed by the router; every case got exactly one first response.
 * It also checks that Prometheus scraped the ingestor during the replay (a partial count
 * was recorded), that every target is up, that the consumer-lag recording rule covers
 * each consumer and drains to zero, and that every rule evaluates without error. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "alloc.h"

#define N_CUSTOMERS 30
#define N_REPLAY    150 /* distinct valid posts in the replay file */
#define N_DUP       15  /* lines repeating earlier posts */
#define N_INVALID   5   /* lines that are not valid posts */
#define N_HTTP      45  /* posts in one POST /v1/posts */
#define N_TOTAL     (N_REPLAY + N_HTTP)
#define REPLAY_RATE 40.0 /* posts per second: the replay lasts about 4 s */
#define WAIT_MS     60000

static const char *const SERVICES[] = {"ingestor", "classifier", "escalation-router",
                                       "responder"};

/* ------------------------------------------------------------------ Prometheus */

struct prom {
    struct e2e_proc *proc;
    int port;
    char *targets_dir;
};

static char *find_prometheus(void)
{
    const char *path = getenv("PATH");
    char *copy = sc_strdup(path && *path ? path : "/usr/bin:/bin");
    char *result = NULL;
    for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir && !result;
         dir = strtok_r(NULL, ":", &save)) {
        char *candidate = sc_asprintf("%s/prometheus", dir);
        if (access(candidate, X_OK) == 0)
            result = candidate;
        else
            sc_free(candidate);
    }
    sc_free(copy);
    return result;
}

/* Writes the file_sd targets of one job atomically (Prometheus watches the directory). */
static void write_targets(const struct prom *p, const char *job, int port)
{
    char *tmp = sc_asprintf("%s/.%s.json.tmp", p->targets_dir, job);
    char *final = sc_asprintf("%s/%s.json", p->targets_dir, job);
    char *body = port > 0 ? sc_asprintf("[{\"targets\": [\"127.0.0.1:%d\"]}]\n", port)
                          : sc_strdup("[]\n");
    e2e_write_file(tmp, body, strlen(body), false);
    assert_int_equal(rename(tmp, final), 0);
    sc_free(body);
    sc_free(final);
    sc_free(tmp);
}

/* One job per service, named like the service (as docker-compose's Prometheus and the
 * ServiceMonitor do), scraped every second from a file_sd file. */
static char *prometheus_config(const struct prom *p, const char *rules)
{
    size_t cap = 4096, len = 0;
    char *cfg = sc_malloc(cap);
    len += (size_t)snprintf(cfg + len, cap - len,
                            "global:\n"
                            "  scrape_interval: 1s\n"
                            "  scrape_timeout: 900ms\n"
                            "  evaluation_interval: 1s\n"
                            "rule_files:\n"
                            "  - %s\n"
                            "scrape_configs:\n",
                            rules);
    for (size_t i = 0; i < sizeof(SERVICES) / sizeof(SERVICES[0]); i++)
        len += (size_t)snprintf(cfg + len, cap - len,
                                "  - job_name: %s\n"
                                "    honor_labels: true\n"
                                "    file_sd_configs:\n"
                                "      - files: [%s/%s.json]\n"
                                "        refresh_interval: 1s\n",
                                SERVICES[i], p->targets_dir, SERVICES[i]);
    assert_true(len < cap);
    return cfg;
}

/* Starts Prometheus on a free port (retrying when another process takes it) with the
 * services' HTTP ports (in SERVICES order) as its targets, and waits until it is ready.
 */
static void start_prometheus(struct e2e *e, struct prom *p, const int *ports)
{
    char *bin = find_prometheus();
    if (!bin)
        fail_msg("prometheus is not installed (Debian package prometheus)");
    const char *src = getenv("SC_SOURCE_DIR");
#ifdef SC_DEPLOY_SOURCE_DIR
    if (!src)
        src = SC_DEPLOY_SOURCE_DIR; /* cmake/deploy.cmake: run by hand from bin/ */
#endif
    if (!src)
        fail_msg("SC_SOURCE_DIR is not set (ctest sets it)");
    char *rules = sc_asprintf("%s/deploy/prometheus/rules/socialcare.rules.yml", src);
    assert_int_equal(access(rules, R_OK), 0);

    p->targets_dir = e2e_path(e, "targets");
    char *mkdir_cmd = sc_asprintf("mkdir -p '%s'", p->targets_dir);
    assert_int_equal(system(mkdir_cmd), 0);
    sc_free(mkdir_cmd);
    for (size_t i = 0; i < sizeof(SERVICES) / sizeof(SERVICES[0]); i++)
        write_targets(p, SERVICES[i], ports[i]);
    char *config = e2e_path(e, "prometheus.yml");
    char *text = prometheus_config(p, rules);
    e2e_write_file(config, text, strlen(text), false);
    sc_free(text);

    char *home = sc_asprintf("HOME=%s", e2e_tmpdir(e));
    const char *env[] = {"PATH=/usr/bin:/bin", home, NULL};
    char *config_arg = sc_asprintf("--config.file=%s", config);
    for (int attempt = 0; attempt < 5 && !p->proc; attempt++) {
        p->port = e2e_free_port();
        bool taken = false; /* the ingestor's port is reserved but not bound yet */
        for (size_t i = 0; i < sizeof(SERVICES) / sizeof(SERVICES[0]); i++)
            taken |= p->port == ports[i];
        if (taken)
            continue;
        char *data =
            sc_asprintf("--storage.tsdb.path=%s/prom-data-%d", e2e_tmpdir(e), attempt);
        char *listen = sc_asprintf("--web.listen-address=127.0.0.1:%d", p->port);
        const char *argv[] = {bin, config_arg, data, listen, "--log.level=warn", NULL};
        struct e2e_proc *proc = e2e_spawn(e, "prometheus", argv, env);
        if (e2e_wait_http_status(e, p->port, "/-/ready", 200, 30000) &&
            e2e_proc_running(proc))
            p->proc = proc;
        else if (e2e_proc_running(proc))
            e2e_stop(proc, 10000); /* someone else answered on that port: try another */
        sc_free(listen);
        sc_free(data);
    }
    if (!p->proc)
        fail_msg("prometheus did not become ready");
    sc_free(config_arg);
    sc_free(home);
    sc_free(config);
    sc_free(rules);
    sc_free(bin);
}

/* GET /api/v1/<endpoint>?query=<q>: the parsed response when its status is success. */
static json_t *prom_api(const struct prom *p, const char *endpoint, const char *query)
{
    char *escaped = query ? curl_easy_escape(NULL, query, 0) : NULL;
    char *path = escaped ? sc_asprintf("/api/v1/%s?query=%s", endpoint, escaped)
                         : sc_asprintf("/api/v1/%s", endpoint);
    curl_free(escaped);
    struct e2e_http_resp resp;
    long status = e2e_http_get(p->port, path, &resp);
    json_t *result = NULL;
    const char *outcome =
        resp.json ? json_string_value(json_object_get(resp.json, "status")) : NULL;
    if (status == 200 && outcome && !strcmp(outcome, "success"))
        result = json_incref(json_object_get(resp.json, "data"));
    else if (status != 200)
        fprintf(stderr, "prometheus %s %s: HTTP %ld %s\n", endpoint, query ? query : "",
                status, resp.body ? resp.body : "");
    e2e_http_resp_cleanup(&resp);
    sc_free(path);
    return result;
}

/* Value of an instant query that returns one sample (wrap in sum()); NAN when it
 * returns none. */
static double prom_value(const struct prom *p, const char *query)
{
    json_t *data = prom_api(p, "query", query);
    double v = NAN;
    json_t *result = json_object_get(data, "result");
    if (json_array_size(result) == 1) {
        const char *s = json_string_value(
            json_array_get(json_object_get(json_array_get(result, 0), "value"), 1));
        if (s)
            v = strtod(s, NULL);
    } else if (json_array_size(result) > 1) {
        fprintf(stderr, "prometheus: %s returned %zu samples, want one\n", query,
                json_array_size(result));
    }
    json_decref(data);
    return v;
}

/* Number of samples an instant query returns. */
static size_t prom_count(const struct prom *p, const char *query)
{
    json_t *data = prom_api(p, "query", query);
    size_t n = json_array_size(json_object_get(data, "result"));
    json_decref(data);
    return n;
}

static bool prom_equals(const struct prom *p, const char *query, double want)
{
    double v = prom_value(p, query);
    return !isnan(v) && fabs(v - want) < 1e-9;
}

typedef bool (*prom_cond_fn)(const struct prom *p, void *arg);

/* Polls cond every 200 ms until it holds or timeout_ms (scaled) passes. */
static bool prom_wait(const struct prom *p, prom_cond_fn cond, void *arg, int timeout_ms)
{
    int64_t deadline = e2e_now_ms() + e2e_ms(timeout_ms);
    for (;;) {
        if (cond(p, arg))
            return true;
        if (e2e_now_ms() > deadline)
            return false;
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ------------------------------------------------------------------ conditions */

static bool consumers_up(const struct prom *p, void *arg)
{
    (void)arg;
    return prom_equals(p, "sum(up{job=~\"classifier|escalation-router|responder\"})", 3);
}

static bool replay_scraped_midway(const struct prom *p, void *arg)
{
    (void)arg;
    double v = prom_value(
        p,
        "sum(socialcare_ingestor_posts_total{source=\"replay\",outcome=\"accepted\"})");
    return !isnan(v) && v > 0 && v < N_REPLAY;
}

static bool all_routed(const struct prom *p, void *arg)
{
    (void)arg;
    return prom_equals(p, "sum(socialcare_router_posts_total)", N_TOTAL);
}

/* Every queued reply (the router's acknowledgements, all produced, plus the agents'
 * replies) sent, and its outcome consumed by the router. */
static bool replies_settled(const struct prom *p, void *arg)
{
    (void)arg;
    double acks = prom_value(p, "sum(socialcare_router_acknowledgements_total)");
    return !isnan(acks) &&
           prom_equals(p,
                       "sum(socialcare_kafka_messages_produced_total{job=\"escalation-"
                       "router\",topic=\"replies.outbound\"}) or vector(0)",
                       acks) &&
           prom_equals(p, "sum(socialcare_responder_replies_total{status=\"sent\"})",
                       acks + N_CUSTOMERS) &&
           prom_equals(p,
                       "sum(socialcare_kafka_messages_consumed_total{job=\"escalation-"
                       "router\",topic=\"replies.delivered\"})",
                       acks + N_CUSTOMERS);
}

static bool lag_drained(const struct prom *p, void *arg)
{
    (void)arg;
    return prom_count(p, "socialcare:kafka_consumer_lag_messages:sum") == 4 &&
           prom_equals(p, "sum(socialcare:kafka_consumer_lag_messages:sum)", 0);
}

/* ------------------------------------------------------------------ test data */

static char *post_for(const char *prefix, int i)
{
    char id[32], author[16];
    snprintf(id, sizeof(id), "%s%d", prefix, i);
    snprintf(author, sizeof(author), "u%03d", i % N_CUSTOMERS);
    enum e2e_intent intent = (enum e2e_intent)((i / N_CUSTOMERS + i) % E2E_INTENT_COUNT);
    return e2e_post_new("x", id, author, e2e_sample_text(intent, (unsigned)i));
}

static char *write_replay(struct e2e *e)
{
    char *file = e2e_path(e, "replay.jsonl");
    e2e_write_file(file, "", 0, false);
    static const char *const invalid[N_INVALID] = {
        "this is not json",
        "{\"v\":1,\"id\":\"x:broken\"}",
        "[1,2,3]",
        "{\"v\":1,\"id\":\"x:bad\",\"platform\":\"x\",\"kind\":\"mention\"",
        "{\"v\":99,\"id\":\"x:v99\",\"platform\":\"x\",\"kind\":\"mention\","
        "\"created_at\":\"2026-11-22T07:33:29Z\",\"text\":\"hi\",\"author\":{\"id\":"
        "\"1\"}}",
    };
    for (int i = 0; i < N_REPLAY; i++) {
        char *json = post_for("r", i);
        e2e_write_file(file, json, strlen(json), true);
        e2e_write_file(file, "\n", 1, true);
        sc_free(json);
        if (i % 30 == 7) {
            const char *bad = invalid[(i / 30) % N_INVALID];
            e2e_write_file(file, bad, strlen(bad), true);
            e2e_write_file(file, "\n", 1, true);
        }
    }
    for (int i = 0; i < N_DUP; i++) { /* repeats, after the originals */
        char *json = post_for("r", i * 3);
        e2e_write_file(file, json, strlen(json), true);
        e2e_write_file(file, "\n", 1, true);
        sc_free(json);
    }
    return file;
}

static void post_http_batch(struct e2e_proc *ingestor)
{
    size_t cap = 64 * 1024, len = 0;
    char *body = sc_malloc(cap);
    body[len++] = '[';
    for (int i = 0; i < N_HTTP; i++) {
        char *json = post_for("h", i);
        size_t n = strlen(json);
        assert_true(len + n + 4 < cap);
        if (i > 0)
            body[len++] = ',';
        memcpy(body + len, json, n);
        len += n;
        sc_free(json);
    }
    body[len++] = ']';
    body[len] = '\0';
    struct e2e_http_resp resp;
    long status = e2e_http_post_json(e2e_proc_port(ingestor), "/v1/posts", body, &resp);
    if (status != 202)
        fprintf(stderr, "POST /v1/posts: %ld %s\n", status, resp.body ? resp.body : "");
    assert_int_equal(status, 202);
    e2e_http_resp_cleanup(&resp);
    sc_free(body);
}

/* One agent reply per customer's case (case id read from Redis), produced to
 * replies.outbound keyed by the customer, as the agent APIs queue them. */
static void queue_agent_replies(struct e2e *e)
{
    for (int c = 0; c < N_CUSTOMERS; c++) {
        redisReply *r = e2e_redis(e, "HGET case:{x:u%03d} case_id", c);
        if (r->type != REDIS_REPLY_STRING)
            fail_msg("customer u%03d has no case in Redis", c);
        char customer[16], reply_id[32], in_reply_to[32];
        snprintf(customer, sizeof(customer), "x:u%03d", c);
        snprintf(reply_id, sizeof(reply_id), "agent-obs-%d", c);
        snprintf(in_reply_to, sizeof(in_reply_to), "x:r%d", c); /* its first post */
        json_t *reply =
            json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "v", 1, "reply_id",
                      reply_id, "case_id", r->str, "customer", customer, "platform", "x",
                      "channel", "public", "in_reply_to", in_reply_to, "text",
                      "Thank you for your patience, we are looking into it.", "origin",
                      "agent:obs", "requires_review", 0);
        freeReplyObject(r);
        assert_non_null(reply);
        char *text = json_dumps(reply, JSON_COMPACT);
        e2e_produce(e, "replies.outbound", customer, text, strlen(text), NULL);
        free(text);
        json_decref(reply);
    }
}

/* ------------------------------------------------------------------ the test */

/* Expects a query's final value. The counters are final by now, but Prometheus may still
 * hold an older sample of one target (a scrape that timed out on a loaded machine), so
 * the value is polled until it matches or a deadline passes. */
static void prom_expect(const struct prom *p, const char *query, double want)
{
    int64_t deadline = e2e_now_ms() + e2e_ms(10000);
    double v;
    for (;;) {
        v = prom_value(p, query);
        if (!isnan(v) && fabs(v - want) <= 1e-9)
            return;
        if (e2e_now_ms() > deadline)
            break;
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("prometheus: %s = %g, want %g", query, v, want);
}

static void test_observability(void **state)
{
    struct e2e *e = *state;
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    const char *sink_args[] = {"--port", "0", NULL};
    struct e2e_proc *sink = e2e_start_tool(e, "reply-sink", sink_args);

    /* Kafka statistics (and so the lag gauges) every second instead of every five. */
    const char *stats_env[] = {"KAFKA_STATISTICS_INTERVAL_MS=1000", NULL};
    struct e2e_proc *classifier = e2e_start_service(e, "classifier", stats_env);
    struct e2e_proc *router = e2e_start_service(e, "escalation-router", stats_env);
    char *endpoint =
        sc_asprintf("REPLY_ENDPOINT=http://127.0.0.1:%d/v1/replies", e2e_proc_port(sink));
    /* Without the per-account and per-customer send budgets: this test counts replies,
     * it does not pace them. */
    const char *responder_env[] = {endpoint, "KAFKA_STATISTICS_INTERVAL_MS=1000",
                                   "RATE_LIMITS=false", NULL};
    struct e2e_proc *responder = e2e_start_service(e, "responder", responder_env);

    /* The ingestor's port is chosen now, so that Prometheus (whose discovery applies
     * target changes every 5 s) scrapes it from its first second: the replay starts
     * as soon as the ingestor does. */
    int ingestor_port = e2e_free_port();
    const int ports[] = {ingestor_port, e2e_proc_port(classifier), e2e_proc_port(router),
                         e2e_proc_port(responder)};
    struct prom p = {0};
    start_prometheus(e, &p, ports);
    if (!prom_wait(&p, consumers_up, NULL, 30000))
        fail_msg("prometheus does not scrape the three consumers");

    /* The paced replay, scraped while it runs; an HTTP batch meanwhile. */
    char *file = write_replay(e);
    char *ingest_file = sc_asprintf("INGEST_FILE=%s", file);
    char rate[64], port_env[32];
    snprintf(rate, sizeof(rate), "INGEST_RATE=%g", REPLAY_RATE / e2e_multiplier());
    snprintf(port_env, sizeof(port_env), "HTTP_PORT=%d", ingestor_port);
    const char *ingestor_env[] = {ingest_file, rate, port_env, NULL};
    struct e2e_proc *ingestor = e2e_start_service(e, "ingestor", ingestor_env);
    assert_int_equal(e2e_proc_port(ingestor), ingestor_port);
    post_http_batch(ingestor);
    if (!prom_wait(&p, replay_scraped_midway, NULL, 20000))
        fail_msg("no partial replay count scraped: ingestor up %g, accepted %g",
                 prom_value(&p, "sum(up{job=\"ingestor\"})"),
                 prom_value(&p, "sum(socialcare_ingestor_posts_total{source=\"replay\","
                                "outcome=\"accepted\"})"));
    assert_true(e2e_wait_stderr(e, ingestor, "replay finished", WAIT_MS));
    if (!prom_wait(&p, all_routed, NULL, WAIT_MS))
        fail_msg("routed %g of %d posts",
                 prom_value(&p, "sum(socialcare_router_posts_total)"), N_TOTAL);

    /* Agents answer every case; with the router's own acknowledgements (as many as its
     * policy queued for these posts), that is every reply the responder must send. */
    queue_agent_replies(e);
    if (!prom_wait(&p, replies_settled, NULL, WAIT_MS))
        fail_msg(
            "replies: %g acknowledgements queued, %g sent, %g outcomes consumed by "
            "the router (want acknowledgements + %d for both)",
            prom_value(&p, "sum(socialcare_router_acknowledgements_total)"),
            prom_value(&p, "sum(socialcare_responder_replies_total{status=\"sent\"})"),
            prom_value(&p, "sum(socialcare_kafka_messages_consumed_total{job="
                           "\"escalation-router\",topic=\"replies.delivered\"})"),
            N_CUSTOMERS);
    if (!prom_wait(&p, lag_drained, NULL, 30000))
        fail_msg("consumer lag: %zu series, sum %g (want 4 series, 0)",
                 prom_count(&p, "socialcare:kafka_consumer_lag_messages:sum"),
                 prom_value(&p, "sum(socialcare:kafka_consumer_lag_messages:sum)"));

    /* Every target up; Prometheus saw the replay's count grow across several scrapes. */
    prom_expect(&p, "count(up == 1)", 4);
    prom_expect(&p, "sum(up)", 4);
    double first = prom_value(&p, "min_over_time(socialcare_ingestor_posts_total{source="
                                  "\"replay\",outcome=\"accepted\"}[10m])");
    assert_true(first < N_REPLAY);
    assert_true(prom_value(&p, "count_over_time(socialcare_ingestor_posts_total{source="
                               "\"replay\",outcome=\"accepted\"}[10m])") >= 3);

    /* Posts in = produced = classified = routed. */
    prom_expect(
        &p,
        "sum(socialcare_ingestor_posts_total{source=\"replay\",outcome=\"accepted\"})",
        N_REPLAY);
    prom_expect(
        &p, "sum(socialcare_ingestor_posts_total{source=\"http\",outcome=\"accepted\"})",
        N_HTTP);
    prom_expect(&p, "sum(socialcare_ingestor_posts_total{outcome=\"accepted\"})",
                N_TOTAL);
    prom_expect(&p, "sum(socialcare_ingestor_posts_total{outcome=\"duplicate\"})", N_DUP);
    prom_expect(&p, "sum(socialcare_ingestor_posts_total{outcome=\"rejected\"})",
                N_INVALID);
    prom_expect(&p,
                "sum(socialcare_kafka_messages_produced_total{job=\"ingestor\","
                "topic=\"posts.inbound\"})",
                N_TOTAL);
    prom_expect(&p,
                "sum(socialcare_kafka_messages_consumed_total{job=\"classifier\","
                "topic=\"posts.inbound\"})",
                N_TOTAL);
    prom_expect(&p, "sum(socialcare_classifier_posts_total)", N_TOTAL);
    prom_expect(&p,
                "sum(socialcare_kafka_messages_produced_total{job=\"classifier\","
                "topic=\"posts.classified\"})",
                N_TOTAL);
    prom_expect(&p,
                "sum(socialcare_kafka_messages_consumed_total{job=\"escalation-router\","
                "topic=\"posts.classified\"})",
                N_TOTAL);
    prom_expect(&p, "sum(socialcare_router_posts_total)", N_TOTAL);
    /* The classifier's intents and the router's departments each add up to the total. */
    prom_expect(&p, "sum(sum by (intent) (socialcare_classifier_posts_total))", N_TOTAL);
    prom_expect(&p, "sum(sum by (department) (socialcare_router_posts_total))", N_TOTAL);

    /* Only the invalid lines were dead-lettered, by the ingestor (its own service label
     * kept by honor_labels). */
    prom_expect(&p, "sum(socialcare_dead_lettered_total{service=\"ingestor\"})",
                N_INVALID);
    prom_expect(&p, "sum(socialcare_dead_lettered_total) or vector(0)", N_INVALID);

    /* Replies: queued (acknowledgements + agents') = consumed by the responder = sent
     * = received by the platform stand-in = outcomes produced and consumed; none failed;
     * every case got exactly one first response. */
    double acks = prom_value(&p, "sum(socialcare_router_acknowledgements_total)");
    double replies = acks + N_CUSTOMERS;
    prom_expect(&p,
                "sum(socialcare_kafka_messages_produced_total{job=\"escalation-router\","
                "topic=\"replies.outbound\"}) or vector(0)",
                acks);
    prom_expect(&p,
                "sum(socialcare_kafka_messages_consumed_total{job=\"responder\","
                "topic=\"replies.outbound\"})",
                replies);
    prom_expect(&p, "sum(socialcare_responder_replies_total{status=\"sent\"})", replies);
    prom_expect(&p, "sum(socialcare_responder_replies_total)", replies);
    prom_expect(&p,
                "sum(socialcare_kafka_messages_produced_total{job=\"responder\","
                "topic=\"replies.delivered\"})",
                replies);
    prom_expect(&p,
                "sum(socialcare_kafka_messages_consumed_total{job=\"escalation-router\","
                "topic=\"replies.delivered\"})",
                replies);
    prom_expect(&p, "sum(socialcare_first_response_seconds_count)", N_CUSTOMERS);
    struct e2e_http_resp resp;
    assert_int_equal(e2e_http_get(e2e_proc_port(sink), "/stats", &resp), 200);
    assert_non_null(resp.json);
    assert_int_equal(json_integer_value(json_object_get(resp.json, "unique")),
                     (json_int_t)replies);
    e2e_http_resp_cleanup(&resp);

    /* Every recording and alerting rule evaluated against these metrics without error. */
    json_t *rules = prom_api(&p, "rules", NULL);
    assert_non_null(rules);
    size_t n_rules = 0, n_bad = 0;
    json_t *groups = json_object_get(rules, "groups");
    assert_int_equal(json_array_size(groups), 2);
    for (size_t g = 0; g < json_array_size(groups); g++) {
        json_t *list = json_object_get(json_array_get(groups, g), "rules");
        for (size_t r = 0; r < json_array_size(list); r++) {
            json_t *rule = json_array_get(list, r);
            n_rules++;
            const char *health = json_string_value(json_object_get(rule, "health"));
            if (!health || strcmp(health, "ok") != 0) {
                const char *error = json_string_value(json_object_get(rule, "lastError"));
                n_bad++;
                fprintf(stderr, "rule %s: health %s %s\n",
                        json_string_value(json_object_get(rule, "name")),
                        health ? health : "(none)", error ? error : "");
            }
        }
    }
    json_decref(rules);
    assert_true(n_rules >= 10);
    assert_int_equal(n_bad, 0);

    sc_free(ingest_file);
    sc_free(file);
    sc_free(endpoint);
    sc_free(p.targets_dir);
    e2e_finish(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_observability, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
