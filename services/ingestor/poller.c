/* libcurl multi adapter for the polled sources, with cursors in Redis. */
#include "poller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

#include "alloc.h"
#include "lifecycle.h"
#include "log.h"

#define INGEST_POLL_MAX_BODY       (8u * 1024u * 1024u)
#define INGEST_POLL_TIMEOUT_S      30L
#define INGEST_POLL_BACKOFF_MAX_MS (5 * 60 * 1000)

struct ingest_source {
    struct ingest_source_conf conf; /* strings owned */
    struct ingest_cursor cur;
    bool loaded;
    int64_t due_ms; /* monotonic */
    int backoff_ms;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    size_t body_len, body_cap;
    bool too_large;
    char link[2048];
    char remaining[32];
    char reset[64];
    char *session; /* Bluesky accessJwt from the login, or NULL */
};

struct ingest_poller {
    struct sc_redis *redis;
    ingest_publish_fn publish;
    void *opaque;
    struct sc_metric *m_requests;
    CURLM *multi;
    struct ingest_source *sources;
    size_t n, cap;
};

struct ingest_poller *ingest_poller_new(struct sc_redis *redis, ingest_publish_fn publish,
                                        void *opaque, struct sc_metric *requests_metric)
{
    struct ingest_poller *p = sc_calloc(1, sizeof(*p));
    p->redis = redis;
    p->publish = publish;
    p->opaque = opaque;
    p->m_requests = requests_metric;
    p->multi = curl_multi_init();
    return p;
}

static char *ingest_dup(const char *s)
{
    return s ? sc_strdup(s) : NULL;
}

void ingest_poller_add(struct ingest_poller *p, const struct ingest_source_conf *conf)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        struct ingest_source *s = sc_calloc(cap, sizeof(*s));
        if (p->n)
            memcpy(s, p->sources, p->n * sizeof(*s));
        sc_free(p->sources);
        p->sources = s;
        p->cap = cap;
    }
    struct ingest_source *s = &p->sources[p->n++];
    memset(s, 0, sizeof(*s));
    s->conf = *conf;
    s->conf.name = ingest_dup(conf->name);
    s->conf.base = ingest_dup(conf->base);
    s->conf.token = ingest_dup(conf->token);
    s->conf.arg = ingest_dup(conf->arg);
    s->conf.own_id = ingest_dup(conf->own_id);
    s->conf.login_id = ingest_dup(conf->login_id);
    s->conf.login_password = ingest_dup(conf->login_password);
    if (s->conf.page_size <= 0)
        s->conf.page_size = 40;
    if (s->conf.interval_ms <= 0)
        s->conf.interval_ms = 60000;
}

size_t ingest_poller_count(const struct ingest_poller *p)
{
    return p->n;
}

static void ingest_source_reset_transfer(struct ingest_poller *p, struct ingest_source *s)
{
    if (s->easy) {
        curl_multi_remove_handle(p->multi, s->easy);
        curl_easy_cleanup(s->easy);
        s->easy = NULL;
    }
    curl_slist_free_all(s->headers);
    s->headers = NULL;
    s->body_len = 0;
    s->too_large = false;
    s->link[0] = s->remaining[0] = s->reset[0] = '\0';
}

void ingest_poller_free(struct ingest_poller *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        struct ingest_source *s = &p->sources[i];
        ingest_source_reset_transfer(p, s);
        sc_free(s->body);
        sc_free((char *)s->conf.name);
        sc_free((char *)s->conf.base);
        sc_free((char *)s->conf.token);
        sc_free((char *)s->conf.arg);
        sc_free((char *)s->conf.own_id);
        sc_free((char *)s->conf.login_id);
        sc_free((char *)s->conf.login_password);
        sc_free(s->session);
    }
    sc_free(p->sources);
    curl_multi_cleanup(p->multi);
    sc_free(p);
}

static size_t ingest_on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    struct ingest_source *s = opaque;
    size_t n = size * nmemb;
    if (s->body_len + n > INGEST_POLL_MAX_BODY) {
        s->too_large = true;
        return 0;
    }
    if (s->body_len + n + 1 > s->body_cap) {
        size_t cap = s->body_cap ? s->body_cap : 16384;
        while (cap < s->body_len + n + 1)
            cap *= 2;
        char *b = sc_malloc(cap);
        if (s->body_len)
            memcpy(b, s->body, s->body_len);
        sc_free(s->body);
        s->body = b;
        s->body_cap = cap;
    }
    memcpy(s->body + s->body_len, data, n);
    s->body_len += n;
    s->body[s->body_len] = '\0';
    return n;
}

