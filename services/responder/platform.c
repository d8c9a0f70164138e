/* libcurl multi adapter for platform sends. Response bodies are capped; only the "id"
 * field of the platform's JSON answer is kept. */
#include "platform.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define PLATFORM_RESPONSE_CAP 4096

struct platform_transfer {
    struct platform_send *send;
    CURL *easy;
    struct curl_slist *headers;
    char body[PLATFORM_RESPONSE_CAP];
    size_t len;
};

struct platform_client {
    CURLM *multi;
    char *url;
    long timeout_ms;
    struct platform_transfer *transfers; /* reused across rounds */
    size_t cap;
};

struct platform_client *platform_client_new(const char *url, long timeout_ms,
                                            long max_connections)
{
    struct platform_client *client = sc_calloc(1, sizeof(*client));
    client->multi = curl_multi_init();
    curl_multi_setopt(client->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_connections);
    client->url = sc_strdup(url);
    client->timeout_ms = timeout_ms;
    return client;
}

void platform_client_free(struct platform_client *client)
{
    if (!client)
        return;
    curl_multi_cleanup(client->multi);
    sc_free(client->transfers);
    sc_free(client->url);
    sc_free(client);
}

static size_t platform_write(char *ptr, size_t size, size_t nmemb, void *userdata)
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

static size_t platform_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct platform_transfer *t = userdata;
    size_t n = size * nitems;
    if (n > 12 && strncasecmp(buf, "Retry-After:", 12) == 0) {
        char tmp[32];
        size_t l = n - 12 < sizeof(tmp) - 1 ? n - 12 : sizeof(tmp) - 1;
        memcpy(tmp, buf + 12, l);
        tmp[l] = '\0';
        char *end;
        long v = strtol(tmp, &end, 10);
        if (end != tmp && v >= 0)
            t->send->retry_after_s = v;
    }
    return n;
}

static void platform_finish(struct platform_transfer *t, CURLcode res)
{
    struct platform_send *s = t->send;
    s->attempts++;
    s->http_status = 0;
    if (res == CURLE_OK)
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &s->http_status);
    s->verdict = responder_verdict(res == CURLE_OK, s->http_status);
    if (res != CURLE_OK)
        snprintf(s->error, sizeof(s->error), "transport: %s", curl_easy_strerror(res));
    else if (s->verdict != SEND_VERDICT_SENT)
        snprintf(s->error, sizeof(s->error), "http %ld", s->http_status);
    else
        s->error[0] = '\0';
    if (s->verdict == SEND_VERDICT_SENT) {
        json_t *root = json_loadb(t->body, t->len, 0, NULL);
        const char *id = json_string_value(json_object_get(root, "id"));
        snprintf(s->platform_post_id, sizeof(s->platform_post_id), "%s", id ? id : "");
        json_decref(root);
    }
    s->done = s->verdict != SEND_VERDICT_RETRY;
}

void platform_send_round(struct platform_client *client, struct platform_send *sends,
                         size_t n)
{
    if (n > client->cap) {
        sc_free(client->transfers);
        client->transfers = sc_malloc(n * sizeof(*client->transfers));
        client->cap = n;
    }
    struct platform_transfer *ts = client->transfers;
    for (size_t i = 0; i < n; i++) {
        ts[i].easy = NULL;
        ts[i].len = 0;
        ts[i].body[0] = '\0';
    }
    size_t active = 0;
    for (size_t i = 0; i < n; i++) {
        if (sends[i].done)
            continue;
        struct platform_transfer *t = &ts[i];
        t->send = &sends[i];
        t->send->retry_after_s = -1;
        t->easy = curl_easy_init();
        char idem[300];
        snprintf(idem, sizeof(idem), "Idempotency-Key: %s", sends[i].idempotency_key);
        t->headers = curl_slist_append(NULL, "Content-Type: application/json");
        t->headers = curl_slist_append(t->headers, idem);
        curl_easy_setopt(t->easy, CURLOPT_URL, client->url);
        curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
        curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, sends[i].body);
        curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, client->timeout_ms);
        curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, platform_write);
        curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
        curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, platform_header);
        curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t);
        curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
        curl_multi_add_handle(client->multi, t->easy);
        active++;
    }
    int running = (int)active;
    while (running > 0) {
        curl_multi_perform(client->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(client->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct platform_transfer *t;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            platform_finish(t, m->data.result);
        }
        if (running > 0)
            curl_multi_poll(client->multi, NULL, 0, 200, NULL);
    }
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(client->multi, &left))) {
        if (m->msg == CURLMSG_DONE) {
            struct platform_transfer *t;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            platform_finish(t, m->data.result);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!ts[i].easy)
            continue;
        curl_multi_remove_handle(client->multi, ts[i].easy);
        curl_easy_cleanup(ts[i].easy);
        curl_slist_free_all(ts[i].headers);
    }
}
