/* Kafka adapters over librdkafka. Both client kinds share one piece of state (struct
 * sc_kafka_common) that the librdkafka callbacks reach through the handle's opaque: it
 * routes librdkafka's logs into sc_log, tracks broker health from errors and statistics,
 * and feeds the Kafka metrics. The producer counts deliveries into caller-owned groups
 * (struct sc_delivery) from its delivery-report callback; the consumer assigns partitions
 * in its rebalance callback (eager or cooperative), commits stored offsets before giving
 * partitions up, and stores offsets only when the caller says a batch is done. The
 * invariants are described in docs/internals/KAFKA.md. */
#include "kafka.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "alloc.h"
#include "log.h"

#define SC_KAFKA_QUEUE_FULL_RETRY_MS 5000 /* how long sc_producer_send waits for room */
#define SC_KAFKA_QUEUE_FULL_POLL_MS  50
#define SC_KAFKA_REASON_MAX          256 /* bytes of the dead-letter "reason" header */
#define SC_KAFKA_REASON_CLASS_MAX    48 /* bytes of the reason label of the DLQ counter */
#define SC_KAFKA_SEEK_TIMEOUT_MS     5000

/* ------------------------------------------------------------------ common */

/* State shared with librdkafka's callbacks (the handle's opaque). */
struct sc_kafka_common {
    bool is_consumer;
    atomic_bool healthy; /* a broker connection is up, as far as we know */
    struct sc_metrics *metrics;
    /* Families (NULL without a registry; sc_metric_* ignore NULL). */
    struct sc_metric *m_produced;       /* counter {topic} */
    struct sc_metric *m_delivery_fail;  /* counter {topic} */
    struct sc_metric *m_dead_lettered;  /* counter {service,reason} */
    struct sc_metric *m_queue;          /* gauge */
    struct sc_metric *m_consumed;       /* counter {topic} */
    struct sc_metric *m_consume_errors; /* counter {error} */
    struct sc_metric *m_lag;            /* gauge {topic,partition} */
    struct sc_metric *m_assigned;       /* gauge */
};

struct sc_producer {
    rd_kafka_t *rk;
    struct sc_kafka_common common;
};

struct sc_consumer {
    rd_kafka_t *rk;
    struct sc_kafka_common common;
    atomic_int assigned;     /* partitions assigned now */
    atomic_bool ever_synced; /* the group gave it an assignment at least once */
};

/* Longest wait for the group to take the partitions back at shutdown, and how long no
 * rebalance event must have come before the close (see sc_consumer_leave). */
#define SC_CONSUMER_LEAVE_MS 10000
#define SC_CONSUMER_QUIET_MS 100

/* Consumers left to process exit (see sc_consumer_free), kept reachable. */
static struct sc_consumer *sc_consumer_parked[8];
static atomic_int sc_consumer_n_parked;

static long long sc_kafka_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Maps a syslog level from librdkafka (0..7) onto ours (which starts at crit). */
static int sc_kafka_map_level(int level)
{
    if (level <= SC_LOG_CRIT)
        return SC_LOG_CRIT;
    if (level > SC_LOG_DEBUG)
        return SC_LOG_DEBUG;
    return level;
}

static void sc_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                            const char *buf)
{
    int lvl = sc_kafka_map_level(level);
    if (lvl > sc_log_level_current)
        return;
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s %s: %s", rk ? rd_kafka_name(rk) : "rdkafka",
             fac ? fac : "-", buf ? buf : "");
    sc_log_raw(lvl, "KAFKA", msg);
}

static void sc_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct sc_kafka_common *common = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_resp_err_t ferr = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        atomic_store(&common->healthy, false);
        sc_log(SC_LOG_CRIT, "KAFKA", "%s fatal error %s: %s", rd_kafka_name(rk),
               rd_kafka_err2name(ferr), fatal);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        atomic_store(&common->healthy, false);
        sc_log(SC_LOG_ERR, "KAFKA", "%s all brokers down: %s", rd_kafka_name(rk),
               reason ? reason : "");
        return;
    }
    sc_log(SC_LOG_WARNING, "KAFKA", "%s error %s: %s", rd_kafka_name(rk),
           rd_kafka_err2name((rd_kafka_resp_err_t)err), reason ? reason : "");
}

