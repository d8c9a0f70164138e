/* Unit tests for shared/metrics: counters, gauges and histograms with and without labels,
 * the text rendering (escaping, number formats, order), registration rules, reset, exact
 * counts under concurrent updates, and a check of the rendering by the real `promtool
 * check metrics` (skipped only when promtool is not installed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "metrics.h"

/* Asserts that the rendering of metrics contains the exact line (without its newline). */
static void assert_has_line(struct sc_metrics *metrics, const char *line)
{
    size_t len = 0;
    char *text = sc_metrics_render(metrics, &len);
    assert_int_equal(len, strlen(text));
    size_t n = strlen(line);
    const char *p = text;
    int found = 0;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t l = eol ? (size_t)(eol - p) : strlen(p);
        if (l == n && !memcmp(p, line, n)) {
            found = 1;
            break;
        }
        p += l + (eol ? 1 : 0);
    }
    if (!found)
        print_error("line not found: %s\nin:\n%s", line, text);
    sc_free(text);
    assert_true(found);
}

static void assert_lacks(struct sc_metrics *metrics, const char *needle)
{
    char *text = sc_metrics_render(metrics, NULL);
    int found = strstr(text, needle) != NULL;
    if (found)
        print_error("unexpected text %s in:\n%s", needle, text);
    sc_free(text);
    assert_false(found);
}

static void test_build_info(void **state)
{
    (void)state;
    struct sc_metrics *metrics = sc_metrics_new("ingestor", "1.2.3");
    assert_has_line(metrics, "# TYPE socialcare_build_info gauge");
    assert_has_line(metrics,
                    "socialcare_build_info{service=\"ingestor\",version=\"1.2.3\"} 1");
    sc_metrics_free(metrics);
    sc_metrics_free(NULL);
}

static void test_counter_without_labels(void **state)
{
    (void)state;
    struct sc_metrics *metrics = sc_metrics_new("t", "0");
    struct sc_metric *c =
        sc_metrics_counter(metrics, "socialcare_things_total", "Things seen.", NULL);
    assert_non_null(c);
    /* A label-less series exists (as 0) before the first increment. */
    assert_has_line(metrics, "socialcare_things_total 0");
    sc_metric_inc(c, NULL);
    sc_metric_inc(c, NULL);
    sc_metric_add(c, NULL, 3);
    sc_metric_add(c, NULL, -1);  /* counters never go down */
    sc_metric_add(c, NULL, NAN); /* nor become NaN */
    assert_true(sc_metric_value(c, NULL) == 5.0);
    assert_has_line(metrics, "# HELP socialcare_things_total Things seen.");
    assert_has_line(metrics, "# TYPE socialcare_things_total counter");
    assert_has_line(metrics, "socialcare_things_total 5");
    sc_metric_add(c, NULL, 0.25);
    assert_has_line(metrics, "socialcare_things_total 5.25");
    sc_metrics_free(metrics);
}

static void test_counter_with_labels(void **state)
{
    (void)state;
    struct sc_metrics *metrics = sc_metrics_new("t", "0");
    struct sc_metric *c = sc_metrics_counter(metrics, "socialcare_posts_total", "Posts.",
                                             "platform, intent");
    assert_non_null(c);
    assert_lacks(metrics, "socialcare_posts_total{"); /* no series yet */
    sc_metric_inc(c, SC_LABELS("x", "complaint"));
    sc_metric_inc(c, SC_LABELS("x", "complaint"));
    sc_metric_inc(c, SC_LABELS("x", "praise"));
    sc_metric_add(c, SC_LABELS("facebook", "complaint"), 10);
    assert_true(sc_metric_value(c, SC_LABELS("x", "complaint")) == 2.0);
    assert_true(sc_metric_value(c, SC_LABELS("x", "praise")) == 1.0);
    assert_true(sc_metric_value(c, SC_LABELS("facebook", "complaint")) == 10.0);
    assert_true(sc_metric_value(c, SC_LABELS("facebook", "praise")) == 0.0);
    assert_has_line(metrics,
                    "socialcare_posts_total{platform=\"x\",intent=\"complaint\"} 2");
    assert_has_line(metrics,
                    "socialcare_posts_total{platform=\"x\",intent=\"praise\"} 1");
    assert_has_line(
        metrics, "socialcare_posts_total{platform=\"facebook\",intent=\"complaint\"} 10");
    /* Series render in creation order. */
    char *text = sc_metrics_render(metrics, NULL);
    const char *a = strstr(text, "intent=\"complaint\"} 2");
    const char *b = strstr(text, "intent=\"praise\"} 1");
    const char *d = strstr(text, "platform=\"facebook\"");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(d);
    assert_true(a < b && b < d);
    sc_free(text);
    sc_metrics_free(metrics);
}

