/* Send outcome and retry timing rules, platform text length counters, personal-data,
 * link and money detectors, review and quiet-mode rules, and the message plan of a
 * reply. Pure functions: no I/O, no clock, no globals but constant tables. */
#include "policy.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"

enum send_verdict responder_verdict(bool transport_ok, long http_status)
{
    if (!transport_ok)
        return SEND_VERDICT_RETRY;
    if (http_status >= 200 && http_status < 300)
        return SEND_VERDICT_SENT;
    if (http_status == 408 || http_status == 429 || http_status >= 500)
        return SEND_VERDICT_RETRY;
    return SEND_VERDICT_FAILED;
}

int responder_backoff_ms(int attempt, long retry_after_s)
{
    long ms = 200;
    for (int i = 1; i < attempt && ms < 10000; i++)
        ms *= 2;
    if (ms > 10000)
        ms = 10000;
    if (retry_after_s >= 0) {
        long ra = retry_after_s > 60 ? 60000 : retry_after_s * 1000;
        if (ra > ms)
            ms = ra;
    }
    return (int)ms;
}

enum policy_platform policy_platform_of(const char *name)
{
    if (!name)
        return POLICY_GENERIC;
    if (strcmp(name, "x") == 0)
        return POLICY_X;
    if (strcmp(name, "mastodon") == 0)
        return POLICY_MASTODON;
    if (strcmp(name, "bluesky") == 0)
        return POLICY_BLUESKY;
    return POLICY_GENERIC;
}

static bool policy_contains_ci(const char *hay, const char *needle)
{
    return hay && strcasestr(hay, needle) != NULL;
}

bool policy_x_duplicate(long http_status, const char *body)
{
    return http_status == 403 && policy_contains_ci(body, "duplicate");
}

bool policy_bluesky_duplicate(long http_status, const char *body)
{
    return (http_status == 400 || http_status == 409) &&
           (policy_contains_ci(body, "already exists") ||
            policy_contains_ci(body, "RecordAlreadyExists"));
}

/* ------------------------------------------------------------------ UTF-8 */

/* Decodes the code point at s; *len gets its byte length (1 for an invalid byte). */
static uint32_t policy_utf8(const unsigned char *s, size_t *len)
{
    uint32_t c = s[0];
    size_t n = c < 0x80         ? 1
               : (c >> 5) == 6  ? 2
               : (c >> 4) == 14 ? 3
               : (c >> 3) == 30 ? 4
                                : 0;
    if (n == 0) {
        *len = 1;
        return c;
    }
    if (n == 1) {
        *len = 1;
        return c;
    }
    uint32_t cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *len = 1;
            return c;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *len = n;
    return cp;
}

size_t policy_codepoints(const char *text)
{
    size_t n = 0, len;
    for (const unsigned char *s = (const unsigned char *)text; *s; s += len) {
        (void)policy_utf8(s, &len);
        n++;
    }
    return n;
}

/* Length in bytes of an http(s):// URL starting at s, or 0 when none starts there. */
static size_t policy_url_at(const char *text, const char *s)
{
    if (s > text && !isspace((unsigned char)s[-1]) && s[-1] != '(' && s[-1] != '"')
        return 0;
    size_t pre = strncasecmp(s, "https://", 8) == 0  ? 8
                 : strncasecmp(s, "http://", 7) == 0 ? 7
                                                     : 0;
    if (pre == 0 || !s[pre] || isspace((unsigned char)s[pre]))
        return 0;
    size_t n = pre;
    while (s[n] && !isspace((unsigned char)s[n]))
        n++;
    while (n > pre && strchr(".,;:!?)\"'", s[n - 1])) /* trailing punctuation */
        n--;
    return n;
}

static bool policy_emoji_modifier(uint32_t cp)
{
    return (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0x1F3FB && cp <= 0x1F3FF) ||
           (cp >= 0xE0020 && cp <= 0xE007F);
}

size_t policy_x_length(const char *text)
{
    size_t total = 0, len;
    bool prev_heavy = false;
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        size_t url = policy_url_at(text, (const char *)s);
        if (url) {
            total += 23;
            s += url;
            prev_heavy = false;
            continue;
        }
        uint32_t cp = policy_utf8(s, &len);
        s += len;
        if (prev_heavy && policy_emoji_modifier(cp))
            continue; /* part of the emoji before */
        if (prev_heavy && cp == 0x200D) {
            if (*s) { /* ZWJ and the code point it joins */
                (void)policy_utf8(s, &len);
                s += len;
            }
            continue;
        }
        bool light = cp <= 0x10FF || (cp >= 0x2000 && cp <= 0x200D) ||
                     (cp >= 0x2010 && cp <= 0x201F) || (cp >= 0x2032 && cp <= 0x2037);
        total += light ? 1 : 2;
        prev_heavy = !light;
    }
    return total;
}

