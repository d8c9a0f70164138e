/* Kafka adapters over librdkafka: an idempotent producer whose deliveries can be awaited
 * in groups, and a consumer-group member that processes in batches and stores a message's
 * offset only after every message produced for it was acknowledged (at-least-once;
 * consumers are idempotent). librdkafka's logs go to sc_log, its statistics feed metrics
 * (consumer lag per partition, producer queue depth), and any KAFKA_* passthrough
 * property is applied last. */
#ifndef SC_KAFKA_H
#define SC_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <librdkafka/rdkafka.h>

#include "config.h"
#include "error.h"
#include "metrics.h"

struct sc_kafka_conf {
    const char *brokers;   /* bootstrap.servers */
    const char *client_id; /* e.g. "socialcare-classifier" */
    /* Passthrough properties, applied after our defaults. A property librdkafka documents
     * for the other client type only (e.g. fetch.wait.max.ms on a producer) is skipped;
     * an unknown name or an invalid value fails the constructor, naming the property. */
    const struct sc_kv *props;
    size_t n_props;
    struct sc_metrics *metrics; /* may be NULL */
};

/* ------------------------------------------------------------------ producer */

struct sc_producer;

/* A group of sends awaited together (e.g. everything produced for one consumed batch).
 * Zero-initialise (`struct sc_delivery d = {0};`); do not write the fields while sends
 * are pending. The fields are C11 atomics: plain reads are atomic loads. */
struct sc_delivery {
    _Atomic int pending;  /* sends not yet reported */
    _Atomic int failed;   /* sends reported failed */
    _Atomic int last_err; /* rd_kafka_resp_err_t of the last failure */
};

/* @brief Creates an idempotent producer (acks=all, lz4, small linger).
 * @returns a new producer, or NULL with errstr (a bad passthrough property names it). */
struct sc_producer *sc_producer_new(const struct sc_kafka_conf *conf, char *errstr,
                                    size_t errstr_size);

/* @brief Queues one message. key may be NULL. headers (may be NULL) is owned by the
 * producer on success and stays the caller's on failure. delivery (may be NULL) counts
 * it. When the local queue is full it serves delivery reports and retries for a while.
 * @returns 0, SC_EAGAIN (queue still full) or SC_EINVAL (unknown topic, too large, ...).
 */
int sc_producer_send(struct sc_producer *producer, const char *topic, const void *key,
                     size_t key_len, const void *value, size_t value_len,
                     rd_kafka_headers_t *headers, struct sc_delivery *delivery) SC_WUR;

/* @brief Sends `value` (the original bytes) to the dead-letter topic with headers
 *        reason, service, source.topic, source.partition, source.offset (when src !=
 * NULL). reason should start with a short class ("invalid_json: ..."); the header keeps
 *        its first 256 bytes. key = src's key. Counts socialcare_dead_lettered_total
 *        {service,reason}, where the label is the class (the text before the first ':').
 * @returns as sc_producer_send. */
int sc_producer_dead_letter(struct sc_producer *producer, const char *dlq_topic,
                            const char *service, const char *reason,
                            const rd_kafka_message_t *src, const void *value,
                            size_t value_len, struct sc_delivery *delivery) SC_WUR;

/* @brief Serves delivery reports until delivery->pending is 0 or timeout_ms passes.
 * @returns 0 when all were delivered, SC_EIO when any failed, SC_ETIMEDOUT. */
int sc_producer_wait(struct sc_producer *producer, struct sc_delivery *delivery,
                     int timeout_ms) SC_WUR;

/* @brief Serves delivery reports and statistics (call regularly from the owner's loop).
 */
void sc_producer_poll(struct sc_producer *producer, int timeout_ms);

/* @brief True when at least one broker connection is up (from statistics/errors). */
bool sc_producer_healthy(const struct sc_producer *producer);

/* @brief Flushes (up to timeout_ms) and destroys; NULL is fine. */
void sc_producer_free(struct sc_producer *producer, int timeout_ms);

rd_kafka_t *sc_producer_handle(struct sc_producer *producer);

/* @brief Fetches the metadata of the topics this producer will write, so the first
 * message does not wait for a lookup (about 0.5 s per topic otherwise), and reports a
 * topic that does not exist.
 * @returns 0, SC_ENOENT (a topic is missing) or SC_EIO (no answer in time). */
int sc_producer_warm(struct sc_producer *producer, const char *const *topics, size_t n,
                     int timeout_ms);

/* ------------------------------------------------------------------ consumer */

struct sc_consumer;

/* @brief Joins group_id and subscribes to topics (manual offset store, auto commit of
 * stored offsets, earliest reset, cooperative-sticky assignment).
 * @returns a new consumer, or NULL with errstr. */
struct sc_consumer *sc_consumer_new(const struct sc_kafka_conf *conf,
                                    const char *group_id, const char *const *topics,
                                    size_t n_topics, char *errstr, size_t errstr_size);

/* @brief Waits up to timeout_ms for a first message, then takes what is ready, up to max.
 *        Errors and partition EOFs are handled (logged, counted) and not returned.
 * @returns the number of messages stored in msgs (each owned by the caller: release with
 *          sc_consumer_release). */
size_t sc_consumer_poll_batch(struct sc_consumer *consumer, rd_kafka_message_t **msgs,
                              size_t max, int timeout_ms);

/* @brief Stores, per partition, the offset after the last message of the batch;
 * librdkafka commits stored offsets every auto.commit.interval.ms and at revoke and
 * close. Call it only after everything produced for the batch was acknowledged.
 * @returns 0, or SC_EIO when some partition could not be stored (e.g. it was revoked
 *          in the meantime: its new owner consumes those messages again); logged. */
int sc_consumer_store(struct sc_consumer *consumer, rd_kafka_message_t *const *msgs,
                      size_t n) SC_WUR;

/* @brief Seeks every partition of the batch back to its first message in the batch, so
 * the batch is consumed again (used when a produce or Redis step failed).
 * @returns 0 or SC_EIO. */
int sc_consumer_rewind(struct sc_consumer *consumer, rd_kafka_message_t *const *msgs,
                       size_t n) SC_WUR;

/* @brief Commits stored offsets now (synchronously when sync). @returns 0 or SC_EIO. */
int sc_consumer_commit(struct sc_consumer *consumer, bool sync);

/* @brief Destroys the messages of a batch. */
void sc_consumer_release(rd_kafka_message_t **msgs, size_t n);

/* @brief Number of partitions assigned now (thread-safe). */
int sc_consumer_assigned(const struct sc_consumer *consumer);

/* @brief True when at least one broker connection is up (thread-safe). */
bool sc_consumer_healthy(const struct sc_consumer *consumer);

/* @brief Commits stored offsets, leaves the group and destroys; NULL is fine. */
void sc_consumer_free(struct sc_consumer *consumer);

/* ------------------------------------------------------------------ helpers */

/* @brief Value of a header by name as a new NUL-terminated string, or NULL. */
char *sc_kafka_header(const rd_kafka_message_t *msg, const char *name);

#endif
