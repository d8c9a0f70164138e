/* The tree-less post reader (jscan.h): a recursive-descent pass over the raw bytes that
 * mirrors the post rules of shared/event.c (sc_event_parse for SC_EVENT_POST with the
 * default limits) and declines whatever it does not mirror exactly, so the full parser
 * stays the one judge of bad input. Strings are copied (NUL-terminated) into the caller's
 * buffer; nothing is allocated. */
#include "jscan.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

/* The default limits of shared/event.h. */
#define SCAN_MAX_BYTES  SC_JSCAN_MAX_BYTES
#define SCAN_MAX_DEPTH  8
#define SCAN_MAX_TEXT   8192
#define SCAN_MAX_STRING 1024
#define SCAN_MAX_KEYS   64 /* members per object the duplicate check tracks */

enum vtype { V_STR, V_INT, V_REAL, V_TRUE, V_FALSE, V_NULL, V_OBJ, V_ARR };

/* Where an object sits, to know what its members mean. */
enum ctx { C_TOP, C_AUTHOR, C_ENGAGEMENT, C_SOURCE, C_CLASS, C_SENTIMENT, C_OTHER };

struct val {
    enum vtype t;
    const char *s; /* V_STR: the raw bytes (no escapes), n long */
    size_t n;
    long long i; /* V_INT */
    double d;    /* V_INT, V_REAL */
};

struct scan {
    const char *p, *end;
    int depth;
    char *strbuf; /* where kept strings go */
    size_t used;
    struct sc_jscan_post *out;
    /* what the schema needs seen */
    bool has_author, has_author_id, has_created_at, has_text;
    const char *author_region; /* author.region: the region when the post has none */
};

static void ws(struct scan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

/* A string without escapes or control characters, at most cap bytes. */
static bool scan_str(struct scan *s, const char **str, size_t *n, size_t cap)
{
    if (s->p >= s->end || *s->p != '"')
        return false;
    const char *start = ++s->p;
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            *str = start;
            *n = (size_t)(s->p - start);
            s->p++;
            return *n <= cap;
        }
        if (c == '\\' || c < 0x20)
            return false;
        s->p++;
    }
    return false;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A JSON number without exponent; integers up to 18 digits. */
