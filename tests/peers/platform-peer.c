/* socialcare-platform-peer: a local HTTP server that behaves like the documented platform
 * APIs the responder talks to, for tests and benchmarks:
 *   Mastodon  POST /api/v1/statuses (Bearer; status <= --mastodon-max code points;
 *             Idempotency-Key: a repeated key returns the first status and is not
 *             posted again; X-RateLimit-Limit/Remaining/Reset (ISO 8601))
 *   X API v2  POST /2/tweets (Bearer; reply.in_reply_to_tweet_id; 403 on duplicate
 *             text) and POST /2/dm_conversations/with/<id>/messages
 *             (x-rate-limit-limit/remaining/reset (epoch seconds))
 *   Bluesky   POST /xrpc/com.atproto.server.createSession, POST
 *             /xrpc/com.atproto.repo.createRecord (session JWT; repo = the DID;
 *             13-character rkey; an existing rkey is refused; reply.root and
 *             reply.parent need uri and cid; RateLimit-* headers)
 *   Webhook   POST /hook (Idempotency-Key; X-Socialcare-Signature checked with --secret)
 * Options: --port N (0 = free), --token T (expected bearer), --limit N and --window-ms W
 * (each API family answers 429 with its headers above N posts per window), --fail-first
 * N (503 for the first N posts; sessions are not failed), --hang-first N (the first N
 * posts are accepted, then the answer hangs for --hang-ms: an unknown outcome for the
 * client), --mastodon-max N,
 * --session-ttl N (a Bluesky access token expires after N createRecord calls: 400
 * ExpiredToken, as a PDS answers). GET /stats answers
 * {"requests","accepted","rate_limited","failed","refused", "duplicates","max_copies"}
 * where max_copies is the highest number of accepted posts with one text (exactly once
 * means 1); GET /posts lists the accepted posts. Prints "socialcare-platform-peer ready
 * port=N" and exits 0 on SIGTERM/SIGINT. */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define PEER_MAX_BODY 65536

struct post {
    char *family; /* mastodon, x, x_dm, bluesky, hook */
    char *text;
    char *key;   /* idempotency key or rkey ("" none) */
    char *extra; /* in_reply_to / visibility / recipient, JSON */
    char id[64];
};

static struct {
    pthread_mutex_t lock;
    const char *token;
    const char *secret;
    long limit, window_ms, fail_first, hang_first, hang_ms, mastodon_max;
    long session_ttl;  /* createRecord calls a session's token is good for (0 = always) */
    long session_gen;  /* sessions created */
    long session_used; /* createRecord calls with the current token */
    char jwt[64];      /* the current access token */
    struct post *posts;
    size_t n_posts, cap_posts;
    long requests, accepted, rate_limited, failed, refused, duplicates, hung;
    int64_t window_start[5];
    long window_count[5];
    uint64_t next_id;
    size_t *copies; /* per first post of a text: accepted copies */
    size_t copies_cap;
    long max_copies;
    volatile sig_atomic_t stopping;
} peer = {.lock = PTHREAD_MUTEX_INITIALIZER,
          .window_ms = 1000,
          .hang_ms = 30000,
          .mastodon_max = 500,
          .next_id = 1000};

struct conn {
    char *body;
    size_t len;
    bool too_big;
};

static int64_t peer_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum MHD_Result peer_send(struct MHD_Connection *c, unsigned status, json_t *body,
                                 const char *const *headers)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : strdup("");
    json_decref(body);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(r, headers[i], headers[i + 1]);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result peer_error(struct MHD_Connection *c, unsigned status,
                                  const char *error, const char *message)
{
    pthread_mutex_lock(&peer.lock);
    peer.refused++;
    pthread_mutex_unlock(&peer.lock);
    return peer_send(c, status,
                     json_pack("{s:s,s:s}", "error", error, "message", message), NULL);
}

