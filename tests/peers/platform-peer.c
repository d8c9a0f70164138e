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
 *   Bluesky chat (through the PDS with "atproto-proxy: did:web:api.bsky.chat#bsky_chat")
 *             GET /xrpc/chat.bsky.convo.getConvoForMembers?members=<did> (one
 *             conversation per member), POST /xrpc/chat.bsky.convo.sendMessage
 *             {"convoId","message":{"text"}} (session JWT; family "bluesky_dm" in /posts
 *             with the recipient; no idempotency key, as on the real service)
 * Options: --port N (0 = free), --token T (expected bearer; --extra-token T, up to 8
 * times: further accounts' tokens the Mastodon and X APIs accept too; /posts names the
 * token of each Mastodon and X post), --limit N and --window-ms W
 * (each API family answers 429 with its headers above N posts per window), --fail-first
 * N (503 for the first N posts; sessions are not failed), --hang-first N (the first N
 * posts are accepted, then the answer hangs for --hang-ms: an unknown outcome for the
 * client), --mastodon-max N,
 * --session-ttl N (a Bluesky access token expires after N createRecord calls: 400
 * ExpiredToken, as a PDS answers). Fault injection for the fault suite: --hang-after N
 * (hangs of --hang-first start only after N accepted posts); --fault-every N with
 * --faults LIST (every Nth post request, counted over every API family, gets the next
 * fault of the comma-separated LIST, cycling: 429s = 429 with Retry-After in seconds,
 * 429d = 429 with Retry-After as an HTTP-date, 429r = 429 with only the family's
 * rate-limit reset headers (remaining 0), 500/502/503 = that status, timeout = no answer
 * for --hang-ms and nothing accepted, reset = the connection is closed without an
 * answer, hang = accepted, then no answer for --hang-ms); --retry-after-s S (the delay
 * those 429s announce, default 2); --early-grace-ms G (default 300, below). GET /stats
 * answers
 * {"requests","accepted","rate_limited","failed","refused", "duplicates","max_copies",
 * "hung","injected","early"} where max_copies is the highest number of accepted posts
 * with one text (exactly once means 1), injected counts --faults answers and early the
 * post requests of a family that arrived more than G ms after one of its injected
 * 429s but before the time it announced ("early_by_form": {"seconds","date","reset"}
 * splits them by the form of that 429); GET /posts lists the accepted posts. Threads:
 * one per connection, or with --threads N (benchmarks; not with hangs or --faults) N
 * epoll threads. Prints "socialcare-platform-peer ready
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
    char *family; /* mastodon, x, x_dm, bluesky, bluesky_dm, hook */
    char *token;  /* the bearer token that posted it ("" none) */
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
    long hang_after;        /* hangs start after this many accepted posts */
    long fault_every;       /* every Nth post request gets the next fault (0 = none) */
    const char *faults[16]; /* fault kinds, cycled */
    size_t n_faults, next_fault;
    long post_requests;  /* requests to a post endpoint (for --fault-every) */
    long retry_after_s;  /* the delay an injected 429 announces */
    long early_grace_ms; /* requests this soon after a 429 are not counted early */
    long injected, early;
    int64_t limited_at[5];  /* when an injected 429 was answered, per family */
    int64_t not_before[5];  /* the time it announced */
    char limited_form[5];   /* and its form: 's', 'd' or 'r' */
    long early_form[3];     /* early requests by that form: seconds, date, reset */
    int force_hang_pending; /* an injected "hang" not yet applied */
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
          .retry_after_s = 2,
          .early_grace_ms = 300,
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

/* --extra-token: further accounts' tokens the Mastodon and X APIs accept. */
static const char *peer_extra_tokens[8];
static size_t peer_n_extra_tokens;
static _Thread_local const char *peer_auth_token; /* the token peer_auth accepted */

