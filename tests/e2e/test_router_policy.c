/* End-to-end: the escalation router's acknowledgement policy, case lifecycle, case API
 * and configuration reload, through the dev broker and a real Redis (classified posts
 * produced straight onto posts.classified).
 * - quiet mode set through the API for region "eu": an eu complaint gets no automatic
 *   message (counted as skipped), a us one does; the switch is the shared Redis key
 *   quiet:region:eu holding the end time with a TTL;
 * - a brand-term search result, a public comment, a crisis (to communications, P1) get no
 *   automatic reply; a direct message gets its acknowledgement as a DM with the handle;
 * - lifecycle: complaint (acknowledged), praise (thanked), resolve through the API, a new
 *   complaint reopens the same case, and the daily cap (2) stops a third automatic reply;
 * - a returning customer's new case goes to the agent who helped before (available);
 * - the API: 401 without the token, cases ordered by SLA due and filtered by department,
 *   one case with its history, JSON errors;
 * - SIGHUP reloads the routing file; a broken file is refused and the old rules stay. */
#include "harness.h"

#include <signal.h>

#include "router_peer.h"

#define TOKEN "e2e-token"

static const char *const auth[] = {"Authorization: Bearer " TOKEN,
                                   "Content-Type: application/json", NULL};

static long api(struct e2e_proc *router, const char *method, const char *path,
                const char *body, struct e2e_http_resp *resp)
{
    return e2e_http(e2e_proc_port(router), method, path, body, body ? strlen(body) : 0,
                    auth, resp);
}

struct want_posts {
    struct e2e_collector *coll;
    const char *const *ids;
};

static bool have_events(struct e2e *e, void *arg)
{
    (void)e;
    struct want_posts *w = arg;
    for (size_t i = 0; w->ids[i]; i++)
        if (!find_msg(w->coll, "cases.events", "post_id", w->ids[i], NULL, NULL))
            return false;
    return true;
}

static void wait_events(struct e2e *e, struct e2e_collector *coll, const char *const *ids)
{
    struct want_posts w = {coll, ids};
    if (!e2e_wait_until(e, have_events, &w, 30000))
        fail_msg("case events missing for some of %s ...", ids[0]);
}

static const char *event_str(struct e2e_collector *coll, const char *post_id,
                             const char *field)
{
    const struct e2e_msg *m =
        find_msg(coll, "cases.events", "post_id", post_id, NULL, NULL);
    assert_non_null(m);
    return e2e_msg_str(m, field);
}

static const struct e2e_msg *ack_of(struct e2e_collector *coll, const char *post_id)
{
    char id[64];
    snprintf(id, sizeof(id), "ack-%s", post_id);
    return find_msg(coll, "replies.outbound", "reply_id", id, NULL, NULL);
}

#define BASE_CFG                                                                         \
    "{\"version\":1,\"default_department\":\"customer_service\",\n"                      \
    "\"departments\":[{\"name\":\"customer_service\",\"signature\":\"Ana, Care\"},\n"    \
    "  {\"name\":\"communications\"},{\"name\":\"billing\",\"signature\":\"Priya\"}],\n" \
    "\"rules\":[{\"name\":\"billing\",\"match\":{\"topic\":\"billing\"},\"department\":" \
    "\"billing\"},{\"name\":\"praise\",\"match\":{\"intent\":\"praise\"},\"tags\":"      \
    "[\"amplify\"],\"amplify\":true}%s],\n"                                              \
    "\"acknowledgements\":{\"daily_cap_per_customer\":2},\n"                             \
    "\"cases\":{\"reopen_window_hours\":1},\n"                                           \
    "\"templates\":{\"complaint\":\"{handle} Sorry! Case {case}. {signature}\",\n"       \
    "  \"praise\":\"{handle} Thank you! {signature}\"}}\n"

