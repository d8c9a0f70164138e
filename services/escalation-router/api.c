/* The case API of the escalation router, on the service's HTTP server (its own Redis
 * connection; handlers run one at a time on the HTTP thread). Every route needs
 * "Authorization: Bearer <ROUTER_API_TOKEN>"; errors are JSON bodies.
 *   GET  /v1/cases?department=&status=&priority=&limit=   unresolved cases by SLA due
 *   GET  /v1/case?customer=<platform:author>              one case with its history
 *   POST /v1/case/assign   {"customer","agent"}
 *   POST /v1/case/resolve  {"customer"}
 *   POST /v1/agents        {"agent","available":true|false}
 *   GET  /v1/incidents                                    newest first
 *   POST /v1/incidents/resolve {"id"}                     follow-up to linked customers
 *   GET  /v1/quiet        POST /v1/quiet {"region"?: "...", "minutes": N (0 = off)} */
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cases.h"
#include "event.h"
#include "lifecycle.h"
#include "log.h"
#include "route.h"
#include "router.h"

static bool authorised(struct router_api *api, const struct sc_http_request *req,
                       struct sc_http_response *resp)
{
    const char *h = sc_http_header(req, "Authorization");
    size_t tl = strlen(api->token);
    bool ok = h && !strncmp(h, "Bearer ", 7) && strlen(h + 7) == tl &&
              CRYPTO_memcmp(h + 7, api->token, tl) == 0;
    if (!ok) {
        sc_http_json_error(resp, 401, "unauthorized", "a valid bearer token is required");
        sc_http_add_header(resp, "WWW-Authenticate", "Bearer");
    }
    return ok;
}

static void reply_json(struct sc_http_response *resp, int status, json_t *body)
{
    resp->status = status;
    size_t len;
    char *s = sc_event_dump(body, &len);
    resp->body = sc_strdup(s);
    resp->body_len = len;
    free(s);
    json_decref(body);
}

static json_t *parse_body(const struct sc_http_request *req,
                          struct sc_http_response *resp)
{
    json_error_t err;
    json_t *body = json_loadb(req->body, req->body_len, 0, &err);
    if (!json_is_object(body)) {
        json_decref(body);
        sc_http_json_error(resp, 400, "invalid_json", "the body must be a JSON object");
        return NULL;
    }
    return body;
}

/* The preamble of every write handler: the bearer token, then a JSON object body.
 * @returns the body (new reference), or NULL with resp already filled. */
static json_t *authorised_body(struct router_api *api, const struct sc_http_request *req,
                               struct sc_http_response *resp)
{
    return authorised(api, req, resp) ? parse_body(req, resp) : NULL;
}

static const char *body_str(json_t *body, const char *key, struct sc_http_response *resp)
{
    const char *v = json_string_value(json_object_get(body, key));
    if (!v || !*v || strlen(v) > 400) {
        char msg[96];
        snprintf(msg, sizeof(msg), "\"%s\" must be a non-empty string", key);
        sc_http_json_error(resp, 400, "invalid_field", msg);
        return NULL;
    }
    return v;
}

static void redis_down(struct sc_http_response *resp)
{
    sc_http_json_error(resp, 503, "unavailable", "Redis did not answer");
    sc_http_add_header(resp, "Retry-After", "1");
}

static json_t *hash_to_json(const redisReply *r)
{
    json_t *o = json_object();
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        json_object_set_new(o, r->element[i]->str, json_string(r->element[i + 1]->str));
    return o;
}

