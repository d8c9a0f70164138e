/* Fast post scan (postscan.h): a recursive-descent JSON reader over the raw bytes that
 * mirrors, conservatively, what sc_event_parse checks for SC_EVENT_POST with the default
 * limits: the grammar (strict RFC 8259 numbers, literals and escapes), nesting depth,
 * duplicate keys in every object, string caps (decoded bytes: "text" 8192, any other
 * string or key 1024), and the post schema ("v" 1, id "platform:...", platform and kind
 * from their sets, RFC 3339 created_at/received_at, required text and author.id, typed
 * optional members, non-negative engagement counts, object-typed source/routing). */
#include "postscan.h"

#include <stdint.h>
#include <string.h>

#include "event.h"

#define MAX_KEYS 64 /* members per object; more makes the scan decline */

struct scan {
    const unsigned char *p, *end, *base;
    char *sb; /* decoded strings */
    size_t sb_used;
    int depth;
};

/* A JSON string token: raw bytes between the quotes, and whether it has escapes. */
struct str {
    const unsigned char *raw;
    size_t len;
    bool escaped;
};

static void ws(struct scan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\n' || *s->p == '\t' || *s->p == '\r'))
        s->p++;
}

static bool lit(struct scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return false;
    s->p += n;
    return true;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads a string token at s->p (which is at '"'): no control characters, escapes well
 * formed (decoded later). */
static bool string_tok(struct scan *s, struct str *out)
{
    if (s->p >= s->end || *s->p != '"')
        return false;
    const unsigned char *q = ++s->p;
    out->escaped = false;
    while (q < s->end && *q != '"') {
        if (*q < 0x20)
            return false;
        if (*q == '\\') {
            out->escaped = true;
            q++;
            if (q >= s->end)
                return false;
            if (*q == 'u') {
                if (s->end - q < 5)
                    return false;
                for (int i = 1; i <= 4; i++)
                    if (hexval(q[i]) < 0)
                        return false;
                q += 4;
            } else if (!strchr("\"\\/bfnrt", *q) || *q == '\0') {
                return false;
            }
        }
        q++;
    }
    if (q >= s->end)
        return false;
    out->raw = s->p;
    out->len = (size_t)(q - s->p);
    s->p = q + 1;
    return true;
}

static unsigned hex4(const unsigned char *q)
{
    return (unsigned)(hexval(q[0]) << 12 | hexval(q[1]) << 8 | hexval(q[2]) << 4 |
                      hexval(q[3]));
}

/* Decodes a string token into the string buffer. Declines NUL (\u0000) and unpaired
 * surrogates, as jansson rejects them. */
static bool decode(struct scan *s, const struct str *t, const char **out, size_t *out_len)
{
    char *o = s->sb + s->sb_used, *start = o;
    if (!t->escaped) {
        memcpy(o, t->raw, t->len);
        o += t->len;
    } else {
        for (const unsigned char *q = t->raw, *e = t->raw + t->len; q < e; q++) {
            if (*q != '\\') {
                *o++ = (char)*q;
                continue;
            }
            q++;
            switch (*q) {
                case 'b':
                    *o++ = '\b';
                    break;
                case 'f':
                    *o++ = '\f';
                    break;
                case 'n':
                    *o++ = '\n';
                    break;
                case 'r':
                    *o++ = '\r';
                    break;
                case 't':
                    *o++ = '\t';
                    break;
                case 'u': {
                    unsigned cp = hex4(q + 1);
                    q += 4;
                    if (cp == 0 || (cp >= 0xdc00 && cp <= 0xdfff))
                        return false;
                    if (cp >= 0xd800 && cp <= 0xdbff) {
                        if (e - q < 7 || q[1] != '\\' || q[2] != 'u')
                            return false;
                        unsigned lo = hex4(q + 3);
                        if (lo < 0xdc00 || lo > 0xdfff)
                            return false;
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        q += 6;
                    }
                    /* UTF-8: never longer than the 6 or 12 escape bytes it replaces */
                    if (cp < 0x80) {
                        *o++ = (char)cp;
                    } else if (cp < 0x800) {
                        *o++ = (char)(0xc0 | cp >> 6);
                        *o++ = (char)(0x80 | (cp & 0x3f));
                    } else if (cp < 0x10000) {
                        *o++ = (char)(0xe0 | cp >> 12);
                        *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
                        *o++ = (char)(0x80 | (cp & 0x3f));
                    } else {
                        *o++ = (char)(0xf0 | cp >> 18);
                        *o++ = (char)(0x80 | (cp >> 12 & 0x3f));
                        *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
                        *o++ = (char)(0x80 | (cp & 0x3f));
                    }
                    break;
                }
                default:
                    *o++ = (char)*q;
                    break; /* " \ / */
            }
        }
    }
    *out = start;
    *out_len = (size_t)(o - start);
    s->sb_used += *out_len;
    return true;
}

/* Decoded length of a string token within cap (the decoded bytes are dropped). */
static bool string_fits(struct scan *s, const struct str *t, size_t cap)
{
    if (!t->escaped)
        return t->len <= cap;
    size_t keep = s->sb_used, n;
    const char *d;
    bool ok = decode(s, t, &d, &n) && n <= cap;
    s->sb_used = keep;
    return ok;
}

/* A number; *is_count when it is a non-negative integer that fits (then *value). */
static bool number(struct scan *s, bool *is_count, long long *value)
{
    const unsigned char *q = s->p;
    bool neg = q < s->end && *q == '-';
    if (neg)
        q++;
    const unsigned char *digits = q;
    if (q < s->end && *q == '0') {
        q++;
    } else {
        while (q < s->end && *q >= '0' && *q <= '9')
            q++;
    }
    size_t nd = (size_t)(q - digits);
    if (nd == 0 || nd > 18)
        return false; /* none, or possibly out of range: the full parser decides */
    bool frac = q < s->end && *q == '.';
    if (frac) {
        const unsigned char *f = ++q;
        while (q < s->end && *q >= '0' && *q <= '9')
            q++;
        if (q == f || q - f > 18)
            return false;
    }
    if (q < s->end && (*q == 'e' || *q == 'E'))
        return false;
    long long v = 0;
    for (const unsigned char *d = digits; d < digits + nd; d++)
        v = v * 10 + (*d - '0');
    *is_count = !frac && (!neg || v == 0);
    *value = v;
    s->p = q;
    return true;
}

static bool value(struct scan *s);

/* Remembers key k of the current object; false on a duplicate or too many keys. */
static bool new_key(struct str *keys, size_t *n, const struct str *k)
{
    for (size_t i = 0; i < *n; i++)
        if (keys[i].len == k->len && !memcmp(keys[i].raw, k->raw, k->len))
            return false;
    if (*n >= MAX_KEYS)
        return false;
    keys[(*n)++] = *k;
    return true;
}

/* Reads "key": at s->p (after '{' or ','): the key must be unescaped and new. */
static bool member_key(struct scan *s, struct str *keys, size_t *n, struct str *k)
{
    ws(s);
    if (!string_tok(s, k) || k->escaped || k->len > 1024 || !new_key(keys, n, k))
        return false;
    ws(s);
    if (s->p >= s->end || *s->p != ':')
        return false;
    s->p++;
    ws(s);
    return true;
}

/* After a member: ',' (returns 1), '}' (returns 0, consumed) or an error (-1). */
static int member_end(struct scan *s)
{
    ws(s);
    if (s->p < s->end && *s->p == ',') {
        s->p++;
        return 1;
    }
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    return -1;
}

static bool enter(struct scan *s)
{
    return ++s->depth <= 8; /* sc_event_default_limits.max_depth */
}

/* Any object at s->p ('{'), checked generically. */
static bool object(struct scan *s)
{
    if (!enter(s))
        return false;
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        s->depth--;
        return true;
    }
    struct str keys[MAX_KEYS], k;
    size_t n = 0;
    for (;;) {
        if (!member_key(s, keys, &n, &k) || !value(s))
            return false;
        int e = member_end(s);
        if (e < 0)
            return false;
        if (e == 0)
            break;
    }
    s->depth--;
    return true;
}

