/* socialcare-responder: sends the replies on replies.outbound through the platform and
 * reports each outcome on replies.delivered. A reply is sent once: the Redis ledger
 * sent:{<reply id>} is checked before and written after the platform accepted it, and the
 * platform gets an Idempotency-Key for retries after an unknown outcome. Replies that
 * need a person's review are held. Agents reply through POST /v1/replies. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "event.h"
#include "lifecycle.h"
#include "log.h"
#include "platform.h"
#include "policy.h"
#include "service.h"

#define RESPONDER_SENT_TTL "2592000" /* the ledger keeps ids for 30 days */

struct responder_config {
    struct sc_common_config common; /* first: see sc_config_load */
    char *reply_endpoint;
    long long reply_timeout_ms;
    long long reply_max_attempts;
    long long reply_max_connections;
};

static const struct sc_config_item responder_items[] = {
    SC_CONFIG_COMMON_ITEMS(struct responder_config, "socialcare-responder"),
    {"REPLY_ENDPOINT", SC_CFG_STRING, "http://127.0.0.1:8090/v1/replies", 0, -1,
     "URL that replies are POSTed to (the platform stand-in in this build)",
     offsetof(struct responder_config, reply_endpoint)},
    {"REPLY_TIMEOUT_MS", SC_CFG_INT, "5000", 100, 120000, "Timeout of one send attempt",
     offsetof(struct responder_config, reply_timeout_ms)},
    {"REPLY_MAX_ATTEMPTS", SC_CFG_INT, "5", 1, 100,
     "Attempts before a transiently failing reply is reported failed",
     offsetof(struct responder_config, reply_max_attempts)},
    {"REPLY_MAX_CONNECTIONS", SC_CFG_INT, "16", 1, 1024,
     "Concurrent connections to the platform endpoint (more sends wait their turn)",
     offsetof(struct responder_config, reply_max_connections)},
};
#define N_ITEMS (sizeof(responder_items) / sizeof(responder_items[0]))

struct responder {
    struct sc_service svc;
    struct responder_config conf;
    struct platform_client *client;
    struct sc_redis_batch *batch;
    struct sc_metric *m_replies;  /* socialcare_responder_replies_total{status} */
    struct sc_metric *m_attempts; /* socialcare_responder_send_attempts_total{verdict} */
    unsigned long long agent_seq;
};

/* One reply of a batch. */
struct responder_item {
    json_t *reply; /* NULL when dead-lettered */
    const char *status;
    int ledger_index; /* its GET in the first Redis round */
    struct platform_send send;
    char *body;
};

static int responder_publish(struct responder *rs, struct responder_item *it,
                             struct sc_delivery *delivery)
{
    const char *customer = sc_event_str(it->reply, "customer");
    json_t *out = json_pack(
        "{s:i,s:s,s:s,s:s,s:s,s:s?,s:i,s:s?,s:s}", "v", 1, "reply_id",
        sc_event_str(it->reply, "reply_id"), "case_id",
        sc_event_str(it->reply, "case_id"), "customer", customer, "status", it->status,
        "platform_post_id",
        it->send.platform_post_id[0] ? it->send.platform_post_id : NULL, "attempts",
        it->send.attempts, "error", it->send.error[0] ? it->send.error : NULL, "at", "");
    char at[40];
    json_object_set_new(out, "at",
                        json_string(sc_format_time(sc_wall_ms(), at, sizeof(at))));
    size_t len;
    char *buf = sc_event_dump(out, &len);
    json_decref(out);
    int rc = sc_producer_send(rs->svc.producer, rs->conf.common.topic_replies_delivered,
                              customer, strlen(customer), buf, len, NULL, delivery);
    free(buf);
    if (rc == 0)
        sc_metric_inc(rs->m_replies, SC_LABELS(it->status));
    return rc;
}

static void responder_ledger_key(const char *reply_id, char *buf, size_t size)
{
    snprintf(buf, size, "sent:{%s}", reply_id);
}

/* Sends what must be sent, with retry rounds; returns when every send is done or out of
 * attempts, or a stop is requested (those stay unsent and the batch is consumed again).
 */
static void responder_send_all(struct responder *rs, struct platform_send *sends,
                               size_t n_sends)
{
    for (int round = 1;; round++) {
        platform_send_round(rs->client, sends, n_sends);
        long wait_s = -1;
        size_t pending = 0;
        for (size_t i = 0; i < n_sends; i++) {
            struct platform_send *s = &sends[i];
            if (s->attempts != round)
                continue; /* finished in an earlier round */
            sc_metric_inc(rs->m_attempts,
                          SC_LABELS(s->verdict == SEND_VERDICT_SENT    ? "sent"
                                    : s->verdict == SEND_VERDICT_RETRY ? "retry"
                                                                       : "failed"));
            if (!s->done && s->attempts >= rs->conf.reply_max_attempts)
                s->done = true; /* out of attempts: reported failed */
            if (!s->done) {
                pending++;
                if (s->retry_after_s > wait_s)
                    wait_s = s->retry_after_s;
            }
        }
        if (pending == 0 || sc_lifecycle_stopping())
            return;
        sc_service_backoff(responder_backoff_ms(round, wait_s));
    }
}

