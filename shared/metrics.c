/* Prometheus metrics registry. One mutex guards the whole registry: families are kept in
 * registration order, and each family keeps its series both in a small chained hash table
 * (keyed by the label values, so updating an existing series allocates nothing) and in a
 * list in creation order (so the rendering is stable). Histograms store per-bucket counts
 * and make them cumulative only when rendering. A malformed definition (bad name, too
 * many labels, a clash with an existing family) is a programming error: it is reported on
 * stderr and the registration returns NULL; every update function ignores a NULL family.
 */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"

#define SC_METRICS_MAX_LABELS 6
#define SC_METRICS_HASH_INIT  16 /* initial hash buckets per family (power of two) */

const double sc_metrics_latency_buckets[] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
const size_t sc_metrics_latency_buckets_count =
    sizeof(sc_metrics_latency_buckets) / sizeof(sc_metrics_latency_buckets[0]);

enum sc_metric_type {
    SC_METRIC_COUNTER,
    SC_METRIC_GAUGE,
    SC_METRIC_HISTOGRAM,
    SC_METRIC_TYPE_COUNT
};

static const char *const sc_metric_type_names[SC_METRIC_TYPE_COUNT] = {"counter", "gauge",
                                                                       "histogram"};

/* One labelled time series (or, for a histogram, one set of buckets/sum/count). */
struct sc_series {
    struct sc_series *hnext; /* next in the same hash bucket */
    struct sc_series *next;  /* next in creation order */
    uint64_t hash;
    char *values[SC_METRICS_MAX_LABELS];
    double value;     /* counter / gauge */
    uint64_t *counts; /* histogram: n_buckets + 1 per-bucket (not cumulative) counts */
    double sum;
    uint64_t count;
};

struct sc_metric {
    struct sc_metric *next; /* registration order */
    struct sc_metrics *metrics;
    enum sc_metric_type type;
    char *name;
    char *help;
    size_t n_labels;
    char *label_names[SC_METRICS_MAX_LABELS];
    double *buckets; /* histogram upper bounds, without +Inf */
    size_t n_buckets;
    struct sc_series **table;
    size_t table_size; /* power of two */
    size_t n_series;
    struct sc_series *first, *last;
};

struct sc_metrics {
    pthread_mutex_t lock;
    struct sc_metric *first, *last;
};

/* ------------------------------------------------------------------------------------------
 */
/* Helpers */
/* ------------------------------------------------------------------------------------------
 */

/* Reports a registration error on stderr as one JSON-ish line (this module has no logger
 * dependency; the text contains only metric names, never personal data). */
static void sc_metrics_complain(const char *name, const char *what)
{
    char line[512];
    int n = snprintf(line, sizeof(line),
                     "{\"level\":\"error\",\"fac\":\"METRICS\",\"msg\":\"cannot register "
                     "metric %.200s: %s\"}\n",
                     name ? name : "(null)", what);
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, line,
                          (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
        (void)w;
    }
}

static int sc_metrics_valid_name(const char *s, int allow_colon)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':') || (p != s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* FNV-1a over the label values, each terminated by a 0xff separator byte. */
static uint64_t sc_series_hash(const struct sc_metric *metric, const char *const *labels)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < metric->n_labels; i++) {
        const char *v = (labels && labels[i]) ? labels[i] : "";
        for (; *v; v++) {
            h ^= (unsigned char)*v;
            h *= 1099511628211ULL;
        }
        h ^= 0xff;
        h *= 1099511628211ULL;
    }
    return h;
}

static int sc_series_matches(const struct sc_metric *metric,
                             const struct sc_series *series, uint64_t hash,
                             const char *const *labels)
{
    if (series->hash != hash)
        return 0;
    for (size_t i = 0; i < metric->n_labels; i++) {
        const char *v = (labels && labels[i]) ? labels[i] : "";
        if (strcmp(series->values[i], v) != 0)
            return 0;
    }
    return 1;
}

static void sc_metric_grow_table(struct sc_metric *metric)
{
    size_t size = metric->table_size * 2;
    struct sc_series **table = sc_calloc(size, sizeof(*table));
    for (struct sc_series *s = metric->first; s; s = s->next) {
        size_t slot = (size_t)(s->hash & (size - 1));
        s->hnext = table[slot];
        table[slot] = s;
    }
    sc_free(metric->table);
    metric->table = table;
    metric->table_size = size;
}