static void h_cases(void *opaque, const struct sc_http_request *req,
                    struct sc_http_response *resp)
{
    struct router_api *api = opaque;
    if (!authorised(api, req, resp))
        return;
    const char *dept = sc_http_query(req, "department");
    const char *status = sc_http_query(req, "status");
    const char *prio = sc_http_query(req, "priority");
    const char *lim = sc_http_query(req, "limit");
    long limit = lim ? strtol(lim, NULL, 10) : 100;
    if (limit <= 0 || limit > 1000) {
        sc_http_json_error(resp, 400, "invalid_query", "limit must be 1..1000");
        return;
    }
    if (prio && !router_priority_parse(prio)) {
        sc_http_json_error(resp, 400, "invalid_query", "priority must be P1..P4");
        return;
    }
    redisReply *ids = sc_redis_commandf(api->redis, "ZRANGE cases:due 0 9999 WITHSCORES");
    if (!ids || ids->type != REDIS_REPLY_ARRAY) {
        if (ids)
            freeReplyObject(ids);
        redis_down(resp);
        return;
    }
    struct sc_redis_batch *b = sc_redis_batch_new();
    for (size_t i = 0; i + 1 < ids->elements; i += 2) {
        char key[600];
        snprintf(key, sizeof(key), "case:{%s}", ids->element[i]->str);
        const char *argv[] = {"HGETALL", key};
        size_t lens[] = {7, strlen(key)};
        sc_redis_batch_add(b, 2, argv, lens);
    }
    json_t *out = json_array();
    if (sc_redis_batch_count(b) && sc_redis_batch_run(api->redis, b) != 0) {
        json_decref(out);
        sc_redis_batch_free(b);
        freeReplyObject(ids);
        redis_down(resp);
        return;
    }
    for (size_t i = 0; i + 1 < ids->elements && (long)json_array_size(out) < limit;
         i += 2) {
        json_t *c = hash_to_json(sc_redis_batch_reply(b, i / 2));
        const char *st = json_string_value(json_object_get(c, "status"));
        const char *d = json_string_value(json_object_get(c, "department"));
        const char *p = json_string_value(json_object_get(c, "priority"));
        bool keep =
            st && strcmp(st, "resolved") != 0 && (!status || !strcmp(status, st)) &&
            (!dept || (d && !strcmp(dept, d))) && (!prio || (p && !strcmp(prio, p)));
        if (keep) {
            json_object_set_new(c, "customer", json_string(ids->element[i]->str));
            json_array_append_new(out, c);
        } else {
            json_decref(c);
        }
    }
    sc_redis_batch_free(b);
    freeReplyObject(ids);
    reply_json(resp, 200, json_pack("{s:o}", "cases", out));
}

static void h_case(void *opaque, const struct sc_http_request *req,
                   struct sc_http_response *resp)
{
    struct router_api *api = opaque;
    if (!authorised(api, req, resp))
        return;
    const char *customer = sc_http_query(req, "customer");
    if (!customer || !*customer || strlen(customer) > 400) {
        sc_http_json_error(resp, 400, "invalid_query", "customer is required");
        return;
    }
    redisReply *h = sc_redis_commandf(api->redis, "HGETALL case:{%s}", customer);
    struct router_rules *rules = atomic_load(api->rules);
    redisReply *l = sc_redis_commandf(api->redis, "LRANGE case:{%s}:history %d -1",
                                      customer, -rules->last_posts);
    if (!h || !l || h->type != REDIS_REPLY_ARRAY) {
        if (h)
            freeReplyObject(h);
        if (l)
            freeReplyObject(l);
        redis_down(resp);
        return;
    }
    if (h->elements == 0) {
        freeReplyObject(h);
        freeReplyObject(l);
        sc_http_json_error(resp, 404, "not_found", "no case for this customer");
        return;
    }
    json_t *c = hash_to_json(h);
    json_object_set_new(c, "customer", json_string(customer));
    json_t *hist = json_array();
    for (size_t i = 0; l->type == REDIS_REPLY_ARRAY && i < l->elements; i++) {
        json_t *e = json_loads(l->element[i]->str, 0, NULL);
        if (e)
            json_array_append_new(hist, e);
    }
    json_object_set_new(c, "history", hist);
    freeReplyObject(h);
    freeReplyObject(l);
    reply_json(resp, 200, c);
}

