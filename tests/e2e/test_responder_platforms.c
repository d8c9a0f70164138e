/* End-to-end: the responder speaks each platform's API as documented, against the local
 * platform peer (which checks paths, bearer tokens, bodies, idempotency keys and
 * signatures). Replies on replies.outbound become: a Mastodon reply with the mention
 * added; an X reply too long for 280 as a numbered thread, each part answering the one
 * before; personal data on X moved to a direct message to the author with a public
 * invitation; a Bluesky reply with root and parent refs; personal data on Bluesky moved
 * to a chat message (chat.bsky.convo, through the atproto-proxy header) with a public
 * invitation; personal data for a webhook platform held (then rejected); a Facebook reply
 * through the signed webhook; an automatic reply with a link held, then approved through
 * the agent API and sent; quiet mode for a region suppressing an automatic reply but not
 * an agent's. 5xx answers are retried with backoff until sent. An expired Bluesky session
 * is renewed and the replies that met it are sent. Replies naming a further account
 * (REPLY_ACCOUNTS_FILE) go out with that account's token, others with the default's. */
#include "responder_common.h"

struct stack {
    struct e2e_proc *peer, *responder;
    struct e2e_collector *coll;
    int peer_port, port;
};

static void stack_start(struct e2e *e, struct stack *st, const char *const *peer_args,
                        const char *const *extra_env)
{
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    st->peer = e2e_start_tool(e, "platform-peer", peer_args);
    st->peer_port = e2e_proc_port(st->peer);
    const char *topics[] = {"replies.delivered", NULL};
    st->coll = e2e_collector_new(e, topics);
    char **env = rsp_env(st->peer_port, extra_env);
    st->responder = e2e_start_service(e, "responder", (const char *const *)env);
    rsp_env_free(env);
    st->port = e2e_proc_port(st->responder);
    assert_true(e2e_wait_http_status(e, st->port, "/readyz", 200, 30000));
}

