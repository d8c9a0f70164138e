/* Polling decisions: request URLs, page handling with cursors, Link and rate-limit
 * headers. Pure functions. */
#include "poll.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "lifecycle.h"
#include "mapping.h"

#define INGEST_X_FIELDS                                                                  \
    "tweet.fields=created_at,author_id,conversation_id,referenced_tweets,public_"        \
    "metrics,"                                                                           \
    "lang&expansions=author_id&user.fields=public_metrics,verified,username,name"

static void ingest_copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

char *ingest_cursor_dump(const struct ingest_cursor *cur)
{
    json_t *j = json_pack("{s:s,s:s,s:s}", "since", cur->since, "next", cur->next,
                          "newest", cur->newest);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char *copy = sc_strdup(s);
    free(s);
    return copy;
}

int ingest_cursor_load(struct ingest_cursor *cur, const char *json, size_t len)
{
    memset(cur, 0, sizeof(*cur));
    json_t *j = json_loadb(json, len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return -1;
    }
    ingest_copy(cur->since, sizeof(cur->since),
                json_string_value(json_object_get(j, "since")));
    ingest_copy(cur->next, sizeof(cur->next),
                json_string_value(json_object_get(j, "next")));
    ingest_copy(cur->newest, sizeof(cur->newest),
                json_string_value(json_object_get(j, "newest")));
    json_decref(j);
    return 0;
}

/* Percent-encodes s (RFC 3986 unreserved kept). */
static char *ingest_urlenc(const char *s)
{
    size_t n = strlen(s);
    char *out = sc_malloc(3 * n + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *o++ = (char)*p;
        } else {
            snprintf(o, 4, "%%%02X", *p);
            o += 3;
        }
    }
    *o = '\0';
    return out;
}

char *ingest_poll_url(enum ingest_poll_kind kind, const char *base, const char *arg,
                      const struct ingest_cursor *cur, int page_size)
{
    char *enc = ingest_urlenc(arg ? arg : "");
    char *url = NULL;
    switch (kind) {
        case INGEST_POLL_MASTODON_MENTIONS:
            url =
                sc_asprintf("%s/api/v1/notifications?types%%5B%%5D=mention&limit=%d%s%s",
                            base, page_size, cur->since[0] ? "&min_id=" : "", cur->since);
            break;
        case INGEST_POLL_MASTODON_SEARCH:
            url = sc_asprintf(
                "%s/api/v2/search?type=statuses&resolve=false&q=%s&limit=%d%s%s", base,
                enc, page_size, cur->since[0] ? "&min_id=" : "", cur->since);
            break;
        case INGEST_POLL_X_MENTIONS:
        case INGEST_POLL_X_SEARCH: {
            bool search = kind == INGEST_POLL_X_SEARCH;
            char *next = ingest_urlenc(cur->next);
            if (search)
                url = sc_asprintf(
                    "%s/2/tweets/search/recent?query=%s&max_results=%d&" INGEST_X_FIELDS
                    "%s%s%s%s",
                    base, enc, page_size, cur->since[0] ? "&since_id=" : "", cur->since,
                    cur->next[0] ? "&next_token=" : "", next);
            else
                url = sc_asprintf(
                    "%s/2/users/%s/mentions?max_results=%d&" INGEST_X_FIELDS "%s%s%s%s",
                    base, enc, page_size, cur->since[0] ? "&since_id=" : "", cur->since,
                    cur->next[0] ? "&pagination_token=" : "", next);
            sc_free(next);
            break;
        }
        case INGEST_POLL_BLUESKY: {
            char *next = ingest_urlenc(cur->next);
            url = sc_asprintf(
                "%s/xrpc/app.bsky.notification.listNotifications?limit=%d%s%s", base,
                page_size, cur->next[0] ? "&cursor=" : "", next);
            sc_free(next);
            break;
        }
    }
    sc_free(enc);
    return url;
}

int ingest_id_cmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(a, b);
}

int ingest_link_param(const char *link, const char *rel, const char *param, char *buf,
                      size_t size)
{
    if (!link)
        return -1;
    char want[64];
    snprintf(want, sizeof(want), "rel=\"%s\"", rel);
    const char *p = link;
    while (*p) {
        const char *lt = strchr(p, '<');
        if (!lt)
            return -1;
        const char *gt = strchr(lt, '>');
        if (!gt)
            return -1;
        const char *comma = strchr(gt, ',');
        const char *end = comma ? comma : gt + strlen(gt);
        const char *r = strstr(gt, want);
        if (r && r < end) {
            size_t plen = strlen(param);
            for (const char *q = lt + 1; q + plen < gt; q++) {
                if ((q[-1] == '?' || q[-1] == '&') && strncmp(q, param, plen) == 0 &&
                    q[plen] == '=') {
                    const char *v = q + plen + 1;
                    size_t n = 0;
                    while (v + n < gt && v[n] != '&')
                        n++;
                    if (n + 1 > size)
                        return -1;
                    memcpy(buf, v, n);
                    buf[n] = '\0';
                    return 0;
                }
            }
            return -1;
        }
        p = end;
    }
    return -1;
}