static bool array(struct scan *s)
{
    if (!enter(s))
        return false;
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        s->depth--;
        return true;
    }
    for (;;) {
        ws(s);
        if (!value(s))
            return false;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            break;
        }
        return false;
    }
    s->depth--;
    return true;
}

/* Any value, checked generically (strings against the 1024-byte cap). */
static bool value(struct scan *s)
{
    if (s->p >= s->end)
        return false;
    switch (*s->p) {
        case '{':
            return object(s);
        case '[':
            return array(s);
        case '"': {
            struct str t;
            return string_tok(s, &t) && string_fits(s, &t, 1024);
        }
        case 't':
            return lit(s, "true");
        case 'f':
            return lit(s, "false");
        case 'n':
            return lit(s, "null");
        default: {
            bool is_count;
            long long v;
            return number(s, &is_count, &v);
        }
    }
}

/* A string member value, decoded, within cap. */
static bool str_value(struct scan *s, size_t cap, const char **out, size_t *out_len)
{
    struct str t;
    return string_tok(s, &t) && decode(s, &t, out, out_len) && *out_len <= cap;
}

/* A non-negative integer member value. */
static bool count_value(struct scan *s, long long *out)
{
    bool is_count;
    return s->p < s->end && (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) &&
           number(s, &is_count, out) && is_count;
}

