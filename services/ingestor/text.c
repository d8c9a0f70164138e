/* HTML to plain text, entity decoding and NFC normalisation of post texts. */
#include "text.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#include "alloc.h"

/* A growing output buffer. */
struct ingest_buf {
    char *s;
    size_t len, cap;
};

static void ingest_buf_put(struct ingest_buf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *s = sc_malloc(cap);
        if (b->len)
            memcpy(s, b->s, b->len);
        sc_free(b->s);
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void ingest_buf_codepoint(struct ingest_buf *b, long cp)
{
    if (cp <= 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    unsigned char out[4];
    utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)cp, out);
    ingest_buf_put(b, (const char *)out, (size_t)n);
}

static const struct {
    const char *name;
    long cp;
} ingest_entities[] = {
    {"amp", '&'},      {"lt", '<'},       {"gt", '>'},        {"quot", '"'},
    {"apos", '\''},    {"nbsp", 0xA0},    {"hellip", 0x2026}, {"mdash", 0x2014},
    {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019},  {"ldquo", 0x201C},
    {"rdquo", 0x201D}, {"euro", 0x20AC},  {"pound", 0xA3},    {"copy", 0xA9},
    {"reg", 0xAE},     {"trade", 0x2122}, {"eacute", 0xE9},   {"egrave", 0xE8},
    {"agrave", 0xE0},  {"ccedil", 0xE7},  {"uuml", 0xFC},     {"ouml", 0xF6},
    {"auml", 0xE4},    {"szlig", 0xDF},   {"bull", 0x2022},   {"middot", 0xB7},
};

/* Decodes the entity at p ('&'); returns the bytes consumed (0 when not an entity). */
static size_t ingest_entity(const char *p, const char *end, struct ingest_buf *b)
{
    const char *q = p + 1;
    const char *semi = q;
    while (semi < end && semi - q < 12 && *semi != ';')
        semi++;
    if (semi >= end || *semi != ';' || semi == q)
        return 0;
    if (*q == '#') {
        char tmp[16];
        size_t n = (size_t)(semi - q - 1);
        if (n == 0 || n >= sizeof(tmp))
            return 0;
        memcpy(tmp, q + 1, n);
        tmp[n] = '\0';
        char *e;
        long cp = (tmp[0] == 'x' || tmp[0] == 'X') ? strtol(tmp + 1, &e, 16)
                                                   : strtol(tmp, &e, 10);
        if (*e || e == tmp || (e == tmp + 1 && (tmp[0] == 'x' || tmp[0] == 'X')))
            return 0;
        ingest_buf_codepoint(b, cp);
        return (size_t)(semi - p + 1);
    }
    for (size_t i = 0; i < sizeof(ingest_entities) / sizeof(ingest_entities[0]); i++) {
        size_t n = strlen(ingest_entities[i].name);
        if ((size_t)(semi - q) == n && memcmp(q, ingest_entities[i].name, n) == 0) {
            ingest_buf_codepoint(b, ingest_entities[i].cp);
            return (size_t)(semi - p + 1);
        }
    }
    return 0;
}

/* Tag name (lower case) of the tag starting at p ('<'), into name. */
static void ingest_tag_name(const char *p, const char *end, char *name, size_t size,
                            bool *closing)
{
    const char *q = p + 1;
    *closing = q < end && *q == '/';
    if (*closing)
        q++;
    size_t n = 0;
    while (q < end && n + 1 < size && isalnum((unsigned char)*q))
        name[n++] = (char)tolower((unsigned char)*q++);
    name[n] = '\0';
}

/* Collapses blanks and trims; keeps up to two newlines in a row. */
static char *ingest_tidy(struct ingest_buf *in)
{
    struct ingest_buf out = {0};
    ingest_buf_put(&out, "", 0);
    int newlines = 0;
    bool space = false;
    for (size_t i = 0; i < in->len; i++) {
        char c = in->s[i];
        if (c == '\n') {
            newlines++;
            space = false;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r') {
            space = true;
            continue;
        }
        if (out.len > 0) {
            if (newlines)
                ingest_buf_put(&out, "\n\n", newlines > 1 ? 2 : 1);
            else if (space)
                ingest_buf_put(&out, " ", 1);
        }
        newlines = 0;
        space = false;
        ingest_buf_put(&out, &c, 1);
    }
    sc_free(in->s);
    char *nfc = ingest_nfc(out.s);
    sc_free(out.s);
    return nfc;
}

static char *ingest_decode(const char *text, size_t len, bool html)
{
    struct ingest_buf b = {0};
    ingest_buf_put(&b, "", 0);
    const char *p = text, *end = text + len;
    while (p < end) {
        if (*p == '&') {
            size_t n = ingest_entity(p, end, &b);
            if (n) {
                p += n;
                continue;
            }
        } else if (html && *p == '<') {
            const char *close = memchr(p, '>', (size_t)(end - p));
            if (close) {
                char name[16];
                bool closing;
                ingest_tag_name(p, end, name, sizeof(name), &closing);
                if (strcmp(name, "br") == 0)
                    ingest_buf_put(&b, "\n", 1);
                else if (closing && strcmp(name, "p") == 0)
                    ingest_buf_put(&b, "\n\n", 2);
                p = close + 1;
                continue;
            }
        }
        ingest_buf_put(&b, p, 1);
        p++;
    }
    if (html)
        return ingest_tidy(&b);
    char *nfc = ingest_nfc(b.s);
    sc_free(b.s);
    return nfc;
}

char *ingest_html_to_text(const char *html, size_t len)
{
    return ingest_decode(html, len, true);
}

char *ingest_plain_text(const char *text, size_t len)
{
    return ingest_decode(text, len, false);
}

char *ingest_nfc(const char *text)
{
    utf8proc_uint8_t *out = utf8proc_NFC((const utf8proc_uint8_t *)text);
    if (!out)
        return sc_strdup(text);
    char *copy = sc_strdup((const char *)out);
    free(out);
    return copy;
}
