/* Redis adapter over hiredis 0.14 (blocking context, one handle per thread). A handle
 * parses its URL once, connects lazily (connect timeout, command timeout, AUTH, SELECT,
 * SCRIPT LOAD of every registered script), and after any connection error frees the
 * context and backs off (50 ms doubling to 2 s, monotonic clock) before the next attempt.
 * Batches keep their arguments in one growing byte arena with offset/length arrays, so a
 * reused batch allocates nothing in the steady state. Loss and restoration of the
 * connection are logged once each; the password never appears in an error string or a log
 * line. */
#include "redis.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include <openssl/evp.h>

#include "alloc.h"
#include "log.h"

#define SC_REDIS_BACKOFF_MIN_MS 50
#define SC_REDIS_BACKOFF_MAX_MS 2000
#define SC_REDIS_DEFAULT_PORT   6379
#define SC_REDIS_ARGV_STACK     16

struct sc_redis {
    char *host; /* TCP host (NULL for a unix socket) */
    int port;
    char *path; /* unix socket path (NULL for TCP) */
    char *user; /* ACL user, or NULL */
    char *password;
    int db;
    int timeout_ms;
    char endpoint[160]; /* "host:port/db" for logs: no credentials */

    redisContext *ctx; /* NULL while disconnected */
    int64_t retry_at_ms;
    int backoff_ms;
    bool down_logged;
    bool ever_connected;
    atomic_bool healthy;

    struct sc_redis_script **scripts;
    size_t n_scripts;
    size_t cap_scripts;
};

/* ----------------------------------------------------------------------------------------
 */
/* Helpers */
/* ----------------------------------------------------------------------------------------
 */

static int64_t sc_redis_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sc_redis_errstr(char *errstr, size_t errstr_size, const char *msg)
{
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "redis url: %s", msg);
}

static int sc_redis_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a new string; NULL when an escape is malformed or decodes
 * to NUL. */
static char *sc_redis_pct_decode(const char *s, size_t n)
{
    char *out = sc_malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n) {
                explicit_bzero(out, n + 1);
                sc_free(out);
                return NULL;
            }
            int h = sc_redis_hexval((unsigned char)s[i + 1]);
            int l = sc_redis_hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                explicit_bzero(out, n + 1);
                sc_free(out);
                return NULL;
            }
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* Parses a decimal integer s[0..n) in [min, max]; @returns 0 or -1. */
static int sc_redis_parse_int(const char *s, size_t n, long min, long max, int *out)
{
    if (n == 0 || n > 10)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static void sc_redis_free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        sc_free(s);
    }
}

/* ----------------------------------------------------------------------------------------
 */
/* URL parsing */
/* ----------------------------------------------------------------------------------------
 */

/* unix:///path/to.sock[?db=N] */
static int sc_redis_parse_unix(struct sc_redis *redis, const char *rest, char *errstr,
                               size_t errstr_size)
{
    if (rest[0] != '/') {
        sc_redis_errstr(errstr, errstr_size, "unix socket path must be absolute");
        return -1;
    }
    const char *q = strchr(rest, '?');
    size_t path_len = q ? (size_t)(q - rest) : strlen(rest);
    if (path_len < 2) {
        sc_redis_errstr(errstr, errstr_size, "empty unix socket path");
        return -1;
    }
    redis->path = sc_strndup(rest, path_len);
    if (q) {
        const char *param = q + 1;
        if (strncmp(param, "db=", 3) != 0 ||
            sc_redis_parse_int(param + 3, strlen(param + 3), 0, INT_MAX, &redis->db) !=
                0) {
            sc_redis_errstr(errstr, errstr_size, "unix url accepts only ?db=N");
            return -1;
        }
    }
    snprintf(redis->endpoint, sizeof(redis->endpoint), "unix:%.120s/%d", redis->path,
             redis->db);
    return 0;
}