static void test_many_series(void **state)
{
    (void)state;
    struct sc_metrics *metrics = sc_metrics_new("t", "0");
    struct sc_metric *g = sc_metrics_gauge(metrics, "socialcare_partition_lag_messages",
                                           "Lag.", "partition");
    char key[16];
    for (int i = 0; i < 500; i++) { /* forces the hash table to grow several times */
        snprintf(key, sizeof(key), "%d", i);
        sc_metric_set(g, SC_LABELS(key), i * 2);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "%d", i);
        assert_true(sc_metric_value(g, SC_LABELS(key)) == i * 2.0);
    }
    assert_has_line(metrics, "socialcare_partition_lag_messages{partition=\"499\"} 998");
    sc_metrics_free(metrics);
}

static void test_gauge_set_add(void **state)
{
    (void)state;
    struct sc_metrics *metrics = sc_metrics_new("t", "0");
    struct sc_metric *g =
        sc_metrics_gauge(metrics, "socialcare_queue_depth_messages", "Depth.", "queue");
    sc_metric_set(g, SC_LABELS("a"), 7);
    sc_metric_add(g, SC_LABELS("a"), -2.5);
    sc_metric_add(g, SC_LABELS("b"), 3);
    sc_metric_set(g, SC_LABELS("c"), -4);
    assert_true(sc_metric_value(g, SC_LABELS("a")) == 4.5);
    assert_true(sc_metric_value(g, SC_LABELS("b")) == 3.0);
    assert_has_line(metrics, "# TYPE socialcare_queue_depth_messages gauge");
    assert_has_line(metrics, "socialcare_queue_depth_messages{queue=\"a\"} 4.5");
    assert_has_line(metrics, "socialcare_queue_depth_messages{queue=\"c\"} -4");
    /* Special and awkward values. */
    sc_metric_set(g, SC_LABELS("nan"), NAN);
    sc_metric_set(g, SC_LABELS("inf"), INFINITY);
    sc_metric_set(g, SC_LABELS("ninf"), -INFINITY);
    sc_metric_set(g, SC_LABELS("tenth"), 0.1);
    sc_metric_set(g, SC_LABELS("big"), 1e20);
    sc_metric_set(g, SC_LABELS("int"), 123456789012.0);
    sc_metric_set(g, SC_LABELS("negzero"), -0.0);
    assert_has_line(metrics, "socialcare_queue_depth_messages{queue=\"nan\"} NaN");
    assert_has_line(metrics, "socialcare_queue_depth_messages{queue=\"inf\"} +Inf");
    assert_has_line(metrics, "socialcare_queue_depth_messages{queue=\"ninf\"} -Inf");
    assert_has_line(metrics, "socialcare_queue_depth_messages{queue=\"tenth\"} 0.1");
    assert_has_line(metrics, "socialcare_queue_depth_messages{queue=\"big\"} 1e+20");
    assert_has_line(metrics,
                    "socialcare_queue_depth_messages{queue=\"int\"} 123456789012");
    assert_has_line(metrics, "socialcare_queue_depth_messages{queue=\"negzero\"} 0");
    /* A gauge without labels can be set. */
    struct sc_metric *up = sc_metrics_gauge(metrics, "socialcare_up", "Up.", NULL);
    sc_metric_set(up, NULL, 1);
    assert_has_line(metrics, "socialcare_up 1");
    sc_metrics_free(metrics);
}

