/* socialcare-responder: sends the replies on replies.outbound through the platforms'
 * APIs (Mastodon, X, Bluesky, or a generic signed webhook for any platform whose API is
 * not configured) exactly once, within each platform's length rules and the shared rate
 * limits, holds risky replies for review, suppresses automatic ones in quiet mode, and
 * reports each outcome on replies.delivered. Agents use the API described in docs/api.md.
 * This file loads the configuration and wires engine.c and api.c to the service loop. */
#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "event.h"
#include "lifecycle.h"
#include "log.h"
#include "responder.h"

#define CFG(field) offsetof(struct responder_config, field)

static const struct sc_config_item responder_items[] = {
    SC_CONFIG_COMMON_ITEMS(struct responder_config, "socialcare-responder"),
    {"REPLY_ENDPOINT", SC_CFG_STRING, "http://127.0.0.1:8090/v1/replies", 0, -1,
     "Generic webhook that replies are POSTed to (JSON, Idempotency-Key) for every "
     "platform whose own API is not configured below",
     CFG(reply_endpoint)},
    {"REPLY_WEBHOOK_SECRET", SC_CFG_SECRET, "", 0, -1,
     "HMAC-SHA256 key signing webhook posts (X-Socialcare-Signature: sha256=hex of "
     "\"<timestamp>.<body>\"); empty = unsigned",
     CFG(webhook_secret)},
    {"REPLY_TIMEOUT_MS", SC_CFG_INT, "5000", 100, 120000, "Timeout of one send attempt",
     CFG(reply_timeout_ms)},
    {"REPLY_MAX_ATTEMPTS", SC_CFG_INT, "5", 1, 100,
     "Attempts before a transiently failing reply is reported failed",
     CFG(reply_max_attempts)},
    {"REPLY_MAX_CONNECTIONS", SC_CFG_INT, "16", 1, 1024,
     "Concurrent connections per platform host (more sends wait their turn)",
     CFG(reply_max_connections)},
    {"REPLY_THREAD_MAX_PARTS", SC_CFG_INT, "4", 1, 8,
     "A public reply longer than the platform allows becomes a thread of up to this many "
     "parts; 1 = never split (held for review instead)",
     CFG(thread_max_parts)},
    {"MASTODON_URL", SC_CFG_STRING, "", 0, -1,
     "Mastodon server (https://mastodon.example); empty = Mastodon replies go to the "
     "webhook",
     CFG(mastodon_url)},
    {"MASTODON_TOKEN", SC_CFG_SECRET, "", 0, -1,
     "Mastodon access token (write:statuses); MASTODON_TOKEN_FILE", CFG(mastodon_token)},
    {"MASTODON_MAX_CHARS", SC_CFG_INT, "500", 1, 100000,
     "The server's status length limit (instance configuration)",
     CFG(mastodon_max_chars)},
    {"X_API_URL", SC_CFG_STRING, "", 0, -1,
     "X API v2 base URL (https://api.x.com); empty = X replies go to the webhook",
     CFG(x_api_url)},
    {"X_BEARER_TOKEN", SC_CFG_SECRET, "", 0, -1,
     "X user-context OAuth 2.0 access token (tweet.write, dm.write); X_BEARER_TOKEN_FILE",
     CFG(x_token)},
    {"BLUESKY_URL", SC_CFG_STRING, "", 0, -1,
     "Bluesky PDS (https://bsky.social); empty = Bluesky replies go to the webhook",
     CFG(bluesky_url)},
    {"BLUESKY_IDENTIFIER", SC_CFG_STRING, "", 0, -1,
     "Bluesky handle or DID of the account", CFG(bluesky_identifier)},
    {"BLUESKY_APP_PASSWORD", SC_CFG_SECRET, "", 0, -1,
     "Bluesky app password (a session is created at start); BLUESKY_APP_PASSWORD_FILE",
     CFG(bluesky_password)},
    {"REPLY_ACCOUNTS_FILE", SC_CFG_STRING, "", 0, -1,
     "JSON file of further Mastodon and X accounts, {\"x:support\":{\"token\":\"...\"}, "
     "\"mastodon:press\":{\"url\":\"https://...\",\"token\":\"...\"}} (url defaults to "
     "MASTODON_URL / X_API_URL); a reply with \"account\":\"support\" goes out from "
     "x:support, other replies from the default account; empty = none",
     CFG(accounts_file)},
    {"RATE_LIMITS", SC_CFG_BOOL, "true", 0, -1,
     "Shared rate limits (GCRA in Redis) per platform account and per customer",
     CFG(rate_limits)},
    {"RATE_ACCOUNT_PER_MIN", SC_CFG_DOUBLE, "300", 0, 1e9,
     "Sustained messages per minute per platform account", CFG(rate_account_per_min)},
    {"RATE_WEBHOOK_PER_MIN", SC_CFG_DOUBLE, "0", 0, 1e9,
     "Sustained messages per minute through the generic webhook (0 = no account limit)",
     CFG(rate_webhook_per_min)},
    {"RATE_ACCOUNT_BURST", SC_CFG_INT, "30", 1, 1000000,
     "Messages an account may send at once above the sustained rate",
     CFG(rate_account_burst)},
    {"RATE_CUSTOMER_PER_MIN", SC_CFG_DOUBLE, "6", 0, 1e9,
     "Sustained replies per minute to one customer (0 = no customer limit)",
     CFG(rate_customer_per_min)},
    {"RATE_CUSTOMER_BURST", SC_CFG_INT, "3", 1, 1000000,
     "Replies one customer may get at once", CFG(rate_customer_burst)},
    {"RESPONDER_API_TOKEN", SC_CFG_SECRET, "", 0, -1,
     "Bearer token of the agent API (RESPONDER_API_TOKEN_FILE); empty = API disabled "
     "(503)",
     CFG(api_token)},
    {"DEFER_LEASE_MS", SC_CFG_INT, "30000", 1000, 3600000,
     "A replica that claimed a deferred reply owns it this long before others re-drive "
     "it",
     CFG(defer_lease_ms)},
    {"BATCH_DEFERRED", SC_CFG_INT, "200", 1, 10000,
     "Due deferred replies taken into each batch", CFG(batch_deferred)},
};
#define N_ITEMS (sizeof(responder_items) / sizeof(responder_items[0]))

