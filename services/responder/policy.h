/* The responder's decisions as pure functions: what an HTTP outcome from a platform means
 * (sent, retry later, failed for good, already sent), how long to wait before the next
 * attempt, how long a text is as each platform counts it, whether it carries personal
 * data, money amounts or links, whether it needs a person's review, whether quiet mode
 * suppresses it, and the plan of messages that carry one reply (a thread of parts, or a
 * direct message plus a public invitation). No I/O here: the adapters in main.c,
 * platform.c and ratelimit.c act on what these functions decide. */
#ifndef RESPONDER_POLICY_H
#define RESPONDER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum send_verdict {
    SEND_VERDICT_SENT,  /* the platform accepted it (or already had it) */
    SEND_VERDICT_RETRY, /* transient: timeout, reset, 5xx, 408, 429 */
    SEND_VERDICT_FAILED /* permanent: other 4xx, or a malformed request */
};

/* @brief Verdict from a transport result (transport_ok false = timeout/reset/refused)
 * and, when transport_ok, the HTTP status. */
enum send_verdict responder_verdict(bool transport_ok, long http_status);

/* @brief Delay before attempt `attempt` (1 = the first retry): 200 ms doubling, at most
 * 10 s. A server's Retry-After (seconds, -1 when absent) wins when larger, capped at 60
 * s. */
int responder_backoff_ms(int attempt, long retry_after_s);

/* ------------------------------------------------------------------ platforms */

enum policy_platform {
    POLICY_X,
    POLICY_MASTODON,
    POLICY_BLUESKY,
    POLICY_GENERIC, /* generic webhook; also facebook, instagram in this build */
    POLICY_PLATFORM_COUNT
};

/* @brief Platform of an event's "platform" value ("x", "mastodon", ...). Unknown and
 * other platforms map to POLICY_GENERIC. */
enum policy_platform policy_platform_of(const char *name);

/* @brief True when the answer is X's "duplicate content" refusal (403 whose body says
 * duplicate): the text was already posted, so it counts as sent. */
bool policy_x_duplicate(long http_status, const char *body);

/* @brief True when the answer is Bluesky's refusal of a record key that already exists
 * (our record keys are derived from the reply id, so it was already created). */
bool policy_bluesky_duplicate(long http_status, const char *body);

/* ------------------------------------------------------------------ length */

/* @brief X's weighted length (twitter-text v3): code points in U+0000-U+10FF,
 * U+2000-U+200D, U+2010-U+201F and U+2032-U+2037 weigh 1, all others (CJK, emoji, ...)
 * weigh 2; an emoji sequence joined by ZWJ, variation selectors or skin-tone modifiers
 * counts once; every http(s):// URL counts 23 whatever its length. Limit: 280. */
size_t policy_x_length(const char *text);

/* @brief Mastodon's length: code points, where every http(s):// URL counts 23 and a
 * remote mention @user@domain counts as @user. Limit: the server's (500 by default). */
size_t policy_mastodon_length(const char *text);

/* @brief Grapheme clusters, as Bluesky counts a post (limit 300). An approximation of
 * Unicode UAX #29 without tables: combining marks (U+0300-036F, 1AB0-1AFF, 1DC0-1DFF,
 * 20D0-20FF, FE20-FE2F), Indic and Thai vowel signs and viramas in U+0900-0DFF and
 * U+0E31-0E4E, Hangul medial and final jamo, variation selectors, tags, skin-tone
 * modifiers, ZWJ plus the code point it joins, the second of a regional-indicator pair
 * and CR LF extend the preceding cluster. */
size_t policy_graphemes(const char *text);

/* @brief Code points of UTF-8 text (invalid bytes count one each). */
size_t policy_codepoints(const char *text);

/* Limits per platform (configuration). */
struct policy_limits {
    size_t x_max;          /* 280 */
    size_t x_dm_max;       /* 10000 */
    size_t mastodon_max;   /* 500, or the server's configured limit */
    size_t bluesky_max;    /* 300 graphemes */
    size_t generic_max;    /* code points; 0 = unlimited */
    int thread_max_parts;  /* a long public reply may become up to this many parts; 1 =
                              never split (hold for review instead) */
    size_t bluesky_dm_max; /* 1000 graphemes (a chat.bsky.convo message) */
};

/* The defaults above, with thread_max_parts 4. */
extern const struct policy_limits policy_default_limits;

