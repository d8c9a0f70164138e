/* Unit tests for shared/config: defaults, environment overrides, type and range errors
 * that name the variable, NAME_FILE, the KAFKA_* passthrough, --help text, the logged
 * summary (secrets hidden) and the command line. Each test starts from an environment
 * without any of the table's variables or KAFKA_* variables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

struct test_cfg {
    struct sc_common_config common; /* must be first */
    char *name;
    char *token;
    long long workers;
    int enabled;
    double ratio;
};

static const struct sc_config_item test_items[] = {
    SC_CONFIG_COMMON_ITEMS(struct test_cfg, "test-group"),
    {"TEST_NAME", SC_CFG_STRING, "alice", 0, -1, "A name",
     offsetof(struct test_cfg, name)},
    {"TEST_TOKEN", SC_CFG_SECRET, "", 0, -1, "An API token",
     offsetof(struct test_cfg, token)},
    {"TEST_WORKERS", SC_CFG_INT, "4", 1, 64, "Worker threads",
     offsetof(struct test_cfg, workers)},
    {"TEST_ENABLED", SC_CFG_BOOL, "false", 0, -1, "Feature switch",
     offsetof(struct test_cfg, enabled)},
    {"TEST_RATIO", SC_CFG_DOUBLE, "0.5", 0, 1, "A fraction",
     offsetof(struct test_cfg, ratio)},
};
#define N_TEST_ITEMS (sizeof(test_items) / sizeof(test_items[0]))

static const struct sc_config_item required_items[] = {
    {"TEST_NEEDED", SC_CFG_STRING, NULL, 0, -1, "Must be given",
     offsetof(struct test_cfg, name)},
};
#define N_REQUIRED_ITEMS (sizeof(required_items) / sizeof(required_items[0]))

#define SECRET_VALUE "supersecret-Zq7"

struct fixture {
    struct test_cfg cfg;
    char errstr[512];
    char *files[8];
    size_t n_files;
};

/* ---- environment and file helpers
 * ------------------------------------------------------- */

static void clear_env(void)
{
    const struct sc_config_item *tables[] = {test_items, required_items};
    const size_t sizes[] = {N_TEST_ITEMS, N_REQUIRED_ITEMS};
    for (size_t t = 0; t < 2; t++) {
        for (size_t i = 0; i < sizes[t]; i++) {
            char name[128];
            unsetenv(tables[t][i].name);
            snprintf(name, sizeof(name), "%s_FILE", tables[t][i].name);
            unsetenv(name);
        }
    }
    /* Collect first: unsetenv changes environ. */
    char *names[256];
    size_t n = 0;
    for (char **e = environ; *e && n < 256; e++) {
        if (!strncmp(*e, "KAFKA_", 6)) {
            const char *eq = strchr(*e, '=');
            names[n++] = strndup(*e, eq ? (size_t)(eq - *e) : strlen(*e));
        }
    }
    for (size_t i = 0; i < n; i++) {
        unsetenv(names[i]);
        free(names[i]);
    }
}

/* Writes content to a new temporary file that the teardown removes; returns its path. */
static const char *temp_file(struct fixture *f, const char *content)
{
    const char *dir = getenv("TMPDIR");
    char *path = NULL;
    assert_true(f->n_files < sizeof(f->files) / sizeof(f->files[0]));
    assert_true(asprintf(&path, "%s/sc_test_config_XXXXXX", dir && *dir ? dir : "/tmp") >
                0);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(content);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    f->files[f->n_files++] = path;
    return path;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    clear_env();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);
    for (size_t i = 0; i < f->n_files; i++) {
        unlink(f->files[i]);
        free(f->files[i]);
    }
    free(f);
    clear_env();
    return 0;
}

static int load(struct fixture *f)
{
    return sc_config_load(test_items, N_TEST_ITEMS, &f->cfg, 1, f->errstr,
                          sizeof(f->errstr));
}

static const char *kafka_prop(const struct test_cfg *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->common.n_kafka_props; i++)
        if (!strcmp(cfg->common.kafka_props[i].key, key))
            return cfg->common.kafka_props[i].value;
    return NULL;
}