/* Finds or creates the series for labels. Called with the registry lock held. */
static struct sc_series *sc_series_get(struct sc_metric *metric,
                                       const char *const *labels, int create)
{
    uint64_t hash = sc_series_hash(metric, labels);
    size_t slot = (size_t)(hash & (metric->table_size - 1));
    for (struct sc_series *s = metric->table[slot]; s; s = s->hnext)
        if (sc_series_matches(metric, s, hash, labels))
            return s;
    if (!create)
        return NULL;

    if (metric->n_series + 1 > metric->table_size) {
        sc_metric_grow_table(metric);
        slot = (size_t)(hash & (metric->table_size - 1));
    }
    struct sc_series *s = sc_calloc(1, sizeof(*s));
    s->hash = hash;
    for (size_t i = 0; i < metric->n_labels; i++)
        s->values[i] = sc_strdup((labels && labels[i]) ? labels[i] : "");
    if (metric->type == SC_METRIC_HISTOGRAM)
        s->counts = sc_calloc(metric->n_buckets + 1, sizeof(*s->counts));
    s->hnext = metric->table[slot];
    metric->table[slot] = s;
    if (metric->last)
        metric->last->next = s;
    else
        metric->first = s;
    metric->last = s;
    metric->n_series++;
    return s;
}

static void sc_series_free(const struct sc_metric *metric, struct sc_series *series)
{
    for (size_t i = 0; i < metric->n_labels; i++)
        sc_free(series->values[i]);
    sc_free(series->counts);
    sc_free(series);
}

/* Drops every series. Called with the registry lock held (or during free). */
static void sc_metric_clear(struct sc_metric *metric)
{
    struct sc_series *s = metric->first;
    while (s) {
        struct sc_series *next = s->next;
        sc_series_free(metric, s);
        s = next;
    }
    metric->first = metric->last = NULL;
    metric->n_series = 0;
    memset(metric->table, 0, metric->table_size * sizeof(*metric->table));
}

static void sc_metric_free(struct sc_metric *metric)
{
    sc_metric_clear(metric);
    sc_free(metric->table);
    for (size_t i = 0; i < metric->n_labels; i++)
        sc_free(metric->label_names[i]);
    sc_free(metric->buckets);
    sc_free(metric->name);
    sc_free(metric->help);
    sc_free(metric);
}

/* Splits "a, b,c" into trimmed names. @returns the count, or -1 when malformed. */
static int sc_metrics_parse_labels(const char *list, char **out, int is_histogram)
{
    if (!list || !*list)
        return 0;
    int n = 0;
    const char *p = list;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        size_t len = (size_t)(p - start);
        while (*p == ' ' || *p == '\t')
            p++;
        if (len == 0 || n == SC_METRICS_MAX_LABELS || (*p && *p != ','))
            goto fail;
        out[n] = sc_strndup(start, len);
        n++;
        if (!sc_metrics_valid_name(out[n - 1], 0) || !strncmp(out[n - 1], "__", 2) ||
            (is_histogram && !strcmp(out[n - 1], "le")))
            goto fail;
        for (int i = 0; i < n - 1; i++)
            if (!strcmp(out[i], out[n - 1]))
                goto fail;
        if (!*p)
            return n;
        p++; /* the comma */
    }
fail:
    for (int i = 0; i < n; i++) {
        sc_free(out[i]);
        out[i] = NULL;
    }
    return -1;
}

static int sc_metric_same_definition(const struct sc_metric *metric,
                                     enum sc_metric_type type, char **label_names,
                                     size_t n_labels, const double *buckets,
                                     size_t n_buckets)
{
    if (metric->type != type || metric->n_labels != n_labels)
        return 0;
    for (size_t i = 0; i < n_labels; i++)
        if (strcmp(metric->label_names[i], label_names[i]) != 0)
            return 0;
    if (type == SC_METRIC_HISTOGRAM) {
        if (metric->n_buckets != n_buckets)
            return 0;
        for (size_t i = 0; i < n_buckets; i++)
            if (metric->buckets[i] != buckets[i])
                return 0;
    }
    return 1;
}

