/* The router's JSON writer (see jsonw.h). */
#include "jsonw.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"

static void reserve(struct jsonw *w, size_t more)
{
    if (w->len + more + 1 <= w->cap)
        return;
    size_t cap = w->cap ? w->cap : 1024;
    while (cap < w->len + more + 1)
        cap *= 2;
    char *nb = sc_malloc(cap);
    if (w->len)
        memcpy(nb, w->buf, w->len);
    sc_free(w->buf);
    w->buf = nb;
    w->cap = cap;
}

static void raw(struct jsonw *w, const char *s, size_t n)
{
    reserve(w, n);
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

void jsonw_quoted(struct jsonw *w, const char *s)
{
    if (!s) {
        raw(w, "null", 4);
        return;
    }
    size_t n = strlen(s);
    reserve(w, n * 6 + 2);
    char *o = w->buf + w->len;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20) {
            static const char hex[] = "0123456789abcdef";
            memcpy(o, "\\u00", 4);
            o[4] = hex[*p >> 4];
            o[5] = hex[*p & 15];
            o += 6;
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    w->len = (size_t)(o - w->buf);
    w->buf[w->len] = '\0';
}

static void key(struct jsonw *w, const char *k)
{
    if (!w->first)
        raw(w, ",", 1);
    w->first = false;
    jsonw_quoted(w, k);
    raw(w, ":", 1);
}

void jsonw_begin(struct jsonw *w)
{
    w->len = 0;
    raw(w, "{", 1);
    w->first = true;
}

void jsonw_end(struct jsonw *w)
{
    raw(w, "}", 1);
}

void jsonw_free(struct jsonw *w)
{
    sc_free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

void jsonw_str(struct jsonw *w, const char *k, const char *value)
{
    key(w, k);
    jsonw_quoted(w, value);
}

void jsonw_int(struct jsonw *w, const char *k, long long value)
{
    char num[32];
    int n = snprintf(num, sizeof(num), "%lld", value);
    key(w, k);
    raw(w, num, (size_t)n);
}

void jsonw_bool(struct jsonw *w, const char *k, bool value)
{
    key(w, k);
    raw(w, value ? "true" : "false", value ? 4 : 5);
}

void jsonw_strs(struct jsonw *w, const char *k, const char *const *values, size_t n)
{
    key(w, k);
    raw(w, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            raw(w, ",", 1);
        jsonw_quoted(w, values[i]);
    }
    raw(w, "]", 1);
}