static void h_assign(void *opaque, const struct sc_http_request *req,
                     struct sc_http_response *resp)
{
    struct router_api *api = opaque;
    json_t *body = authorised_body(api, req, resp);
    if (!body)
        return;
    const char *customer = body_str(body, "customer", resp);
    const char *agent = customer ? body_str(body, "agent", resp) : NULL;
    if (agent) {
        char key[600], now[32];
        snprintf(key, sizeof(key), "case:{%s}", customer);
        snprintf(now, sizeof(now), "%lld", (long long)sc_wall_ms());
        const char *argv[] = {key, agent, now};
        size_t lens[] = {strlen(key), strlen(agent), strlen(now)};
        redisReply *r =
            sc_redis_eval(api->redis, &router_case_assign_script, 1, 3, argv, lens);
        if (!r || r->type == REDIS_REPLY_ERROR)
            redis_down(resp);
        else if (r->type != REDIS_REPLY_STRING)
            sc_http_json_error(resp, 404, "not_found", "no case for this customer");
        else
            reply_json(resp, 200,
                       json_pack("{s:s,s:s,s:s}", "customer", customer, "agent", agent,
                                 "status", r->str));
        if (r)
            freeReplyObject(r);
    }
    json_decref(body);
}

static void h_resolve(void *opaque, const struct sc_http_request *req,
                      struct sc_http_response *resp)
{
    struct router_api *api = opaque;
    json_t *body = authorised_body(api, req, resp);
    if (!body)
        return;
    const char *customer = body_str(body, "customer", resp);
    if (customer) {
        char key[600], now[32];
        snprintf(key, sizeof(key), "case:{%s}", customer);
        snprintf(now, sizeof(now), "%lld", (long long)sc_wall_ms());
        const char *cid = json_string_value(json_object_get(body, "case_id"));
        const char *argv[] = {key, now, cid ? cid : ""};
        size_t lens[] = {strlen(key), strlen(now), strlen(argv[2])};
        redisReply *r =
            sc_redis_eval(api->redis, &router_case_resolve_script, 1, 3, argv, lens);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            redis_down(resp);
        } else if (r->type != REDIS_REPLY_STRING) {
            sc_http_json_error(resp, 404, "not_found", "no open case for this customer");
        } else {
            redisReply *z1 = sc_redis_commandf(api->redis, "ZREM cases:due %s", customer);
            redisReply *z2 =
                sc_redis_commandf(api->redis, "ZREM sla:pending %s", customer);
            if (z1)
                freeReplyObject(z1);
            if (z2)
                freeReplyObject(z2);
            reply_json(resp, 200,
                       json_pack("{s:s,s:s,s:s}", "customer", customer, "case_id", r->str,
                                 "status", "resolved"));
        }
        if (r)
            freeReplyObject(r);
    }
    json_decref(body);
}

static void h_agents(void *opaque, const struct sc_http_request *req,
                     struct sc_http_response *resp)
{
    struct router_api *api = opaque;
    json_t *body = authorised_body(api, req, resp);
    if (!body)
        return;
    const char *agent = body_str(body, "agent", resp);
    json_t *avail = json_object_get(body, "available");
    if (agent && !json_is_boolean(avail)) {
        sc_http_json_error(resp, 400, "invalid_field", "\"available\" must be a boolean");
    } else if (agent) {
        redisReply *r = sc_redis_commandf(api->redis, "%s agents:available %s",
                                          json_is_true(avail) ? "SADD" : "SREM", agent);
        if (!r || r->type == REDIS_REPLY_ERROR)
            redis_down(resp);
        else
            reply_json(
                resp, 200,
                json_pack("{s:s,s:b}", "agent", agent, "available", json_is_true(avail)));
        if (r)
            freeReplyObject(r);
    }
    json_decref(body);
}

static void h_incidents(void *opaque, const struct sc_http_request *req,
                        struct sc_http_response *resp)
{
    struct router_api *api = opaque;
    if (!authorised(api, req, resp))
        return;
    redisReply *ids = sc_redis_commandf(api->redis, "ZREVRANGE incidents 0 99");
    if (!ids || ids->type != REDIS_REPLY_ARRAY) {
        if (ids)
            freeReplyObject(ids);
        redis_down(resp);
        return;
    }
    json_t *out = json_array();
    for (size_t i = 0; i < ids->elements; i++) {
        redisReply *h =
            sc_redis_commandf(api->redis, "HGETALL incident:{%s}", ids->element[i]->str);
        redisReply *n = sc_redis_commandf(api->redis, "SCARD incident:{%s}:cases",
                                          ids->element[i]->str);
        json_t *o = hash_to_json(h);
        json_object_set_new(
            o, "cases",
            json_integer(n && n->type == REDIS_REPLY_INTEGER ? n->integer : 0));
        json_array_append_new(out, o);
        if (h)
            freeReplyObject(h);
        if (n)
            freeReplyObject(n);
    }
    freeReplyObject(ids);
    reply_json(resp, 200, json_pack("{s:o}", "incidents", out));
}

