/* Unit tests for shared/log: level names and parsing, and that each call writes exactly
 * one line that is a valid flat JSON object (checked by a small validator here, so the
 * test needs no JSON library) with the fields and escaping expected, and that the
 * threshold filters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* ---- helpers
 * ----------------------------------------------------------------------------- */

/* Checks one JSON string starting at *p (at the opening quote); advances past it. Only
 * the escapes JSON allows; no raw control characters. */
static bool json_string(const char **p)
{
    const char *s = *p;
    if (*s++ != '"')
        return false;
    for (;;) {
        unsigned char c = (unsigned char)*s++;
        if (c == '"')
            break;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            char e = *s++;
            if (e == 'u') {
                for (int i = 0; i < 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", *s) || !*s++)
                        return false;
            } else if (!e || !strchr("\"\\/bfnrt", e)) {
                return false;
            }
        }
    }
    *p = s;
    return true;
}

/* True when line is `{"k":"v",...}` followed by a single newline and nothing else. */
static bool json_flat_object_line(const char *line)
{
    const char *p = line;
    if (*p++ != '{')
        return false;
    for (;;) {
        if (!json_string(&p) || *p++ != ':' || !json_string(&p))
            return false;
        if (*p == ',') {
            p++;
            continue;
        }
        break;
    }
    return p[0] == '}' && p[1] == '\n' && p[2] == '\0';
}

struct capture {
    int fds[2];
};

static int setup(void **state)
{
    struct capture *c = calloc(1, sizeof(*c));
    if (pipe(c->fds) != 0 || fcntl(c->fds[0], F_SETFL, O_NONBLOCK) != 0)
        return -1;
    sc_log_init("test-svc", SC_LOG_DEBUG, c->fds[1]);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct capture *c = *state;
    sc_log_init("socialcare", SC_LOG_INFO, 2);
    close(c->fds[0]);
    close(c->fds[1]);
    free(c);
    return 0;
}