/* Statistics: broker health, per-partition consumer lag, producer queue depth. */
static int sc_kafka_stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    struct sc_kafka_common *common = opaque;
    json_error_t jerr;
    json_t *root = json_loadb(json, json_len, 0, &jerr);
    if (!root) {
        sc_log(SC_LOG_WARNING, "KAFKA", "%s statistics not parsed: %s", rd_kafka_name(rk),
               jerr.text);
        return 0;
    }

    bool up = false;
    const char *bname;
    json_t *broker;
    json_object_foreach(json_object_get(root, "brokers"), bname, broker)
    {
        const char *source = json_string_value(json_object_get(broker, "source"));
        const char *state = json_string_value(json_object_get(broker, "state"));
        if (source && !strcmp(source, "internal"))
            continue;
        if (state && !strcmp(state, "UP"))
            up = true;
    }
    atomic_store(&common->healthy, up);

    if (common->is_consumer && common->m_lag) {
        sc_metric_reset(common->m_lag);
        const char *tname;
        json_t *topic;
        json_object_foreach(json_object_get(root, "topics"), tname, topic)
        {
            const char *pname;
            json_t *part;
            json_object_foreach(json_object_get(topic, "partitions"), pname, part)
            {
                json_int_t pid = json_integer_value(json_object_get(part, "partition"));
                json_t *jlag = json_object_get(part, "consumer_lag");
                if (pid < 0 || !json_is_integer(jlag) || json_integer_value(jlag) < 0)
                    continue;
                char pbuf[24];
                snprintf(pbuf, sizeof(pbuf), "%" JSON_INTEGER_FORMAT, pid);
                sc_metric_set(common->m_lag, SC_LABELS(tname, pbuf),
                              (double)json_integer_value(jlag));
            }
        }
    } else if (!common->is_consumer) {
        json_t *cnt = json_object_get(root, "msg_cnt");
        if (json_is_integer(cnt))
            sc_metric_set(common->m_queue, NULL, (double)json_integer_value(cnt));
    }
    json_decref(root);
    return 0; /* librdkafka frees json */
}

static void sc_kafka_common_init(struct sc_kafka_common *common,
                                 const struct sc_kafka_conf *conf, bool is_consumer)
{
    common->is_consumer = is_consumer;
    atomic_init(&common->healthy, false);
    common->metrics = conf->metrics;
    struct sc_metrics *m = conf->metrics;
    if (!m)
        return;
    if (is_consumer) {
        common->m_consumed =
            sc_metrics_counter(m, "socialcare_kafka_messages_consumed_total",
                               "Messages consumed from Kafka", "topic");
        common->m_consume_errors = sc_metrics_counter(
            m, "socialcare_kafka_consume_errors_total",
            "Errors reported by the Kafka consumer (partition EOF excluded)", "error");
        common->m_lag = sc_metrics_gauge(
            m, "socialcare_kafka_consumer_lag_messages",
            "Messages between the partition end and the committed offset",
            "topic,partition");
        common->m_assigned =
            sc_metrics_gauge(m, "socialcare_kafka_assigned_partitions",
                             "Partitions assigned to this consumer", NULL);
    } else {
        common->m_produced =
            sc_metrics_counter(m, "socialcare_kafka_messages_produced_total",
                               "Messages acknowledged by Kafka", "topic");
        common->m_delivery_fail =
            sc_metrics_counter(m, "socialcare_kafka_delivery_failures_total",
                               "Messages Kafka failed to acknowledge", "topic");
        common->m_dead_lettered =
            sc_metrics_counter(m, "socialcare_dead_lettered_total",
                               "Inputs sent to the dead-letter topic", "service,reason");
        common->m_queue =
            sc_metrics_gauge(m, "socialcare_kafka_producer_queue_messages",
                             "Messages waiting in the producer queue", NULL);
    }
}

/* ------------------------------------------------------------------ configuration */

/* One row of librdkafka's property table: name and client type ('C', 'P' or '*'). */
struct sc_kafka_prop_kind {
    char name[64];
    char kind;
};

/* Reads librdkafka's own property table (rd_kafka_conf_properties_show) to learn which
 * properties are consumer-only or producer-only. @returns a new array; *n its length. */
static struct sc_kafka_prop_kind *sc_kafka_prop_kinds(size_t *n)
{
    *n = 0;
    char *text = NULL;
    size_t text_len = 0;
    FILE *fp = open_memstream(&text, &text_len);
    if (!fp)
        return NULL;
    rd_kafka_conf_properties_show(fp);
    fclose(fp);