static bool scan_num(struct scan *s, struct val *v)
{
    const char *start = s->p;
    if (s->p < s->end && *s->p == '-')
        s->p++;
    const char *digits = s->p;
    if (s->p >= s->end || !is_digit(*s->p))
        return false;
    if (*s->p == '0') {
        s->p++;
        if (s->p < s->end && is_digit(*s->p))
            return false;
    } else {
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    }
    size_t int_digits = (size_t)(s->p - digits);
    bool real = false;
    if (s->p < s->end && *s->p == '.') {
        real = true;
        s->p++;
        if (s->p >= s->end || !is_digit(*s->p))
            return false;
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E'))
        return false;
    if (!real) {
        if (int_digits > 18)
            return false;
        long long x = 0;
        for (const char *q = digits; q < s->p; q++)
            x = x * 10 + (*q - '0');
        v->t = V_INT;
        v->i = *start == '-' ? -x : x;
        v->d = (double)v->i;
        return true;
    }
    char tmp[64];
    size_t len = (size_t)(s->p - start);
    if (len >= sizeof(tmp))
        return false;
    memcpy(tmp, start, len);
    tmp[len] = '\0';
    v->t = V_REAL;
    v->d = strtod(tmp, NULL);
    return true;
}

static bool scan_lit(struct scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return false;
    s->p += n;
    return true;
}

static bool scan_value(struct scan *s, enum ctx ctx, size_t cap, struct val *v);

static bool key_is(const char *k, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(k, name, n) == 0;
}

/* Copies a string into the string buffer (NUL-terminated). */
static const char *keep(struct scan *s, const struct val *v)
{
    char *dst = s->strbuf + s->used;
    memcpy(dst, v->s, v->n);
    dst[v->n] = '\0';
    s->used += v->n + 1;
    return dst;
}

/* Applies one member of an object in context ctx. @returns false to decline. */
static bool member(struct scan *s, enum ctx ctx, const char *k, size_t kn,
                   const struct val *v)
{
    struct sc_jscan_post *o = s->out;
    bool str = v->t == V_STR;
    switch (ctx) {
        case C_TOP:
            if (key_is(k, kn, "v")) {
                o->has_v = true;
                return v->t == V_INT && v->i == 1;
            }
            if (key_is(k, kn, "id")) {
                o->id = str ? keep(s, v) : NULL;
                return str;
            }
            if (key_is(k, kn, "platform")) {
                if (!str || !sc_event_platform_ok(v->s, v->n))
                    return false;
                o->platform = keep(s, v);
                return true;
            }
            if (key_is(k, kn, "kind")) {
                if (!str || !sc_event_post_kind_ok(v->s, v->n))
                    return false;
                o->kind = keep(s, v);
                return true;
            }
            if (key_is(k, kn, "created_at")) {
                if (!str)
                    return false;
                o->created_at = keep(s, v);
                s->has_created_at = true;
                return sc_event_timestamp_ok(v->s, v->n);
            }
            if (key_is(k, kn, "received_at")) {
                o->has_received_at = true;
                if (!str)
                    return false;
                return sc_event_timestamp_ok(v->s, v->n);
            }
            if (key_is(k, kn, "text")) {
                if (!str)
                    return false;
                o->text = keep(s, v);
                s->has_text = true;
                return true;
            }
            if (key_is(k, kn, "lang")) {
                o->lang = str ? keep(s, v) : NULL;
                return str;
            }
            if (key_is(k, kn, "url") || key_is(k, kn, "in_reply_to") ||
                key_is(k, kn, "thread_id"))
                return str;
            if (key_is(k, kn, "region")) {
                if (str)
                    o->region = keep(s, v); /* wins over author.region */
                return true;
            }
            if (key_is(k, kn, "author")) {
                s->has_author = true;
                return v->t == V_OBJ;
            }
            if (key_is(k, kn, "engagement") || key_is(k, kn, "source") ||
                key_is(k, kn, "classification") || key_is(k, kn, "routing"))
                return v->t == V_OBJ;
            return true;
        case C_AUTHOR:
            if (key_is(k, kn, "id")) {
                if (!str)
                    return false;
                o->author_id = keep(s, v);
                s->has_author_id = true;
                return true;
            }
            if (key_is(k, kn, "handle")) {
                o->handle = str ? keep(s, v) : NULL;
                return str;
            }
            if (key_is(k, kn, "name") || key_is(k, kn, "location"))
                return str;
            if (key_is(k, kn, "region")) {
                if (str)
                    s->author_region = keep(s, v);
                return true;
            }
            if (key_is(k, kn, "followers")) {
                o->followers = v->t == V_INT ? v->i : 0;
                return v->t == V_INT && v->i >= 0;
            }
            if (key_is(k, kn, "verified")) {
                o->verified = v->t == V_TRUE;
                return v->t == V_TRUE || v->t == V_FALSE;
            }
            return true;
        case C_ENGAGEMENT:
            if (v->t != V_INT || v->i < 0)
                return false;
            if (key_is(k, kn, "likes") || key_is(k, kn, "reposts") ||
                key_is(k, kn, "replies"))
                o->interactions = v->i > LLONG_MAX - o->interactions
                                      ? LLONG_MAX
                                      : o->interactions + v->i;
            return true;
        case C_SOURCE:
            if (key_is(k, kn, "type") && str)
                o->source_type = keep(s, v);
            return true;
        case C_CLASS:
            if (key_is(k, kn, "intent") && str)
                o->intent = keep(s, v);
            else if (key_is(k, kn, "topic") && str)
                o->topic = keep(s, v);
            else if (key_is(k, kn, "influence") && (v->t == V_INT || v->t == V_REAL))
                o->influence = v->d;
            return true;
        case C_SENTIMENT:
            if (key_is(k, kn, "label") && str)
                o->label = keep(s, v);
            else if (key_is(k, kn, "score") && (v->t == V_INT || v->t == V_REAL))
                o->score = v->d;
            return true;
        case C_OTHER:
            return true;
    }
    return true;
}

/* The context of a member object. */
static enum ctx child_ctx(enum ctx ctx, const char *k, size_t kn)
{
    if (ctx == C_TOP) {
        if (key_is(k, kn, "author"))
            return C_AUTHOR;
        if (key_is(k, kn, "engagement"))
            return C_ENGAGEMENT;
        if (key_is(k, kn, "source"))
            return C_SOURCE;
        if (key_is(k, kn, "classification"))
            return C_CLASS;
    } else if (ctx == C_CLASS && key_is(k, kn, "sentiment")) {
        return C_SENTIMENT;
    }
    return C_OTHER;
}

/* After a member or an element: consumes the ',' (@returns 1, another follows) or the
 * closing bracket (@returns 0, done); @returns -1 on anything else. */
static int scan_next(struct scan *s, char close)
{
    ws(s);
    if (s->p >= s->end)
        return -1;
    if (*s->p == ',' || *s->p == close) {
        return *s->p++ == ',' ? 1 : 0;
    }
    return -1;
}

static bool scan_object(struct scan *s, enum ctx ctx)
{
    const char *keys[SCAN_MAX_KEYS];
    size_t lens[SCAN_MAX_KEYS], nk = 0;
    s->p++; /* '{' */
    ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return true;
    }
    for (;;) {
        const char *k;
        size_t kn;
        ws(s);
        if (!scan_str(s, &k, &kn, SCAN_MAX_STRING) || nk == SCAN_MAX_KEYS)
            return false;
        for (size_t i = 0; i < nk; i++)
            if (lens[i] == kn && memcmp(keys[i], k, kn) == 0)
                return false; /* duplicate */
        keys[nk] = k;
        lens[nk++] = kn;
        ws(s);
        if (s->p >= s->end || *s->p != ':')
            return false;
        s->p++;
        ws(s);
        struct val v;
        size_t cap =
            ctx == C_TOP && key_is(k, kn, "text") ? SCAN_MAX_TEXT : SCAN_MAX_STRING;
        if (!scan_value(s, child_ctx(ctx, k, kn), cap, &v) || !member(s, ctx, k, kn, &v))
            return false;
        int next = scan_next(s, '}');
        if (next <= 0)
            return next == 0;
    }
}

