/* The dev broker's control socket (see control.h): a thread polls a listening Unix-domain
 * socket and up to DEVBROKER_CONTROL_CLIENTS connections, splits their input into lines,
 * runs each line with devbroker_control_exec() and writes the answer line back. Command
 * parsing is a small table of verbs; Kafka API and error names are resolved with
 * librdkafka's own error table (rd_kafka_get_err_descs) and a fixed ApiKey table. */
#include "control.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"

#define DEVBROKER_CONTROL_CLIENTS 8
#define DEVBROKER_CONTROL_LINE    4096
#define DEVBROKER_CONTROL_ARGS    64
#define DEVBROKER_CONTROL_MAX_REP 100000 /* "ERR*N": at most this many errors at once */

struct control_client {
    int fd;
    size_t len;
    char buf[DEVBROKER_CONTROL_LINE];
    bool overflow; /* the current line is too long: answer an error at its end */
};

struct devbroker_control {
    rd_kafka_mock_cluster_t *mc;
    char *path;
    int listen_fd;
    pthread_t thread;
    atomic_int stop;
    struct control_client clients[DEVBROKER_CONTROL_CLIENTS];
};

/* Kafka protocol request types (ApiKey) by name. */
static const struct {
    const char *name;
    int16_t key;
} control_apis[] = {
    {"Produce", 0},          {"Fetch", 1},
    {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},
    {"SyncGroup", 14},       {"ApiVersions", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

void devbroker_control_help(FILE *out)
{
    fprintf(
        out,
        "Control commands (one per line; each answers one line, \"ok[ detail]\" or\n"
        "\"error <message>\"):\n"
        "  ping                            answers ok\n"
        "  down B | up B                   take broker B down (connections dropped and\n"
        "                                  refused) / bring it back\n"
        "  rtt B MS                        delay every response of broker B by MS ms\n"
        "  leader TOPIC P B                make broker B the leader of partition P (-1 "
        "=\n"
        "                                  no leader: clients wait and retry)\n"
        "  errors B API ERR[*N][:MS] ...   push errors onto broker B's stack for "
        "request\n"
        "                                  type API: the next matching requests fail "
        "with\n"
        "                                  them in order (N times each, the response\n"
        "                                  delayed MS ms)\n"
        "  cluster-errors API ERR[*N] ...  the same on the cluster-wide stack (any "
        "broker)\n"
        "  pending B API                   answers \"ok <n>\": errors still on broker "
        "B's\n"
        "                                  stack for API (0 = all were returned)\n"
        "  clear API                       empty the cluster-wide stack for API\n"
        "  topic-error TOPIC ERR           every request on TOPIC fails with ERR\n"
        "                                  (NO_ERROR clears it)\n"
        "  help                            this list, one line\n"
        "API: Produce, Fetch, ListOffsets, Metadata, OffsetCommit, OffsetFetch,\n"
        "FindCoordinator, JoinGroup, Heartbeat, LeaveGroup, SyncGroup, ApiVersions,\n"
        "InitProducerId, ... or the numeric ApiKey. ERR: a librdkafka error name "
        "without\n"
        "the RD_KAFKA_RESP_ERR_ prefix (NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT,\n"
        "REBALANCE_IN_PROGRESS, _TRANSPORT to drop the connection, ...) or its "
        "number.\n");
}

/* Parses a decimal long in [min, max]. */
static bool control_long(const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool control_api(const char *name, int16_t *key)
{
    for (size_t i = 0; i < sizeof(control_apis) / sizeof(control_apis[0]); i++) {
        if (strcasecmp(name, control_apis[i].name) == 0 ||
            (strlen(name) > 7 &&
             strncasecmp(name, control_apis[i].name, strlen(control_apis[i].name)) == 0 &&
             strcasecmp(name + strlen(control_apis[i].name), "Request") == 0)) {
            *key = control_apis[i].key;
            return true;
        }
    }
    long v;
    if (!control_long(name, 0, 100, &v))
        return false;
    *key = (int16_t)v;
    return true;
}

/* An error by name (with or without RD_KAFKA_RESP_ERR_) or number. */
static bool control_err(const char *name, rd_kafka_resp_err_t *err)
{
    if (strncmp(name, "RD_KAFKA_RESP_ERR_", 18) == 0)
        name += 18;
    if (strcasecmp(name, "NOT_LEADER_OR_FOLLOWER") == 0)
        name = "NOT_LEADER_FOR_PARTITION";
    long v;
    if (control_long(name, -200, 200, &v)) {
        *err = (rd_kafka_resp_err_t)v;
        return true;
    }
    const struct rd_kafka_err_desc *descs;
    size_t n;
    rd_kafka_get_err_descs(&descs, &n);
    for (size_t i = 0; i < n; i++) {
        if (descs[i].name && strcasecmp(descs[i].name, name) == 0) {
            *err = descs[i].code;
            return true;
        }
    }
    return false;
}

/* "ERR[*N][:MS]" -> error, repetitions, delay. */
static bool control_err_spec(const char *spec, rd_kafka_resp_err_t *err, long *count,
                             long *rtt_ms, bool allow_rtt)
{
    char name[128];
    size_t len = strcspn(spec, "*:");
    if (len == 0 || len >= sizeof(name))
        return false;
    memcpy(name, spec, len);
    name[len] = '\0';
    *count = 1;
    *rtt_ms = 0;
    const char *p = spec + len;
    if (*p == '*') {
        char num[32];
        size_t nl = strcspn(p + 1, ":");
        if (nl == 0 || nl >= sizeof(num))
            return false;
        memcpy(num, p + 1, nl);
        num[nl] = '\0';
        if (!control_long(num, 1, DEVBROKER_CONTROL_MAX_REP, count))
            return false;
        p += 1 + nl;
    }
    if (*p == ':') {
        if (!allow_rtt || !control_long(p + 1, 0, 600000, rtt_ms))
            return false;
    } else if (*p) {
        return false;
    }
    return control_err(name, err);
}

/* Splits line into whitespace-separated words (in place). */
static int control_split(char *line, char **argv, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(line, " \t\r", &save); w && n < max;
         w = strtok_r(NULL, " \t\r", &save))
        argv[n++] = w;
    return n;
}

#define CONTROL_FAIL(...)                                                                \
    do {                                                                                 \
        snprintf(out, outlen, "error " __VA_ARGS__);                                     \
        return -1;                                                                       \
    } while (0)

static int control_mock_rc(rd_kafka_resp_err_t err, char *out, size_t outlen)
{
    if (err) {
        snprintf(out, outlen, "error %s", rd_kafka_err2str(err));
        return -1;
    }
    snprintf(out, outlen, "ok");
    return 0;
}

int devbroker_control_exec(rd_kafka_mock_cluster_t *mc, const char *text, char *out,
                           size_t outlen)
{
    char line[DEVBROKER_CONTROL_LINE];
    snprintf(line, sizeof(line), "%s", text);
    char *argv[DEVBROKER_CONTROL_ARGS];
    int argc = control_split(line, argv, DEVBROKER_CONTROL_ARGS);
    if (argc == 0)
        CONTROL_FAIL("empty command (try help)");
    const char *verb = argv[0];
    long broker = 0, v = 0;

    if (!strcmp(verb, "ping")) {
        snprintf(out, outlen, "ok pong");
        return 0;
    }
    if (!strcmp(verb, "help")) {
        snprintf(out, outlen,
                 "ok commands: ping, down B, up B, rtt B MS, leader TOPIC P B, errors B "
                 "API ERR[*N][:MS]..., cluster-errors API ERR[*N]..., pending B API, "
                 "clear API, topic-error TOPIC ERR (see --help)");
        return 0;
    }
    if (!strcmp(verb, "down") || !strcmp(verb, "up")) {
        if (argc != 2 || !control_long(argv[1], 1, 1000, &broker))
            CONTROL_FAIL("usage: %s BROKER", verb);
        return control_mock_rc(!strcmp(verb, "down")
                                   ? rd_kafka_mock_broker_set_down(mc, (int32_t)broker)
                                   : rd_kafka_mock_broker_set_up(mc, (int32_t)broker),
                               out, outlen);
    }
    if (!strcmp(verb, "rtt")) {
        if (argc != 3 || !control_long(argv[1], 1, 1000, &broker) ||
            !control_long(argv[2], 0, 600000, &v))
            CONTROL_FAIL("usage: rtt BROKER MS");
        return control_mock_rc(rd_kafka_mock_broker_set_rtt(mc, (int32_t)broker, (int)v),
                               out, outlen);
    }
    if (!strcmp(verb, "leader")) {
        long partition;
        if (argc != 4 || !control_long(argv[2], 0, 100000, &partition) ||
            !control_long(argv[3], -1, 1000, &broker))
            CONTROL_FAIL("usage: leader TOPIC PARTITION BROKER|-1");
        return control_mock_rc(rd_kafka_mock_partition_set_leader(
                                   mc, argv[1], (int32_t)partition, (int32_t)broker),
                               out, outlen);
    }
    if (!strcmp(verb, "errors") || !strcmp(verb, "cluster-errors")) {
        bool per_broker = !strcmp(verb, "errors");
        int first = per_broker ? 3 : 2;
        int16_t api;
        if (argc <= first || (per_broker && !control_long(argv[1], 1, 1000, &broker)) ||
            !control_api(argv[first - 1], &api))
            CONTROL_FAIL("usage: %s", per_broker ? "errors BROKER API ERR[*N][:MS]..."
                                                 : "cluster-errors API ERR[*N]...");
        /* validate everything before pushing anything */
        long total = 0;
        for (int i = first; i < argc; i++) {
            rd_kafka_resp_err_t err;
            long count, rtt;
            if (!control_err_spec(argv[i], &err, &count, &rtt, per_broker))
                CONTROL_FAIL("bad error %s (NAME[*N]%s)", argv[i],
                             per_broker ? "[:MS]" : "");
            total += count;
        }
        if (total > DEVBROKER_CONTROL_MAX_REP)
            CONTROL_FAIL("too many errors at once (%ld)", total);
        for (int i = first; i < argc; i++) {
            rd_kafka_resp_err_t err;
            long count, rtt;
            control_err_spec(argv[i], &err, &count, &rtt, per_broker);
            if (per_broker) {
                /* one at a time: the stack keeps them in push order */
                for (long k = 0; k < count; k++) {
                    rd_kafka_resp_err_t rc = rd_kafka_mock_broker_push_request_error_rtts(
                        mc, (int32_t)broker, api, 1, err, (int)rtt);
                    if (rc)
                        return control_mock_rc(rc, out, outlen);
                }
            } else {
                rd_kafka_resp_err_t *errs = sc_malloc((size_t)count * sizeof(*errs));
                for (long k = 0; k < count; k++)
                    errs[k] = err;
                rd_kafka_mock_push_request_errors_array(mc, api, (size_t)count, errs);
                sc_free(errs);
            }
        }
        snprintf(out, outlen, "ok %ld", total);
        return 0;
    }
    if (!strcmp(verb, "pending")) {
        int16_t api;
        if (argc != 3 || !control_long(argv[1], 1, 1000, &broker) ||
            !control_api(argv[2], &api))
            CONTROL_FAIL("usage: pending BROKER API");
        size_t cnt = 0;
        rd_kafka_resp_err_t rc =
            rd_kafka_mock_broker_error_stack_cnt(mc, (int32_t)broker, api, &cnt);
        if (rc)
            return control_mock_rc(rc, out, outlen);
        snprintf(out, outlen, "ok %zu", cnt);
        return 0;
    }
    if (!strcmp(verb, "clear")) {
        int16_t api;
        if (argc != 2 || !control_api(argv[1], &api))
            CONTROL_FAIL("usage: clear API");
        rd_kafka_mock_clear_request_errors(mc, api);
        snprintf(out, outlen, "ok");
        return 0;
    }
    if (!strcmp(verb, "topic-error")) {
        rd_kafka_resp_err_t err;
        if (argc != 3 || !control_err(argv[2], &err))
            CONTROL_FAIL("usage: topic-error TOPIC ERR");
        rd_kafka_mock_topic_set_error(mc, argv[1], err);
        snprintf(out, outlen, "ok");
        return 0;
    }
    CONTROL_FAIL("unknown command %.64s (try help)", verb);
}

static void control_close_client(struct control_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
    c->overflow = false;
}

/* Writes the whole answer and a newline; a client that went away is closed. */
static void control_reply(struct control_client *c, const char *answer)
{
    char buf[DEVBROKER_CONTROL_LINE + 2];
    int n = snprintf(buf, sizeof(buf), "%s\n", answer);
    size_t len = n < 0 ? 0 : (size_t)n >= sizeof(buf) ? sizeof(buf) - 1 : (size_t)n;
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            control_close_client(c);
            return;
        }
        off += (size_t)w;
    }
}

