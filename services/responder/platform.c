/* Request building and answer reading per platform, and the libcurl multi adapter.
 * Response bodies are capped; only the ids of the platform's JSON answer are kept. */
#include "platform.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "error.h"
#include "lifecycle.h"

#define PLATFORM_RESPONSE_CAP 4096

/* ------------------------------------------------------------------ building */

void platform_bluesky_rkey(const char *key, char out[14])
{
    static const char alphabet[] = "234567abcdefghijklmnopqrstuvwxyz";
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)key, strlen(key), md);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | md[i];
    v &= ~(UINT64_C(1) << 63); /* a TID's top bit is 0 */
    for (int i = 12; i >= 0; i--) {
        out[i] = alphabet[v & 31];
        v >>= 5;
    }
    out[13] = '\0';
}

static char *platform_dump(json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    char *copy = sc_strdup(s);
    free(s);
    return copy;
}

static void platform_header(struct platform_request *req, char *line)
{
    size_t i = 0;
    while (req->headers[i])
        i++;
    req->headers[i] = line;
}

int platform_build(const struct platform_account *account, const struct platform_msg *msg,
                   struct platform_request *req, char *err, size_t err_size)
{
    memset(req, 0, sizeof(*req));
    const char *base = account->base_url;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    json_t *body = NULL;
    switch (account->platform) {
        case POLICY_MASTODON:
            req->url = sc_asprintf("%.*s/api/v1/statuses", (int)bl, base);
            body = json_pack("{s:s,s:s}", "status", msg->text, "visibility",
                             msg->dm ? "direct" : "public");
            if (msg->in_reply_to)
                json_object_set_new(body, "in_reply_to_id",
                                    json_string(msg->in_reply_to));
            platform_header(req, sc_asprintf("Idempotency-Key: %s", msg->key));
            break;
        case POLICY_X:
            if (msg->dm) {
                if (!msg->recipient || !msg->recipient[0]) {
                    snprintf(err, err_size, "direct message without a recipient");
                    return SC_EINVAL;
                }
                req->url = sc_asprintf("%.*s/2/dm_conversations/with/%s/messages",
                                       (int)bl, base, msg->recipient);
                body = json_pack("{s:s}", "text", msg->text);
            } else {
                req->url = sc_asprintf("%.*s/2/tweets", (int)bl, base);
                body = json_pack("{s:s}", "text", msg->text);
                if (msg->in_reply_to)
                    json_object_set_new(
                        body, "reply",
                        json_pack("{s:s}", "in_reply_to_tweet_id", msg->in_reply_to));
            }
            break;
        case POLICY_BLUESKY: {
            if (msg->dm) {
                if (!msg->recipient || !msg->recipient[0]) {
                    snprintf(err, err_size, "direct message without a recipient");
                    return SC_EINVAL;
                }
                if (!msg->convo_id) { /* the conversation with the customer first */
                    char *did = curl_easy_escape(NULL, msg->recipient, 0);
                    req->url = sc_asprintf(
                        "%.*s/xrpc/chat.bsky.convo.getConvoForMembers?members=%s",
                        (int)bl, base, did ? did : "");
                    curl_free(did);
                } else {
                    req->url = sc_asprintf("%.*s/xrpc/chat.bsky.convo.sendMessage",
                                           (int)bl, base);
                    body = json_pack("{s:s,s:{s:s}}", "convoId", msg->convo_id, "message",
                                     "text", msg->text);
                }
                platform_header(req,
                                sc_strdup("atproto-proxy: " PLATFORM_BLUESKY_CHAT_PROXY));
                break;
            }
            req->url =
                sc_asprintf("%.*s/xrpc/com.atproto.repo.createRecord", (int)bl, base);
            char created[40], rkey[14];
            sc_format_time(msg->now_ms, created, sizeof(created));
            platform_bluesky_rkey(msg->key, rkey);
            json_t *record = json_pack("{s:s,s:s,s:s}", "$type", "app.bsky.feed.post",
                                       "text", msg->text, "createdAt", created);
            if (msg->in_reply_to) {
                const char *root = msg->root_uri ? msg->root_uri : msg->in_reply_to;
                const char *root_cid = msg->root_uri ? msg->root_cid : msg->parent_cid;
                json_object_set_new(record, "reply",
                                    json_pack("{s:{s:s,s:s},s:{s:s,s:s}}", "root", "uri",
                                              root, "cid", root_cid ? root_cid : "",
                                              "parent", "uri", msg->in_reply_to, "cid",
                                              msg->parent_cid ? msg->parent_cid : ""));
            }
            body = json_pack("{s:s,s:s,s:s,s:o}", "repo",
                             account->repo ? account->repo : "", "collection",
                             "app.bsky.feed.post", "rkey", rkey, "record", record);
            break;
        }
        default:
            req->url = sc_strdup(base);
            body = json_pack("{s:s,s:s,s:s,s:s?,s:s}", "reply_id", msg->reply_id,
                             "platform", msg->platform ? msg->platform : "generic",
                             "channel", msg->dm ? "dm" : "public", "in_reply_to",
                             msg->in_reply_to, "text", msg->text);
            if (strcmp(msg->key, msg->reply_id) != 0)
                json_object_set_new(body, "part_key", json_string(msg->key));
            platform_header(req, sc_asprintf("Idempotency-Key: %s", msg->key));
            break;
    }
    if (body) {
        req->body = platform_dump(body);
        platform_header(req, sc_strdup("Content-Type: application/json"));
    }
    if (account->token && account->token[0])
        platform_header(req, sc_asprintf("Authorization: Bearer %s", account->token));
    if (account->platform == POLICY_GENERIC && account->secret && account->secret[0]) {
        long long ts = (long long)(msg->now_ms / 1000);
        char *signed_text = sc_asprintf("%lld.%s", ts, req->body);
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mac_len = 0;
        HMAC(EVP_sha256(), account->secret, (int)strlen(account->secret),
             (const unsigned char *)signed_text, strlen(signed_text), mac, &mac_len);
        sc_free(signed_text);
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        for (unsigned int i = 0; i < mac_len; i++)
            snprintf(hex + 2 * i, 3, "%02x", mac[i]);
        platform_header(req, sc_asprintf("X-Socialcare-Timestamp: %lld", ts));
        platform_header(req, sc_asprintf("X-Socialcare-Signature: sha256=%s", hex));
    }
    return 0;
}