/* @brief Length of text as platform counts it (see the functions above). */
size_t policy_length(enum policy_platform platform, const char *text);

/* @brief The limit for a public post (dm false) or a direct message (dm true); 0 =
 * unlimited. */
size_t policy_limit(const struct policy_limits *limits, enum policy_platform platform,
                    bool dm);

/* ------------------------------------------------------------------ content */

/* Kinds of personal data (bit mask). */
enum {
    POLICY_PII_EMAIL = 1,
    POLICY_PII_PHONE = 2,
    POLICY_PII_ORDER = 4, /* order, booking, reservation, ticket or reference number */
    POLICY_PII_CARD = 8   /* 13-19 digits that pass the Luhn check */
};

/* @brief Personal data found in text, as a mask of POLICY_PII_* (0 = none). */
unsigned policy_personal_data(const char *text);

/* @brief Name of the first kind in a mask ("email", "phone", "order", "card"), or "". */
const char *policy_pii_name(unsigned mask);

/* @brief True when text holds a link (http://, https://, www.) or a money amount ($12,
 * 12 EUR, €5, 3.50 USD, ...). */
bool policy_has_link(const char *text);
bool policy_has_money(const char *text);

/* @brief True when an origin ("auto", "scheduled", "agent:<id>") is automation. */
bool policy_is_automatic(const char *origin);

/* @brief Quiet mode: true when an automatic or scheduled reply must be suppressed because
 * a global or regional quiet period (end times in ms; 0 = none) has not ended at now_ms.
 * Agents' replies are never suppressed. */
bool policy_quiet(const char *origin, int64_t now_ms, int64_t global_end_ms,
                  int64_t region_end_ms);

/* ------------------------------------------------------------------ the plan */

/* What the responder knows about one reply before deciding (all strings borrowed). */
struct policy_input {
    enum policy_platform platform;
    bool dm; /* channel "dm" */
    const char *text;
    const char *origin;    /* auto | scheduled | agent:<id> */
    const char *handle;    /* customer's handle, without '@' (NULL = unknown) */
    const char *signature; /* agent's signature, e.g. "^JS" (NULL = none) */
    const char *intent;    /* classifier intent when known (NULL) */
    bool requires_review;  /* set upstream (crisis, influencer) */
    bool influencer;
    bool sensitive;        /* the case is on a sensitive topic */
    bool first_auto_reply; /* no automatic reply reached this customer before */
    bool approved;         /* a person approved this text: skip the review rules */
    bool broadcast;        /* a scheduled post, not a reply to a customer */
};

enum policy_outcome {
    POLICY_SEND,  /* send the messages of the plan */
    POLICY_HOLD,  /* held_for_review, reason says why */
    POLICY_REJECT /* cannot be sent as given (agent API: 422), reason says why */
};

#define POLICY_MAX_MSGS 8

struct policy_msg {
    bool dm;
    char *text; /* owned (policy_plan_free) */
};

struct policy_plan {
    enum policy_outcome outcome;
    char reason[96]; /* "crisis", "too_long: x counts 312 of 280", ... */
    struct policy_msg msgs[POLICY_MAX_MSGS]; /* in sending order */
    size_t n_msgs;
    unsigned pii; /* personal data found (mask) */
};

/* @brief Decides how one reply goes out. Order: compose (mention the customer in a
 * public reply, append the agent's signature), review rules (unless approved), personal
 * data in a public reply (-> a direct message with the text and a public reply inviting
 * the customer to direct messages; on a platform without direct messages here
 * (Bluesky, generic), held for review), then length (a public reply too long is split
 * into a numbered thread when limits allow, else held; a direct message too long is
 * held). Nothing is ever truncated. */
void policy_decide(const struct policy_input *in, const struct policy_limits *limits,
                   struct policy_plan *plan);

/* @brief Frees the texts of a plan (the plan itself may be on the stack). */
void policy_plan_free(struct policy_plan *plan);

/* @brief Splits text at spaces into at most max_parts parts, each with a " (i/n)" suffix,
 * each within limit as platform counts it. Words longer than a part are cut at a code
 * point boundary. @returns the number of parts (texts are new strings in parts[]), or 0
 * when it does not fit in max_parts. */
size_t policy_split(enum policy_platform platform, const char *text, size_t limit,
                    int max_parts, char **parts);

#endif
