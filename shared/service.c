/* The service skeleton shared by the four services: wiring of metrics, Redis, Kafka and
 * HTTP, readiness, and the batch loop that keeps the offset-after-acknowledgement
 * invariant. */
#include "service.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "lifecycle.h"
#include "log.h"

#define SC_SERVICE_POLL_MS        100
#define SC_SERVICE_BACKOFF_MIN_MS 100
#define SC_SERVICE_BACKOFF_MAX_MS 5000

int sc_service_configure(int argc, char **argv, const char *service, const char *summary,
                         const struct sc_config_item *items, size_t n_items, void *config)
{
    int check_only = 0;
    int rc = sc_config_args(argc, argv, summary, items, n_items, &check_only);
    if (rc != 0)
        return rc;
    char errstr[512];
    if (sc_config_load(items, n_items, config, 1, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "socialcare-%s: configuration error: %s\n", service, errstr);
        return -1;
    }
    struct sc_common_config *common = config; /* the common member comes first */
    int level = sc_log_level_parse(common->log_level);
    if (level < 0) {
        fprintf(stderr,
                "socialcare-%s: configuration error: LOG_LEVEL: \"%s\" is not a level\n",
                service, common->log_level);
        return -1;
    }
    if (check_only) {
        printf("socialcare-%s: configuration OK\n", service);
        return 1;
    }
    char name[64];
    snprintf(name, sizeof(name), "socialcare-%s", service);
    sc_log_init(name, level, 2);
    sc_lifecycle_install();
    sc_config_log(items, n_items, config);
    return 0;
}

static int sc_service_ready(void *opaque, char *why, size_t why_size)
{
    const struct sc_service *svc = opaque;
    if (!sc_producer_healthy(svc->producer)) {
        snprintf(why, why_size, "kafka unreachable");
        return 0;
    }
    if (svc->consumer) {
        if (!sc_consumer_healthy(svc->consumer)) {
            snprintf(why, why_size, "kafka unreachable");
            return 0;
        }
        if (sc_consumer_assigned(svc->consumer) <= 0) {
            snprintf(why, why_size, "no partitions assigned");
            return 0;
        }
    }
    if (svc->redis && !sc_redis_healthy(svc->redis)) {
        snprintf(why, why_size, "redis unreachable");
        return 0;
    }
    return 1;
}

int sc_service_init(struct sc_service *svc, const struct sc_service_opts *opts,
                    struct sc_common_config *common, char *errstr, size_t errstr_size)
{
    memset(svc, 0, sizeof(*svc));
    svc->name = opts->name;
    svc->batch_max = opts->batch_max ? opts->batch_max : 500;
    svc->common = common;
    svc->metrics = sc_metrics_new(opts->name, SC_VERSION);
    svc->m_batches = sc_metrics_counter(svc->metrics, "socialcare_batches_total",
                                        "Consumed batches by outcome", "outcome");
    svc->m_batch_seconds = sc_metrics_histogram(
        svc->metrics, "socialcare_batch_duration_seconds",
        "Time to process a batch, including produce acknowledgements", NULL,
        sc_metrics_latency_buckets, sc_metrics_latency_buckets_count);
    svc->m_messages =
        sc_metrics_counter(svc->metrics, "socialcare_messages_processed_total",
                           "Consumed messages whose offsets were stored", NULL);

    if (opts->use_redis) {
        svc->redis = sc_redis_new(common->redis_url, 2000, errstr, errstr_size);
        if (!svc->redis)
            return SC_EINVAL;
        if (sc_redis_connect(svc->redis) != 0)
            sc_log(SC_LOG_WARNING, "REDIS", "redis not reachable yet; will retry");
    }

    char client_id[64];
    snprintf(client_id, sizeof(client_id), "socialcare-%s", opts->name);
    struct sc_kafka_conf kconf = {
        .brokers = common->kafka_brokers,
        .client_id = client_id,
        .props = common->kafka_props,
        .n_props = common->n_kafka_props,
        .metrics = svc->metrics,
    };
    svc->producer = sc_producer_new(&kconf, errstr, errstr_size);
    if (!svc->producer)
        return SC_EINVAL;
    /* Best effort: a broker that is not up yet must not stop the start; the lookup then
     * happens on the first message. */
    (void)sc_producer_warm(svc->producer, opts->outputs, opts->n_outputs, 5000);
    if (opts->n_topics > 0) {
        svc->consumer = sc_consumer_new(&kconf, common->kafka_group_id, opts->topics,
                                        opts->n_topics, errstr, errstr_size);
        if (!svc->consumer)
            return SC_EINVAL;
    }