static bool peer_auth(struct MHD_Connection *c, const char *token)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    peer_auth_token = NULL;
    if (!h || strncmp(h, "Bearer ", 7) != 0)
        return false;
    if (token && strcmp(h + 7, token) == 0) {
        if (token == peer.token) /* a session JWT is a copy on the caller's stack */
            peer_auth_token = token;
        return true;
    }
    if (token != peer.token) /* the extra tokens stand in for --token only */
        return false;
    for (size_t i = 0; i < peer_n_extra_tokens; i++)
        if (strcmp(h + 7, peer_extra_tokens[i]) == 0) {
            peer_auth_token = peer_extra_tokens[i];
            return true;
        }
    return false;
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
    p->token = strdup(peer_auth_token ? peer_auth_token : "");
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
    if (peer.force_hang_pending > 0) {
        peer.force_hang_pending--;
        peer.hung++;
        return true;
    }
    if (peer.hang_first > 0 && peer.hung < peer.hang_first &&
        peer.accepted > peer.hang_after) {
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

/* Answers a request whose post was just accepted; called with peer.lock held, which it
 * releases. With a hang due (--hang-first / a forced hang) the answer is withheld and the
 * connection dropped after --hang-ms: the client sees an unknown outcome. */
static enum MHD_Result peer_answer_accepted(struct MHD_Connection *c, unsigned status,
                                            json_t *out, const char *const *headers)
{
    bool hang = peer_should_hang();
    pthread_mutex_unlock(&peer.lock);
    if (hang) {
        peer_hang();
        json_decref(out);
        return MHD_NO;
    }
    return peer_send(c, status, out, headers);
}

/* The API family of a post endpoint (index of window_start), or -1. */
static int peer_family(const char *url)
{
    if (strcmp(url, "/api/v1/statuses") == 0)
        return 0;
    if (strcmp(url, "/2/tweets") == 0)
        return 1;
    if (strncmp(url, "/2/dm_conversations/with/", 25) == 0)
        return 2;
    if (strcmp(url, "/xrpc/com.atproto.repo.createRecord") == 0)
        return 3;
    if (strcmp(url, "/hook") == 0)
        return 4;
    return -1;
}

enum peer_inject { INJ_NONE, INJ_ANSWERED, INJ_TIMEOUT, INJ_RESET, INJ_HANG };

/* Applies --fault-every / --faults to a post request of family fam (lock held). Fills
 * *status, *body and the headers in rt / ra (for INJ_ANSWERED). */
static enum peer_inject peer_inject(int fam, unsigned *status, json_t **body,
                                    struct rate *rt, char *ra, size_t ra_len)
{
    int64_t now = peer_now_ms();
    if (now < peer.not_before[fam] && now - peer.limited_at[fam] > peer.early_grace_ms) {
        peer.early++;
        char f = peer.limited_form[fam];
        peer.early_form[f == 's' ? 0 : f == 'd' ? 1 : 2]++;
    }
    peer.post_requests++;
    if (peer.fault_every <= 0 || peer.n_faults == 0 ||
        peer.post_requests % peer.fault_every != 0)
        return INJ_NONE;
    const char *kind = peer.faults[peer.next_fault++ % peer.n_faults];
    peer.injected++;
    if (strcmp(kind, "timeout") == 0)
        return INJ_TIMEOUT;
    if (strcmp(kind, "reset") == 0)
        return INJ_RESET;
    if (strcmp(kind, "hang") == 0) {
        peer.force_hang_pending++;
        return INJ_HANG;
    }
    memset(rt, 0, sizeof(*rt));
    if (strncmp(kind, "429", 3) == 0) {
        int64_t until = now + peer.retry_after_s * 1000;
        peer.rate_limited++;
        *status = 429;
        *body = json_pack("{s:s}", "error", "Too many requests (injected)");
        if (kind[3] == 's') {
            snprintf(ra, ra_len, "%ld", peer.retry_after_s);
            rt->h[0] = "Retry-After", rt->h[1] = ra;
        } else if (kind[3] == 'd') {
            time_t t = (time_t)((until + 999) / 1000); /* never earlier than announced */
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(ra, ra_len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
            until = (int64_t)t * 1000;
            rt->h[0] = "Retry-After", rt->h[1] = ra;
        } else {
            /* only the family's reset headers: remaining 0 until the reset */
            const char *style = fam == 0 ? "mastodon" : fam == 3 ? "bluesky" : "x";
            long saved_limit = peer.limit;
            int64_t saved_start = peer.window_start[fam];
            long saved_count = peer.window_count[fam];
            peer.limit = 1;
            peer.window_start[fam] = until - peer.window_ms;
            peer.window_count[fam] = 1;
            peer_rate(fam, style, rt);
            peer.limit = saved_limit;
            peer.window_start[fam] = saved_start;
            peer.window_count[fam] = saved_count;
            snprintf(rt->limit, sizeof(rt->limit), "%ld",
                     peer.limit > 0 ? peer.limit : 1000000);
            if (fam != 0) /* epoch seconds, rounded up (ISO 8601 keeps the ms) */
                until = (until + 999) / 1000 * 1000;
        }
        peer.limited_at[fam] = now;
        peer.not_before[fam] = until;
        peer.limited_form[fam] = kind[3];
        return INJ_ANSWERED;
    }
    *status = (unsigned)atoi(kind);
    if (*status < 400 || *status > 599)
        *status = 500;
    *body = json_pack("{s:s}", "error", "injected server error");
    return INJ_ANSWERED;
}

/* Bluesky chat (chat.bsky.convo.*, reached through the PDS with the atproto-proxy
 * header): one conversation per member DID, id "convo<index>". Lock held. */
#define PEER_CHAT_PROXY "did:web:api.bsky.chat#bsky_chat"
static char **peer_convos;
static size_t peer_n_convos, peer_cap_convos;

static size_t peer_convo_of(const char *did)
{
    for (size_t i = 0; i < peer_n_convos; i++)
        if (strcmp(peer_convos[i], did) == 0)
            return i;
    if (peer_n_convos == peer_cap_convos) {
        peer_cap_convos = peer_cap_convos ? 2 * peer_cap_convos : 16;
        peer_convos = realloc(peer_convos, peer_cap_convos * sizeof(*peer_convos));
    }
    peer_convos[peer_n_convos] = strdup(did);
    return peer_n_convos++;
}

/* Checks the session's bearer token and the proxy header of a chat call: true when
 * fine, else false with the error answered in *ret. */
static bool peer_chat_ok(struct MHD_Connection *c, enum MHD_Result *ret)
{
    pthread_mutex_lock(&peer.lock);
    char jwt[64];
    snprintf(jwt, sizeof(jwt), "%s", peer.jwt);
    pthread_mutex_unlock(&peer.lock);
    if (!peer_auth(c, jwt)) {
        *ret = peer_error(c, 401, "AuthenticationRequired", "Authentication Required");
        return false;
    }
    const char *proxy = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "atproto-proxy");
    if (!proxy || strcmp(proxy, PEER_CHAT_PROXY) != 0) {
        /* without the proxy header the PDS does not know the chat methods */
        *ret = peer_error(c, 404, "XRPCNotSupported", "XRPCNotSupported");
        return false;
    }
    return true;
}

/* GET /xrpc/chat.bsky.convo.getConvoForMembers?members=<did> */
static enum MHD_Result peer_get_convo(struct MHD_Connection *c)
{
    enum MHD_Result ret;
    pthread_mutex_lock(&peer.lock);
    peer.requests++;
    pthread_mutex_unlock(&peer.lock);
    if (!peer_chat_ok(c, &ret))
        return ret;
    const char *member = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "members");
    if (!member || strncmp(member, "did:", 4) != 0)
        return peer_error(c, 400, "InvalidRequest", "members must be DIDs");
    pthread_mutex_lock(&peer.lock);
    size_t i = peer_convo_of(member);
    pthread_mutex_unlock(&peer.lock);
    char id[32];
    snprintf(id, sizeof(id), "convo%zu", i);
    return peer_send(c, 200,
                     json_pack("{s:{s:s,s:s,s:[{s:s},{s:s}],s:b,s:i}}", "convo", "id", id,
                               "rev", "1", "members", "did", "did:plc:peer", "did",
                               member, "muted", 0, "unreadCount", 0),
                     NULL);
}