/* The quiet state of the regions seen while sending one incident's follow-ups. */
struct quiet_regions {
    char name[32][64];
    bool quiet[32];
    size_t n;
};

/* True when the customer's region (from the last post in the case history) is in quiet
 * mode. A customer without a region, or whose history cannot be read, is not held. */
static bool customer_quiet(struct router_api *api, struct quiet_regions *qr,
                           const char *customer, int64_t now)
{
    redisReply *h =
        sc_redis_commandf(api->redis, "LINDEX case:{%s}:history -1", customer);
    char region[64] = "";
    if (h && h->type == REDIS_REPLY_STRING) {
        json_t *entry = json_loadb(h->str, h->len, 0, NULL);
        const char *r = json_string_value(json_object_get(entry, "region"));
        if (r && strlen(r) < sizeof(region))
            snprintf(region, sizeof(region), "%s", r);
        json_decref(entry);
    }
    if (h)
        freeReplyObject(h);
    if (!region[0])
        return false;
    for (size_t i = 0; i < qr->n; i++)
        if (!strcmp(qr->name[i], region))
            return qr->quiet[i];
    redisReply *q = sc_redis_commandf(api->redis, "GET quiet:region:%s", region);
    bool quiet = q && q->type == REDIS_REPLY_STRING && router_quiet_active(q->str, now);
    if (q)
        freeReplyObject(q);
    if (qr->n < sizeof(qr->name) / sizeof(qr->name[0])) {
        snprintf(qr->name[qr->n], sizeof(qr->name[qr->n]), "%s", region);
        qr->quiet[qr->n++] = quiet;
    }
    return quiet;
}

/* Sends the resolution follow-up to every linked customer (unless quiet mode holds it:
 * global, or the region of the customer's last post), then marks the incident resolved.
 * Reply ids "incident-<id>-<customer>" make a retry harmless. */
