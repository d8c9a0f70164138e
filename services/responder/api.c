/* The agent API (bearer token, JSON; see docs/api.md and docs/openapi.yaml): send a reply
 * to a case, list the replies held for review, approve (optionally edited) or reject one,
 * schedule a post, and set, read or clear quiet mode. Runs on the HTTP thread with its
 * own Redis connection; replies go through replies.outbound like every other reply, so
 * the engine applies the same policy, limits and ledger to them. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "event.h"
#include "lifecycle.h"
#include "log.h"
#include "ratelimit.h"
#include "responder.h"

/* Atomically takes a held reply: HGET + HDEL. */
static const char api_take_held_lua[] =
    "local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if v then redis.call('HDEL', KEYS[1], ARGV[1]) end\n"
    "return v\n";

static void api_count(struct responder *rs, const char *op, int status)
{
    char cls[16];
    snprintf(cls, sizeof(cls), "%dxx", (status / 100) % 10);
    sc_metric_inc(rs->m_api, SC_LABELS(op, cls));
}

static bool api_auth(struct responder *rs, const struct sc_http_request *req,
                     struct sc_http_response *resp)
{
    const char *token = rs->conf.api_token;
    if (!token || !token[0]) {
        sc_http_json_error(resp, 503, "api_disabled",
                           "the agent API needs RESPONDER_API_TOKEN (or _FILE)");
        return false;
    }
    const char *h = sc_http_header(req, "Authorization");
    size_t tl = strlen(token);
    if (!h || strncmp(h, "Bearer ", 7) != 0 || strlen(h + 7) != tl ||
        CRYPTO_memcmp(h + 7, token, tl) != 0) {
        sc_http_json_error(resp, 401, "unauthorized", "a valid bearer token is required");
        sc_http_add_header(resp, "WWW-Authenticate", "Bearer");
        return false;
    }
    return true;
}

static json_t *api_body(const struct sc_http_request *req, struct sc_http_response *resp)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        sc_http_json_error(resp, 400, "invalid_json", "body must be a JSON object");
        return NULL;
    }
    return body;
}

/* The preamble of the handlers that take a body: the bearer token, then the JSON object.
 * @returns the body, or NULL with resp already set to the error. */
static json_t *api_start(struct responder *rs, const struct sc_http_request *req,
                         struct sc_http_response *resp)
{
    return api_auth(rs, req, resp) ? api_body(req, resp) : NULL;
}

static void api_json(struct sc_http_response *resp, int status, json_t *obj)
{
    resp->status = status;
    resp->body = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
}

/* Checks a reply against the policy as an agent would send it: 422 naming the problem
 * when it cannot go out as written. @returns true when it may be queued. */
static bool api_check_policy(struct responder *rs, const json_t *reply,
                             struct sc_http_response *resp, char *review, size_t size)
{
    struct policy_input in;
    responder_policy_input(rs, reply, &in);
    struct policy_plan plan;
    policy_decide(&in, &rs->limits, &plan);
    review[0] = '\0';
    bool ok = true;
    if (plan.outcome == POLICY_REJECT ||
        (plan.outcome == POLICY_HOLD && (strncmp(plan.reason, "too_long", 8) == 0 ||
                                         strncmp(plan.reason, "personal_data", 13) == 0 ||
                                         strncmp(plan.reason, "no_direct", 9) == 0))) {
        const char *code =
            strncmp(plan.reason, "too_long", 8) == 0         ? "too_long"
            : strncmp(plan.reason, "personal_data", 13) == 0 ? "personal_data"
            : strncmp(plan.reason, "no_direct", 9) == 0      ? "no_direct_messages"
                                                             : "invalid_reply";
        sc_http_json_error(resp, 422, code, plan.reason);
        ok = false;
    } else if (plan.outcome == POLICY_HOLD) {
        snprintf(review, size, "%s", plan.reason);
    }
    policy_plan_free(&plan);
    return ok;
}

static int api_produce(struct responder *rs, const json_t *reply)
{
    const char *customer = sc_event_str(reply, "customer");
    size_t len;
    char *buf = sc_event_dump(reply, &len);
    struct sc_delivery delivery = {0};
    int rc = sc_producer_send(rs->svc.producer, rs->conf.common.topic_replies_outbound,
                              customer, strlen(customer), buf, len, NULL, &delivery);
    free(buf);
    if (rc == 0)
        rc = sc_service_settle(&rs->svc, &delivery);
    return rc;
}