static int responder_batch(void *opaque, rd_kafka_message_t **msgs, size_t n,
                           struct sc_delivery *delivery)
{
    struct responder *rs = opaque;
    struct responder_item *items = sc_calloc(n, sizeof(*items));
    struct platform_send *sends = sc_calloc(n, sizeof(*sends));
    size_t n_sends = 0;
    int rc = 0;
    char key[600];

    /* 1. Parse; dead-letter poison; look up the ledger for the rest in one round trip. */
    sc_redis_batch_reset(rs->batch);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char reason[256];
        items[i].ledger_index = -1;
        items[i].reply = sc_event_parse(msgs[i]->payload, msgs[i]->len, SC_EVENT_REPLY,
                                        NULL, reason, sizeof(reason));
        if (!items[i].reply) {
            rc = sc_producer_dead_letter(rs->svc.producer, rs->conf.common.topic_dlq,
                                         "responder", reason, msgs[i], msgs[i]->payload,
                                         msgs[i]->len, delivery);
            continue;
        }
        responder_ledger_key(sc_event_str(items[i].reply, "reply_id"), key, sizeof(key));
        const char *argv[] = {"GET", key};
        size_t lens[] = {3, strlen(key)};
        items[i].ledger_index = (int)sc_redis_batch_count(rs->batch);
        sc_redis_batch_add(rs->batch, 2, argv, lens);
    }
    if (rc == 0 && sc_redis_batch_count(rs->batch) > 0)
        rc = sc_redis_batch_run(rs->svc.redis, rs->batch);

    /* 2. Decide: already sent, held for review, or to send. */
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct responder_item *it = &items[i];
        if (!it->reply)
            continue;
        redisReply *r = sc_redis_batch_reply(rs->batch, (size_t)it->ledger_index);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            rc = SC_EIO;
        } else if (r->type == REDIS_REPLY_STRING) {
            it->status = "sent";
            snprintf(it->send.platform_post_id, sizeof(it->send.platform_post_id), "%s",
                     r->str);
        } else if (json_is_true(json_object_get(it->reply, "requires_review"))) {
            it->status = "held_for_review";
        } else {
            json_t *body = json_pack("{s:s,s:s,s:s,s:s?,s:s}", "reply_id",
                                     sc_event_str(it->reply, "reply_id"), "platform",
                                     sc_event_str(it->reply, "platform"), "channel",
                                     sc_event_str(it->reply, "channel"), "in_reply_to",
                                     sc_event_str(it->reply, "in_reply_to"), "text",
                                     sc_event_str(it->reply, "text"));
            it->body = json_dumps(body, JSON_COMPACT);
            json_decref(body);
            sends[n_sends].idempotency_key = sc_event_str(it->reply, "reply_id");
            sends[n_sends].body = it->body;
            it->ledger_index = (int)n_sends++; /* now: index into sends */
            it->status = NULL;
        }
    }

    /* 3. Send, then record the sent ones in the ledger before reporting them. */
    if (rc == 0 && n_sends > 0) {
        responder_send_all(rs, sends, n_sends);
        if (sc_lifecycle_stopping()) {
            for (size_t i = 0; i < n_sends; i++)
                if (!sends[i].done)
                    rc = SC_EAGAIN; /* consumed again after restart */
        }
        sc_redis_batch_reset(rs->batch);
        for (size_t i = 0; i < n && rc == 0; i++) {
            struct responder_item *it = &items[i];
            if (!it->reply || it->status)
                continue;
            it->send = sends[it->ledger_index];
            it->status = it->send.verdict == SEND_VERDICT_SENT ? "sent" : "failed";
            if (it->send.verdict != SEND_VERDICT_SENT)
                continue;
            responder_ledger_key(sc_event_str(it->reply, "reply_id"), key, sizeof(key));
            const char *pid =
                it->send.platform_post_id[0] ? it->send.platform_post_id : "?";
            const char *argv[] = {"SET", key, pid, "EX", RESPONDER_SENT_TTL};
            size_t lens[] = {3, strlen(key), strlen(pid), 2, strlen(RESPONDER_SENT_TTL)};
            sc_redis_batch_add(rs->batch, 5, argv, lens);
        }
        if (rc == 0 && sc_redis_batch_count(rs->batch) > 0)
            rc = sc_redis_batch_run(rs->svc.redis, rs->batch);
    }

    /* 4. Report every outcome. */
    for (size_t i = 0; i < n && rc == 0; i++)
        if (items[i].reply)
            rc = responder_publish(rs, &items[i], delivery);

    for (size_t i = 0; i < n; i++) {
        json_decref(items[i].reply);
        free(items[i].body);
    }
    sc_free(sends);
    sc_free(items);
    return rc;
}

