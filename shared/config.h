/* Configuration from environment variables (12-factor), described by one static table per
 * service. Each item names its variable, type, default, range and help, and the offset of
 * the field it fills in the service's config struct. String items may also be given as
 * NAME_FILE (the file's contents, trailing newline stripped), as Kubernetes mounts
 * secrets. Any variable KAFKA_<PROPERTY> that is not an item passes through to librdkafka
 * as <property> (lower case,
 * '_' -> '.'), e.g. KAFKA_SECURITY_PROTOCOL -> security.protocol. */
#ifndef SC_CONFIG_H
#define SC_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"

enum sc_config_type {
    SC_CFG_STRING, /* char * (owned by the struct, freed by sc_config_cleanup) */
    SC_CFG_SECRET, /* like STRING, but never printed; NAME_FILE is the usual way to set it
                    */
    SC_CFG_INT,    /* long long, checked against [min, max] */
    SC_CFG_BOOL,   /* int 0/1 from true/false/1/0/yes/no/on/off */
    SC_CFG_DOUBLE, /* double, checked against [min, max] */
    SC_CFG_TYPE_COUNT
};

struct sc_config_item {
    const char *name; /* environment variable, e.g. "KAFKA_BROKERS" */
    enum sc_config_type type;
    const char *def;  /* default as text; NULL means required */
    double min, max;  /* range for INT and DOUBLE (ignored when min > max) */
    const char *help; /* one line for --help */
    size_t offset;    /* offsetof(service struct, field) */
};

/* A librdkafka property collected from KAFKA_* variables. */
struct sc_kv {
    char *key;
    char *value;
};

/* Settings every service has; embed as the member `common` of the service's struct and
 * list SC_CONFIG_COMMON_ITEMS(type) in its table. The `common` member must be the FIRST
 * member of the service's struct: sc_config_load finds it at offset 0 (and checks that
 * the table's KAFKA_BROKERS and DRAIN_TIMEOUT_MS items agree with that). */
struct sc_common_config {
    char *kafka_brokers;
    char *kafka_group_id;
    char *redis_url;
    long long http_port;
    char *http_bind;
    char *log_level;
    char *topic_posts_inbound;
    char *topic_posts_classified;
    char *topic_replies_outbound;
    char *topic_replies_delivered;
    char *topic_cases_events;
    char *topic_dlq;
    long long drain_timeout_ms;
    struct sc_kv *kafka_props; /* KAFKA_* passthrough, filled by sc_config_load */
    size_t n_kafka_props;
};

/* clang-format off */
#define SC_CONFIG_COMMON_ITEMS(type, group)                                                  \
    {"KAFKA_BROKERS", SC_CFG_STRING, "127.0.0.1:9092", 0, -1,                                \
     "Kafka bootstrap servers (host:port,...)",                                              \
     offsetof(type, common.kafka_brokers)},                                                  \
        {"KAFKA_GROUP_ID", SC_CFG_STRING, group, 0, -1, "Kafka consumer group id",           \
         offsetof(type, common.kafka_group_id)},                                             \
        {"REDIS_URL", SC_CFG_SECRET, "redis://127.0.0.1:6379/0",  0, -1,                     \
         "Redis URL redis://[:password@]host:port[/db] (may hold a password: REDIS_URL_FILE)",\
         offsetof(type, common.redis_url)},                                                  \
        {"HTTP_PORT", SC_CFG_INT, "8080", 0, 65535,                                          \
         "Port of the HTTP server (/metrics, /healthz, /readyz, API); 0 picks a free one",   \
         offsetof(type, common.http_port)},                                                  \
        {"HTTP_BIND", SC_CFG_STRING, "", 0, -1,                                              \
         "Address the HTTP server binds (empty = all interfaces, e.g. 127.0.0.1)",           \
         offsetof(type, common.http_bind)},                                                  \
        {"LOG_LEVEL", SC_CFG_STRING, "info", 0, -1,                                          \
         "debug, info, notice, warning, error or crit", offsetof(type, common.log_level)},   \
        {"TOPIC_POSTS_INBOUND", SC_CFG_STRING, "posts.inbound", 0, -1,                       \
         "Topic of normalised posts", offsetof(type, common.topic_posts_inbound)},           \
        {"TOPIC_POSTS_CLASSIFIED", SC_CFG_STRING, "posts.classified", 0, -1,                 \
         "Topic of classified posts", offsetof(type, common.topic_posts_classified)},        \
        {"TOPIC_REPLIES_OUTBOUND", SC_CFG_STRING, "replies.outbound", 0, -1,                 \
         "Topic of replies to send", offsetof(type, common.topic_replies_outbound)},         \
        {"TOPIC_REPLIES_DELIVERED", SC_CFG_STRING, "replies.delivered", 0, -1,               \
         "Topic of reply outcomes", offsetof(type, common.topic_replies_delivered)},         \
        {"TOPIC_CASES_EVENTS", SC_CFG_STRING, "cases.events", 0, -1,                         \
         "Topic of case events", offsetof(type, common.topic_cases_events)},                 \
        {"TOPIC_DLQ", SC_CFG_STRING, "pipeline.dlq", 0, -1,                                  \
         "Dead-letter topic (poison input with its reason)", offsetof(type, common.topic_dlq)},\
    {                                                                                        \
        "DRAIN_TIMEOUT_MS", SC_CFG_INT, "10000", 100, 600000,                                \
            "On SIGTERM, how long to finish in-flight work before exiting",                  \
            offsetof(type, common.drain_timeout_ms)                                          \
    }
/* clang-format on */

/* @brief Fills base (a service struct) from the environment by the table: defaults, then
 * the variable, then NAME_FILE for string items; validates types and ranges, and collects
 *        KAFKA_* passthrough properties when the table has a `common` (has_common != 0).
 *        With has_common, base must start with `struct sc_common_config common` (first
 *        member), the table must hold SC_CONFIG_COMMON_ITEMS, and LOG_LEVEL is validated;
 *        KAFKA_<X>_FILE passes <x> through with the file's contents.
 * @returns 0, or SC_EINVAL with errstr naming the variable and what is wrong (never the
 * value of a SECRET item). base must be zeroed (or cleaned up) beforehand.
 * @remark On failure, what was filled is still released by sc_config_cleanup. */
int sc_config_load(const struct sc_config_item *items, size_t n_items, void *base,
                   int has_common, char *errstr, size_t errstr_size) SC_WUR;

/* @brief Frees the strings and passthrough list that sc_config_load stored in base and
 * sets the pointers to NULL, so calling it twice is harmless. */
void sc_config_cleanup(const struct sc_config_item *items, size_t n_items, void *base,
                       int has_common);

/* @brief Prints usage: every variable with type, default, range and help, and the KAFKA_*
 *        passthrough rule. */
void sc_config_print_help(FILE *out, const char *program, const char *summary,
                          const struct sc_config_item *items, size_t n_items);

/* @brief Logs the effective configuration at info level; secrets are shown as "(set)". */
void sc_config_log(const struct sc_config_item *items, size_t n_items, const void *base);

/* @brief Handles the common command line: --help prints usage and returns 1 (caller exits
 * 0),
 *        --check-config sets *check_only, an unknown argument returns -1 after a message.
 * @returns 0 to go on, 1 to exit 0, -1 to exit 2. */
int sc_config_args(int argc, char **argv, const char *summary,
                   const struct sc_config_item *items, size_t n_items, int *check_only);

#endif