static void api_unavailable(struct sc_http_response *resp, const char *what)
{
    sc_http_json_error(resp, 503, "unavailable", what);
    sc_http_add_header(resp, "Retry-After", "1");
}

/* POST /v1/replies */
static void api_reply(void *opaque, const struct sc_http_request *req,
                      struct sc_http_response *resp)
{
    struct responder *rs = opaque;
    json_t *reply = api_start(rs, req, resp);
    if (!reply)
        goto out;
    if (!json_object_get(reply, "v"))
        json_object_set_new(reply, "v", json_integer(1));
    const char *origin = sc_event_str(reply, "origin");
    if (!origin || strncmp(origin, "agent:", 6) != 0)
        json_object_set_new(reply, "origin", json_string("agent:unknown"));
    if (!json_object_get(reply, "channel"))
        json_object_set_new(reply, "channel", json_string("public"));
    if (!json_object_get(reply, "reply_id")) {
        char id[64];
        snprintf(id, sizeof(id), "agent-%lld-%llu", (long long)sc_wall_ms(),
                 __atomic_add_fetch(&rs->api_seq, 1, __ATOMIC_RELAXED));
        json_object_set_new(reply, "reply_id", json_string(id));
    }
    json_object_del(reply, "approved"); /* only the review endpoint approves */
    json_object_del(reply, "broadcast");
    char reason[256], review[96];
    if (sc_event_validate(reply, SC_EVENT_REPLY, NULL, reason, sizeof(reason)) != 0) {
        sc_http_json_error(resp, 422, "invalid_reply", reason);
    } else if (json_object_get(reply, "account") &&
               (!json_is_string(json_object_get(reply, "account")) ||
                !responder_account_known(rs, sc_event_str(reply, "platform"),
                                         sc_event_str(reply, "account")))) {
        sc_http_json_error(resp, 422, "invalid_reply", "invalid_value: account");
    } else if (api_check_policy(rs, reply, resp, review, sizeof(review))) {
        if (api_produce(rs, reply) != 0) {
            api_unavailable(resp, "reply could not be queued; retry");
        } else {
            json_t *body = json_pack("{s:s,s:s}", "reply_id",
                                     sc_event_str(reply, "reply_id"), "status", "queued");
            if (review[0])
                json_object_set_new(body, "review", json_string(review));
            api_json(resp, 202, body);
        }
    }
    json_decref(reply);
out:
    api_count(rs, "reply", resp->status);
}

/* GET /v1/held */
static void api_held_list(void *opaque, const struct sc_http_request *req,
                          struct sc_http_response *resp)
{
    struct responder *rs = opaque;
    if (!api_auth(rs, req, resp))
        goto out;
    redisReply *r = sc_redis_commandf(rs->api_redis, "HGETALL %s", RESPONDER_HELD_KEY);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        if (r)
            freeReplyObject(r);
        api_unavailable(resp, "redis unavailable");
        goto out;
    }
    json_t *list = json_array();
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        json_t *entry =
            json_loadb(r->element[i + 1]->str, r->element[i + 1]->len, 0, NULL);
        if (!json_is_object(entry)) {
            json_decref(entry);
            continue;
        }
        json_object_set_new(entry, "reply_id", json_string(r->element[i]->str));
        json_array_append_new(list, entry);
    }
    freeReplyObject(r);
    api_json(
        resp, 200,
        json_pack("{s:o,s:I}", "held", list, "count", (json_int_t)json_array_size(list)));
out:
    api_count(rs, "held_list", resp->status);
}

/* Takes held entry id into a new object, or NULL (404 / 503 set on resp). */
static json_t *api_take(struct responder *rs, const char *id,
                        struct sc_http_response *resp)
{
    const char *argv[] = {RESPONDER_HELD_KEY, id};
    size_t lens[] = {strlen(argv[0]), strlen(id)};
    redisReply *r = sc_redis_eval(rs->api_redis, &rs->take_held, 1, 2, argv, lens);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        if (r)
            freeReplyObject(r);
        api_unavailable(resp, "redis unavailable");
        return NULL;
    }
    json_t *entry = NULL;
    if (r->type == REDIS_REPLY_STRING)
        entry = json_loadb(r->str, r->len, 0, NULL);
    freeReplyObject(r);
    if (!json_is_object(json_object_get(entry, "reply"))) {
        json_decref(entry);
        sc_http_json_error(resp, 404, "not_found", "no held reply with that reply_id");
        return NULL;
    }
    return entry;
}

