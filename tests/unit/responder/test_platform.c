/* Unit tests of the responder's platform requests and answers (pure): each platform's
 * documented path, headers and body, the webhook signature, Bluesky record keys, and
 * reading post ids, duplicate refusals and rate-limit headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include <openssl/hmac.h>

#include "error.h"
#include "platform.h"
#include "ratelimit.h"

static bool has_header(const struct platform_request *req, const char *line)
{
    for (size_t i = 0; req->headers[i]; i++)
        if (strcmp(req->headers[i], line) == 0)
            return true;
    return false;
}

static const char *header_value(const struct platform_request *req, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; req->headers[i]; i++)
        if (strncmp(req->headers[i], name, nl) == 0 && req->headers[i][nl] == ':')
            return req->headers[i] + nl + 2;
    return NULL;
}

static void test_mastodon(void **state)
{
    (void)state;
    struct platform_account acc = {
        .platform = POLICY_MASTODON, .base_url = "https://m.example/", .token = "tok"};
    struct platform_msg msg = {
        .key = "r1", .reply_id = "r1", .text = "@jane hi", .in_reply_to = "1234"};
    struct platform_request req;
    char err[100];
    assert_int_equal(platform_build(&acc, &msg, &req, err, sizeof(err)), 0);
    assert_string_equal(req.url, "https://m.example/api/v1/statuses");
    assert_true(has_header(&req, "Idempotency-Key: r1"));
    assert_true(has_header(&req, "Authorization: Bearer tok"));
    json_t *body = json_loads(req.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(body, "status")), "@jane hi");
    assert_string_equal(json_string_value(json_object_get(body, "in_reply_to_id")),
                        "1234");
    assert_string_equal(json_string_value(json_object_get(body, "visibility")), "public");
    json_decref(body);
    platform_request_free(&req);
    msg.dm = true;
    assert_int_equal(platform_build(&acc, &msg, &req, err, sizeof(err)), 0);
    assert_non_null(strstr(req.body, "\"visibility\":\"direct\""));
    platform_request_free(&req);

    struct platform_result res;
    platform_read(POLICY_MASTODON, false, 200, "{\"id\":\"99\"}", 11, &res);
    assert_int_equal(res.verdict, SEND_VERDICT_SENT);
    assert_string_equal(res.post_id, "99");
    platform_read(POLICY_MASTODON, false, 422, "{\"error\":\"x\"}", 13, &res);
    assert_int_equal(res.verdict, SEND_VERDICT_FAILED);
    assert_string_equal(res.error, "http 422");
}

static void test_x(void **state)
{
    (void)state;
    struct platform_account acc = {
        .platform = POLICY_X, .base_url = "https://api.x.com", .token = "t"};
    struct platform_msg msg = {.key = "r2",
                               .reply_id = "r2",
                               .text = "hello",
                               .in_reply_to = "555",
                               .recipient = "42"};
    struct platform_request req;
    char err[100];
    assert_int_equal(platform_build(&acc, &msg, &req, err, sizeof(err)), 0);
    assert_string_equal(req.url, "https://api.x.com/2/tweets");
    assert_string_equal(
        req.body, "{\"text\":\"hello\",\"reply\":{\"in_reply_to_tweet_id\":\"555\"}}");
    assert_null(header_value(&req, "Idempotency-Key")); /* X has none */
    platform_request_free(&req);
    msg.dm = true;
    assert_int_equal(platform_build(&acc, &msg, &req, err, sizeof(err)), 0);
    assert_string_equal(req.url, "https://api.x.com/2/dm_conversations/with/42/messages");
    assert_string_equal(req.body, "{\"text\":\"hello\"}");
    platform_request_free(&req);
    msg.recipient = NULL;
    assert_int_equal(platform_build(&acc, &msg, &req, err, sizeof(err)), SC_EINVAL);
    platform_request_free(&req);

    struct platform_result res;
    const char *ok = "{\"data\":{\"id\":\"1445880548472328192\",\"text\":\"hello\"}}";
    platform_read(POLICY_X, false, 201, ok, strlen(ok), &res);
    assert_string_equal(res.post_id, "1445880548472328192");
    const char *dup =
        "{\"detail\":\"You are not allowed to create a Tweet with duplicate "
        "content.\",\"status\":403}";
    platform_read(POLICY_X, false, 403, dup, strlen(dup), &res);
    assert_int_equal(res.verdict, SEND_VERDICT_SENT);
    assert_true(res.duplicate);
    const char *dm =
        "{\"data\":{\"dm_conversation_id\":\"1-2\",\"dm_event_id\":\"777\"}}";
    platform_read(POLICY_X, true, 201, dm, strlen(dm), &res);
    assert_string_equal(res.post_id, "777");
    platform_read(POLICY_X, false, 429, "{}", 2, &res);
    assert_int_equal(res.verdict, SEND_VERDICT_RETRY);
}

