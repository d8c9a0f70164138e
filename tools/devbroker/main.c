/* socialcare-devbroker: a Kafka broker for development and tests, built on librdkafka's
 * in-process mock cluster (rdkafka_mock.h). It creates the pipeline's topics before
 * anyone can connect (the mock would otherwise auto-create a mistyped topic with 4
 * partitions), publishes its ephemeral bootstrap address in a file (written atomically)
 * and on stdout, and serves until SIGTERM or SIGINT. SIGUSR1 / SIGUSR2 take broker 1 down
 * / up for fault tests; a control socket (control.h: a line-based Unix-domain socket,
 * by default next to the bootstrap file) injects request errors, leader moves and
 * broker outages. Production uses Apache Kafka; docs/internals/KAFKA.md and
 * kafka-dev-broker.md list where the mock differs. Signals are taken synchronously with
 * sigtimedwait() in the main thread, which between signals turns off Nagle's algorithm
 * on the mock's connections (devbroker_nodelay_sweep). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "alloc.h"
#include "control.h"
#include "log.h"

#define DEVBROKER_DEFAULT_TOPICS                                                         \
    "posts.inbound,posts.classified,replies.outbound,replies.delivered,cases.events,"    \
    "pipeline.dlq"
#define DEVBROKER_MAX_TOPICS     64
#define DEVBROKER_SWEEP_MS       50 /* how often new connections lose Nagle */
#define DEVBROKER_MAX_PARTITIONS 256
#define DEVBROKER_MAX_BROKERS    16

struct devbroker_opts {
    int partitions;
    int brokers;
    const char *topics; /* comma-separated */
    const char *bootstrap_file;
    const char *control; /* NULL = default (<bootstrap-file>.ctl), "none" = off */
    int log_level;
};

static void devbroker_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: socialcare-devbroker [options]\n"
        "\n"
        "A Kafka broker for DEVELOPMENT AND TESTS ONLY: librdkafka's in-process mock\n"
        "cluster (librdkafka %s). Production runs Apache Kafka. The mock keeps "
        "everything\n"
        "in memory (a restart loses topics, data and offsets), keeps at most 5 MiB per\n"
        "partition (oldest data is dropped), does not de-duplicate idempotent producers "
        "nor\n"
        "honour transactions, and listens on ephemeral loopback ports.\n"
        "\n"
        "Options:\n"
        "  --partitions N       partitions per topic (default 8, 1..%d)\n"
        "  --brokers N          brokers in the cluster (default 1, 1..%d); ids are 1..N\n"
        "  --topics a,b,c       topics to create before serving (default:\n"
        "                       %s)\n"
        "  --bootstrap-file P   write the bootstrap list (one line) to P atomically; it "
        "is\n"
        "                       removed on exit\n"
        "  --control P          serve the control socket (below) at P, a Unix-domain\n"
        "                       stream socket; default <bootstrap-file>.ctl when a\n"
        "                       bootstrap file is given; \"none\" = no socket\n"
        "  --log-level L        debug, info, notice, warning, error or crit (default "
        "info)\n"
        "  --help               this text\n"
        "\n"
        "When ready it prints one line to stdout:\n"
        "  socialcare-devbroker ready bootstrap=127.0.0.1:PORT[,...]\n"
        "and logs JSON lines on stderr.\n"
        "\n"
        "Signals:\n"
        "  SIGTERM, SIGINT      stop (takes 1-3 s), remove the bootstrap file, exit 0\n"
        "  SIGUSR1              take broker 1 down (connections are dropped and "
        "refused)\n"
        "  SIGUSR2              bring broker 1 back up\n"
        "\n"
        "Clients of the mock must set session.timeout.ms=6000 and\n"
        "heartbeat.interval.ms=500 (KAFKA_SESSION_TIMEOUT_MS, "
        "KAFKA_HEARTBEAT_INTERVAL_MS),\n"
        "should set fetch.wait.max.ms=10, and every member of a group must use the same\n"
        "partition.assignment.strategy (mixing them aborts the mock).\n"
        "\n"
        "Control socket: connect (e.g. socat - UNIX-CONNECT:<path>), send commands, "
        "read\n"
        "one answer line per command. Example: \"errors 1 Produce "
        "NOT_LEADER_FOR_PARTITION*5\"\n"
        "then \"pending 1 Produce\" until it answers \"ok 0\".\n\n",
        rd_kafka_version_str(), DEVBROKER_MAX_PARTITIONS, DEVBROKER_MAX_BROKERS,
        DEVBROKER_DEFAULT_TOPICS);
    devbroker_control_help(out);
}