static void h_incident_resolve(void *opaque, const struct sc_http_request *req,
                               struct sc_http_response *resp)
{
    struct router_api *api = opaque;
    json_t *body = authorised_body(api, req, resp);
    if (!body)
        return;
    const char *id = body_str(body, "id", resp);
    if (!id) {
        json_decref(body);
        return;
    }
    redisReply *inc =
        sc_redis_commandf(api->redis, "HMGET incident:{%s} topic status", id);
    if (!inc || inc->type != REDIS_REPLY_ARRAY || inc->elements != 2) {
        if (inc)
            freeReplyObject(inc);
        json_decref(body);
        redis_down(resp);
        return;
    }
    if (inc->element[0]->type != REDIS_REPLY_STRING) {
        freeReplyObject(inc);
        json_decref(body);
        sc_http_json_error(resp, 404, "not_found", "no such incident");
        return;
    }
    char topic[300];
    snprintf(topic, sizeof(topic), "%s", inc->element[0]->str);
    freeReplyObject(inc);
    int64_t now = sc_wall_ms();
    redisReply *q = sc_redis_commandf(api->redis, "GET quiet:global");
    bool quiet = q && q->type == REDIS_REPLY_STRING && router_quiet_active(q->str, now);
    if (q)
        freeReplyObject(q);
    struct router_rules *rules = atomic_load(api->rules);
    const char *tpl = router_rules_template(rules, "incident_resolved");
    redisReply *members =
        sc_redis_commandf(api->redis, "SMEMBERS incident:{%s}:cases", id);
    struct sc_delivery delivery = {0};
    long sent = 0, held = 0;
    struct quiet_regions regions = {0};
    for (size_t i = 0;
         members && members->type == REDIS_REPLY_ARRAY && i < members->elements; i++) {
        const char *customer = members->element[i]->str;
        if (!quiet && customer_quiet(api, &regions, customer, now)) {
            held++;
            continue;
        }
        redisReply *c = sc_redis_commandf(
            api->redis, "HMGET case:{%s} case_id last_post department", customer);
        if (!c || c->type != REDIS_REPLY_ARRAY || c->elements != 3 ||
            c->element[0]->type != REDIS_REPLY_STRING ||
            c->element[1]->type != REDIS_REPLY_STRING) {
            if (c)
                freeReplyObject(c);
            continue;
        }
        const char *colon = strchr(customer, ':');
        char platform[64] = "generic";
        if (colon && (size_t)(colon - customer) < sizeof(platform)) {
            memcpy(platform, customer, (size_t)(colon - customer));
            platform[colon - customer] = '\0';
        }
        if (quiet || !tpl) {
            held++;
        } else {
            int d = c->element[2]->type == REDIS_REPLY_STRING
                        ? router_rules_department(rules, c->element[2]->str)
                        : -1;
            const char *sig = d >= 0 && rules->departments[d].signature
                                  ? rules->departments[d].signature
                                  : rules->team_signature;
            char text[1024], reply_id[700];
            if (router_ack_render(tpl, NULL, c->element[0]->str, sig, "", text,
                                  sizeof(text)) >= 0) {
                snprintf(reply_id, sizeof(reply_id), "incident-%s-%s", id, customer);
                json_t *msg =
                    json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "v", 1,
                              "reply_id", reply_id, "case_id", c->element[0]->str,
                              "customer", customer, "platform", platform, "channel",
                              "public", "in_reply_to", c->element[1]->str, "text", text,
                              "origin", "scheduled", "requires_review", 0);
                size_t len;
                char *s = sc_event_dump(msg, &len);
                json_decref(msg);
                if (sc_producer_send(api->producer, api->topic_replies_outbound, customer,
                                     strlen(customer), s, len, NULL, &delivery) == 0)
                    sent++;
                free(s);
            }
        }
        freeReplyObject(c);
    }
    if (members)
        freeReplyObject(members);
    int wrc = sent ? sc_producer_wait(api->producer, &delivery, 10000) : 0;
    if (wrc != 0) {
        json_decref(body);
        sc_http_json_error(resp, 503, "unavailable",
                           "follow-ups not acknowledged by Kafka");
        return;
    }
    char nowt[32];
    snprintf(nowt, sizeof(nowt), "%lld", (long long)now);
    redisReply *r = sc_redis_commandf(api->redis,
                                      "HSET incident:{%s} status resolved resolved_at %s "
                                      "followups %ld",
                                      id, nowt, sent);
    if (r)
        freeReplyObject(r);
    /* the topic may open a new incident from now on */
    r = sc_redis_commandf(api->redis, "HGET spike:{%s} incident", topic);
    if (r && r->type == REDIS_REPLY_STRING && !strcmp(r->str, id)) {
        freeReplyObject(r);
        r = sc_redis_commandf(api->redis, "HSET spike:{%s} incident %s", topic, "");
    }
    if (r)
        freeReplyObject(r);
    /* and so may the phrases that were part of it (fields p<hash>) */
    r = sc_redis_commandf(api->redis, "HGETALL spike:{%s}", topic);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            f->str[0] == 'p' && !strcmp(v->str, id)) {
            redisReply *d =
                sc_redis_commandf(api->redis, "HDEL spike:{%s} %s", topic, f->str);
            if (d)
                freeReplyObject(d);
        }
    }
    if (r)
        freeReplyObject(r);
    reply_json(resp, 200,
               json_pack("{s:s,s:s,s:i,s:i}", "id", id, "status", "resolved", "followups",
                         (int)sent, "held_by_quiet_mode", (int)held));
    json_decref(body);
}