static void test_bluesky(void **state)
{
    (void)state;
    struct platform_account acc = {.platform = POLICY_BLUESKY,
                                   .base_url = "https://bsky.social",
                                   .token = "jwt",
                                   .repo = "did:plc:brand"};
    struct platform_msg msg = {.key = "r3",
                               .reply_id = "r3",
                               .text = "thanks",
                               .in_reply_to = "at://did:plc:c/app.bsky.feed.post/p",
                               .parent_cid = "bafyp",
                               .now_ms = 1763800000000};
    struct platform_request req;
    char err[100];
    assert_int_equal(platform_build(&acc, &msg, &req, err, sizeof(err)), 0);
    assert_string_equal(req.url,
                        "https://bsky.social/xrpc/com.atproto.repo.createRecord");
    json_t *body = json_loads(req.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(body, "repo")),
                        "did:plc:brand");
    assert_string_equal(json_string_value(json_object_get(body, "collection")),
                        "app.bsky.feed.post");
    char rkey[14];
    platform_bluesky_rkey("r3", rkey);
    assert_string_equal(json_string_value(json_object_get(body, "rkey")), rkey);
    assert_int_equal(strlen(rkey), 13);
    assert_non_null(strchr("234567abcdefghij", rkey[0])); /* TID: top bit 0 */
    json_t *record = json_object_get(body, "record");
    assert_string_equal(json_string_value(json_object_get(record, "$type")),
                        "app.bsky.feed.post");
    json_t *reply = json_object_get(record, "reply");
    /* no root given: root = parent */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(reply, "root"), "uri")),
        "at://did:plc:c/app.bsky.feed.post/p");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(reply, "parent"), "cid")),
        "bafyp");
    json_decref(body);
    platform_request_free(&req);
    /* the same key, the same record key: a retry cannot create a second post */
    char rkey2[14];
    platform_bluesky_rkey("r3", rkey2);
    assert_string_equal(rkey, rkey2);
    platform_bluesky_rkey("r3#1", rkey2);
    assert_string_not_equal(rkey, rkey2);

    struct platform_result res;
    const char *ok =
        "{\"uri\":\"at://did:plc:brand/app.bsky.feed.post/x\",\"cid\":\"bafy\"}";
    platform_read(POLICY_BLUESKY, false, 200, ok, strlen(ok), &res);
    assert_string_equal(res.post_id, "at://did:plc:brand/app.bsky.feed.post/x");
    assert_string_equal(res.cid, "bafy");
    const char *exists =
        "{\"error\":\"InvalidRequest\",\"message\":\"Record already exists\"}";
    platform_read(POLICY_BLUESKY, false, 400, exists, strlen(exists), &res);
    assert_true(res.duplicate);
    assert_false(res.expired_token);
    const char *expired =
        "{\"error\":\"ExpiredToken\",\"message\":\"Token has expired\"}";
    platform_read(POLICY_BLUESKY, false, 400, expired, strlen(expired), &res);
    assert_true(res.expired_token);
    assert_int_equal(res.verdict, SEND_VERDICT_RETRY); /* again with a new session */
    platform_read(POLICY_BLUESKY, false, 400, "{\"error\":\"InvalidRequest\"}", 26, &res);
    assert_false(res.expired_token);
    assert_int_equal(res.verdict, SEND_VERDICT_FAILED);
    msg.dm = true; /* a direct message needs the customer's DID */
    assert_int_equal(platform_build(&acc, &msg, &req, err, sizeof(err)), SC_EINVAL);
    platform_request_free(&req);
}

