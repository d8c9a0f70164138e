/* End-to-end bad-input suite, topics: thousands of deterministic hostile messages (see
 * hostile.h) produced straight onto every consumed topic — posts.inbound (classifier),
 * posts.classified and replies.delivered (escalation router), replies.outbound
 * (responder) — plus messages one byte past the 64 KiB message cap. Each one must be
 * dead-lettered on pipeline.dlq with the headers reason, source.topic, source.partition
 * and source.offset naming exactly the message produced (matched by offset) and the
 * original bytes as its value, counted in socialcare_dead_lettered_total of the service
 * that consumed it, and nothing of it may reach an output topic. Valid posts sent after
 * the flood (one with a text exactly at the 8 KiB cap) still reach posts.classified and
 * cases.events, every service still answers /healthz 200 and exits 0 on SIGTERM with no
 * sanitizer report (e2e_finish). */
#include "harness.h"
#include "hostile.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define PER_TOPIC 750 /* hostile messages per topic */

#define ROUTING_CFG                                                                      \
    "{\"version\":1,\"default_department\":\"customer_service\",\n"                      \
    "\"departments\":[{\"name\":\"customer_service\",\"signature\":\"Ana\"}],\n"         \
    "\"rules\":[]}\n"

static const char *const post_required[] = {"id",   "platform", "kind",      "created_at",
                                            "text", "author",   "author.id", NULL};
static const char *const classified_required[] = {"id",
                                                  "platform",
                                                  "kind",
                                                  "created_at",
                                                  "text",
                                                  "author",
                                                  "author.id",
                                                  "classification",
                                                  "classification.intent",
                                                  "classification.topic",
                                                  "classification.sentiment",
                                                  NULL};
static const char *const post_enums[] = {"platform", "kind", NULL};
static const char *const reply_required[] = {"reply_id", "case_id", "customer",
                                             "platform", "channel", "text",
                                             "origin",   "v",       NULL};
static const char *const reply_enums[] = {"platform", "channel", NULL};
static const char *const delivery_required[] = {"reply_id", "status", "v", NULL};
static const char *const delivery_enums[] = {"status", NULL};

/* One expected dead letter. */
struct expect {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *service;
    const char *cls;
    size_t len; /* the bytes produced: their length and FNV-1a hash */
    uint64_t hash;
    bool seen;
};

static uint64_t fnv1a(const void *p, size_t len)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

struct dlq_state {
    struct e2e_collector *coll;
    struct expect *exp;
    size_t n_exp;
    size_t scanned; /* collector messages looked at */
    size_t matched;
    size_t extra; /* dead letters matching no expectation */
};

/* Matches the DLQ messages collected since the last call against the expectations. */
static void dlq_scan(struct dlq_state *st)
{
    size_t n = e2e_collector_count(st->coll);
    for (; st->scanned < n; st->scanned++) {
        const struct e2e_msg *m = e2e_collector_msg(st->coll, st->scanned);
        if (strcmp(m->topic, "pipeline.dlq") != 0)
            continue;
        const char *reason = e2e_msg_header(m, "reason");
        const char *topic = e2e_msg_header(m, "source.topic");
        const char *part = e2e_msg_header(m, "source.partition");
        const char *off = e2e_msg_header(m, "source.offset");
        const char *svc = e2e_msg_header(m, "service");
        if (!reason || !*reason || !topic || !part || !off)
            fail_msg("DLQ message at offset %lld lacks reason/source headers",
                     (long long)m->offset);
        bool found = false;
        for (size_t i = 0; i < st->n_exp && !found; i++) {
            struct expect *x = &st->exp[i];
            if (x->offset != atoll(off) || x->partition != atol(part) ||
                strcmp(x->topic, topic) != 0)
                continue;
            found = true;
            if (x->seen)
                fail_msg("%s/%d/%lld dead-lettered twice", topic, (int)x->partition,
                         (long long)x->offset);
            if (!svc || strcmp(svc, x->service) != 0)
                fail_msg("%s/%d/%lld dead-lettered by %s, want %s", topic,
                         (int)x->partition, (long long)x->offset, svc ? svc : "(none)",
                         x->service);
            if (m->value_len != x->len || fnv1a(m->value, m->value_len) != x->hash)
                fail_msg("%s/%d/%lld: the dead letter does not carry the original bytes "
                         "(%zu bytes, want %zu)",
                         topic, (int)x->partition, (long long)x->offset, m->value_len,
                         x->len);
            x->seen = true;
            st->matched++;
        }
        if (!found)
            st->extra++;
    }
}

