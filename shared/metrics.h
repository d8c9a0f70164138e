/* Prometheus metrics: counters, gauges and histograms with labels, kept in one registry
 * per process and rendered in the Prometheus text exposition format (version 0.0.4).
 * Every operation is thread-safe (librdkafka's statistics thread and the HTTP thread
 * share it). Names follow socialcare_<what>_<unit>; counters end in _total. */
#ifndef SC_METRICS_H
#define SC_METRICS_H

#include <stddef.h>

struct sc_metrics;
struct sc_metric;

/* Label values, in the order the family's label names were given; NULL when it has none.
 * Example: sc_metric_inc(m, SC_LABELS("x", "complaint")). */
#define SC_LABELS(...) ((const char *const[]){__VA_ARGS__})

/* @brief Creates a registry; registers socialcare_build_info{service,version} = 1.
 * @returns a new registry (free with sc_metrics_free). */
struct sc_metrics *sc_metrics_new(const char *service, const char *version);
void sc_metrics_free(struct sc_metrics *metrics);

/* @brief Registers a family. label_names is a comma-separated list ("platform,intent") or
 *        NULL. Registering an existing name returns the existing family.
 * @returns a family owned by the registry (valid until sc_metrics_free). */
struct sc_metric *sc_metrics_counter(struct sc_metrics *metrics, const char *name,
                                     const char *help, const char *label_names);
struct sc_metric *sc_metrics_gauge(struct sc_metrics *metrics, const char *name,
                                   const char *help, const char *label_names);
/* buckets: ascending upper bounds (+Inf is implied); copied. */
struct sc_metric *sc_metrics_histogram(struct sc_metrics *metrics, const char *name,
                                       const char *help, const char *label_names,
                                       const double *buckets, size_t n_buckets);

/* @brief Counter/gauge: add v (v >= 0 for counters). Gauge: set. Histogram: observe. */
void sc_metric_add(struct sc_metric *metric, const char *const *labels, double v);
void sc_metric_set(struct sc_metric *metric, const char *const *labels, double v);
void sc_metric_observe(struct sc_metric *metric, const char *const *labels, double v);
#define sc_metric_inc(metric, labels) sc_metric_add((metric), (labels), 1.0)

/* @brief Reads one series' value (counter/gauge) or count (histogram); 0 if absent. For
 * tests and for summaries. */
double sc_metric_value(struct sc_metric *metric, const char *const *labels);

/* @brief Drops every series of a family (e.g. per-partition lag after a rebalance). */
void sc_metric_reset(struct sc_metric *metric);

/* @brief Renders the whole registry. @returns a new NUL-terminated string; *len its
 * length. */
char *sc_metrics_render(struct sc_metrics *metrics, size_t *len);

/* Default latency buckets in seconds (1 ms .. 60 s). */
extern const double sc_metrics_latency_buckets[];
extern const size_t sc_metrics_latency_buckets_count;

#endif
