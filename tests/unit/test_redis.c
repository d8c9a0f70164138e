/* Unit tests for shared/redis against a real redis-server started on a free loopback port
 * in a temporary directory: URL parsing (and that passwords never leak), AUTH and SELECT,
 * commands, a pipelined batch, scripts and NOSCRIPT recovery, command timeouts, and loss
 * of the server (SIGKILL) followed by backoff and reconnection to a restarted server. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "alloc.h"
#include "log.h"
#include "redis.h"

/* ----------------------------------------------------------------------------------------
 */
/* redis-server harness */
/* ----------------------------------------------------------------------------------------
 */

struct test_server {
    pid_t pid;
    int port;
    char dir[PATH_MAX];
    char sock[PATH_MAX + 16];
};

static struct test_server server;

static double timeout_multiplier(void)
{
    const char *env = getenv("SC_TEST_TIMEOUT_MULTIPLIER");
    double m = env ? strtod(env, NULL) : 1.0;
    return m >= 1.0 ? m : 1.0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_in(int ms)
{
    return now_ms() + (int64_t)(ms * timeout_multiplier());
}

static void short_pause(void)
{
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* A free loopback port: bind port 0 and ask the kernel which one it gave. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

/* A raw hiredis connection to the test server (independent of the code under test). */
static redisContext *raw_connect(void)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", server.port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c)
        redisSetTimeout(c, tv);
    return c;
}

static bool raw_ping(void)
{
    redisContext *c = raw_connect();
    if (!c)
        return false;
    redisReply *r = redisCommand(c, "PING");
    bool ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* Runs a command on a raw connection and checks it did not fail. */
static void raw_command(const char *fmt, ...)
{
    redisContext *c = raw_connect();
    assert_non_null(c);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    redisFree(c);
}

/* Spawns redis-server on server.port and waits until PING answers.
 * @returns 0, or -1 when it exited (e.g. the port was taken) or never answered. */
static int server_spawn(void)
{
    char port[16], log_path[PATH_MAX + 16];
    snprintf(port, sizeof(port), "%d", server.port);
    snprintf(log_path, sizeof(log_path), "%s/redis.log", server.dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--dir", server.dir, "--daemonize",
               "no", "--unixsocket", server.sock, "--unixsocketperm", "700",
               "--enable-debug-command", "yes", (char *)NULL);
        _exit(127);
    }
    server.pid = pid;
    int64_t deadline = deadline_in(10000);
    while (now_ms() < deadline) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            server.pid = 0;
            return -1;
        }
        if (raw_ping())
            return 0;
        short_pause();
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    server.pid = 0;
    return -1;
}

static void server_kill(void)
{
    if (server.pid > 0) {
        kill(server.pid, SIGKILL);
        waitpid(server.pid, NULL, 0);
        server.pid = 0;
    }
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* as sc_lifecycle_install does in the services */
    sc_log_init("test_redis", SC_LOG_DEBUG, 2);
    const char *tmp = getenv("TMPDIR");
    snprintf(server.dir, sizeof(server.dir), "%s/sc-test-redis-XXXXXX",
             tmp ? tmp : "/tmp");
    if (!mkdtemp(server.dir))
        return -1;
    snprintf(server.sock, sizeof(server.sock), "%s/redis.sock", server.dir);
    /* Retry with another port if something grabbed ours between bind and spawn. */
    for (int attempt = 0; attempt < 5; attempt++) {
        server.port = free_port();
        if (server_spawn() == 0)
            return 0;
    }
    return -1;
}

static int group_teardown(void **state)
{
    (void)state;
    server_kill();
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/redis.log", server.dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/test.log",
             server.dir); /* left by a failed auth test */
    unlink(path);
    unlink(server.sock);
    rmdir(server.dir);
    return 0;
}

