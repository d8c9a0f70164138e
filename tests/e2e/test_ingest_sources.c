/* End-to-end: the ingestor's other sources against local peers.
 * - CSV replay (INGEST_FORMAT=csv, a column mapping with a skipped column, a header line,
 *   quoted fields, a malformed record dead-lettered, a repeated record de-duplicated).
 * - X API v2 and Bluesky polling against one libmicrohttpd peer that behaves as the
 *   documented APIs: GET /2/users/:id/mentions (since_id, pagination_token,
 * meta.newest_id and next_token, includes.users with public_metrics and verified, Bearer
 * auth, x-rate-limit-* headers, one 503), GET /2/tweets/search/recent with the brand
 * terms OR-ed, and GET /xrpc/app.bsky.notification.listNotifications with its cursor. New
 *   posts appear on the peer between runs; each reaches posts.inbound exactly once, with
 *   the follower counts from the expansions, and the cursors end at the newest ids. */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>

#include "alloc.h"

/* ------------------------------------------------------------------ CSV replay */

static bool csv_done(struct e2e *e, void *arg)
{
    (void)e;
    return e2e_collector_count_topic(arg, "posts.inbound") >= 3 &&
           e2e_collector_count_topic(arg, "pipeline.dlq") >= 1;
}

static const struct e2e_msg *find_id(struct e2e_collector *coll, const char *id,
                                     size_t *n)
{
    const struct e2e_msg *found = NULL;
    *n = 0;
    for (size_t i = 0; i < e2e_collector_count(coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(coll, i);
        const char *got = e2e_msg_str(msg, "id");
        if (strcmp(msg->topic, "posts.inbound") == 0 && got && strcmp(got, id) == 0) {
            found = msg;
            (*n)++;
        }
    }
    return found;
}

static void test_csv_replay(void **state)
{
    struct e2e *e = *state;
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    const char *topics[] = {"posts.inbound", "pipeline.dlq", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    char *file = e2e_path(e, "posts.csv");
    const char *csv =
        "id,platform,kind,created_at,author.id,author.followers,junk,text\n"
        "501,x,mention,2026-11-22T07:00:00Z,u1,1200,zz,\"my order, it's late\"\n"
        "502,x,reply,2026-11-22T07:00:01Z,u2,5,zz,\"quote \"\"acme\"\" caf\xC3\xA9\"\n"
        "503,x,mention,2026-11-22T07:00:02Z,u3\n"
        "501,x,mention,2026-11-22T07:00:00Z,u1,1200,zz,\"my order, it's late\"\n"
        "mastodon:9,mastodon,mention,2026-11-22T07:00:03Z,a9,,zz,hello\n";
    e2e_write_file(file, csv, strlen(csv), false);
    char *ingest_file = sc_asprintf("INGEST_FILE=%s", file);
    const char *env[] = {ingest_file, "INGEST_FORMAT=csv",
                         "INGEST_CSV_COLUMNS=id,platform,kind,created_at,author.id,"
                         "author.followers,-,text",
                         NULL};
    struct e2e_proc *ing = e2e_start_service(e, "ingestor", env);
    assert_true(e2e_wait_until(e, csv_done, coll, 30000));
    assert_true(e2e_wait_stderr(e, ing, "replay finished", 30000));
    assert_true(e2e_collector_sync(coll, 30000));
    assert_int_equal(e2e_collector_count_topic(coll, "posts.inbound"), 3);
    assert_int_equal(e2e_collector_count_topic(coll, "pipeline.dlq"), 1);
    size_t n;
    const struct e2e_msg *m = find_id(coll, "x:501", &n);
    assert_int_equal(n, 1);
    assert_string_equal(e2e_msg_str(m, "text"), "my order, it's late");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(m->json, "author"), "followers")),
                     1200);
    m = find_id(coll, "x:502", &n);
    assert_int_equal(n, 1);
    assert_string_equal(e2e_msg_str(m, "text"), "quote \"acme\" caf\xC3\xA9");
    assert_non_null(e2e_msg_str(m, "received_at"));
    find_id(coll, "mastodon:9", &n);
    assert_int_equal(n, 1);
    for (size_t i = 0; i < e2e_collector_count(coll); i++) {
        const struct e2e_msg *d = e2e_collector_msg(coll, i);
        if (strcmp(d->topic, "pipeline.dlq") == 0)
            assert_non_null(strstr(e2e_msg_header(d, "reason"), "invalid_csv"));
    }
    sc_free(ingest_file);
    sc_free(file);
    e2e_finish(e);
}