/* Reads everything written so far to a non-blocking pipe. */
static char *drain_pipe(int fd)
{
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while (len + 1 < cap && (r = read(fd, buf + len, cap - len - 1)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    return buf;
}

/* Runs sc_config_args with stdout sent to a temporary file; returns the output. */
static char *args_output(int argc, char **argv, int *rc, int *check_only)
{
    char path[] = "/tmp/sc_test_config_out_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDOUT_FILENO) >= 0);
    *rc =
        sc_config_args(argc, argv, "Test service.", test_items, N_TEST_ITEMS, check_only);
    fflush(stdout);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size >= 0);
    char *out = calloc(1, (size_t)size + 1);
    assert_int_equal(pread(fd, out, (size_t)size, 0), size);
    close(fd);
    return out;
}

/* ---- loading
 * ----------------------------------------------------------------------------- */

static void test_defaults(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f), 0);
    assert_string_equal(f->cfg.common.kafka_brokers, "127.0.0.1:9092");
    assert_string_equal(f->cfg.common.kafka_group_id, "test-group");
    assert_string_equal(f->cfg.common.redis_url, "redis://127.0.0.1:6379/0");
    assert_int_equal(f->cfg.common.http_port, 8080);
    assert_string_equal(f->cfg.common.log_level, "info");
    assert_string_equal(f->cfg.common.topic_posts_inbound, "posts.inbound");
    assert_string_equal(f->cfg.common.topic_dlq, "pipeline.dlq");
    assert_int_equal(f->cfg.common.drain_timeout_ms, 10000);
    assert_int_equal(f->cfg.common.n_kafka_props, 0);
    assert_string_equal(f->cfg.name, "alice");
    assert_string_equal(f->cfg.token, "");
    assert_int_equal(f->cfg.workers, 4);
    assert_int_equal(f->cfg.enabled, 0);
    assert_true(f->cfg.ratio == 0.5);
    assert_string_equal(f->errstr, "");
}

static void test_env_override(void **state)
{
    struct fixture *f = *state;
    setenv("HTTP_PORT", "9090", 1);
    setenv("KAFKA_BROKERS", "k1:9092,k2:9092", 1);
    setenv("TEST_NAME", "bob", 1);
    setenv("TEST_WORKERS", "64", 1);
    setenv("TEST_ENABLED", "yes", 1);
    setenv("TEST_RATIO", "0.25", 1);
    setenv("TOPIC_DLQ", "", 1);
    assert_int_equal(load(f), 0);
    assert_int_equal(f->cfg.common.http_port, 9090);
    assert_string_equal(f->cfg.common.kafka_brokers, "k1:9092,k2:9092");
    assert_string_equal(f->cfg.name, "bob");
    assert_int_equal(f->cfg.workers, 64);
    assert_int_equal(f->cfg.enabled, 1);
    assert_true(f->cfg.ratio == 0.25);
    assert_string_equal(f->cfg.common.topic_dlq, "");
    /* KAFKA_BROKERS is an item, so it is not passed through as "brokers". */
    assert_int_equal(f->cfg.common.n_kafka_props, 0);
    assert_null(kafka_prop(&f->cfg, "brokers"));
}

static void test_bad_int_names_variable(void **state)
{
    struct fixture *f = *state;
    const char *bad[] = {"abc", "12x", "", " 80", "8080 ", "0x50", "1e3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("HTTP_PORT", bad[i], 1);
        assert_int_equal(load(f), SC_EINVAL);
        assert_non_null(strstr(f->errstr, "HTTP_PORT"));
        assert_non_null(strstr(f->errstr, "is not an integer"));
        sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);
    }
    setenv("HTTP_PORT", "abc", 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_string_equal(f->errstr, "HTTP_PORT: \"abc\" is not an integer");
}

static void test_out_of_range(void **state)
{
    struct fixture *f = *state;
    setenv("HTTP_PORT", "70000", 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_string_equal(f->errstr, "HTTP_PORT: 70000 is out of range [0, 65535]");
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);

    setenv("HTTP_PORT", "-1", 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_non_null(strstr(f->errstr, "out of range"));
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);

    setenv("HTTP_PORT", "99999999999999999999999", 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_non_null(strstr(f->errstr, "HTTP_PORT"));
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);

    setenv("HTTP_PORT", "65535", 1);
    setenv("DRAIN_TIMEOUT_MS", "99", 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_string_equal(f->errstr, "DRAIN_TIMEOUT_MS: 99 is out of range [100, 600000]");
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);

    unsetenv("DRAIN_TIMEOUT_MS");
    setenv("TEST_RATIO", "1.5", 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_string_equal(f->errstr, "TEST_RATIO: 1.5 is out of range [0, 1]");
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);

    setenv("TEST_RATIO", "nan", 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_non_null(strstr(f->errstr, "TEST_RATIO"));
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);

    setenv("TEST_RATIO", "1", 1);
    assert_int_equal(load(f), 0);
    assert_int_equal(f->cfg.common.http_port, 65535);
    assert_true(f->cfg.ratio == 1.0);
}