static size_t peer_codepoints(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static bool peer_auth(struct MHD_Connection *c, const char *token)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return token && h && strncmp(h, "Bearer ", 7) == 0 && strcmp(h + 7, token) == 0;
}

/* Rate-limit headers of a family, filled by peer_rate. */
struct rate {
    char limit[24], remaining[24], reset[40];
    const char *h[8];
};

/* Counts one post against its family's window; false = limited (429). */
static bool peer_rate(int fam, const char *style, struct rate *rt)
{
    int64_t now = peer_now_ms();
    bool ok = true;
    long remaining = 1000000;
    int64_t reset = now + peer.window_ms;
    if (peer.limit > 0) {
        if (now - peer.window_start[fam] >= peer.window_ms) {
            peer.window_start[fam] = now;
            peer.window_count[fam] = 0;
        }
        reset = peer.window_start[fam] + peer.window_ms;
        if (peer.window_count[fam] >= peer.limit) {
            ok = false;
            remaining = 0;
        } else {
            peer.window_count[fam]++;
            remaining = peer.limit - peer.window_count[fam];
        }
    }
    snprintf(rt->limit, sizeof(rt->limit), "%ld", peer.limit > 0 ? peer.limit : 1000000);
    snprintf(rt->remaining, sizeof(rt->remaining), "%ld", remaining);
    if (strcmp(style, "mastodon") == 0) {
        time_t t = (time_t)(reset / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        char base[32];
        strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(rt->reset, sizeof(rt->reset), "%s.%03dZ", base, (int)(reset % 1000));
        rt->h[0] = "X-RateLimit-Limit", rt->h[2] = "X-RateLimit-Remaining";
        rt->h[4] = "X-RateLimit-Reset";
    } else {
        /* epoch seconds, rounded up so a client never comes back early */
        snprintf(rt->reset, sizeof(rt->reset), "%lld", (long long)((reset + 999) / 1000));
        bool x = strcmp(style, "x") == 0;
        rt->h[0] = x ? "x-rate-limit-limit" : "RateLimit-Limit";
        rt->h[2] = x ? "x-rate-limit-remaining" : "RateLimit-Remaining";
        rt->h[4] = x ? "x-rate-limit-reset" : "RateLimit-Reset";
    }
    rt->h[1] = rt->limit, rt->h[3] = rt->remaining, rt->h[5] = rt->reset, rt->h[6] = NULL;
    return ok;
}

/* A chained hash index of accepted posts: "<family>\x01k<key>" and "<family>\x01t<text>"
 * -> post index (so lookups stay O(1) in long benchmark runs). */
struct hnode {
    char *name;
    size_t post;
    struct hnode *next;
};
#define PEER_BUCKETS (1u << 20)
static struct hnode **peer_index;

static uint64_t peer_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static char *peer_name(const char *family, char kind, const char *v)
{
    char *name = NULL;
    if (asprintf(&name, "%s\x01%c%s", family, kind, v) < 0)
        abort();
    return name;
}

static struct post *peer_lookup(const char *family, char kind, const char *v)
{
    char *name = peer_name(family, kind, v);
    struct hnode *n = peer_index[peer_hash(name) & (PEER_BUCKETS - 1)];
    while (n && strcmp(n->name, name) != 0)
        n = n->next;
    free(name);
    return n ? &peer.posts[n->post] : NULL;
}

static void peer_insert(const char *family, char kind, const char *v, size_t post)
{
    struct hnode *n = malloc(sizeof(*n));
    n->name = peer_name(family, kind, v);
    n->post = post;
    uint64_t b = peer_hash(n->name) & (PEER_BUCKETS - 1);
    n->next = peer_index[b];
    peer_index[b] = n;
}

static struct post *peer_find(const char *family, const char *key, const char *text)
{
    if (key && key[0])
        return peer_lookup(family, 'k', key);
    if (text)
        return peer_lookup(family, 't', text);
    return NULL;
}

static struct post *peer_add(const char *family, const char *text, const char *key,
                             json_t *extra)
{
    if (peer.n_posts == peer.cap_posts) {
        peer.cap_posts = peer.cap_posts ? 2 * peer.cap_posts : 1024;
        peer.posts = realloc(peer.posts, peer.cap_posts * sizeof(*peer.posts));
    }
    size_t idx = peer.n_posts++;
    struct post *p = &peer.posts[idx];
    p->family = strdup(family);
    p->text = strdup(text);
    p->key = strdup(key ? key : "");
    p->extra = json_dumps(extra, JSON_COMPACT);
    json_decref(extra);
    snprintf(p->id, sizeof(p->id), "%llu", (unsigned long long)++peer.next_id);
    peer.accepted++;
    if (peer.copies_cap <= idx) {
        size_t cap = peer.cap_posts;
        peer.copies = realloc(peer.copies, cap * sizeof(*peer.copies));
        for (size_t i = peer.copies_cap; i < cap; i++)
            peer.copies[i] = 1;
        peer.copies_cap = cap;
    }
    /* copies of one text: counted for max_copies */
    struct post *same = peer_lookup(family, 't', text);
    size_t copies = 1;
    if (same)
        copies = ++peer.copies[same - peer.posts];
    else
        peer_insert(family, 't', text, idx);
    if ((long)copies > peer.max_copies)
        peer.max_copies = (long)copies;
    if (key && key[0])
        peer_insert(family, 'k', key, idx);
    return p;
}

/* Hang after accepting: the client sees a timeout (unknown outcome). */
static bool peer_should_hang(void)
{
    if (peer.hang_first > 0 && peer.hung < peer.hang_first) {
        peer.hung++;
        return true;
    }
    return false;
}

static void peer_hang(void)
{
    for (long waited = 0; waited < peer.hang_ms && !peer.stopping; waited += 20)
        usleep(20000);
}

static enum MHD_Result peer_post(struct MHD_Connection *c, const char *url, json_t *body,
                                 const char *raw)
{
    const char *idem = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    struct rate rt;
    bool hang = false;
    enum MHD_Result ret;
    pthread_mutex_lock(&peer.lock);
    peer.requests++;
    if (peer.fail_first > 0 && peer.failed < peer.fail_first &&
        strcmp(url, "/xrpc/com.atproto.server.createSession") != 0) {
        peer.failed++;
        pthread_mutex_unlock(&peer.lock);
        return peer_send(c, 503, json_pack("{s:s}", "error", "injected failure"), NULL);
    }
    pthread_mutex_unlock(&peer.lock);

    if (strcmp(url, "/api/v1/statuses") == 0) {
        if (!peer_auth(c, peer.token))
            return peer_error(c, 401, "unauthorized", "The access token is invalid");
        const char *status = json_string_value(json_object_get(body, "status"));
        const char *vis = json_string_value(json_object_get(body, "visibility"));
        json_t *irt = json_object_get(body, "in_reply_to_id");
        if (!status || !status[0])
            return peer_error(c, 422, "validation",
                              "Validation failed: Text can't be blank");
        if (vis && strcmp(vis, "public") && strcmp(vis, "unlisted") &&
            strcmp(vis, "private") && strcmp(vis, "direct"))
            return peer_error(c, 422, "validation", "Validation failed: visibility");
        if (irt && !json_is_string(irt))
            return peer_error(c, 422, "validation", "in_reply_to_id must be a string");
        if ((long)peer_codepoints(status) > peer.mastodon_max)
            return peer_error(c, 422, "validation",
                              "Validation failed: Text character limit exceeded");
        pthread_mutex_lock(&peer.lock);
        struct post *p = idem && idem[0] ? peer_find("mastodon", idem, NULL) : NULL;
        if (p) { /* the same key: the same status, posted once */
            peer.duplicates++;
            json_t *out = json_pack("{s:s,s:s}", "id", p->id, "content", p->text);
            pthread_mutex_unlock(&peer.lock);
            return peer_send(c, 200, out, NULL);
        }
        if (!peer_rate(0, "mastodon", &rt)) {
            peer.rate_limited++;
            pthread_mutex_unlock(&peer.lock);
            return peer_send(c, 429, json_pack("{s:s}", "error", "Too many requests"),
                             rt.h);
        }
        p = peer_add("mastodon", status, idem,
                     json_pack("{s:s,s:O}", "visibility", vis ? vis : "public",
                               "in_reply_to_id", irt ? irt : json_null()));
        json_t *out = json_pack("{s:s,s:s,s:s}", "id", p->id, "content", p->text,
                                "visibility", vis ? vis : "public");
        hang = peer_should_hang();
        pthread_mutex_unlock(&peer.lock);
        if (hang) {
            peer_hang();
            json_decref(out);
            return MHD_NO;
        }
        return peer_send(c, 200, out, rt.h);
    }

    bool is_dm = strncmp(url, "/2/dm_conversations/with/", 25) == 0;
    if (strcmp(url, "/2/tweets") == 0 || is_dm) {
        if (!peer_auth(c, peer.token))
            return peer_send(
                c, 401, json_pack("{s:s,s:i}", "title", "Unauthorized", "status", 401),
                NULL);
        const char *text = json_string_value(json_object_get(body, "text"));
        char recipient[64] = "";
        if (is_dm) {
            const char *id = url + 25;
            size_t l = strcspn(id, "/");
            if (l == 0 || l >= sizeof(recipient) || strcmp(id + l, "/messages") != 0)
                return peer_error(c, 404, "not_found", "no such path");
            memcpy(recipient, id, l);
            recipient[l] = '\0';
        }
        if (!text || !text[0])
            return peer_send(
                c, 400, json_pack("{s:s,s:i}", "title", "Invalid Request", "status", 400),
                NULL);
        json_t *reply = json_object_get(body, "reply");
        const char *irt =
            json_string_value(json_object_get(reply, "in_reply_to_tweet_id"));
        if (reply && !irt)
            return peer_error(c, 400, "invalid_request", "reply.in_reply_to_tweet_id");
        pthread_mutex_lock(&peer.lock);
        if (!is_dm && peer_find("x", NULL, text)) {
            peer.duplicates++;
            pthread_mutex_unlock(&peer.lock);
            return peer_send(
                c, 403,
                json_pack("{s:s,s:s,s:i}", "detail",
                          "You are not allowed to create a Tweet with duplicate content.",
                          "title", "Forbidden", "status", 403),
                NULL);
        }
        if (!peer_rate(is_dm ? 2 : 1, "x", &rt)) {
            peer.rate_limited++;
            pthread_mutex_unlock(&peer.lock);
            return peer_send(
                c, 429,
                json_pack("{s:s,s:i}", "title", "Too Many Requests", "status", 429),
                rt.h);
        }
        struct post *p =
            peer_add(is_dm ? "x_dm" : "x", text, "",
                     is_dm ? json_pack("{s:s}", "recipient", recipient)
                           : json_pack("{s:s?}", "in_reply_to_tweet_id", irt));
        json_t *out = is_dm
                          ? json_pack("{s:{s:s,s:s}}", "data", "dm_conversation_id",
                                      recipient, "dm_event_id", p->id)
                          : json_pack("{s:{s:s,s:s}}", "data", "id", p->id, "text", text);
        hang = peer_should_hang();
        pthread_mutex_unlock(&peer.lock);
        if (hang) {
            peer_hang();
            json_decref(out);
            return MHD_NO;
        }
        return peer_send(c, 201, out, rt.h);
    }

    if (strcmp(url, "/xrpc/com.atproto.server.createSession") == 0) {
        const char *pw = json_string_value(json_object_get(body, "password"));
        const char *ident = json_string_value(json_object_get(body, "identifier"));
        if (!pw || !ident || (peer.token && strcmp(pw, peer.token) != 0))
            return peer_error(c, 401, "AuthenticationRequired",
                              "Invalid identifier or password");
        pthread_mutex_lock(&peer.lock);
        peer.session_gen++;
        peer.session_used = 0;
        snprintf(peer.jwt, sizeof(peer.jwt), "peer-access-jwt-%ld", peer.session_gen);
        json_t *out =
            json_pack("{s:s,s:s,s:s,s:s}", "accessJwt", peer.jwt, "refreshJwt",
                      "peer-refresh-jwt", "handle", ident, "did", "did:plc:peer");
        pthread_mutex_unlock(&peer.lock);
        return peer_send(c, 200, out, NULL);
    }

    if (strcmp(url, "/xrpc/com.atproto.repo.createRecord") == 0) {
        pthread_mutex_lock(&peer.lock);
        char jwt[64];
        snprintf(jwt, sizeof(jwt), "%s", peer.jwt);
        bool expired = peer.session_ttl > 0 && peer.session_used >= peer.session_ttl;
        if (!expired)
            peer.session_used++;
        pthread_mutex_unlock(&peer.lock);
        if (!peer_auth(c, jwt))
            return peer_error(c, 401, "AuthenticationRequired",
                              "Authentication Required");
        if (expired)
            return peer_error(c, 400, "ExpiredToken", "Token has expired");
        const char *repo = json_string_value(json_object_get(body, "repo"));
        const char *coll = json_string_value(json_object_get(body, "collection"));
        const char *rkey = json_string_value(json_object_get(body, "rkey"));
        json_t *record = json_object_get(body, "record");
        const char *text = json_string_value(json_object_get(record, "text"));
        const char *type = json_string_value(json_object_get(record, "$type"));
        if (!repo || strcmp(repo, "did:plc:peer") != 0 || !coll ||
            strcmp(coll, "app.bsky.feed.post") != 0 || !type ||
            strcmp(type, "app.bsky.feed.post") != 0 || !text ||
            !json_is_string(json_object_get(record, "createdAt")) ||
            (rkey && strlen(rkey) != 13) || strlen(text) > 3000)
            return peer_error(c, 400, "InvalidRequest",
                              "Invalid app.bsky.feed.post record");
        json_t *reply = json_object_get(record, "reply");
        if (reply) {
            const char *ru =
                json_string_value(json_object_get(json_object_get(reply, "root"), "uri"));
            const char *pu = json_string_value(
                json_object_get(json_object_get(reply, "parent"), "uri"));
            if (!ru || !pu ||
                !json_is_string(json_object_get(json_object_get(reply, "root"), "cid")) ||
                !json_is_string(json_object_get(json_object_get(reply, "parent"), "cid")))
                return peer_error(c, 400, "InvalidRequest",
                                  "reply needs root and parent refs");
        }
        pthread_mutex_lock(&peer.lock);
        if (rkey && peer_find("bluesky", rkey, NULL)) {
            peer.duplicates++;
            pthread_mutex_unlock(&peer.lock);
            return peer_send(c, 400,
                             json_pack("{s:s,s:s}", "error", "InvalidRequest", "message",
                                       "Record already exists"),
                             NULL);
        }
        if (!peer_rate(3, "bluesky", &rt)) {
            peer.rate_limited++;
            pthread_mutex_unlock(&peer.lock);
            return peer_send(c, 429,
                             json_pack("{s:s,s:s}", "error", "RateLimitExceeded",
                                       "message", "Rate Limit Exceeded"),
                             rt.h);
        }
        struct post *p =
            peer_add("bluesky", text, rkey ? rkey : "",
                     json_pack("{s:O}", "reply", reply ? reply : json_null()));
        char uri[160], cid[96];
        snprintf(uri, sizeof(uri), "at://did:plc:peer/app.bsky.feed.post/%s",
                 rkey ? rkey : p->id);
        snprintf(cid, sizeof(cid), "bafyreipeer%s", p->id);
        json_t *out = json_pack("{s:s,s:s}", "uri", uri, "cid", cid);
        hang = peer_should_hang();
        pthread_mutex_unlock(&peer.lock);
        if (hang) {
            peer_hang();
            json_decref(out);
            return MHD_NO;
        }
        return peer_send(c, 200, out, rt.h);
    }

    if (strcmp(url, "/hook") == 0) {
        if (peer.secret) {
            const char *ts =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Socialcare-Timestamp");
            const char *sig =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Socialcare-Signature");
            if (!ts || !sig)
                return peer_error(c, 401, "unsigned", "signature headers missing");
            char *msg = NULL;
            if (asprintf(&msg, "%s.%s", ts, raw) < 0)
                abort();
            unsigned char mac[EVP_MAX_MD_SIZE];
            unsigned int ml = 0;
            HMAC(EVP_sha256(), peer.secret, (int)strlen(peer.secret),
                 (const unsigned char *)msg, strlen(msg), mac, &ml);
            free(msg);
            char want[8 + 2 * EVP_MAX_MD_SIZE + 1] = "sha256=";
            for (unsigned int i = 0; i < ml; i++)
                snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
            if (strcmp(want, sig) != 0)
                return peer_error(c, 401, "bad_signature", "signature mismatch");
        }
        const char *text = json_string_value(json_object_get(body, "text"));
        if (!text || !json_is_string(json_object_get(body, "reply_id")))
            return peer_error(c, 400, "invalid", "reply_id and text are required");
        pthread_mutex_lock(&peer.lock);
        struct post *p = idem && idem[0] ? peer_find("hook", idem, NULL) : NULL;
        if (p) {
            peer.duplicates++;
            json_t *out = json_pack("{s:s}", "id", p->id);
            pthread_mutex_unlock(&peer.lock);
            return peer_send(c, 200, out, NULL);
        }
        if (!peer_rate(4, "x", &rt)) {
            peer.rate_limited++;
            pthread_mutex_unlock(&peer.lock);
            return peer_send(c, 429, json_pack("{s:s}", "error", "rate_limited"), rt.h);
        }
        p = peer_add("hook", text, idem,
                     json_pack("{s:O}", "channel", json_object_get(body, "channel")));
        json_t *out = json_pack("{s:s}", "id", p->id);
        hang = peer_should_hang();
        pthread_mutex_unlock(&peer.lock);
        if (hang) {
            peer_hang();
            json_decref(out);
            return MHD_NO;
        }
        return peer_send(c, 200, out, rt.h);
    }
    ret = peer_error(c, 404, "not_found", "no such path");
    return ret;
}

static json_t *peer_stats(void)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "requests",
                     (json_int_t)peer.requests, "accepted", (json_int_t)peer.accepted,
                     "rate_limited", (json_int_t)peer.rate_limited, "failed",
                     (json_int_t)peer.failed, "refused", (json_int_t)peer.refused,
                     "duplicates", (json_int_t)peer.duplicates, "max_copies",
                     (json_int_t)peer.max_copies);
}

