/* socialcare-escalation-router: applies each classified post to its customer's case in
 * Redis (once, atomically), routes it to a department with a priority, emits a case event
 * for every post, and queues an acknowledgement for complaints. Delivered replies close
 * the loop: the case waits for the customer and the first-response time is measured. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cases.h"
#include "event.h"
#include "lifecycle.h"
#include "log.h"
#include "route.h"
#include "service.h"

struct router_config {
    struct sc_common_config common; /* first: see sc_config_load */
};

static const struct sc_config_item router_items[] = {
    SC_CONFIG_COMMON_ITEMS(struct router_config, "socialcare-escalation-router"),
};
#define N_ITEMS (sizeof(router_items) / sizeof(router_items[0]))

struct router {
    struct sc_service svc;
    struct router_config conf;
    struct sc_redis_batch *batch;
    struct sc_metric *m_posts; /* socialcare_router_posts_total{department,priority} */
    struct sc_metric *m_cases_opened;   /* socialcare_router_cases_opened_total */
    struct sc_metric *m_acks;           /* socialcare_router_acknowledgements_total */
    struct sc_metric *m_first_response; /* socialcare_first_response_seconds */
};

/* What one consumed message turned into before the Redis round trip. */
struct router_item {
    json_t *event; /* parsed message, NULL when dead-lettered */
    bool is_post;
    struct route_decision decision;
    char customer[512];
    long redis_index; /* index of its command in the batch, -1 when none */
};

static int router_emit_post(struct router *rt, struct router_item *it, redisReply *reply,
                            struct sc_delivery *delivery)
{
    const struct sc_common_config *common = &rt->conf.common;
    struct case_result res;
    if (!reply || reply->type != REDIS_REPLY_STRING ||
        router_case_result_parse(reply->str, reply->len, &res) != 0) {
        sc_log(SC_LOG_ERR, "CASES", "unexpected reply from the case script");
        return SC_EIO;
    }
    const char *post_id = sc_event_str(it->event, "id");
    const char *intent = sc_event_path(it->event, "classification", "intent");
    char at[40];
    sc_format_time(sc_wall_ms(), at, sizeof(at));
    json_t *reasons = json_array();
    for (size_t i = 0; i < it->decision.n_reasons; i++)
        json_array_append_new(reasons, json_string(it->decision.reasons[i]));
    json_t *ev =
        json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s}", "v", 1, "type",
                  res.opened ? "case.opened" : "case.updated", "case_id", res.case_id,
                  "customer", it->customer, "post_id", post_id, "department",
                  it->decision.department, "priority", res.priority, "status", res.status,
                  "intent", intent, "reasons", reasons, "at", at);
    size_t len;
    char *out = sc_event_dump(ev, &len);
    json_decref(ev);
    size_t klen = strlen(it->customer);
    int rc = sc_producer_send(rt->svc.producer, common->topic_cases_events, it->customer,
                              klen, out, len, NULL, delivery);
    free(out);
    if (rc != 0)
        return rc;
    sc_metric_inc(rt->m_posts, SC_LABELS(it->decision.department, res.priority));
    if (res.opened)
        sc_metric_inc(rt->m_cases_opened, NULL);
    if (!res.acknowledge)
        return 0;

    char text[512], reply_id[600];
    json_t *author = json_object_get(it->event, "author");
    if (router_ack_text(json_string_value(json_object_get(author, "handle")),
                        &it->decision, text, sizeof(text)) < 0)
        return SC_EINVAL;
    snprintf(reply_id, sizeof(reply_id), "ack-%s", post_id);
    json_t *ack = json_pack(
        "{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "v", 1, "reply_id", reply_id,
        "case_id", res.case_id, "customer", it->customer, "platform",
        sc_event_str(it->event, "platform"), "channel", "public", "in_reply_to", post_id,
        "text", text, "origin", "auto", "requires_review", it->decision.requires_review);
    out = sc_event_dump(ack, &len);
    json_decref(ack);
    rc = sc_producer_send(rt->svc.producer, common->topic_replies_outbound, it->customer,
                          klen, out, len, NULL, delivery);
    free(out);
    if (rc == 0)
        sc_metric_inc(rt->m_acks, NULL);
    return rc;
}

/* Parses one message and queues its Redis work; dead-letters what can never be applied.
 */
