/* Unit tests of polling decisions: URLs per platform and cursor, Mastodon min_id paging
 * with the Link header, X next_token runs (a run interrupted after a page resumes from
 * the stored token and then moves since_id to the run's newest), Bluesky cursor runs that
 * stop at the high-water mark, rate-limit waits from headers and 429, and the CSV
 * mapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "alloc.h"
#include "csv.h"
#include "event.h"
#include "poll.h"

static void test_urls(void **state)
{
    (void)state;
    struct ingest_cursor cur = {0};
    char *u = ingest_poll_url(INGEST_POLL_MASTODON_MENTIONS, "https://m.example", NULL,
                              &cur, 40);
    assert_string_equal(
        u, "https://m.example/api/v1/notifications?types%5B%5D=mention&limit=40");
    sc_free(u);
    strcpy(cur.since, "123");
    u = ingest_poll_url(INGEST_POLL_MASTODON_SEARCH, "https://m.example", "#acme fail",
                        &cur, 40);
    assert_string_equal(u,
                        "https://m.example/api/v2/search?type=statuses&resolve=false&q="
                        "%23acme%20fail&limit=40&min_id=123");
    sc_free(u);
    strcpy(cur.next, "tok+1");
    u = ingest_poll_url(INGEST_POLL_X_MENTIONS, "http://h", "55", &cur, 100);
    assert_non_null(strstr(u, "http://h/2/users/55/mentions?max_results=100&"));
    assert_non_null(
        strstr(u, "expansions=author_id&user.fields=public_metrics,verified"));
    assert_non_null(strstr(u, "&since_id=123&pagination_token=tok%2B1"));
    sc_free(u);
    u = ingest_poll_url(INGEST_POLL_X_SEARCH, "http://h", "(acme OR #acme)", &cur, 100);
    assert_non_null(
        strstr(u, "/2/tweets/search/recent?query=%28acme%20OR%20%23acme%29&"));
    assert_non_null(strstr(u, "&next_token=tok%2B1"));
    sc_free(u);
    u = ingest_poll_url(INGEST_POLL_BLUESKY, "http://h", NULL, &cur, 50);
    assert_string_equal(u,
                        "http://h/xrpc/app.bsky.notification.listNotifications?limit=50"
                        "&cursor=tok%2B1");
    sc_free(u);
}

static void test_cursor_json(void **state)
{
    (void)state;
    struct ingest_cursor a = {0}, b;
    strcpy(a.since, "10");
    strcpy(a.next, "n\"x");
    char *s = ingest_cursor_dump(&a);
    assert_int_equal(ingest_cursor_load(&b, s, strlen(s)), 0);
    assert_string_equal(b.since, "10");
    assert_string_equal(b.next, "n\"x");
    assert_string_equal(b.newest, "");
    sc_free(s);
    assert_int_equal(ingest_cursor_load(&b, "[1]", 3), -1);
}

static void test_link(void **state)
{
    (void)state;
    const char *link =
        "<https://m.example/api/v1/notifications?max_id=90&types[]=mention>; "
        "rel=\"next\", <https://m.example/api/v1/notifications?"
        "types[]=mention&min_id=120>; rel=\"prev\"";
    char buf[32];
    assert_int_equal(ingest_link_param(link, "prev", "min_id", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "120");
    assert_int_equal(ingest_link_param(link, "next", "max_id", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "90");
    assert_int_equal(ingest_link_param(link, "next", "min_id", buf, sizeof(buf)), -1);
    assert_int_equal(ingest_link_param(NULL, "prev", "min_id", buf, sizeof(buf)), -1);
}

static const char *mastodon_page =
    "[{\"id\":\"12\",\"type\":\"mention\",\"status\":{\"id\":\"1012\",\"created_at\":"
    "\"2026-11-22T07:00:00.000Z\",\"content\":\"<p>hi</p>\",\"account\":{\"id\":\"5\"}}},"
    "{\"id\":\"11\",\"type\":\"mention\",\"status\":{\"id\":\"1011\",\"created_at\":"
    "\"2026-11-22T07:00:00.000Z\",\"content\":\"<p>own</"
    "p>\",\"account\":{\"id\":\"1\"}}}]";

static void test_mastodon_page(void **state)
{
    (void)state;
    struct ingest_cursor cur = {0};
    strcpy(cur.since, "9");
    json_t *out = json_array();
    bool more;
    assert_int_equal(ingest_poll_page(INGEST_POLL_MASTODON_MENTIONS, mastodon_page,
                                      strlen(mastodon_page), NULL, "m", "1", &cur, out,
                                      &more),
                     0);
    assert_int_equal(json_array_size(out), 1);
    assert_string_equal(sc_event_str(json_array_get(out, 0), "id"), "mastodon:1012");
    assert_string_equal(cur.since, "12");
    assert_true(more);
    assert_int_equal(ingest_poll_page(INGEST_POLL_MASTODON_MENTIONS, "[]", 2, NULL, "m",
                                      NULL, &cur, out, &more),
                     0);
    assert_false(more);
    assert_string_equal(cur.since, "12");
    assert_int_equal(ingest_poll_page(INGEST_POLL_MASTODON_MENTIONS, "{}", 2, NULL, "m",
                                      NULL, &cur, out, &more),
                     -1);
    json_decref(out);
}

static void test_x_run(void **state)
{
    (void)state;
    struct ingest_cursor cur = {0};
    strcpy(cur.since, "100");
    const char *p1 =
        "{\"data\":[{\"id\":\"120\",\"text\":\"a\",\"author_id\":\"9\","
        "\"created_at\":\"2026-11-22T07:00:00.000Z\"}],\"meta\":{\"newest_id\":"
        "\"120\",\"oldest_id\":\"120\",\"next_token\":\"T2\"}}";
    const char *p2 =
        "{\"data\":[{\"id\":\"110\",\"text\":\"b\",\"author_id\":\"9\","
        "\"created_at\":\"2026-11-22T07:00:00.000Z\"}],\"meta\":{\"newest_id\":"
        "\"110\",\"oldest_id\":\"110\"}}";
    json_t *out = json_array();
    bool more;
    assert_int_equal(ingest_poll_page(INGEST_POLL_X_MENTIONS, p1, strlen(p1), NULL, "x",
                                      NULL, &cur, out, &more),
                     0);
    assert_true(more);
    assert_string_equal(cur.since, "100");
    assert_string_equal(cur.next, "T2");
    assert_string_equal(cur.newest, "120");
    /* A restart here reloads this cursor: the next request continues with T2. */
    char *saved = ingest_cursor_dump(&cur);
    struct ingest_cursor again;
    assert_int_equal(ingest_cursor_load(&again, saved, strlen(saved)), 0);
    sc_free(saved);
    assert_int_equal(ingest_poll_page(INGEST_POLL_X_MENTIONS, p2, strlen(p2), NULL, "x",
                                      NULL, &again, out, &more),
                     0);
    assert_false(more);
    assert_string_equal(again.since, "120");
    assert_string_equal(again.next, "");
    assert_int_equal(json_array_size(out), 2);
    /* First run ever: newest page only. */
    struct ingest_cursor fresh = {0};
    assert_int_equal(ingest_poll_page(INGEST_POLL_X_SEARCH, p1, strlen(p1), NULL, "x",
                                      NULL, &fresh, out, &more),
                     0);
    assert_false(more);
    assert_string_equal(fresh.since, "120");
    /* No results: meta without newest keeps since. */
    assert_int_equal(ingest_poll_page(INGEST_POLL_X_SEARCH,
                                      "{\"meta\":{\"result_count\":0}}", 27, NULL, "x",
                                      NULL, &fresh, out, &more),
                     0);
    assert_string_equal(fresh.since, "120");
    json_decref(out);
}

