/* End-to-end: the ingestor's signed webhooks, with deliveries built the way each platform
 * builds them (HMAC-SHA256 over the raw body with OpenSSL). X Account Activity: the CRC
 * GET is answered with sha256=base64(HMAC(consumer secret, crc_token)); a signed
 * tweet_create_events delivery reaches posts.inbound once even when delivered twice, with
 * the author's followers and verification; forged and missing signatures get 401 and are
 * counted. Meta: the hub challenge is echoed only for the right verify token; a signed
 * feed comment and a Messenger message are published. Generic: a fresh signed post is
 * accepted, a stale timestamp, a forged signature and a missing one get 401. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "alloc.h"

#define X_SECRET    "x-consumer-secret"
#define META_SECRET "meta-app-secret"
#define META_TOKEN  "meta-verify"
#define GEN_SECRET  "generic-secret"

static void mac(const char *key, const void *msg, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)strlen(key), msg, len, out, &n);
}

static char *sig_base64(const char *key, const char *msg)
{
    unsigned char m[32];
    mac(key, msg, strlen(msg), m);
    char b64[48];
    EVP_EncodeBlock((unsigned char *)b64, m, 32);
    return sc_asprintf("sha256=%s", b64);
}

static char *sig_hex(const char *key, const char *msg)
{
    unsigned char m[32];
    mac(key, msg, strlen(msg), m);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", m[i]);
    return sc_asprintf("sha256=%s", hex);
}

static long post_with(int port, const char *path, const char *body, const char *h1,
                      const char *h2, struct e2e_http_resp *resp)
{
    const char *headers[] = {"Content-Type: application/json", h1, h2, NULL};
    return e2e_http(port, "POST", path, body, strlen(body), headers, resp);
}

static size_t count_id(struct e2e_collector *coll, const char *id)
{
    size_t n = 0;
    for (size_t i = 0; i < e2e_collector_count(coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(coll, i);
        const char *got = e2e_msg_str(msg, "id");
        n += strcmp(msg->topic, "posts.inbound") == 0 && got && strcmp(got, id) == 0;
    }
    return n;
}

static const struct e2e_msg *find_id(struct e2e_collector *coll, const char *id)
{
    for (size_t i = 0; i < e2e_collector_count(coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(coll, i);
        const char *got = e2e_msg_str(msg, "id");
        if (got && strcmp(got, id) == 0)
            return msg;
    }
    return NULL;
}

static bool have_four(struct e2e *e, void *arg)
{
    (void)e;
    return e2e_collector_count_topic(arg, "posts.inbound") >= 4;
}

static double metric(int port, const char *series)
{
    struct e2e_http_resp resp;
    assert_int_equal(e2e_http_get(port, "/metrics", &resp), 200);
    double v = e2e_metric(resp.body, series);
    e2e_http_resp_cleanup(&resp);
    return v;
}

static void test_webhooks(void **state)
{
    struct e2e *e = *state;
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    const char *topics[] = {"posts.inbound", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    const char *env[] = {"X_CONSUMER_SECRET=" X_SECRET, "META_APP_SECRET=" META_SECRET,
                         "META_VERIFY_TOKEN=" META_TOKEN, "WEBHOOK_SECRET=" GEN_SECRET,
                         NULL};
    struct e2e_proc *ing = e2e_start_service(e, "ingestor", env);
    int port = e2e_proc_port(ing);
    struct e2e_http_resp resp;

    /* X CRC. */
    assert_int_equal(e2e_http_get(port, "/webhooks/x?crc_token=abc123", &resp), 200);
    char *want = sig_base64(X_SECRET, "abc123");
    assert_non_null(resp.json);
    assert_string_equal(json_string_value(json_object_get(resp.json, "response_token")),
                        want);
    sc_free(want);
    e2e_http_resp_cleanup(&resp);

    /* X events: signed, delivered twice. */
    const char *xbody =
        "{\"for_user_id\":\"100\",\"tweet_create_events\":[{\"created_at\":\"Sun Nov 22 "
        "07:00:00 +0000 2026\",\"id_str\":\"9001\",\"text\":\"@acme my router &amp; "
        "modem "
        "are "
        "down\",\"user\":{\"id_str\":\"7\",\"screen_name\":\"jane\",\"followers_count\":"
        "48200,\"verified\":true}}]}";
    char *xsig = sig_base64(X_SECRET, xbody);
    char *xh = sc_asprintf("x-twitter-webhooks-signature: %s", xsig);
    assert_int_equal(post_with(port, "/webhooks/x", xbody, xh, NULL, &resp), 200);
    assert_int_equal(json_integer_value(json_object_get(resp.json, "accepted")), 1);
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(post_with(port, "/webhooks/x", xbody, xh, NULL, &resp), 200);
    assert_int_equal(json_integer_value(json_object_get(resp.json, "duplicates")), 1);
    e2e_http_resp_cleanup(&resp);
    /* Forged (signed with another secret) and missing. */
    char *forged = sig_base64("not-the-secret", xbody);
    char *fh = sc_asprintf("x-twitter-webhooks-signature: %s", forged);
    assert_int_equal(post_with(port, "/webhooks/x", xbody, fh, NULL, &resp), 401);
    assert_string_equal(json_string_value(json_object_get(resp.json, "error")),
                        "unauthorized");
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(post_with(port, "/webhooks/x", xbody, NULL, NULL, &resp), 401);
    e2e_http_resp_cleanup(&resp);

    /* Meta hub challenge. */
    assert_int_equal(
        e2e_http_get(port,
                     "/webhooks/meta?hub.mode=subscribe&hub.verify_token=" META_TOKEN
                     "&hub.challenge=1158201444",
                     &resp),
        200);
    assert_string_equal(resp.body, "1158201444");
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(
        e2e_http_get(port,
                     "/webhooks/meta?hub.mode=subscribe&hub.verify_token=wrong"
                     "&hub.challenge=1158201444",
                     &resp),
        403);
    e2e_http_resp_cleanup(&resp);
    /* Meta delivery: a feed comment and a Messenger message. */
    const char *mbody =
        "{\"object\":\"page\",\"entry\":[{\"id\":\"500\",\"time\":1795333409,\"changes\":"
        "[{"
        "\"field\":\"feed\",\"value\":{\"item\":\"comment\",\"verb\":\"add\",\"comment_"
        "id\":"
        "\"500_1_9\",\"post_id\":\"500_1\",\"message\":\"Where is my parcel?\","
        "\"created_time\":1795333409,\"from\":{\"id\":\"77\",\"name\":\"Ann\"}}}],"
        "\"messaging\":[{\"sender\":{\"id\":\"88\"},\"recipient\":{\"id\":\"500\"},"
        "\"timestamp\":1795333409000,\"message\":{\"mid\":\"m_1\",\"text\":\"hello\"}}]}]"
        "}";
    char *msig = sig_hex(META_SECRET, mbody);
    char *mh = sc_asprintf("X-Hub-Signature-256: %s", msig);
    assert_int_equal(post_with(port, "/webhooks/meta", mbody, mh, NULL, &resp), 200);
    assert_int_equal(json_integer_value(json_object_get(resp.json, "accepted")), 2);
    e2e_http_resp_cleanup(&resp);
    char *mbad = sig_hex(META_SECRET, "{}");
    char *mbh = sc_asprintf("X-Hub-Signature-256: %s", mbad);
    assert_int_equal(post_with(port, "/webhooks/meta", mbody, mbh, NULL, &resp), 401);
    e2e_http_resp_cleanup(&resp);

    /* Generic: fresh, stale, forged, missing. */
    char *gpost = e2e_post_new("generic", "g1", "c9", "my invoice is wrong");
    char ts[32], old_ts[32];
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    snprintf(old_ts, sizeof(old_ts), "%lld", (long long)time(NULL) - 3600);
    char *signed_text = sc_asprintf("%s.%s", ts, gpost);
    char *gsig = sig_hex(GEN_SECRET, signed_text);
    char *gh = sc_asprintf("X-Socialcare-Signature: %s", gsig);
    char *gts = sc_asprintf("X-Socialcare-Timestamp: %s", ts);
    char *gold = sc_asprintf("X-Socialcare-Timestamp: %s", old_ts);
    char *stale_text = sc_asprintf("%s.%s", old_ts, gpost);
    char *stale_sig = sig_hex(GEN_SECRET, stale_text);
    char *gsh = sc_asprintf("X-Socialcare-Signature: %s", stale_sig);
    assert_int_equal(post_with(port, "/webhooks/generic", gpost, gsh, gold, &resp), 401);
    assert_non_null(strstr(resp.body, "stale"));
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(post_with(port, "/webhooks/generic", gpost, gh, gold, &resp), 401);
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(post_with(port, "/webhooks/generic", gpost, gts, NULL, &resp), 401);
    e2e_http_resp_cleanup(&resp);
    assert_int_equal(post_with(port, "/webhooks/generic", gpost, gh, gts, &resp), 202);
    assert_int_equal(json_integer_value(json_object_get(resp.json, "accepted")), 1);
    e2e_http_resp_cleanup(&resp);

    /* Exactly the accepted posts, once each, normalised. */
    assert_true(e2e_wait_until(e, have_four, coll, 30000));
    assert_true(e2e_collector_sync(coll, 30000));
    assert_int_equal(e2e_collector_count_topic(coll, "posts.inbound"), 4);
    assert_int_equal(count_id(coll, "x:9001"), 1);
    assert_int_equal(count_id(coll, "facebook:500_1_9"), 1);
    assert_int_equal(count_id(coll, "facebook:m_1"), 1);
    assert_int_equal(count_id(coll, "generic:g1"), 1);
    const struct e2e_msg *x = find_id(coll, "x:9001");
    assert_non_null(x);
    assert_string_equal(e2e_msg_str(x, "text"), "@acme my router & modem are down");
    json_t *author = json_object_get(x->json, "author");
    assert_int_equal(json_integer_value(json_object_get(author, "followers")), 48200);
    assert_true(json_is_true(json_object_get(author, "verified")));
    assert_string_equal(x->key, "x:7");
    assert_null(json_object_get(x->json, "tweet_create_events"));

    assert_true(metric(port, "socialcare_ingestor_webhooks_total{source=\"x\",outcome="
                             "\"unauthorized\"}") == 2);
    assert_true(metric(port, "socialcare_ingestor_webhooks_total{source=\"generic\","
                             "outcome=\"unauthorized\"}") == 3);
    assert_true(metric(port, "socialcare_ingestor_webhooks_total{source=\"meta\",outcome="
                             "\"unauthorized\"}") == 2);

    sc_free(xsig);
    sc_free(xh);
    sc_free(forged);
    sc_free(fh);
    sc_free(msig);
    sc_free(mh);
    sc_free(mbad);
    sc_free(mbh);
    sc_free(gpost);
    sc_free(signed_text);
    sc_free(gsig);
    sc_free(gh);
    sc_free(gts);
    sc_free(gold);
    sc_free(stale_text);
    sc_free(stale_sig);
    sc_free(gsh);
    e2e_finish(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_webhooks, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