/* redis://[[user]:password@]host[:port][/db] */
static int sc_redis_parse_tcp(struct sc_redis *redis, const char *rest, char *errstr,
                              size_t errstr_size)
{
    size_t auth_len = strcspn(rest, "/?#");
    const char *path = rest + auth_len;
    const char *at = NULL;
    for (const char *p = rest; p < path; p++)
        if (*p == '@')
            at = p;
    const char *hostport = rest;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (!colon) {
            /* "user@host" without a password is ambiguous: refuse it. */
            sc_redis_errstr(errstr, errstr_size,
                            "credentials must be [user]:password@ (missing ':')");
            return -1;
        }
        if (colon > rest) {
            redis->user = sc_redis_pct_decode(rest, (size_t)(colon - rest));
            if (!redis->user) {
                sc_redis_errstr(errstr, errstr_size, "malformed %-escape in user");
                return -1;
            }
        }
        redis->password = sc_redis_pct_decode(colon + 1, (size_t)(at - colon - 1));
        if (!redis->password) {
            sc_redis_errstr(errstr, errstr_size, "malformed %-escape in password");
            return -1;
        }
        if (redis->password[0] == '\0') {
            sc_redis_errstr(errstr, errstr_size, "empty password");
            return -1;
        }
        hostport = at + 1;
    }
    size_t hp_len = (size_t)(path - hostport);
    const char *host = hostport;
    size_t host_len;
    const char *after;
    if (hp_len > 0 && hostport[0] == '[') {
        const char *close = memchr(hostport, ']', hp_len);
        if (!close) {
            sc_redis_errstr(errstr, errstr_size, "unterminated [ipv6] host");
            return -1;
        }
        host = hostport + 1;
        host_len = (size_t)(close - host);
        after = close + 1;
    } else {
        const char *colon = memchr(hostport, ':', hp_len);
        host_len = colon ? (size_t)(colon - hostport) : hp_len;
        after = hostport + host_len;
    }
    if (host_len == 0) {
        sc_redis_errstr(errstr, errstr_size, "missing host");
        return -1;
    }
    for (size_t i = 0; i < host_len; i++) {
        unsigned char c = (unsigned char)host[i];
        if (!(isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':')) {
            sc_redis_errstr(errstr, errstr_size, "invalid character in host");
            return -1;
        }
    }
    redis->host = sc_strndup(host, host_len);
    redis->port = SC_REDIS_DEFAULT_PORT;
    if (after < path) {
        if (*after != ':' || sc_redis_parse_int(after + 1, (size_t)(path - after - 1), 1,
                                                65535, &redis->port) != 0) {
            sc_redis_errstr(errstr, errstr_size, "invalid port");
            return -1;
        }
    }
    if (*path == '?' || *path == '#') {
        sc_redis_errstr(errstr, errstr_size, "query and fragment are not supported");
        return -1;
    }
    if (*path == '/' && path[1] != '\0') {
        if (sc_redis_parse_int(path + 1, strlen(path + 1), 0, INT_MAX, &redis->db) != 0) {
            sc_redis_errstr(errstr, errstr_size, "invalid database number");
            return -1;
        }
    }
    bool v6 = strchr(redis->host, ':') != NULL;
    snprintf(redis->endpoint, sizeof(redis->endpoint), "%s%.100s%s:%d/%d", v6 ? "[" : "",
             redis->host, v6 ? "]" : "", redis->port, redis->db);
    return 0;
}

