/* Unit tests of the platform client's send round (platform_send_round) against local
 * HTTP servers on loopback: a round with many more sends than connections, spread over
 * two hosts, gets every answer back to the send it belongs to; and a host that accepts
 * connections but never answers makes its sends time out at the round's deadline (those
 * still queued then included, without being sent) while the other host's sends succeed.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "alloc.h"
#include "platform.h"

/* Answers every request like Mastodon: {"id": "<its Idempotency-Key>"}. */
static enum MHD_Result echo_key(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_data_size,
                                void **con_cls)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload_data;
    if (!*con_cls) {
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    char body[300];
    snprintf(body, sizeof(body), "{\"id\":\"%s\"}", key ? key : "");
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static struct MHD_Daemon *echo_server(char *base, size_t size)
{
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                         0, NULL, NULL, echo_key, NULL, MHD_OPTION_END);
    assert_non_null(d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    snprintf(base, size, "http://127.0.0.1:%u", (unsigned)info->port);
    return d;
}

/* A listening socket nobody accepts from: connections complete, answers never come. */
static int silent_server(char *base, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 64), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(base, size, "http://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    return fd;
}

static void build(const char *base, const char *key, struct platform_send *send)
{
    struct platform_account acc = {.platform = POLICY_MASTODON,
                                   .name = "mastodon:test",
                                   .base_url = base,
                                   .token = "t"};
    struct platform_msg msg = {
        .key = key, .reply_id = key, .platform = "mastodon", .text = "thanks"};
    char err[128];
    assert_int_equal(platform_build(&acc, &msg, &send->req, err, sizeof(err)), 0);
}

static void test_many_sends_two_hosts(void **state)
{
    (void)state;
    char a[64], b[64];
    struct MHD_Daemon *da = echo_server(a, sizeof(a)), *db = echo_server(b, sizeof(b));
    enum { N = 120 };
    struct platform_send *sends = sc_calloc(N, sizeof(*sends));
    char keys[N][32];
    for (size_t i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "r%zu", i);
        build(i % 3 ? a : b, keys[i], &sends[i]);
    }
    struct platform_client *client = platform_client_new(30000, 3);
    for (int round = 0; round < 2; round++) { /* the second reuses the easy handles */
        for (size_t i = 0; i < N; i++)
            memset(&sends[i].res, 0, sizeof(sends[i].res));
        platform_send_round(client, sends, N);
        for (size_t i = 0; i < N; i++) {
            assert_int_equal(sends[i].res.http_status, 200);
            assert_int_equal(sends[i].res.verdict, SEND_VERDICT_SENT);
            assert_string_equal(sends[i].res.post_id, keys[i]);
        }
    }
    platform_client_free(client);
    for (size_t i = 0; i < N; i++)
        platform_request_free(&sends[i].req);
    sc_free(sends);
    MHD_stop_daemon(da);
    MHD_stop_daemon(db);
}

static void test_silent_host_times_out(void **state)
{
    (void)state;
    char ok[64], silent[64];
    struct MHD_Daemon *d = echo_server(ok, sizeof(ok));
    int fd = silent_server(silent, sizeof(silent));
    enum { N = 12 };
    struct platform_send sends[N];
    memset(sends, 0, sizeof(sends));
    char keys[N][32];
    for (size_t i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "s%zu", i);
        build(i < 8 ? silent : ok, keys[i], &sends[i]);
    }
    /* two connections per host: six of the silent host's sends are still queued when
     * the round's deadline passes (generous: the answering host must make it in time) */
    const char *mult = getenv("SC_TEST_TIMEOUT_MULTIPLIER");
    long timeout_ms = 3000 * (mult && atol(mult) > 0 ? atol(mult) : 1);
    struct platform_client *client = platform_client_new(timeout_ms, 2);
    platform_send_round(client, sends, N);
    for (size_t i = 0; i < N; i++) {
        if (i < 8) {
            assert_true(sends[i].res.transport_error);
            assert_int_equal(sends[i].res.verdict, SEND_VERDICT_RETRY);
            assert_non_null(strstr(sends[i].res.error, "transport:"));
        } else {
            assert_int_equal(sends[i].res.verdict, SEND_VERDICT_SENT);
            assert_string_equal(sends[i].res.post_id, keys[i]);
        }
    }
    platform_client_free(client);
    for (size_t i = 0; i < N; i++)
        platform_request_free(&sends[i].req);
    close(fd);
    MHD_stop_daemon(d);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_sends_two_hosts),
        cmocka_unit_test(test_silent_host_times_out),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