static void api_put_back(struct responder *rs, const char *id, json_t *entry)
{
    char *s = json_dumps(entry, JSON_COMPACT);
    redisReply *r =
        sc_redis_commandf(rs->api_redis, "HSET %s %s %s", RESPONDER_HELD_KEY, id, s);
    if (r)
        freeReplyObject(r);
    else
        sc_log(SC_LOG_ERR, "API", "could not put a held reply back");
    free(s);
}

/* POST /v1/held/approve {"reply_id", "text"?, "agent"?} */
static void api_approve(void *opaque, const struct sc_http_request *req,
                        struct sc_http_response *resp)
{
    struct responder *rs = opaque;
    json_t *body = api_start(rs, req, resp);
    if (!body)
        goto out;
    const char *id = sc_event_str(body, "reply_id");
    const char *text = sc_event_str(body, "text");
    const char *agent = sc_event_str(body, "agent");
    if (!id || (json_object_get(body, "text") && !text)) {
        sc_http_json_error(resp, 422, "invalid_request",
                           "reply_id (string) is required; text must be a string");
        json_decref(body);
        goto out;
    }
    json_t *entry = api_take(rs, id, resp);
    if (!entry) {
        json_decref(body);
        goto out;
    }
    json_t *reply = json_deep_copy(json_object_get(entry, "reply"));
    json_object_set_new(reply, "approved", json_true());
    json_object_set_new(reply, "requires_review", json_false());
    if (text)
        json_object_set_new(reply, "text", json_string(text));
    if (agent) {
        char origin[200];
        snprintf(origin, sizeof(origin), "agent:%s", agent);
        json_object_set_new(reply, "origin", json_string(origin));
    }
    char reason[256], review[96];
    if (sc_event_validate(reply, SC_EVENT_REPLY, NULL, reason, sizeof(reason)) != 0) {
        api_put_back(rs, id, entry);
        sc_http_json_error(resp, 422, "invalid_reply", reason);
    } else if (!api_check_policy(rs, reply, resp, review, sizeof(review))) {
        api_put_back(rs, id, entry);
    } else if (api_produce(rs, reply) != 0) {
        api_put_back(rs, id, entry);
        api_unavailable(resp, "reply could not be queued; retry");
    } else {
        api_json(resp, 202,
                 json_pack("{s:s,s:s,s:b}", "reply_id", id, "status", "approved",
                           "edited", text != NULL));
    }
    json_decref(reply);
    json_decref(entry);
    json_decref(body);
out:
    api_count(rs, "approve", resp->status);
}

/* POST /v1/held/reject {"reply_id"} */
static void api_reject(void *opaque, const struct sc_http_request *req,
                       struct sc_http_response *resp)
{
    struct responder *rs = opaque;
    json_t *body = api_start(rs, req, resp);
    if (!body)
        goto out;
    const char *id = sc_event_str(body, "reply_id");
    if (!id) {
        sc_http_json_error(resp, 422, "invalid_request", "reply_id (string) is required");
        json_decref(body);
        goto out;
    }
    json_t *entry = api_take(rs, id, resp);
    if (entry) {
        struct sc_delivery delivery = {0};
        int rc = responder_publish_receipt(rs, json_object_get(entry, "reply"), "failed",
                                           NULL, 0, "rejected_by_reviewer", &delivery);
        if (rc == 0)
            rc = sc_service_settle(&rs->svc, &delivery);
        if (rc != 0) {
            api_put_back(rs, id, entry);
            api_unavailable(resp, "receipt could not be published; retry");
        } else {
            api_json(resp, 200,
                     json_pack("{s:s,s:s}", "reply_id", id, "status", "rejected"));
        }
        json_decref(entry);
    }
    json_decref(body);
out:
    api_count(rs, "reject", resp->status);
}