size_t policy_mastodon_length(const char *text)
{
    size_t total = 0, len;
    const char *s = text;
    while (*s) {
        size_t url = policy_url_at(text, s);
        if (url) {
            total += 23;
            s += url;
            continue;
        }
        if (*s == '@' && (s == text || isspace((unsigned char)s[-1]))) {
            /* @user@domain counts as @user */
            size_t u = 1;
            while (isalnum((unsigned char)s[u]) || s[u] == '_')
                u++;
            if (u > 1 && s[u] == '@' && (isalnum((unsigned char)s[u + 1]))) {
                size_t d = u + 1;
                while (isalnum((unsigned char)s[d]) || s[d] == '.' || s[d] == '-')
                    d++;
                total += u;
                s += d;
                continue;
            }
        }
        (void)policy_utf8((const unsigned char *)s, &len);
        s += len;
        total++;
    }
    return total;
}

static bool policy_extends(uint32_t cp)
{
    if ((cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x0483 && cp <= 0x0489) ||
        (cp >= 0x0591 && cp <= 0x05BD) || (cp >= 0x0610 && cp <= 0x061A) ||
        (cp >= 0x064B && cp <= 0x065F) || cp == 0x0670 ||
        (cp >= 0x1AB0 && cp <= 0x1AFF) || (cp >= 0x1DC0 && cp <= 0x1DFF) ||
        (cp >= 0x20D0 && cp <= 0x20FF) || (cp >= 0xFE20 && cp <= 0xFE2F) ||
        (cp >= 0x1160 && cp <= 0x11FF) || (cp >= 0xE0100 && cp <= 0xE01EF) ||
        policy_emoji_modifier(cp))
        return true;
    if (cp >= 0x0900 && cp <= 0x0DFF) { /* Indic blocks share one layout */
        uint32_t o = cp & 0x7F;
        return o <= 0x03 || (o >= 0x3A && o <= 0x4F && o != 0x3D) ||
               (o >= 0x51 && o <= 0x57) || o == 0x62 || o == 0x63;
    }
    return cp == 0x0E31 || (cp >= 0x0E34 && cp <= 0x0E3A) ||
           (cp >= 0x0E47 && cp <= 0x0E4E);
}

size_t policy_graphemes(const char *text)
{
    size_t n = 0, len;
    uint32_t prev = 0;
    bool ri_open = false; /* an unpaired regional indicator precedes */
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        uint32_t cp = policy_utf8(s, &len);
        s += len;
        bool ri = cp >= 0x1F1E6 && cp <= 0x1F1FF;
        if (n > 0 && (policy_extends(cp) || cp == 0x200D ||
                      (prev == '\r' && cp == '\n') || (ri && ri_open))) {
            if (cp == 0x200D && *s) { /* ZWJ joins the next code point too */
                cp = policy_utf8(s, &len);
                s += len;
            }
            ri_open = false;
            prev = cp;
            continue;
        }
        n++;
        ri_open = ri;
        prev = cp;
    }
    return n;
}

const struct policy_limits policy_default_limits = {
    .x_max = 280,
    .x_dm_max = 10000,
    .mastodon_max = 500,
    .bluesky_max = 300,
    .generic_max = 0,
    .thread_max_parts = 4,
    .bluesky_dm_max = 1000,
};

size_t policy_length(enum policy_platform platform, const char *text)
{
    switch (platform) {
        case POLICY_X:
            return policy_x_length(text);
        case POLICY_MASTODON:
            return policy_mastodon_length(text);
        case POLICY_BLUESKY:
            return policy_graphemes(text);
        default:
            return policy_codepoints(text);
    }
}

size_t policy_limit(const struct policy_limits *limits, enum policy_platform platform,
                    bool dm)
{
    switch (platform) {
        case POLICY_X:
            return dm ? limits->x_dm_max : limits->x_max;
        case POLICY_MASTODON:
            return limits->mastodon_max; /* a direct message is a status too */
        case POLICY_BLUESKY:
            return dm ? limits->bluesky_dm_max : limits->bluesky_max;
        default:
            return limits->generic_max;
    }
}