static void test_bool_parsing(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *text;
        int value;
    } cases[] = {{"true", 1}, {"TRUE", 1}, {"1", 1},     {"yes", 1},   {"Yes", 1},
                 {"on", 1},   {"ON", 1},   {"false", 0}, {"False", 0}, {"0", 0},
                 {"no", 0},   {"NO", 0},   {"off", 0},   {"Off", 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* Start from the opposite value so a no-op would fail. */
        f->cfg.enabled = !cases[i].value;
        setenv("TEST_ENABLED", cases[i].text, 1);
        assert_int_equal(load(f), 0);
        assert_int_equal(f->cfg.enabled, cases[i].value);
        sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);
    }
    const char *bad[] = {"maybe", "2", "", "y", "truee"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("TEST_ENABLED", bad[i], 1);
        assert_int_equal(load(f), SC_EINVAL);
        assert_non_null(strstr(f->errstr, "TEST_ENABLED"));
        assert_non_null(strstr(f->errstr, "boolean"));
        sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);
    }
}

static void test_required_missing(void **state)
{
    struct fixture *f = *state;
    struct test_cfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(sc_config_load(required_items, N_REQUIRED_ITEMS, &cfg, 0, f->errstr,
                                    sizeof(f->errstr)),
                     SC_EINVAL);
    assert_non_null(strstr(f->errstr, "TEST_NEEDED"));
    assert_non_null(strstr(f->errstr, "required"));
    assert_null(cfg.name);

    setenv("TEST_NEEDED", "here", 1);
    assert_int_equal(sc_config_load(required_items, N_REQUIRED_ITEMS, &cfg, 0, f->errstr,
                                    sizeof(f->errstr)),
                     0);
    assert_string_equal(cfg.name, "here");
    sc_config_cleanup(required_items, N_REQUIRED_ITEMS, &cfg, 0);
    assert_null(cfg.name);

    /* The _FILE form satisfies a required variable too. */
    unsetenv("TEST_NEEDED");
    setenv("TEST_NEEDED_FILE", temp_file(f, "from-file\n"), 1);
    assert_int_equal(sc_config_load(required_items, N_REQUIRED_ITEMS, &cfg, 0, f->errstr,
                                    sizeof(f->errstr)),
                     0);
    assert_string_equal(cfg.name, "from-file");
    sc_config_cleanup(required_items, N_REQUIRED_ITEMS, &cfg, 0);
}

static void test_file_read_strips_one_newline(void **state)
{
    struct fixture *f = *state;
    setenv("TEST_TOKEN_FILE", temp_file(f, SECRET_VALUE "\n"), 1);
    setenv("TEST_NAME_FILE", temp_file(f, "carol\r\n"), 1);
    setenv("TOPIC_DLQ_FILE", temp_file(f, "dlq\n\n"), 1);
    setenv("TOPIC_CASES_EVENTS_FILE", temp_file(f, ""), 1);
    assert_int_equal(load(f), 0);
    assert_string_equal(f->cfg.token, SECRET_VALUE);
    assert_string_equal(f->cfg.name, "carol");
    assert_string_equal(f->cfg.common.topic_dlq, "dlq\n");
    assert_string_equal(f->cfg.common.topic_cases_events, "");
    /* KAFKA_*_FILE of an item fills the item and is not passed through. */
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);
    setenv("KAFKA_BROKERS_FILE", temp_file(f, "filebroker:9092\n"), 1);
    assert_int_equal(load(f), 0);
    assert_string_equal(f->cfg.common.kafka_brokers, "filebroker:9092");
    assert_int_equal(f->cfg.common.n_kafka_props, 0);
}