    struct sc_http_config hconf = {
        .port = (int)common->http_port,
        .bind_addr = common->http_bind[0] ? common->http_bind : NULL,
        .metrics = svc->metrics,
        .ready = sc_service_ready,
        .ready_opaque = svc,
    };
    svc->http = sc_http_new(&hconf, errstr, errstr_size);
    if (!svc->http)
        return SC_EINVAL;
    return 0;
}

int sc_service_start(struct sc_service *svc, char *errstr, size_t errstr_size)
{
    int rc = sc_http_start(svc->http, errstr, errstr_size);
    if (rc != 0)
        return rc;
    sc_lifecycle_ready(svc->name, sc_http_port(svc->http));
    return 0;
}

/* Sleeps up to ms, waking early when a stop is requested. */
void sc_service_backoff(int ms)
{
    int64_t until = sc_now_ms() + ms;
    while (!sc_lifecycle_stopping() && sc_now_ms() < until) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Waits until every send of the group was reported; the reports reference `delivery`, so
 * it may not go out of scope before. librdkafka reports every message within
 * message.timeout.ms, so this ends. */
int sc_service_settle(struct sc_service *svc, struct sc_delivery *delivery)
{
    int rc;
    do {
        rc = sc_producer_wait(svc->producer, delivery, 1000);
        if (rc == SC_ETIMEDOUT)
            sc_log(SC_LOG_WARNING, "KAFKA", "still waiting for delivery reports");
    } while (rc == SC_ETIMEDOUT);
    return rc;
}

/* A consumed batch whose outputs may still await acknowledgements. */
struct sc_inflight {
    rd_kafka_message_t **msgs;
    size_t n;
    struct sc_delivery delivery; /* referenced by delivery reports: never moved */
    int rc;                      /* the batch callback's result */
    int64_t t0;
};

/* Stores the offsets of a batch whose outputs were all acknowledged. A partition revoked
 * in the meantime cannot be stored; its new owner consumes those messages again, which
 * the idempotent consumers absorb, so that is only logged. */
static void sc_service_retire_ok(struct sc_service *svc, struct sc_inflight *b)
{
    if (sc_consumer_store(svc->consumer, b->msgs, b->n) != 0)
        sc_log(SC_LOG_INFO, "KAFKA", "offsets of a revoked partition not stored");
    sc_metric_inc(svc->m_batches, SC_LABELS("ok"));
    sc_metric_add(svc->m_messages, NULL, (double)b->n);
    sc_metric_observe(svc->m_batch_seconds, NULL, (double)(sc_now_ms() - b->t0) / 1e3);
}

/* Abandons every batch in flight from ring position `first` on (the oldest failed): waits
 * for their reports, then seeks back newest to oldest so each partition resumes at its
 * first unstored message. */
static void sc_service_rewind_all(struct sc_service *svc, struct sc_inflight *ring,
                                  size_t cap, size_t head, size_t count, int rc)
{
    for (size_t k = 0; k < count; k++)
        (void)sc_service_settle(svc, &ring[(head + k) % cap].delivery);
    size_t total = 0;
    for (size_t k = count; k-- > 0;) {
        struct sc_inflight *b = &ring[(head + k) % cap];
        total += b->n;
        if (sc_consumer_rewind(svc->consumer, b->msgs, b->n) != 0)
            sc_log(SC_LOG_ERR, "KAFKA",
                   "rewind failed; the batch comes again after restart");
        sc_consumer_release(b->msgs, b->n);
        b->n = 0;
    }
    sc_metric_inc(svc->m_batches, SC_LABELS("retried"));
    sc_log(SC_LOG_WARNING, "MAIN",
           "%zu message(s) in %zu batch(es) failed (%s); consuming again", total, count,
           sc_strerror(rc));
}

int sc_service_run(struct sc_service *svc, sc_service_batch_fn batch,
                   sc_service_idle_fn idle, void *opaque)
{
    /* Several batches stay in flight: the next one is processed while the broker
     * acknowledges the previous ones, and offsets are stored strictly in order. */
    enum { INFLIGHT = 16 };
    struct sc_inflight ring[INFLIGHT];
    memset(ring, 0, sizeof(ring));
    for (size_t i = 0; i < INFLIGHT; i++)
        ring[i].msgs = sc_calloc(svc->batch_max, sizeof(*ring[i].msgs));
    size_t head = 0, count = 0;
    int backoff_ms = 0;
    bool failing = false; /* a batch callback failed: consume nothing new until handled */

    while (!sc_lifecycle_stopping() || count > 0) {
        if (!svc->consumer) {
            if (sc_lifecycle_stopping())
                break;
            int busy = idle ? idle(opaque) : 0;
            sc_producer_poll(svc->producer, busy ? 0 : SC_SERVICE_POLL_MS);
            continue;
        }
        /* Retire acknowledged batches from the head, in order. */
        sc_producer_poll(svc->producer, 0);
        while (count > 0 && ring[head].delivery.pending == 0) {
            struct sc_inflight *b = &ring[head];
            int rc = b->rc ? b->rc : (b->delivery.failed ? SC_EIO : 0);
            if (rc != 0) {
                if (svc->flush)
                    (void)svc->flush(opaque); /* ends any hold before settling */
                sc_service_rewind_all(svc, ring, INFLIGHT, head, count, rc);
                head = (head + count) % INFLIGHT;
                count = 0;
                failing = false;
                backoff_ms = backoff_ms ? backoff_ms * 2 : SC_SERVICE_BACKOFF_MIN_MS;
                if (backoff_ms > SC_SERVICE_BACKOFF_MAX_MS)
                    backoff_ms = SC_SERVICE_BACKOFF_MAX_MS;
                sc_service_backoff(backoff_ms);
                break;
            }
            sc_service_retire_ok(svc, b);
            sc_consumer_release(b->msgs, b->n);
            b->n = 0;
            head = (head + 1) % INFLIGHT;
            count--;
            backoff_ms = 0;
        }
        if (count == INFLIGHT || (count > 0 && (failing || sc_lifecycle_stopping()))) {
            /* Full, failing or draining: wait for the oldest batch's reports. Later
             * batches are not processed past a failed one, so a customer's posts keep
             * their order. */
            if (svc->flush && svc->flush(opaque))
                continue;
            sc_producer_poll(svc->producer, 5);
            continue;
        }
        if (sc_lifecycle_stopping())
            break;

        struct sc_inflight *b = &ring[(head + count) % INFLIGHT];
        b->n = sc_consumer_poll_batch(svc->consumer, b->msgs, svc->batch_max,
                                      count > 0 ? 0 : SC_SERVICE_POLL_MS);
        if (b->n == 0) {
            if (count > 0 && svc->flush && svc->flush(opaque))
                continue;
            if (count > 0)
                sc_producer_poll(svc->producer, 1);
            else if (idle)
                (void)idle(opaque);
            continue;
        }
        b->t0 = sc_now_ms();
        b->delivery.pending = 0;
        b->delivery.failed = 0;
        b->delivery.last_err = 0;
        b->rc = batch(opaque, b->msgs, b->n, &b->delivery);
        failing = b->rc != 0;
        count++;
    }
    for (size_t i = 0; i < INFLIGHT; i++)
        sc_free(ring[i].msgs);

    sc_log(SC_LOG_INFO, "MAIN", "stopping: draining in-flight work");
    int64_t deadline = sc_now_ms() + svc->common->drain_timeout_ms;
    if (svc->consumer && sc_consumer_commit(svc->consumer, true) != 0)
        sc_log(SC_LOG_WARNING, "KAFKA", "final commit failed");
    int remaining = (int)(deadline - sc_now_ms());
    rd_kafka_resp_err_t ferr =
        rd_kafka_flush(sc_producer_handle(svc->producer), remaining > 0 ? remaining : 0);
    if (ferr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        sc_log(SC_LOG_WARNING, "KAFKA", "drain timed out with messages still queued");
        return SC_ETIMEDOUT;
    }
    return 0;
}

void sc_service_cleanup(struct sc_service *svc)
{
    sc_http_free(svc->http);
    svc->http = NULL;
    sc_consumer_free(svc->consumer);
    svc->consumer = NULL;
    sc_producer_free(svc->producer, (int)svc->common->drain_timeout_ms);
    svc->producer = NULL;
    sc_redis_free(svc->redis);
    svc->redis = NULL;
    sc_metrics_free(svc->metrics);
    svc->metrics = NULL;
}
