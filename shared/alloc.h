/* Allocation wrappers: every allocation in socialcare goes through these. On
 * out-of-memory they log and abort, so callers never check for NULL. All free functions
 * accept NULL. */
#ifndef SC_ALLOC_H
#define SC_ALLOC_H

#include <stddef.h>

/* @brief malloc/calloc/realloc that abort on failure. @returns new memory (never NULL).
 */
void *sc_malloc(size_t size);
void *sc_calloc(size_t nmemb, size_t size);
void *sc_realloc(void *ptr, size_t size);
/* @brief Copies a string (or its first n bytes, NUL-terminated). @returns a new string.
 */
char *sc_strdup(const char *s);
char *sc_strndup(const char *s, size_t n);
/* @brief Formats into a new string (printf rules). @returns a new string. */
char *sc_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* @brief Frees memory from the functions above; NULL is fine. */
void sc_free(void *ptr);

#endif