static void test_file_unreadable_names_file_variable(void **state)
{
    struct fixture *f = *state;
    setenv("TEST_TOKEN_FILE", "/nonexistent/sc-test/token", 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_non_null(strstr(f->errstr, "TEST_TOKEN_FILE"));
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);

    /* A directory opens but cannot be read. */
    setenv("TEST_TOKEN_FILE", "/", 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_non_null(strstr(f->errstr, "TEST_TOKEN_FILE"));
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);

    /* Only strings can come from files. */
    unsetenv("TEST_TOKEN_FILE");
    setenv("HTTP_PORT_FILE", temp_file(f, "8081\n"), 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_non_null(strstr(f->errstr, "HTTP_PORT_FILE"));
}

static void test_name_and_file_both_set_rejected(void **state)
{
    struct fixture *f = *state;
    setenv("TEST_TOKEN", SECRET_VALUE, 1);
    setenv("TEST_TOKEN_FILE", temp_file(f, SECRET_VALUE "\n"), 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_non_null(strstr(f->errstr, "TEST_TOKEN"));
    assert_non_null(strstr(f->errstr, "TEST_TOKEN_FILE"));
    assert_null(strstr(f->errstr, SECRET_VALUE));
}

static void test_kafka_passthrough(void **state)
{
    struct fixture *f = *state;
    setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL", 1);
    setenv("KAFKA_SASL_MECHANISM", "PLAIN", 1);
    setenv("KAFKA_SASL_PASSWORD_FILE", temp_file(f, SECRET_VALUE "\n"), 1);
    setenv("KAFKA_BROKERS", "b1:9092", 1);
    setenv("KAFKA_GROUP_ID", "g2", 1);
    assert_int_equal(load(f), 0);
    assert_int_equal(f->cfg.common.n_kafka_props, 3);
    assert_string_equal(kafka_prop(&f->cfg, "security.protocol"), "SASL_SSL");
    assert_string_equal(kafka_prop(&f->cfg, "sasl.mechanism"), "PLAIN");
    assert_string_equal(kafka_prop(&f->cfg, "sasl.password"), SECRET_VALUE);
    assert_null(kafka_prop(&f->cfg, "brokers"));
    assert_null(kafka_prop(&f->cfg, "group.id"));
    assert_string_equal(f->cfg.common.kafka_brokers, "b1:9092");
    assert_string_equal(f->cfg.common.kafka_group_id, "g2");

    /* Loading again replaces the list rather than appending to it. */
    unsetenv("KAFKA_SASL_MECHANISM");
    assert_int_equal(load(f), 0);
    assert_int_equal(f->cfg.common.n_kafka_props, 2);
    assert_null(kafka_prop(&f->cfg, "sasl.mechanism"));

    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);
    assert_null(f->cfg.common.kafka_props);
    assert_int_equal(f->cfg.common.n_kafka_props, 0);
    assert_null(f->cfg.common.kafka_brokers);
    assert_null(f->cfg.name);
    /* Idempotent. */
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);
    assert_null(f->cfg.common.kafka_brokers);
}