/* ------------------------------------------------------------------ content */

static bool policy_luhn(const char *digits, size_t n)
{
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int d = digits[n - 1 - i] - '0';
        if (i % 2 == 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0;
}

static bool policy_email_at(const char *text, const char *at)
{
    const char *l = at;
    while (l > text && (isalnum((unsigned char)l[-1]) || strchr("._%+-", l[-1])))
        l--;
    if (l == at || (l > text && l[-1] == '@'))
        return false;
    const char *d = at + 1;
    bool dot = false;
    size_t after_dot = 0;
    while (isalnum((unsigned char)*d) || *d == '.' || *d == '-') {
        if (*d == '.') {
            dot = true;
            after_dot = 0;
        } else {
            after_dot++;
        }
        d++;
    }
    return dot && after_dot >= 2 && d - at > 3;
}

static const char *const policy_order_words[] = {
    "order",   "booking",    "reservation", "confirmation",
    "ticket",  "reference",  "ref",         "pnr",
    "invoice", "tracking",   "case",        "account",
    "orden",   "bestellung", "commande",    NULL};

/* A token of >= 5 [A-Za-z0-9-] characters with at least min_digits digits at s. */
static bool policy_id_token(const char *s, int min_digits)
{
    size_t n = 0;
    int digits = 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '-') {
        if (isdigit((unsigned char)s[n]))
            digits++;
        n++;
    }
    return n >= 5 && digits >= min_digits;
}

static bool policy_order_at(const char *text, const char *s)
{
    if (s > text && isalnum((unsigned char)s[-1]))
        return false;
    for (const char *const *w = policy_order_words; *w; w++) {
        size_t wl = strlen(*w);
        if (strncasecmp(s, *w, wl) != 0)
            continue;
        const char *p = s + wl;
        if (*p == 's' || *p == 'S')
            p++;
        if (isalpha((unsigned char)*p))
            continue;
        for (int k = 0; k < 4; k++) { /* " number", " no.", " #", ": " */
            while (*p == ' ' || *p == ':' || *p == '#' || *p == '.')
                p++;
            if (strncasecmp(p, "number", 6) == 0 && !isalpha((unsigned char)p[6]))
                p += 6;
            else if ((strncasecmp(p, "no", 2) == 0 || strncasecmp(p, "nr", 2) == 0) &&
                     !isalpha((unsigned char)p[2]))
                p += 2;
            else if (strncasecmp(p, "is", 2) == 0 && p[2] == ' ')
                p += 2;
        }
        if (policy_id_token(p, 1))
            return true;
    }
    return false;
}

unsigned policy_personal_data(const char *text)
{
    unsigned mask = 0;
    for (const char *s = text; *s; s++) {
        if (*s == '@' && policy_email_at(text, s))
            mask |= POLICY_PII_EMAIL;
        if (isalpha((unsigned char)*s) && policy_order_at(text, s))
            mask |= POLICY_PII_ORDER;
        if (*s == '#' && policy_id_token(s + 1, 5))
            mask |= POLICY_PII_ORDER;
        bool starts = isdigit((unsigned char)*s) || *s == '+' || *s == '(';
        if (!starts || (s > text && (isalnum((unsigned char)s[-1]) || s[-1] == '+' ||
                                     s[-1] == '$' || s[-1] == '.' || s[-1] == ',')))
            continue;
        /* Digits inside an identifier ("c-bluesky:3002493414", a case reference the
         * router wrote; "ref_2024123456") are not a phone number; "tel:" still is. */
        if (s > text + 1 && strchr(":_/-", s[-1]) && isalnum((unsigned char)s[-2]) &&
            !(s >= text + 4 && strncasecmp(s - 4, "tel:", 4) == 0))
            continue;
        /* a run of digits with single separators */
        char digits[32];
        size_t nd = 0;
        const char *p = s;
        if (*p == '+' || *p == '(')
            p++;
        bool bad = false;
        while (*p) {
            if (isdigit((unsigned char)*p)) {
                if (nd < sizeof(digits))
                    digits[nd] = *p;
                nd++;
                p++;
            } else if (*p && strchr(" -.()/", *p) && p[1] &&
                       (isdigit((unsigned char)p[1]) ||
                        (strchr(" -.()/", p[1]) && isdigit((unsigned char)p[2])))) {
                p++;
            } else {
                break;
            }
        }
        if (*p == ',' && isdigit((unsigned char)p[1]))
            bad = true; /* 1,000: an amount */
        if (!bad && nd >= 13 && nd <= 19 && policy_luhn(digits, nd))
            mask |= POLICY_PII_CARD;
        else if (!bad && nd >= 9 && nd <= 15)
            mask |= POLICY_PII_PHONE;
        s = p - 1;
    }
    return mask;
}