static void test_platforms(void **state)
{
    struct e2e *e = *state;
    struct stack st;
    const char *peer_args[] = {"--port",        "0",           "--token",
                               RSP_TOKEN,       "--secret",    "hook-secret",
                               "--extra-token", "support-tok", "--extra-token",
                               "press-tok",     NULL};
    /* further accounts: x:support and mastodon:press (REPLY_ACCOUNTS_FILE) */
    char accounts[512], accounts_env[600];
    snprintf(accounts, sizeof(accounts), "%s/accounts.json", e2e_tmpdir(e));
    FILE *f = fopen(accounts, "w");
    assert_non_null(f);
    fputs("{\"x:support\":{\"token\":\"support-tok\"},"
          "\"mastodon:press\":{\"token\":\"press-tok\"}}",
          f);
    fclose(f);
    snprintf(accounts_env, sizeof(accounts_env), "REPLY_ACCOUNTS_FILE=%s", accounts);
    const char *extra_env[] = {accounts_env, NULL};
    stack_start(e, &st, peer_args, extra_env);

    char long_text[1000] = "";
    for (int i = 0; i < 40; i++)
        strcat(long_text, "thread words "); /* 520 characters */
    struct {
        const char *id, *platform, *customer, *in_reply_to, *channel, *text, *origin,
            *more, *want;
    } replies[] = {
        {"m1", "mastodon", "mastodon:501", "mastodon:111", "public",
         "We are looking into your delivery.", "agent:7",
         "{\"handle\":\"jane\",\"signature\":\"^AB\"}", "sent"},
        {"x-thread", "x", "x:601", "x:222", "public", long_text, "agent:7",
         "{\"handle\":\"joe\"}", "sent"},
        {"x-pii", "x", "x:602", "x:333", "public", "Your order #A7654321 ships tomorrow",
         "agent:7", "{\"handle\":\"ann\"}", "sent"},
        {"b1", "bluesky", "bluesky:did:plc:cust",
         "at://did:plc:cust/app.bsky.feed.post/p1", "public", "Thanks for the report!",
         "agent:7", "{\"in_reply_to_cid\":\"bafycust\",\"handle\":\"bo.bsky.social\"}",
         "sent"},
        {"b-pii", "bluesky", "bluesky:did:plc:cust2",
         "at://did:plc:cust2/app.bsky.feed.post/p2", "public",
         "Call us at +44 20 7946 0958 any time", "agent:7",
         "{\"in_reply_to_cid\":\"bafycust2\",\"handle\":\"cy.bsky.social\"}", "sent"},
        {"fb1", "facebook", "facebook:77", "facebook:444", "public", "Thanks, Sam!",
         "agent:7", NULL, "sent"},
        {"fb-pii", "facebook", "facebook:78", "facebook:445", "public",
         "Call us at +44 20 7946 0958 any time", "agent:7", NULL, "held_for_review"},
        {"auto-link", "mastodon", "mastodon:503", "mastodon:555", "public",
         "Status page: https://status.example.com", "auto", NULL, "held_for_review"},
        {"x-support", "x", "x:604", "x:666", "public", "Support desk here", "agent:7",
         "{\"account\":\"support\"}", "sent"},
        {"m-press", "mastodon", "mastodon:504", "mastodon:556", "public",
         "Press office here", "agent:7", "{\"account\":\"press\"}", "sent"},
        {"x-nobody", "x", "x:605", "x:667", "public", "Default desk here", "agent:7",
         "{\"account\":\"nobody\"}", "sent"},
    };
    size_t n = sizeof(replies) / sizeof(replies[0]);
    const char *ids[16];
    for (size_t i = 0; i < n; i++) {
        char *json = rsp_reply(replies[i].id, replies[i].platform, replies[i].customer,
                               replies[i].in_reply_to, replies[i].channel,
                               replies[i].text, replies[i].origin, replies[i].more);
        rsp_produce(e, json);
        sc_free(json);
        ids[i] = replies[i].id;
    }
    ids[n] = NULL;
    struct rsp_wait w = {st.coll, ids, NULL};
    assert_true(e2e_wait_until(e, rsp_all_have, &w, 30000));
    for (size_t i = 0; i < n; i++) {
        const char *s = rsp_status(st.coll, replies[i].id);
        if (strcmp(s, replies[i].want) != 0)
            fail_msg("reply %s: status %s, want %s", replies[i].id, s, replies[i].want);
    }

    json_t *posts = rsp_peer_posts(st.peer_port);
    json_t *found[8];
    /* Mastodon: mention and signature added, in_reply_to_id without the prefix */
    assert_int_equal(rsp_find_posts(posts, "mastodon", "delivery", found, 8), 1);
    assert_string_equal(json_string_value(json_object_get(found[0], "text")),
                        "@jane We are looking into your delivery. ^AB");
    json_t *extra = json_object_get(found[0], "extra");
    assert_string_equal(json_string_value(json_object_get(extra, "in_reply_to_id")),
                        "111");
    assert_string_equal(json_string_value(json_object_get(extra, "visibility")),
                        "public");
    assert_string_equal(json_string_value(json_object_get(found[0], "key")), "m1");
    /* X thread: 2 parts of <= 280, part 2 answers part 1, part 1 answers the post */
    assert_int_equal(rsp_find_posts(posts, "x", "thread words", found, 8), 2);
    assert_non_null(
        strstr(json_string_value(json_object_get(found[0], "text")), "(1/2)"));
    assert_non_null(
        strstr(json_string_value(json_object_get(found[1], "text")), "(2/2)"));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(found[0], "extra"), "in_reply_to_tweet_id")),
                        "222");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(found[1], "extra"), "in_reply_to_tweet_id")),
                        json_string_value(json_object_get(found[0], "id")));
    /* X personal data: the DM to the author has it, the public reply does not */
    assert_int_equal(rsp_find_posts(posts, "x_dm", "A7654321", found, 8), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(found[0], "extra"), "recipient")),
                        "602");
    assert_int_equal(rsp_find_posts(posts, "x", "A7654321", found, 8), 0);
    assert_int_equal(rsp_find_posts(posts, "x", "direct message", found, 8), 1);
    assert_non_null(strstr(json_string_value(json_object_get(found[0], "text")), "@ann"));
    /* Bluesky: root and parent refs of the post answered */
    assert_int_equal(rsp_find_posts(posts, "bluesky", "Thanks for the report", found, 8),
                     1);
    json_t *reply = json_object_get(json_object_get(found[0], "extra"), "reply");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(reply, "parent"), "uri")),
        "at://did:plc:cust/app.bsky.feed.post/p1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(reply, "root"), "cid")),
        "bafycust");
    /* Bluesky personal data: a chat message to the author, a public invitation */
    assert_int_equal(rsp_find_posts(posts, "bluesky", "7946", found, 8), 0);
    assert_int_equal(rsp_find_posts(posts, "bluesky_dm", "7946", found, 8), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(found[0], "extra"), "recipient")),
                        "did:plc:cust2");
    assert_int_equal(rsp_find_posts(posts, "bluesky", "direct message", found, 8), 1);
    assert_non_null(
        strstr(json_string_value(json_object_get(found[0], "text")), "@cy.bsky.social"));
    /* several accounts: a reply goes out from the account it names, else the default */
    assert_int_equal(rsp_find_posts(posts, "x", "Support desk here", found, 8), 1);
    assert_string_equal(json_string_value(json_object_get(found[0], "token")),
                        "support-tok");
    assert_int_equal(rsp_find_posts(posts, "mastodon", "Press office here", found, 8), 1);
    assert_string_equal(json_string_value(json_object_get(found[0], "token")),
                        "press-tok");
    assert_int_equal(rsp_find_posts(posts, "x", "Default desk here", found, 8), 1);
    assert_string_equal(json_string_value(json_object_get(found[0], "token")), RSP_TOKEN);
    assert_int_equal(rsp_find_posts(posts, "mastodon", "delivery", found, 8), 1);
    assert_string_equal(json_string_value(json_object_get(found[0], "token")), RSP_TOKEN);
    /* the webhook (signature checked by the peer) */
    assert_int_equal(rsp_find_posts(posts, "hook", "Thanks, Sam", found, 8), 1);
    assert_int_equal(rsp_find_posts(posts, "mastodon", "status.example", found, 8), 0);
    json_decref(posts);
    const struct e2e_msg *r = rsp_receipt(st.coll, "x-thread");
    assert_non_null(e2e_msg_str(r, "platform_post_id"));
    assert_string_equal(e2e_msg_str(rsp_receipt(st.coll, "b1"), "case_id"), "case-1");

    /* Review: the held link reply is listed, approved with an edit, and sent. */
    struct e2e_http_resp resp;
    assert_int_equal(rsp_api(st.port, "GET", "/v1/held", NULL, NULL, &resp), 401);
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(rsp_api(st.port, "GET", "/v1/held", NULL, RSP_API_TOKEN, &resp),
                     200);
    assert_int_equal(json_integer_value(json_object_get(resp.json, "count")), 2);
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(rsp_api(st.port, "POST", "/v1/held/approve",
                             "{\"reply_id\":\"auto-link\",\"text\":\"Status page: "
                             "https://status.example.com/today\",\"agent\":\"9\"}",
                             RSP_API_TOKEN, &resp),
                     202);
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(rsp_api(st.port, "POST", "/v1/held/reject",
                             "{\"reply_id\":\"fb-pii\"}", RSP_API_TOKEN, &resp),
                     200);
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(rsp_api(st.port, "POST", "/v1/held/reject",
                             "{\"reply_id\":\"fb-pii\"}", RSP_API_TOKEN, &resp),
                     404);
    e2e_http_resp_cleanup(&resp);
    const char *after[] = {"auto-link", NULL};
    struct rsp_wait w2 = {st.coll, after, "sent"};
    assert_true(e2e_wait_until(e, rsp_all_have, &w2, 30000));
    const char *rejected[] = {"fb-pii", NULL};
    struct rsp_wait w3 = {st.coll, rejected, "failed"};
    assert_true(e2e_wait_until(e, rsp_all_have, &w3, 30000));
    posts = rsp_peer_posts(st.peer_port);
    assert_int_equal(
        rsp_find_posts(posts, "mastodon", "status.example.com/today", found, 8), 1);
    json_decref(posts);

    /* Quiet mode for a region: automatic replies there are suppressed, agents' are not */
    assert_int_equal(rsp_api(st.port, "PUT", "/v1/quiet",
                             "{\"region\":\"eu\",\"duration_s\":600}", RSP_API_TOKEN,
                             &resp),
                     200);
    e2e_http_resp_cleanup(&resp);
    char *q1 = rsp_reply("quiet-auto", "mastodon", "mastodon:701", "mastodon:9", "public",
                         "We are on it", "auto", "{\"region\":\"eu\"}");
    char *q2 = rsp_reply("quiet-agent", "mastodon", "mastodon:702", "mastodon:10",
                         "public", "We are on it, Kim", "agent:3", "{\"region\":\"eu\"}");
    char *q3 = rsp_reply("quiet-other", "mastodon", "mastodon:703", "mastodon:11",
                         "public", "We are on it, Lee", "auto", "{\"region\":\"us\"}");
    rsp_produce(e, q1);
    rsp_produce(e, q2);
    rsp_produce(e, q3);
    sc_free(q1);
    sc_free(q2);
    sc_free(q3);
    const char *qids[] = {"quiet-auto", "quiet-agent", "quiet-other", NULL};
    struct rsp_wait wq = {st.coll, qids, NULL};
    assert_true(e2e_wait_until(e, rsp_all_have, &wq, 30000));
    assert_string_equal(rsp_status(st.coll, "quiet-auto"), "suppressed");
    assert_string_equal(rsp_status(st.coll, "quiet-agent"), "sent");
    assert_string_equal(rsp_status(st.coll, "quiet-other"), "sent");
    redisReply *rr = e2e_redis(e, "PTTL quiet:region:eu");
    assert_true(rr->integer > 0);
    freeReplyObject(rr);
    assert_int_equal(rsp_peer_stat(st.peer_port, "max_copies"), 1);
    /* the metrics: outcomes, holds, API calls, and valid exposition format */
    assert_int_equal(e2e_http_get(st.port, "/metrics", &resp), 200);
    assert_true(e2e_metric(resp.body,
                           "socialcare_responder_replies_total{status=\"sent\"}") >= 8);
    assert_true(
        e2e_metric(resp.body, "socialcare_responder_held_total{reason=\"link\"}") == 1);
    assert_true(e2e_metric(resp.body,
                           "socialcare_responder_api_requests_total{op=\"approve\","
                           "status=\"2xx\"}") == 1);
    assert_true(e2e_metric(resp.body, "socialcare_responder_ratelimit_tokens{account=\""
                                      "mastodon:default\"}") >= 0);
    assert_int_not_equal(e2e_promtool_check(e, resp.body, resp.len), 1);
    e2e_http_resp_cleanup(&resp);
    e2e_finish(e);
}

