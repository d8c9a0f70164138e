/* End-to-end test harness: each test gets a temporary directory, a real redis-server and
 * the dev broker on free loopback ports, and the real service binaries as child processes
 * (stdout and stderr captured in files, started with the standard test environment,
 * waited for on their "ready port=N" line). It offers HTTP helpers (libcurl), a raw Kafka
 * producer and a "collector" that reads whole topics from the beginning (librdkafka, no
 * group), a Redis helper (hiredis), and wait-for-a-condition loops with deadlines scaled
 * by SC_TEST_TIMEOUT_MULTIPLIER. Teardown kills every child, fails the test when a
 * child's stderr shows a sanitizer report, dumps the tail of each child's stderr when the
 * test failed, and removes the temporary directory unless SC_TEST_KEEP=1. */
#ifndef SC_E2E_HARNESS_H
#define SC_E2E_HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <sys/types.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

/* ------------------------------------------------------------------ test lifecycle */

struct e2e;
struct e2e_proc;
struct e2e_collector;

/* @brief cmocka setup/teardown: e2e_setup stores a new struct e2e in *state (temp dir
 * made, libcurl initialised); e2e_teardown kills every child still running, checks every
 *        child's stderr for sanitizer reports (returns -1, so cmocka fails the test),
 * prints the last 30 lines of each child's stderr when the test body did not reach
 *        e2e_finish, and removes the temp dir unless SC_TEST_KEEP=1. */
int e2e_setup(void **state);
int e2e_teardown(void **state);

/* @brief Ends a test body: SIGTERMs every running child (services first, in reverse start
 *        order, then the broker, then Redis), asserts each exits with status 0 within its
 *        deadline, and asserts no child's stderr holds a sanitizer report. Call it last.
 */
void e2e_finish(struct e2e *e);

/* @brief The multiplier from SC_TEST_TIMEOUT_MULTIPLIER (default 1, minimum 0.1). */
double e2e_multiplier(void);

/* @brief ms scaled by the multiplier. */
int e2e_ms(int ms);

/* @brief Monotonic clock in milliseconds. */
int64_t e2e_now_ms(void);

/* @brief The test's temp dir (borrowed), and a new path inside it (free with sc_free). */
const char *e2e_tmpdir(const struct e2e *e);
char *e2e_path(const struct e2e *e, const char *name);

/* @brief A free loopback TCP port, found by binding 127.0.0.1:0 (it may be taken again
 *        before use: starters retry on address-in-use). */
int e2e_free_port(void);

/* @brief Reads a whole file. @returns a new NUL-terminated buffer (sc_free) or NULL;
 *        *len (may be NULL) gets its length. */
char *e2e_read_file(const char *path, size_t *len);

/* @brief Writes (or appends) bytes to a file; asserts on failure. */
void e2e_write_file(const char *path, const void *data, size_t len, bool append);

/* ------------------------------------------------------------------ conditions */

/* A condition checked by e2e_wait_until; arg is the caller's. */
typedef bool (*e2e_cond_fn)(struct e2e *e, void *arg);

/* @brief Until cond is true or timeout_ms (scaled) passes: pumps every collector, checks
 * cond, sleeps a few milliseconds. @returns the last value of cond. */
bool e2e_wait_until(struct e2e *e, e2e_cond_fn cond, void *arg, int timeout_ms);

/* ------------------------------------------------------------------ infrastructure */

/* @brief Starts redis-server on a free port in the temp dir (retrying on address-in-use)
 * and waits until PING answers. Asserts on failure. */
void e2e_start_redis(struct e2e *e);

/* @brief Starts socialcare-devbroker --partitions 4 --bootstrap-file <tmp>/bootstrap
 * (plus
 *        --topics extra_topics when not NULL), waits for its ready line and reads the
 *        bootstrap list. Asserts on failure. */
void e2e_start_broker(struct e2e *e, const char *extra_topics);