/* Everything written to the capture pipe so far (new string). */
static char *captured(struct capture *c)
{
    size_t cap = 65536, len = 0;
    char *buf = calloc(1, cap);
    ssize_t r;
    while (len + 1 < cap && (r = read(c->fds[0], buf + len, cap - len - 1)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    return buf;
}

/* ---- tests
 * ------------------------------------------------------------------------------- */

static void test_level_parse(void **state)
{
    (void)state;
    assert_int_equal(sc_log_level_parse("debug"), SC_LOG_DEBUG);
    assert_int_equal(sc_log_level_parse("info"), SC_LOG_INFO);
    assert_int_equal(sc_log_level_parse("notice"), SC_LOG_NOTICE);
    assert_int_equal(sc_log_level_parse("warning"), SC_LOG_WARNING);
    assert_int_equal(sc_log_level_parse("error"), SC_LOG_ERR);
    assert_int_equal(sc_log_level_parse("crit"), SC_LOG_CRIT);
    assert_int_equal(sc_log_level_parse("INFO"), SC_LOG_INFO);
    assert_int_equal(sc_log_level_parse("Warning"), SC_LOG_WARNING);
    assert_int_equal(sc_log_level_parse("warn"), SC_LOG_WARNING);
    assert_int_equal(sc_log_level_parse("err"), SC_LOG_ERR);
    assert_int_equal(sc_log_level_parse("2"), SC_LOG_CRIT);
    assert_int_equal(sc_log_level_parse("7"), SC_LOG_DEBUG);
    const char *bad[] = {"",        "1",     "8",   "0",     "77",
                         "verbose", "infox", "inf", " info", "emerg"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sc_log_level_parse(bad[i]) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(sc_log_level_parse(NULL), -1);
}

static void test_level_name(void **state)
{
    (void)state;
    for (int level = SC_LOG_CRIT; level <= SC_LOG_DEBUG; level++)
        assert_int_equal(sc_log_level_parse(sc_log_level_name(level)), level);
    assert_string_equal(sc_log_level_name(SC_LOG_ERR), "error");
    assert_string_equal(sc_log_level_name(99), "unknown");
    assert_string_equal(sc_log_level_name(-1), "unknown");
}

static void test_raw_writes_one_escaped_json_line(void **state)
{
    struct capture *c = *state;
    sc_log_raw(SC_LOG_WARNING, "KAFKA",
               "a \"quoted\" back\\slash\nnew line\ttab \x01 end");
    char *line = captured(c);
    assert_true(json_flat_object_line(line));
    assert_non_null(strstr(line, "\"level\":\"warning\""));
    assert_non_null(strstr(line, "\"service\":\"test-svc\""));
    assert_non_null(strstr(line, "\"fac\":\"KAFKA\""));
    assert_non_null(
        strstr(line, "\"msg\":\"a \\\"quoted\\\" back\\\\slash\\nnew line\\u0009tab "
                     "\\u0001 end\"}\n"));
    /* ts is RFC 3339 UTC with milliseconds. */
    const char *ts = strstr(line, "\"ts\":\"");
    assert_non_null(ts);
    ts += strlen("\"ts\":\"");
    assert_true(strlen(ts) > 24);
    assert_int_equal(ts[4], '-');
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[19], '.');
    assert_int_equal(ts[23], 'Z');
    assert_int_equal(ts[24], '"');
    free(line);
}

static void test_raw_null_fac_and_msg(void **state)
{
    struct capture *c = *state;
    sc_log_raw(SC_LOG_INFO, NULL, NULL);
    char *line = captured(c);
    assert_true(json_flat_object_line(line));
    assert_non_null(strstr(line, "\"fac\":\"MAIN\",\"msg\":\"\"}"));
    free(line);
}

static void test_long_message_cut_to_one_line(void **state)
{
    struct capture *c = *state;
    size_t len = 10000;
    char *msg = malloc(len + 1);
    /* Quotes double in size when escaped; the cut must never split an escape. */
    for (size_t i = 0; i < len; i++)
        msg[i] = i % 7 == 0 ? '"' : 'x';
    msg[len] = '\0';
    sc_log_raw(SC_LOG_ERR, "HTTP", msg);
    char *line = captured(c);
    assert_true(json_flat_object_line(line));
    assert_true(strlen(line) <= 4096);
    assert_non_null(strstr(line, "...\"}\n"));
    free(line);
    free(msg);
}

static void test_threshold_filters(void **state)
{
    struct capture *c = *state;
    sc_log_init("test-svc", SC_LOG_WARNING, c->fds[1]);
    sc_log(SC_LOG_INFO, "MAIN", "hidden %d", 1);
    sc_log(SC_LOG_DEBUG, "MAIN", "hidden %d", 2);
    sc_log(SC_LOG_WARNING, "MAIN", "shown %d", 3);
    sc_log(SC_LOG_ERR, "MAIN", "shown %s", "four");
    char *text = captured(c);
    assert_null(strstr(text, "hidden"));
    const char *first = strstr(text, "\"msg\":\"shown 3\"");
    const char *second = strstr(text, "\"msg\":\"shown four\"");
    assert_non_null(first);
    assert_non_null(second);
    assert_true(first < second);
    /* Exactly two lines. */
    char *nl = strchr(text, '\n');
    assert_non_null(nl);
    nl = strchr(nl + 1, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    free(text);
}

static void test_emit_formats(void **state)
{
    struct capture *c = *state;
    sc_log_emit(SC_LOG_NOTICE, "REDIS", "%s=%d/%05.1f", "k", -7, 3.14159);
    char *line = captured(c);
    assert_true(json_flat_object_line(line));
    assert_non_null(strstr(line, "\"level\":\"notice\""));
    assert_non_null(strstr(line, "\"msg\":\"k=-7/003.1\""));
    free(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test(test_level_name),
        cmocka_unit_test_setup_teardown(test_raw_writes_one_escaped_json_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_raw_null_fac_and_msg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_message_cut_to_one_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_threshold_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emit_formats, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