/* Reads "until" (ISO 8601 or epoch ms) or "duration_s" into an end time; 0 on error. */
static int64_t api_until(const json_t *body, int64_t now)
{
    const json_t *until = json_object_get(body, "until");
    const json_t *dur = json_object_get(body, "duration_s");
    if (json_is_string(until))
        return ratelimit_parse_iso8601(json_string_value(until));
    if (json_is_integer(until))
        return json_integer_value(until);
    if (json_is_integer(dur) && json_integer_value(dur) > 0)
        return now + json_integer_value(dur) * 1000;
    return 0;
}

static bool api_region_ok(const char *region)
{
    if (!region || !region[0] || strlen(region) > 64)
        return false;
    for (const char *p = region; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return false;
    return true;
}

/* POST /v1/scheduled {"platform","text","at"|"delay_s","region"?} */
static void api_schedule(void *opaque, const struct sc_http_request *req,
                         struct sc_http_response *resp)
{
    struct responder *rs = opaque;
    json_t *body = api_start(rs, req, resp);
    if (!body)
        goto out;
    int64_t now = sc_wall_ms();
    const char *platform = sc_event_str(body, "platform");
    const char *text = sc_event_str(body, "text");
    const char *region = sc_event_str(body, "region");
    const json_t *at = json_object_get(body, "at");
    const json_t *delay = json_object_get(body, "delay_s");
    int64_t due = json_is_string(at) ? ratelimit_parse_iso8601(json_string_value(at))
                  : json_is_integer(delay) ? now + json_integer_value(delay) * 1000
                                           : -1;
    if (!platform || !text || due < 0 || (region && !api_region_ok(region)) ||
        (json_object_get(body, "region") && !region)) {
        sc_http_json_error(resp, 422, "invalid_request",
                           "platform and text (strings) and at (ISO 8601) or delay_s "
                           "(integer) are required; region is [A-Za-z0-9_-]{1,64}");
        json_decref(body);
        goto out;
    }
    char id[64], customer[80];
    snprintf(id, sizeof(id), "sched-%lld-%llu", (long long)now,
             __atomic_add_fetch(&rs->api_seq, 1, __ATOMIC_RELAXED));
    snprintf(customer, sizeof(customer), "%.20s:brand", platform);
    json_t *reply = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "v", 1, "reply_id",
                              id, "case_id", "scheduled", "customer", customer,
                              "platform", platform, "channel", "public", "text", text,
                              "origin", "scheduled", "broadcast", 1);
    if (region)
        json_object_set_new(reply, "region", json_string(region));
    char reason[256], review[96];
    if (sc_event_validate(reply, SC_EVENT_REPLY, NULL, reason, sizeof(reason)) != 0) {
        sc_http_json_error(resp, 422, "invalid_request", reason);
    } else if (api_check_policy(rs, reply, resp, review, sizeof(review))) {
        char *s = json_dumps(reply, JSON_COMPACT);
        char ms[24];
        snprintf(ms, sizeof(ms), "%lld", (long long)(due > now ? due - now : 0));
        const char *argv[] = {RESPONDER_DEFERRED_KEY, RESPONDER_DEFERRED_DATA, id, ms, s};
        size_t lens[5];
        for (int i = 0; i < 5; i++)
            lens[i] = strlen(argv[i]);
        redisReply *r = sc_redis_eval(rs->api_redis, &rs->defer, 2, 5, argv, lens);
        free(s);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            api_unavailable(resp, "redis unavailable");
        } else {
            char due_s[40];
            json_t *out =
                json_pack("{s:s,s:s,s:s}", "reply_id", id, "status", "scheduled",
                          "due_at", sc_format_time(due, due_s, sizeof(due_s)));
            if (review[0])
                json_object_set_new(out, "review", json_string(review));
            api_json(resp, 202, out);
        }
        if (r)
            freeReplyObject(r);
    }
    json_decref(reply);
    json_decref(body);
out:
    api_count(rs, "schedule", resp->status);
}

static void api_quiet_key(const char *region, char *key, size_t size)
{
    if (region)
        snprintf(key, size, "quiet:region:%s", region);
    else
        snprintf(key, size, "quiet:global");
}