static void test_histogram(void **state)
{
    (void)state;
    struct sc_metrics *metrics = sc_metrics_new("t", "0");
    static const double buckets[] = {0.005, 0.1, 1, 2.5};
    struct sc_metric *h = sc_metrics_histogram(
        metrics, "socialcare_step_duration_seconds", "Step time.", "step", buckets, 4);
    assert_non_null(h);
    sc_metric_observe(h, SC_LABELS("a"), 0.001); /* <= 0.005 */
    sc_metric_observe(h, SC_LABELS("a"), 0.005); /* le is inclusive */
    sc_metric_observe(h, SC_LABELS("a"), 0.05);  /* <= 0.1 */
    sc_metric_observe(h, SC_LABELS("a"), 2);     /* <= 2.5 */
    sc_metric_observe(h, SC_LABELS("a"), 100);   /* +Inf only */
    sc_metric_observe(h, SC_LABELS("b"), 0.5);
    assert_true(sc_metric_value(h, SC_LABELS("a")) == 5.0);
    assert_true(sc_metric_value(h, SC_LABELS("b")) == 1.0);
    /* Histograms ignore add/set; counters and gauges ignore observe. */
    sc_metric_add(h, SC_LABELS("a"), 1);
    sc_metric_set(h, SC_LABELS("a"), 1);
    assert_true(sc_metric_value(h, SC_LABELS("a")) == 5.0);

    assert_has_line(metrics, "# TYPE socialcare_step_duration_seconds histogram");
    assert_has_line(metrics,
                    "socialcare_step_duration_seconds_bucket{step=\"a\",le=\"0.005\"} 2");
    assert_has_line(metrics,
                    "socialcare_step_duration_seconds_bucket{step=\"a\",le=\"0.1\"} 3");
    assert_has_line(metrics,
                    "socialcare_step_duration_seconds_bucket{step=\"a\",le=\"1\"} 3");
    assert_has_line(metrics,
                    "socialcare_step_duration_seconds_bucket{step=\"a\",le=\"2.5\"} 4");
    assert_has_line(metrics,
                    "socialcare_step_duration_seconds_bucket{step=\"a\",le=\"+Inf\"} 5");
    assert_has_line(metrics, "socialcare_step_duration_seconds_sum{step=\"a\"} 102.056");
    assert_has_line(metrics, "socialcare_step_duration_seconds_count{step=\"a\"} 5");
    assert_has_line(metrics,
                    "socialcare_step_duration_seconds_bucket{step=\"b\",le=\"0.1\"} 0");
    assert_has_line(metrics,
                    "socialcare_step_duration_seconds_bucket{step=\"b\",le=\"1\"} 1");
    assert_has_line(metrics, "socialcare_step_duration_seconds_count{step=\"b\"} 1");

    /* Without labels, with the default latency buckets and an explicit trailing +Inf. */
    struct sc_metric *lat = sc_metrics_histogram(
        metrics, "socialcare_latency_seconds", "Latency.", NULL,
        sc_metrics_latency_buckets, sc_metrics_latency_buckets_count);
    assert_int_equal(sc_metrics_latency_buckets_count, 15);
    sc_metric_observe(lat, NULL, 0.003);
    assert_has_line(metrics, "socialcare_latency_seconds_bucket{le=\"0.001\"} 0");
    assert_has_line(metrics, "socialcare_latency_seconds_bucket{le=\"0.0025\"} 0");
    assert_has_line(metrics, "socialcare_latency_seconds_bucket{le=\"0.005\"} 1");
    assert_has_line(metrics, "socialcare_latency_seconds_bucket{le=\"60\"} 1");
    assert_has_line(metrics, "socialcare_latency_seconds_bucket{le=\"+Inf\"} 1");
    assert_has_line(metrics, "socialcare_latency_seconds_sum 0.003");
    assert_has_line(metrics, "socialcare_latency_seconds_count 1");
    static const double with_inf[] = {1, 2, INFINITY};
    struct sc_metric *h2 = sc_metrics_histogram(metrics, "socialcare_size_bytes", "Size.",
                                                NULL, with_inf, 3);
    assert_non_null(h2);
    sc_metric_observe(h2, NULL, 5);
    assert_has_line(metrics, "socialcare_size_bytes_bucket{le=\"2\"} 0");
    assert_has_line(metrics, "socialcare_size_bytes_bucket{le=\"+Inf\"} 1");
    assert_lacks(metrics, "le=\"+Inf\"} 1\nsocialcare_size_bytes_bucket{le=\"+Inf\"}");
    /* Descending buckets are refused. */
    static const double bad[] = {1, 0.5};
    assert_null(
        sc_metrics_histogram(metrics, "socialcare_bad_seconds", "Bad.", NULL, bad, 2));
    sc_metrics_free(metrics);
}