const char *policy_pii_name(unsigned mask)
{
    if (mask & POLICY_PII_EMAIL)
        return "email";
    if (mask & POLICY_PII_PHONE)
        return "phone";
    if (mask & POLICY_PII_ORDER)
        return "order";
    if (mask & POLICY_PII_CARD)
        return "card";
    return "";
}

bool policy_has_link(const char *text)
{
    for (const char *s = text; *s; s++) {
        if (s > text && isalnum((unsigned char)s[-1]))
            continue;
        if (strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0 ||
            (strncasecmp(s, "www.", 4) == 0 && isalnum((unsigned char)s[4])))
            return true;
    }
    return false;
}

bool policy_has_money(const char *text)
{
    static const char *const symbols[] = {"$",
                                          "\xe2\x82\xac" /* € */,
                                          "\xc2\xa3" /* £ */,
                                          "\xc2\xa5" /* ¥ */,
                                          "\xe2\x82\xb9" /* ₹ */,
                                          NULL};
    static const char *const words[] = {"usd",    "eur",  "gbp",   "jpy",   "chf",
                                        "dollar", "euro", "pound", "bucks", NULL};
    for (const char *s = text; *s; s++) {
        for (const char *const *sym = symbols; *sym; sym++) {
            size_t l = strlen(*sym);
            if (strncmp(s, *sym, l) == 0) {
                const char *p = s + l;
                if (*p == ' ')
                    p++;
                if (isdigit((unsigned char)*p))
                    return true;
                /* 12€ / 12 € */
                if (s > text &&
                    (isdigit((unsigned char)s[-1]) ||
                     (s[-1] == ' ' && s - 1 > text && isdigit((unsigned char)s[-2]))))
                    return true;
            }
        }
        if (isdigit((unsigned char)*s) && !isdigit((unsigned char)s[1])) {
            const char *p = s + 1;
            if (*p == ' ')
                p++;
            for (const char *const *w = words; *w; w++) {
                size_t l = strlen(*w);
                if (strncasecmp(p, *w, l) == 0 && !isalpha((unsigned char)p[l]) &&
                    p[l] != 's')
                    return true;
                if (strncasecmp(p, *w, l) == 0 && p[l] == 's' &&
                    !isalpha((unsigned char)p[l + 1]))
                    return true;
            }
        }
    }
    return false;
}

bool policy_is_automatic(const char *origin)
{
    return !origin || strncmp(origin, "agent:", 6) != 0;
}

bool policy_quiet(const char *origin, int64_t now_ms, int64_t global_end_ms,
                  int64_t region_end_ms)
{
    if (!policy_is_automatic(origin))
        return false;
    return global_end_ms > now_ms || region_end_ms > now_ms;
}

/* ------------------------------------------------------------------ the plan */

__attribute__((format(printf, 3, 4))) static void
policy_set(struct policy_plan *plan, enum policy_outcome outcome, const char *fmt, ...)
{
    plan->outcome = outcome;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(plan->reason, sizeof(plan->reason), fmt, ap);
    va_end(ap);
}

static void policy_push(struct policy_plan *plan, bool dm, char *text)
{
    plan->msgs[plan->n_msgs].dm = dm;
    plan->msgs[plan->n_msgs].text = text;
    plan->n_msgs++;
}

static const char *const policy_platform_names[] = {"x", "mastodon", "bluesky",
                                                    "generic"};

/* Composes: "@handle " before a public reply that does not mention the customer yet,
 * " <signature>" after a text that does not end with it. */
static char *policy_compose(const struct policy_input *in, const char *text, bool mention)
{
    char mention_buf[160] = "";
    if (mention && in->handle && in->handle[0] && !in->broadcast) {
        char at[150];
        snprintf(at, sizeof(at), "@%s", in->handle);
        if (!strcasestr(text, at))
            snprintf(mention_buf, sizeof(mention_buf), "%s ", at);
    }
    const char *sig = in->signature && in->signature[0] ? in->signature : NULL;
    size_t tl = strlen(text), sl = sig ? strlen(sig) : 0;
    bool has_sig = sig && tl >= sl && strcmp(text + tl - sl, sig) == 0;
    return sc_asprintf("%s%s%s%s", mention_buf, text, sig && !has_sig ? " " : "",
                       sig && !has_sig ? sig : "");
}