/* @brief As e2e_start_redis, but with --appendonly yes --appendfsync always (in the temp
 *        dir), so that a server SIGKILLed and restarted with e2e_restart_redis keeps
 * every acknowledged write. */
void e2e_start_redis_persistent(struct e2e *e);

/* @brief Starts the stopped (e.g. e2e_kill'ed) redis-server again on the same port with
 *        the same options, waits until PING answers and reconnects e2e_redis. Asserts on
 *        failure. */
void e2e_restart_redis(struct e2e *e);

/* @brief The redis-server and dev broker children (borrowed; NULL before start), e.g.
 *        for e2e_kill or signals (the dev broker: SIGUSR1 broker 1 down, SIGUSR2 up). */
struct e2e_proc *e2e_redis_proc(const struct e2e *e);
struct e2e_proc *e2e_broker_proc(const struct e2e *e);

/* @brief Bootstrap list and "redis://127.0.0.1:PORT/0" (borrowed; NULL before start). */
const char *e2e_brokers(const struct e2e *e);
const char *e2e_redis_url(const struct e2e *e);

/* ------------------------------------------------------------------ child processes */

/* @brief Path of a program in SC_BIN_DIR (default: the test binary's own directory).
 *        @returns a new string (sc_free). */
char *e2e_bin_path(const char *program);

/* @brief True when SC_BIN_DIR holds an executable of that name. */
bool e2e_have_bin(const char *program);

/* @brief Starts <bin>/socialcare-<service> with the standard test environment
 * (KAFKA_BROKERS, REDIS_URL, HTTP_PORT=0, LOG_LEVEL=info, the KAFKA_* timings for the dev
 * broker) plus extra_env ("KEY=VALUE" strings, NULL-terminated, may be NULL; a KEY given
 * there replaces the standard one), then waits for "socialcare-<service> ready port=N" on
 *        its stdout. Asserts (with the child's stderr tail) if it exits or times out.
 * @returns the child (owned by e); its port via e2e_proc_port. */
struct e2e_proc *e2e_start_service(struct e2e *e, const char *service,
                                   const char *const *extra_env);

/* @brief Starts <bin>/socialcare-<tool> with args (NULL-terminated, may be NULL) and the
 *        standard environment, and waits for "socialcare-<tool> ready port=N". */
struct e2e_proc *e2e_start_tool(struct e2e *e, const char *tool, const char *const *args);

/* @brief Starts a stopped child again with the same program, arguments and environment,
 * and waits for its ready line (a new port). stdout/stderr go to new files. */
void e2e_restart(struct e2e *e, struct e2e_proc *proc);

/* @brief Starts any program (argv[0] is the path, NULL-terminated argv and env) without
 *        waiting for anything. @returns the child (owned by e). */
struct e2e_proc *e2e_spawn(struct e2e *e, const char *name, const char *const *argv,
                           const char *const *env);

/* @brief Accessors: the HTTP port from the ready line (0 if none), the pid (0 when not
 *        running), the name, and the current stdout/stderr file paths (borrowed). */
int e2e_proc_port(const struct e2e_proc *proc);
pid_t e2e_proc_pid(const struct e2e_proc *proc);
const char *e2e_proc_name(const struct e2e_proc *proc);
const char *e2e_proc_stdout(const struct e2e_proc *proc);
const char *e2e_proc_stderr(const struct e2e_proc *proc);

/* @brief True while the child has not exited (reaps it when it has). */
bool e2e_proc_running(struct e2e_proc *proc);

/* @brief Sends SIGTERM and waits up to timeout_ms (scaled) for the exit.
 * @returns the exit status (0..255), 128+signal when killed by a signal, or -1 when it
 * did not exit in time (it is then SIGKILLed and reaped). */
int e2e_stop(struct e2e_proc *proc, int timeout_ms);

/* @brief Waits up to timeout_ms (scaled) for the child to exit by itself (no signal
 * sent).
 * @returns the exit status as e2e_stop, or -1 when it is still running. */