    size_t cap = 64;
    struct sc_kafka_prop_kind *kinds = sc_calloc(cap, sizeof(*kinds));
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *bar = strchr(line, '|');
        if (!bar || line[0] == '-' || line[0] == '#')
            continue;
        char *name_end = bar;
        while (name_end > line && name_end[-1] == ' ')
            name_end--;
        size_t name_len = (size_t)(name_end - line);
        char *kind = bar + 1;
        while (*kind == ' ')
            kind++;
        if (name_len == 0 || name_len >= sizeof(kinds[0].name) ||
            (*kind != 'C' && *kind != 'P' && *kind != '*') || kind[1] == '/')
            continue; /* the header row ("C/P") and anything unexpected */
        if (*n == cap) {
            cap *= 2;
            kinds = sc_realloc(kinds, cap * sizeof(*kinds));
        }
        memcpy(kinds[*n].name, line, name_len);
        kinds[*n].name[name_len] = '\0';
        kinds[*n].kind = *kind;
        (*n)++;
    }
    free(text); /* allocated by open_memstream */
    return kinds;
}

/* Sets one property, naming it (never its value, which may be a secret) on failure. */
static int sc_kafka_conf_set(rd_kafka_conf_t *kconf, const char *name, const char *value,
                             char *errstr, size_t errstr_size)
{
    char rderr[512];
    rd_kafka_conf_res_t res = rd_kafka_conf_set(kconf, name, value, rderr, sizeof(rderr));
    if (res == RD_KAFKA_CONF_OK)
        return 0;
    if (res == RD_KAFKA_CONF_UNKNOWN)
        snprintf(errstr, errstr_size, "unknown Kafka property \"%s\"", name);
    else
        snprintf(errstr, errstr_size, "invalid value for Kafka property \"%s\"", name);
    return SC_EINVAL;
}

/* Builds a configuration: log/error/statistics callbacks, bootstrap servers, client id,
 * the given defaults, then the passthrough properties (skipping, with a debug line, those
 * that librdkafka documents for the other client type). @returns a new conf, or NULL +
 * errstr. */
static rd_kafka_conf_t *sc_kafka_conf_build(const struct sc_kafka_conf *conf,
                                            struct sc_kafka_common *common,
                                            const char *const (*defaults)[2],
                                            size_t n_defaults, char *errstr,
                                            size_t errstr_size)
{
    rd_kafka_conf_t *kconf = rd_kafka_conf_new();
    rd_kafka_conf_set_opaque(kconf, common);
    rd_kafka_conf_set_log_cb(kconf, sc_kafka_log_cb);
    rd_kafka_conf_set_error_cb(kconf, sc_kafka_error_cb);
    rd_kafka_conf_set_stats_cb(kconf, sc_kafka_stats_cb);

    /* socket.nagle.disable: librdkafka leaves Nagle's algorithm on, and a small produce
     * or fetch request then waits for the peer's delayed ACK (~40 ms on Linux): the
     * stalls measured on every hop at a few thousand posts/s
     * (docs/benchmarks/pipeline.md). A KAFKA_SOCKET_NAGLE_DISABLE setting still overrides
     * it. */
    if (sc_kafka_conf_set(kconf, "statistics.interval.ms", "5000", errstr, errstr_size) ||
        sc_kafka_conf_set(kconf, "socket.nagle.disable", "true", errstr, errstr_size) ||
        (conf->brokers && sc_kafka_conf_set(kconf, "bootstrap.servers", conf->brokers,
                                            errstr, errstr_size)) ||
        (conf->client_id &&
         sc_kafka_conf_set(kconf, "client.id", conf->client_id, errstr, errstr_size)))
        goto fail;
    for (size_t i = 0; i < n_defaults; i++)
        if (sc_kafka_conf_set(kconf, defaults[i][0], defaults[i][1], errstr, errstr_size))
            goto fail;

    if (conf->n_props > 0) {
        size_t n_kinds;
        struct sc_kafka_prop_kind *kinds = sc_kafka_prop_kinds(&n_kinds);
        char other = common->is_consumer ? 'P' : 'C';
        for (size_t i = 0; i < conf->n_props; i++) {
            const struct sc_kv *kv = &conf->props[i];
            bool skip = false;
            for (size_t k = 0; k < n_kinds; k++)
                if (!strcmp(kinds[k].name, kv->key)) {
                    skip = kinds[k].kind == other;
                    break;
                }
            if (skip) {
                sc_log(SC_LOG_DEBUG, "KAFKA",
                       "property %s is for %s only: not applied to %s", kv->key,
                       other == 'C' ? "consumers" : "producers",
                       conf->client_id ? conf->client_id : "this client");
                continue;
            }
            if (sc_kafka_conf_set(kconf, kv->key, kv->value, errstr, errstr_size)) {
                sc_free(kinds);
                goto fail;
            }
        }
        sc_free(kinds);
    }
    return kconf;

fail:
    rd_kafka_conf_destroy(kconf);
    return NULL;
}