struct sc_redis *sc_redis_new(const char *url, int timeout_ms, char *errstr,
                              size_t errstr_size)
{
    if (!url) {
        sc_redis_errstr(errstr, errstr_size, "missing");
        return NULL;
    }
    if (timeout_ms <= 0) {
        sc_redis_errstr(errstr, errstr_size, "timeout must be positive");
        return NULL;
    }
    struct sc_redis *redis = sc_calloc(1, sizeof(*redis));
    redis->timeout_ms = timeout_ms;
    redis->backoff_ms = SC_REDIS_BACKOFF_MIN_MS;
    atomic_init(&redis->healthy, false);
    int rc;
    if (strncmp(url, "redis://", 8) == 0) {
        rc = sc_redis_parse_tcp(redis, url + 8, errstr, errstr_size);
    } else if (strncmp(url, "unix://", 7) == 0) {
        rc = sc_redis_parse_unix(redis, url + 7, errstr, errstr_size);
    } else {
        sc_redis_errstr(errstr, errstr_size, "scheme must be redis:// or unix://");
        rc = -1;
    }
    if (rc != 0) {
        sc_redis_free(redis);
        return NULL;
    }
    return redis;
}

void sc_redis_free(struct sc_redis *redis)
{
    if (!redis)
        return;
    if (redis->ctx)
        redisFree(redis->ctx);
    sc_free(redis->host);
    sc_free(redis->path);
    sc_redis_free_secret(redis->user);
    sc_redis_free_secret(redis->password);
    sc_free(redis->scripts);
    sc_free(redis);
}

/* ----------------------------------------------------------------------------------------
 */
/* Connection */
/* ----------------------------------------------------------------------------------------
 */

/* Forgets a broken connection: frees the context, marks unhealthy, schedules the next
 * attempt and logs the loss once. */
static void sc_redis_drop(struct sc_redis *redis, const char *why)
{
    if (redis->ctx) {
        redisFree(redis->ctx);
        redis->ctx = NULL;
    }
    atomic_store(&redis->healthy, false);
    redis->retry_at_ms = sc_redis_now_ms() + redis->backoff_ms;
    redis->backoff_ms *= 2;
    if (redis->backoff_ms > SC_REDIS_BACKOFF_MAX_MS)
        redis->backoff_ms = SC_REDIS_BACKOFF_MAX_MS;
    if (!redis->down_logged) {
        redis->down_logged = true;
        sc_log(SC_LOG_WARNING, "REDIS", "%s %s: %s (retrying with backoff)",
               redis->ever_connected ? "connection lost to" : "cannot connect to",
               redis->endpoint, why);
    }
}

/* Drops the connection using the context's own error text. */
static void sc_redis_drop_ctx(struct sc_redis *redis)
{
    char why[160];
    snprintf(why, sizeof(why), "%s",
             redis->ctx && redis->ctx->err ? redis->ctx->errstr : "connection error");
    sc_redis_drop(redis, why);
}

static struct timeval sc_redis_tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* Runs a setup command on a fresh connection and checks the reply is a status "OK".
 * @returns 0, or -1 with why filled (never containing arguments). */
static int sc_redis_setup_cmd(struct sc_redis *redis, int argc, const char **argv,
                              char *why, size_t why_size)
{
    redisReply *reply = redisCommandArgv(redis->ctx, argc, argv, NULL);
    if (!reply) {
        snprintf(why, why_size, "%s: %s", argv[0], redis->ctx->errstr);
        return -1;
    }
    int rc = 0;
    if (reply->type == REDIS_REPLY_ERROR) {
        /* Server error texts (WRONGPASS, ERR invalid DB index) carry no secrets. */
        snprintf(why, why_size, "%s refused: %.100s", argv[0], reply->str);
        rc = -1;
    } else if (reply->type != REDIS_REPLY_STATUS) {
        snprintf(why, why_size, "%s: unexpected reply type %d", argv[0], reply->type);
        rc = -1;
    }
    freeReplyObject(reply);
    return rc;
}

/* SCRIPT LOAD on the current connection, verifying the returned SHA.
 * @returns 0, -1 on a connection error (ctx->err set) or -2 on a refused/odd reply. */