/* POST /v1/replies: an agent's reply, queued on replies.outbound (runs on the HTTP
 * thread). */
static void responder_http_reply(void *opaque, const struct sc_http_request *req,
                                 struct sc_http_response *resp)
{
    struct responder *rs = opaque;
    json_error_t jerr;
    json_t *reply = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(reply)) {
        json_decref(reply);
        sc_http_json_error(resp, 400, "invalid_json", "body must be a JSON object");
        return;
    }
    if (!json_object_get(reply, "v"))
        json_object_set_new(reply, "v", json_integer(1));
    if (!json_object_get(reply, "origin"))
        json_object_set_new(reply, "origin", json_string("agent:unknown"));
    if (!json_object_get(reply, "reply_id")) {
        char id[64];
        snprintf(id, sizeof(id), "agent-%lld-%llu", (long long)sc_wall_ms(),
                 ++rs->agent_seq);
        json_object_set_new(reply, "reply_id", json_string(id));
    }
    char reason[256];
    if (sc_event_validate(reply, SC_EVENT_REPLY, NULL, reason, sizeof(reason)) != 0) {
        json_decref(reply);
        sc_http_json_error(resp, 400, "invalid_reply", reason);
        return;
    }
    const char *customer = sc_event_str(reply, "customer");
    size_t len;
    char *buf = sc_event_dump(reply, &len);
    struct sc_delivery delivery = {0};
    int rc = sc_producer_send(rs->svc.producer, rs->conf.common.topic_replies_outbound,
                              customer, strlen(customer), buf, len, NULL, &delivery);
    free(buf);
    if (rc == 0)
        rc = sc_service_settle(&rs->svc, &delivery);
    if (rc != 0) {
        sc_http_json_error(resp, 503, "unavailable", "reply could not be queued; retry");
        sc_http_add_header(resp, "Retry-After", "1");
    } else {
        json_t *body = json_pack("{s:s,s:s}", "reply_id", sc_event_str(reply, "reply_id"),
                                 "status", "queued");
        resp->status = 202;
        resp->body = json_dumps(body, JSON_COMPACT);
        json_decref(body);
    }
    json_decref(reply);
}

int main(int argc, char **argv)
{
    static struct responder rs;
    int rc = sc_service_configure(argc, argv, "responder",
                                  "Sends replies through platform APIs exactly once and "
                                  "serves the agent reply API.",
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
    if (sc_service_init(&rs.svc, &opts, &rs.conf.common, errstr, sizeof(errstr)) != 0)
        goto fail;
    rs.client =
        platform_client_new(rs.conf.reply_endpoint, (long)rs.conf.reply_timeout_ms,
                            (long)rs.conf.reply_max_connections);
    rs.batch = sc_redis_batch_new();
    rs.m_replies =
        sc_metrics_counter(rs.svc.metrics, "socialcare_responder_replies_total",
                           "Reply outcomes reported", "status");
    rs.m_attempts =
        sc_metrics_counter(rs.svc.metrics, "socialcare_responder_send_attempts_total",
                           "Send attempts by verdict", "verdict");
    if (sc_http_route(rs.svc.http, "POST", "/v1/replies", responder_http_reply, &rs) !=
        0) {
        snprintf(errstr, sizeof(errstr), "cannot add route");
        goto fail;
    }
    if (sc_service_start(&rs.svc, errstr, sizeof(errstr)) != 0)
        goto fail;
    exit_code = sc_service_run(&rs.svc, responder_batch, NULL, &rs) == 0 ? 0 : 1;
    sc_log(SC_LOG_INFO, "MAIN", "stopped");
    goto out;
fail:
    sc_log(SC_LOG_CRIT, "MAIN", "start-up failed: %s", errstr);
out:
    sc_http_free(rs.svc.http);
    rs.svc.http = NULL;
    sc_service_cleanup(&rs.svc);
    platform_client_free(rs.client);
    sc_redis_batch_free(rs.batch);
    sc_config_cleanup(responder_items, N_ITEMS, &rs.conf, 1);
    curl_global_cleanup();
    return exit_code;
}