static void test_server_errors_retried(void **state)
{
    struct e2e *e = *state;
    struct stack st;
    const char *peer_args[] = {"--port",       "0",        "--token",
                               RSP_TOKEN,      "--secret", "hook-secret",
                               "--fail-first", "3",        NULL};
    stack_start(e, &st, peer_args, NULL);
    const char *ids[] = {"r1", "r2", NULL};
    for (size_t i = 0; ids[i]; i++) {
        char customer[32], text[64];
        snprintf(customer, sizeof(customer), "mastodon:9%zu", i);
        snprintf(text, sizeof(text), "Fixed now, sorry (%zu)", i);
        char *json = rsp_reply(ids[i], "mastodon", customer, "mastodon:1", "public", text,
                               "agent:1", NULL);
        rsp_produce(e, json);
        sc_free(json);
    }
    struct rsp_wait w = {st.coll, ids, "sent"};
    assert_true(e2e_wait_until(e, rsp_all_have, &w, 60000));
    assert_int_equal(rsp_peer_stat(st.peer_port, "failed"), 3);
    assert_int_equal(rsp_peer_stat(st.peer_port, "accepted"), 2);
    long attempts = 0;
    for (size_t i = 0; ids[i]; i++)
        attempts += (long)json_integer_value(
            json_object_get(rsp_receipt(st.coll, ids[i])->json, "attempts"));
    assert_int_equal(attempts, 5); /* 3 failed + 2 accepted */
    assert_true(rsp_metric(st.port, "socialcare_responder_deferred_total{reason="
                                    "\"server_error\"}") >= 2);
    e2e_finish(e);
}