/* POST /xrpc/chat.bsky.convo.sendMessage {"convoId","message":{"text"}} */
static enum MHD_Result peer_send_message(struct MHD_Connection *c, json_t *body)
{
    enum MHD_Result ret;
    struct rate rt;
    if (!peer_chat_ok(c, &ret))
        return ret;
    const char *convo = json_string_value(json_object_get(body, "convoId"));
    const char *text =
        json_string_value(json_object_get(json_object_get(body, "message"), "text"));
    if (!convo || strncmp(convo, "convo", 5) != 0 || !text || !text[0] ||
        strlen(text) > 10000)
        return peer_error(c, 400, "InvalidRequest", "Invalid chat.bsky.convo message");
    pthread_mutex_lock(&peer.lock);
    size_t i = (size_t)strtoul(convo + 5, NULL, 10);
    if (i >= peer_n_convos) {
        pthread_mutex_unlock(&peer.lock);
        return peer_error(c, 400, "InvalidConvo", "Convo not found");
    }
    if (!peer_rate(3, "bluesky", &rt)) {
        peer.rate_limited++;
        pthread_mutex_unlock(&peer.lock);
        return peer_send(c, 429,
                         json_pack("{s:s,s:s}", "error", "RateLimitExceeded", "message",
                                   "Rate Limit Exceeded"),
                         rt.h);
    }
    struct post *p =
        peer_add("bluesky_dm", text, "",
                 json_pack("{s:s,s:s}", "recipient", peer_convos[i], "convo_id", convo));
    char id[80];
    snprintf(id, sizeof(id), "msg%s", p->id);
    json_t *out =
        json_pack("{s:s,s:s,s:s,s:{s:s},s:s}", "id", id, "rev", "1", "text", text,
                  "sender", "did", "did:plc:peer", "sentAt", "2026-01-01T00:00:00.000Z");
    return peer_answer_accepted(c, 200, out, rt.h);
}