/* ------------------------------------------------------------------ X and Bluesky peer
 */

#define X_TOKEN     "x-bearer"
#define BS_HANDLE   "acme.bsky.social"
#define BS_PASSWORD "abcd-efgh-ijkl-mnop"

struct peer {
    pthread_mutex_t mu;
    struct MHD_Daemon *d;
    int port;
    int x_newest;     /* mentions 201..x_newest exist */
    int bs_newest;    /* notifications 1..bs_newest exist */
    bool failed_once; /* the one 503 was served */
    int bad_auth, bad_query;
    int search_requests;
    int logins;
    char bs_token[32]; /* the valid access token ("" = none yet) */
    bool expire_next;  /* answer the next Bluesky request with 401 ExpiredToken */
};

/* A POST body being received. */
struct upload {
    char *data;
    size_t len;
};

static char *x_user(int id)
{
    return sc_asprintf("{\"id\":\"u%d\",\"username\":\"user%d\",\"name\":\"User %d\","
                       "\"verified\":%s,\"public_metrics\":{\"followers_count\":%d}}",
                       id, id, id, id % 2 ? "true" : "false", id * 100);
}

/* Mentions newest first, page of 2, ids in (since, from]. */
static char *x_mentions(struct peer *p, const char *since, const char *token)
{
    int lo = since ? atoi(since) : 200;
    int from = token ? atoi(token + 1) : p->x_newest;
    char *data = sc_strdup(""), *users = sc_strdup("");
    int last = from;
    int count = 0;
    for (int id = from; id > lo && count < 2; id--, count++) {
        char *u = x_user(id);
        char *d = sc_asprintf(
            "%s%s{\"id\":\"%d\",\"text\":\"@acme help &amp; now %d\","
            "\"author_id\":\"u%d\",\"created_at\":\"2026-11-22T07:00:00.000Z\","
            "\"conversation_id\":\"%d\",\"public_metrics\":{\"like_count\":1,"
            "\"retweet_count\":0,\"reply_count\":0}}",
            data, *data ? "," : "", id, id, id, id);
        char *us = sc_asprintf("%s%s%s", users, *users ? "," : "", u);
        sc_free(data);
        sc_free(users);
        sc_free(u);
        data = d;
        users = us;
        last = id;
    }
    char *body;
    if (count == 0) {
        body = sc_strdup("{\"meta\":{\"result_count\":0}}");
    } else {
        char next[32] = "";
        if (last - 1 > lo)
            snprintf(next, sizeof(next), ",\"next_token\":\"t%d\"", last - 1);
        body = sc_asprintf(
            "{\"data\":[%s],\"includes\":{\"users\":[%s]},\"meta\":{"
            "\"newest_id\":\"%d\",\"oldest_id\":\"%d\",\"result_count\":%d%s}}",
            data, users, from, last, count, next);
    }
    sc_free(data);
    sc_free(users);
    return body;
}

