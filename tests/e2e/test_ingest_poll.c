/* End-to-end: Mastodon polling against a local peer (libmicrohttpd) that behaves as the
 * documented API: GET /api/v1/notifications?types[]=mention with a Bearer token, min_id
 * paging (each page is the chunk just newer than min_id, newest first, with a Link header
 * whose rel="prev" carries the next min_id), X-RateLimit-Remaining/Reset (RFC 3339) and
 * 429, and 503 while the test holds it. Checks: the first request gets 429 with a reset
 * time and the next request does not come before it; after the first page the cursor is
 * in Redis; the ingestor stopped mid-run (next page held back with 503) and restarted
 * resumes at that cursor (no page fetched twice) and every mention reaches posts.inbound
 * exactly once, with its HTML content as plain NFC text. */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <microhttpd.h>

#include "alloc.h"
#include "lifecycle.h"

#define N_MENTIONS 7
#define PAGE       3
#define TOKEN      "peer-token"

struct peer {
    pthread_mutex_t mu;
    struct MHD_Daemon *d;
    int port;
    int requests;
    int64_t first_reset_ms; /* reset time announced with the 429 */
    int64_t second_at_ms;   /* when the request after the 429 came */
    bool hold_after_first;  /* 503 for min_id >= first page's newest */
    int bad_auth;
    char min_ids[64][16]; /* min_id of each request ("" for none) */
};

static enum MHD_Result peer_answer(void *cls, struct MHD_Connection *conn,
                                   const char *url, const char *method,
                                   const char *version, const char *upload,
                                   size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    struct peer *p = cls;
    int status = 200;
    char *body = NULL;
    char link[256] = "", reset[64] = "", remaining[8] = "299";
    pthread_mutex_lock(&p->mu);
    int n = p->requests++;
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *min = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "min_id");
    const char *types =
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "types[]");
    if (n < 64)
        snprintf(p->min_ids[n], sizeof(p->min_ids[n]), "%s", min ? min : "");
    if (n == 1)
        p->second_at_ms = sc_wall_ms();
    if (strcmp(method, "GET") != 0 || strcmp(url, "/api/v1/notifications") != 0) {
        status = 404;
        body = sc_strdup("{\"error\":\"Not found\"}");
    } else if (!auth || strcmp(auth, "Bearer " TOKEN) != 0) {
        p->bad_auth++;
        status = 401;
        body = sc_strdup("{\"error\":\"The access token is invalid\"}");
    } else if (n == 0) {
        status = 429;
        p->first_reset_ms = sc_wall_ms() + 1500;
        sc_format_time(p->first_reset_ms, reset, sizeof(reset));
        snprintf(remaining, sizeof(remaining), "0");
        body = sc_strdup("{\"error\":\"Too many requests\"}");
    } else if (!types || strcmp(types, "mention") != 0) {
        status = 400;
        body = sc_strdup("{\"error\":\"types[] missing\"}");
    } else {
        int from = min ? atoi(min) : 0;
        if (p->hold_after_first && from >= PAGE) {
            status = 503;
            body = sc_strdup("{\"error\":\"unavailable\"}");
        } else {
            /* The chunk just newer than min_id: ids from+1 .. from+PAGE, newest first. */
            int last = from + PAGE > N_MENTIONS ? N_MENTIONS : from + PAGE;
            char *items = sc_strdup("");
            for (int id = last; id > from; id--) {
                char *item = sc_asprintf(
                    "%s%s{\"id\":\"%d\",\"type\":\"mention\",\"created_at\":"
                    "\"2026-11-22T07:00:0%dZ\",\"account\":{\"id\":\"%d\"},\"status\":{"
                    "\"id\":\"%d\",\"created_at\":\"2026-11-22T07:00:0%dZ\",\"content\":"
                    "\"<p><span class=\\\"h-card\\\"><a "
                    "href=\\\"https://m.example/@acme\\\">"
                    "@<span>acme</span></a></span> order %d &amp; caf\\u0065\\u0301 "
                    "&lt;late&gt;</p>\",\"account\":{\"id\":\"%d\",\"acct\":\"u%d\","
                    "\"followers_count\":%d}}}",
                    items, items[0] ? "," : "", id, id % 10, 40 + id, 1000 + id, id % 10,
                    id, 40 + id, id, 10 * id);
                sc_free(items);
                items = item;
            }
            body = sc_asprintf("[%s]", items);
            sc_free(items);
            if (last > from)
                snprintf(
                    link, sizeof(link),
                    "<http://127.0.0.1:%d/api/v1/notifications?max_id=%d>; "
                    "rel=\"next\", <http://127.0.0.1:%d/api/v1/notifications?min_id=%d>; "
                    "rel=\"prev\"",
                    p->port, from + 1, p->port, last);
        }
    }
    pthread_mutex_unlock(&p->mu);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "X-RateLimit-Limit", "300");
    MHD_add_response_header(r, "X-RateLimit-Remaining", remaining);
    if (reset[0])
        MHD_add_response_header(r, "X-RateLimit-Reset", reset);
    if (link[0])
        MHD_add_response_header(r, "Link", link);
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

