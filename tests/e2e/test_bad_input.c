/* End-to-end: poison input never stops the pipeline. A replay file with malformed JSON,
 * an oversized text (> 8 KiB), a line over 64 KiB, invalid UTF-8, missing fields and a
 * wrong version sends each line to pipeline.dlq with a "reason" header naming its class
 * and the original bytes as the value; raw bad messages produced straight onto
 * posts.inbound are dead-lettered by the classifier with source.topic/partition/offset
 * headers; bad HTTP bodies get 400 (413 when too large) with a JSON error; afterwards
 * both services are healthy and a valid post still goes all the way to posts.classified.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct bad_line {
    const char *name;
    const char *want_class; /* the reason header starts with this */
    char *bytes;
    size_t len;
};

/* A post with a text of n copies of 'a'. */
static char *post_with_text_len(const char *post_id, size_t n)
{
    char *text = sc_malloc(n + 1);
    memset(text, 'a', n);
    text[n] = '\0';
    char *post = e2e_post_new("x", post_id, "u9", text);
    sc_free(text);
    return post;
}

/* Replaces the first occurrence of from with to in a new string. */
static char *replace_once(const char *s, const char *from, const char *to)
{
    const char *hit = strstr(s, from);
    assert_non_null(hit);
    return sc_asprintf("%.*s%s%s", (int)(hit - s), s, to, hit + strlen(from));
}

static void make_bad_lines(struct bad_line *lines)
{
    lines[0].name = "malformed JSON";
    lines[0].want_class = "invalid_json";
    lines[0].bytes = sc_strdup("{\"v\":1,\"id\":\"x:bad1\",\"platform\":\"x\",");

    lines[1].name = "text over 8 KiB";
    lines[1].want_class = "too_long";
    lines[1].bytes = post_with_text_len("bad2", 9000);

    lines[2].name = "line over 64 KiB";
    lines[2].want_class = "too_large";
    lines[2].bytes = post_with_text_len("bad3", 70000);

    char *good = e2e_post_new("x", "bad4", "u9", "broken: @@");
    lines[3].name = "invalid UTF-8";
    lines[3].want_class = "invalid_utf8";
    lines[3].bytes = replace_once(good, "@@", "\xff\xfe\xc3");
    sc_free(good);

    good = e2e_post_new("x", "bad5", "u9", "no author here");
    lines[4].name = "missing author";
    lines[4].want_class = "missing_field";
    lines[4].bytes = replace_once(good, "\"author\"", "\"writer\"");
    sc_free(good);

    good = e2e_post_new("x", "bad6", "u9", "from the future");
    lines[5].name = "wrong version";
    lines[5].want_class = "unsupported_version";
    lines[5].bytes = replace_once(good, "\"v\":1", "\"v\":2");
    sc_free(good);

    for (int i = 0; i < 6; i++)
        lines[i].len = strlen(lines[i].bytes);
}

struct dlq_wait {
    struct e2e_collector *coll;
    const char *service;
    size_t want;
};

