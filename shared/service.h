/* The common skeleton of a socialcare service: it owns the metrics registry, the Redis
 * connection of the main thread, the Kafka producer, an optional consumer-group member
 * and the HTTP server, answers /readyz from their health, and runs the consume -> process
 * -> produce -> await acknowledgements -> store offsets loop. Services supply a batch
 * callback; this module never sees their context beyond the opaque pointer it passes
 * back. */
#ifndef SC_SERVICE_H
#define SC_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "error.h"
#include "http.h"
#include "kafka.h"
#include "metrics.h"
#include "redis.h"

struct sc_service {
    const char *name;                /* "classifier" (borrowed) */
    struct sc_common_config *common; /* borrowed */
    struct sc_metrics *metrics;
    struct sc_redis *redis; /* main thread only; NULL when the service needs none */
    struct sc_producer *producer;
    struct sc_consumer *consumer; /* NULL for a service that consumes nothing */
    struct sc_http *http;
    struct sc_metric *m_batches;       /* socialcare_batches_total{outcome} */
    struct sc_metric *m_batch_seconds; /* socialcare_batch_duration_seconds */
    struct sc_metric *m_messages;      /* socialcare_messages_processed_total */
    size_t batch_max;                  /* messages per consumed batch */
    /* Optional (NULL unless the service sets it after sc_service_init): finishes work
     * the batch callback deferred. A callback may return 0 with part of its batch still
     * to do (e.g. outputs produced once Redis answers, overlapping the next batch),
     * provided it keeps one extra count in the batch's delivery->pending until that work
     * is done (the hold: the loop stores no offsets before). The loop calls flush
     * whenever it would otherwise wait for deliveries or new messages, before it rewinds
     * failed batches, and before it stops, so every hold ends. Returns 1 when it did
     * work. */
    int (*flush)(void *opaque);
};

struct sc_service_opts {
    const char *name;          /* service name without prefix */
    const char *const *topics; /* topics to consume (NULL/0 = none) */
    size_t n_topics;
    const char *const *outputs; /* topics it produces to, looked up at start */
    size_t n_outputs;
    bool use_redis;
    size_t batch_max; /* messages per batch; 0 = 500 */
};

/* Processes one batch: produce every output with `delivery` and do every Redis write.
 * Return 0 when done (the runner then awaits the deliveries and stores the offsets), or a
 * negative code for a transient failure (Redis down, ...): the runner rewinds the batch,
 * backs off and consumes it again. Poison messages are the callback's to dead-letter (and
 * return 0). */
typedef int (*sc_service_batch_fn)(void *opaque, rd_kafka_message_t **msgs, size_t n,
                                   struct sc_delivery *delivery);

/* Called when the loop is idle (no message within the poll timeout), or on every turn for
 * a service without a consumer; may be NULL. Return 1 when it did work (the loop then
 * comes straight back), 0 when there was nothing to do. */
typedef int (*sc_service_idle_fn)(void *opaque);

/* @brief Creates metrics, Redis handle, producer, consumer and HTTP server (not started).
 * @returns 0, or an error with errstr; on error call sc_service_cleanup. */
int sc_service_init(struct sc_service *svc, const struct sc_service_opts *opts,
                    struct sc_common_config *common, char *errstr,
                    size_t errstr_size) SC_WUR;

/* @brief Starts the HTTP server and prints the ready line. @returns 0 or SC_EIO. */
int sc_service_start(struct sc_service *svc, char *errstr, size_t errstr_size) SC_WUR;

/* @brief Runs the consume loop until SIGTERM/SIGINT, then drains (flushes the producer)
 * within DRAIN_TIMEOUT_MS. With no consumer it only calls idle and serves delivery
 * reports.
 * @returns 0 after a clean drain, SC_ETIMEDOUT when the drain ran out of time. */
int sc_service_run(struct sc_service *svc, sc_service_batch_fn batch,
                   sc_service_idle_fn idle, void *opaque);

/* @brief Serves delivery reports until every send counted in delivery was reported (the
 *        reports point at it, so it must not go out of scope before).
 * @returns 0 when all were delivered, SC_EIO when any failed. */
int sc_service_settle(struct sc_service *svc, struct sc_delivery *delivery);

/* @brief Sleeps up to ms, returning early when a stop is requested (for retry backoff,
 * never for synchronisation). */
void sc_service_backoff(int ms);

/* @brief Closes the consumer (final commit), flushes the producer, stops HTTP, frees all.
 */
void sc_service_cleanup(struct sc_service *svc);

/* @brief Standard main() preamble: parses args (--help, --check-config), loads the table,
 *        sets up logging. @returns 0 to go on, 1 to exit 0 now, -1 to exit 2 now. */
int sc_service_configure(int argc, char **argv, const char *service, const char *summary,
                         const struct sc_config_item *items, size_t n_items,
                         void *config);

#endif