static bool dlq_done(struct e2e *e, void *arg)
{
    (void)e;
    struct dlq_state *st = arg;
    dlq_scan(st);
    return st->matched == st->n_exp;
}

/* Sum of every sample of a counter whose labels contain needle (NULL = all). */
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

struct want_ids {
    struct e2e_index *classified;
    struct e2e_index *cases;
    char **ids;
    size_t n;
};

static bool good_through(struct e2e *e, void *arg)
{
    (void)e;
    struct want_ids *w = arg;
    for (size_t i = 0; i < w->n; i++)
        if (!e2e_index_has(w->classified, w->ids[i]) ||
            !e2e_index_has(w->cases, w->ids[i]))
            return false;
    return true;
}

static json_t *load(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_hostile_topics(void **state)
{
    struct e2e *e = *state;
    uint64_t seed = hostile_seed();
    print_message("hostile topics: seed 0x%llx, %d messages per topic\n",
                  (unsigned long long)seed, PER_TOPIC);
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    char *cfg = e2e_path(e, "routing.json");
    e2e_write_file(cfg, ROUTING_CFG, strlen(ROUTING_CFG), false);
    char *env_cfg = sc_asprintf("ROUTING_CONFIG=%s", cfg);
    const char *router_env[] = {env_cfg, "ROUTER_API_TOKEN=t", NULL};
    const char *topics[] = {"pipeline.dlq", "posts.classified", "cases.events", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    struct e2e_index *classified = e2e_index_new(coll, "posts.classified", "id", NULL);
    struct e2e_index *cases = e2e_index_new(coll, "cases.events", "post_id", NULL);
    struct e2e_proc *classifier = e2e_start_service(e, "classifier", NULL);
    struct e2e_proc *router = e2e_start_service(e, "escalation-router", router_env);
    struct e2e_proc *responder = e2e_start_service(e, "responder", NULL);

    /* The valid events each hostile message is made from. */
    char *post_s = e2e_post_new("x", "hostile", "u1", "my order is late");
    json_t *post = load(post_s);
    json_t *cpost = json_deep_copy(post);
    json_object_set_new(cpost, "classification",
                        json_pack("{s:{s:s,s:f},s:s,s:s,s:f,s:f}", "sentiment", "label",
                                  "negative", "score", -0.8, "intent", "complaint",
                                  "topic", "delivery", "confidence", 0.9, "influence",
                                  0.2));
    json_t *reply =
        json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "v", 1, "reply_id", "r-hostile",
                  "case_id", "c-1", "customer", "x:u1", "platform", "x", "channel",
                  "public", "text", "Sorry!", "origin", "agent:ana");
    json_t *delivery =
        json_pack("{s:i,s:s,s:s}", "v", 1, "reply_id", "r-hostile", "status", "sent");
    struct {
        const char *topic;
        const char *service;
        struct hostile_base base;
    } targets[] = {
        {"posts.inbound",
         "classifier",
         {post, post_required, post_enums, "text", 8192, false}},
        {"posts.classified",
         "escalation-router",
         {cpost, classified_required, post_enums, "text", 8192, false}},
        {"replies.outbound",
         "responder",
         {reply, reply_required, reply_enums, "text", 8192, false}},
        {"replies.delivered",
         "escalation-router",
         {delivery, delivery_required, delivery_enums, "reply_id", 1024, false}},
    };
    size_t n_targets = sizeof(targets) / sizeof(targets[0]);
    size_t n_exp = n_targets * (PER_TOPIC + 1);
    struct expect *exp = sc_calloc(n_exp, sizeof(*exp));
    size_t k = 0;
    size_t per_service[3] = {0, 0, 0}; /* classifier, router, responder */
    struct hrng rng = {seed};
    for (size_t t = 0; t < n_targets; t++) {
        for (unsigned i = 0; i <= PER_TOPIC; i++) {
            struct hostile h;
            if (i < PER_TOPIC) {
                /* 30000 levels: 60 KB, under the 64 KiB message cap */
                hostile_make(&rng, &targets[t].base, i, 30000, &h);
            } else { /* one byte past the 64 KiB message cap, otherwise valid JSON */
                json_t *j = json_deep_copy(targets[t].base.valid);
                size_t len;
                char *s = hostile_dump(j, &len);
                json_decref(j);
                h.len = 65537;
                h.bytes = sc_malloc(h.len + 1);
                memset(h.bytes, ' ', h.len);
                memcpy(h.bytes, s, len);
                h.bytes[h.len] = '\0';
                h.cls = "too_large";
                sc_free(s);
            }
            char key[16]; /* spread over the partitions (each has a 5 MiB cap) */
            snprintf(key, sizeof(key), "x:u%u", i % 16);
            e2e_produce(e, targets[t].topic, key, h.bytes, h.len, NULL);
            struct expect *x = &exp[k++];
            x->topic = targets[t].topic;
            x->service = targets[t].service;
            x->cls = h.cls;
            x->len = h.len;
            x->hash = fnv1a(h.bytes, h.len);
            e2e_last_produced(e, &x->partition, &x->offset);
            per_service[t == 0 ? 0 : t == 2 ? 2 : 1]++;
            hostile_free(&h);
        }
    }
    assert_int_equal(k, n_exp);

    /* Every one dead-lettered, with its source. */
    struct dlq_state st = {coll, exp, n_exp, 0, 0, 0};
    if (!e2e_wait_until(e, dlq_done, &st, 40000)) {
        for (size_t i = 0; i < n_exp; i++)
            if (!exp[i].seen) {
                fail_msg("%zu of %zu hostile messages dead-lettered; first missing: %s "
                         "%d/%lld (class %s)",
                         st.matched, n_exp, exp[i].topic, (int)exp[i].partition,
                         (long long)exp[i].offset, exp[i].cls);
            }
    }
    print_message("hostile topics: %zu of %zu dead-lettered with source headers\n",
                  st.matched, n_exp);

    /* Valid events at the edges (extreme counts and dates, the highest code point,
     * 2048 four-byte characters = the 8 KiB text cap, extreme scores, an unknown intent)
     * and each topic's valid base event: all processed, none dead-lettered. */
    static const char *const big_counts =
        "{\"likes\":9223372036854775807,\"reposts\":9223372036854775807,"
        "\"replies\":9223372036854775807}";
    char *wide = sc_malloc(8193);
    for (int i = 0; i < 2048; i++)
        memcpy(wide + 4 * i, "\xf0\x9f\x98\x80", 4);
    wide[8192] = '\0';
    char *edge_ids[16];
    size_t n_edges = 0;
    for (int c = 0; c < 2; c++) {
        const char *topic = c == 0 ? "posts.inbound" : "posts.classified";
        for (int i = 0; i < 6; i++) {
            json_t *j = json_deep_copy(c == 0 ? post : cpost);
            char id[32];
            snprintf(id, sizeof(id), "x:edge%d%d", c, i);
            json_object_set_new(j, "id", json_string(id));
            json_t *cls = json_object_get(j, "classification");
            switch (i) {
                case 0:
                    json_object_set_new(json_object_get(j, "author"), "followers",
                                        json_integer(INT64_MAX));
                    json_object_set_new(j, "engagement", load(big_counts));
                    break;
                case 1:
                    json_object_set_new(j, "created_at",
                                        json_string("0001-01-01T00:00:00Z"));
                    break;
                case 2:
                    json_object_set_new(j, "created_at",
                                        json_string("9999-12-31T23:59:59Z"));
                    break;
                case 3:
                    json_object_set_new(
                        j, "text",
                        json_string("\xf4\x8f\xbf\xbf \xe2\x80\xae\xe2\x80\x8b ok"));
                    break;
                case 4:
                    json_object_set_new(j, "text", json_string(wide));
                    break;
                default:
                    if (cls) {
                        json_object_set_new(cls, "intent", json_string("no-such-intent"));
                        json_object_set_new(cls, "influence", json_real(-1e308));
                        json_object_set_new(json_object_get(cls, "sentiment"), "score",
                                            json_real(1e308));
                    } else {
                        json_object_set_new(j, "lang", json_string("zz-Zzzz-999"));
                    }
                    break;
            }
            size_t len;
            char *bytes = hostile_dump(j, &len);
            e2e_produce(e, topic, id, bytes, len, NULL);
            edge_ids[n_edges++] = sc_strdup(id);
            sc_free(bytes);
            json_decref(j);
        }
    }
    {
        size_t len;
        char *bytes = hostile_dump(reply, &len);
        e2e_produce(e, "replies.outbound", "x:u1", bytes, len, NULL);
        sc_free(bytes);
        bytes = hostile_dump(delivery, &len);
        e2e_produce(e, "replies.delivered", "x:u1", bytes, len, NULL);
        sc_free(bytes);
    }
    struct want_ids we = {classified, cases, edge_ids, n_edges};
    if (!e2e_wait_until(e, good_through, &we, 30000)) {
        for (size_t i = 0; i < n_edges; i++)
            if (!e2e_index_has(classified, edge_ids[i]) ||
                !e2e_index_has(cases, edge_ids[i]))
                fail_msg("valid edge event %s did not go through", edge_ids[i]);
    }

    /* Good traffic still flows: a few valid posts, one with a text at the 8 KiB cap. */
    char *ids[6];
    for (int i = 0; i < 6; i++) {
        char pid[32];
        snprintf(pid, sizeof(pid), "good%d", i);
        char *text = NULL;
        if (i == 5) {
            text = sc_malloc(8193);
            memset(text, 'b', 8192);
            text[8192] = '\0';
        }
        char *p = e2e_post_new(
            "x", pid, pid, text ? text : e2e_sample_text((enum e2e_intent)(i % 3), i));
        e2e_produce(e, "posts.inbound", pid, p, strlen(p), NULL);
        ids[i] = sc_asprintf("x:%s", pid);
        sc_free(p);
        sc_free(text);
    }
    struct want_ids w = {classified, cases, ids, 6};
    assert_true(e2e_wait_until(e, good_through, &w, 30000));

    /* Nothing hostile got through, and nothing else was dead-lettered. */
    assert_true(e2e_collector_sync(coll, 30000));
    dlq_scan(&st);
    assert_int_equal(st.extra, 0);
    /* posts.classified: the hostile and edge ones produced here, the six good ones and
     * the classifier's edge ones */
    assert_int_equal(e2e_collector_count_topic(coll, "posts.classified"),
                     PER_TOPIC + 1 + 6 + n_edges);
    assert_int_equal(e2e_index_distinct(cases), 6 + n_edges);

    /* Counted by the service that rejected them. */
    int cport = e2e_proc_port(classifier), rport = e2e_proc_port(router),
        sport = e2e_proc_port(responder);
    assert_int_equal((size_t)metric_sum(cport, "socialcare_dead_lettered_total", NULL),
                     per_service[0]);
    assert_int_equal((size_t)metric_sum(rport, "socialcare_dead_lettered_total", NULL),
                     per_service[1]);
    assert_int_equal((size_t)metric_sum(sport, "socialcare_dead_lettered_total", NULL),
                     per_service[2]);

    assert_true(e2e_wait_http_status(e, cport, "/healthz", 200, 5000));
    assert_true(e2e_wait_http_status(e, rport, "/healthz", 200, 5000));
    assert_true(e2e_wait_http_status(e, sport, "/healthz", 200, 5000));

    for (int i = 0; i < 6; i++)
        sc_free(ids[i]);
    for (size_t i = 0; i < n_edges; i++)
        sc_free(edge_ids[i]);
    sc_free(wide);
    sc_free(exp);
    json_decref(post);
    json_decref(cpost);
    json_decref(reply);
    json_decref(delivery);
    sc_free(post_s);
    sc_free(env_cfg);
    sc_free(cfg);
    e2e_finish(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hostile_topics, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
