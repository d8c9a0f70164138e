/* Unit tests for shared/alloc and shared/error: string copies (whole, bounded,
 * formatted), zeroed and resized allocations, NULL-safe free, and the texts of the SC_*
 * error codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "alloc.h"
#include "error.h"

static void test_strdup(void **state)
{
    (void)state;
    const char *src = "hello, world";
    char *copy = sc_strdup(src);
    assert_ptr_not_equal(copy, src);
    assert_string_equal(copy, src);
    sc_free(copy);
    copy = sc_strdup("");
    assert_string_equal(copy, "");
    sc_free(copy);
}

static void test_strndup(void **state)
{
    (void)state;
    char *p = sc_strndup("abcdef", 3);
    assert_string_equal(p, "abc");
    sc_free(p);
    p = sc_strndup("abc", 100); /* n past the end: copies up to the NUL only */
    assert_string_equal(p, "abc");
    sc_free(p);
    p = sc_strndup("abc", 0);
    assert_string_equal(p, "");
    sc_free(p);
    /* Not NUL-terminated within n: reads only n bytes. */
    const char raw[4] = {'w', 'x', 'y', 'z'};
    p = sc_strndup(raw, sizeof(raw));
    assert_string_equal(p, "wxyz");
    sc_free(p);
}

static void test_asprintf(void **state)
{
    (void)state;
    char *p = sc_asprintf("%s-%d-%05.2f-%c", "key", -42, 3.14159, 'z');
    assert_string_equal(p, "key--42-03.14-z");
    sc_free(p);
    p = sc_asprintf("%s", "");
    assert_string_equal(p, "");
    sc_free(p);
    /* Longer than any small internal buffer. */
    char big[5001];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    p = sc_asprintf("<%s>", big);
    assert_int_equal(strlen(p), sizeof(big) + 1);
    assert_int_equal(p[0], '<');
    assert_int_equal(p[sizeof(big)], '>');
    assert_int_equal(p[2500], 'q');
    sc_free(p);
}

static void test_calloc_realloc_free(void **state)
{
    (void)state;
    unsigned char *p = sc_calloc(64, 4);
    for (size_t i = 0; i < 256; i++)
        assert_int_equal(p[i], 0);
    memcpy(p, "abcdefgh", 8);
    p = sc_realloc(p, 100000);
    assert_memory_equal(p, "abcdefgh", 8);
    p[99999] = 1;
    sc_free(p);
    /* Zero sizes still give usable, freeable memory. */
    void *z = sc_malloc(0);
    assert_non_null(z);
    sc_free(z);
    z = sc_calloc(0, 0);
    assert_non_null(z);
    sc_free(z);
    sc_free(NULL);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(sc_strerror(SC_OK), "success");
    assert_string_equal(sc_strerror(SC_EINVAL), "invalid argument");
    assert_string_equal(sc_strerror(SC_ETIMEDOUT), "timed out");
    assert_string_equal(sc_strerror(SC_EPARSE), "parse error");
    /* Every code has its own text; anything else is "unknown error". */
    for (int a = 0; a > -SC_ERR_COUNT; a--) {
        assert_non_null(sc_strerror(a));
        assert_string_not_equal(sc_strerror(a), "unknown error");
        for (int b = a - 1; b > -SC_ERR_COUNT; b--)
            assert_string_not_equal(sc_strerror(a), sc_strerror(b));
    }
    assert_string_equal(sc_strerror(-SC_ERR_COUNT), "unknown error");
    assert_string_equal(sc_strerror(1), "unknown error");
    assert_string_equal(sc_strerror(-1000), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strdup),   cmocka_unit_test(test_strndup),
        cmocka_unit_test(test_asprintf), cmocka_unit_test(test_calloc_realloc_free),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