static int sc_redis_load_script(struct sc_redis *redis,
                                const struct sc_redis_script *script, char *why,
                                size_t why_size)
{
    const char *argv[3] = {"SCRIPT", "LOAD", script->source};
    redisReply *reply = redisCommandArgv(redis->ctx, 3, argv, NULL);
    if (!reply) {
        snprintf(why, why_size, "SCRIPT LOAD: %s", redis->ctx->errstr);
        return -1;
    }
    int rc = 0;
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(why, why_size, "SCRIPT LOAD of %.12s refused: %.100s", script->sha,
                 reply->str);
        rc = -2;
    } else if (reply->type != REDIS_REPLY_STRING ||
               strcmp(reply->str, script->sha) != 0) {
        snprintf(why, why_size, "SCRIPT LOAD of %.12s returned another SHA", script->sha);
        rc = -2;
    }
    freeReplyObject(reply);
    return rc;
}

/* Marks the connection usable: resets backoff and logs a restoration once. */
static void sc_redis_mark_up(struct sc_redis *redis)
{
    redis->backoff_ms = SC_REDIS_BACKOFF_MIN_MS;
    redis->retry_at_ms = 0;
    if (redis->down_logged)
        sc_log(SC_LOG_NOTICE, "REDIS", "connection to %s restored", redis->endpoint);
    else if (!redis->ever_connected)
        sc_log(SC_LOG_INFO, "REDIS", "connected to %s", redis->endpoint);
    redis->down_logged = false;
    redis->ever_connected = true;
    atomic_store(&redis->healthy, true);
}

int sc_redis_connect(struct sc_redis *redis)
{
    if (redis->ctx)
        return 0;
    if (redis->retry_at_ms && sc_redis_now_ms() < redis->retry_at_ms)
        return SC_EAGAIN;

    struct timeval tv = sc_redis_tv(redis->timeout_ms);
    if (redis->path)
        redis->ctx = redisConnectUnixWithTimeout(redis->path, tv);
    else
        redis->ctx = redisConnectWithTimeout(redis->host, redis->port, tv);
    if (!redis->ctx) {
        sc_redis_drop(redis, "cannot allocate context");
        return SC_EIO;
    }
    if (redis->ctx->err) {
        sc_redis_drop_ctx(redis);
        return SC_EIO;
    }
    if (redisSetTimeout(redis->ctx, tv) != REDIS_OK) {
        sc_redis_drop_ctx(redis);
        return SC_EIO;
    }
    if (!redis->path)
        (void)redisEnableKeepAlive(redis->ctx);

    char why[256];
    if (redis->password) {
        const char *argv[3] = {"AUTH", NULL, NULL};
        int argc;
        if (redis->user) {
            argv[1] = redis->user;
            argv[2] = redis->password;
            argc = 3;
        } else {
            argv[1] = redis->password;
            argc = 2;
        }
        if (sc_redis_setup_cmd(redis, argc, argv, why, sizeof(why)) != 0)
            goto fail;
    }
    if (redis->db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", redis->db);
        const char *argv[2] = {"SELECT", db};
        if (sc_redis_setup_cmd(redis, 2, argv, why, sizeof(why)) != 0)
            goto fail;
    }
    for (size_t i = 0; i < redis->n_scripts; i++) {
        /* A refused script (a bug in its source) must not keep the whole connection down:
         * it is logged, and its EVALSHA calls get the server's error reply. */
        int rc = sc_redis_load_script(redis, redis->scripts[i], why, sizeof(why));
        if (rc == -1)
            goto fail;
        if (rc == -2)
            sc_log(SC_LOG_ERR, "REDIS", "%s", why);
    }
    if (!redis->password && redis->db == 0 && redis->n_scripts == 0) {
        /* Nothing above talked to the server: a TCP connect alone (accepted by the kernel
         * while the server is busy) does not prove it answers. */
        const char *argv[1] = {"PING"};
        redisReply *reply = redisCommandArgv(redis->ctx, 1, argv, NULL);
        if (!reply) {
            snprintf(why, sizeof(why), "PING: %s", redis->ctx->errstr);
            goto fail;
        }
        freeReplyObject(
            reply); /* any answer, even an error (e.g. NOAUTH), is an answer */
    }
    sc_redis_mark_up(redis);
    return 0;

fail:
    sc_redis_drop(redis, why);
    return SC_EIO;
}