/* Parses a decimal int in [min, max]. @returns 0 or -1. */
static int devbroker_parse_int(const char *text, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

/* @returns 0 to run, 1 to exit 0 (--help), -1 to exit 2 (message printed). */
static int devbroker_args(int argc, char **argv, struct devbroker_opts *opts)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            devbroker_usage(stdout);
            return 1;
        }
        static const char *const with_value[] = {"--partitions", "--brokers",
                                                 "--topics",     "--bootstrap-file",
                                                 "--control",    "--log-level"};
        const char *name = NULL;
        for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) {
            size_t len = strlen(with_value[k]);
            if (!strncmp(arg, with_value[k], len) &&
                (arg[len] == '\0' || arg[len] == '=')) {
                name = with_value[k];
                value = arg[len] == '=' ? arg + len + 1 : NULL;
                break;
            }
        }
        if (!name) {
            fprintf(stderr, "socialcare-devbroker: unknown argument %s (see --help)\n",
                    arg);
            return -1;
        }
        if (!value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "socialcare-devbroker: %s needs a value\n", name);
                return -1;
            }
            value = argv[++i];
        }
        int bad = 0;
        if (!strcmp(name, "--partitions")) {
            bad = devbroker_parse_int(value, 1, DEVBROKER_MAX_PARTITIONS,
                                      &opts->partitions);
        } else if (!strcmp(name, "--brokers")) {
            bad = devbroker_parse_int(value, 1, DEVBROKER_MAX_BROKERS, &opts->brokers);
        } else if (!strcmp(name, "--topics")) {
            opts->topics = value;
        } else if (!strcmp(name, "--bootstrap-file")) {
            opts->bootstrap_file = value;
            bad = !*value;
        } else if (!strcmp(name, "--control")) {
            opts->control = value;
            bad = !*value;
        } else {
            opts->log_level = sc_log_level_parse(value);
            bad = opts->log_level < 0;
        }
        if (bad) {
            fprintf(stderr, "socialcare-devbroker: invalid value for %s: %s\n", name,
                    value);
            return -1;
        }
    }
    return 0;
}

/* Splits the topic list into names (new strings) after checking Kafka's naming rules.
 * @returns the number of topics, or -1 after a message. */
static int devbroker_split_topics(const char *list, char **names, int max)
{
    int n = 0;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            if (n == max || len > 249) {
                fprintf(stderr,
                        "socialcare-devbroker: too many topics or name too long\n");
                goto fail;
            }
            for (size_t i = 0; i < len; i++) {
                char c = p[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
                    fprintf(stderr, "socialcare-devbroker: invalid topic name %.*s\n",
                            (int)len, p);
                    goto fail;
                }
            }
            names[n++] = sc_strndup(p, len);
        }
        p += len;
        if (*p == ',')
            p++;
    }
    if (n == 0) {
        fprintf(stderr, "socialcare-devbroker: no topics\n");
        return -1;
    }
    return n;
fail:
    for (int i = 0; i < n; i++)
        sc_free(names[i]);
    return -1;
}

/* Writes "list\n" to path through a temporary file and rename(2), so readers never see a
 * partial file. @returns 0 or -1 (logged). */
static int devbroker_write_file(const char *path, const char *list)
{
    char *tmp = sc_asprintf("%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "w");
    int ok = fp != NULL;
    if (ok) {
        ok = fprintf(fp, "%s\n", list) > 0;
        ok = fflush(fp) == 0 && ok;
        ok = fsync(fileno(fp)) == 0 && ok;
        ok = fclose(fp) == 0 && ok;
    }
    if (ok && rename(tmp, path) != 0)
        ok = 0;
    if (!ok) {
        sc_log(SC_LOG_ERR, "DEVBROKER", "cannot write bootstrap file %s: %s", path,
               strerror(errno));
        unlink(tmp);
    }
    sc_free(tmp);
    return ok ? 0 : -1;
}

static void devbroker_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                             const char *buf)
{
    (void)rk;
    if (fac && !strcmp(fac, "CONFWARN"))
        return; /* our holder handle has no bootstrap.servers, by design */
    int lvl = level < SC_LOG_CRIT    ? SC_LOG_CRIT
              : level > SC_LOG_DEBUG ? SC_LOG_DEBUG
                                     : level;
    if (lvl > sc_log_level_current)
        return;
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s: %s", fac ? fac : "-", buf ? buf : "");
    sc_log_raw(lvl, "KAFKA", msg);
}

/* Sets TCP_NODELAY on every connected TCP socket of this process that lacks it. The mock
 * cluster accepts its clients' connections without it, so a small response waits for the
 * client's delayed ACK (~40 ms on Linux) whenever an earlier segment is unacknowledged:
 * every hop of the pipeline showed 40 ms stalls at a few thousand messages per second.
 * Apache Kafka's broker sets TCP_NODELAY on its connections (socket server
 * tcpNoDelay), so this makes the development broker behave like the real one. The mock
 * owns the sockets; this only flips an option on them, and an fd closed or reused
 * meanwhile just fails the call. @returns how many sockets it changed. */
static int devbroker_nodelay_sweep(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return 0;
    int changed = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        char *end;
        long fd = strtol(de->d_name, &end, 10);
        if (*end || end == de->d_name || fd == dirfd(dir))
            continue;
        struct stat st;
        if (fstat((int)fd, &st) != 0 || !S_ISSOCK(st.st_mode))
            continue;
        int on = 0, listening = 0;
        socklen_t len = sizeof(listening);
        if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
            listening)
            continue;
        len = sizeof(on);
        if (getsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) != 0 || on)
            continue; /* not TCP (the control socket), or already set */
        on = 1;
        if (setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0)
            changed++;
    }
    closedir(dir);
    return changed;
}