int router_quiet_set(struct sc_redis *redis, const char *region, long long end_ms,
                     long long now_ms)
{
    char key[300];
    if (region)
        snprintf(key, sizeof(key), "quiet:region:%s", region);
    else
        snprintf(key, sizeof(key), "quiet:global");
    redisReply *r;
    if (end_ms <= now_ms)
        r = sc_redis_commandf(redis, "DEL %s", key);
    else
        r = sc_redis_commandf(redis, "SET %s %lld PX %lld", key, end_ms, end_ms - now_ms);
    int rc = r && r->type != REDIS_REPLY_ERROR ? 0 : SC_EIO;
    if (r)
        freeReplyObject(r);
    return rc;
}

static void h_quiet_get(void *opaque, const struct sc_http_request *req,
                        struct sc_http_response *resp)
{
    struct router_api *api = opaque;
    if (!authorised(api, req, resp))
        return;
    const char *region = sc_http_query(req, "region");
    redisReply *r = region ? sc_redis_commandf(api->redis, "GET quiet:region:%s", region)
                           : sc_redis_commandf(api->redis, "GET quiet:global");
    if (!r || r->type == REDIS_REPLY_ERROR) {
        if (r)
            freeReplyObject(r);
        redis_down(resp);
        return;
    }
    long long now = sc_wall_ms();
    bool on = r->type == REDIS_REPLY_STRING && router_quiet_active(r->str, now);
    json_t *o = json_pack("{s:s,s:b}", "scope", region ? region : "global", "quiet", on);
    if (on) {
        char until[40];
        sc_format_time(strtoll(r->str, NULL, 10), until, sizeof(until));
        json_object_set_new(o, "until", json_string(until));
    }
    freeReplyObject(r);
    reply_json(resp, 200, o);
}

static void h_quiet_set(void *opaque, const struct sc_http_request *req,
                        struct sc_http_response *resp)
{
    struct router_api *api = opaque;
    json_t *body = authorised_body(api, req, resp);
    if (!body)
        return;
    json_t *reg = json_object_get(body, "region");
    json_t *minutes = json_object_get(body, "minutes");
    if ((reg && (!json_is_string(reg) || !*json_string_value(reg) ||
                 strlen(json_string_value(reg)) > 100)) ||
        !json_is_number(minutes) || json_number_value(minutes) < 0 ||
        json_number_value(minutes) > 7 * 24 * 60) {
        json_decref(body);
        sc_http_json_error(resp, 400, "invalid_field",
                           "need \"minutes\" (0 .. 10080, 0 = off) and an optional "
                           "non-empty \"region\"");
        return;
    }
    long long now = sc_wall_ms();
    long long end = now + (long long)(json_number_value(minutes) * 60000.0);
    const char *region = reg ? json_string_value(reg) : NULL;
    if (router_quiet_set(api->redis, region, end, now) != 0) {
        json_decref(body);
        redis_down(resp);
        return;
    }
    sc_log(SC_LOG_NOTICE, "API", "quiet mode %s for %s", end > now ? "on" : "off",
           region ? "a region" : "all regions");
    json_t *o =
        json_pack("{s:s,s:b}", "scope", region ? region : "global", "quiet", end > now);
    if (end > now) {
        char until[40];
        sc_format_time(end, until, sizeof(until));
        json_object_set_new(o, "until", json_string(until));
    }
    json_decref(body);
    reply_json(resp, 200, o);
}

int router_api_register(struct sc_http *http, struct router_api *api)
{
    sc_redis_script_register(api->redis, &router_case_assign_script);
    sc_redis_script_register(api->redis, &router_case_resolve_script);
    struct {
        const char *method, *path;
        sc_http_handler_fn fn;
    } routes[] = {
        {"GET", "/v1/cases", h_cases},
        {"GET", "/v1/case", h_case},
        {"POST", "/v1/case/assign", h_assign},
        {"POST", "/v1/case/resolve", h_resolve},
        {"POST", "/v1/agents", h_agents},
        {"GET", "/v1/incidents", h_incidents},
        {"POST", "/v1/incidents/resolve", h_incident_resolve},
        {"GET", "/v1/quiet", h_quiet_get},
        {"POST", "/v1/quiet", h_quiet_set},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (sc_http_route(http, routes[i].method, routes[i].path, routes[i].fn, api) != 0)
            return SC_EINVAL;
    return 0;
}