/* ------------------------------------------------------------------ producer */

static void sc_producer_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct sc_kafka_common *common = opaque;
    struct sc_delivery *delivery = msg->_private;
    const char *topic = rd_kafka_topic_name(msg->rkt);
    if (msg->err) {
        sc_metric_inc(common->m_delivery_fail, SC_LABELS(topic));
        sc_log(SC_LOG_WARNING, "KAFKA", "%s delivery to %s [%" PRId32 "] failed: %s",
               rd_kafka_name(rk), topic, msg->partition, rd_kafka_err2str(msg->err));
    } else {
        sc_metric_inc(common->m_produced, SC_LABELS(topic));
        atomic_store(&common->healthy, true); /* a broker acknowledged */
    }
    if (!delivery)
        return;
    if (msg->err) {
        atomic_store(&delivery->last_err, (int)msg->err);
        atomic_fetch_add(&delivery->failed, 1);
    }
    /* Last: once pending reaches 0 the owner may free or reuse the group. */
    atomic_fetch_sub(&delivery->pending, 1);
}

struct sc_producer *sc_producer_new(const struct sc_kafka_conf *conf, char *errstr,
                                    size_t errstr_size)
{
    static const char *const defaults[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"compression.type", "lz4"},
        {"message.timeout.ms", "300000"},
    };
    struct sc_producer *producer = sc_calloc(1, sizeof(*producer));
    sc_kafka_common_init(&producer->common, conf, false);
    rd_kafka_conf_t *kconf =
        sc_kafka_conf_build(conf, &producer->common, defaults,
                            sizeof(defaults) / sizeof(defaults[0]), errstr, errstr_size);
    if (!kconf) {
        sc_free(producer);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(kconf, sc_producer_dr_cb);
    char rderr[512];
    producer->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, rderr, sizeof(rderr));
    if (!producer->rk) {
        snprintf(errstr, errstr_size, "Kafka producer: %s", rderr);
        rd_kafka_conf_destroy(kconf);
        sc_free(producer);
        return NULL;
    }
    return producer;
}