static struct sc_metric *sc_metrics_register(struct sc_metrics *metrics,
                                             enum sc_metric_type type, const char *name,
                                             const char *help, const char *label_names,
                                             const double *buckets, size_t n_buckets)
{
    if (!metrics)
        return NULL;
    if (!sc_metrics_valid_name(name, 1)) {
        sc_metrics_complain(name, "invalid metric name");
        return NULL;
    }
    if (type == SC_METRIC_HISTOGRAM) {
        /* A trailing +Inf is implied; drop it when the caller spelled it out. */
        if (n_buckets > 0 && isinf(buckets[n_buckets - 1]) && buckets[n_buckets - 1] > 0)
            n_buckets--;
        for (size_t i = 0; i < n_buckets; i++)
            if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1]))) {
                sc_metrics_complain(name,
                                    "histogram buckets must be finite and ascending");
                return NULL;
            }
    } else {
        n_buckets = 0;
    }

    char *labels[SC_METRICS_MAX_LABELS] = {0};
    int n_labels =
        sc_metrics_parse_labels(label_names, labels, type == SC_METRIC_HISTOGRAM);
    if (n_labels < 0) {
        sc_metrics_complain(name,
                            "invalid label names (at most 6, [a-zA-Z_][a-zA-Z0-9_]*)");
        return NULL;
    }

    struct sc_metric *found = NULL;
    pthread_mutex_lock(&metrics->lock);
    for (struct sc_metric *m = metrics->first; m; m = m->next)
        if (!strcmp(m->name, name)) {
            found = m;
            break;
        }
    if (found) {
        int same = sc_metric_same_definition(found, type, labels, (size_t)n_labels,
                                             buckets, n_buckets);
        pthread_mutex_unlock(&metrics->lock);
        for (int i = 0; i < n_labels; i++)
            sc_free(labels[i]);
        if (!same) {
            sc_metrics_complain(name, "already registered with another type or labels");
            return NULL;
        }
        return found;
    }

    struct sc_metric *metric = sc_calloc(1, sizeof(*metric));
    metric->metrics = metrics;
    metric->type = type;
    metric->name = sc_strdup(name);
    metric->help = sc_strdup(help ? help : "");
    metric->n_labels = (size_t)n_labels;
    memcpy(metric->label_names, labels, sizeof(labels));
    if (type == SC_METRIC_HISTOGRAM) {
        metric->n_buckets = n_buckets;
        metric->buckets = sc_malloc((n_buckets ? n_buckets : 1) * sizeof(double));
        if (n_buckets)
            memcpy(metric->buckets, buckets, n_buckets * sizeof(double));
    }
    metric->table_size = SC_METRICS_HASH_INIT;
    metric->table = sc_calloc(metric->table_size, sizeof(*metric->table));
    /* A family without labels has exactly one series: expose it (as 0) from the start. */
    if (metric->n_labels == 0)
        sc_series_get(metric, NULL, 1);
    if (metrics->last)
        metrics->last->next = metric;
    else
        metrics->first = metric;
    metrics->last = metric;
    pthread_mutex_unlock(&metrics->lock);
    return metric;
}

/* ------------------------------------------------------------------------------------------
 */
/* Public API */
/* ------------------------------------------------------------------------------------------
 */

struct sc_metrics *sc_metrics_new(const char *service, const char *version)
{
    struct sc_metrics *metrics = sc_calloc(1, sizeof(*metrics));
    pthread_mutex_init(&metrics->lock, NULL);
    struct sc_metric *info = sc_metrics_gauge(
        metrics, "socialcare_build_info",
        "Build information about the running service; the value is always 1.",
        "service,version");
    sc_metric_set(
        info, SC_LABELS(service ? service : "unknown", version ? version : "unknown"), 1);
    return metrics;
}

void sc_metrics_free(struct sc_metrics *metrics)
{
    if (!metrics)
        return;
    struct sc_metric *m = metrics->first;
    while (m) {
        struct sc_metric *next = m->next;
        sc_metric_free(m);
        m = next;
    }
    pthread_mutex_destroy(&metrics->lock);
    sc_free(metrics);
}