/* A Bluesky direct message: the conversation with the customer (GET, proxied to the chat
 * service), then the message in it. */
static void test_bluesky_dm(void **state)
{
    (void)state;
    struct platform_account acc = {.platform = POLICY_BLUESKY,
                                   .base_url = "https://bsky.social/",
                                   .token = "jwt",
                                   .repo = "did:plc:brand"};
    struct platform_msg msg = {.key = "r4",
                               .reply_id = "r4",
                               .dm = true,
                               .text = "Your order A1234567",
                               .recipient = "did:plc:cust",
                               .now_ms = 1763800000000};
    struct platform_request req;
    char err[100];
    assert_int_equal(platform_build(&acc, &msg, &req, err, sizeof(err)), 0);
    assert_string_equal(req.url,
                        "https://bsky.social/xrpc/"
                        "chat.bsky.convo.getConvoForMembers?members=did%3Aplc%3Acust");
    assert_null(req.body);
    bool proxy = false, auth = false;
    for (size_t i = 0; req.headers[i]; i++) {
        proxy |=
            strcmp(req.headers[i], "atproto-proxy: did:web:api.bsky.chat#bsky_chat") == 0;
        auth |= strcmp(req.headers[i], "Authorization: Bearer jwt") == 0;
    }
    assert_true(proxy && auth);
    platform_request_free(&req);

    struct platform_result res;
    const char *convo = "{\"convo\":{\"id\":\"cv1\",\"rev\":\"1\",\"members\":[]}}";
    platform_read(POLICY_BLUESKY, true, 200, convo, strlen(convo), &res);
    assert_int_equal(res.verdict, SEND_VERDICT_SENT);
    assert_true(res.lookup);
    assert_string_equal(res.convo_id, "cv1");
    platform_read(POLICY_BLUESKY, true, 200, "{\"convo\":{}}", 12, &res);
    assert_int_equal(res.verdict, SEND_VERDICT_FAILED);

    msg.convo_id = "cv1";
    assert_int_equal(platform_build(&acc, &msg, &req, err, sizeof(err)), 0);
    assert_string_equal(req.url, "https://bsky.social/xrpc/chat.bsky.convo.sendMessage");
    json_t *body = json_loads(req.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(body, "convoId")), "cv1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(body, "message"), "text")),
        "Your order A1234567");
    json_decref(body);
    platform_request_free(&req);
    const char *sent = "{\"id\":\"m9\",\"rev\":\"2\",\"text\":\"x\"}";
    platform_read(POLICY_BLUESKY, true, 200, sent, strlen(sent), &res);
    assert_int_equal(res.verdict, SEND_VERDICT_SENT);
    assert_false(res.lookup);
    assert_string_equal(res.post_id, "m9");
    /* no record key here: an existing-record answer is not a duplicate */
    const char *exists =
        "{\"error\":\"InvalidRequest\",\"message\":\"Record already exists\"}";
    platform_read(POLICY_BLUESKY, true, 400, exists, strlen(exists), &res);
    assert_false(res.duplicate);
    assert_int_equal(res.verdict, SEND_VERDICT_FAILED);
}

static void test_webhook_signature(void **state)
{
    (void)state;
    struct platform_account acc = {.platform = POLICY_GENERIC,
                                   .base_url = "http://127.0.0.1:1/hook",
                                   .secret = "s3cret"};
    struct platform_msg msg = {.key = "r4#1",
                               .reply_id = "r4",
                               .platform = "facebook",
                               .text = "hi",
                               .now_ms = 1763800000123};
    struct platform_request req;
    char err[100];
    assert_int_equal(platform_build(&acc, &msg, &req, err, sizeof(err)), 0);
    assert_string_equal(req.url, "http://127.0.0.1:1/hook");
    assert_true(has_header(&req, "Idempotency-Key: r4#1"));
    assert_string_equal(header_value(&req, "X-Socialcare-Timestamp"), "1763800000");
    char signed_text[512];
    snprintf(signed_text, sizeof(signed_text), "1763800000.%s", req.body);
    unsigned char mac[64];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), "s3cret", 6, (const unsigned char *)signed_text,
         strlen(signed_text), mac, &ml);
    char want[200] = "sha256=";
    for (unsigned int i = 0; i < ml; i++)
        snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
    assert_string_equal(header_value(&req, "X-Socialcare-Signature"), want);
    json_t *body = json_loads(req.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(body, "platform")), "facebook");
    assert_string_equal(json_string_value(json_object_get(body, "part_key")), "r4#1");
    json_decref(body);
    platform_request_free(&req);
}