int sc_producer_send(struct sc_producer *producer, const char *topic, const void *key,
                     size_t key_len, const void *value, size_t value_len,
                     rd_kafka_headers_t *headers, struct sc_delivery *delivery)
{
    if (!key)
        key_len = 0;
    if (delivery)
        atomic_fetch_add(&delivery->pending, 1);
    long long deadline = sc_kafka_now_ms() + SC_KAFKA_QUEUE_FULL_RETRY_MS;
    rd_kafka_resp_err_t err;
    for (;;) {
        err = rd_kafka_producev(
            producer->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_VALUE((void *)value, value_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
            RD_KAFKA_V_OPAQUE(delivery), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || sc_kafka_now_ms() >= deadline)
            break;
        rd_kafka_poll(producer->rk, SC_KAFKA_QUEUE_FULL_POLL_MS);
    }
    if (!err)
        return 0;
    if (delivery)
        atomic_fetch_sub(&delivery->pending, 1);
    sc_log(SC_LOG_WARNING, "KAFKA", "%s produce to %s refused: %s",
           rd_kafka_name(producer->rk), topic, rd_kafka_err2str(err));
    return err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? SC_EAGAIN : SC_EINVAL;
}

/* Copies the reason's class (the text before the first ':', trimmed, at most out_size - 1
 * bytes of [A-Za-z0-9_.-]) into out; "unknown" when empty. */
static void sc_kafka_reason_class(const char *reason, char *out, size_t out_size)
{
    size_t n = 0;
    while (*reason == ' ')
        reason++;
    for (const char *p = reason; *p && *p != ':' && n + 1 < out_size; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
        out[n++] = ok ? c : '_';
    }
    while (n > 0 && out[n - 1] == '_')
        n--;
    out[n] = '\0';
    if (n == 0)
        snprintf(out, out_size, "unknown");
}

/* Length of s cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t sc_kafka_utf8_cut(const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len <= max)
        return len;
    len = max;
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
        len--;
    return len;
}

int sc_producer_dead_letter(struct sc_producer *producer, const char *dlq_topic,
                            const char *service, const char *reason,
                            const rd_kafka_message_t *src, const void *value,
                            size_t value_len, struct sc_delivery *delivery)
{
    if (!reason)
        reason = "unknown";
    if (!service)
        service = "unknown";
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(5);
    rd_kafka_header_add(hdrs, "reason", -1, reason,
                        (ssize_t)sc_kafka_utf8_cut(reason, SC_KAFKA_REASON_MAX));
    rd_kafka_header_add(hdrs, "service", -1, service, -1);
    const void *key = NULL;
    size_t key_len = 0;
    char src_topic[256] = "-", src_part[16] = "-", src_off[24] = "-";
    if (src) {
        snprintf(src_topic, sizeof(src_topic), "%s",
                 src->rkt ? rd_kafka_topic_name(src->rkt) : "");
        snprintf(src_part, sizeof(src_part), "%" PRId32, src->partition);
        snprintf(src_off, sizeof(src_off), "%" PRId64, src->offset);
        rd_kafka_header_add(hdrs, "source.topic", -1, src_topic, -1);
        rd_kafka_header_add(hdrs, "source.partition", -1, src_part, -1);
        rd_kafka_header_add(hdrs, "source.offset", -1, src_off, -1);
        key = src->key;
        key_len = src->key_len;
    }
    int rc = sc_producer_send(producer, dlq_topic, key, key_len, value, value_len, hdrs,
                              delivery);
    if (rc) {
        rd_kafka_headers_destroy(hdrs);
        return rc;
    }
    char rclass[SC_KAFKA_REASON_CLASS_MAX];
    sc_kafka_reason_class(reason, rclass, sizeof(rclass));
    sc_metric_inc(producer->common.m_dead_lettered, SC_LABELS(service, rclass));
    sc_log(SC_LOG_WARNING, "KAFKA",
           "dead-lettered input from %s [%s] at offset %s to %s: %s", src_topic, src_part,
           src_off, dlq_topic, rclass);
    return 0;
}

int sc_producer_wait(struct sc_producer *producer, struct sc_delivery *delivery,
                     int timeout_ms)
{
    long long deadline = sc_kafka_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
    while (atomic_load(&delivery->pending) > 0) {
        long long left = deadline - sc_kafka_now_ms();
        if (timeout_ms >= 0 && left <= 0)
            break;
        rd_kafka_poll(producer->rk, timeout_ms < 0 || left > 100 ? 100 : (int)left);
    }
    if (atomic_load(&delivery->pending) > 0)
        return SC_ETIMEDOUT;
    return atomic_load(&delivery->failed) > 0 ? SC_EIO : 0;
}

void sc_producer_poll(struct sc_producer *producer, int timeout_ms)
{
    rd_kafka_poll(producer->rk, timeout_ms);
}

bool sc_producer_healthy(const struct sc_producer *producer)
{
    return atomic_load(&producer->common.healthy);
}

void sc_producer_free(struct sc_producer *producer, int timeout_ms)
{
    if (!producer)
        return;
    rd_kafka_resp_err_t err = rd_kafka_flush(producer->rk, timeout_ms);
    if (err)
        sc_log(SC_LOG_WARNING, "KAFKA", "%s closing with %d message(s) not delivered: %s",
               rd_kafka_name(producer->rk), rd_kafka_outq_len(producer->rk),
               rd_kafka_err2str(err));
    rd_kafka_destroy(producer->rk);
    sc_free(producer);
}

rd_kafka_t *sc_producer_handle(struct sc_producer *producer)
{
    return producer->rk;
}

int sc_producer_warm(struct sc_producer *producer, const char *const *topics, size_t n,
                     int timeout_ms)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(producer->rk, topics[i], NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err =
            rd_kafka_metadata(producer->rk, 0, rkt, &md, timeout_ms);
        if (err) {
            sc_log(SC_LOG_WARNING, "KAFKA", "metadata of topic %s: %s", topics[i],
                   rd_kafka_err2str(err));
            rc = SC_EIO;
        } else if (md->topic_cnt != 1 || md->topics[0].err) {
            sc_log(SC_LOG_ERR, "KAFKA", "topic %s is not usable: %s", topics[i],
                   rd_kafka_err2str(md->topic_cnt ? md->topics[0].err
                                                  : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
            rc = SC_ENOENT;
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
    }
    return rc;
}

/* ------------------------------------------------------------------ consumer */

static void sc_consumer_set_assigned(struct sc_consumer *consumer, int n)
{
    atomic_store(&consumer->assigned, n);
    sc_metric_set(consumer->common.m_assigned, NULL, n);
}

/* Commits the stored offsets of the current assignment synchronously. @returns 0 or
 * SC_EIO. */
static int sc_consumer_commit_now(rd_kafka_t *rk, bool sync)
{
    rd_kafka_resp_err_t err = rd_kafka_commit(rk, NULL, !sync);
    if (!err || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return 0;
    sc_log(SC_LOG_WARNING, "KAFKA", "%s commit failed: %s", rd_kafka_name(rk),
           rd_kafka_err2str(err));
    return SC_EIO;
}

static void sc_consumer_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                     rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct sc_consumer *consumer =
        (struct sc_consumer *)((char *)opaque - offsetof(struct sc_consumer, common));
    const char *protocol = rd_kafka_rebalance_protocol(rk);
    bool coop = protocol && !strcmp(protocol, "COOPERATIVE");
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    int n = atomic_load(&consumer->assigned);

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        atomic_store(&consumer->ever_synced, true);
        if (coop) {
            error = rd_kafka_incremental_assign(rk, parts);
            n += parts->cnt;
        } else {
            aerr = rd_kafka_assign(rk, parts);
            n = parts->cnt;
        }
        atomic_store(&consumer->common.healthy, true); /* the coordinator answered */
        sc_log(SC_LOG_INFO, "KAFKA", "%s assigned %d partition(s) (%s), now %d",
               rd_kafka_name(rk), parts->cnt, coop ? "cooperative" : "eager", n);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        if (!rd_kafka_assignment_lost(rk))
            (void)sc_consumer_commit_now(rk, true);
        if (coop) {
            error = rd_kafka_incremental_unassign(rk, parts);
            n -= parts->cnt;
        } else {
            aerr = rd_kafka_assign(rk, NULL);
            n = 0;
        }
        sc_log(SC_LOG_INFO, "KAFKA", "%s revoked %d partition(s)%s, now %d",
               rd_kafka_name(rk), parts->cnt,
               rd_kafka_assignment_lost(rk) ? " (lost)" : "", n < 0 ? 0 : n);
    } else {
        sc_log(SC_LOG_ERR, "KAFKA", "%s rebalance failed: %s", rd_kafka_name(rk),
               rd_kafka_err2str(err));
        aerr = rd_kafka_assign(rk, NULL);
        n = 0;
    }
    if (error) {
        sc_log(SC_LOG_ERR, "KAFKA", "%s incremental (un)assign failed: %s",
               rd_kafka_name(rk), rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    if (aerr)
        sc_log(SC_LOG_ERR, "KAFKA", "%s assign failed: %s", rd_kafka_name(rk),
               rd_kafka_err2str(aerr));
    sc_consumer_set_assigned(consumer, n < 0 ? 0 : n);
}

struct sc_consumer *sc_consumer_new(const struct sc_kafka_conf *conf,
                                    const char *group_id, const char *const *topics,
                                    size_t n_topics, char *errstr, size_t errstr_size)
{
    const char *const defaults[][2] = {
        {"group.id", group_id},
        {"enable.auto.commit", "true"},
        {"auto.commit.interval.ms", "1000"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"enable.partition.eof", "false"},
    };
    if (!group_id || !*group_id || n_topics == 0) {
        snprintf(errstr, errstr_size, "Kafka consumer needs a group id and a topic");
        return NULL;
    }
    struct sc_consumer *consumer = sc_calloc(1, sizeof(*consumer));
    atomic_init(&consumer->assigned, 0);
    atomic_init(&consumer->ever_synced, false);
    sc_kafka_common_init(&consumer->common, conf, true);
    rd_kafka_conf_t *kconf =
        sc_kafka_conf_build(conf, &consumer->common, defaults,
                            sizeof(defaults) / sizeof(defaults[0]), errstr, errstr_size);
    if (!kconf) {
        sc_free(consumer);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(kconf, sc_consumer_rebalance_cb);
    char rderr[512];
    consumer->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, rderr, sizeof(rderr));
    if (!consumer->rk) {
        snprintf(errstr, errstr_size, "Kafka consumer: %s", rderr);
        rd_kafka_conf_destroy(kconf);
        sc_free(consumer);
        return NULL;
    }
    /* Errors, statistics and rebalances are all served by rd_kafka_consumer_poll. */
    rd_kafka_poll_set_consumer(consumer->rk);

    rd_kafka_topic_partition_list_t *subs =
        rd_kafka_topic_partition_list_new((int)n_topics);
    for (size_t i = 0; i < n_topics; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err) {
        snprintf(errstr, errstr_size, "Kafka subscribe: %s", rd_kafka_err2str(err));
        rd_kafka_destroy(consumer->rk);
        sc_free(consumer);
        return NULL;
    }
    sc_consumer_set_assigned(consumer, 0);
    return consumer;
}

/* Logs and counts a consumer error event (partition EOF is not an error). */
static void sc_consumer_error(struct sc_consumer *consumer, const rd_kafka_message_t *msg)
{
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return;
    sc_metric_inc(consumer->common.m_consume_errors,
                  SC_LABELS(rd_kafka_err2name(msg->err)));
    if (msg->rkt)
        sc_log(SC_LOG_WARNING, "KAFKA", "%s consume error on %s [%" PRId32 "]: %s",
               rd_kafka_name(consumer->rk), rd_kafka_topic_name(msg->rkt), msg->partition,
               rd_kafka_message_errstr(msg));
    else
        sc_log(SC_LOG_WARNING, "KAFKA", "%s consume error: %s",
               rd_kafka_name(consumer->rk), rd_kafka_message_errstr(msg));
}

size_t sc_consumer_poll_batch(struct sc_consumer *consumer, rd_kafka_message_t **msgs,
                              size_t max, int timeout_ms)
{
    size_t n = 0, run_start = 0;
    long long deadline = sc_kafka_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    while (n < max) {
        int wait = 0;
        if (n == 0) {
            long long left = deadline - sc_kafka_now_ms();
            wait = left > 0 ? (int)left : 0;
        }
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(consumer->rk, wait);
        if (!msg) {
            if (n == 0 && wait > 0)
                continue; /* served a callback early: keep waiting for the first */
            break;
        }
        if (msg->err) {
            sc_consumer_error(consumer, msg);
            rd_kafka_message_destroy(msg);
            continue;
        }
        msgs[n++] = msg;
    }
    /* Count per run of one topic (batches are usually one topic) to limit registry work.
     */
    for (size_t i = 1; i <= n; i++)
        if (i == n || msgs[i]->rkt != msgs[run_start]->rkt) {
            sc_metric_add(consumer->common.m_consumed,
                          SC_LABELS(rd_kafka_topic_name(msgs[run_start]->rkt)),
                          (double)(i - run_start));
            run_start = i;
        }
    if (n > 0)
        atomic_store(&consumer->common.healthy, true);
    return n;
}

/* Builds a list with one entry per topic/partition of the batch, holding the highest
 * offset
 * + 1 (highest) or the lowest offset (!highest). @returns a new list. */
static rd_kafka_topic_partition_list_t *
sc_consumer_batch_offsets(rd_kafka_message_t *const *msgs, size_t n, bool highest)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < n; i++) {
        const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
        int64_t off = highest ? msgs[i]->offset + 1 : msgs[i]->offset;
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(list, topic, msgs[i]->partition);
        if (!tp)
            rd_kafka_topic_partition_list_add(list, topic, msgs[i]->partition)->offset =
                off;
        else if (highest ? off > tp->offset : off < tp->offset)
            tp->offset = off;
    }
    return list;
}

