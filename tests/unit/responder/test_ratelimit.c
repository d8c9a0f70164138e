/* Tests of the responder's Redis Lua scripts against a real redis-server (started on a
 * free loopback port in a temp dir): the GCRA buckets per account and per customer, the
 * shared pause, and the deferred-reply queue (due replies claimed once, under a lease).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis.h"
#include "ratelimit.h"

struct fixture {
    pid_t pid;
    char dir[64];
    struct sc_redis *redis;
    struct sc_redis_script gcra, pause, defer, claim;
};

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    close(fd);
    return ntohs(sa.sin_port);
}

static double multiplier(void)
{
    const char *m = getenv("SC_TEST_TIMEOUT_MULTIPLIER");
    double v = m ? atof(m) : 1;
    return v < 0.1 ? 1 : v;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/sc-rl-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    int port = free_port();
    char port_s[16], url[64];
    snprintf(port_s, sizeof(port_s), "%d", port);
    f->pid = fork();
    if (f->pid == 0) {
        if (chdir(f->dir) != 0)
            _exit(127);
        execlp("redis-server", "redis-server", "--port", port_s, "--save", "",
               "--appendonly", "no", "--bind", "127.0.0.1", "--loglevel", "warning",
               (char *)NULL);
        _exit(127);
    }
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
    char err[256];
    f->redis = sc_redis_new(url, 1000, err, sizeof(err));
    if (!f->redis)
        return -1;
    /* wait until PING answers */
    struct timespec start, now, nap = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        redisReply *r = sc_redis_commandf(f->redis, "PING");
        if (r) {
            freeReplyObject(r);
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000.0 > 10000 * multiplier())
            return -1;
        nanosleep(&nap, NULL);
    }
    f->gcra.source = ratelimit_gcra_lua;
    f->pause.source = ratelimit_pause_lua;
    f->defer.source = ratelimit_defer_lua;
    f->claim.source = ratelimit_claim_lua;
    sc_redis_script_register(f->redis, &f->gcra);
    sc_redis_script_register(f->redis, &f->pause);
    sc_redis_script_register(f->redis, &f->defer);
    sc_redis_script_register(f->redis, &f->claim);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sc_redis_free(f->redis);
    kill(f->pid, SIGTERM);
    waitpid(f->pid, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* One decision: {allowed, wait ms, level}. */
static void decide(struct fixture *f, const char *account, const char *customer,
                   const char *acct_iv, const char *acct_burst, const char *cust_iv,
                   const char *cust_burst, const char *cost, long long out[3])
{
    char acct[200], pause[200], cust[200];
    ratelimit_keys(account, customer, acct, pause, cust, sizeof(acct));
    const char *argv[] = {acct,       pause,   cust,       acct_iv,
                          acct_burst, cust_iv, cust_burst, cost};
    size_t lens[8];
    for (int i = 0; i < 8; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = sc_redis_eval(f->redis, &f->gcra, 3, 8, argv, lens);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("script error: %s", r->str);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 3);
    for (int i = 0; i < 3; i++)
        out[i] = r->element[i]->integer;
    freeReplyObject(r);
}

static void test_account_bucket(void **state)
{
    struct fixture *f = *state;
    long long d[3];
    /* one per 10 minutes, burst 3: exactly 3 pass, whatever the test's speed */
    for (int i = 0; i < 3; i++) {
        decide(f, "x:brand", "x:c1", "600000", "3", "0", "1", "1", d);
        assert_int_equal(d[0], 1);
        assert_int_equal(d[2], 2 - i); /* tokens left */
    }
    decide(f, "x:brand", "x:c2", "600000", "3", "0", "1", "1", d);
    assert_int_equal(d[0], 0);
    assert_true(d[1] > 0 && d[1] <= 600000);
    /* another account is not affected */
    decide(f, "mastodon:brand", "x:c2", "600000", "3", "0", "1", "1", d);
    assert_int_equal(d[0], 1);
    /* cost: a thread of 2 needs 2 tokens */
    decide(f, "bluesky:brand", "x:c3", "600000", "3", "0", "1", "2", d);
    assert_int_equal(d[0], 1);
    assert_int_equal(d[2], 1);
    decide(f, "bluesky:brand", "x:c4", "600000", "3", "0", "1", "2", d);
    assert_int_equal(d[0], 0);
}

static void test_customer_bucket(void **state)
{
    struct fixture *f = *state;
    long long d[3];
    for (int i = 0; i < 2; i++) {
        decide(f, "x:brand", "x:jane", "0", "1", "600000", "2", "1", d);
        assert_int_equal(d[0], 1);
    }
    decide(f, "x:brand", "x:jane", "0", "1", "600000", "2", "1", d);
    assert_int_equal(d[0], 0);
    decide(f, "x:brand", "x:joe", "0", "1", "600000", "2", "1", d);
    assert_int_equal(d[0], 1);
    /* a refused decision charges nothing: the account bucket keeps its tokens */
    decide(f, "x:other", "x:jane", "600000", "1", "600000", "2", "1", d);
    assert_int_equal(d[0], 0);
    decide(f, "x:other", "x:joe", "600000", "1", "600000", "2", "1", d);
    assert_int_equal(d[0], 1);
}

static void test_pause(void **state)
{
    struct fixture *f = *state;
    char acct[200], pause[200], cust[200];
    ratelimit_keys("x:brand", "x:c", acct, pause, cust, sizeof(acct));
    const char *argv[] = {pause, "600000"};
    size_t lens[] = {strlen(pause), 6};
    redisReply *r = sc_redis_eval(f->redis, &f->pause, 1, 2, argv, lens);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    /* a shorter pause does not shorten it */
    const char *argv2[] = {pause, "1000"};
    size_t lens2[] = {strlen(pause), 4};
    r = sc_redis_eval(f->redis, &f->pause, 1, 2, argv2, lens2);
    assert_true(r->integer > 1000);
    freeReplyObject(r);
    long long d[3];
    decide(f, "x:brand", "x:anyone", "0", "1", "0", "1", "1", d);
    assert_int_equal(d[0], 0);
    assert_true(d[1] > 1000 && d[1] <= 600000);
    decide(f, "mastodon:brand", "x:anyone", "0", "1", "0", "1", "1", d);
    assert_int_equal(d[0], 1);
    r = sc_redis_commandf(f->redis, "PTTL %s", pause);
    assert_true(r->integer > 1000);
    freeReplyObject(r);
}

/* Decisions in one call: each {account, customer, account interval, account burst,
 * customer interval, customer burst, cost}; three values per decision in out. */
static void decide_many(struct fixture *f, size_t n, const char *const spec[][7],
                        long long *out)
{
    char keys[8][3][200];
    const char *argv[8 * 8];
    size_t lens[8 * 8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        ratelimit_keys(spec[i][0], spec[i][1], keys[i][0], keys[i][1], keys[i][2],
                       sizeof(keys[i][0]));
        for (int k = 0; k < 3; k++)
            argv[3 * i + (size_t)k] = keys[i][k];
        for (int k = 0; k < 5; k++)
            argv[3 * n + 5 * i + (size_t)k] = spec[i][2 + k];
    }
    for (size_t i = 0; i < 8 * n; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r =
        sc_redis_eval(f->redis, &f->gcra, (int)(3 * n), (int)(8 * n), argv, lens);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("script error: %s", r->str);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 3 * n);
    for (size_t i = 0; i < 3 * n; i++)
        out[i] = r->element[i]->integer;
    freeReplyObject(r);
}

/* One call deciding several replies of the same account and customers decides them in
 * order, as separate calls would: each allowed decision charges the buckets the next
 * one sees, a refused one charges nothing, and the state is kept for later calls. */
static void test_many_per_call(void **state)
{
    struct fixture *f = *state;
    static const char *const spec[][7] = {
        {"x:a", "x:c1", "600000", "3", "600000", "2", "1"}, /* allowed, 2 left */
        {"x:a", "x:c1", "600000", "3", "600000", "2", "1"}, /* allowed, 1 left */
        {"x:a", "x:c1", "600000", "3", "600000", "2", "1"}, /* c1 spent: refused */
        {"x:a", "x:c2", "600000", "3", "600000", "2", "1"}, /* allowed, 0 left */
        {"x:a", "x:c3", "600000", "3", "600000", "2", "1"}, /* account spent */
        {"x:b", "x:c1", "600000", "1", "0", "1", "2"},      /* burst below cost: ok */
        {"x:b", "x:c4", "600000", "1", "0", "1", "1"},      /* b spent */
    };
    long long d[3 * 7];
    decide_many(f, 7, spec, d);
    static const long long allowed[] = {1, 1, 0, 1, 0, 1, 0};
    static const long long level[] = {2, 1, -1, 0, -1, -1, -1};
    for (int i = 0; i < 7; i++) {
        assert_int_equal(d[3 * i], allowed[i]);
        if (allowed[i])
            assert_int_equal(d[3 * i + 1], 0);
        else
            assert_true(d[3 * i + 1] > 0 && d[3 * i + 1] <= 1200000);
        if (i < 5)
            assert_int_equal(d[3 * i + 2], level[i]);
    }
    /* the refused third decision charged nothing (the fourth still found a token of
     * x:a); what the call charged is kept: x:a is still spent in the next call */
    long long one[3];
    decide(f, "x:a", "x:c5", "600000", "3", "600000", "2", "1", one);
    assert_int_equal(one[0], 0);
    /* a pause is honoured for every decision of its account within the call */
    char acct[200], pause[200], cust[200];
    ratelimit_keys("x:p", "x:c", acct, pause, cust, sizeof(acct));
    const char *pargv[] = {pause, "600000"};
    size_t plens[] = {strlen(pause), 6};
    redisReply *r = sc_redis_eval(f->redis, &f->pause, 1, 2, pargv, plens);
    assert_non_null(r);
    freeReplyObject(r);
    static const char *const paused[][7] = {
        {"x:p", "x:c6", "0", "1", "0", "1", "1"},
        {"x:q", "x:c6", "0", "1", "0", "1", "1"},
        {"x:p", "x:c7", "0", "1", "0", "1", "1"},
    };
    long long p[9];
    decide_many(f, 3, paused, p);
    assert_int_equal(p[0], 0);
    assert_true(p[1] > 1000 && p[1] <= 600000);
    assert_int_equal(p[3], 1);
    assert_int_equal(p[6], 0);
}

static redisReply *defer_cmd(struct fixture *f, const char *id, const char *delay,
                             const char *data)
{
    const char *argv[] = {"{responder}:deferred", "{responder}:deferred:data", id, delay,
                          data};
    size_t lens[5];
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    return sc_redis_eval(f->redis, &f->defer, 2, 5, argv, lens);
}

static redisReply *claim_cmd(struct fixture *f, const char *lease, const char *max)
{
    const char *argv[] = {"{responder}:deferred", "{responder}:deferred:data", lease,
                          max};
    size_t lens[4];
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(argv[i]);
    return sc_redis_eval(f->redis, &f->claim, 2, 4, argv, lens);
}

static void test_deferred_queue(void **state)
{
    struct fixture *f = *state;
    freeReplyObject(defer_cmd(f, "a", "0", "{\"reply_id\":\"a\"}"));
    freeReplyObject(defer_cmd(f, "b", "600000", "{\"reply_id\":\"b\"}"));
    freeReplyObject(defer_cmd(f, "c", "0", "{\"reply_id\":\"c\"}"));
    redisReply *r = claim_cmd(f, "600000", "1");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1); /* max */
    freeReplyObject(r);
    r = claim_cmd(f, "600000", "10");
    assert_int_equal(r->elements, 1); /* the other due one; b is not due */
    freeReplyObject(r);
    r = claim_cmd(f, "600000", "10");
    assert_int_equal(r->elements, 0); /* both leased */
    freeReplyObject(r);
    /* a lease that ran out: due again for any replica */
    freeReplyObject(defer_cmd(f, "d", "0", "{\"reply_id\":\"d\"}"));
    r = claim_cmd(f, "0", "10");
    assert_int_equal(r->elements, 1);
    assert_string_equal(r->element[0]->str, "{\"reply_id\":\"d\"}");
    freeReplyObject(r);
    r = claim_cmd(f, "600000", "10");
    assert_int_equal(r->elements, 1);
    freeReplyObject(r);
    /* an entry without data is dropped */
    freeReplyObject(sc_redis_commandf(f->redis, "ZADD {responder}:deferred 0 ghost"));
    r = claim_cmd(f, "600000", "10");
    assert_int_equal(r->elements, 0);
    freeReplyObject(r);
    r = sc_redis_commandf(f->redis, "ZSCORE {responder}:deferred ghost");
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_account_bucket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_customer_bucket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_per_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_queue, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