static enum MHD_Result peer_post(struct MHD_Connection *c, const char *url, json_t *body,
                                 const char *raw)
{
    const char *idem = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    struct rate rt;
    enum MHD_Result ret;
    pthread_mutex_lock(&peer.lock);
    peer.requests++;
    if (peer.fail_first > 0 && peer.failed < peer.fail_first &&
        strcmp(url, "/xrpc/com.atproto.server.createSession") != 0) {
        peer.failed++;
        pthread_mutex_unlock(&peer.lock);
        return peer_send(c, 503, json_pack("{s:s}", "error", "injected failure"), NULL);
    }
    int fam = peer_family(url);
    if (fam >= 0) {
        unsigned istatus = 0;
        json_t *ibody = NULL;
        char ra[64] = "";
        enum peer_inject inj = peer_inject(fam, &istatus, &ibody, &rt, ra, sizeof(ra));
        pthread_mutex_unlock(&peer.lock);
        if (inj == INJ_ANSWERED)
            return peer_send(c, istatus, ibody, rt.h);
        if (inj == INJ_TIMEOUT) {
            peer_hang();
            return MHD_NO;
        }
        if (inj == INJ_RESET)
            return MHD_NO;
    } else {
        pthread_mutex_unlock(&peer.lock);
    }

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
        return peer_answer_accepted(c, 200, out, rt.h);
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
        return peer_answer_accepted(c, 201, out, rt.h);
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

    if (strcmp(url, "/xrpc/chat.bsky.convo.sendMessage") == 0)
        return peer_send_message(c, body);

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
        return peer_answer_accepted(c, 200, out, rt.h);
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
        return peer_answer_accepted(c, 200, out, rt.h);
    }
    ret = peer_error(c, 404, "not_found", "no such path");
    return ret;
}

static json_t *peer_stats(void)
{
    return json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "requests",
        (json_int_t)peer.requests, "accepted", (json_int_t)peer.accepted, "rate_limited",
        (json_int_t)peer.rate_limited, "failed", (json_int_t)peer.failed, "refused",
        (json_int_t)peer.refused, "duplicates", (json_int_t)peer.duplicates, "max_copies",
        (json_int_t)peer.max_copies, "hung", (json_int_t)peer.hung, "injected",
        (json_int_t)peer.injected, "early", (json_int_t)peer.early);
}