/* Logs the per-partition errors of a list. @returns how many had one. */
static int sc_consumer_list_errors(struct sc_consumer *consumer, const char *what,
                                   const rd_kafka_topic_partition_list_t *list)
{
    int bad = 0;
    for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &list->elems[i];
        if (!tp->err)
            continue;
        bad++;
        sc_log(SC_LOG_NOTICE, "KAFKA", "%s %s %s [%" PRId32 "] at %" PRId64 " failed: %s",
               rd_kafka_name(consumer->rk), what, tp->topic, tp->partition, tp->offset,
               rd_kafka_err2str(tp->err));
    }
    return bad;
}

int sc_consumer_store(struct sc_consumer *consumer, rd_kafka_message_t *const *msgs,
                      size_t n)
{
    if (n == 0)
        return 0;
    rd_kafka_topic_partition_list_t *list = sc_consumer_batch_offsets(msgs, n, true);
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(consumer->rk, list);
    int bad = sc_consumer_list_errors(consumer, "offset store", list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err && !bad)
        sc_log(SC_LOG_WARNING, "KAFKA", "%s offset store failed: %s",
               rd_kafka_name(consumer->rk), rd_kafka_err2str(err));
    return err || bad ? SC_EIO : 0;
}

int sc_consumer_rewind(struct sc_consumer *consumer, rd_kafka_message_t *const *msgs,
                       size_t n)
{
    if (n == 0)
        return 0;
    rd_kafka_topic_partition_list_t *list = sc_consumer_batch_offsets(msgs, n, false);
    rd_kafka_error_t *error =
        rd_kafka_seek_partitions(consumer->rk, list, SC_KAFKA_SEEK_TIMEOUT_MS);
    int bad = sc_consumer_list_errors(consumer, "seek", list);
    rd_kafka_topic_partition_list_destroy(list);
    if (error) {
        sc_log(SC_LOG_WARNING, "KAFKA", "%s seek failed: %s", rd_kafka_name(consumer->rk),
               rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        return SC_EIO;
    }
    return bad ? SC_EIO : 0;
}

int sc_consumer_commit(struct sc_consumer *consumer, bool sync)
{
    return sc_consumer_commit_now(consumer->rk, sync);
}

void sc_consumer_release(rd_kafka_message_t **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_destroy(msgs[i]);
        msgs[i] = NULL;
    }
}