/* X (dm_conversations), Mastodon (a direct-visibility status), Bluesky (chat.bsky). */
static bool policy_dm_capable(enum policy_platform p)
{
    return p == POLICY_X || p == POLICY_MASTODON || p == POLICY_BLUESKY;
}

void policy_decide(const struct policy_input *in, const struct policy_limits *limits,
                   struct policy_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    plan->outcome = POLICY_SEND;
    const char *text = in->text ? in->text : "";
    const char *pname = policy_platform_names[in->platform];
    if (!text[0] || strspn(text, " \t\r\n") == strlen(text)) {
        policy_set(plan, POLICY_REJECT, "empty_text");
        return;
    }
    bool automatic = policy_is_automatic(in->origin);
    plan->pii = policy_personal_data(text);

    /* 1. review rules */
    if (!in->approved) {
        const char *why = NULL;
        if (in->requires_review)
            why = "flagged_for_review";
        else if (in->intent && strcmp(in->intent, "crisis") == 0)
            why = "crisis";
        else if (in->influencer && (!in->intent || strcmp(in->intent, "complaint") == 0))
            why = "influencer_complaint";
        else if (automatic && policy_has_link(text))
            why = "link";
        else if (automatic && policy_has_money(text))
            why = "money_amount";
        else if (automatic && in->sensitive && in->first_auto_reply)
            why = "sensitive_first_reply";
        if (why) {
            policy_set(plan, POLICY_HOLD, "%s", why);
            return;
        }
    }

    /* 2. personal data never in public */
    bool dm = in->dm;
    if (!dm && plan->pii) {
        if (in->broadcast || !policy_dm_capable(in->platform)) {
            policy_set(plan, POLICY_HOLD, "personal_data_in_public: %s",
                       policy_pii_name(plan->pii));
            return;
        }
        char *direct = policy_compose(in, text, in->platform == POLICY_MASTODON);
        size_t lim = policy_limit(limits, in->platform, true);
        size_t len = policy_length(in->platform, direct);
        if (lim && len > lim) {
            sc_free(direct);
            policy_set(plan, POLICY_HOLD, "too_long: %s direct message counts %zu of %zu",
                       pname, len, lim);
            return;
        }
        policy_push(plan, true, direct);
        policy_push(plan, false,
                    policy_compose(in,
                                   "We have sent you a direct message with the details. "
                                   "Please check your DMs.",
                                   true));
        return;
    }
    if (dm && !policy_dm_capable(in->platform) && in->platform != POLICY_GENERIC) {
        policy_set(plan, POLICY_HOLD, "no_direct_messages_on_%s", pname);
        return;
    }

    /* 3. length */
    char *composed = policy_compose(in, text, !dm || in->platform == POLICY_MASTODON);
    size_t lim = policy_limit(limits, in->platform, dm);
    size_t len = policy_length(in->platform, composed);
    if (!lim || len <= lim) {
        policy_push(plan, dm, composed);
        return;
    }
    char *parts[POLICY_MAX_MSGS];
    size_t n = 0;
    int max_parts = limits->thread_max_parts > POLICY_MAX_MSGS ? POLICY_MAX_MSGS
                                                               : limits->thread_max_parts;
    if (!dm && !in->broadcast && max_parts > 1)
        n = policy_split(in->platform, composed, lim, max_parts, parts);
    if (n == 0) {
        sc_free(composed);
        policy_set(plan, in->approved ? POLICY_REJECT : POLICY_HOLD,
                   "too_long: %s counts %zu of %zu", pname, len, lim);
        return;
    }
    sc_free(composed);
    for (size_t i = 0; i < n; i++)
        policy_push(plan, false, parts[i]);
}

void policy_plan_free(struct policy_plan *plan)
{
    for (size_t i = 0; i < plan->n_msgs; i++) {
        sc_free(plan->msgs[i].text);
        plan->msgs[i].text = NULL;
    }
    plan->n_msgs = 0;
}

