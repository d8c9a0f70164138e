/* Unit tests for shared/lifecycle: RFC 3339 and legacy X time parsing and formatting, the
 * signal flags (SIGTERM/SIGINT in forked children, since the stop flag cannot be reset),
 * SIGHUP's take-once reload flag, SIGPIPE being ignored, the ready line and the clocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lifecycle.h"
#include "log.h"

/* 2026-11-22T07:33:29Z in ms since the epoch. */
#define T0 INT64_C(1795332809000)

/* ---- time text
 * --------------------------------------------------------------------------- */

static void test_format_time(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(sc_format_time(T0 + 120, buf, sizeof(buf)),
                        "2026-11-22T07:33:29.120Z");
    assert_string_equal(sc_format_time(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
    assert_string_equal(sc_format_time(-1, buf, sizeof(buf)), "1969-12-31T23:59:59.999Z");
    assert_string_equal(sc_format_time(INT64_C(1709208000007), buf, sizeof(buf)),
                        "2024-02-29T12:00:00.007Z");
    /* Exactly 25 bytes is enough. */
    char small[25];
    assert_ptr_equal(sc_format_time(T0, small, sizeof(small)), small);
    assert_string_equal(small, "2026-11-22T07:33:29.000Z");
}

static void test_parse_time_rfc3339(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t ms;
    } cases[] = {
        {"2026-11-22T07:33:29Z", T0},
        {"2026-11-22T07:33:29.120Z", T0 + 120},
        {"2026-11-22T07:33:29.1Z", T0 + 100},
        {"2026-11-22T07:33:29.12Z", T0 + 120},
        {"2026-11-22T07:33:29.123456789Z", T0 + 123},
        {"2026-11-22t07:33:29z", T0},
        {"2026-11-22 07:33:29Z", T0},
        {"2026-11-22T07:33:29+00:00", T0},
        {"2026-11-22T08:33:29+01:00", T0},
        {"2026-11-22T02:03:29-05:30", T0},
        {"2026-11-22T02:03:29.5-05:30", T0 + 500},
        {"2026-11-22T08:33:29+0100", T0},
        {"2026-11-23T00:33:29+17:00", T0},
        {"2024-02-29T12:00:00Z", INT64_C(1709208000000)},
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59.999Z", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = 42;
        if (sc_parse_time(cases[i].text, &ms) != 0)
            fail_msg("rejected %s", cases[i].text);
        if (ms != cases[i].ms)
            fail_msg("%s: got %lld, want %lld", cases[i].text, (long long)ms,
                     (long long)cases[i].ms);
    }
}

static void test_parse_time_legacy(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(sc_parse_time("Wed Oct 10 20:19:24 +0000 2018", &ms), 0);
    assert_int_equal(ms, INT64_C(1539202764000));
    assert_int_equal(sc_parse_time("Sun Nov 22 08:33:29 +0100 2026", &ms), 0);
    assert_int_equal(ms, T0);
    /* The weekday must match the date. */
    assert_int_equal(sc_parse_time("Thu Oct 10 20:19:24 +0000 2018", &ms), SC_EPARSE);
    assert_int_equal(sc_parse_time("Wed Oct 10 20:19:24 +0000 2018 ", &ms), SC_EPARSE);
    assert_int_equal(sc_parse_time("Wed Oct 10 20:19:24 2018", &ms), SC_EPARSE);
    assert_int_equal(sc_parse_time("Wed Foo 10 20:19:24 +0000 2018", &ms), SC_EPARSE);
}

static void test_parse_time_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "garbage",
        "2026-11-22",
        "2026-11-22T07:33:29",
        "2026-11-22T07:33Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-22T24:00:00Z",
        "2026-11-22T07:60:00Z",
        "2026-11-22T07:33:61Z",
        "2026-11-22T07:33:29.Z",
        "2026-11-22T07:33:29ZZ",
        "2026-11-22T07:33:29Z junk",
        "2026-11-22T07:33:29+1:00",
        "2026-11-22T07:33:29+01:00x",
        "2026-11-22T07:33:29+24:00",
        "2026-11-22T07:33:29+01:60",
        "2026-11-22X07:33:29Z",
        "26-11-22T07:33:29Z",
        " 2026-11-22T07:33:29Z",
        "2026-1-22T07:33:29Z",
        "1795332809",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 42;
        if (sc_parse_time(bad[i], &ms) != SC_EPARSE)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(ms, 42);
    }
    int64_t ms = 42;
    assert_int_equal(sc_parse_time(NULL, &ms), SC_EPARSE);
}

