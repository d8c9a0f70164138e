/* socialcare-classifier-broker-bench: throughput of one classifier instance through the
 * dev broker. Starts the dev broker (4 partitions) with the e2e harness, produces a
 * backlog of N posts to posts.inbound (texts from a CSV column, cycled), then starts one
 * socialcare-classifier from SC_BIN_DIR and measures the time from its first to its last
 * post on posts.classified (watching the topic's high watermarks, so the measuring
 * process does no per-message work). Not a test (speed is never asserted): run it with
 * `make bench-classifier` (mk/classifier.mk). Environment: SC_BIN_DIR (release binaries),
 * CLASSIFIER_BENCH_CSV (default tests/data/classifier/tiny.csv), CLASSIFIER_BENCH_COUNT
 * (default 20000). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "dataset.h"
#include "harness.h"

#include <librdkafka/rdkafka.h>

struct count_arg {
    rd_kafka_t *rk; /* any client: used for watermark queries only */
    int partitions;
    size_t want;
    int64_t first_ms, last_ms;
    pid_t pid;                  /* the classifier */
    double cpu_first, cpu_last; /* its CPU seconds (all threads) at first and last */
};

/* CPU seconds (user + system, all threads) used so far by process pid, or -1. */
static double proc_cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                     &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Messages on posts.classified: the sum of the partitions' high watermarks (no
 * per-message work in the measuring process, so it does not compete with the classifier
 * for CPU). */
static size_t classified_count(struct count_arg *a)
{
    size_t n = 0;
    for (int p = 0; p < a->partitions; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(a->rk, "posts.classified", p, &lo, &hi,
                                             1000) == RD_KAFKA_RESP_ERR_NO_ERROR)
            n += (size_t)hi;
    }
    return n;
}

/* The first three fields of /proc/loadavg (static buffer). */
static const char *loadavg(void)
{
    static char buf[64];
    buf[0] = '\0';
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(buf, sizeof(buf), f))
            buf[0] = '\0';
        fclose(f);
    }
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    return buf;
}

static bool all_classified(struct e2e *e, void *opaque)
{
    (void)e;
    struct count_arg *a = opaque;
    size_t n = classified_count(a);
    if (n > 0 && a->first_ms == 0) {
        a->first_ms = e2e_now_ms();
        a->cpu_first = proc_cpu_seconds(a->pid);
    }
    if (n >= a->want) {
        a->last_ms = e2e_now_ms();
        a->cpu_last = proc_cpu_seconds(a->pid);
        return true;
    }
    return false;
}

static void bench(void **state)
{
    struct e2e *e = *state;
    const char *src = getenv("SC_SOURCE_DIR");
    const char *csv = getenv("CLASSIFIER_BENCH_CSV");
    char fallback[1024];
    snprintf(fallback, sizeof(fallback), "%s/tests/data/classifier/tiny.csv",
             src ? src : ".");
    if (!csv)
        csv = fallback;
    size_t want = getenv("CLASSIFIER_BENCH_COUNT")
                      ? (size_t)strtoull(getenv("CLASSIFIER_BENCH_COUNT"), NULL, 10)
                      : 20000;
    size_t n_texts = 0;
    char err[512];
    char **texts = dataset_texts(csv, "text", &n_texts, err, sizeof(err));
    if (!texts || n_texts == 0)
        fail_msg("%s", texts ? "no texts" : err);

    e2e_start_broker(e, NULL);
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", e2e_brokers(e), errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    for (size_t i = 0; i < want; i++) {
        char id[32], author[32];
        snprintf(id, sizeof(id), "b%zu", i);
        snprintf(author, sizeof(author), "u%zu", i % 5000);
        char *post = e2e_post_new("x", id, author, texts[i % n_texts]);
        char key[48];
        snprintf(key, sizeof(key), "x:%s", author);
        rd_kafka_resp_err_t rc;
        while ((rc = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("posts.inbound"),
                                       RD_KAFKA_V_KEY(key, strlen(key)),
                                       RD_KAFKA_V_VALUE(post, strlen(post)),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        assert_int_equal(rc, 0);
        sc_free(post);
        rd_kafka_poll(rk, 0);
    }
    assert_int_equal(rd_kafka_flush(rk, 60000), 0);

    struct count_arg a = {.rk = rk, .partitions = 4, .want = want};
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < md->topic_cnt; i++)
            if (!strcmp(md->topics[i].topic, "posts.classified"))
                a.partitions = md->topics[i].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    int64_t start = e2e_now_ms();
    struct e2e_proc *svc = e2e_start_service(e, "classifier", NULL);
    a.pid = e2e_proc_pid(svc);
    if (!e2e_wait_until(e, all_classified, &a, 600000))
        fail_msg("only %zu of %zu posts classified", classified_count(&a), want);
    rd_kafka_destroy(rk);
    double secs = (double)(a.last_ms - a.first_ms) / 1000.0;
    printf("classifier through the dev broker: %zu posts, first to last classified in "
           "%.2f s:"
           " %.0f posts/s (start to last %.2f s; texts from %s)\n",
           want, secs, secs > 0 ? (double)(want - 1) / secs : 0.0,
           (double)(a.last_ms - start) / 1000.0, csv);
    double cpu = a.cpu_last - a.cpu_first;
    if (a.cpu_first >= 0 && a.cpu_last >= 0 && cpu > 0)
        printf("classifier process CPU between first and last: %.2f s (all its threads): "
               "%.0f posts per CPU-second; load average at the end: %s\n",
               cpu, (double)(want - 1) / cpu, loadavg());
    for (size_t i = 0; i < n_texts; i++)
        sc_free(texts[i]);
    sc_free(texts);
    e2e_finish(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(bench, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