static struct sc_redis *new_handle(const char *userinfo, int db, int timeout_ms)
{
    char url[256], err[256] = "";
    snprintf(url, sizeof(url), "redis://%s127.0.0.1:%d/%d", userinfo ? userinfo : "",
             server.port, db);
    struct sc_redis *redis = sc_redis_new(url, timeout_ms, err, sizeof(err));
    assert_non_null(redis);
    return redis;
}

/* Waits (with a deadline) until the handle connects. */
static void wait_connected(struct sc_redis *redis)
{
    int64_t deadline = deadline_in(10000);
    int rc;
    while ((rc = sc_redis_connect(redis)) != 0 && now_ms() < deadline)
        short_pause();
    assert_int_equal(rc, 0);
    assert_true(sc_redis_healthy(redis));
}

/* ----------------------------------------------------------------------------------------
 */
/* URL parsing */
/* ----------------------------------------------------------------------------------------
 */

static void test_url_good(void **state)
{
    (void)state;
    static const char *const good[] = {
        "redis://127.0.0.1",
        "redis://localhost:6379",
        "redis://localhost:6379/",
        "redis://redis.example.internal:6380/15",
        "redis://:s3cretPW@host:1/2",
        "redis://user:s3cretPW@host/3",
        "redis://user:p%40ss%2Fw0rd@host:7000/0",
        "redis://[::1]:6380/1",
        "unix:///var/run/redis.sock",
        "unix:///var/run/redis.sock?db=4",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char err[256] = "";
        struct sc_redis *redis = sc_redis_new(good[i], 500, err, sizeof(err));
        if (!redis)
            fail_msg("rejected %s: %s", good[i], err);
        assert_false(sc_redis_healthy(redis)); /* lazy: nothing connected yet */
        sc_redis_free(redis);
    }
}

static void test_url_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "http://host:6379",
        "rediss://host:6379",
        "redis://",
        "redis:///3",
        "redis://host:",
        "redis://host:0",
        "redis://host:65536",
        "redis://host:12ab",
        "redis://host/abc",
        "redis://host/1/2",
        "redis://host/-1",
        "redis://host?db=1",
        "redis://ho st:6379",
        "redis://[::1:6379",
        "redis://:@host",
        "redis://s3cretPW@host",
        "redis://:s3cretPW@host:99999/0",
        "redis://user:s3cretPW%zz@host",
        "redis://user:s3cretPW%00@host",
        "redis://user:s3cretPW@:6379",
        "unix://relative/path.sock",
        "unix:///",
        "unix:///x.sock?db=a",
        "unix:///x.sock?password=s3cretPW",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        struct sc_redis *redis = sc_redis_new(bad[i], 500, err, sizeof(err));
        if (redis) {
            sc_redis_free(redis);
            fail_msg("accepted malformed url #%zu", i);
        }
        assert_true(strlen(err) > 0);
        if (strstr(err, "s3cretPW"))
            fail_msg("errstr leaks the password: %s", err);
    }
    char err[64] = "";
    assert_null(sc_redis_new(NULL, 500, err, sizeof(err)));
    assert_true(strlen(err) > 0);
    assert_null(sc_redis_new("redis://host", 0, err, sizeof(err)));
}

/* ----------------------------------------------------------------------------------------
 */
/* Connection, AUTH, SELECT, commands */
/* ----------------------------------------------------------------------------------------
 */

static void test_db_select(void **state)
{
    (void)state;
    raw_command("FLUSHALL");
    struct sc_redis *db3 = new_handle(NULL, 3, 1000);
    struct sc_redis *db0 = new_handle(NULL, 0, 1000);
    assert_int_equal(sc_redis_connect(db3), 0);
    assert_true(sc_redis_healthy(db3));

    redisReply *r = sc_redis_commandf(db3, "SET h4:dbkey %s", "on-three");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);

    r = sc_redis_commandf(db0, "EXISTS h4:dbkey");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);

    r = sc_redis_commandf(db3, "GET h4:dbkey");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "on-three");
    freeReplyObject(r);

    /* The unix socket form with ?db= reaches the same database. */
    char url[PATH_MAX + 64], err[256] = "";
    snprintf(url, sizeof(url), "unix://%s?db=3", server.sock);
    struct sc_redis *unix3 = sc_redis_new(url, 1000, err, sizeof(err));
    assert_non_null(unix3);
    r = sc_redis_commandf(unix3, "GET h4:dbkey");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "on-three");
    freeReplyObject(r);

    sc_redis_free(unix3);
    sc_redis_free(db0);
    sc_redis_free(db3);
}