void platform_request_free(struct platform_request *req)
{
    sc_free(req->url);
    sc_free(req->body);
    for (size_t i = 0; i < sizeof(req->headers) / sizeof(req->headers[0]); i++)
        sc_free(req->headers[i]);
    memset(req, 0, sizeof(*req));
}

/* ------------------------------------------------------------------ reading */

void platform_read(enum policy_platform platform, bool dm, long http_status,
                   const char *body, size_t body_len, struct platform_result *res)
{
    res->http_status = http_status;
    res->transport_error = false;
    res->duplicate = false;
    res->expired_token = false;
    res->lookup = false;
    res->post_id[0] = res->cid[0] = res->error[0] = res->convo_id[0] = '\0';
    res->verdict = responder_verdict(true, http_status);
    char snippet[PLATFORM_RESPONSE_CAP + 1];
    size_t sl = body_len < PLATFORM_RESPONSE_CAP ? body_len : PLATFORM_RESPONSE_CAP;
    memcpy(snippet, body ? body : "", body ? sl : 0);
    snippet[body ? sl : 0] = '\0';
    if ((platform == POLICY_X && !dm && policy_x_duplicate(http_status, snippet)) ||
        (platform == POLICY_BLUESKY && !dm &&
         policy_bluesky_duplicate(http_status, snippet))) {
        res->verdict = SEND_VERDICT_SENT;
        res->duplicate = true;
        return;
    }
    if (res->verdict != SEND_VERDICT_SENT) {
        snprintf(res->error, sizeof(res->error), "http %ld", http_status);
        if (platform == POLICY_BLUESKY &&
            (http_status == 401 ||
             (http_status == 400 && strstr(snippet, "ExpiredToken")))) {
            res->expired_token = true;
            res->verdict = SEND_VERDICT_RETRY; /* after a new session */
        }
        return;
    }
    json_t *root = json_loadb(snippet, sl, 0, NULL);
    const char *id = NULL, *cid = NULL;
    if (platform == POLICY_X) {
        json_t *data = json_object_get(root, "data");
        id = json_string_value(json_object_get(data, dm ? "dm_event_id" : "id"));
    } else if (platform == POLICY_BLUESKY && dm) {
        json_t *convo = json_object_get(root, "convo");
        if (convo) { /* getConvoForMembers */
            const char *c = json_string_value(json_object_get(convo, "id"));
            res->lookup = true;
            snprintf(res->convo_id, sizeof(res->convo_id), "%s", c ? c : "");
            if (!c || !c[0]) {
                res->verdict = SEND_VERDICT_FAILED;
                snprintf(res->error, sizeof(res->error),
                         "conversation lookup without id");
            }
        } else {
            id = json_string_value(json_object_get(root, "id"));
        }
    } else if (platform == POLICY_BLUESKY) {
        id = json_string_value(json_object_get(root, "uri"));
        cid = json_string_value(json_object_get(root, "cid"));
    } else {
        id = json_string_value(json_object_get(root, "id"));
    }
    snprintf(res->post_id, sizeof(res->post_id), "%s", id ? id : "");
    snprintf(res->cid, sizeof(res->cid), "%s", cid ? cid : "");
    json_decref(root);
}