/* Copies the value of header line `line` into dst when its name is one of names. */
static void ingest_header_match(const char *line, size_t len, const char *const *names,
                                char *dst, size_t size)
{
    for (const char *const *n = names; *n; n++) {
        size_t nl = strlen(*n);
        if (len > nl + 1 && strncasecmp(line, *n, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            size_t vl = len - nl - 1;
            while (vl && (*v == ' ' || *v == '\t'))
                v++, vl--;
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
                vl--;
            if (vl >= size)
                vl = size - 1;
            memcpy(dst, v, vl);
            dst[vl] = '\0';
        }
    }
}

static size_t ingest_on_header(char *data, size_t size, size_t nmemb, void *opaque)
{
    struct ingest_source *s = opaque;
    size_t n = size * nmemb;
    static const char *const link[] = {"link", NULL};
    static const char *const remaining[] = {
        "x-ratelimit-remaining", "x-rate-limit-remaining", "ratelimit-remaining", NULL};
    static const char *const reset[] = {"x-ratelimit-reset", "x-rate-limit-reset",
                                        "ratelimit-reset", NULL};
    ingest_header_match(data, n, link, s->link, sizeof(s->link));
    ingest_header_match(data, n, remaining, s->remaining, sizeof(s->remaining));
    ingest_header_match(data, n, reset, s->reset, sizeof(s->reset));
    return n;
}

/* Reads the stored cursor; false when Redis did not answer (try later). */
static bool ingest_source_load(struct ingest_poller *p, struct ingest_source *s)
{
    redisReply *r = sc_redis_commandf(p->redis, "GET cursor:{%s}", s->conf.name);
    if (!r)
        return false;
    bool ok = true;
    if (r->type == REDIS_REPLY_STRING) {
        if (ingest_cursor_load(&s->cur, r->str, r->len) != 0) {
            sc_log(SC_LOG_WARNING, "POLL", "source %s: unreadable cursor, starting fresh",
                   s->conf.name);
            memset(&s->cur, 0, sizeof(s->cur));
        }
    } else if (r->type != REDIS_REPLY_NIL) {
        ok = false;
    }
    freeReplyObject(r);
    s->loaded = ok;
    return ok;
}

static bool ingest_source_store(struct ingest_poller *p, struct ingest_source *s)
{
    char *json = ingest_cursor_dump(&s->cur);
    char key[300];
    snprintf(key, sizeof(key), "cursor:{%s}", s->conf.name);
    const char *argv[] = {"SET", key, json};
    size_t lens[] = {3, strlen(key), strlen(json)};
    redisReply *r = sc_redis_command(p->redis, 3, argv, lens);
    bool ok = r && r->type == REDIS_REPLY_STATUS;
    if (r)
        freeReplyObject(r);
    sc_free(json);
    return ok;
}

static void ingest_count(struct ingest_poller *p, struct ingest_source *s,
                         const char *what);

/* Bluesky: creates a session (blocking, short timeouts; rare). Returns true when
 * s->session holds an access token. */
static bool ingest_source_login(struct ingest_poller *p, struct ingest_source *s)
{
    char *url = sc_asprintf("%s/xrpc/com.atproto.server.createSession", s->conf.base);
    char *body = ingest_bluesky_login_body(s->conf.login_id, s->conf.login_password);
    CURL *easy = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    s->body_len = 0;
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, ingest_on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(easy);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    sc_free(s->session);
    s->session = NULL;
    if (cc == CURLE_OK && status == 200)
        s->session = ingest_bluesky_login_token(s->body ? s->body : "", s->body_len);
    ingest_count(p, s, s->session ? "login" : "login_failed");
    if (!s->session)
        sc_log(SC_LOG_ERR, "POLL", "source %s: login failed (HTTP %ld%s%s)", s->conf.name,
               status, cc != CURLE_OK ? ", " : "",
               cc != CURLE_OK ? curl_easy_strerror(cc) : "");
    s->body_len = 0;
    curl_slist_free_all(h);
    curl_easy_cleanup(easy);
    sc_free(body);
    sc_free(url);
    return s->session != NULL;
}

static void ingest_source_start(struct ingest_poller *p, struct ingest_source *s)
{
    char *url = ingest_poll_url(s->conf.kind, s->conf.base, s->conf.arg, &s->cur,
                                s->conf.page_size);
    s->easy = curl_easy_init();
    const char *token = s->session ? s->session : s->conf.token;
    if (token && *token) {
        char *auth = sc_asprintf("Authorization: Bearer %s", token);
        s->headers = curl_slist_append(NULL, auth);
        sc_free(auth);
    }
    s->headers = curl_slist_append(s->headers, "Accept: application/json");
    curl_easy_setopt(s->easy, CURLOPT_URL, url);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, ingest_on_body);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, ingest_on_header);
    curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, INGEST_POLL_TIMEOUT_S);
    curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->easy, CURLOPT_USERAGENT, "socialcare-ingestor/" SC_VERSION);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->easy, CURLOPT_ACCEPT_ENCODING, "");
    sc_free(url);
    curl_multi_add_handle(p->multi, s->easy);
}