/* PUT /v1/quiet {"region"?, "until" | "duration_s"} */
static void api_quiet_set(void *opaque, const struct sc_http_request *req,
                          struct sc_http_response *resp)
{
    struct responder *rs = opaque;
    json_t *body = api_start(rs, req, resp);
    if (!body)
        goto out;
    const char *region = sc_event_str(body, "region");
    int64_t now = sc_wall_ms();
    int64_t until = api_until(body, now);
    if ((json_object_get(body, "region") && !api_region_ok(region)) || until <= now) {
        sc_http_json_error(resp, 422, "invalid_request",
                           "until (ISO 8601 or epoch ms, in the future) or duration_s "
                           "(> 0) is required; region is [A-Za-z0-9_-]{1,64}");
        json_decref(body);
        goto out;
    }
    char key[100];
    api_quiet_key(region, key, sizeof(key));
    redisReply *r = sc_redis_commandf(rs->api_redis, "SET %s %lld PX %lld", key,
                                      (long long)until, (long long)(until - now));
    if (!r || r->type == REDIS_REPLY_ERROR) {
        api_unavailable(resp, "redis unavailable");
    } else {
        char t[40];
        api_json(resp, 200,
                 json_pack("{s:s?,s:s,s:I}", "region", region, "until",
                           sc_format_time(until, t, sizeof(t)), "until_ms",
                           (json_int_t)until));
        sc_log(SC_LOG_NOTICE, "API", "quiet mode set (%s) until %s",
               region ? region : "global", t);
    }
    if (r)
        freeReplyObject(r);
    json_decref(body);
out:
    api_count(rs, "quiet_set", resp->status);
}

/* GET /v1/quiet[?region=] and DELETE /v1/quiet[?region=] */
static void api_quiet_get_del(void *opaque, const struct sc_http_request *req,
                              struct sc_http_response *resp)
{
    struct responder *rs = opaque;
    bool del = strcmp(req->method, "DELETE") == 0;
    if (!api_auth(rs, req, resp))
        goto out;
    const char *region = sc_http_query(req, "region");
    if (region && !api_region_ok(region)) {
        sc_http_json_error(resp, 422, "invalid_request", "region is [A-Za-z0-9_-]{1,64}");
        goto out;
    }
    char key[100];
    api_quiet_key(region, key, sizeof(key));
    redisReply *r = del ? sc_redis_commandf(rs->api_redis, "DEL %s", key)
                        : sc_redis_commandf(rs->api_redis, "MGET quiet:global %s", key);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        api_unavailable(resp, "redis unavailable");
    } else if (del) {
        api_json(resp, 200,
                 json_pack("{s:s?,s:b}", "region", region, "cleared", r->integer > 0));
    } else {
        int64_t now = sc_wall_ms();
        int64_t g = r->element[0]->type == REDIS_REPLY_STRING
                        ? strtoll(r->element[0]->str, NULL, 10)
                        : 0;
        int64_t rg = region && r->element[1]->type == REDIS_REPLY_STRING
                         ? strtoll(r->element[1]->str, NULL, 10)
                         : 0;
        json_t *out =
            json_pack("{s:b,s:s?}", "active", g > now || rg > now, "region", region);
        char t[40];
        json_object_set_new(out, "global_until",
                            g > now ? json_string(sc_format_time(g, t, sizeof(t)))
                                    : json_null());
        if (region)
            json_object_set_new(out, "region_until",
                                rg > now ? json_string(sc_format_time(rg, t, sizeof(t)))
                                         : json_null());
        api_json(resp, 200, out);
    }
    if (r)
        freeReplyObject(r);
out:
    api_count(rs, del ? "quiet_clear" : "quiet_get", resp->status);
}

int responder_api_routes(struct responder *rs)
{
    rs->take_held.source = api_take_held_lua;
    sc_redis_script_register(rs->api_redis, &rs->take_held);
    sc_redis_script_register(rs->api_redis, &rs->defer);
    struct {
        const char *method, *path;
        sc_http_handler_fn fn;
    } routes[] = {
        {"POST", "/v1/replies", api_reply},
        {"GET", "/v1/held", api_held_list},
        {"POST", "/v1/held/approve", api_approve},
        {"POST", "/v1/held/reject", api_reject},
        {"POST", "/v1/scheduled", api_schedule},
        {"PUT", "/v1/quiet", api_quiet_set},
        {"GET", "/v1/quiet", api_quiet_get_del},
        {"DELETE", "/v1/quiet", api_quiet_get_del},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (sc_http_route(rs->svc.http, routes[i].method, routes[i].path, routes[i].fn,
                          rs) != 0)
            return SC_EINVAL;
    return 0;
}