/* ------------------------------------------------------------------ libcurl */

struct platform_transfer {
    struct platform_send *send;
    CURL *easy;
    struct curl_slist *headers;
    size_t next; /* the next queued transfer of the same host (SIZE_MAX: none) */
    size_t host; /* index in the client's hosts */
    size_t len;
    char body[PLATFORM_RESPONSE_CAP];
};

/* A host of a round: its queue of transfers not started yet. */
struct platform_host {
    const char *url; /* the first request's URL: scheme://host:port is the prefix */
    size_t prefix;
    size_t head, tail; /* queue (SIZE_MAX: empty) */
};

/* The client starts at most max_connections transfers per host and starts the next one
 * of a host when one ends, so libcurl never has a transfer waiting for a connection.
 * (libcurl 7.88 can leave such a pending transfer asleep until curl_multi_poll's timeout
 * although its connection is free again: rounds of 40 ms took 240 ms.) */
struct platform_client {
    CURLM *multi;
    long timeout_ms;
    long max_connections;
    struct platform_transfer *transfers; /* one per send of the round, reused */
    size_t cap;
    CURL **idle; /* configured easy handles not in a transfer (connection reuse is the
                    multi handle's) */
    size_t n_idle, cap_idle;
    struct platform_host *hosts;
    size_t cap_hosts;
};

struct platform_client *platform_client_new(long timeout_ms, long max_connections)
{
    struct platform_client *client = sc_calloc(1, sizeof(*client));
    client->multi = curl_multi_init();
    client->max_connections = max_connections > 0 ? max_connections : 1;
    curl_multi_setopt(client->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      client->max_connections);
    curl_multi_setopt(client->multi, CURLMOPT_MAXCONNECTS, client->max_connections * 4);
    client->timeout_ms = timeout_ms;
    return client;
}

void platform_client_free(struct platform_client *client)
{
    if (!client)
        return;
    for (size_t i = 0; i < client->n_idle; i++)
        curl_easy_cleanup(client->idle[i]);
    curl_multi_cleanup(client->multi);
    sc_free(client->transfers);
    sc_free(client->idle);
    sc_free(client->hosts);
    sc_free(client);
}

static size_t platform_on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct platform_transfer *t = userdata;
    size_t n = size * nmemb;
    size_t room = sizeof(t->body) - 1 - t->len;
    size_t take = n < room ? n : room;
    memcpy(t->body + t->len, ptr, take);
    t->len += take;
    t->body[t->len] = '\0';
    return n; /* accept (and drop) the rest: the cap protects us */
}

static size_t platform_on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct platform_transfer *t = userdata;
    size_t n = size * nitems;
    ratelimit_header_line(&t->send->res.rl, buf, n);
    return n;
}

static void platform_finish(struct platform_transfer *t, CURLcode res, bool dm,
                            enum policy_platform platform)
{
    struct platform_result *r = &t->send->res;
    if (res != CURLE_OK) {
        r->verdict = SEND_VERDICT_RETRY;
        r->transport_error = true;
        r->http_status = 0;
        r->post_id[0] = r->cid[0] = '\0';
        snprintf(r->error, sizeof(r->error), "transport: %s", curl_easy_strerror(res));
        return;
    }
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    platform_read(platform, dm, status, t->body, t->len, r);
}