static void test_auth_acl(void **state)
{
    (void)state;
    raw_command("ACL SETUSER h4user reset on >p@ss/w0rd-secret ~* &* +@all");

    /* Route our log lines to a file to check the password never appears in them. */
    char log_path[PATH_MAX + 16];
    snprintf(log_path, sizeof(log_path), "%s/test.log", server.dir);
    int log_fd = open(log_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(log_fd >= 0);
    sc_log_init("test_redis", SC_LOG_DEBUG, log_fd);

    struct sc_redis *good = new_handle("h4user:p%40ss%2Fw0rd-secret@", 0, 1000);
    assert_int_equal(sc_redis_connect(good), 0);
    redisReply *r = sc_redis_commandf(good, "ACL WHOAMI");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "h4user");
    freeReplyObject(r);

    struct sc_redis *wrong = new_handle("h4user:wrong-secret@", 0, 1000);
    assert_int_equal(sc_redis_connect(wrong), SC_EIO);
    assert_false(sc_redis_healthy(wrong));
    assert_null(sc_redis_commandf(wrong, "PING")); /* backing off, or failing again */

    sc_redis_free(wrong);
    sc_redis_free(good);
    sc_log_init("test_redis", SC_LOG_DEBUG, 2);

    char logs[8192];
    ssize_t n = pread(log_fd, logs, sizeof(logs) - 1, 0);
    close(log_fd);
    unlink(log_path);
    assert_true(n > 0);
    logs[n] = '\0';
    assert_non_null(strstr(logs, "REDIS"));    /* the failure was logged... */
    assert_null(strstr(logs, "wrong-secret")); /* ...without the password */
    assert_null(strstr(logs, "w0rd-secret"));
    raw_command("ACL DELUSER h4user");
}

static void test_commands(void **state)
{
    (void)state;
    struct sc_redis *redis = new_handle(NULL, 0, 1000);

    /* Binary-safe argv: an embedded NUL survives the round trip. */
    static const char value[] = {'a', '\0', 'b', '\n', 'c'};
    const char *argv[3] = {"SET", "h4:bin", value};
    size_t argv_len[3] = {3, 6, sizeof(value)};
    redisReply *r = sc_redis_command(redis, 3, argv, argv_len);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    assert_string_equal(r->str, "OK");
    freeReplyObject(r);
    assert_true(sc_redis_healthy(redis));

    const char *get[2] = {"GET", "h4:bin"};
    r = sc_redis_command(redis, 2, get, NULL); /* NULL lengths: strlen */
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_int_equal(r->len, sizeof(value));
    assert_memory_equal(r->str, value, sizeof(value));
    freeReplyObject(r);

    r = sc_redis_commandf(redis, "INCRBY h4:counter %d", 41);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 41);
    freeReplyObject(r);

    /* A server error is a reply, not a connection failure. */
    r = sc_redis_commandf(redis, "NOSUCHCOMMAND x");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    assert_true(sc_redis_healthy(redis));
    sc_redis_free(redis);
}

/* ----------------------------------------------------------------------------------------
 */
/* Batches and scripts */
/* ----------------------------------------------------------------------------------------
 */