int sc_consumer_assigned(const struct sc_consumer *consumer)
{
    return atomic_load(&consumer->assigned);
}

bool sc_consumer_healthy(const struct sc_consumer *consumer)
{
    return atomic_load(&consumer->common.healthy);
}

/* Partitions this consumer holds according to librdkafka (-1 when it cannot tell). */
static int sc_consumer_held(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return -1;
    int n = parts->cnt;
    rd_kafka_topic_partition_list_destroy(parts);
    return n;
}

/* Leaves the group before the close: unsubscribes, then serves the revoke (and any
 * assignment that was already on its way) from this thread's own polls until nothing is
 * assigned and no rebalance event came for SC_CONSUMER_QUIET_MS, or timeout_ms passed.
 * librdkafka 2.0 can abort in rd_kafka_consumer_close when the group's close meets a
 * cooperative rebalance in flight (assertions in rd_kafka_cgrp_terminated, e.g. a
 * replica stopped right after another left the group); with the subscription already
 * gone and the partitions handed back, the close has no rebalance left to race.
 * Messages still delivered here are dropped unstored: the partitions' next owner reads
 * them again from the committed offsets. */
static void sc_consumer_leave(struct sc_consumer *consumer, int timeout_ms)
{
    rd_kafka_t *rk = consumer->rk;
    rd_kafka_resp_err_t err = rd_kafka_unsubscribe(rk);
    if (err) {
        sc_log(SC_LOG_WARNING, "KAFKA", "%s unsubscribe: %s", rd_kafka_name(rk),
               rd_kafka_err2str(err));
        return;
    }
    long long now = sc_kafka_now_ms();
    long long deadline = now + timeout_ms;
    long long quiet_since = now;
    int last = atomic_load(&consumer->assigned);
    while (now < deadline) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 20);
        if (msg)
            rd_kafka_message_destroy(msg);
        now = sc_kafka_now_ms();
        int n = atomic_load(&consumer->assigned);
        if (n != last) {
            last = n;
            quiet_since = now;
        }
        if (n == 0 && now - quiet_since >= SC_CONSUMER_QUIET_MS &&
            sc_consumer_held(rk) == 0)
            return;
    }
    sc_log(SC_LOG_WARNING, "KAFKA", "%s still held partitions %d ms after unsubscribing",
           rd_kafka_name(rk), timeout_ms);
}