int e2e_wait_exit(struct e2e_proc *proc, int timeout_ms);

/* @brief SIGKILLs the child and reaps it. */
void e2e_kill(struct e2e_proc *proc);

/* @brief Waits until needle appears in the child's stdout / stderr (all files of the
 * child, across restarts), or timeout_ms (scaled). @returns true when it appeared. */
bool e2e_wait_stdout(struct e2e *e, struct e2e_proc *proc, const char *needle,
                     int timeout_ms);
bool e2e_wait_stderr(struct e2e *e, struct e2e_proc *proc, const char *needle,
                     int timeout_ms);

/* @brief Runs <bin>/program with args (NULL-terminated, may be NULL) and the standard
 *        environment, waits for it to exit (timeout_ms scaled; killed after that).
 * @returns its exit status (or -1 on timeout); *proc_out (may be NULL) gets the child,
 * whose output files can then be read. */
int e2e_run(struct e2e *e, const char *program, const char *const *args, int timeout_ms,
            struct e2e_proc **proc_out);

/* @brief Prints the last n lines of the child's current stderr to stderr. */
void e2e_dump_stderr(const struct e2e_proc *proc, int n);

/* ------------------------------------------------------------------ HTTP (libcurl) */

struct e2e_http_resp {
    long status; /* 0 when the request failed (connection refused, timeout) */
    char *body;  /* NUL-terminated, owned (e2e_http_resp_cleanup) */
    size_t len;
    json_t *json; /* the body parsed as JSON, or NULL */
};

/* @brief One request to http://127.0.0.1:<port><path>. body may be NULL (no body).
 *        extra_headers: "Name: value" strings, NULL-terminated, may be NULL.
 * @returns resp->status (0 on transport failure). */
long e2e_http(int port, const char *method, const char *path, const void *body,
              size_t len, const char *const *extra_headers, struct e2e_http_resp *resp);
long e2e_http_get(int port, const char *path, struct e2e_http_resp *resp);
long e2e_http_post_json(int port, const char *path, const char *body,
                        struct e2e_http_resp *resp);
void e2e_http_resp_cleanup(struct e2e_http_resp *resp);

/* @brief Polls GET path until it answers want_status, or timeout_ms (scaled).
 * @returns true when it did. */
bool e2e_wait_http_status(struct e2e *e, int port, const char *path, long want_status,
                          int timeout_ms);

/* @brief Value of one Prometheus sample, e.g. series = "socialcare_ingestor_posts_total"
 *        "{outcome=\"duplicate\"}" (the exact text before the value). @returns the value,
 *        or -1 when no such line exists. */
double e2e_metric(const char *metrics_text, const char *series);

/* @brief Runs `promtool check metrics` on text. @returns 0 when it passes, 1 when it
 * reports problems (printed to stderr), -1 when promtool is not installed. */
int e2e_promtool_check(struct e2e *e, const char *text, size_t len);

/* ------------------------------------------------------------------ Kafka */

/* One header of a collected message (NUL-terminated copies). */
struct e2e_header {
    char *name;
    char *value; /* NULL for a null header value */
    size_t value_len;
};

/* One collected message; all fields owned by the collector. */
struct e2e_msg {
    char *topic;
    int32_t partition;
    int64_t offset;
    char *key; /* NUL-terminated copy; NULL for no key */
    size_t key_len;
    char *value; /* NUL-terminated copy; NULL for no value */
    size_t value_len;
    struct e2e_header *headers;
    size_t n_headers;
    json_t *json; /* value parsed as JSON, or NULL */
};

/* @brief Produces one message (key may be NULL) with headers given as name, value pairs
 *        (NULL-terminated list, may be NULL), and waits for its delivery. Asserts on
 * failure. */
void e2e_produce(struct e2e *e, const char *topic, const char *key, const void *value,
                 size_t len, const char *const *headers);