static int router_prepare(struct router *rt, const rd_kafka_message_t *msg,
                          struct router_item *it, int64_t now_ms,
                          struct sc_delivery *delivery)
{
    const struct sc_common_config *common = &rt->conf.common;
    char reason[256];
    it->redis_index = -1;
    it->is_post =
        strcmp(rd_kafka_topic_name(msg->rkt), common->topic_replies_delivered) != 0;
    it->event = sc_event_parse(msg->payload, msg->len,
                               it->is_post ? SC_EVENT_POST : SC_EVENT_DELIVERY, NULL,
                               reason, sizeof(reason));
    if (it->event && it->is_post) {
        const char *intent = sc_event_path(it->event, "classification", "intent");
        const char *topic = sc_event_path(it->event, "classification", "topic");
        json_t *sentiment =
            json_object_get(json_object_get(it->event, "classification"), "sentiment");
        const char *label = json_string_value(json_object_get(sentiment, "label"));
        if (!intent || !topic || !label) {
            snprintf(reason, sizeof(reason), "missing_field: classification");
        } else if (sc_event_customer_key(it->event, it->customer, sizeof(it->customer)) <
                   0) {
            snprintf(reason, sizeof(reason), "invalid_field: customer key too long");
        } else {
            struct route_input in = {
                .intent = intent,
                .topic = topic,
                .sentiment = label,
                .influence = json_number_value(json_object_get(
                    json_object_get(it->event, "classification"), "influence")),
            };
            router_route(&in, &it->decision);
            it->redis_index = (long)sc_redis_batch_count(rt->batch);
            router_case_apply_add(rt->batch, it->customer, sc_event_str(it->event, "id"),
                                  it->decision.department, it->decision.priority, intent,
                                  it->decision.acknowledge, now_ms);
            return 0;
        }
        json_decref(it->event);
        it->event = NULL;
    } else if (it->event) {
        const char *case_id = sc_event_str(it->event, "case_id");
        const char *status = sc_event_str(it->event, "status");
        if (case_id && msg->key && msg->key_len > 0 &&
            msg->key_len < sizeof(it->customer)) {
            memcpy(it->customer, msg->key, msg->key_len);
            it->customer[msg->key_len] = '\0';
            it->redis_index = (long)sc_redis_batch_count(rt->batch);
            router_case_delivered_add(rt->batch, it->customer, case_id, status, now_ms);
        }
        return 0;
    }
    return sc_producer_dead_letter(rt->svc.producer, common->topic_dlq,
                                   "escalation-router", reason, msg, msg->payload,
                                   msg->len, delivery);
}

static int router_batch(void *opaque, rd_kafka_message_t **msgs, size_t n,
                        struct sc_delivery *delivery)
{
    struct router *rt = opaque;
    struct router_item *items = sc_calloc(n, sizeof(*items));
    int64_t now = sc_wall_ms();
    int rc = 0;
    sc_redis_batch_reset(rt->batch);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = router_prepare(rt, msgs[i], &items[i], now, delivery);
    if (rc == 0 && sc_redis_batch_count(rt->batch) > 0)
        rc = sc_redis_batch_run(rt->svc.redis, rt->batch);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct router_item *it = &items[i];
        if (it->redis_index < 0)
            continue;
        redisReply *reply = sc_redis_batch_reply(rt->batch, (size_t)it->redis_index);
        if (it->is_post) {
            rc = router_emit_post(rt, it, reply, delivery);
        } else if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0) {
            sc_metric_observe(rt->m_first_response, NULL, (double)reply->integer / 1e3);
        } else if (!reply || reply->type == REDIS_REPLY_ERROR) {
            rc = SC_EIO;
        }
    }
    for (size_t i = 0; i < n; i++)
        json_decref(items[i].event);
    sc_free(items);
    return rc;
}

int main(int argc, char **argv)
{
    static struct router rt;
    int rc =
        sc_service_configure(argc, argv, "escalation-router",
                             "Keeps cases, routes posts to departments with priorities, "
                             "acknowledges complaints.",
                             router_items, N_ITEMS, &rt.conf);
    if (rc != 0) {
        sc_config_cleanup(router_items, N_ITEMS, &rt.conf, 1);
        return rc > 0 ? 0 : 2;
    }
    char errstr[512];
    const char *topics[] = {rt.conf.common.topic_posts_classified,
                            rt.conf.common.topic_replies_delivered};
    const char *outputs[] = {rt.conf.common.topic_cases_events,
                             rt.conf.common.topic_replies_outbound,
                             rt.conf.common.topic_dlq};
    struct sc_service_opts opts = {.name = "escalation-router",
                                   .topics = topics,
                                   .n_topics = 2,
                                   .outputs = outputs,
                                   .n_outputs = 3,
                                   .use_redis = true};
    int exit_code = 1;
    if (sc_service_init(&rt.svc, &opts, &rt.conf.common, errstr, sizeof(errstr)) != 0)
        goto fail;
    sc_redis_script_register(rt.svc.redis, &router_case_apply_script);
    sc_redis_script_register(rt.svc.redis, &router_case_delivered_script);
    rt.batch = sc_redis_batch_new();
    rt.m_posts = sc_metrics_counter(rt.svc.metrics, "socialcare_router_posts_total",
                                    "Posts routed, by department and priority",
                                    "department,priority");
    rt.m_cases_opened =
        sc_metrics_counter(rt.svc.metrics, "socialcare_router_cases_opened_total",
                           "Cases opened or reopened", NULL);
    rt.m_acks =
        sc_metrics_counter(rt.svc.metrics, "socialcare_router_acknowledgements_total",
                           "Automatic acknowledgements queued", NULL);
    rt.m_first_response = sc_metrics_histogram(
        rt.svc.metrics, "socialcare_first_response_seconds",
        "Time from a case's first post to its first delivered reply", NULL,
        sc_metrics_latency_buckets, sc_metrics_latency_buckets_count);
    if (sc_service_start(&rt.svc, errstr, sizeof(errstr)) != 0)
        goto fail;
    exit_code = sc_service_run(&rt.svc, router_batch, NULL, &rt) == 0 ? 0 : 1;
    sc_log(SC_LOG_INFO, "MAIN", "stopped");
    goto out;
fail:
    sc_log(SC_LOG_CRIT, "MAIN", "start-up failed: %s", errstr);
out:
    sc_service_cleanup(&rt.svc);
    sc_redis_batch_free(rt.batch);
    sc_config_cleanup(router_items, N_ITEMS, &rt.conf, 1);
    return exit_code;
}