/* Reads what is available and runs each complete line. */
static void control_read(struct devbroker_control *ctl, struct control_client *c)
{
    char chunk[1024];
    ssize_t n = recv(c->fd, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR)
        return;
    if (n <= 0) {
        control_close_client(c);
        return;
    }
    for (ssize_t i = 0; i < n && c->fd >= 0; i++) {
        char ch = chunk[i];
        if (ch != '\n') {
            if (c->len + 1 < sizeof(c->buf))
                c->buf[c->len++] = ch;
            else
                c->overflow = true;
            continue;
        }
        c->buf[c->len] = '\0';
        char answer[DEVBROKER_CONTROL_LINE];
        int rc;
        if (c->overflow) {
            snprintf(answer, sizeof(answer), "error line too long");
            rc = -1;
        } else {
            rc = devbroker_control_exec(ctl->mc, c->buf, answer, sizeof(answer));
        }
        /* "pending" is polled: keep it out of the notice log */
        int level = rc                               ? SC_LOG_WARNING
                    : !strncmp(c->buf, "pending", 7) ? SC_LOG_DEBUG
                                                     : SC_LOG_NOTICE;
        sc_log(level, "CONTROL", "%.200s -> %.200s", c->overflow ? "(too long)" : c->buf,
               answer);
        c->len = 0;
        c->overflow = false;
        control_reply(c, answer);
    }
}