/* Early requests by the form of the 429 they ignored. */
static json_t *peer_early_forms(void)
{
    return json_pack("{s:I,s:I,s:I}", "seconds", (json_int_t)peer.early_form[0], "date",
                     (json_int_t)peer.early_form[1], "reset",
                     (json_int_t)peer.early_form[2]);
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
    peer_auth_token = NULL; /* set by this request's peer_auth */
    if (strcmp(method, "GET") == 0 && strcmp(url, "/stats") == 0) {
        pthread_mutex_lock(&peer.lock);
        json_t *s = peer_stats();
        json_object_set_new(s, "early_by_form", peer_early_forms());
        pthread_mutex_unlock(&peer.lock);
        return peer_send(c, 200, s, NULL);
    }
    if (strcmp(method, "GET") == 0 && strcmp(url, "/posts") == 0) {
        json_t *list = json_array();
        pthread_mutex_lock(&peer.lock);
        for (size_t i = 0; i < peer.n_posts; i++) {
            struct post *p = &peer.posts[i];
            json_t *extra = json_loads(p->extra, 0, NULL);
            json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "family",
                                                  p->family, "text", p->text, "key",
                                                  p->key, "id", p->id, "token", p->token,
                                                  "extra", extra ? extra : json_null()));
        }
        pthread_mutex_unlock(&peer.lock);
        return peer_send(c, 200, json_pack("{s:o}", "posts", list), NULL);
    }
    if (strcmp(method, "GET") == 0 &&
        strcmp(url, "/xrpc/chat.bsky.convo.getConvoForMembers") == 0)
        return peer_get_convo(c);
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
    long threads = 0; /* 0: a thread per connection; N: N epoll threads (benchmarks) */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr,
                    "usage: %s [--port N] [--token T] [--secret S] [--limit N] "
                    "[--window-ms W] [--fail-first N] [--hang-first N] "
                    "[--hang-ms MS] [--mastodon-max N] [--session-ttl N] "
                    "[--hang-after N] [--fault-every N] [--faults LIST] "
                    "[--retry-after-s S] [--early-grace-ms G] "
                    "[--threads N] [--extra-token T]...\n",
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
        else if (!strcmp(a, "--hang-after"))
            peer.hang_after = atol(v);
        else if (!strcmp(a, "--fault-every"))
            peer.fault_every = atol(v);
        else if (!strcmp(a, "--retry-after-s"))
            peer.retry_after_s = atol(v);
        else if (!strcmp(a, "--early-grace-ms"))
            peer.early_grace_ms = atol(v);
        else if (!strcmp(a, "--threads"))
            threads = atol(v);
        else if (!strcmp(a, "--extra-token") && peer_n_extra_tokens < 8)
            peer_extra_tokens[peer_n_extra_tokens++] = v;
        else if (!strcmp(a, "--faults")) {
            static const char *const known[] = {"429s",  "429d", "429r", "500",
                                                "502",   "503",  "504",  "timeout",
                                                "reset", "hang", NULL};
            char *list = strdup(v), *save = NULL;
            for (char *w = strtok_r(list, ",", &save); w;
                 w = strtok_r(NULL, ",", &save)) {
                size_t k = 0;
                while (known[k] && strcmp(known[k], w) != 0)
                    k++;
                if (!known[k] || peer.n_faults == 16) {
                    fprintf(stderr, "unknown fault %s (or more than 16)\n", w);
                    free(list);
                    return 2;
                }
                peer.faults[peer.n_faults++] = known[k];
            }
            free(list);
        } else {
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
    if (threads < 0 || threads > 64 ||
        (threads > 0 && (peer.hang_first > 0 || peer.fault_every > 0))) {
        /* a hanging answer would stall every connection of its epoll thread */
        fprintf(stderr, "--threads takes 1..64 and excludes --hang-first and --faults\n");
        return 2;
    }
    /* a thread per connection by default (answers may hang on demand); --threads N
     * serves every connection from N epoll threads, which costs far less CPU on a small
     * machine (benchmarks) */
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                         (threads > 0 ? MHD_USE_EPOLL : MHD_USE_THREAD_PER_CONNECTION);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, peer_handler, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, peer_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 60U,
        MHD_OPTION_CONNECTION_LIMIT, 4000U, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (unsigned int)threads,
        MHD_OPTION_END);
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
        free(peer.posts[i].token);
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
    for (size_t i = 0; i < peer_n_convos; i++)
        free(peer_convos[i]);
    free(peer_convos);
    return 0;
}