bool sc_redis_healthy(const struct sc_redis *redis)
{
    /* The object itself is never const: the cast only satisfies atomic_load's prototype.
     */
    return atomic_load(&((struct sc_redis *)redis)->healthy);
}

/* ----------------------------------------------------------------------------------------
 */
/* Scripts */
/* ----------------------------------------------------------------------------------------
 */

/* Fills script->sha from its source when not done yet. */
static void sc_redis_script_hash(struct sc_redis_script *script)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!EVP_Digest(script->source, strlen(script->source), md, &md_len, EVP_sha1(),
                    NULL) ||
        md_len != 20) {
        sc_log(SC_LOG_CRIT, "REDIS", "SHA1 unavailable from OpenSSL");
        abort();
    }
    char hex[41];
    static const char digits[] = "0123456789abcdef";
    for (unsigned int i = 0; i < md_len; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[40] = '\0';
    /* Write only when different, so handles in several threads registering one script
     * after the first registration only read it. */
    if (memcmp(script->sha, hex, sizeof(hex)) != 0)
        memcpy(script->sha, hex, sizeof(hex));
}

void sc_redis_script_register(struct sc_redis *redis, struct sc_redis_script *script)
{
    sc_redis_script_hash(script);
    for (size_t i = 0; i < redis->n_scripts; i++)
        if (redis->scripts[i] == script)
            return;
    if (redis->n_scripts == redis->cap_scripts) {
        redis->cap_scripts = redis->cap_scripts ? 2 * redis->cap_scripts : 8;
        redis->scripts =
            sc_realloc(redis->scripts, redis->cap_scripts * sizeof(*redis->scripts));
    }
    redis->scripts[redis->n_scripts++] = script;
    /* Already connected: load it now (a failure here is handled by the NOSCRIPT retry).
     */
    if (redis->ctx) {
        char why[256];
        int rc = sc_redis_load_script(redis, script, why, sizeof(why));
        if (rc == -1)
            sc_redis_drop(redis, why);
        else if (rc == -2)
            sc_log(SC_LOG_ERR, "REDIS", "%s", why);
    }
}

/* Loads one script on demand (after NOSCRIPT). @returns 0, or -1 after dropping the
 * connection, or -2 when the server refused it (connection kept). */
static int sc_redis_reload(struct sc_redis *redis, const struct sc_redis_script *script)
{
    char why[256];
    int rc = sc_redis_load_script(redis, script, why, sizeof(why));
    if (rc == -1)
        sc_redis_drop(redis, why);
    else if (rc == -2)
        sc_log(SC_LOG_ERR, "REDIS", "%s", why);
    return rc;
}

static bool sc_redis_is_noscript(const redisReply *reply)
{
    return reply && reply->type == REDIS_REPLY_ERROR && reply->str &&
           strncmp(reply->str, "NOSCRIPT", 8) == 0;
}

/* ----------------------------------------------------------------------------------------
 */
/* Commands */
/* ----------------------------------------------------------------------------------------
 */

redisReply *sc_redis_command(struct sc_redis *redis, int argc, const char **argv,
                             const size_t *argv_len)
{
    if (sc_redis_connect(redis) != 0)
        return NULL;
    redisReply *reply = redisCommandArgv(redis->ctx, argc, argv, argv_len);
    if (!reply) {
        sc_redis_drop_ctx(redis);
        return NULL;
    }
    atomic_store(&redis->healthy, true);
    return reply;
}