static void ingest_source_backoff(struct ingest_source *s, int64_t now)
{
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : 1000;
    if (s->backoff_ms > INGEST_POLL_BACKOFF_MAX_MS)
        s->backoff_ms = INGEST_POLL_BACKOFF_MAX_MS;
    s->due_ms = now + s->backoff_ms;
}

static void ingest_count(struct ingest_poller *p, struct ingest_source *s,
                         const char *what)
{
    if (p->m_requests)
        sc_metric_inc(p->m_requests, SC_LABELS(s->conf.name, what));
}

/* Handles a finished transfer. Returns 1 when a page was taken. */
static int ingest_source_done(struct ingest_poller *p, struct ingest_source *s,
                              CURLcode cc)
{
    int64_t now = sc_now_ms();
    long status = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    int64_t wait =
        ingest_ratelimit_wait_ms(status, s->remaining, s->reset, sc_wall_ms(), 60000);
    int taken = 0;
    if (cc != CURLE_OK || status == 0) {
        ingest_count(p, s, "transport_error");
        sc_log(SC_LOG_WARNING, "POLL", "source %s: %s", s->conf.name,
               s->too_large ? "response too large" : curl_easy_strerror(cc));
        ingest_source_backoff(s, now);
    } else if (status == 429) {
        ingest_count(p, s, "rate_limited");
        sc_log(SC_LOG_NOTICE, "POLL", "source %s: rate limited, waiting %lld ms",
               s->conf.name, (long long)wait);
        s->due_ms = now + wait;
    } else if (status >= 500) {
        ingest_count(p, s, "server_error");
        sc_log(SC_LOG_WARNING, "POLL", "source %s: HTTP %ld", s->conf.name, status);
        ingest_source_backoff(s, now);
    } else if ((status == 401 || status == 400) && s->session) {
        /* The session's access token expired: log in again before the next request. */
        ingest_count(p, s, "auth_expired");
        sc_free(s->session);
        s->session = NULL;
        s->due_ms = now + 1000;
    } else if (status != 200) {
        ingest_count(p, s, "client_error");
        sc_log(SC_LOG_ERR, "POLL", "source %s: HTTP %ld (check token and settings)",
               s->conf.name, status);
        s->backoff_ms = INGEST_POLL_BACKOFF_MAX_MS / 2;
        ingest_source_backoff(s, now);
    } else {
        struct ingest_cursor next = s->cur;
        json_t *posts = json_array();
        bool more = false;
        if (ingest_poll_page(s->conf.kind, s->body ? s->body : "", s->body_len, s->link,
                             s->conf.name, s->conf.own_id, &next, posts, &more) != 0) {
            ingest_count(p, s, "bad_response");
            sc_log(SC_LOG_ERR, "POLL", "source %s: response is not the documented shape",
                   s->conf.name);
            ingest_source_backoff(s, now);
        } else if (p->publish(p->opaque, s->conf.name, posts) != 0) {
            ingest_count(p, s, "publish_failed");
            ingest_source_backoff(s, now);
        } else {
            struct ingest_cursor prev = s->cur;
            s->cur = next;
            if (!ingest_source_store(p, s)) {
                /* Published but not remembered: the page comes again, dedup drops it. */
                s->cur = prev;
                ingest_count(p, s, "cursor_failed");
                ingest_source_backoff(s, now);
            } else {
                ingest_count(p, s, "ok");
                s->backoff_ms = 0;
                s->due_ms = now + (more ? 0 : s->conf.interval_ms);
                if (wait > 0)
                    s->due_ms = now + wait;
                taken = 1;
            }
        }
        json_decref(posts);
    }
    ingest_source_reset_transfer(p, s);
    return taken;
}

int ingest_poller_step(struct ingest_poller *p, int wait_ms)
{
    if (p->n == 0)
        return 0;
    int64_t now = sc_now_ms();
    int active = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct ingest_source *s = &p->sources[i];
        if (s->easy) {
            active++;
            continue;
        }
        if (s->due_ms > now)
            continue;
        if (!s->loaded && !ingest_source_load(p, s)) {
            ingest_source_backoff(s, now);
            continue;
        }
        if (s->conf.login_id && s->conf.login_password && !s->session &&
            !ingest_source_login(p, s)) {
            ingest_source_backoff(s, now);
            continue;
        }
        ingest_source_start(p, s);
        active++;
    }
    int running = 0;
    curl_multi_perform(p->multi, &running);
    if (active && running)
        curl_multi_poll(p->multi, NULL, 0, wait_ms, NULL);
    curl_multi_perform(p->multi, &running);
    int taken = 0, left;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(p->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct ingest_source *s = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        CURLcode cc = msg->data.result;
        taken |= ingest_source_done(p, s, cc);
    }
    return taken;
}