static bool scan_array(struct scan *s)
{
    s->p++; /* '[' */
    ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return true;
    }
    for (;;) {
        ws(s);
        struct val v;
        if (!scan_value(s, C_OTHER, SCAN_MAX_STRING, &v))
            return false;
        int next = scan_next(s, ']');
        if (next <= 0)
            return next == 0;
    }
}

static bool scan_value(struct scan *s, enum ctx ctx, size_t cap, struct val *v)
{
    if (s->p >= s->end)
        return false;
    memset(v, 0, sizeof(*v));
    switch (*s->p) {
        case '"':
            v->t = V_STR;
            return scan_str(s, &v->s, &v->n, cap);
        case '{':
        case '[': {
            if (++s->depth > SCAN_MAX_DEPTH)
                return false;
            bool ok;
            if (*s->p == '{') {
                v->t = V_OBJ;
                ok = scan_object(s, ctx);
            } else {
                v->t = V_ARR;
                ok = scan_array(s);
            }
            s->depth--;
            return ok;
        }
        case 't':
            v->t = V_TRUE;
            return scan_lit(s, "true", 4);
        case 'f':
            v->t = V_FALSE;
            return scan_lit(s, "false", 5);
        case 'n':
            v->t = V_NULL;
            return scan_lit(s, "null", 4);
        default:
            return scan_num(s, v);
    }
}

bool sc_jscan_post(const char *buf, size_t len, char *strbuf, size_t *strbuf_used,
                   struct sc_jscan_post *out)
{
    *strbuf_used = 0;
    if (len > SCAN_MAX_BYTES || !sc_utf8_valid(buf, len))
        return false;
    memset(out, 0, sizeof(*out));
    struct scan s = {.p = buf, .end = buf + len, .strbuf = strbuf, .out = out};
    ws(&s);
    struct val v;
    bool ok = s.p < s.end && *s.p == '{' && scan_value(&s, C_TOP, SCAN_MAX_STRING, &v);
    if (ok) {
        ws(&s);
        ok = s.p == s.end;
    }
    /* required members and the id's platform prefix */
    if (ok)
        ok = out->id && out->platform && out->kind && s.has_created_at && s.has_text &&
             s.has_author && s.has_author_id;
    if (ok) {
        size_t plen = strlen(out->platform);
        ok = strncmp(out->id, out->platform, plen) == 0 && out->id[plen] == ':' &&
             out->id[plen + 1] != '\0';
    }
    if (!ok)
        return false;
    if (!out->region)
        out->region = s.author_region;
    *strbuf_used = s.used;
    return true;
}