static void *control_thread(void *arg)
{
    struct devbroker_control *ctl = arg;
    while (!atomic_load(&ctl->stop)) {
        struct pollfd pfd[1 + DEVBROKER_CONTROL_CLIENTS];
        int idx[1 + DEVBROKER_CONTROL_CLIENTS];
        nfds_t n = 0;
        pfd[n].fd = ctl->listen_fd;
        pfd[n].events = POLLIN;
        idx[n++] = -1;
        for (int i = 0; i < DEVBROKER_CONTROL_CLIENTS; i++) {
            if (ctl->clients[i].fd < 0)
                continue;
            pfd[n].fd = ctl->clients[i].fd;
            pfd[n].events = POLLIN;
            idx[n++] = i;
        }
        int rc = poll(pfd, n, 200);
        if (rc <= 0)
            continue;
        for (nfds_t k = 0; k < n; k++) {
            if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (idx[k] >= 0) {
                control_read(ctl, &ctl->clients[idx[k]]);
                continue;
            }
            int fd = accept(ctl->listen_fd, NULL, NULL);
            if (fd < 0)
                continue;
            int slot = -1;
            for (int i = 0; i < DEVBROKER_CONTROL_CLIENTS && slot < 0; i++)
                if (ctl->clients[i].fd < 0)
                    slot = i;
            if (slot < 0) {
                static const char busy[] = "error too many control connections\n";
                (void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
                close(fd);
                continue;
            }
            ctl->clients[slot].fd = fd;
        }
    }
    return NULL;
}

struct devbroker_control *devbroker_control_start(rd_kafka_mock_cluster_t *mc,
                                                  const char *path, char *errstr,
                                                  size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(errstr, errlen, "control socket path too long (max %zu bytes)",
                 sizeof(sa.sun_path) - 1);
        return NULL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(errstr, errlen, "socket: %s", strerror(errno));
        return NULL;
    }
    unlink(path); /* a stale socket of an earlier run */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 8) != 0) {
        snprintf(errstr, errlen, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    struct devbroker_control *ctl = sc_calloc(1, sizeof(*ctl));
    ctl->mc = mc;
    ctl->path = sc_strdup(path);
    ctl->listen_fd = fd;
    atomic_init(&ctl->stop, 0);
    for (int i = 0; i < DEVBROKER_CONTROL_CLIENTS; i++)
        ctl->clients[i].fd = -1;
    int rc = pthread_create(&ctl->thread, NULL, control_thread, ctl);
    if (rc != 0) {
        snprintf(errstr, errlen, "pthread_create: %s", strerror(rc));
        close(fd);
        unlink(path);
        sc_free(ctl->path);
        sc_free(ctl);
        return NULL;
    }
    return ctl;
}

void devbroker_control_stop(struct devbroker_control *ctl)
{
    if (!ctl)
        return;
    atomic_store(&ctl->stop, 1);
    pthread_join(ctl->thread, NULL);
    for (int i = 0; i < DEVBROKER_CONTROL_CLIENTS; i++)
        control_close_client(&ctl->clients[i]);
    close(ctl->listen_fd);
    unlink(ctl->path);
    sc_free(ctl->path);
    sc_free(ctl);
}