static void test_batch_1000(void **state)
{
    (void)state;
    struct sc_redis *redis = new_handle(NULL, 0, 2000);
    struct sc_redis_batch *batch = sc_redis_batch_new();
    assert_null(sc_redis_batch_reply(batch, 0));
    assert_int_equal(sc_redis_batch_run(redis, batch), 0); /* empty: nothing to do */

    for (int round = 0; round < 2; round++) {
        sc_redis_batch_reset(batch);
        for (int i = 0; i < 1000; i++) {
            char key[32], val[48];
            snprintf(key, sizeof(key), "h4:batch:%d", i);
            snprintf(val, sizeof(val), "value-%d-round-%d", i, round);
            const char *set[3] = {"SET", key, val};
            sc_redis_batch_add(batch, 3, set, NULL);
            const char *get[2] = {"GET", key};
            sc_redis_batch_add(batch, 2, get, NULL);
        }
        assert_int_equal(sc_redis_batch_count(batch), 2000);
        assert_int_equal(sc_redis_batch_run(redis, batch), 0);
        for (int i = 0; i < 1000; i++) {
            char val[48];
            snprintf(val, sizeof(val), "value-%d-round-%d", i, round);
            redisReply *set = sc_redis_batch_reply(batch, (size_t)(2 * i));
            redisReply *get = sc_redis_batch_reply(batch, (size_t)(2 * i + 1));
            assert_non_null(set);
            assert_int_equal(set->type, REDIS_REPLY_STATUS);
            assert_non_null(get);
            assert_int_equal(get->type, REDIS_REPLY_STRING);
            assert_string_equal(get->str, val);
        }
        assert_null(sc_redis_batch_reply(batch, 2000));
    }
    sc_redis_batch_free(batch);
    sc_redis_free(redis);
}

static struct sc_redis_script script_incr = {
    .source = "return redis.call('INCRBY', KEYS[1], ARGV[1])",
};
static struct sc_redis_script script_echo = {
    .source = "return {KEYS[1], ARGV[1], ARGV[2]}",
};