/* Length of the suffix " (i/n)": ASCII, one unit per byte on every platform. */
static size_t policy_suffix_len(size_t i, int n)
{
    char buf[48];
    return (size_t)snprintf(buf, sizeof(buf), " (%zu/%d)", i, n);
}

/* Emits cur + " (i/n)" as part i, checked exactly against the limit. */
static bool policy_emit(enum policy_platform platform, const char *cur, size_t cl,
                        size_t limit, size_t *count, int n, char **parts)
{
    if ((int)*count >= n)
        return false;
    char *part = sc_asprintf("%.*s (%zu/%d)", (int)cl, cur, *count + 1, n);
    if (policy_length(platform, part) > limit) {
        sc_free(part);
        return false;
    }
    parts[(*count)++] = part;
    return true;
}

/* Tries to split into parts with the suffix " (i/n)"; returns the count, or 0 when more
 * than n parts are needed or a part cannot hold even one code point.
 *
 * Linear in the text (a word longer than a part: n log n): each word is measured once on
 * its own, and a part's length is the sum of its words' lengths plus one per space. The
 * platforms' counts are additive across a space except where a code point joins the one
 * before it (a ZWJ, a combining mark after the space), which only makes the real length
 * smaller, so the sum is an upper bound; each part is still measured exactly before it
 * is kept. */
static size_t policy_split_n(enum policy_platform platform, const char *text,
                             size_t limit, int n, char **parts)
{
    size_t count = 0, tl = strlen(text);
    char *cur = sc_malloc(tl + 40);
    char *word = sc_malloc(tl + 40);
    size_t *cps = NULL; /* code point offsets of a word longer than a part */
    size_t cl = 0, cur_len = 0;
    const char *s = text;
    while (*s) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        size_t wl = strcspn(s, " ");
        memcpy(word, s, wl);
        word[wl] = '\0';
        size_t w_len = policy_length(platform, word);
        size_t suffix = policy_suffix_len(count + 1, n);
        size_t with = (cl ? cur_len + 1 : 0) + w_len + suffix;
        if (with <= limit) { /* append the word to the current part */
            if (cl)
                cur[cl++] = ' ';
            memcpy(cur + cl, s, wl);
            cl += wl;
            cur_len = with - suffix;
            s += wl;
            continue;
        }
        if (cl) { /* close the current part; the word starts the next */
            if (!policy_emit(platform, cur, cl, limit, &count, n, parts))
                goto fail;
            cl = cur_len = 0;
            continue;
        }
        /* a word longer than a part: the longest prefix (at a code point boundary) that
         * fits, by bisection over its code points */
        if (!cps)
            cps = sc_malloc((tl + 1) * sizeof(*cps));
        size_t ncp = 0, len;
        for (size_t off = 0; off < wl; off += len) {
            (void)policy_utf8((const unsigned char *)s + off, &len);
            if (off + len > wl)
                break;
            cps[ncp++] = off + len; /* prefix of ncp code points ends here */
        }
        size_t lo = 0, hi = ncp + 1; /* lo fits (0 trivially), hi does not */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            size_t bytes = cps[mid - 1];
            memcpy(word, s, bytes);
            snprintf(word + bytes, 40, " (%zu/%d)", count + 1, n);
            if (policy_length(platform, word) <= limit)
                lo = mid;
            else
                hi = mid;
        }
        if (lo == 0)
            goto fail;
        size_t take = cps[lo - 1];
        if (!policy_emit(platform, s, take, limit, &count, n, parts))
            goto fail;
        s += take;
    }
    if (cl && !policy_emit(platform, cur, cl, limit, &count, n, parts))
        goto fail;
    sc_free(cur);
    sc_free(word);
    sc_free(cps);
    return count;
fail:
    for (size_t i = 0; i < count; i++)
        sc_free(parts[i]);
    sc_free(cur);
    sc_free(word);
    sc_free(cps);
    return 0;
}

size_t policy_split(enum policy_platform platform, const char *text, size_t limit,
                    int max_parts, char **parts)
{
    for (int n = 2; n <= max_parts; n++) {
        size_t got = policy_split_n(platform, text, limit, n, parts);
        if (got == 0)
            continue;
        if ((int)got == n)
            return got;
        /* fewer parts than announced: renumber */
        for (size_t i = 0; i < got; i++)
            sc_free(parts[i]);
        got = policy_split_n(platform, text, limit, (int)got, parts);
        if (got)
            return got;
    }
    return 0;
}