static void test_escaping(void **state)
{
    (void)state;
    struct sc_metrics *metrics = sc_metrics_new("we\"ird\\svc\n", "1");
    assert_has_line(
        metrics,
        "socialcare_build_info{service=\"we\\\"ird\\\\svc\\n\",version=\"1\"} 1");
    struct sc_metric *c =
        sc_metrics_counter(metrics, "socialcare_escapes_total",
                           "Help with \\ backslash\nand \"quotes\".", "v");
    sc_metric_inc(c, SC_LABELS("a\"b\\c\nd"));
    assert_has_line(
        metrics,
        "# HELP socialcare_escapes_total Help with \\\\ backslash\\nand \"quotes\".");
    assert_has_line(metrics, "socialcare_escapes_total{v=\"a\\\"b\\\\c\\nd\"} 1");
    assert_true(sc_metric_value(c, SC_LABELS("a\"b\\c\nd")) == 1.0);
    /* A NULL label value is the empty string. */
    sc_metric_inc(c, SC_LABELS(NULL));
    assert_true(sc_metric_value(c, SC_LABELS("")) == 1.0);
    assert_has_line(metrics, "socialcare_escapes_total{v=\"\"} 1");
    sc_metrics_free(metrics);
}

static void test_registration(void **state)
{
    (void)state;
    struct sc_metrics *metrics = sc_metrics_new("t", "0");
    struct sc_metric *a = sc_metrics_counter(metrics, "socialcare_a_total", "A.", "x,y");
    struct sc_metric *b =
        sc_metrics_counter(metrics, "socialcare_a_total", "A again.", "x,y");
    assert_non_null(a);
    assert_ptr_equal(a, b);
    sc_metric_inc(b, SC_LABELS("1", "2"));
    assert_true(sc_metric_value(a, SC_LABELS("1", "2")) == 1.0);
    /* Same name with another type or other labels is refused. */
    assert_null(sc_metrics_gauge(metrics, "socialcare_a_total", "A.", "x,y"));
    assert_null(sc_metrics_counter(metrics, "socialcare_a_total", "A.", "x"));
    /* Malformed names and label lists. */
    assert_null(sc_metrics_counter(metrics, "1bad_total", "Bad.", NULL));
    assert_null(sc_metrics_counter(metrics, "bad-name_total", "Bad.", NULL));
    assert_null(sc_metrics_counter(metrics, "", "Bad.", NULL));
    assert_null(sc_metrics_counter(metrics, "socialcare_b_total", "B.", "a,,b"));
    assert_null(sc_metrics_counter(metrics, "socialcare_b_total", "B.", "a,a"));
    assert_null(sc_metrics_counter(metrics, "socialcare_b_total", "B.", "__x"));
    assert_null(sc_metrics_counter(metrics, "socialcare_b_total", "B.", "a b"));
    assert_null(sc_metrics_counter(metrics, "socialcare_b_total", "B.", "a,b,c,d,e,f,g"));
    assert_null(sc_metrics_histogram(metrics, "socialcare_c_seconds", "C.", "le",
                                     sc_metrics_latency_buckets, 3));
    assert_non_null(
        sc_metrics_counter(metrics, "socialcare_b_total", "B.", "a,b,c,d,e,f"));
    /* NULL families are ignored everywhere. */
    sc_metric_inc(NULL, NULL);
    sc_metric_set(NULL, NULL, 1);
    sc_metric_observe(NULL, NULL, 1);
    sc_metric_reset(NULL);
    assert_true(sc_metric_value(NULL, NULL) == 0.0);
    assert_null(sc_metrics_counter(NULL, "socialcare_x_total", "X.", NULL));
    /* Families render in registration order. */
    struct sc_metric *z = sc_metrics_gauge(metrics, "socialcare_z_ratio", "Z.", NULL);
    struct sc_metric *y = sc_metrics_gauge(metrics, "socialcare_y_ratio", "Y.", NULL);
    assert_non_null(z);
    assert_non_null(y);
    char *text = sc_metrics_render(metrics, NULL);
    const char *pi = strstr(text, "# HELP socialcare_build_info");
    const char *pa = strstr(text, "# HELP socialcare_a_total");
    const char *pz = strstr(text, "# HELP socialcare_z_ratio");
    const char *py = strstr(text, "# HELP socialcare_y_ratio");
    assert_true(pi && pa && pz && py);
    assert_true(pi < pa && pa < pz && pz < py);
    assert_null(strstr(text, "socialcare_c_seconds"));
    sc_free(text);
    sc_metrics_free(metrics);
}