struct sc_metric *sc_metrics_counter(struct sc_metrics *metrics, const char *name,
                                     const char *help, const char *label_names)
{
    return sc_metrics_register(metrics, SC_METRIC_COUNTER, name, help, label_names, NULL,
                               0);
}

struct sc_metric *sc_metrics_gauge(struct sc_metrics *metrics, const char *name,
                                   const char *help, const char *label_names)
{
    return sc_metrics_register(metrics, SC_METRIC_GAUGE, name, help, label_names, NULL,
                               0);
}

struct sc_metric *sc_metrics_histogram(struct sc_metrics *metrics, const char *name,
                                       const char *help, const char *label_names,
                                       const double *buckets, size_t n_buckets)
{
    if (!buckets)
        n_buckets = 0;
    return sc_metrics_register(metrics, SC_METRIC_HISTOGRAM, name, help, label_names,
                               buckets, n_buckets);
}

void sc_metric_add(struct sc_metric *metric, const char *const *labels, double v)
{
    if (!metric || metric->type == SC_METRIC_HISTOGRAM)
        return;
    /* Counters only go up; NaN would poison them forever. */
    if (metric->type == SC_METRIC_COUNTER && !(v >= 0))
        return;
    pthread_mutex_lock(&metric->metrics->lock);
    struct sc_series *s = sc_series_get(metric, labels, 1);
    s->value += v;
    pthread_mutex_unlock(&metric->metrics->lock);
}

void sc_metric_set(struct sc_metric *metric, const char *const *labels, double v)
{
    /* Setting a counter is allowed for mirroring totals kept elsewhere (librdkafka
     * stats). */
    if (!metric || metric->type == SC_METRIC_HISTOGRAM)
        return;
    pthread_mutex_lock(&metric->metrics->lock);
    struct sc_series *s = sc_series_get(metric, labels, 1);
    s->value = v;
    pthread_mutex_unlock(&metric->metrics->lock);
}

void sc_metric_observe(struct sc_metric *metric, const char *const *labels, double v)
{
    if (!metric || metric->type != SC_METRIC_HISTOGRAM)
        return;
    size_t b = 0;
    while (b < metric->n_buckets && !(v <= metric->buckets[b]))
        b++; /* NaN ends up in +Inf, like the reference clients */
    pthread_mutex_lock(&metric->metrics->lock);
    struct sc_series *s = sc_series_get(metric, labels, 1);
    s->counts[b]++;
    s->count++;
    s->sum += v;
    pthread_mutex_unlock(&metric->metrics->lock);
}

double sc_metric_value(struct sc_metric *metric, const char *const *labels)
{
    if (!metric)
        return 0;
    double v = 0;
    pthread_mutex_lock(&metric->metrics->lock);
    struct sc_series *s = sc_series_get(metric, labels, 0);
    if (s)
        v = metric->type == SC_METRIC_HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&metric->metrics->lock);
    return v;
}

void sc_metric_reset(struct sc_metric *metric)
{
    if (!metric)
        return;
    pthread_mutex_lock(&metric->metrics->lock);
    sc_metric_clear(metric);
    if (metric->n_labels == 0)
        sc_series_get(metric, NULL, 1);
    pthread_mutex_unlock(&metric->metrics->lock);
}

/* ------------------------------------------------------------------------------------------
 */
/* Rendering */
/* ------------------------------------------------------------------------------------------
 */

struct sc_strbuf {
    char *data;
    size_t len, cap;
};

static void sc_strbuf_reserve(struct sc_strbuf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more + 1)
        cap *= 2;
    b->data = sc_realloc(b->data, cap);
    b->cap = cap;
}

static void sc_strbuf_put(struct sc_strbuf *b, const char *s, size_t n)
{
    sc_strbuf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sc_strbuf_puts(struct sc_strbuf *b, const char *s)
{
    sc_strbuf_put(b, s, strlen(s));
}

/* Appends s escaped for HELP text (quote = 0) or a label value (quote = 1). */
static void sc_strbuf_escaped(struct sc_strbuf *b, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            sc_strbuf_put(b, "\\\\", 2);
        else if (*s == '\n')
            sc_strbuf_put(b, "\\n", 2);
        else if (quote && *s == '"')
            sc_strbuf_put(b, "\\\"", 2);
        else
            sc_strbuf_put(b, s, 1);
    }
}