static void peer_start(struct peer *p)
{
    pthread_mutex_init(&p->mu, NULL);
    for (int attempt = 0; attempt < 20 && !p->d; attempt++) {
        p->port = e2e_free_port();
        p->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)p->port, NULL,
                                NULL, peer_answer, p, MHD_OPTION_END);
    }
    assert_non_null(p->d);
}

static int peer_requests(struct peer *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->requests;
    pthread_mutex_unlock(&p->mu);
    return n;
}

struct wait_arg {
    struct peer *peer;
    struct e2e_collector *coll;
    int n;
};

static bool cursor_at_page(struct e2e *e, void *arg)
{
    struct wait_arg *w = arg;
    redisReply *r = e2e_redis(e, "GET %s", "cursor:{mastodon:mentions}");
    bool ok = r->type == REDIS_REPLY_STRING && strstr(r->str, "\"since\":\"3\"");
    freeReplyObject(r);
    /* ... and the held page was asked for at least once. */
    return ok && peer_requests(w->peer) >= 4;
}

static bool have_n(struct e2e *e, void *arg)
{
    (void)e;
    struct wait_arg *w = arg;
    return (int)e2e_collector_count_topic(w->coll, "posts.inbound") >= w->n;
}

static void test_mastodon_poll(void **state)
{
    struct e2e *e = *state;
    static struct peer peer;
    memset(&peer, 0, sizeof(peer));
    peer.hold_after_first = true;
    peer_start(&peer);
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    const char *topics[] = {"posts.inbound", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    char *url = sc_asprintf("MASTODON_URL=http://127.0.0.1:%d", peer.port);
    const char *env[] = {url, "MASTODON_TOKEN=" TOKEN, "MASTODON_POLL_S=1", NULL};
    struct e2e_proc *ing = e2e_start_service(e, "ingestor", env);

    struct wait_arg w = {&peer, coll, PAGE};
    /* 429 first, then page 1 (ids 1..3), then the held page. */
    assert_true(e2e_wait_until(e, cursor_at_page, &w, 30000));
    pthread_mutex_lock(&peer.mu);
    assert_true(peer.second_at_ms >= peer.first_reset_ms);
    assert_string_equal(peer.min_ids[1], "");
    assert_string_equal(peer.min_ids[2], "3");
    assert_int_equal(peer.bad_auth, 0);
    pthread_mutex_unlock(&peer.mu);
    assert_true(e2e_wait_until(e, have_n, &w, 30000));

    /* Restart mid-run: the next request resumes at min_id=3. */
    assert_int_equal(e2e_stop(ing, 20000), 0);
    pthread_mutex_lock(&peer.mu);
    int before_restart = peer.requests;
    peer.hold_after_first = false;
    pthread_mutex_unlock(&peer.mu);
    e2e_restart(e, ing);
    w.n = N_MENTIONS;
    assert_true(e2e_wait_until(e, have_n, &w, 30000));
    pthread_mutex_lock(&peer.mu);
    assert_string_equal(peer.min_ids[before_restart], "3");
    for (int i = before_restart; i < peer.requests && i < 64; i++)
        assert_true(peer.min_ids[i][0] && atoi(peer.min_ids[i]) >= 3);
    pthread_mutex_unlock(&peer.mu);

    assert_true(e2e_collector_sync(coll, 30000));
    assert_int_equal(e2e_collector_count_topic(coll, "posts.inbound"), N_MENTIONS);
    struct e2e_strset *ids = e2e_strset_new();
    for (size_t i = 0; i < e2e_collector_count(coll); i++) {
        const struct e2e_msg *m = e2e_collector_msg(coll, i);
        assert_true(e2e_strset_add(ids, e2e_msg_str(m, "id")));
        if (strcmp(e2e_msg_str(m, "id"), "mastodon:1004") == 0) {
            assert_string_equal(e2e_msg_str(m, "text"),
                                "@acme order 4 & caf\xC3\xA9 <late>");
            assert_int_equal(json_integer_value(json_object_get(
                                 json_object_get(m->json, "author"), "followers")),
                             40);
            assert_string_equal(m->key, "mastodon:44");
        }
    }
    assert_true(e2e_strset_has(ids, "mastodon:1001"));
    assert_true(e2e_strset_has(ids, "mastodon:1007"));
    e2e_strset_free(ids);
    redisReply *r = e2e_redis(e, "GET %s", "cursor:{mastodon:mentions}");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_non_null(strstr(r->str, "\"since\":\"7\""));
    freeReplyObject(r);

    sc_free(url);
    e2e_finish(e);
    MHD_stop_daemon(peer.d);
    pthread_mutex_destroy(&peer.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mastodon_poll, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