static void test_bluesky_run(void **state)
{
    (void)state;
    struct ingest_cursor cur = {0};
    strcpy(cur.since, "2026-11-22T07:00:00.000Z");
    const char *p1 =
        "{\"cursor\":\"C2\",\"notifications\":[{\"uri\":\"at://a/1\",\"author\":{\"did\":"
        "\"d1\"},\"reason\":\"mention\",\"record\":{\"text\":\"x\",\"createdAt\":"
        "\"2026-11-22T07:00:05.000Z\"},\"indexedAt\":\"2026-11-22T07:00:05.000Z\"}]}";
    const char *p2 =
        "{\"cursor\":\"C3\",\"notifications\":[{\"uri\":\"at://a/2\",\"author\":{\"did\":"
        "\"d1\"},\"reason\":\"reply\",\"record\":{\"text\":\"y\",\"createdAt\":"
        "\"2026-11-22T07:00:03.000Z\"},\"indexedAt\":\"2026-11-22T07:00:03.000Z\"},{"
        "\"uri\":"
        "\"at://a/"
        "0\",\"author\":{\"did\":\"d1\"},\"reason\":\"mention\",\"record\":{\"text\":"
        "\"old\"},\"indexedAt\":\"2026-11-22T07:00:00.000Z\"}]}";
    json_t *out = json_array();
    bool more;
    assert_int_equal(ingest_poll_page(INGEST_POLL_BLUESKY, p1, strlen(p1), NULL, "b",
                                      NULL, &cur, out, &more),
                     0);
    assert_true(more);
    assert_string_equal(cur.next, "C2");
    assert_int_equal(ingest_poll_page(INGEST_POLL_BLUESKY, p2, strlen(p2), NULL, "b",
                                      NULL, &cur, out, &more),
                     0);
    assert_false(more);
    assert_int_equal(json_array_size(out), 2); /* the old one is not taken again */
    assert_string_equal(cur.since, "2026-11-22T07:00:05.000Z");
    assert_string_equal(cur.next, "");
    json_decref(out);
}