/* SCRIPT EXISTS on a raw connection. */
static long long raw_script_exists(const char *sha)
{
    redisContext *c = raw_connect();
    assert_non_null(c);
    redisReply *r = redisCommand(c, "SCRIPT EXISTS %s", sha);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    long long v = r->element[0]->integer;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static void test_script_eval(void **state)
{
    (void)state;
    raw_command("SCRIPT FLUSH");
    raw_command("DEL h4:incr");
    struct sc_redis *redis = new_handle(NULL, 0, 1000);
    sc_redis_script_register(redis, &script_incr);
    /* The SHA is SHA1(source), as the server computes it. */
    assert_int_equal(strlen(script_incr.sha), 40);
    assert_int_equal(sc_redis_connect(redis), 0);
    assert_int_equal(raw_script_exists(script_incr.sha), 1); /* loaded at connect */

    const char *argv[2] = {"h4:incr", "5"};
    redisReply *r = sc_redis_eval(redis, &script_incr, 1, 2, argv, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 5);
    freeReplyObject(r);

    /* Registered after connecting: loaded at once. */
    sc_redis_script_register(redis, &script_echo);
    assert_int_equal(raw_script_exists(script_echo.sha), 1);
    const char *eargv[3] = {"k", "a", "b"};
    r = sc_redis_eval(redis, &script_echo, 1, 3, eargv, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 3);
    assert_string_equal(r->element[0]->str, "k");
    assert_string_equal(r->element[2]->str, "b");
    freeReplyObject(r);
    sc_redis_free(redis);
}

static void test_noscript_recovery(void **state)
{
    (void)state;
    raw_command("DEL h4:incr h4:other");
    struct sc_redis *redis = new_handle(NULL, 0, 1000);
    sc_redis_script_register(redis, &script_incr);
    assert_int_equal(sc_redis_connect(redis), 0);

    raw_command("SCRIPT FLUSH");
    assert_int_equal(raw_script_exists(script_incr.sha), 0);
    const char *argv[2] = {"h4:incr", "2"};
    redisReply *r = sc_redis_eval(redis, &script_incr, 1, 2, argv, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);
    assert_int_equal(raw_script_exists(script_incr.sha), 1);

    /* Batch: evals interleaved with plain commands, after a flush; the script used here
     * (echo) was never registered with this handle, so only NOSCRIPT recovery can load
     * it. */
    raw_command("SCRIPT FLUSH");
    struct sc_redis_batch *batch = sc_redis_batch_new();
    for (int i = 0; i < 3; i++) {
        const char *a[2] = {"h4:incr", "10"};
        sc_redis_batch_add_eval(batch, &script_incr, 1, 2, a, NULL);
        const char *incr[2] = {"INCR", "h4:other"};
        sc_redis_batch_add(batch, 2, incr, NULL);
        const char *e[3] = {"key", "x", "y"};
        sc_redis_batch_add_eval(batch, &script_echo, 1, 3, e, NULL);
    }
    assert_int_equal(sc_redis_batch_run(redis, batch), 0);
    assert_int_equal(sc_redis_batch_count(batch), 9);
    for (int i = 0; i < 3; i++) {
        redisReply *ev = sc_redis_batch_reply(batch, (size_t)(3 * i));
        redisReply *plain = sc_redis_batch_reply(batch, (size_t)(3 * i + 1));
        redisReply *echo = sc_redis_batch_reply(batch, (size_t)(3 * i + 2));
        assert_non_null(ev);
        if (ev->type != REDIS_REPLY_INTEGER)
            fail_msg("eval %d: type %d %s", i, ev->type, ev->str ? ev->str : "");
        /* Retried in order: 2 + 10, + 10, + 10. */
        assert_int_equal(ev->integer, 12 + 10 * i);
        assert_int_equal(plain->type, REDIS_REPLY_INTEGER);
        assert_int_equal(plain->integer, i + 1); /* plain commands ran exactly once */
        assert_int_equal(echo->type, REDIS_REPLY_ARRAY);
        assert_string_equal(echo->element[1]->str, "x");
    }
    sc_redis_batch_free(batch);
    sc_redis_free(redis);
}

/* ----------------------------------------------------------------------------------------
 */
/* Failures: timeouts, server loss, backoff, reconnection */
/* ----------------------------------------------------------------------------------------
 */

static void test_command_timeout(void **state)
{
    (void)state;
    struct sc_redis *redis = new_handle(NULL, 0, 100);
    assert_int_equal(sc_redis_connect(redis), 0);
    /* The server answers after 500 ms; the 100 ms command timeout must give up first. */
    const char *sleep_argv[3] = {"DEBUG", "SLEEP", "0.5"};
    redisReply *r = sc_redis_command(redis, 3, sleep_argv, NULL);
    if (r) {
        int type = r->type;
        freeReplyObject(r);
        fail_msg("DEBUG SLEEP returned a reply (type %d) despite the timeout", type);
    }
    assert_false(sc_redis_healthy(redis));
    /* Once the server is free again the handle recovers by itself. */
    int64_t deadline = deadline_in(10000);
    while (now_ms() < deadline) {
        r = sc_redis_commandf(redis, "PING");
        if (r)
            break;
        short_pause();
    }
    assert_non_null(r);
    assert_string_equal(r->str, "PONG");
    freeReplyObject(r);
    assert_true(sc_redis_healthy(redis));

    /* A batch that times out part-way keeps none of the replies already read. BLPOP
     * blocks only this client (DEBUG SLEEP would also hold back the PING reply before
     * it). */
    struct sc_redis_batch *batch = sc_redis_batch_new();
    const char *ping[1] = {"PING"};
    const char *blpop[3] = {"BLPOP", "h4:empty-list", "0.5"};
    sc_redis_batch_add(batch, 1, ping, NULL);
    sc_redis_batch_add(batch, 3, blpop, NULL);
    sc_redis_batch_add(batch, 1, ping, NULL);
    assert_int_equal(sc_redis_batch_run(redis, batch), SC_EIO);
    assert_null(sc_redis_batch_reply(batch, 0));
    assert_false(sc_redis_healthy(redis));
    sc_redis_batch_free(batch);
    wait_connected(redis);
    sc_redis_free(redis);
}

static void test_kill_and_restart(void **state)
{
    (void)state;
    struct sc_redis *redis = new_handle(NULL, 0, 500);
    sc_redis_script_register(redis, &script_incr);
    assert_int_equal(sc_redis_connect(redis), 0);
    struct sc_redis_batch *batch = sc_redis_batch_new();
    const char *a[2] = {"h4:killed", "1"};
    sc_redis_batch_add_eval(batch, &script_incr, 1, 2, a, NULL);

    server_kill();

    redisReply *r = sc_redis_commandf(redis, "PING");
    assert_null(r);
    assert_false(sc_redis_healthy(redis));

    /* While backing off, connect refuses at once with SC_EAGAIN; once the backoff expires
     * it really tries (refused: SC_EIO) and backs off again. It never succeeds. */
    bool saw_eagain = false, saw_eio = false, saw_eagain_after_eio = false;
    int64_t deadline = deadline_in(10000);
    while (!saw_eagain_after_eio && now_ms() < deadline) {
        int rc = sc_redis_connect(redis);
        if (rc == SC_EAGAIN) {
            saw_eagain = true;
            saw_eagain_after_eio = saw_eio;
        } else {
            assert_int_equal(rc, SC_EIO);
            saw_eio = true;
        }
        assert_false(sc_redis_healthy(redis));
        short_pause();
    }
    assert_true(saw_eagain);
    assert_true(saw_eio);
    assert_true(saw_eagain_after_eio);
    int rc = sc_redis_batch_run(redis, batch);
    assert_true(rc == SC_EAGAIN || rc == SC_EIO);
    assert_null(sc_redis_batch_reply(batch, 0));
    assert_null(sc_redis_eval(redis, &script_incr, 1, 2, a, NULL));
    assert_false(sc_redis_healthy(redis));

    /* Same port again (the handle's URL is fixed); retry if the port is briefly busy. */
    int spawned = -1;
    for (int attempt = 0; attempt < 5 && spawned != 0; attempt++)
        spawned = server_spawn();
    assert_int_equal(spawned, 0);
    assert_int_equal(raw_script_exists(script_incr.sha), 0); /* a fresh server */

    wait_connected(redis);
    /* Registered scripts are loaded on reconnect, before any NOSCRIPT. */
    assert_int_equal(raw_script_exists(script_incr.sha), 1);
    r = sc_redis_eval(redis, &script_incr, 1, 2, a, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    assert_int_equal(sc_redis_batch_run(redis, batch), 0);
    assert_int_equal(sc_redis_batch_reply(batch, 0)->integer, 2);
    assert_true(sc_redis_healthy(redis));

    /* A batch over a connection that dies keeps no replies and reports SC_EIO. */
    server_kill();
    rc = sc_redis_batch_run(redis, batch);
    assert_int_equal(rc, SC_EIO);
    assert_null(sc_redis_batch_reply(batch, 0));
    assert_false(sc_redis_healthy(redis));
    spawned = -1;
    for (int attempt = 0; attempt < 5 && spawned != 0; attempt++)
        spawned = server_spawn();
    assert_int_equal(spawned, 0);
    wait_connected(redis);

    sc_redis_batch_free(batch);
    sc_redis_free(redis);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_good),        cmocka_unit_test(test_url_bad),
        cmocka_unit_test(test_db_select),       cmocka_unit_test(test_auth_acl),
        cmocka_unit_test(test_commands),        cmocka_unit_test(test_batch_1000),
        cmocka_unit_test(test_script_eval),     cmocka_unit_test(test_noscript_recovery),
        cmocka_unit_test(test_command_timeout), cmocka_unit_test(test_kill_and_restart),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
