/* The responder's platform clients: builds each platform's documented request for one
 * message (Mastodon POST /api/v1/statuses, X API v2 POST /2/tweets and
 * /2/dm_conversations/with/:participant_id/messages, Bluesky
 * com.atproto.repo.createRecord, and for a Bluesky direct message
 * chat.bsky.convo.getConvoForMembers then chat.bsky.convo.sendMessage through the
 * atproto-proxy header, a generic signed webhook), reads the platform's answer
 * (post id, rate-limit headers, duplicate refusals) and sends many messages at once with
 * libcurl multi. Building and reading are pure; only platform_send_round does I/O. */
#ifndef RESPONDER_PLATFORM_H
#define RESPONDER_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "ratelimit.h"

/* One configured platform account. */
struct platform_account {
    enum policy_platform platform;
    const char *name;     /* rate-limit account, e.g. "x:default" */
    const char *base_url; /* "https://api.x.com", or the webhook URL for generic */
    const char *token;    /* bearer token (Bluesky: the session's accessJwt) */
    const char *repo;     /* Bluesky: the account's DID (from the session) */
    const char *secret;   /* generic: HMAC-SHA256 key of the signature ("" = unsigned) */
};

/* One message to send (strings borrowed). */
struct platform_msg {
    const char *key; /* idempotency key: "<reply id>" or "<reply id>#<part>" */
    const char *reply_id;
    const char *platform; /* the event's platform name (generic body) */
    bool dm;
    const char *text;
    const char *in_reply_to; /* platform post id to answer (no "x:" prefix), or NULL */
    const char *parent_cid;  /* Bluesky: cid of in_reply_to */
    const char *root_uri;    /* Bluesky: thread root (NULL = in_reply_to) */
    const char *root_cid;
    const char *recipient; /* DM: X participant id, Bluesky DID */
    const char *convo_id;  /* Bluesky DM: the conversation (NULL: look it up first) */
    int64_t now_ms;        /* createdAt, signature timestamp */
};

/* The service DID the chat.bsky endpoints are proxied to by the PDS. */
#define PLATFORM_BLUESKY_CHAT_PROXY "did:web:api.bsky.chat#bsky_chat"

/* A built request. */
struct platform_request {
    char *url;
    char *body;       /* NULL for a GET */
    char *headers[6]; /* "Name: value", NULL-terminated */
};

/* @brief Builds the request of msg for account (pure). @returns 0, or SC_EINVAL with a
 * reason in err (e.g. a DM without a recipient). Free with platform_request_free. */
int platform_build(const struct platform_account *account, const struct platform_msg *msg,
                   struct platform_request *req, char *err, size_t err_size);
void platform_request_free(struct platform_request *req);

/* @brief Bluesky record key for an idempotency key: a TID-shaped (13 base32-sortable
 * characters) value derived from a hash of key, so a retry creates the same record. */
void platform_bluesky_rkey(const char *key, char out[14]);

/* What came back for one send. */
struct platform_result {
    enum send_verdict verdict;
    bool duplicate;     /* the platform already had it (X 403, Bluesky existing rkey) */
    bool expired_token; /* Bluesky: the session's access token expired (new session) */
    bool transport_error;
    long http_status;
    struct ratelimit_headers rl;
    char post_id[256]; /* Mastodon/X/generic id, X DM event id, Bluesky uri or message
                          id */
    char cid[128];     /* Bluesky */
    bool lookup;       /* a Bluesky conversation lookup: convo_id, nothing was sent */
    char convo_id[128];
    char error[160];
};

/* @brief Reads an answer (pure): verdict, duplicate refusal, post id (for a Bluesky
 * direct message: the conversation of a lookup, or the message id). */
void platform_read(enum policy_platform platform, bool dm, long http_status,
                   const char *body, size_t body_len, struct platform_result *res);

/* One send in a round. */
struct platform_send {
    struct platform_request req; /* filled by the caller */
    struct platform_result res;  /* filled by platform_send_round */
};

struct platform_client;

/* @brief Creates a client with a per-request timeout, keeping at most max_connections
 *        connections per host: a round starts at most max_connections sends per host
 *        and the next one of a host when one of its sends ends. */
struct platform_client *platform_client_new(long timeout_ms, long max_connections);
void platform_client_free(struct platform_client *client);

/* @brief Sends every request once, concurrently, and fills each result. */
void platform_send_round(struct platform_client *client, struct platform_send *sends,
                         size_t n);

/* @brief Bluesky session: POST <base>/xrpc/com.atproto.server.createSession with
 * identifier and password (blocking). @returns 0 with new strings in *jwt and *did, or
 * SC_EIO with err. */
int platform_bluesky_session(const char *base_url, const char *identifier,
                             const char *password, long timeout_ms, char **jwt,
                             char **did, char *err, size_t err_size);

#endif