static void test_time_round_trip(void **state)
{
    (void)state;
    const int64_t values[] = {0,
                              1,
                              999,
                              T0 + 120,
                              INT64_C(951782400123) /* 2000-02-29 */,
                              INT64_C(253402300799999) /* 9999-12-31T23:59:59.999 */,
                              sc_wall_ms()};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char buf[32];
        int64_t back = -42;
        sc_format_time(values[i], buf, sizeof(buf));
        assert_int_equal(strlen(buf), 24);
        assert_int_equal(sc_parse_time(buf, &back), 0);
        assert_int_equal(back, values[i]);
    }
}

/* ---- signals
 * ----------------------------------------------------------------------------- */

/* In a child: installs the handlers, raises sig and exits 0 when stopping() went from
 * false to true. */
static void expect_stop_in_child(int sig)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sc_lifecycle_install();
        int before = sc_lifecycle_stopping();
        raise(sig);
        _exit(!before && sc_lifecycle_stopping() ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_sigterm_sets_stopping(void **state)
{
    (void)state;
    expect_stop_in_child(SIGTERM);
    expect_stop_in_child(SIGINT);
}

static void test_request_stop(void **state)
{
    (void)state;
    sc_lifecycle_install();
    assert_false(sc_lifecycle_stopping());
    sc_lifecycle_request_stop();
    assert_true(sc_lifecycle_stopping());
}

static void test_sighup_take_reload_once(void **state)
{
    (void)state;
    sc_lifecycle_install();
    sc_lifecycle_install(); /* twice is fine */
    assert_false(sc_lifecycle_take_reload());
    assert_int_equal(raise(SIGHUP), 0);
    assert_true(sc_lifecycle_take_reload());
    assert_false(sc_lifecycle_take_reload());
    /* Two signals before a take still read as one reload. */
    assert_int_equal(raise(SIGHUP), 0);
    assert_int_equal(raise(SIGHUP), 0);
    assert_true(sc_lifecycle_take_reload());
    assert_false(sc_lifecycle_take_reload());
}

static void test_sigpipe_ignored(void **state)
{
    (void)state;
    int fds[2];
    sc_lifecycle_install();
    assert_int_equal(pipe(fds), 0);
    close(fds[0]);
    errno = 0;
    assert_int_equal(write(fds[1], "x", 1), -1);
    assert_int_equal(errno, EPIPE);
    close(fds[1]);
}

/* ---- ready line and clocks
 * --------------------------------------------------------------- */

/* Calls sc_lifecycle_ready with stdout and the log captured; returns both (new strings).
 */
static void capture_ready(const char *service, int port, char **out, char **log)
{
    int log_fds[2];
    char path[] = "/tmp/sc_test_lifecycle_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(pipe(log_fds), 0);
    assert_int_equal(fcntl(log_fds[0], F_SETFL, O_NONBLOCK), 0);

    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDOUT_FILENO) >= 0);
    sc_log_init("test", SC_LOG_INFO, log_fds[1]);
    sc_lifecycle_ready(service, port);
    sc_log_init("test", SC_LOG_INFO, 2);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);

    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size >= 0);
    *out = calloc(1, (size_t)size + 1);
    assert_int_equal(pread(fd, *out, (size_t)size, 0), size);
    close(fd);
    *log = calloc(1, 8192);
    ssize_t n = read(log_fds[0], *log, 8191);
    assert_true(n > 0);
    close(log_fds[0]);
    close(log_fds[1]);
}

static void test_ready_line(void **state)
{
    (void)state;
    char *out, *log;
    capture_ready("classifier", 8081, &out, &log);
    assert_string_equal(out, "socialcare-classifier ready port=8081\n");
    assert_non_null(strstr(log, "\"level\":\"info\""));
    assert_non_null(strstr(log, "\"fac\":\"MAIN\""));
    assert_non_null(strstr(log, "\"msg\":\"ready port=8081\""));
    assert_non_null(strchr(log, '\n'));
    assert_int_equal(strchr(log, '\n')[1], '\0');
    free(out);
    free(log);

    capture_ready("socialcare-ingestor", 0, &out, &log);
    assert_string_equal(out, "socialcare-ingestor ready port=0\n");
    free(out);
    free(log);
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t a = sc_now_ms();
    int64_t b = sc_now_ms();
    assert_true(a >= 0);
    assert_true(b >= a);
    int64_t wall = sc_wall_ms();
    int64_t secs = (int64_t)time(NULL);
    /* 2020-01-01 or later, and the same clock as time(). */
    assert_true(wall > INT64_C(1577836800000));
    assert_true(wall / 1000 >= secs - 60 && wall / 1000 <= secs + 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_parse_time_rfc3339),
        cmocka_unit_test(test_parse_time_legacy),
        cmocka_unit_test(test_parse_time_rejects),
        cmocka_unit_test(test_time_round_trip),
        cmocka_unit_test(test_sigterm_sets_stopping),
        cmocka_unit_test(test_sighup_take_reload_once),
        cmocka_unit_test(test_sigpipe_ignored),
        cmocka_unit_test(test_ready_line),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_request_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