static size_t dlq_count(struct e2e_collector *coll, const char *service)
{
    size_t n = 0;
    for (size_t i = 0; i < e2e_collector_count(coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(coll, i);
        const char *svc = e2e_msg_header(msg, "service");
        n += strcmp(msg->topic, "pipeline.dlq") == 0 && svc && strcmp(svc, service) == 0;
    }
    return n;
}

static bool dlq_has(struct e2e *e, void *arg)
{
    (void)e;
    struct dlq_wait *w = arg;
    return dlq_count(w->coll, w->service) >= w->want;
}

/* The DLQ message (from service) whose value is exactly bytes[0..len), or NULL. */
static const struct e2e_msg *find_dlq(struct e2e_collector *coll, const char *service,
                                      const char *bytes, size_t len)
{
    for (size_t i = 0; i < e2e_collector_count(coll); i++) {
        const struct e2e_msg *msg = e2e_collector_msg(coll, i);
        const char *svc = e2e_msg_header(msg, "service");
        if (strcmp(msg->topic, "pipeline.dlq") == 0 && svc && strcmp(svc, service) == 0 &&
            msg->value_len == len && memcmp(msg->value, bytes, len) == 0)
            return msg;
    }
    return NULL;
}

static bool classified_has(struct e2e *e, void *arg)
{
    (void)e;
    struct e2e_index *idx = arg;
    return e2e_index_has(idx, "x:good2");
}

/* POSTs body (len bytes) and checks the status and, for 400, a JSON {"error": ...}. */
static void http_bad(struct e2e_proc *ingestor, const char *what, const char *body,
                     size_t len, long want_status)
{
    const char *headers[] = {"Content-Type: application/json", NULL};
    struct e2e_http_resp resp;
    long status =
        e2e_http(e2e_proc_port(ingestor), "POST", "/v1/posts", body, len, headers, &resp);
    if (status != want_status)
        fail_msg("%s: HTTP %ld (want %ld): %.300s", what, status, want_status, resp.body);
    if (want_status == 400) {
        if (!resp.json || !json_is_string(json_object_get(resp.json, "error")))
            fail_msg("%s: 400 without a JSON error: %.300s", what, resp.body);
    }
    e2e_http_resp_cleanup(&resp);
}

static void test_bad_input(void **state)
{
    struct e2e *e = *state;
    e2e_start_redis(e);
    e2e_start_broker(e, NULL);

    /* The replay: each bad line, with a valid post at the end. */
    struct bad_line lines[6];
    make_bad_lines(lines);
    char *file = e2e_path(e, "replay.jsonl");
    e2e_write_file(file, "", 0, false);
    for (int i = 0; i < 6; i++) {
        e2e_write_file(file, lines[i].bytes, lines[i].len, true);
        e2e_write_file(file, "\n", 1, true);
    }
    char *good1 = e2e_post_new("x", "good1", "u1", e2e_sample_text(E2E_QUESTION, 0));
    e2e_write_file(file, good1, strlen(good1), true);
    e2e_write_file(file, "\n", 1, true);

    const char *topics[] = {"pipeline.dlq", "posts.inbound", "posts.classified", NULL};
    struct e2e_collector *coll = e2e_collector_new(e, topics);
    struct e2e_index *classified = e2e_index_new(coll, "posts.classified", "id", NULL);

    char *ingest_file = sc_asprintf("INGEST_FILE=%s", file);
    const char *env[] = {ingest_file, NULL};
    struct e2e_proc *ingestor = e2e_start_service(e, "ingestor", env);
    struct e2e_proc *classifier = e2e_start_service(e, "classifier", NULL);

    /* 1. Replay: every bad line on the DLQ with its class and its bytes. */
    struct dlq_wait wait_ingestor = {coll, "ingestor", 6};
    if (!e2e_wait_until(e, dlq_has, &wait_ingestor, 30000))
        fail_msg("only %zu of 6 bad lines dead-lettered by the ingestor",
                 dlq_count(coll, "ingestor"));
    for (int i = 0; i < 6; i++) {
        const struct e2e_msg *msg =
            find_dlq(coll, "ingestor", lines[i].bytes, lines[i].len);
        if (!msg)
            fail_msg("%s: no DLQ message carrying the original bytes", lines[i].name);
        const char *reason = e2e_msg_header(msg, "reason");
        if (!reason ||
            strncmp(reason, lines[i].want_class, strlen(lines[i].want_class)) != 0)
            fail_msg("%s: reason \"%s\", want class %s", lines[i].name,
                     reason ? reason : "(none)", lines[i].want_class);
    }

    /* 2. Raw poison on posts.inbound: dead-lettered by the classifier with its source. */
    const char *raw[] = {"this is not json", "{\"v\":1,\"id\":\"x:raw2\"}", "[1,2,3]",
                         "{\"v\":7,\"id\":\"x:raw4\",\"platform\":\"x\"}"};
    const char *raw_class[] = {"invalid_json", "missing_field", "not_object",
                               "unsupported_version"};
    int32_t raw_partition[4];
    int64_t raw_offset[4];
    for (int i = 0; i < 4; i++) {
        e2e_produce(e, "posts.inbound", "x:u7", raw[i], strlen(raw[i]), NULL);
        e2e_last_produced(e, &raw_partition[i], &raw_offset[i]);
    }
    struct dlq_wait wait_classifier = {coll, "classifier", 4};
    if (!e2e_wait_until(e, dlq_has, &wait_classifier, 30000))
        fail_msg("only %zu of 4 raw messages dead-lettered by the classifier",
                 dlq_count(coll, "classifier"));
    for (int i = 0; i < 4; i++) {
        const struct e2e_msg *msg = find_dlq(coll, "classifier", raw[i], strlen(raw[i]));
        if (!msg)
            fail_msg("raw message %d: no DLQ message carrying the original bytes", i);
        const char *reason = e2e_msg_header(msg, "reason");
        if (!reason || strncmp(reason, raw_class[i], strlen(raw_class[i])) != 0)
            fail_msg("raw message %d: reason \"%s\", want class %s", i,
                     reason ? reason : "(none)", raw_class[i]);
        const char *topic = e2e_msg_header(msg, "source.topic");
        const char *partition = e2e_msg_header(msg, "source.partition");
        const char *offset = e2e_msg_header(msg, "source.offset");
        assert_non_null(topic);
        assert_non_null(partition);
        assert_non_null(offset);
        assert_string_equal(topic, "posts.inbound");
        assert_int_equal(atol(partition), raw_partition[i]);
        assert_int_equal(atoll(offset), raw_offset[i]);
    }

    /* 3. Bad HTTP bodies. */
    http_bad(ingestor, "not JSON", "this is not json", 16, 400);
    http_bad(ingestor, "truncated JSON", "{\"v\":1,", 7, 400);
    http_bad(ingestor, "a JSON string", "\"post\"", 6, 400);
    char *no_author = e2e_post_new("x", "h1", "u1", "hello");
    char *bad_post = replace_once(no_author, "\"author\"", "\"writer\"");
    http_bad(ingestor, "post without author", bad_post, strlen(bad_post), 400);
    char *v2 = replace_once(no_author, "\"v\":1", "\"v\":2");
    http_bad(ingestor, "post with v 2", v2, strlen(v2), 400);
    http_bad(ingestor, "post with invalid UTF-8", lines[3].bytes, lines[3].len, 400);
    http_bad(ingestor, "post with text > 8 KiB", lines[1].bytes, lines[1].len, 400);
    size_t huge_len = 1536 * 1024;
    char *huge = sc_malloc(huge_len);
    memset(huge, ' ', huge_len);
    huge[0] = '[';
    huge[huge_len - 1] = ']';
    http_bad(ingestor, "body over 1 MiB", huge, huge_len, 413);
    sc_free(huge);

    /* An array with one good and one bad post: 202, the bad one listed by index. */
    char *good2 = e2e_post_new("x", "good2", "u2", e2e_sample_text(E2E_PRAISE, 1));
    char *mixed = sc_asprintf("[%s,%s]", good2, bad_post);
    struct e2e_http_resp resp;
    long status = e2e_http_post_json(e2e_proc_port(ingestor), "/v1/posts", mixed, &resp);
    if (status != 202)
        fail_msg("mixed array: HTTP %ld: %.300s", status, resp.body);
    assert_non_null(resp.json);
    assert_int_equal(json_integer_value(json_object_get(resp.json, "accepted")), 1);
    json_t *rejected = json_object_get(resp.json, "rejected");
    assert_int_equal(json_array_size(rejected), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(rejected, 0), "index")), 1);
    assert_true(json_is_string(json_object_get(json_array_get(rejected, 0), "reason")));
    e2e_http_resp_cleanup(&resp);

    /* 4. Still healthy, and valid posts go through. */
    assert_true(e2e_proc_running(ingestor));
    assert_true(e2e_proc_running(classifier));
    assert_true(e2e_wait_until(e, classified_has, classified, 30000));
    assert_true(e2e_index_has(classified, "x:good1"));
    assert_true(e2e_wait_http_status(e, e2e_proc_port(ingestor), "/healthz", 200, 5000));
    assert_true(e2e_wait_http_status(e, e2e_proc_port(ingestor), "/readyz", 200, 5000));
    assert_true(
        e2e_wait_http_status(e, e2e_proc_port(classifier), "/healthz", 200, 5000));
    assert_true(e2e_wait_http_status(e, e2e_proc_port(classifier), "/readyz", 200, 5000));

    /* Nothing bad reached posts.classified, and nothing else was dead-lettered. */
    assert_true(e2e_collector_sync(coll, 30000));
    assert_int_equal(e2e_index_distinct(classified), 2);
    assert_int_equal(dlq_count(coll, "ingestor"), 6);
    assert_int_equal(dlq_count(coll, "classifier"), 4);

    sc_free(mixed);
    sc_free(good2);
    sc_free(v2);
    sc_free(bad_post);
    sc_free(no_author);
    sc_free(good1);
    sc_free(ingest_file);
    sc_free(file);
    for (int i = 0; i < 6; i++)
        sc_free(lines[i].bytes);
    e2e_finish(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_input, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