redisReply *sc_redis_commandf(struct sc_redis *redis, const char *fmt, ...)
{
    if (sc_redis_connect(redis) != 0)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(redis->ctx, fmt, ap);
    va_end(ap);
    if (!reply) {
        sc_redis_drop_ctx(redis);
        return NULL;
    }
    atomic_store(&redis->healthy, true);
    return reply;
}

redisReply *sc_redis_eval(struct sc_redis *redis, struct sc_redis_script *script,
                          int n_keys, int argc, const char **argv, const size_t *argv_len)
{
    if (!script->sha[0])
        sc_redis_script_hash(script);
    const char *stack_argv[SC_REDIS_ARGV_STACK];
    size_t stack_len[SC_REDIS_ARGV_STACK];
    size_t total = (size_t)argc + 3;
    const char **full_argv = stack_argv;
    size_t *full_len = stack_len;
    if (total > SC_REDIS_ARGV_STACK) {
        full_argv = sc_malloc(total * sizeof(*full_argv));
        full_len = sc_malloc(total * sizeof(*full_len));
    }
    char nkeys[16];
    snprintf(nkeys, sizeof(nkeys), "%d", n_keys);
    full_argv[0] = "EVALSHA";
    full_argv[1] = script->sha;
    full_argv[2] = nkeys;
    for (int i = 0; i < 3; i++)
        full_len[i] = strlen(full_argv[i]);
    for (int i = 0; i < argc; i++) {
        full_argv[i + 3] = argv[i];
        full_len[i + 3] = argv_len ? argv_len[i] : strlen(argv[i]);
    }

    redisReply *reply = sc_redis_command(redis, (int)total, full_argv, full_len);
    if (sc_redis_is_noscript(reply)) {
        freeReplyObject(reply);
        reply = NULL;
        if (sc_redis_reload(redis, script) != -1)
            reply = sc_redis_command(redis, (int)total, full_argv, full_len);
    }
    if (full_argv != stack_argv) {
        sc_free(full_argv);
        sc_free(full_len);
    }
    return reply;
}

/* ----------------------------------------------------------------------------------------
 */
/* Batches */
/* ----------------------------------------------------------------------------------------
 */

struct sc_redis_batch_cmd {
    size_t first_arg; /* index into arg_off/arg_len */
    int argc;
    struct sc_redis_script *script; /* set for EVALSHA commands */
};

struct sc_redis_batch {
    char *data; /* argument bytes, each followed by a NUL */
    size_t data_len, data_cap;
    size_t *arg_off;
    size_t *arg_len;
    size_t n_args, cap_args;
    struct sc_redis_batch_cmd *cmds;
    size_t n_cmds, cap_cmds;
    redisReply **replies; /* cap_cmds entries; n_replies valid after a successful run */
    size_t n_replies;
    const char *
        *argv_scratch; /* pointers rebuilt at run time (data may move while adding) */
    size_t *len_scratch;
    size_t cap_scratch;
};

struct sc_redis_batch *sc_redis_batch_new(void)
{
    return sc_calloc(1, sizeof(struct sc_redis_batch));
}

static void sc_redis_batch_free_replies(struct sc_redis_batch *batch)
{
    for (size_t i = 0; i < batch->n_replies; i++) {
        if (batch->replies[i])
            freeReplyObject(batch->replies[i]);
        batch->replies[i] = NULL;
    }
    batch->n_replies = 0;
}

void sc_redis_batch_free(struct sc_redis_batch *batch)
{
    if (!batch)
        return;
    sc_redis_batch_free_replies(batch);
    sc_free(batch->data);
    sc_free(batch->arg_off);
    sc_free(batch->arg_len);
    sc_free(batch->cmds);
    sc_free(batch->replies);
    sc_free(batch->argv_scratch);
    sc_free(batch->len_scratch);
    sc_free(batch);
}

void sc_redis_batch_reset(struct sc_redis_batch *batch)
{
    sc_redis_batch_free_replies(batch);
    batch->data_len = 0;
    batch->n_args = 0;
    batch->n_cmds = 0;
}

