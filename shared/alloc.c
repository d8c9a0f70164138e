/* Allocation wrappers that abort on out-of-memory, after saying so on stderr (the logger
 * itself allocates nothing, but we cannot rely on anything once memory is gone). */
#include "alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void sc_oom(size_t size)
{
    char msg[128];
    int n = snprintf(msg, sizeof(msg),
                     "{\"level\":\"crit\",\"fac\":\"ALLOC\",\"msg\":\"out of memory "
                     "allocating %zu bytes\"}\n",
                     size);
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, msg, (size_t)n);
        (void)w;
    }
    abort();
}

void *sc_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        sc_oom(size);
    return p;
}

void *sc_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        sc_oom(nmemb * size);
    return p;
}

void *sc_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        sc_oom(size);
    return p;
}

char *sc_strdup(const char *s)
{
    return sc_strndup(s, strlen(s));
}

char *sc_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = sc_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *sc_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        sc_oom(0);
    char *p = sc_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void sc_free(void *ptr)
{
    free(ptr);
}