/* @brief Partition and offset of the last message e2e_produce delivered. */
void e2e_last_produced(const struct e2e *e, int32_t *partition, int64_t *offset);

/* @brief Starts a collector for topics (NULL-terminated): every partition of each topic
 *        assigned from the beginning, no group. Messages are taken in by
 * e2e_collector_pump (e2e_wait_until pumps every collector). @returns the collector
 * (owned by e). */
struct e2e_collector *e2e_collector_new(struct e2e *e, const char *const *topics);

/* @brief Takes in every message available now (waiting up to timeout_ms for the first).
 */
void e2e_collector_pump(struct e2e_collector *coll, int timeout_ms);

/* @brief Messages collected so far: total, and one by index (borrowed). */
size_t e2e_collector_count(const struct e2e_collector *coll);
const struct e2e_msg *e2e_collector_msg(const struct e2e_collector *coll, size_t i);

/* @brief Messages collected so far on one topic. */
size_t e2e_collector_count_topic(const struct e2e_collector *coll, const char *topic);

/* @brief Waits until the collector has consumed every partition up to the high watermark
 * it reads now (so everything acknowledged before the call has been collected), or
 *        timeout_ms (scaled). @returns true when caught up. */
bool e2e_collector_sync(struct e2e_collector *coll, int timeout_ms);

/* Distinct values of one JSON string field (key1, or key1.key2 when key2 is not NULL)
 * over the messages of one topic, updated incrementally from the collector. Owned by the
 * collector. */
struct e2e_index;

struct e2e_index *e2e_index_new(struct e2e_collector *coll, const char *topic,
                                const char *key1, const char *key2);
/* @brief Catches up with the collector, then: distinct values / messages seen on the
 * topic / whether value was seen. */
size_t e2e_index_distinct(struct e2e_index *idx);
size_t e2e_index_messages(struct e2e_index *idx);
bool e2e_index_has(struct e2e_index *idx, const char *value);

/* @brief Value of a header (last one with that name), borrowed, or NULL. */
const char *e2e_msg_header(const struct e2e_msg *msg, const char *name);

/* @brief String member of the message's JSON (NULL when absent / not JSON):
 *        e2e_msg_str(msg, "post_id"); e2e_msg_path(msg, "classification", "intent"). */
const char *e2e_msg_str(const struct e2e_msg *msg, const char *key);
const char *e2e_msg_path(const struct e2e_msg *msg, const char *key1, const char *key2);

/* ------------------------------------------------------------------ Redis */

/* @brief Runs one command on the test's Redis (hiredis format rules).
 * @returns a new reply (freeReplyObject); asserts when the connection fails. */
redisReply *e2e_redis(struct e2e *e, const char *fmt, ...);

/* ------------------------------------------------------------------ test data */

/* @brief A valid v1 post as compact JSON: id "<platform>:<post_id>", kind "mention",
 *        created_at fixed, author.id author_id, the given text. @returns a new string. */
char *e2e_post_new(const char *platform, const char *post_id, const char *author_id,
                   const char *text);

/* Sample texts that the skeleton's keyword classifier files under a known intent. */
enum e2e_intent { E2E_COMPLAINT, E2E_QUESTION, E2E_PRAISE, E2E_INTENT_COUNT };

/* @brief Variant n (any number) of a text with that intent (static string), and the
 * intent's name as the classifier spells it ("complaint", "question", "praise"). */
const char *e2e_sample_text(enum e2e_intent intent, unsigned n);
const char *e2e_intent_name(enum e2e_intent intent);

/* A tiny string set (for distinct ids). */
struct e2e_strset;
struct e2e_strset *e2e_strset_new(void);
void e2e_strset_free(struct e2e_strset *set);
/* @brief Adds s (copied). @returns true when it was not there yet. */
bool e2e_strset_add(struct e2e_strset *set, const char *s);
bool e2e_strset_has(const struct e2e_strset *set, const char *s);
size_t e2e_strset_count(const struct e2e_strset *set);

#endif
