/* Helpers shared by the responder's end-to-end tests (header-only, static functions):
 * start the platform peer and a responder wired to it, produce replies, find receipts on
 * replies.delivered, read the peer's statistics and accepted posts, and call the agent
 * API with the bearer token. */
#ifndef RESPONDER_COMMON_H
#define RESPONDER_COMMON_H

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define RSP_TOKEN     "peer-token"
#define RSP_API_TOKEN "agent-api-token"

/* The environment of a responder whose platforms all point at the peer. Free with
 * rsp_env_free. extra: more "K=V" strings (NULL-terminated, may be NULL). */
static inline char **rsp_env(int peer_port, const char *const *extra)
{
    char **env = sc_calloc(32, sizeof(*env));
    size_t n = 0;
    env[n++] = sc_asprintf("MASTODON_URL=http://127.0.0.1:%d", peer_port);
    env[n++] = sc_asprintf("MASTODON_TOKEN=%s", RSP_TOKEN);
    env[n++] = sc_asprintf("X_API_URL=http://127.0.0.1:%d", peer_port);
    env[n++] = sc_asprintf("X_BEARER_TOKEN=%s", RSP_TOKEN);
    env[n++] = sc_asprintf("BLUESKY_URL=http://127.0.0.1:%d", peer_port);
    env[n++] = sc_strdup("BLUESKY_IDENTIFIER=brand.example");
    env[n++] = sc_asprintf("BLUESKY_APP_PASSWORD=%s", RSP_TOKEN);
    env[n++] = sc_asprintf("REPLY_ENDPOINT=http://127.0.0.1:%d/hook", peer_port);
    env[n++] = sc_strdup("REPLY_WEBHOOK_SECRET=hook-secret");
    env[n++] = sc_strdup("RESPONDER_API_TOKEN=" RSP_API_TOKEN);
    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        env[n++] = sc_strdup(extra[i]);
    return env;
}

static inline void rsp_env_free(char **env)
{
    for (size_t i = 0; env[i]; i++)
        sc_free(env[i]);
    sc_free(env);
}

/* A reply event as JSON (fields beyond the required ones given as a JSON object text,
 * may be NULL). @returns a new string. */
static inline char *rsp_reply(const char *id, const char *platform, const char *customer,
                              const char *in_reply_to, const char *channel,
                              const char *text, const char *origin, const char *more)
{
    json_t *r = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "v", 1, "reply_id", id,
                          "case_id", "case-1", "customer", customer, "platform", platform,
                          "channel", channel, "text", text, "origin", origin);
    if (in_reply_to)
        json_object_set_new(r, "in_reply_to", json_string(in_reply_to));
    if (more) {
        json_t *m = json_loads(more, 0, NULL);
        assert_non_null(m);
        json_object_update(r, m);
        json_decref(m);
    }
    char *s = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    char *copy = sc_strdup(s);
    free(s);
    return copy;
}

static inline void rsp_produce(struct e2e *e, const char *json)
{
    json_t *r = json_loads(json, 0, NULL);
    assert_non_null(r);
    const char *customer = json_string_value(json_object_get(r, "customer"));
    e2e_produce(e, "replies.outbound", customer, json, strlen(json), NULL);
    json_decref(r);
}

/* The status of the last receipt for reply_id (borrowed), or NULL. */
static inline const struct e2e_msg *rsp_receipt(struct e2e_collector *coll,
                                                const char *reply_id)
{
    const struct e2e_msg *found = NULL;
    for (size_t i = 0; i < e2e_collector_count(coll); i++) {
        const struct e2e_msg *m = e2e_collector_msg(coll, i);
        if (strcmp(m->topic, "replies.delivered") != 0)
            continue;
        const char *id = e2e_msg_str(m, "reply_id");
        if (id && strcmp(id, reply_id) == 0)
            found = m;
    }
    return found;
}

static inline const char *rsp_status(struct e2e_collector *coll, const char *reply_id)
{
    const struct e2e_msg *m = rsp_receipt(coll, reply_id);
    return m ? e2e_msg_str(m, "status") : NULL;
}

/* Condition: every id in a NULL-terminated list has a receipt with the given status. */
struct rsp_wait {
    struct e2e_collector *coll;
    const char *const *ids;
    const char *status; /* NULL = any */
};

static inline bool rsp_all_have(struct e2e *e, void *arg)
{
    (void)e;
    struct rsp_wait *w = arg;
    for (size_t i = 0; w->ids[i]; i++) {
        const char *s = rsp_status(w->coll, w->ids[i]);
        if (!s || (w->status && strcmp(s, w->status) != 0))
            return false;
    }
    return true;
}

/* Peer statistics field. */
static inline long rsp_peer_stat(int port, const char *field)
{
    struct e2e_http_resp resp;
    long status = e2e_http_get(port, "/stats", &resp);
    long v = -1;
    if (status == 200 && resp.json)
        v = (long)json_integer_value(json_object_get(resp.json, field));
    e2e_http_resp_cleanup(&resp);
    return v;
}

/* The peer's accepted posts (new reference). */
static inline json_t *rsp_peer_posts(int port)
{
    struct e2e_http_resp resp;
    assert_int_equal(e2e_http_get(port, "/posts", &resp), 200);
    json_t *posts = json_incref(json_object_get(resp.json, "posts"));
    e2e_http_resp_cleanup(&resp);
    assert_non_null(posts);
    return posts;
}

/* The accepted posts of one family whose text contains needle (borrowed from posts). */
static inline size_t rsp_find_posts(json_t *posts, const char *family, const char *needle,
                                    json_t **out, size_t max)
{
    size_t n = 0;
    size_t i;
    json_t *p;
    json_array_foreach(posts, i, p)
    {
        const char *f = json_string_value(json_object_get(p, "family"));
        const char *t = json_string_value(json_object_get(p, "text"));
        if (f && t && strcmp(f, family) == 0 && strstr(t, needle)) {
            if (n < max)
                out[n] = p;
            n++;
        }
    }
    return n;
}

/* An agent API call with the bearer token (token NULL = none). */
static inline long rsp_api(int port, const char *method, const char *path,
                           const char *body, const char *token,
                           struct e2e_http_resp *resp)
{
    char auth[200];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "");
    const char *headers[] = {"Content-Type: application/json", token ? auth : NULL, NULL};
    return e2e_http(port, method, path, body, body ? strlen(body) : 0, headers, resp);
}

/* Value of a metric sample on a service's /metrics (0 when absent). */
static inline double rsp_metric(int port, const char *series)
{
    struct e2e_http_resp resp;
    double v = 0;
    if (e2e_http_get(port, "/metrics", &resp) == 200) {
        double got = e2e_metric(resp.body, series);
        v = got < 0 ? 0 : got;
    }
    e2e_http_resp_cleanup(&resp);
    return v;
}

#endif