static void responder_setup_accounts(struct responder *rs)
{
    struct responder_config *c = &rs->conf;
    struct platform_account *a = rs->accounts;
    a[POLICY_GENERIC] = (struct platform_account){.platform = POLICY_GENERIC,
                                                  .name = "webhook:default",
                                                  .base_url = c->reply_endpoint,
                                                  .secret = c->webhook_secret};
    a[POLICY_MASTODON] = (struct platform_account){.platform = POLICY_MASTODON,
                                                   .name = "mastodon:default",
                                                   .base_url = c->mastodon_url,
                                                   .token = c->mastodon_token};
    a[POLICY_X] = (struct platform_account){.platform = POLICY_X,
                                            .name = "x:default",
                                            .base_url = c->x_api_url,
                                            .token = c->x_token};
    a[POLICY_BLUESKY] = (struct platform_account){.platform = POLICY_BLUESKY,
                                                  .name = "bluesky:default",
                                                  .base_url = c->bluesky_url};
    rs->native[POLICY_GENERIC] = true;
    rs->native[POLICY_MASTODON] = c->mastodon_url[0] != '\0';
    rs->native[POLICY_X] = c->x_api_url[0] != '\0';
    rs->native[POLICY_BLUESKY] = c->bluesky_url[0] != '\0';
    rs->limits = policy_default_limits;
    rs->limits.mastodon_max = (size_t)c->mastodon_max_chars;
    rs->limits.thread_max_parts = (int)c->thread_max_parts;
    rs->rl = (struct ratelimit_conf){.enabled = c->rate_limits != 0,
                                     .account_per_min = c->rate_account_per_min,
                                     .webhook_per_min = c->rate_webhook_per_min,
                                     .account_burst = (int)c->rate_account_burst,
                                     .customer_per_min = c->rate_customer_per_min,
                                     .customer_burst = (int)c->rate_customer_burst};
}

static bool responder_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
            return false;
    return true;
}