static bool reloaded(struct e2e *e, void *arg)
{
    (void)e;
    return router_metric(arg, "socialcare_router_config_reloads_total{outcome=\"ok\"}") >=
           1;
}

static bool reload_failed(struct e2e *e, void *arg)
{
    (void)e;
    return router_metric(
               arg, "socialcare_router_config_reloads_total{outcome=\"failed\"}") >= 1;
}

static void test_router_policy(void **state)
{
    struct e2e *e = *state;
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    char *cfg = sc_asprintf(BASE_CFG, "");
    char *path = e2e_path(e, "routing.json");
    e2e_write_file(path, cfg, strlen(cfg), false);
    char *env_cfg = sc_asprintf("ROUTING_CONFIG=%s", path);
    const char *env[] = {env_cfg, "ROUTER_API_TOKEN=" TOKEN, NULL};
    const char *topics[] = {"cases.events", "replies.outbound", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    struct e2e_proc *router = e2e_start_service(e, "escalation-router", env);
    struct e2e_http_resp resp;

    /* The API wants the token. */
    assert_int_equal(e2e_http_get(e2e_proc_port(router), "/v1/cases", &resp), 401);
    assert_string_equal(json_string_value(json_object_get(resp.json, "error")),
                        "unauthorized");
    e2e_http_resp_cleanup(&resp);

    /* Quiet mode for region eu. */
    assert_int_equal(
        api(router, "POST", "/v1/quiet", "{\"region\":\"eu\",\"minutes\":10}", &resp),
        200);
    assert_true(json_is_true(json_object_get(resp.json, "quiet")));
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(api(router, "POST", "/v1/quiet", "{\"minutes\":\"ten\"}", &resp),
                     400);
    e2e_http_resp_cleanup(&resp);
    redisReply *r = e2e_redis(e, "PTTL quiet:region:eu");
    assert_true(r->integer > 0 && r->integer <= 600000);
    freeReplyObject(r);
    r = e2e_redis(e, "GET quiet:region:eu");
    assert_true(strtoll(r->str, NULL, 10) > 1700000000000LL);
    freeReplyObject(r);

    struct rpost posts[] = {
        {.id = "x:a1",
         .author = "A",
         .intent = "complaint",
         .topic = "other",
         .score = -0.5,
         .region = "eu"},
        {.id = "x:b1",
         .author = "B",
         .intent = "complaint",
         .topic = "billing",
         .score = -0.5,
         .region = "us"},
        {.id = "x:c1",
         .author = "C",
         .intent = "complaint",
         .topic = "other",
         .score = -0.5,
         .source = "search"},
        {.id = "x:d1",
         .author = "D",
         .intent = "crisis",
         .topic = "billing",
         .score = -0.9},
        {.id = "x:e1",
         .author = "E",
         .intent = "complaint",
         .topic = "other",
         .score = -0.5,
         .kind = "dm"},
        {.id = "x:f1",
         .author = "F",
         .intent = "complaint",
         .topic = "other",
         .score = -0.5,
         .kind = "comment"},
        {.id = "x:g1",
         .author = "G",
         .intent = "complaint",
         .topic = "billing",
         .score = -0.5},
        {.id = "x:g2", .author = "G", .intent = "praise", .topic = "other", .score = 0.8},
        {.id = "x:h1",
         .author = "H",
         .intent = "complaint",
         .topic = "other",
         .score = -0.5},
    };
    for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++)
        produce_post(e, &posts[i]);
    const char *phase1[] = {"x:a1", "x:b1", "x:c1", "x:d1", "x:e1",
                            "x:f1", "x:g1", "x:g2", "x:h1", NULL};
    wait_events(e, coll, phase1);
    router_settle(e, router, coll, 9);

    assert_null(ack_of(coll, "x:a1")); /* quiet region */
    assert_non_null(ack_of(coll, "x:b1"));
    assert_string_equal(e2e_msg_str(ack_of(coll, "x:b1"), "text"),
                        "@hB Sorry! Case c-x:b1. Priya");
    assert_null(ack_of(coll, "x:c1")); /* search result: a person, never a bot */
    assert_null(ack_of(coll, "x:d1")); /* crisis: never automatic */
    assert_string_equal(event_str(coll, "x:d1", "department"), "communications");
    assert_string_equal(event_str(coll, "x:d1", "priority"), "P1");
    const struct e2e_msg *dm = ack_of(coll, "x:e1");
    assert_non_null(dm);
    assert_string_equal(e2e_msg_str(dm, "channel"), "dm");
    assert_null(ack_of(coll, "x:f1")); /* a public comment did not address the brand */
    assert_non_null(ack_of(coll, "x:g1"));
    const struct e2e_msg *thanks = ack_of(coll, "x:g2");
    assert_non_null(thanks);
    assert_string_equal(e2e_msg_str(thanks, "text"), "@hG Thank you! Ana, Care");
    assert_true(router_metric(router, "socialcare_router_acknowledgements_skipped_total{"
                                      "reason=\"quiet\"}") == 1);
    assert_string_equal(event_str(coll, "x:g1", "type"), "case.opened");
    assert_string_equal(event_str(coll, "x:g2", "type"), "case.updated");
    /* praise under a rule with "amplify": true: a case.amplify suggestion */
    const struct e2e_msg *amp =
        find_msg(coll, "cases.events", "post_id", "x:g2", "type", "case.amplify");
    assert_non_null(amp);
    assert_string_equal(e2e_msg_str(amp, "department"), "customer_service");
    assert_null(
        find_msg(coll, "cases.events", "post_id", "x:g1", "type", "case.amplify"));
    assert_true(router_metric(router, "socialcare_router_amplify_total") == 1);
    assert_string_equal(event_str(coll, "x:g1", "status"), "new");
    assert_string_equal(event_str(coll, "x:g2", "status"), "open");

    /* The case list: ordered by SLA due, filtered by department. */
    assert_int_equal(api(router, "GET", "/v1/cases", NULL, &resp), 200);
    json_t *cases = json_object_get(resp.json, "cases");
    assert_int_equal(json_array_size(cases), 8);
    long long prev = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        long long due =
            strtoll(json_string_value(json_object_get(json_array_get(cases, i), "due")),
                    NULL, 10);
        assert_true(due >= prev);
        prev = due;
    }
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(api(router, "GET", "/v1/cases?department=billing", NULL, &resp),
                     200);
    cases = json_object_get(resp.json, "cases");
    assert_int_equal(json_array_size(cases), 2); /* B and G */
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(api(router, "GET", "/v1/cases?priority=P9", NULL, &resp), 400);
    e2e_http_resp_cleanup(&resp);

    /* G: resolve, then a new complaint reopens the same case; the daily cap (2) holds
     * back a third automatic reply. H: an agent helps, the case is resolved, and H's next
     * (new) case goes back to that agent. */
    assert_int_equal(
        api(router, "POST", "/v1/case/resolve", "{\"customer\":\"x:G\"}", &resp), 200);
    assert_string_equal(json_string_value(json_object_get(resp.json, "case_id")),
                        "c-x:g1");
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(
        api(router, "POST", "/v1/case/resolve", "{\"customer\":\"x:G\"}", &resp), 404);
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(api(router, "POST", "/v1/case/assign",
                         "{\"customer\":\"x:H\",\"agent\":\"a7\"}", &resp),
                     200);
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(api(router, "POST", "/v1/case/assign", "{\"customer\":", &resp),
                     400);
    assert_string_equal(json_string_value(json_object_get(resp.json, "error")),
                        "invalid_json");
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(
        api(router, "POST", "/v1/agents", "{\"agent\":\"a7\",\"available\":true}", &resp),
        200);
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(
        api(router, "POST", "/v1/case/resolve", "{\"customer\":\"x:H\"}", &resp), 200);
    e2e_http_resp_cleanup(&resp);
    struct rpost more[] = {
        {.id = "x:g3",
         .author = "G",
         .intent = "complaint",
         .topic = "billing",
         .score = -0.6},
        {.id = "x:h2", .author = "H", .intent = "question", .topic = "other", .score = 0},
    };
    produce_post(e, &more[0]);
    produce_post(e, &more[1]);
    const char *phase2[] = {"x:g3", "x:h2", NULL};
    wait_events(e, coll, phase2);
    router_settle(e, router, coll, 11);
    assert_string_equal(event_str(coll, "x:g3", "type"), "case.opened");
    assert_string_equal(event_str(coll, "x:g3", "case_id"), "c-x:g1");
    assert_string_equal(event_str(coll, "x:g3", "status"), "open");
    const struct e2e_msg *g3 =
        find_msg(coll, "cases.events", "post_id", "x:g3", NULL, NULL);
    assert_true(json_is_true(json_object_get(g3->json, "reopened")));
    assert_null(ack_of(coll, "x:g3"));
    assert_true(router_metric(router, "socialcare_router_acknowledgements_skipped_total{"
                                      "reason=\"cap\"}") == 1);
    assert_string_equal(event_str(coll, "x:h2", "case_id"), "c-x:h2");
    assert_string_equal(event_str(coll, "x:h2", "agent"), "a7");

    /* One case with its history. */
    assert_int_equal(api(router, "GET", "/v1/case?customer=x:G", NULL, &resp), 200);
    assert_string_equal(json_string_value(json_object_get(resp.json, "case_id")),
                        "c-x:g1");
    assert_string_equal(json_string_value(json_object_get(resp.json, "reopened")), "1");
    json_t *hist = json_object_get(resp.json, "history");
    assert_int_equal(json_array_size(hist), 3);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(hist, 2), "post_id")), "x:g3");
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(api(router, "GET", "/v1/case?customer=x:nobody", NULL, &resp), 404);
    e2e_http_resp_cleanup(&resp);

    /* SIGHUP: a new rule sends shipping to billing; then a broken file is refused and
     * the rules stay. */
    sc_free(cfg);
    cfg = sc_asprintf(BASE_CFG, ",{\"match\":{\"topic\":\"shipping\"},\"department\":"
                                "\"billing\"}");
    e2e_write_file(path, cfg, strlen(cfg), false);
    assert_int_equal(kill(e2e_proc_pid(router), SIGHUP), 0);
    assert_true(e2e_wait_until(e, reloaded, router, 30000));
    struct rpost ship = {.id = "x:k1",
                         .author = "K",
                         .intent = "complaint",
                         .topic = "shipping",
                         .score = -0.5};
    produce_post(e, &ship);
    e2e_write_file(path, "{\"version\":1,", 13, false);
    assert_int_equal(kill(e2e_proc_pid(router), SIGHUP), 0);
    assert_true(e2e_wait_until(e, reload_failed, router, 30000));
    struct rpost ship2 = {.id = "x:k2",
                          .author = "K2",
                          .intent = "complaint",
                          .topic = "shipping",
                          .score = -0.5};
    produce_post(e, &ship2);
    const char *phase3[] = {"x:k1", "x:k2", NULL};
    wait_events(e, coll, phase3);
    assert_string_equal(event_str(coll, "x:k1", "department"), "billing");
    assert_string_equal(event_str(coll, "x:k2", "department"), "billing");
    assert_true(e2e_proc_running(router));

    /* Quiet mode off again. */
    assert_int_equal(
        api(router, "POST", "/v1/quiet", "{\"region\":\"eu\",\"minutes\":0}", &resp),
        200);
    e2e_http_resp_cleanup(&resp);
    r = e2e_redis(e, "EXISTS quiet:region:eu");
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);

    sc_free(env_cfg);
    sc_free(path);
    sc_free(cfg);
    e2e_finish(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_router_policy, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
