/* Polling decisions as pure functions: the request URL of each polled source from its
 * cursor, what a response page yields (posts, the cursor after the page, whether another
 * page follows), Link header parsing, and how long rate-limit headers or a 429 say to
 * wait. The cursor is stored in Redis (cursor:{<source>}) after the page's posts were
 * published, so a restart resumes exactly after the last published page.
 *
 * Paging per platform:
 *  - Mastodon (notifications, v2 search): min_id = newest id published; each page is the
 *    chunk just newer than min_id (the Link header's rel="prev" carries the next min_id).
 *  - X API v2 (mentions, recent search) and Bluesky (listNotifications) page from newest
 *    to oldest: a run remembers the newest id/time of its first page, follows next_token
 * / cursor page by page (stored after each page: a restart continues mid-run), and at the
 *    end (no more token, or an item not newer than `since`) moves `since` to that newest.
 *    The first run without a cursor takes the newest page only (no history backfill). */
#ifndef INGESTOR_POLL_H
#define INGESTOR_POLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

enum ingest_poll_kind {
    INGEST_POLL_MASTODON_MENTIONS, /* GET /api/v1/notifications?types[]=mention */
    INGEST_POLL_MASTODON_SEARCH,   /* GET /api/v2/search?type=statuses&q=<term> */
    INGEST_POLL_X_MENTIONS,        /* GET /2/users/:id/mentions */
    INGEST_POLL_X_SEARCH,          /* GET /2/tweets/search/recent?query=<terms> */
    INGEST_POLL_BLUESKY,           /* GET /xrpc/app.bsky.notification.listNotifications */
};

/* The persisted position of one source. */
struct ingest_cursor {
    char since[128];  /* Mastodon min_id, X since_id, Bluesky indexedAt high-water mark */
    char next[512];   /* X next_token / Bluesky cursor of an unfinished run; "" = none */
    char newest[128]; /* newest id / time of the unfinished run */
};

/* @brief Serialises / parses a cursor as the JSON stored in Redis.
 * @returns a new string (sc_free) / 0 or -1. */
char *ingest_cursor_dump(const struct ingest_cursor *cur);
int ingest_cursor_load(struct ingest_cursor *cur, const char *json, size_t len);

/* @brief The URL of the next request: base (no trailing slash), arg = the user id (X
 * mentions), the search term or query (search kinds), unused otherwise; page_size the
 * page limit. @returns a new string (sc_free). */
char *ingest_poll_url(enum ingest_poll_kind kind, const char *base, const char *arg,
                      const struct ingest_cursor *cur, int page_size);

/* @brief Takes one successful response page: appends the mapped posts to out, updates
 * cur to the position after this page, and sets *more when another page should be
 * fetched at once. link = the Link header (may be NULL). own_id (may be NULL) skips the
 * account's own posts. @returns 0, or -1 when the body is not the documented shape. */
int ingest_poll_page(enum ingest_poll_kind kind, const char *body, size_t len,
                     const char *link, const char *source_name, const char *own_id,
                     struct ingest_cursor *cur, json_t *out, bool *more);

/* @brief Value of query parameter param in the URL of the Link header entry with the
 * given rel (e.g. rel "prev", param "min_id") into buf. @returns 0, or -1 when absent. */
int ingest_link_param(const char *link, const char *rel, const char *param, char *buf,
                      size_t size);

/* @brief How long to wait before the next request to this source, from the response:
 * status 429, or remaining == "0", waits until reset (Unix seconds as X and Bluesky send
 * it, or an RFC 3339 time as Mastodon sends it); a 429 without a usable reset waits
 * fallback_ms. @returns milliseconds (0 = no rate-limit wait). */
int64_t ingest_ratelimit_wait_ms(long status, const char *remaining, const char *reset,
                                 int64_t now_wall_ms, int64_t fallback_ms);

/* @brief Bluesky login: the JSON body of com.atproto.server.createSession for an
 * identifier (handle or DID) and an app password, and the accessJwt of its answer.
 * @returns a new string (sc_free), or NULL when the answer has no accessJwt. */
char *ingest_bluesky_login_body(const char *identifier, const char *password);
char *ingest_bluesky_login_token(const char *body, size_t len);

/* @brief Numeric-id comparison (longer is larger, then lexicographic). */
int ingest_id_cmp(const char *a, const char *b);

#endif