static void test_api_validation(void **state)
{
    struct e2e *e = *state;
    struct stack st;
    const char *peer_args[] = {"--port", "0", "--token", RSP_TOKEN, NULL};
    const char *env[] = {"REPLY_THREAD_MAX_PARTS=1", NULL};
    stack_start(e, &st, peer_args, env);
    struct e2e_http_resp resp;
    char body[4096];
    char long_text[700];
    memset(long_text, 'a', 600);
    long_text[600] = '\0';
    snprintf(body, sizeof(body),
             "{\"case_id\":\"c1\",\"customer\":\"bluesky:did:plc:z\",\"platform\":"
             "\"bluesky\",\"in_reply_to\":\"at://x/y/z\",\"text\":\"%s\"}",
             long_text);
    assert_int_equal(rsp_api(st.port, "POST", "/v1/replies", body, "wrong", &resp), 401);
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(rsp_api(st.port, "POST", "/v1/replies", body, RSP_API_TOKEN, &resp),
                     422);
    assert_string_equal(json_string_value(json_object_get(resp.json, "error")),
                        "too_long");
    assert_non_null(strstr(json_string_value(json_object_get(resp.json, "message")),
                           "bluesky counts 600 of 300"));
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(
        rsp_api(st.port, "POST", "/v1/replies",
                "{\"case_id\":\"c1\",\"customer\":\"facebook:77\","
                "\"platform\":\"facebook\",\"text\":\"mail me: a.b@example.com\"}",
                RSP_API_TOKEN, &resp),
        422);
    assert_string_equal(json_string_value(json_object_get(resp.json, "error")),
                        "personal_data");
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(rsp_api(st.port, "POST", "/v1/replies", "{\"case_id\":\"c1\"}",
                             RSP_API_TOKEN, &resp),
                     422);
    assert_string_equal(json_string_value(json_object_get(resp.json, "error")),
                        "invalid_reply");
    e2e_http_resp_cleanup(&resp);
    /* an account that is not configured */
    assert_int_equal(
        rsp_api(st.port, "POST", "/v1/replies",
                "{\"case_id\":\"c1\",\"customer\":\"x:5\",\"platform\":\"x\","
                "\"account\":\"nobody\",\"text\":\"On it!\"}",
                RSP_API_TOKEN, &resp),
        422);
    assert_string_equal(json_string_value(json_object_get(resp.json, "message")),
                        "invalid_value: account");
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(
        rsp_api(st.port, "POST", "/v1/replies",
                "{\"case_id\":\"c1\",\"customer\":\"x:5\",\"platform\":\"x\","
                "\"in_reply_to\":\"x:77\",\"text\":\"On it!\"}",
                RSP_API_TOKEN, &resp),
        202);
    const char *id = json_string_value(json_object_get(resp.json, "reply_id"));
    assert_non_null(id);
    const char *ids[] = {id, NULL};
    struct rsp_wait w = {st.coll, ids, "sent"};
    assert_true(e2e_wait_until(e, rsp_all_have, &w, 30000));
    e2e_http_resp_cleanup(&resp);

    /* a scheduled post in a quiet region is suppressed when due */
    assert_int_equal(rsp_api(st.port, "PUT", "/v1/quiet",
                             "{\"region\":\"apac\",\"duration_s\":600}", RSP_API_TOKEN,
                             &resp),
                     200);
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(
        rsp_api(st.port, "GET", "/v1/quiet?region=apac", NULL, RSP_API_TOKEN, &resp),
        200);
    assert_true(json_is_true(json_object_get(resp.json, "active")));
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(
        rsp_api(st.port, "POST", "/v1/scheduled",
                "{\"platform\":\"mastodon\",\"text\":\"Maintenance tonight\","
                "\"region\":\"apac\",\"delay_s\":0}",
                RSP_API_TOKEN, &resp),
        202);
    const char *sid = json_string_value(json_object_get(resp.json, "reply_id"));
    assert_non_null(sid);
    const char *sids[] = {sid, NULL};
    struct rsp_wait ws = {st.coll, sids, "suppressed"};
    assert_true(e2e_wait_until(e, rsp_all_have, &ws, 30000));
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(
        rsp_api(st.port, "DELETE", "/v1/quiet?region=apac", NULL, RSP_API_TOKEN, &resp),
        200);
    assert_true(json_is_true(json_object_get(resp.json, "cleared")));
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(rsp_api(st.port, "POST", "/v1/scheduled",
                             "{\"platform\":\"mastodon\",\"text\":\"Maintenance done\","
                             "\"region\":\"apac\",\"delay_s\":0}",
                             RSP_API_TOKEN, &resp),
                     202);
    const char *sid2 = json_string_value(json_object_get(resp.json, "reply_id"));
    const char *sids2[] = {sid2, NULL};
    struct rsp_wait ws2 = {st.coll, sids2, "sent"};
    assert_true(e2e_wait_until(e, rsp_all_have, &ws2, 30000));
    e2e_http_resp_cleanup(&resp);
    e2e_finish(e);
}