static void sc_redis_batch_push_arg(struct sc_redis_batch *batch, const char *arg,
                                    size_t len)
{
    if (batch->n_args == batch->cap_args) {
        batch->cap_args = batch->cap_args ? 2 * batch->cap_args : 64;
        batch->arg_off = sc_realloc(batch->arg_off, batch->cap_args * sizeof(size_t));
        batch->arg_len = sc_realloc(batch->arg_len, batch->cap_args * sizeof(size_t));
    }
    if (batch->data_cap - batch->data_len < len + 1) {
        size_t cap = batch->data_cap ? batch->data_cap : 1024;
        while (cap - batch->data_len < len + 1)
            cap *= 2;
        batch->data = sc_realloc(batch->data, cap);
        batch->data_cap = cap;
    }
    if (len)
        memcpy(batch->data + batch->data_len, arg, len);
    batch->data[batch->data_len + len] = '\0';
    batch->arg_off[batch->n_args] = batch->data_len;
    batch->arg_len[batch->n_args] = len;
    batch->n_args++;
    batch->data_len += len + 1;
}

static void sc_redis_batch_push_cmd(struct sc_redis_batch *batch, size_t first_arg,
                                    int argc, struct sc_redis_script *script)
{
    if (batch->n_cmds == batch->cap_cmds) {
        size_t old = batch->cap_cmds;
        batch->cap_cmds = old ? 2 * old : 32;
        batch->cmds = sc_realloc(batch->cmds, batch->cap_cmds * sizeof(*batch->cmds));
        batch->replies =
            sc_realloc(batch->replies, batch->cap_cmds * sizeof(redisReply *));
        memset(batch->replies + old, 0, (batch->cap_cmds - old) * sizeof(redisReply *));
    }
    batch->cmds[batch->n_cmds].first_arg = first_arg;
    batch->cmds[batch->n_cmds].argc = argc;
    batch->cmds[batch->n_cmds].script = script;
    batch->n_cmds++;
}

void sc_redis_batch_add(struct sc_redis_batch *batch, int argc, const char **argv,
                        const size_t *argv_len)
{
    size_t first = batch->n_args;
    for (int i = 0; i < argc; i++)
        sc_redis_batch_push_arg(batch, argv[i], argv_len ? argv_len[i] : strlen(argv[i]));
    sc_redis_batch_push_cmd(batch, first, argc, NULL);
}

void sc_redis_batch_add_eval(struct sc_redis_batch *batch, struct sc_redis_script *script,
                             int n_keys, int argc, const char **argv,
                             const size_t *argv_len)
{
    if (!script->sha[0])
        sc_redis_script_hash(script);
    size_t first = batch->n_args;
    char nkeys[16];
    int n = snprintf(nkeys, sizeof(nkeys), "%d", n_keys);
    sc_redis_batch_push_arg(batch, "EVALSHA", 7);
    sc_redis_batch_push_arg(batch, script->sha, 40);
    sc_redis_batch_push_arg(batch, nkeys, (size_t)n);
    for (int i = 0; i < argc; i++)
        sc_redis_batch_push_arg(batch, argv[i], argv_len ? argv_len[i] : strlen(argv[i]));
    sc_redis_batch_push_cmd(batch, first, argc + 3, script);
}

size_t sc_redis_batch_count(const struct sc_redis_batch *batch)
{
    return batch->n_cmds;
}

redisReply *sc_redis_batch_reply(const struct sc_redis_batch *batch, size_t i)
{
    if (i >= batch->n_replies)
        return NULL;
    return batch->replies[i];
}

