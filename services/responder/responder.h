/* The responder's shared state and its two halves: the engine (engine.c) that turns
 * replies from replies.outbound and the deferred queue into platform sends, ledger
 * entries and delivery receipts, and the agent API (api.c) served on the HTTP thread.
 * main.c loads the configuration and wires them to the service loop. */
#ifndef RESPONDER_RESPONDER_H
#define RESPONDER_RESPONDER_H

#include <stdbool.h>
#include <stdint.h>

#include "platform.h"
#include "policy.h"
#include "ratelimit.h"
#include "service.h"

#define RESPONDER_SENT_TTL_S    2592000 /* the ledger keeps ids for 30 days */
#define RESPONDER_MARKER_TTL_S  86400   /* sending: markers */
#define RESPONDER_DEFERRED_KEY  "{responder}:deferred"
#define RESPONDER_DEFERRED_DATA "{responder}:deferred:data"
#define RESPONDER_HELD_KEY      "{responder}:held"

struct responder_config {
    struct sc_common_config common; /* first: see sc_config_load */
    char *reply_endpoint;
    char *webhook_secret;
    long long reply_timeout_ms;
    long long reply_max_attempts;
    long long reply_max_connections;
    char *mastodon_url;
    char *mastodon_token;
    long long mastodon_max_chars;
    char *x_api_url;
    char *x_token;
    char *bluesky_url;
    char *bluesky_identifier;
    char *bluesky_password;
    char *accounts_file;
    long long thread_max_parts;
    int rate_limits;
    double rate_account_per_min;
    double rate_webhook_per_min;
    long long rate_account_burst;
    double rate_customer_per_min;
    long long rate_customer_burst;
    char *api_token;
    long long defer_lease_ms;
    long long batch_deferred;
};

struct responder {
    struct sc_service svc;
    struct responder_config conf;
    struct platform_client *client;
    struct sc_redis_batch *batch;
    struct sc_redis *api_redis; /* the HTTP thread's own connection */
    struct platform_account accounts[POLICY_PLATFORM_COUNT]; /* the default ones */
    struct platform_account *extra; /* REPLY_ACCOUNTS_FILE: named "x:support", ... */
    size_t n_extra;
    /* whether accounts[p] is the platform's own API (else the generic webhook) */
    bool native[POLICY_PLATFORM_COUNT];
    char *bluesky_jwt, *bluesky_did;
    struct policy_limits limits;
    struct ratelimit_conf rl;
    struct sc_redis_script gcra, pause, defer, claim, take_held;
    struct sc_metric *m_replies;  /* socialcare_responder_replies_total{status} */
    struct sc_metric *m_attempts; /* socialcare_responder_send_attempts_total{verdict} */
    struct sc_metric *m_deferred; /* socialcare_responder_deferred_total{reason} */
    struct sc_metric *m_held;     /* socialcare_responder_held_total{reason} */
    struct sc_metric *m_tokens;   /* socialcare_responder_ratelimit_tokens{account} */
    struct sc_metric *m_paused; /* socialcare_responder_ratelimit_pauses_total{account} */
    struct sc_metric *m_api;    /* socialcare_responder_api_requests_total{op,result} */
    unsigned long long api_seq;
    int64_t last_claim_ms;             /* main thread */
    struct responder_scratch *scratch; /* engine buffers and threads */
};

/* @brief The account a reply on this platform (event name) goes through: the named
 * account "<platform>:<account>" from REPLY_ACCOUNTS_FILE when account is non-empty and
 * configured, else the platform's default account (or the webhook). */
const struct platform_account *
responder_account(const struct responder *rs, const char *platform, const char *account);

/* @brief True when account (the reply's "account" field) is NULL, empty, or a
 * configured account of platform (event name). */
bool responder_account_known(const struct responder *rs, const char *platform,
                             const char *account);

/* @brief Loads REPLY_ACCOUNTS_FILE into rs->extra (see main.c). @returns 0, or SC_EINVAL
 * with errstr. */
int responder_load_accounts(struct responder *rs, char *errstr, size_t errstr_size);

/* @brief Frees rs->extra. */
void responder_free_accounts(struct responder *rs);

/* @brief Policy input of a reply event (strings borrowed from reply). */
void responder_policy_input(const struct responder *rs, const json_t *reply,
                            struct policy_input *in);

/* @brief Service batch callback: replies.outbound messages plus due deferred replies. */
int responder_batch(void *opaque, rd_kafka_message_t **msgs, size_t n,
                    struct sc_delivery *delivery);

/* @brief Starts the engine's sender and recorder threads (each with its own Redis
 * connection): a batch is decided on the service thread, then sent and recorded on
 * those while the service thread decides the next. @returns 0, or an error with errstr.
 */
int responder_engine_start(struct responder *rs, char *errstr, size_t errstr_size);

/* @brief Stops the engine's threads (after sc_service_run returned: nothing is in
 * flight) and frees its buffers. */
void responder_engine_free(struct responder *rs);

/* @brief Service idle callback: re-drives due deferred replies. */
int responder_idle(void *opaque);

/* @brief Publishes a receipt on replies.delivered (any thread: the producer is shared).
 */
int responder_publish_receipt(struct responder *rs, const json_t *reply,
                              const char *status, const char *post_id, int attempts,
                              const char *error, struct sc_delivery *delivery);

/* @brief Adds the agent API routes. @returns 0 or SC_EINVAL. */
int responder_api_routes(struct responder *rs);

#endif