static bool key_is(const struct str *k, const char *name)
{
    return k->len == strlen(name) && !memcmp(k->raw, name, k->len);
}

static bool author(struct scan *s, struct cls_post *out)
{
    if (s->p >= s->end || *s->p != '{' || !enter(s))
        return false;
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == '}')
        return false; /* no id */
    struct str keys[MAX_KEYS], k;
    size_t n = 0;
    const char *d;
    size_t dl;
    for (;;) {
        if (!member_key(s, keys, &n, &k))
            return false;
        bool ok;
        if (key_is(&k, "id"))
            ok = str_value(s, 1024, &out->author_id, &out->author_id_len);
        else if (key_is(&k, "handle") || key_is(&k, "name") || key_is(&k, "location"))
            ok = str_value(s, 1024, &d, &dl);
        else if (key_is(&k, "followers"))
            ok = count_value(s, &out->followers);
        else if (key_is(&k, "verified"))
            ok = (out->verified = lit(s, "true")) || lit(s, "false");
        else
            ok = value(s);
        if (!ok)
            return false;
        int e = member_end(s);
        if (e < 0)
            return false;
        if (e == 0)
            break;
    }
    s->depth--;
    return out->author_id != NULL;
}

static bool engagement(struct scan *s, struct cls_post *out)
{
    if (s->p >= s->end || *s->p != '{' || !enter(s))
        return false;
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        s->depth--;
        return true;
    }
    struct str keys[MAX_KEYS], k;
    size_t n = 0;
    for (;;) {
        long long v;
        if (!member_key(s, keys, &n, &k) || !count_value(s, &v))
            return false;
        if (key_is(&k, "likes"))
            out->likes = v;
        else if (key_is(&k, "reposts"))
            out->reposts = v;
        else if (key_is(&k, "replies"))
            out->replies = v;
        int e = member_end(s);
        if (e < 0)
            return false;
        if (e == 0)
            break;
    }
    s->depth--;
    return true;
}