/* Points the scratch argv/len arrays at the arena (which may have moved while adding). */
static void sc_redis_batch_prepare(struct sc_redis_batch *batch)
{
    if (batch->cap_scratch < batch->n_args) {
        batch->cap_scratch = batch->cap_args;
        batch->argv_scratch =
            sc_realloc(batch->argv_scratch, batch->cap_scratch * sizeof(const char *));
        batch->len_scratch =
            sc_realloc(batch->len_scratch, batch->cap_scratch * sizeof(size_t));
    }
    for (size_t i = 0; i < batch->n_args; i++) {
        batch->argv_scratch[i] = batch->data + batch->arg_off[i];
        batch->len_scratch[i] = batch->arg_len[i];
    }
}

/* Appends command c to the connection's output buffer. @returns 0 or -1. */
static int sc_redis_batch_append(struct sc_redis *redis,
                                 const struct sc_redis_batch *batch, size_t c)
{
    const struct sc_redis_batch_cmd *cmd = &batch->cmds[c];
    return redisAppendCommandArgv(redis->ctx, cmd->argc,
                                  batch->argv_scratch + cmd->first_arg,
                                  batch->len_scratch + cmd->first_arg) == REDIS_OK
               ? 0
               : -1;
}

/* Re-runs, in order, the EVALSHA commands that got NOSCRIPT, after loading their scripts.
 * @returns 0 or -1 (connection dropped). */
static int sc_redis_batch_retry_noscript(struct sc_redis *redis,
                                         struct sc_redis_batch *batch)
{
    size_t n_retry = 0;
    for (size_t c = 0; c < batch->n_cmds; c++) {
        if (!batch->cmds[c].script || !sc_redis_is_noscript(batch->replies[c]))
            continue;
        n_retry++;
        /* Load each script once: only when no earlier retried command used it. */
        bool loaded = false;
        for (size_t p = 0; p < c && !loaded; p++)
            loaded = batch->cmds[p].script == batch->cmds[c].script &&
                     sc_redis_is_noscript(batch->replies[p]);
        if (!loaded && sc_redis_reload(redis, batch->cmds[c].script) == -1)
            return -1;
    }
    if (n_retry == 0)
        return 0;
    for (size_t c = 0; c < batch->n_cmds; c++) {
        if (batch->cmds[c].script && sc_redis_is_noscript(batch->replies[c]) &&
            sc_redis_batch_append(redis, batch, c) != 0) {
            sc_redis_drop_ctx(redis);
            return -1;
        }
    }
    for (size_t c = 0; c < batch->n_cmds; c++) {
        if (!batch->cmds[c].script || !sc_redis_is_noscript(batch->replies[c]))
            continue;
        void *reply = NULL;
        if (redisGetReply(redis->ctx, &reply) != REDIS_OK || !reply) {
            sc_redis_drop_ctx(redis);
            return -1;
        }
        freeReplyObject(batch->replies[c]);
        batch->replies[c] = reply;
    }
    return 0;
}

int sc_redis_batch_run(struct sc_redis *redis, struct sc_redis_batch *batch)
{
    sc_redis_batch_free_replies(batch);
    if (batch->n_cmds == 0)
        return 0;
    int rc = sc_redis_connect(redis);
    if (rc != 0)
        return rc;
    sc_redis_batch_prepare(batch);
    for (size_t c = 0; c < batch->n_cmds; c++) {
        if (sc_redis_batch_append(redis, batch, c) != 0) {
            sc_redis_drop_ctx(redis);
            return SC_EIO;
        }
    }
    /* n_replies counts replies read so far, so a failure frees exactly those. */
    for (size_t c = 0; c < batch->n_cmds; c++) {
        void *reply = NULL;
        if (redisGetReply(redis->ctx, &reply) != REDIS_OK || !reply) {
            sc_redis_drop_ctx(redis);
            sc_redis_batch_free_replies(batch);
            return SC_EIO;
        }
        batch->replies[c] = reply;
        batch->n_replies = c + 1;
    }
    if (sc_redis_batch_retry_noscript(redis, batch) != 0) {
        sc_redis_batch_free_replies(batch);
        return SC_EIO;
    }
    atomic_store(&redis->healthy, true);
    return 0;
}