static char *bs_notifications(struct peer *p, const char *cursor)
{
    int from = cursor ? atoi(cursor + 1) : p->bs_newest;
    char *items = sc_strdup("");
    int count = 0, last = from;
    for (int n = from; n >= 1 && count < 2; n--, count++) {
        char *it = sc_asprintf(
            "%s%s{\"uri\":\"at://did:plc:c%d/app.bsky.feed.post/p%d\",\"cid\":\"c\","
            "\"author\":{\"did\":\"did:plc:c%d\",\"handle\":\"c%d.bsky.social\"},"
            "\"reason\":\"%s\",\"record\":{\"text\":\"@acme.com issue %d\",\"createdAt\":"
            "\"2026-11-22T07:00:%02d.000Z\"},\"indexedAt\":\"2026-11-22T07:00:%02d."
            "000Z\"}",
            items, *items ? "," : "", n, n, n, n, n % 2 ? "mention" : "reply", n, n, n);
        sc_free(items);
        items = it;
        last = n;
    }
    char *body = last > 1 ? sc_asprintf("{\"cursor\":\"c%d\",\"notifications\":[%s]}",
                                        last - 1, items)
                          : sc_asprintf("{\"notifications\":[%s]}", items);
    sc_free(items);
    return body;
}

static enum MHD_Result peer_answer(void *cls, struct MHD_Connection *conn,
                                   const char *url, const char *method,
                                   const char *version, const char *upload,
                                   size_t *upload_size, void **con_cls)
{
    (void)version;
    struct peer *p = cls;
    int status = 200;
    char *body = NULL;
    struct upload *up = *con_cls;
    if (strcmp(method, "POST") == 0) {
        if (!up) {
            *con_cls = sc_calloc(1, sizeof(struct upload));
            return MHD_YES;
        }
        if (*upload_size) {
            char *d = sc_malloc(up->len + *upload_size + 1);
            if (up->len)
                memcpy(d, up->data, up->len);
            memcpy(d + up->len, upload, *upload_size);
            up->len += *upload_size;
            d[up->len] = '\0';
            sc_free(up->data);
            up->data = d;
            *upload_size = 0;
            return MHD_YES;
        }
        *con_cls = NULL;
    }
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
#define ARG(name) MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name)
    pthread_mutex_lock(&p->mu);
    bool x = strncmp(url, "/2/", 3) == 0;
    char want[64];
    snprintf(want, sizeof(want), "Bearer %s", x ? X_TOKEN : p->bs_token);
    if (strcmp(url, "/xrpc/com.atproto.server.createSession") == 0) {
        json_t *j = up && up->data ? json_loads(up->data, 0, NULL) : NULL;
        const char *id = json_string_value(json_object_get(j, "identifier"));
        const char *pw = json_string_value(json_object_get(j, "password"));
        if (strcmp(method, "POST") != 0 || !id || !pw || strcmp(id, BS_HANDLE) != 0 ||
            strcmp(pw, BS_PASSWORD) != 0) {
            status = 401;
            body = sc_strdup("{\"error\":\"AuthenticationRequired\"}");
        } else {
            p->logins++;
            snprintf(p->bs_token, sizeof(p->bs_token), "bs-jwt-%d", p->logins);
            body = sc_asprintf("{\"did\":\"did:plc:acme\",\"handle\":\"" BS_HANDLE
                               "\",\"accessJwt\":\"%s\",\"refreshJwt\":\"r\"}",
                               p->bs_token);
        }
        json_decref(j);
    } else if (!x && p->expire_next && auth && strcmp(auth, want) == 0) {
        p->expire_next = false;
        p->bs_token[0] = '\0';
        status = 400;
        body =
            sc_strdup("{\"error\":\"ExpiredToken\",\"message\":\"Token has expired\"}");
    } else if (!auth || !want[7] || strcmp(auth, want) != 0) {
        p->bad_auth++;
        status = 401;
        body = sc_strdup("{\"title\":\"Unauthorized\"}");
    } else if (strcmp(url, "/2/users/100/mentions") == 0) {
        const char *exp = ARG("expansions"), *uf = ARG("user.fields");
        if (!exp || strcmp(exp, "author_id") != 0 || !uf ||
            !strstr(uf, "public_metrics") || !strstr(uf, "verified")) {
            p->bad_query++;
            status = 400;
            body = sc_strdup("{\"title\":\"Invalid Request\"}");
        } else if (ARG("pagination_token") && !p->failed_once) {
            p->failed_once = true;
            status = 503;
            body = sc_strdup("{\"title\":\"Service Unavailable\"}");
        } else {
            body = x_mentions(p, ARG("since_id"), ARG("pagination_token"));
        }
    } else if (strcmp(url, "/2/tweets/search/recent") == 0) {
        const char *q = ARG("query");
        p->search_requests++;
        if (!q || strcmp(q, "(acme OR #acmefail) -is:retweet") != 0) {
            p->bad_query++;
            status = 400;
            body = sc_strdup("{\"title\":\"Invalid Request\"}");
        } else if (ARG("since_id")) {
            body = sc_strdup("{\"meta\":{\"result_count\":0}}");
        } else {
            char *u = x_user(9);
            body = sc_asprintf("{\"data\":[{\"id\":\"301\",\"text\":\"#acmefail "
                               "again\",\"author_id\":\"u9\","
                               "\"created_at\":\"2026-11-22T07:00:00.000Z\"}],"
                               "\"includes\":{\"users\":[%s]},"
                               "\"meta\":{\"newest_id\":\"301\",\"oldest_id\":\"301\","
                               "\"result_count\":1}}",
                               u);
            sc_free(u);
        }
    } else if (strcmp(url, "/xrpc/app.bsky.notification.listNotifications") == 0) {
        body = bs_notifications(p, ARG("cursor"));
    } else {
        status = 404;
        body = sc_strdup("{\"title\":\"Not Found\"}");
    }
    pthread_mutex_unlock(&p->mu);
    if (up) {
        sc_free(up->data);
        sc_free(up);
    }
#undef ARG
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (x) {
        MHD_add_response_header(r, "x-rate-limit-limit", "450");
        MHD_add_response_header(r, "x-rate-limit-remaining", "449");
        MHD_add_response_header(r, "x-rate-limit-reset", "4102444800");
    } else {
        MHD_add_response_header(r, "ratelimit-remaining", "2999");
    }
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

struct wait_arg {
    struct e2e_collector *coll;
    const char *const *ids;
};

static bool have_ids(struct e2e *e, void *arg)
{
    (void)e;
    struct wait_arg *w = arg;
    for (const char *const *id = w->ids; *id; id++) {
        size_t n;
        if (!find_id(w->coll, *id, &n))
            return false;
    }
    return true;
}

static bool cursor_has(struct e2e *e, const char *key, const char *needle)
{
    redisReply *r = e2e_redis(e, "GET %s", key);
    bool ok = r->type == REDIS_REPLY_STRING && strstr(r->str, needle);
    freeReplyObject(r);
    return ok;
}

static bool first_runs_done(struct e2e *e, void *arg)
{
    (void)arg;
    return cursor_has(e, "cursor:{x:mentions}", "\"since\":\"205\"") &&
           cursor_has(e, "cursor:{bluesky:notifications}", "07:00:02.000Z") &&
           cursor_has(e, "cursor:{x:search}", "\"since\":\"301\"");
}

static bool second_runs_done(struct e2e *e, void *arg)
{
    (void)arg;
    return cursor_has(e, "cursor:{x:mentions}", "\"since\":\"208\"") &&
           cursor_has(e, "cursor:{x:mentions}", "\"next\":\"\"") &&
           cursor_has(e, "cursor:{bluesky:notifications}",
                      "\"since\":\"2026-11-22T07:00:05.000Z\"") &&
           cursor_has(e, "cursor:{bluesky:notifications}", "\"next\":\"\"");
}

static void test_x_bluesky_poll(void **state)
{
    struct e2e *e = *state;
    static struct peer peer;
    memset(&peer, 0, sizeof(peer));
    pthread_mutex_init(&peer.mu, NULL);
    peer.x_newest = 205;
    peer.bs_newest = 2;
    for (int attempt = 0; attempt < 20 && !peer.d; attempt++) {
        peer.port = e2e_free_port();
        peer.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)peer.port,
                                  NULL, NULL, peer_answer, &peer, MHD_OPTION_END);
    }
    assert_non_null(peer.d);
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);
    const char *topics[] = {"posts.inbound", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    char *xurl = sc_asprintf("X_API_URL=http://127.0.0.1:%d", peer.port);
    char *bsurl = sc_asprintf("BLUESKY_URL=http://127.0.0.1:%d", peer.port);
    const char *env[] = {xurl,
                         bsurl,
                         "X_BEARER_TOKEN=" X_TOKEN,
                         "X_USER_ID=100",
                         "X_POLL_S=1",
                         "BLUESKY_HANDLE=" BS_HANDLE,
                         "BLUESKY_APP_PASSWORD=" BS_PASSWORD,
                         "BLUESKY_POLL_S=1",
                         "BRAND_TERMS=acme, #acmefail",
                         NULL};
    e2e_start_service(e, "ingestor", env);

    /* First runs: the newest page of each (no history backfill). */
    assert_true(e2e_wait_until(e, first_runs_done, NULL, 30000));
    const char *first[] = {"x:205",
                           "x:204",
                           "x:301",
                           "bluesky:at://did:plc:c2/app.bsky.feed.post/p2",
                           "bluesky:at://did:plc:c1/app.bsky.feed.post/p1",
                           NULL};
    struct wait_arg w = {coll, first};
    assert_true(e2e_wait_until(e, have_ids, &w, 30000));

    /* New posts on the platforms: the next runs page through them (with one 503). */
    pthread_mutex_lock(&peer.mu);
    peer.x_newest = 208;
    peer.bs_newest = 5;
    peer.expire_next = true;
    pthread_mutex_unlock(&peer.mu);
    assert_true(e2e_wait_until(e, second_runs_done, NULL, 30000));
    const char *second[] = {"x:206",
                            "x:207",
                            "x:208",
                            "bluesky:at://did:plc:c3/app.bsky.feed.post/p3",
                            "bluesky:at://did:plc:c5/app.bsky.feed.post/p5",
                            NULL};
    w.ids = second;
    assert_true(e2e_wait_until(e, have_ids, &w, 30000));
    assert_true(e2e_collector_sync(coll, 30000));

    /* Exactly once each; nothing older than the first page. */
    const char *all[] = {"x:204", "x:205", "x:206", "x:207", "x:208", "x:301", NULL};
    for (const char *const *id = all; *id; id++) {
        size_t n;
        find_id(coll, *id, &n);
        if (n != 1)
            fail_msg("%s published %zu times", *id, n);
    }
    size_t n;
    assert_null(find_id(coll, "x:203", &n));
    assert_int_equal(e2e_collector_count_topic(coll, "posts.inbound"), 11);
    const struct e2e_msg *m = find_id(coll, "x:207", &n);
    json_t *author = json_object_get(m->json, "author");
    assert_int_equal(json_integer_value(json_object_get(author, "followers")), 20700);
    assert_true(json_is_true(json_object_get(author, "verified")));
    assert_string_equal(e2e_msg_str(m, "text"), "@acme help & now 207");
    assert_string_equal(m->key, "x:u207");
    m = find_id(coll, "bluesky:at://did:plc:c4/app.bsky.feed.post/p4", &n);
    assert_int_equal(n, 1);
    assert_string_equal(e2e_msg_str(m, "kind"), "reply");
    pthread_mutex_lock(&peer.mu);
    assert_true(peer.failed_once);
    assert_int_equal(peer.bad_auth, 0);
    assert_int_equal(peer.bad_query, 0);
    assert_int_equal(peer.logins, 2); /* at start, and after the token expired */
    assert_false(peer.expire_next);
    pthread_mutex_unlock(&peer.mu);

    sc_free(xurl);
    sc_free(bsurl);
    e2e_finish(e);
    MHD_stop_daemon(peer.d);
    pthread_mutex_destroy(&peer.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_csv_replay, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_x_bluesky_poll, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