int responder_load_accounts(struct responder *rs, char *errstr, size_t errstr_size)
{
    const char *path = rs->conf.accounts_file;
    if (!path || !path[0])
        return 0;
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        snprintf(errstr, errstr_size, "REPLY_ACCOUNTS_FILE: %s",
                 root ? "not a JSON object" : jerr.text);
        json_decref(root);
        return SC_EINVAL;
    }
    rs->extra = sc_calloc(json_object_size(root) + 1, sizeof(*rs->extra));
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(root, key, v)
    {
        const char *colon = strchr(key, ':');
        enum policy_platform p = POLICY_GENERIC;
        if (colon && (size_t)(colon - key) == 1 && key[0] == 'x')
            p = POLICY_X;
        else if (colon && (size_t)(colon - key) == 8 && strncmp(key, "mastodon", 8) == 0)
            p = POLICY_MASTODON;
        const char *token = json_string_value(json_object_get(v, "token"));
        const char *url = json_string_value(json_object_get(v, "url"));
        if (!url)
            url = p == POLICY_X ? rs->conf.x_api_url : rs->conf.mastodon_url;
        if (p == POLICY_GENERIC || !responder_name_ok(colon + 1) ||
            strcmp(colon + 1, "default") == 0) {
            snprintf(errstr, errstr_size,
                     "REPLY_ACCOUNTS_FILE: \"%.80s\" is not \"x:<name>\" or "
                     "\"mastodon:<name>\" (name: letters, digits, _ . -; not default)",
                     key);
            rc = SC_EINVAL;
        } else if (!json_is_object(v) || !token || !token[0]) {
            snprintf(errstr, errstr_size, "REPLY_ACCOUNTS_FILE: %.80s: token missing",
                     key);
            rc = SC_EINVAL;
        } else if (!url || !url[0]) {
            snprintf(errstr, errstr_size,
                     "REPLY_ACCOUNTS_FILE: %.80s: url missing (and no default API URL)",
                     key);
            rc = SC_EINVAL;
        }
        if (rc != 0)
            break;
        rs->extra[rs->n_extra++] = (struct platform_account){.platform = p,
                                                             .name = sc_strdup(key),
                                                             .base_url = sc_strdup(url),
                                                             .token = sc_strdup(token)};
    }
    json_decref(root);
    for (size_t i = 0; rc == 0 && i < rs->n_extra; i++)
        sc_log(SC_LOG_INFO, "MAIN", "platform account configured: %s", rs->extra[i].name);
    return rc;
}

void responder_free_accounts(struct responder *rs)
{
    for (size_t i = 0; i < rs->n_extra; i++) {
        sc_free((char *)rs->extra[i].name);
        sc_free((char *)rs->extra[i].base_url);
        sc_free((char *)rs->extra[i].token);
    }
    sc_free(rs->extra);
    rs->extra = NULL;
    rs->n_extra = 0;
}