static void test_reset(void **state)
{
    (void)state;
    struct sc_metrics *metrics = sc_metrics_new("t", "0");
    struct sc_metric *g =
        sc_metrics_gauge(metrics, "socialcare_lag_messages", "Lag.", "topic,partition");
    sc_metric_set(g, SC_LABELS("t", "0"), 5);
    sc_metric_set(g, SC_LABELS("t", "1"), 6);
    assert_has_line(metrics, "socialcare_lag_messages{topic=\"t\",partition=\"1\"} 6");
    sc_metric_reset(g);
    assert_true(sc_metric_value(g, SC_LABELS("t", "0")) == 0.0);
    assert_lacks(metrics, "socialcare_lag_messages{");
    assert_has_line(metrics, "# TYPE socialcare_lag_messages gauge");
    sc_metric_set(g, SC_LABELS("t", "2"), 1);
    assert_has_line(metrics, "socialcare_lag_messages{topic=\"t\",partition=\"2\"} 1");
    /* Resetting a label-less family puts its single series back to zero. */
    struct sc_metric *c = sc_metrics_counter(metrics, "socialcare_n_total", "N.", NULL);
    sc_metric_add(c, NULL, 4);
    sc_metric_reset(c);
    assert_has_line(metrics, "socialcare_n_total 0");
    struct sc_metric *h = sc_metrics_histogram(metrics, "socialcare_h_seconds", "H.",
                                               NULL, sc_metrics_latency_buckets, 2);
    sc_metric_observe(h, NULL, 1);
    sc_metric_reset(h);
    assert_has_line(metrics, "socialcare_h_seconds_count 0");
    assert_has_line(metrics, "socialcare_h_seconds_bucket{le=\"+Inf\"} 0");
    sc_metrics_free(metrics);
}

#define THREADS    4
#define ITERATIONS 20000

struct worker {
    pthread_t thread;
    struct sc_metric *counter, *histogram;
    int id;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char own[8];
    snprintf(own, sizeof(own), "w%d", w->id);
    for (int i = 0; i < ITERATIONS; i++) {
        sc_metric_inc(w->counter, SC_LABELS("shared"));
        sc_metric_inc(w->counter, SC_LABELS(own));
        sc_metric_observe(w->histogram, NULL, 0.01);
    }
    return NULL;
}