static void test_ratelimit(void **state)
{
    (void)state;
    int64_t now = 1795333409000LL;
    assert_int_equal(ingest_ratelimit_wait_ms(200, "10", "1795333469", now, 60000), 0);
    assert_int_equal(ingest_ratelimit_wait_ms(200, "0", "1795333469", now, 60000), 60000);
    assert_int_equal(ingest_ratelimit_wait_ms(429, NULL, "1795333419", now, 60000),
                     10000);
    assert_int_equal(
        ingest_ratelimit_wait_ms(429, "0", "2026-11-22T07:43:39.000Z", now, 60000),
        10000);
    assert_int_equal(ingest_ratelimit_wait_ms(429, NULL, NULL, now, 60000), 60000);
    assert_int_equal(ingest_ratelimit_wait_ms(429, NULL, "1795333400", now, 60000), 1000);
    assert_int_equal(ingest_ratelimit_wait_ms(200, "0", NULL, now, 60000), 0);
}

static void test_bluesky_login(void **state)
{
    (void)state;
    char *body = ingest_bluesky_login_body("acme.bsky.social", "pa\"ss");
    assert_string_equal(
        body, "{\"identifier\":\"acme.bsky.social\",\"password\":\"pa\\\"ss\"}");
    sc_free(body);
    const char *answer =
        "{\"did\":\"did:plc:x\",\"accessJwt\":\"eyJ.a.b\",\"refreshJwt\":\"r\"}";
    char *tok = ingest_bluesky_login_token(answer, strlen(answer));
    assert_string_equal(tok, "eyJ.a.b");
    sc_free(tok);
    assert_null(
        ingest_bluesky_login_token("{\"error\":\"AuthFactorTokenRequired\"}", 37));
    assert_null(ingest_bluesky_login_token("not json", 8));
}

static void test_csv(void **state)
{
    (void)state;
    char err[128];
    assert_null(ingest_csv_new("id,bogus", err, sizeof(err)));
    assert_non_null(strstr(err, "bogus"));
    struct ingest_csv *csv =
        ingest_csv_new("id,platform,kind,created_at,author.id,author.followers,-,text",
                       err, sizeof(err));
    assert_non_null(csv);
    const char *header =
        "id,platform,kind,created_at,author.id,author.followers,junk,text";
    assert_true(ingest_csv_is_header(csv, header, strlen(header)));
    const char *line = "77,x,mention,2026-11-22T07:00:00Z,9,1200,zz,\"hi, \"\"acme\"\"\"";
    char reason[128];
    json_t *post = ingest_csv_post(csv, line, strlen(line), reason, sizeof(reason));
    assert_non_null(post);
    assert_false(ingest_csv_is_header(csv, line, strlen(line)));
    assert_string_equal(sc_event_str(post, "id"), "x:77");
    assert_string_equal(sc_event_str(post, "text"), "hi, \"acme\"");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(post, "author"), "followers")),
        1200);
    assert_int_equal(sc_event_validate(post, SC_EVENT_POST, NULL, reason, sizeof(reason)),
                     0);
    json_decref(post);
    assert_null(ingest_csv_post(csv, "1,x", 3, reason, sizeof(reason)));
    assert_non_null(strstr(reason, "invalid_csv"));
    assert_null(ingest_csv_post(csv, "\"open,x", 7, reason, sizeof(reason)));
    ingest_csv_free(csv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),      cmocka_unit_test(test_cursor_json),
        cmocka_unit_test(test_link),      cmocka_unit_test(test_mastodon_page),
        cmocka_unit_test(test_x_run),     cmocka_unit_test(test_bluesky_run),
        cmocka_unit_test(test_ratelimit), cmocka_unit_test(test_bluesky_login),
        cmocka_unit_test(test_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