static int ingest_page_mastodon(enum ingest_poll_kind kind, const json_t *root,
                                const char *link, const char *source_name,
                                const char *own_id, struct ingest_cursor *cur,
                                json_t *out, bool *more, int *n_items)
{
    const json_t *items =
        kind == INGEST_POLL_MASTODON_SEARCH ? json_object_get(root, "statuses") : root;
    if (!json_is_array(items))
        return -1;
    char newest[128];
    ingest_copy(newest, sizeof(newest), cur->since);
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "id"));
        if (!id)
            return -1;
        if (ingest_id_cmp(id, newest) > 0)
            ingest_copy(newest, sizeof(newest), id);
        const json_t *status =
            kind == INGEST_POLL_MASTODON_SEARCH ? item : json_object_get(item, "status");
        const char *acct =
            json_string_value(json_object_get(json_object_get(status, "account"), "id"));
        if (!status || (own_id && acct && strcmp(acct, own_id) == 0))
            continue;
        ingest_map_mastodon_status(status, NULL, source_name, out);
    }
    char prev[128];
    if (ingest_link_param(link, "prev", "min_id", prev, sizeof(prev)) == 0 &&
        ingest_id_cmp(prev, newest) > 0)
        ingest_copy(newest, sizeof(newest), prev);
    *n_items = (int)json_array_size(items);
    ingest_copy(cur->since, sizeof(cur->since), newest);
    cur->next[0] = cur->newest[0] = '\0';
    *more = json_array_size(items) > 0;
    return 0;
}

/* Ends a newest-first run: since moves to the run's newest. */
static void ingest_run_end(struct ingest_cursor *cur)
{
    if (cur->newest[0])
        ingest_copy(cur->since, sizeof(cur->since), cur->newest);
    cur->next[0] = cur->newest[0] = '\0';
}

static int ingest_page_x(const json_t *root, const char *source_name, const char *own_id,
                         struct ingest_cursor *cur, json_t *out, bool *more)
{
    const json_t *meta = json_object_get(root, "meta");
    if (!json_is_object(meta) && !json_is_array(json_object_get(root, "data")))
        return -1;
    bool first_ever = !cur->since[0] && !cur->next[0];
    const char *newest = json_string_value(json_object_get(meta, "newest_id"));
    if (!cur->next[0] && newest)
        ingest_copy(cur->newest, sizeof(cur->newest), newest);
    ingest_map_x_v2(root, own_id, source_name, out);
    const char *token = json_string_value(json_object_get(meta, "next_token"));
    if (token && !first_ever) {
        ingest_copy(cur->next, sizeof(cur->next), token);
        *more = true;
    } else {
        ingest_run_end(cur);
        *more = false;
    }
    return 0;
}

static int ingest_page_bluesky(const json_t *root, const char *source_name,
                               struct ingest_cursor *cur, json_t *out, bool *more)
{
    const json_t *items = json_object_get(root, "notifications");
    if (!json_is_array(items))
        return -1;
    bool first_ever = !cur->since[0] && !cur->next[0];
    bool reached = false;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *at = json_string_value(json_object_get(item, "indexedAt"));
        if (!at)
            return -1;
        if (i == 0 && !cur->next[0])
            ingest_copy(cur->newest, sizeof(cur->newest), at);
        if (cur->since[0] && strcmp(at, cur->since) <= 0) {
            reached = true;
            break;
        }
        ingest_map_bluesky(item, source_name, out);
    }
    const char *token = json_string_value(json_object_get(root, "cursor"));
    if (token && !reached && !first_ever && json_array_size(items) > 0) {
        ingest_copy(cur->next, sizeof(cur->next), token);
        *more = true;
    } else {
        ingest_run_end(cur);
        *more = false;
    }
    return 0;
}

int ingest_poll_page(enum ingest_poll_kind kind, const char *body, size_t len,
                     const char *link, const char *source_name, const char *own_id,
                     struct ingest_cursor *cur, json_t *out, bool *more)
{
    *more = false;
    json_t *root = json_loadb(body, len, 0, NULL);
    if (!root)
        return -1;
    int rc = -1, n_items = 0;
    switch (kind) {
        case INGEST_POLL_MASTODON_MENTIONS:
        case INGEST_POLL_MASTODON_SEARCH:
            rc = ingest_page_mastodon(kind, root, link, source_name, own_id, cur, out,
                                      more, &n_items);
            break;
        case INGEST_POLL_X_MENTIONS:
        case INGEST_POLL_X_SEARCH:
            rc = ingest_page_x(root, source_name, own_id, cur, out, more);
            break;
        case INGEST_POLL_BLUESKY:
            rc = ingest_page_bluesky(root, source_name, cur, out, more);
            break;
    }
    json_decref(root);
    return rc;
}

int64_t ingest_ratelimit_wait_ms(long status, const char *remaining, const char *reset,
                                 int64_t now_wall_ms, int64_t fallback_ms)
{
    bool limited = status == 429 || (remaining && strcmp(remaining, "0") == 0);
    if (!limited)
        return 0;
    int64_t at = -1;
    if (reset && *reset) {
        char *end;
        long long n = strtoll(reset, &end, 10);
        if (*end == '\0' && end != reset)
            at = n < 100000000000LL ? n * 1000 : n; /* seconds (or already ms) */
        else if (sc_parse_time(reset, &at) != 0)
            at = -1;
    }
    if (at < 0)
        return status == 429 ? fallback_ms : 0;
    int64_t wait = at - now_wall_ms;
    if (wait < 0)
        wait = status == 429 ? 1000 : 0;
    return wait;
}

char *ingest_bluesky_login_body(const char *identifier, const char *password)
{
    json_t *j = json_pack("{s:s,s:s}", "identifier", identifier, "password", password);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char *copy = sc_strdup(s ? s : "{}");
    free(s);
    return copy;
}

char *ingest_bluesky_login_token(const char *body, size_t len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *tok = json_string_value(json_object_get(j, "accessJwt"));
    char *copy = tok && *tok ? sc_strdup(tok) : NULL;
    json_decref(j);
    return copy;
}