/* The platform and channel of a request, from its URL (for reading the answer). */
static void platform_kind(const char *url, const char *body, enum policy_platform *p,
                          bool *dm)
{
    *dm = false;
    if (strstr(url, "/api/v1/statuses")) {
        *p = POLICY_MASTODON;
        *dm = strstr(body, "\"visibility\":\"direct\"") != NULL;
    } else if (strstr(url, "/2/dm_conversations/")) {
        *p = POLICY_X;
        *dm = true;
    } else if (strstr(url, "/2/tweets")) {
        *p = POLICY_X;
    } else if (strstr(url, "/xrpc/com.atproto.repo.createRecord")) {
        *p = POLICY_BLUESKY;
    } else if (strstr(url, "/xrpc/chat.bsky.convo.")) {
        *p = POLICY_BLUESKY;
        *dm = true;
    } else {
        *p = POLICY_GENERIC;
    }
}

/* Length of "scheme://host[:port]" of a URL (the whole URL when it has no path). */
static size_t platform_url_prefix(const char *url)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    return (size_t)(h - url) + strcspn(h, "/?#");
}

/* An easy handle with the options every request shares. */
static CURL *platform_easy(struct platform_client *client)
{
    if (client->n_idle > 0)
        return client->idle[--client->n_idle];
    CURL *easy = curl_easy_init();
    if (!easy)
        abort(); /* out of memory, as sc_malloc */
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, platform_on_write);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, platform_on_header);
    return easy;
}

static void platform_easy_release(struct platform_client *client, CURL *easy)
{
    if (client->n_idle == client->cap_idle) {
        client->cap_idle = client->cap_idle ? 2 * client->cap_idle : 16;
        client->idle = sc_realloc(client->idle, client->cap_idle * sizeof(*client->idle));
    }
    client->idle[client->n_idle++] = easy;
}

/* Starts transfer i: its request's URL, headers and body on an easy handle; it times
 * out at the round's deadline. */
static void platform_start(struct platform_client *client, size_t i, int64_t deadline)
{
    struct platform_transfer *t = &client->transfers[i];
    const struct platform_request *req = &t->send->req;
    t->easy = platform_easy(client);
    for (size_t h = 0; h < 6 && req->headers[h]; h++)
        t->headers = curl_slist_append(t->headers, req->headers[h]);
    curl_easy_setopt(t->easy, CURLOPT_URL, req->url);
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
    if (req->body)
        curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, req->body);
    else
        curl_easy_setopt(t->easy, CURLOPT_HTTPGET, 1L);
    int64_t left = deadline - sc_now_ms();
    curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, (long)(left > 0 ? left : 1));
    curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
    curl_multi_add_handle(client->multi, t->easy);
}

/* Takes the next queued transfer of host h (SIZE_MAX: none). */
static size_t platform_dequeue(struct platform_client *client, struct platform_host *h)
{
    size_t i = h->head;
    if (i != SIZE_MAX) {
        h->head = client->transfers[i].next;
        if (h->head == SIZE_MAX)
            h->tail = SIZE_MAX;
    }
    return i;
}

/* Starts the next queued transfer of host h, if any. @returns 1 if one started. */
static int platform_start_next(struct platform_client *client, struct platform_host *h,
                               int64_t deadline)
{
    size_t i = platform_dequeue(client, h);
    if (i == SIZE_MAX)
        return 0;
    platform_start(client, i, deadline);
    return 1;
}

static void platform_finish_transfer(struct platform_transfer *t, CURLcode result)
{
    enum policy_platform p;
    bool dm;
    platform_kind(t->send->req.url, t->send->req.body, &p, &dm);
    platform_finish(t, result, dm, p);
}

/* Queues every send on its host (a round usually has one to four hosts). @returns the
 * number of hosts. */