int main(int argc, char **argv)
{
    static struct responder rs;
    int rc = sc_service_configure(argc, argv, "responder",
                                  "Sends replies through platform APIs exactly once and "
                                  "serves the agent API.",
                                  responder_items, N_ITEMS, &rs.conf);
    if (rc != 0) {
        sc_config_cleanup(responder_items, N_ITEMS, &rs.conf, 1);
        return rc > 0 ? 0 : 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char errstr[512];
    const char *topics[] = {rs.conf.common.topic_replies_outbound};
    const char *outputs[] = {rs.conf.common.topic_replies_delivered,
                             rs.conf.common.topic_dlq,
                             rs.conf.common.topic_replies_outbound};
    struct sc_service_opts opts = {.name = "responder",
                                   .topics = topics,
                                   .n_topics = 1,
                                   .outputs = outputs,
                                   .n_outputs = 3,
                                   .use_redis = true};
    int exit_code = 1;
    responder_setup_accounts(&rs);
    if (responder_load_accounts(&rs, errstr, sizeof(errstr)) != 0)
        goto fail;
    if (sc_service_init(&rs.svc, &opts, &rs.conf.common, errstr, sizeof(errstr)) != 0)
        goto fail;
    if (rs.native[POLICY_BLUESKY]) {
        /* a few tries: the PDS may be briefly unavailable at start */
        for (int attempt = 1;; attempt++) {
            if (platform_bluesky_session(rs.conf.bluesky_url, rs.conf.bluesky_identifier,
                                         rs.conf.bluesky_password,
                                         (long)rs.conf.reply_timeout_ms, &rs.bluesky_jwt,
                                         &rs.bluesky_did, errstr, sizeof(errstr)) == 0)
                break;
            if (attempt >= 5 || sc_lifecycle_stopping())
                goto fail;
            sc_log(SC_LOG_WARNING, "MAIN", "%s; retrying", errstr);
            sc_service_backoff(responder_backoff_ms(attempt, -1));
        }
        rs.accounts[POLICY_BLUESKY].token = rs.bluesky_jwt;
        rs.accounts[POLICY_BLUESKY].repo = rs.bluesky_did;
    }
    rs.api_redis = sc_redis_new(rs.conf.common.redis_url, 2000, errstr, sizeof(errstr));
    if (!rs.api_redis)
        goto fail;
    rs.gcra.source = ratelimit_gcra_lua;
    rs.pause.source = ratelimit_pause_lua;
    rs.defer.source = ratelimit_defer_lua;
    rs.claim.source = ratelimit_claim_lua;
    sc_redis_script_register(rs.svc.redis, &rs.gcra);
    sc_redis_script_register(rs.svc.redis, &rs.pause);
    sc_redis_script_register(rs.svc.redis, &rs.defer);
    sc_redis_script_register(rs.svc.redis, &rs.claim);
    rs.client = platform_client_new((long)rs.conf.reply_timeout_ms,
                                    (long)rs.conf.reply_max_connections);
    rs.batch = sc_redis_batch_new();
    struct sc_metrics *m = rs.svc.metrics;
    rs.m_replies = sc_metrics_counter(m, "socialcare_responder_replies_total",
                                      "Reply outcomes reported", "status");
    rs.m_attempts = sc_metrics_counter(m, "socialcare_responder_send_attempts_total",
                                       "Send attempts by verdict", "verdict");
    rs.m_deferred = sc_metrics_counter(m, "socialcare_responder_deferred_total",
                                       "Replies deferred, by reason", "reason");
    rs.m_held = sc_metrics_counter(m, "socialcare_responder_held_total",
                                   "Replies held for review, by reason", "reason");
    rs.m_tokens =
        sc_metrics_gauge(m, "socialcare_responder_ratelimit_tokens",
                         "Messages an account may still send now (bucket level, "
                         "or the platform's remaining count)",
                         "account");
    rs.m_paused =
        sc_metrics_counter(m, "socialcare_responder_ratelimit_pauses_total",
                           "Pauses set on an account after a 429 or an exhausted "
                           "platform limit",
                           "account");
    rs.m_api = sc_metrics_counter(m, "socialcare_responder_api_requests_total",
                                  "Agent API requests by operation and status class",
                                  "op,status");
    if (responder_api_routes(&rs) != 0) {
        snprintf(errstr, sizeof(errstr), "cannot add routes");
        goto fail;
    }
    if (!rs.conf.api_token[0])
        sc_log(SC_LOG_WARNING, "MAIN",
               "RESPONDER_API_TOKEN is not set: the agent API answers 503");
    for (int p = 0; p < POLICY_PLATFORM_COUNT; p++)
        if (rs.native[p] && p != POLICY_GENERIC)
            sc_log(SC_LOG_INFO, "MAIN", "platform API configured: %s",
                   rs.accounts[p].name);
    if (responder_engine_start(&rs, errstr, sizeof(errstr)) != 0)
        goto fail;
    if (sc_service_start(&rs.svc, errstr, sizeof(errstr)) != 0)
        goto fail;
    exit_code =
        sc_service_run(&rs.svc, responder_batch, responder_idle, &rs) == 0 ? 0 : 1;
    sc_log(SC_LOG_INFO, "MAIN", "stopped");
    goto out;
fail:
    sc_log(SC_LOG_CRIT, "MAIN", "start-up failed: %s", errstr);
out:
    sc_http_free(rs.svc.http);
    rs.svc.http = NULL;
    responder_engine_free(&rs); /* its threads are idle: the loop drained */
    sc_service_cleanup(&rs.svc);
    sc_redis_free(rs.api_redis);
    platform_client_free(rs.client);
    sc_redis_batch_free(rs.batch);
    sc_free(rs.bluesky_jwt);
    sc_free(rs.bluesky_did);
    responder_free_accounts(&rs);
    sc_config_cleanup(responder_items, N_ITEMS, &rs.conf, 1);
    curl_global_cleanup();
    return exit_code;
}