/* Bluesky access tokens expire: the responder creates a new session and sends on. */
static void test_bluesky_session_expiry(void **state)
{
    struct e2e *e = *state;
    struct stack st;
    const char *peer_args[] = {"--port",        "0", "--token", RSP_TOKEN,
                               "--session-ttl", "2", NULL};
    stack_start(e, &st, peer_args, NULL);
    const char *ids[] = {"bs1", "bs2", "bs3", "bs4", "bs5", NULL};
    for (size_t i = 0; ids[i]; i++) {
        char customer[48], text[64];
        snprintf(customer, sizeof(customer), "bluesky:did:plc:c%zu", i);
        snprintf(text, sizeof(text), "Thanks for telling us (%zu)", i);
        char *json =
            rsp_reply(ids[i], "bluesky", customer, NULL, "public", text, "agent:1", NULL);
        rsp_produce(e, json);
        sc_free(json);
    }
    struct rsp_wait w = {st.coll, ids, "sent"};
    assert_true(e2e_wait_until(e, rsp_all_have, &w, 60000));
    assert_int_equal(rsp_peer_stat(st.peer_port, "accepted"), 5);
    assert_int_equal(rsp_peer_stat(st.peer_port, "max_copies"), 1);
    assert_true(rsp_metric(st.port, "socialcare_responder_deferred_total{reason="
                                    "\"session\"}") >= 1);
    e2e_finish(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_platforms, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_server_errors_retried, e2e_setup,
                                        e2e_teardown),
        cmocka_unit_test_setup_teardown(test_api_validation, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_bluesky_session_expiry, e2e_setup,
                                        e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