static void test_kafka_passthrough_errors(void **state)
{
    struct fixture *f = *state;
    setenv("KAFKA_", "x", 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_non_null(strstr(f->errstr, "empty"));
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);
    unsetenv("KAFKA_");

    setenv("KAFKA__FILE", temp_file(f, "x"), 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_non_null(strstr(f->errstr, "KAFKA__FILE"));
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);
    unsetenv("KAFKA__FILE");

    setenv("KAFKA_BOOTSTRAP_SERVERS", "b:1", 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_non_null(strstr(f->errstr, "KAFKA_BROKERS"));
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);
    unsetenv("KAFKA_BOOTSTRAP_SERVERS");

    setenv("KAFKA_SASL_PASSWORD", SECRET_VALUE, 1);
    setenv("KAFKA_SASL_PASSWORD_FILE", temp_file(f, SECRET_VALUE), 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_non_null(strstr(f->errstr, "sasl.password"));
    assert_null(strstr(f->errstr, SECRET_VALUE));
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);
    unsetenv("KAFKA_SASL_PASSWORD");

    setenv("KAFKA_SASL_PASSWORD_FILE", "/nonexistent/sc-test/pw", 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_non_null(strstr(f->errstr, "KAFKA_SASL_PASSWORD_FILE"));
}

static void test_log_level_checked(void **state)
{
    struct fixture *f = *state;
    setenv("LOG_LEVEL", "verbose", 1);
    assert_int_equal(load(f), SC_EINVAL);
    assert_non_null(strstr(f->errstr, "LOG_LEVEL"));
    sc_config_cleanup(test_items, N_TEST_ITEMS, &f->cfg, 1);
    setenv("LOG_LEVEL", "debug", 1);
    assert_int_equal(load(f), 0);
    assert_string_equal(f->cfg.common.log_level, "debug");
}

static void test_has_common_needs_common_table(void **state)
{
    struct fixture *f = *state;
    setenv("TEST_NEEDED", "x", 1);
    assert_int_equal(sc_config_load(required_items, N_REQUIRED_ITEMS, &f->cfg, 1,
                                    f->errstr, sizeof(f->errstr)),
                     SC_EINVAL);
    assert_non_null(strstr(f->errstr, "first"));
    assert_null(f->cfg.name);
}

/* ---- help, log, arguments
 * --------------------------------------------------------------- */

static void test_help_lists_variables(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    sc_config_print_help(out, "socialcare-test", "Does test things.", test_items,
                         N_TEST_ITEMS);
    fclose(out);
    assert_non_null(strstr(text, "Usage: socialcare-test"));
    assert_non_null(strstr(text, "Does test things."));
    for (size_t i = 0; i < N_TEST_ITEMS; i++) {
        assert_non_null(strstr(text, test_items[i].name));
        assert_non_null(strstr(text, test_items[i].help));
    }
    assert_non_null(strstr(text, "KAFKA_BROKERS"));
    assert_non_null(strstr(text, "127.0.0.1:9092"));
    assert_non_null(strstr(text, "[0, 65535]"));
    assert_non_null(strstr(text, "[1, 64]"));
    assert_non_null(strstr(text, "_FILE"));
    assert_non_null(strstr(text, "KAFKA_SECURITY_PROTOCOL"));
    assert_non_null(strstr(text, "security.protocol"));
    free(text);

    text = NULL;
    out = open_memstream(&text, &len);
    assert_non_null(out);
    sc_config_print_help(out, "p", NULL, required_items, N_REQUIRED_ITEMS);
    fclose(out);
    assert_non_null(strstr(text, "TEST_NEEDED"));
    assert_non_null(strstr(text, "(required)"));
    free(text);
}

static void test_log_hides_secrets(void **state)
{
    struct fixture *f = *state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    setenv("TEST_TOKEN", SECRET_VALUE, 1);
    setenv("REDIS_URL", "redis://:" SECRET_VALUE "@127.0.0.1:6379/0", 1);
    setenv("KAFKA_SASL_PASSWORD", SECRET_VALUE, 1);
    setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL", 1);
    setenv("HTTP_PORT", "8123", 1);
    assert_int_equal(load(f), 0);

    sc_log_init("test", SC_LOG_INFO, fds[1]);
    sc_config_log(test_items, N_TEST_ITEMS, &f->cfg);
    sc_log_init("test", SC_LOG_INFO, 2);
    char *text = drain_pipe(fds[0]);
    close(fds[0]);
    close(fds[1]);

    assert_null(strstr(text, SECRET_VALUE));
    assert_non_null(strstr(text, "TEST_TOKEN=(set)"));
    assert_non_null(strstr(text, "REDIS_URL=(set)"));
    assert_non_null(strstr(text, "HTTP_PORT=8123"));
    assert_non_null(strstr(text, "TEST_NAME=alice"));
    assert_non_null(strstr(text, "TEST_ENABLED=false"));
    assert_non_null(strstr(text, "security.protocol=SASL_SSL"));
    assert_non_null(strstr(text, "sasl.password=(set)"));
    free(text);
}

static void test_args(void **state)
{
    (void)state;
    int rc = 99, check = 99;
    char *argv0[] = {"/usr/bin/socialcare-test", NULL};
    char *out = args_output(1, argv0, &rc, &check);
    assert_int_equal(rc, 0);
    assert_int_equal(check, 0);
    assert_string_equal(out, "");
    free(out);

    char *argv1[] = {"/usr/bin/socialcare-test", "--check-config", NULL};
    out = args_output(2, argv1, &rc, &check);
    assert_int_equal(rc, 0);
    assert_int_equal(check, 1);
    free(out);

    char *argv2[] = {"/usr/bin/socialcare-test", "--help", NULL};
    out = args_output(2, argv2, &rc, &check);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "Usage: socialcare-test"));
    assert_non_null(strstr(out, "KAFKA_BROKERS"));
    free(out);

    char *argv3[] = {"socialcare-test", "-h", NULL};
    out = args_output(2, argv3, &rc, &check);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "Test service."));
    free(out);

    char *argv4[] = {"socialcare-test", "--version", NULL};
    out = args_output(2, argv4, &rc, &check);
    assert_int_equal(rc, 1);
    assert_string_equal(out, "socialcare-test " SC_VERSION "\n");
    free(out);

    char *argv5[] = {"socialcare-test", "--bogus", NULL};
    out = args_output(2, argv5, &rc, &check);
    assert_int_equal(rc, -1);
    assert_string_equal(out, "");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_override, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_int_names_variable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bool_parsing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_required_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_read_strips_one_newline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_file_unreadable_names_file_variable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_name_and_file_both_set_rejected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kafka_passthrough, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kafka_passthrough_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_level_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_has_common_needs_common_table, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_help_lists_variables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_hides_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_args, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
