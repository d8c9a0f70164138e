/* A small JSON writer for the router's hot path: case events and acknowledgements are
 * written straight into one reused buffer (strings escaped), instead of building a
 * jansson tree per message and serialising it. */
#ifndef ROUTER_JSONW_H
#define ROUTER_JSONW_H

#include <stdbool.h>
#include <stddef.h>

struct jsonw {
    char *buf;
    size_t len, cap;
    bool first; /* no member written yet in the current object/array */
};

/* @brief Empties w (keeps its buffer) and opens an object. */
void jsonw_begin(struct jsonw *w);
/* @brief Closes the object; w->buf then holds the text (NUL-terminated), w->len its
 * length. */
void jsonw_end(struct jsonw *w);
void jsonw_free(struct jsonw *w);

/* Members of the current object. A NULL string writes null. */
void jsonw_str(struct jsonw *w, const char *key, const char *value);
void jsonw_int(struct jsonw *w, const char *key, long long value);
void jsonw_bool(struct jsonw *w, const char *key, bool value);
/* An array member of strings. */
void jsonw_strs(struct jsonw *w, const char *key, const char *const *values, size_t n);

/* @brief Appends s as a JSON string literal (quoted, escaped). */
void jsonw_quoted(struct jsonw *w, const char *s);

#endif