static void test_concurrent_increments(void **state)
{
    (void)state;
    struct sc_metrics *metrics = sc_metrics_new("t", "0");
    struct sc_worker_set {
        struct worker w[THREADS];
    } set;
    struct sc_metric *c =
        sc_metrics_counter(metrics, "socialcare_hits_total", "Hits.", "who");
    struct sc_metric *h = sc_metrics_histogram(metrics, "socialcare_op_seconds", "Op.",
                                               NULL, sc_metrics_latency_buckets,
                                               sc_metrics_latency_buckets_count);
    for (int i = 0; i < THREADS; i++) {
        set.w[i] = (struct worker){.counter = c, .histogram = h, .id = i};
        assert_int_equal(pthread_create(&set.w[i].thread, NULL, worker_main, &set.w[i]),
                         0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(set.w[i].thread, NULL), 0);
    assert_true(sc_metric_value(c, SC_LABELS("shared")) == (double)THREADS * ITERATIONS);
    for (int i = 0; i < THREADS; i++) {
        char own[8];
        snprintf(own, sizeof(own), "w%d", i);
        assert_true(sc_metric_value(c, SC_LABELS(own)) == (double)ITERATIONS);
    }
    assert_true(sc_metric_value(h, NULL) == (double)THREADS * ITERATIONS);
    assert_has_line(metrics, "socialcare_hits_total{who=\"shared\"} 80000");
    assert_has_line(metrics, "socialcare_op_seconds_bucket{le=\"0.01\"} 80000");
    assert_has_line(metrics, "socialcare_op_seconds_bucket{le=\"0.005\"} 0");
    sc_metrics_free(metrics);
}

/* Returns 1 when an executable named prog is found in PATH. */
static int in_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char *copy = sc_strdup(path);
    int found = 0;
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        char *full = sc_asprintf("%s/%s", *dir ? dir : ".", prog);
        found = access(full, X_OK) == 0;
        sc_free(full);
    }
    sc_free(copy);
    return found;
}

static void test_promtool_accepts_render(void **state)
{
    (void)state;
    if (!in_path("promtool"))
        skip();
    struct sc_metrics *metrics = sc_metrics_new("ingestor", "0.1.0");
    struct sc_metric *c =
        sc_metrics_counter(metrics, "socialcare_posts_total",
                           "Posts ingested \\ with \"odd\"\nhelp.", "platform,intent");
    sc_metric_inc(c, SC_LABELS("x", "comp\"la\\int\n"));
    sc_metric_add(c, SC_LABELS("facebook", "praise"), 1e6);
    sc_metrics_counter(metrics, "socialcare_unused_total", "Never incremented.", "a");
    struct sc_metric *g = sc_metrics_gauge(metrics, "socialcare_consumer_lag_messages",
                                           "Lag.", "partition");
    sc_metric_set(g, SC_LABELS("0"), 12);
    sc_metric_set(g, SC_LABELS("1"), NAN);
    sc_metric_set(g, SC_LABELS("2"), 0.1);
    sc_metric_set(g, SC_LABELS("3"), -INFINITY);
    sc_metric_set(g, SC_LABELS("4"), 1e300);
    struct sc_metric *h = sc_metrics_histogram(
        metrics, "socialcare_classify_duration_seconds", "Classification time.", "intent",
        sc_metrics_latency_buckets, sc_metrics_latency_buckets_count);
    sc_metric_observe(h, SC_LABELS("complaint"), 0.0042);
    sc_metric_observe(h, SC_LABELS("complaint"), 70);
    struct sc_metric *h2 =
        sc_metrics_histogram(metrics, "socialcare_body_size_bytes", "Body sizes.", NULL,
                             (const double[]){64, 1024, 65536}, 3);
    sc_metric_observe(h2, NULL, 100);

    char path[] = "/tmp/sc_test_metrics_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = 0;
    char *text = sc_metrics_render(metrics, &len);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);

    char *cmd = sc_asprintf("promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        print_error("promtool said:\n%s\nfor:\n%s", out, text);
    unlink(path);
    sc_free(cmd);
    sc_free(text);
    sc_metrics_free(metrics);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(n, 0); /* no lint complaints either */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_info),
        cmocka_unit_test(test_counter_without_labels),
        cmocka_unit_test(test_counter_with_labels),
        cmocka_unit_test(test_many_series),
        cmocka_unit_test(test_gauge_set_add),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_registration),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_concurrent_increments),
        cmocka_unit_test(test_promtool_accepts_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