bool cls_post_scan(const char *buf, size_t len, char *strbuf, struct cls_post *out)
{
    memset(out, 0, sizeof(*out));
    struct scan s = {.p = (const unsigned char *)buf,
                     .end = (const unsigned char *)buf + len,
                     .base = (const unsigned char *)buf,
                     .sb = strbuf};
    ws(&s);
    if (s.p >= s.end || *s.p != '{' || !enter(&s))
        return false;
    s.p++;
    struct str keys[MAX_KEYS], k;
    size_t n = 0;
    const char *id = NULL, *kind = NULL, *created = NULL, *received = NULL, *d;
    size_t id_len = 0, kind_len = 0, created_len = 0, received_len = 0, dl;
    bool have_v = false, have_author = false;
    for (;;) {
        if (!member_key(&s, keys, &n, &k))
            return false;
        bool ok = true;
        if (key_is(&k, "v")) {
            ok = have_v = lit(&s, "1") && (s.p >= s.end || *s.p < '0' || *s.p > '9') &&
                          (s.p >= s.end || (*s.p != '.' && *s.p != 'e' && *s.p != 'E'));
        } else if (key_is(&k, "id")) {
            ok = str_value(&s, 1024, &id, &id_len);
        } else if (key_is(&k, "platform")) {
            ok = str_value(&s, 1024, &out->platform, &out->platform_len);
        } else if (key_is(&k, "kind")) {
            ok = str_value(&s, 1024, &kind, &kind_len);
        } else if (key_is(&k, "created_at")) {
            ok = str_value(&s, 1024, &created, &created_len);
        } else if (key_is(&k, "received_at")) {
            ok = str_value(&s, 1024, &received, &received_len);
        } else if (key_is(&k, "text")) {
            ok = str_value(&s, 8192, &out->text, &out->text_len);
        } else if (key_is(&k, "lang")) {
            ok = str_value(&s, 1024, &out->lang, &out->lang_len);
        } else if (key_is(&k, "url") || key_is(&k, "in_reply_to") ||
                   key_is(&k, "thread_id")) {
            ok = str_value(&s, 1024, &d, &dl);
        } else if (key_is(&k, "author")) {
            ok = have_author = author(&s, out);
        } else if (key_is(&k, "engagement")) {
            ok = engagement(&s, out);
        } else if (key_is(&k, "source") || key_is(&k, "routing")) {
            ok = s.p < s.end && *s.p == '{' && object(&s);
        } else if (key_is(&k, "classification")) {
            ok = false; /* replaced by the full path, never duplicated */
        } else {
            ok = value(&s);
        }
        if (!ok)
            return false;
        ws(&s);
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            continue;
        }
        if (s.p < s.end && *s.p == '}')
            break;
        return false;
    }
    out->close = (size_t)(s.p - s.base);
    s.p++;
    ws(&s);
    if (s.p != s.end)
        return false; /* trailing bytes */
    /* the schema */
    if (!have_v || !have_author || !id || !out->platform || !kind || !created ||
        !out->text)
        return false;
    if (!sc_event_platform_ok(out->platform, out->platform_len) ||
        !sc_event_post_kind_ok(kind, kind_len) ||
        !sc_event_timestamp_ok(created, created_len) ||
        (received && !sc_event_timestamp_ok(received, received_len)))
        return false;
    if (id_len < out->platform_len + 2 ||
        memcmp(id, out->platform, out->platform_len) != 0 || id[out->platform_len] != ':')
        return false;
    return true;
}

size_t cls_post_splice(const char *buf, const struct cls_post *p, const char *cls,
                       size_t cls_len, char *out, size_t cap)
{
    static const char member[] = ",\"classification\":";
    size_t m = sizeof(member) - 1, len = p->close + m + cls_len + 1;
    if (len > cap || len < p->close)
        return 0;
    memcpy(out, buf, p->close);
    memcpy(out + p->close, member, m);
    memmove(out + p->close + m, cls, cls_len);
    out[len - 1] = '}';
    return len;
}
