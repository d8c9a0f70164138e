/* Unit tests of platform payload mapping: X Account Activity tweets and DMs (authors'
 * followers and verification, own events skipped, entities decoded), Meta feed comments,
 * Messenger and Instagram (echoes and the page's own comments skipped), Mastodon, X API
 * v2 with expansions and Bluesky notifications. Every mapped post passes v1 validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "event.h"
#include "mapping.h"

static json_t *load(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static void assert_valid(const json_t *posts)
{
    size_t i;
    json_t *p;
    json_array_foreach(posts, i, p)
    {
        char reason[256] = "";
        json_t *copy = json_deep_copy(p);
        json_object_set_new(copy, "received_at", json_string("2026-11-22T08:00:00Z"));
        if (sc_event_validate(copy, SC_EVENT_POST, NULL, reason, sizeof(reason)) != 0)
            fail_msg("post %zu invalid: %s", i, reason);
        json_decref(copy);
    }
}

static void test_x_activity(void **state)
{
    (void)state;
    json_t *in = load(
        "{\"for_user_id\":\"100\",\"tweet_create_events\":[{\"created_at\":\"Wed Oct 10 "
        "20:19:24 +0000 2018\",\"id_str\":\"1050\",\"text\":\"@acme my bill &amp; "
        "refund\","
        "\"in_reply_to_status_id_str\":\"1049\",\"lang\":\"en\",\"favorite_count\":2,"
        "\"retweet_count\":1,\"user\":{\"id_str\":\"7\",\"screen_name\":\"jane\","
        "\"name\":"
        "\"Jane\",\"followers_count\":48200,\"verified\":true}},{\"created_at\":\"Wed "
        "Oct 10 "
        "20:19:25 +0000 2018\",\"id_str\":\"1051\",\"text\":\"own\",\"user\":{\"id_str\":"
        "\"100\"}}],\"direct_message_events\":[{\"type\":\"message_create\",\"id\":"
        "\"2000\","
        "\"created_timestamp\":\"1539202764000\",\"message_create\":{\"target\":{"
        "\"recipient_id\":\"100\"},\"sender_id\":\"8\",\"message_data\":{\"text\":\"help "
        "please\"}}},{\"type\":\"message_create\",\"id\":\"2001\",\"created_timestamp\":"
        "\"1539202765000\",\"message_create\":{\"sender_id\":\"100\",\"message_data\":{"
        "\"text\":\"our "
        "answer\"}}}],\"users\":{\"8\":{\"id\":\"8\",\"screen_name\":\"bob\","
        "\"followers_count\":12,\"verified\":false}}}");
    json_t *out = json_array();
    assert_int_equal(ingest_map_x_activity(in, out), 2);
    assert_valid(out);
    json_t *t = json_array_get(out, 0);
    assert_string_equal(sc_event_str(t, "id"), "x:1050");
    assert_string_equal(sc_event_str(t, "kind"), "reply");
    assert_string_equal(sc_event_str(t, "text"), "@acme my bill & refund");
    assert_string_equal(sc_event_str(t, "created_at"), "2018-10-10T20:19:24Z");
    assert_string_equal(sc_event_str(t, "in_reply_to"), "x:1049");
    json_t *a = json_object_get(t, "author");
    assert_int_equal(json_integer_value(json_object_get(a, "followers")), 48200);
    assert_true(json_is_true(json_object_get(a, "verified")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(t, "engagement"), "likes")),
        2);
    json_t *dm = json_array_get(out, 1);
    assert_string_equal(sc_event_str(dm, "id"), "x:2000");
    assert_string_equal(sc_event_str(dm, "kind"), "dm");
    assert_string_equal(sc_event_path(dm, "author", "handle"), "bob");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(dm, "author"), "followers")),
        12);
    assert_string_equal(sc_event_str(dm, "created_at"), "2018-10-10T20:19:24.000Z");
    json_decref(out);
    json_decref(in);
}

static void test_meta(void **state)
{
    (void)state;
    json_t *page = load(
        "{\"object\":\"page\",\"entry\":[{\"id\":\"500\",\"time\":1,\"changes\":[{"
        "\"field\":"
        "\"feed\",\"value\":{\"item\":\"comment\",\"verb\":\"add\",\"comment_id\":\"500_"
        "1_9\","
        "\"post_id\":\"500_1\",\"parent_id\":\"500_1\",\"message\":\"Where is my "
        "parcel?\","
        "\"created_time\":1795333409,\"from\":{\"id\":\"77\",\"name\":\"Ann\"}}},{"
        "\"field\":"
        "\"feed\",\"value\":{\"item\":\"comment\",\"verb\":\"edited\",\"comment_id\":"
        "\"x\","
        "\"from\":{\"id\":\"77\"}}},{\"field\":\"feed\",\"value\":{\"item\":\"comment\","
        "\"verb\":\"add\",\"comment_id\":\"500_1_10\",\"message\":\"thanks\",\"from\":{"
        "\"id\":\"500\"}}}],\"messaging\":[{\"sender\":{\"id\":\"88\"},\"recipient\":{"
        "\"id\":\"500\"},\"timestamp\":1795333409000,\"message\":{\"mid\":\"m_1\","
        "\"text\":"
        "\"hi\"}},{\"sender\":{\"id\":\"500\"},\"recipient\":{\"id\":\"88\"},"
        "\"timestamp\":"
        "1795333409001,\"message\":{\"mid\":\"m_2\",\"text\":\"echo\",\"is_echo\":true}}]"
        "}]}");
    json_t *out = json_array();
    assert_int_equal(ingest_map_meta(page, out), 2);
    assert_valid(out);
    json_t *c = json_array_get(out, 0);
    assert_string_equal(sc_event_str(c, "id"), "facebook:500_1_9");
    assert_string_equal(sc_event_str(c, "kind"), "comment");
    assert_string_equal(sc_event_str(c, "thread_id"), "facebook:500_1");
    assert_string_equal(sc_event_str(c, "created_at"), "2026-11-22T07:43:29.000Z");
    assert_string_equal(sc_event_path(c, "author", "name"), "Ann");
    json_t *m = json_array_get(out, 1);
    assert_string_equal(sc_event_str(m, "id"), "facebook:m_1");
    assert_string_equal(sc_event_str(m, "kind"), "dm");

    json_t *ig =
        load("{\"object\":\"instagram\",\"entry\":[{\"id\":\"900\",\"changes\":[{"
             "\"field\":\"comments\",\"value\":{\"id\":\"c1\",\"text\":\"love it\","
             "\"from\":{\"id\":\"55\",\"username\":\"zoe\"},\"media\":{\"id\":"
             "\"med1\"}}}],\"messaging\":[{\"sender\":{\"id\":\"56\"},\"recipient\":"
             "{\"id\":\"900\"},\"timestamp\":1795333409000,\"message\":{\"mid\":"
             "\"igm1\",\"text\":\"dm\"}}]}]}");
    json_t *out2 = json_array();
    assert_int_equal(ingest_map_meta(ig, out2), 2);
    assert_valid(out2);
    assert_string_equal(sc_event_str(json_array_get(out2, 0), "id"), "instagram:c1");
    assert_string_equal(sc_event_path(json_array_get(out2, 0), "author", "handle"),
                        "zoe");
    assert_string_equal(sc_event_str(json_array_get(out2, 1), "id"), "instagram:igm1");
    json_t *other = load("{\"object\":\"user\",\"entry\":[]}");
    assert_int_equal(ingest_map_meta(other, out2), 0);
    json_decref(other);
    json_decref(out2);
    json_decref(ig);
    json_decref(out);
    json_decref(page);
}

static void test_mastodon_x_v2_bluesky(void **state)
{
    (void)state;
    json_t *st =
        load("{\"id\":\"110\",\"created_at\":\"2026-11-22T07:00:00.000Z\","
             "\"in_reply_to_id\":\"109\",\"content\":\"<p>@acme broken &amp; "
             "late</p>\",\"url\":\"https://m.example/@u/110\",\"language\":\"en\","
             "\"favourites_count\":1,\"reblogs_count\":0,\"replies_count\":3,"
             "\"account\":{\"id\":\"42\",\"acct\":\"u@m.example\",\"display_name\":"
             "\"U\",\"followers_count\":99}}");
    json_t *out = json_array();
    assert_int_equal(ingest_map_mastodon_status(st, NULL, "mastodon:mentions", out), 1);
    json_t *p = json_array_get(out, 0);
    assert_string_equal(sc_event_str(p, "text"), "@acme broken & late");
    assert_string_equal(sc_event_str(p, "kind"), "reply");
    assert_string_equal(sc_event_path(p, "source", "name"), "mastodon:mentions");

    json_t *x =
        load("{\"data\":[{\"id\":\"300\",\"text\":\"@acme hi &lt;3\",\"author_id\":"
             "\"9\",\"created_at\":\"2026-11-22T07:00:00.000Z\",\"conversation_id\":"
             "\"299\",\"referenced_tweets\":[{\"type\":\"replied_to\",\"id\":\"299\"}],"
             "\"public_metrics\":{\"like_count\":5,\"retweet_count\":0,\"reply_count\":"
             "0}},{\"id\":\"301\",\"text\":\"mine\",\"author_id\":\"1\",\"created_at\":"
             "\"2026-11-22T07:00:00.000Z\"}],\"includes\":{\"users\":[{\"id\":\"9\","
             "\"username\":\"kim\",\"verified\":true,\"public_metrics\":{"
             "\"followers_count\":120000}}]}}");
    assert_int_equal(ingest_map_x_v2(x, "1", "x:mentions", out), 1);
    p = json_array_get(out, 1);
    assert_string_equal(sc_event_str(p, "id"), "x:300");
    assert_string_equal(sc_event_str(p, "text"), "@acme hi <3");
    assert_string_equal(sc_event_str(p, "thread_id"), "x:299");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(p, "author"), "followers")),
        120000);

    json_t *bs = load("{\"uri\":\"at://did:plc:a/app.bsky.feed.post/3k\",\"cid\":\"c\","
                      "\"author\":{\"did\":\"did:plc:a\",\"handle\":\"a.bsky.social\"},"
                      "\"reason\":\"mention\",\"record\":{\"text\":\"@acme hello\","
                      "\"createdAt\":\"2026-11-22T07:00:00.000Z\"},\"indexedAt\":"
                      "\"2026-11-22T07:00:01.000Z\"}");
    assert_int_equal(ingest_map_bluesky(bs, "bluesky", out), 1);
    p = json_array_get(out, 2);
    assert_string_equal(sc_event_str(p, "id"),
                        "bluesky:at://did:plc:a/app.bsky.feed.post/3k");
    json_t *like =
        load("{\"uri\":\"at://x\",\"author\":{\"did\":\"d\"},\"reason\":\"like\","
             "\"indexedAt\":\"2026-11-22T07:00:01.000Z\"}");
    assert_int_equal(ingest_map_bluesky(like, "bluesky", out), 0);
    assert_valid(out);
    json_decref(like);
    json_decref(bs);
    json_decref(x);
    json_decref(st);
    json_decref(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_x_activity),
        cmocka_unit_test(test_meta),
        cmocka_unit_test(test_mastodon_x_v2_bluesky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