static enum MHD_Result peer_handler(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version,
                                    const char *upload, size_t *upload_size, void **ptr)
{
    (void)cls;
    (void)version;
    struct conn *cn = *ptr;
    if (!cn) {
        cn = calloc(1, sizeof(*cn));
        *ptr = cn;
        return MHD_YES;
    }
    if (*upload_size) {
        if (cn->len + *upload_size > PEER_MAX_BODY) {
            cn->too_big = true;
        } else {
            cn->body = realloc(cn->body, cn->len + *upload_size + 1);
            memcpy(cn->body + cn->len, upload, *upload_size);
            cn->len += *upload_size;
            cn->body[cn->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") == 0 && strcmp(url, "/stats") == 0) {
        pthread_mutex_lock(&peer.lock);
        json_t *s = peer_stats();
        pthread_mutex_unlock(&peer.lock);
        return peer_send(c, 200, s, NULL);
    }
    if (strcmp(method, "GET") == 0 && strcmp(url, "/posts") == 0) {
        json_t *list = json_array();
        pthread_mutex_lock(&peer.lock);
        for (size_t i = 0; i < peer.n_posts; i++) {
            struct post *p = &peer.posts[i];
            json_t *extra = json_loads(p->extra, 0, NULL);
            json_array_append_new(list,
                                  json_pack("{s:s,s:s,s:s,s:s,s:o}", "family", p->family,
                                            "text", p->text, "key", p->key, "id", p->id,
                                            "extra", extra ? extra : json_null()));
        }
        pthread_mutex_unlock(&peer.lock);
        return peer_send(c, 200, json_pack("{s:o}", "posts", list), NULL);
    }
    if (strcmp(method, "POST") != 0)
        return peer_error(c, 405, "method_not_allowed", "POST only");
    if (cn->too_big)
        return peer_error(c, 413, "too_large", "body too large");
    json_t *body = json_loadb(cn->body ? cn->body : "", cn->len, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return peer_error(c, 400, "invalid_json", "body must be a JSON object");
    }
    enum MHD_Result ret = peer_post(c, url, body, cn->body ? cn->body : "");
    json_decref(body);
    return ret;
}

static void peer_done(void *cls, struct MHD_Connection *c, void **ptr,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct conn *cn = *ptr;
    if (cn) {
        free(cn->body);
        free(cn);
        *ptr = NULL;
    }
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr,
                    "usage: %s [--port N] [--token T] [--secret S] [--limit N] "
                    "[--window-ms W] [--fail-first N] [--hang-first N] "
                    "[--hang-ms MS] [--mastodon-max N] [--session-ttl N]\n",
                    argv[0]);
            return 2;
        }
        if (!strcmp(a, "--port"))
            port = atoi(v);
        else if (!strcmp(a, "--token"))
            peer.token = v;
        else if (!strcmp(a, "--secret"))
            peer.secret = v;
        else if (!strcmp(a, "--limit"))
            peer.limit = atol(v);
        else if (!strcmp(a, "--window-ms"))
            peer.window_ms = atol(v);
        else if (!strcmp(a, "--fail-first"))
            peer.fail_first = atol(v);
        else if (!strcmp(a, "--hang-first"))
            peer.hang_first = atol(v);
        else if (!strcmp(a, "--hang-ms"))
            peer.hang_ms = atol(v);
        else if (!strcmp(a, "--session-ttl"))
            peer.session_ttl = atol(v);
        else if (!strcmp(a, "--mastodon-max"))
            peer.mastodon_max = atol(v);
        else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    peer_index = calloc(PEER_BUCKETS, sizeof(*peer_index));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, peer_handler, NULL, MHD_OPTION_NOTIFY_COMPLETED,
        peer_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 60U, MHD_OPTION_CONNECTION_LIMIT,
        4000U, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "cannot listen on port %d\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("socialcare-platform-peer ready port=%u\n", info ? info->port : 0);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    peer.stopping = 1;
    MHD_stop_daemon(d);
    for (size_t i = 0; i < peer.n_posts; i++) {
        free(peer.posts[i].family);
        free(peer.posts[i].text);
        free(peer.posts[i].key);
        free(peer.posts[i].extra);
    }
    free(peer.posts);
    free(peer.copies);
    for (size_t b = 0; b < PEER_BUCKETS; b++) {
        for (struct hnode *n = peer_index[b], *next; n; n = next) {
            next = n->next;
            free(n->name);
            free(n);
        }
    }
    free(peer_index);
    return 0;
}