static size_t platform_queue(struct platform_client *client, struct platform_send *sends,
                             size_t n)
{
    size_t n_hosts = 0;
    for (size_t i = 0; i < n; i++) {
        struct platform_transfer *t = &client->transfers[i];
        t->send = &sends[i];
        t->easy = NULL;
        t->headers = NULL;
        t->next = SIZE_MAX;
        t->len = 0;
        t->body[0] = '\0';
        ratelimit_headers_init(&sends[i].res.rl);
        const char *url = sends[i].req.url;
        size_t prefix = platform_url_prefix(url);
        size_t h = 0;
        while (h < n_hosts && !(client->hosts[h].prefix == prefix &&
                                strncmp(client->hosts[h].url, url, prefix) == 0))
            h++;
        if (h == n_hosts) {
            if (n_hosts == client->cap_hosts) {
                client->cap_hosts = client->cap_hosts ? 2 * client->cap_hosts : 4;
                client->hosts =
                    sc_realloc(client->hosts, client->cap_hosts * sizeof(*client->hosts));
            }
            client->hosts[n_hosts++] = (struct platform_host){
                .url = url, .prefix = prefix, .head = SIZE_MAX, .tail = SIZE_MAX};
        }
        struct platform_host *ph = &client->hosts[h];
        if (ph->tail == SIZE_MAX)
            ph->head = i;
        else
            client->transfers[ph->tail].next = i;
        ph->tail = i;
        t->host = h;
    }
    return n_hosts;
}

void platform_send_round(struct platform_client *client, struct platform_send *sends,
                         size_t n)
{
    if (n == 0)
        return;
    if (n > client->cap) {
        client->transfers = sc_realloc(client->transfers, n * sizeof(*client->transfers));
        client->cap = n;
    }
    size_t n_hosts = platform_queue(client, sends, n);
    /* as when libcurl queued them all: every send of the round ends by the deadline, and
     * one still queued then times out without being sent */
    int64_t deadline = sc_now_ms() + client->timeout_ms;
    size_t active = 0;
    for (size_t h = 0; h < n_hosts; h++)
        for (long k = 0; k < client->max_connections; k++)
            active += (size_t)platform_start_next(client, &client->hosts[h], deadline);
    while (active > 0) {
        int running = 0;
        curl_multi_perform(client->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(client->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            CURL *easy = m->easy_handle;
            CURLcode result = m->data.result;
            struct platform_transfer *t;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
            platform_finish_transfer(t, result);
            curl_multi_remove_handle(client->multi, easy);
            curl_slist_free_all(t->headers);
            t->headers = NULL;
            t->easy = NULL;
            platform_easy_release(client, easy);
            active--;
            struct platform_host *h = &client->hosts[t->host];
            if (sc_now_ms() < deadline) {
                active += (size_t)platform_start_next(client, h, deadline);
                continue;
            }
            for (size_t q; (q = platform_dequeue(client, h)) != SIZE_MAX;)
                platform_finish_transfer(&client->transfers[q], CURLE_OPERATION_TIMEDOUT);
        }
        /* a short wait: the transfers' sockets wake it earlier */
        if (active > 0)
            curl_multi_poll(client->multi, NULL, 0, 50, NULL);
    }
}

static size_t platform_session_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct platform_transfer *t = userdata;
    return platform_on_write(ptr, size, nmemb, t);
}

int platform_bluesky_session(const char *base_url, const char *identifier,
                             const char *password, long timeout_ms, char **jwt,
                             char **did, char *err, size_t err_size)
{
    struct platform_transfer *t = sc_calloc(1, sizeof(*t));
    CURL *easy = curl_easy_init();
    char *url = sc_asprintf("%s/xrpc/com.atproto.server.createSession", base_url);
    char *body = platform_dump(
        json_pack("{s:s,s:s}", "identifier", identifier, "password", password));
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, platform_session_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
    CURLcode res = curl_easy_perform(easy);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    int rc = SC_EIO;
    if (res != CURLE_OK) {
        snprintf(err, err_size, "bluesky session: %s", curl_easy_strerror(res));
    } else if (status != 200) {
        snprintf(err, err_size, "bluesky session: http %ld", status);
    } else {
        json_t *root = json_loadb(t->body, t->len, 0, NULL);
        const char *a = json_string_value(json_object_get(root, "accessJwt"));
        const char *d = json_string_value(json_object_get(root, "did"));
        if (a && d) {
            *jwt = sc_strdup(a);
            *did = sc_strdup(d);
            rc = 0;
        } else {
            snprintf(err, err_size, "bluesky session: no accessJwt/did in the answer");
        }
        json_decref(root);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(easy);
    sc_free(url);
    sc_free(body);
    sc_free(t);
    return rc;
}