void sc_consumer_free(struct sc_consumer *consumer)
{
    if (!consumer)
        return;
    /* librdkafka before 2.3 aborts (assertion `assignor_state` in
     * rd_kafka_sticky_assignor_state_destroy, librdkafka issue #4312) when a
     * cooperative-sticky consumer is closed before its first assignment — e.g. a replica
     * restarted and stopped again while the group still waits out the dead member's
     * session. Such a consumer has consumed and committed nothing: leave it to process
     * exit instead of aborting (kept reachable here; the coordinator drops the member
     * after its session timeout). */
    if (!atomic_load(&consumer->ever_synced)) {
        int k = atomic_fetch_add(&sc_consumer_n_parked, 1);
        if (k < (int)(sizeof(sc_consumer_parked) / sizeof(sc_consumer_parked[0]))) {
            sc_consumer_parked[k] = consumer;
            sc_log(SC_LOG_WARNING, "KAFKA",
                   "%s stopped before its first assignment: not closed (librdkafka "
                   "#4312 would abort); the group drops it after its session timeout",
                   rd_kafka_name(consumer->rk));
            return;
        }
    }
    (void)sc_consumer_commit_now(consumer->rk, true);
    sc_consumer_leave(consumer, SC_CONSUMER_LEAVE_MS);
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(consumer->rk);
    if (err)
        sc_log(SC_LOG_WARNING, "KAFKA", "%s close: %s", rd_kafka_name(consumer->rk),
               rd_kafka_err2str(err));
    sc_consumer_set_assigned(consumer, 0);
    rd_kafka_destroy(consumer->rk);
    sc_free(consumer);
}

/* ------------------------------------------------------------------ helpers */

char *sc_kafka_header(const rd_kafka_message_t *msg, const char *name)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *value = NULL;
    size_t size = 0;
    if (rd_kafka_message_headers(msg, &hdrs) || !hdrs ||
        rd_kafka_header_get_last(hdrs, name, &value, &size))
        return NULL;
    return value ? sc_strndup(value, size) : sc_strdup("");
}