static void test_rate_headers(void **state)
{
    (void)state;
    struct ratelimit_headers h;
    ratelimit_headers_init(&h);
    const char *x[] = {"x-rate-limit-limit: 300\r\n", "x-rate-limit-remaining: 0\r\n",
                       "x-rate-limit-reset: 1763800060\r\n"};
    for (size_t i = 0; i < 3; i++)
        ratelimit_header_line(&h, x[i], strlen(x[i]));
    assert_int_equal(h.limit, 300);
    assert_int_equal(h.remaining, 0);
    assert_int_equal(h.reset_ms, 1763800060000LL);
    /* remaining 0: pause until the reset */
    assert_int_equal(ratelimit_pause_ms(201, &h, 1763800000000LL), 60000);

    ratelimit_headers_init(&h);
    const char *m[] = {"X-RateLimit-Limit: 300\r\n", "X-RateLimit-Remaining: 12\r\n",
                       "X-RateLimit-Reset: 2025-11-22T08:30:00.500Z\r\n"};
    for (size_t i = 0; i < 3; i++)
        ratelimit_header_line(&h, m[i], strlen(m[i]));
    assert_int_equal(h.remaining, 12);
    assert_int_equal(h.reset_ms, ratelimit_parse_iso8601("2025-11-22T08:30:00Z") + 500);
    assert_int_equal(ratelimit_pause_ms(200, &h, 0), 0); /* fine: no pause */
    assert_true(ratelimit_pause_ms(429, &h, h.reset_ms - 2000) == 2000);

    ratelimit_headers_init(&h);
    const char *b[] = {"RateLimit-Remaining: 5\r\n", "Retry-After: 30\r\n"};
    for (size_t i = 0; i < 2; i++)
        ratelimit_header_line(&h, b[i], strlen(b[i]));
    assert_int_equal(h.remaining, 5);
    assert_int_equal(h.retry_after_s, 30);
    /* 429 with an unknown reset: Retry-After */
    assert_int_equal(ratelimit_pause_ms(429, &h, 1000), 30000);
    ratelimit_headers_init(&h);
    assert_int_equal(ratelimit_pause_ms(429, &h, 1000), 1000); /* at least 1 s */
    /* Retry-After as an HTTP-date (RFC 9110): until that time */
    ratelimit_headers_init(&h);
    const char *date = "Retry-After: Sat, 22 Nov 2025 08:26:40 GMT\r\n"; /* 1763800000 */
    ratelimit_header_line(&h, date, strlen(date));
    assert_int_equal(h.retry_after_s, -1);
    assert_true(h.retry_at_ms == 1763800000000LL);
    assert_int_equal(ratelimit_retry_after_s(&h, 1763800000000LL - 2500), 3);
    assert_int_equal(ratelimit_pause_ms(429, &h, 1763800000000LL - 2500), 3000);
    assert_int_equal(ratelimit_retry_after_s(&h, 1763800000000LL + 1), 0);
    ratelimit_headers_init(&h);
    ratelimit_header_line(&h, "Retry-After: soon\r\n", 19);
    assert_int_equal(ratelimit_retry_after_s(&h, 0), -1);

    assert_int_equal(ratelimit_parse_iso8601("1970-01-01T00:00:01Z"), 1000);
    assert_int_equal(ratelimit_parse_iso8601("garbage"), -1);
    assert_int_equal(ratelimit_parse_iso8601("2025-13-01T00:00:00Z"), -1);
    assert_true(ratelimit_interval_ms(60) == 1000.0);
    assert_true(ratelimit_interval_ms(0) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mastodon),          cmocka_unit_test(test_x),
        cmocka_unit_test(test_bluesky),           cmocka_unit_test(test_bluesky_dm),
        cmocka_unit_test(test_webhook_signature), cmocka_unit_test(test_rate_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