int main(int argc, char **argv)
{
    struct devbroker_opts opts = {.partitions = 8,
                                  .brokers = 1,
                                  .topics = DEVBROKER_DEFAULT_TOPICS,
                                  .bootstrap_file = NULL,
                                  .log_level = SC_LOG_INFO};
    int rc = devbroker_args(argc, argv, &opts);
    if (rc)
        return rc > 0 ? 0 : 2;
    sc_log_init("devbroker", opts.log_level, 2);

    char *topics[DEVBROKER_MAX_TOPICS];
    int n_topics = devbroker_split_topics(opts.topics, topics, DEVBROKER_MAX_TOPICS);
    if (n_topics < 0)
        return 2;

    /* Block the signals we wait for before librdkafka starts threads (they inherit it).
     */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    sigaddset(&sigs, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    int exit_code = 1, wrote_file = 0;
    struct devbroker_control *control = NULL;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, devbroker_log_cb);
    rd_kafka_conf_set(conf, "client.id", "socialcare-devbroker", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        sc_log(SC_LOG_CRIT, "DEVBROKER", "rd_kafka_new: %s", errstr);
        rd_kafka_conf_destroy(conf);
        goto out_topics;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, opts.brokers);
    if (!mc) {
        sc_log(SC_LOG_CRIT, "DEVBROKER", "cannot create the mock cluster");
        goto out_rk;
    }
    for (int i = 0; i < n_topics; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mc, topics[i], opts.partitions, 1);
        if (err) {
            sc_log(SC_LOG_CRIT, "DEVBROKER", "cannot create topic %s: %s", topics[i],
                   rd_kafka_err2str(err));
            goto out_mc;
        }
    }
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mc);
    /* The control socket first, so it is there when the bootstrap file appears. */
    char *control_path = NULL;
    if (opts.control && strcmp(opts.control, "none") != 0)
        control_path = sc_strdup(opts.control);
    else if (!opts.control && opts.bootstrap_file)
        control_path = sc_asprintf("%s.ctl", opts.bootstrap_file);
    if (control_path) {
        control = devbroker_control_start(mc, control_path, errstr, sizeof(errstr));
        if (!control && opts.control) {
            sc_log(SC_LOG_CRIT, "DEVBROKER", "control socket: %s", errstr);
            sc_free(control_path);
            goto out_mc;
        }
        if (!control) /* the default place did not work: serve without it */
            sc_log(SC_LOG_WARNING, "DEVBROKER", "no control socket: %s", errstr);
        else
            sc_log(SC_LOG_INFO, "DEVBROKER", "control socket at %s", control_path);
        sc_free(control_path);
    }
    if (opts.bootstrap_file) {
        if (devbroker_write_file(opts.bootstrap_file, bootstraps))
            goto out_mc;
        wrote_file = 1;
    }

    sc_log(
        SC_LOG_NOTICE, "DEVBROKER",
        "ready: %d broker(s), %d topic(s) x %d partition(s), bootstrap=%s (development "
        "broker: librdkafka %s mock cluster)",
        opts.brokers, n_topics, opts.partitions, bootstraps, rd_kafka_version_str());
    printf("socialcare-devbroker ready bootstrap=%s\n", bootstraps);
    fflush(stdout);

    const struct timespec sweep = {0, DEVBROKER_SWEEP_MS * 1000000L};
    for (;;) {
        int sig = sigtimedwait(&sigs, NULL, &sweep);
        if (sig < 0) {
            (void)devbroker_nodelay_sweep(); /* timeout (or EINTR): new connections */
            continue;
        }
        if (sig == SIGUSR1 || sig == SIGUSR2) {
            rd_kafka_resp_err_t err = sig == SIGUSR1
                                          ? rd_kafka_mock_broker_set_down(mc, 1)
                                          : rd_kafka_mock_broker_set_up(mc, 1);
            sc_log(SC_LOG_NOTICE, "DEVBROKER", "broker 1 %s%s%s",
                   sig == SIGUSR1 ? "down" : "up", err ? ": " : "",
                   err ? rd_kafka_err2str(err) : "");
            continue;
        }
        sc_log(SC_LOG_NOTICE, "DEVBROKER", "%s: stopping",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    exit_code = 0;

out_mc:
    devbroker_control_stop(control);   /* no command may reach a destroyed cluster */
    rd_kafka_mock_cluster_destroy(mc); /* before its rd_kafka_t, or it asserts */
out_rk:
    rd_kafka_destroy(rk);
    if (wrote_file && unlink(opts.bootstrap_file) != 0 && errno != ENOENT)
        sc_log(SC_LOG_WARNING, "DEVBROKER", "cannot remove %s: %s", opts.bootstrap_file,
               strerror(errno));
out_topics:
    for (int i = 0; i < n_topics; i++)
        sc_free(topics[i]);
    if (exit_code == 0)
        sc_log(SC_LOG_NOTICE, "DEVBROKER", "stopped");
    return exit_code;
}