/* Formats v the way Prometheus parses it: integers plainly, others in the shortest form
 * that reads back exactly, and NaN / +Inf / -Inf spelled out. */
static void sc_metrics_format_value(double v, char *out, size_t size)
{
    if (isnan(v)) {
        snprintf(out, size, "NaN");
    } else if (isinf(v)) {
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
    } else if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v) {
        snprintf(out, size, "%" PRId64, (int64_t)v);
    } else {
        for (int precision = 15; precision <= 17; precision++) {
            snprintf(out, size, "%.*g", precision, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

/* Appends {a="x",b="y"[,le="..."]} (nothing when there are no labels at all). */
static void sc_metrics_render_labels(struct sc_strbuf *b, const struct sc_metric *metric,
                                     const struct sc_series *series, const char *le)
{
    if (metric->n_labels == 0 && !le)
        return;
    sc_strbuf_put(b, "{", 1);
    for (size_t i = 0; i < metric->n_labels; i++) {
        if (i)
            sc_strbuf_put(b, ",", 1);
        sc_strbuf_puts(b, metric->label_names[i]);
        sc_strbuf_put(b, "=\"", 2);
        sc_strbuf_escaped(b, series->values[i], 1);
        sc_strbuf_put(b, "\"", 1);
    }
    if (le) {
        if (metric->n_labels)
            sc_strbuf_put(b, ",", 1);
        sc_strbuf_put(b, "le=\"", 4);
        sc_strbuf_puts(b, le);
        sc_strbuf_put(b, "\"", 1);
    }
    sc_strbuf_put(b, "}", 1);
}

static void sc_metrics_render_sample(struct sc_strbuf *b, const struct sc_metric *metric,
                                     const char *suffix, const struct sc_series *series,
                                     const char *le, double v)
{
    char num[64];
    sc_strbuf_puts(b, metric->name);
    sc_strbuf_puts(b, suffix);
    sc_metrics_render_labels(b, metric, series, le);
    sc_metrics_format_value(v, num, sizeof(num));
    sc_strbuf_put(b, " ", 1);
    sc_strbuf_puts(b, num);
    sc_strbuf_put(b, "\n", 1);
}

static void sc_metrics_render_family(struct sc_strbuf *b, const struct sc_metric *metric)
{
    sc_strbuf_puts(b, "# HELP ");
    sc_strbuf_puts(b, metric->name);
    sc_strbuf_put(b, " ", 1);
    sc_strbuf_escaped(b, metric->help, 0);
    sc_strbuf_puts(b, "\n# TYPE ");
    sc_strbuf_puts(b, metric->name);
    sc_strbuf_put(b, " ", 1);
    sc_strbuf_puts(b, sc_metric_type_names[metric->type]);
    sc_strbuf_put(b, "\n", 1);

    for (const struct sc_series *s = metric->first; s; s = s->next) {
        if (metric->type != SC_METRIC_HISTOGRAM) {
            sc_metrics_render_sample(b, metric, "", s, NULL, s->value);
            continue;
        }
        uint64_t cumulative = 0;
        char le[64];
        for (size_t i = 0; i <= metric->n_buckets; i++) {
            cumulative += s->counts[i];
            if (i < metric->n_buckets)
                sc_metrics_format_value(metric->buckets[i], le, sizeof(le));
            else
                snprintf(le, sizeof(le), "+Inf");
            sc_metrics_render_sample(b, metric, "_bucket", s, le, (double)cumulative);
        }
        sc_metrics_render_sample(b, metric, "_sum", s, NULL, s->sum);
        sc_metrics_render_sample(b, metric, "_count", s, NULL, (double)s->count);
    }
}

char *sc_metrics_render(struct sc_metrics *metrics, size_t *len)
{
    struct sc_strbuf b = {0};
    sc_strbuf_reserve(&b, 0);
    b.data[0] = '\0';
    if (metrics) {
        pthread_mutex_lock(&metrics->lock);
        for (const struct sc_metric *m = metrics->first; m; m = m->next)
            sc_metrics_render_family(&b, m);
        pthread_mutex_unlock(&metrics->lock);
    }
    if (len)
        *len = b.len;
    return b.data;
}
