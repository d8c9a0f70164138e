/* The end-to-end test harness (see harness.h): temp dirs, free ports, child processes
 * started with fork/execve and watched through their stdout/stderr files, Redis and the
 * dev broker, libcurl HTTP helpers, a librdkafka producer and whole-topic collectors, and
 * condition waits with scaled deadlines. Everything a test starts is owned by its struct
 * e2e, so teardown can kill and free it whatever happened in the test body. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>

#include "alloc.h"

#define E2E_MAX_PROCS      32
#define E2E_MAX_RUNS       16
#define E2E_MAX_COLLECTORS 8
#define E2E_MAX_ENV        64
#define E2E_HTTP_MAX_BODY  (64u * 1024u * 1024u)
#define E2E_TAIL_LINES     30

enum e2e_proc_kind { E2E_PROC_SERVICE, E2E_PROC_BROKER, E2E_PROC_REDIS };

struct e2e_proc {
    struct e2e *e;
    char *name;
    enum e2e_proc_kind kind;
    char *ready_needle; /* stdout text that precedes the port, or NULL */
    char **argv;        /* owned, NULL-terminated */
    char **env;         /* owned, NULL-terminated */
    pid_t pid;          /* 0 when not running */
    int last_status;    /* decoded status of the last exit, -1 before any */
    int port;
    int runs;
    char *out_paths[E2E_MAX_RUNS];
    char *err_paths[E2E_MAX_RUNS];
};

#define E2E_MAX_INDEXES 16

struct e2e_index {
    struct e2e_collector *coll;
    char *topic;
    char *key1;
    char *key2;
    size_t scanned;
    size_t messages;
    struct e2e_strset *values;
};

struct e2e_collector {
    struct e2e *e;
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *assigned;
    struct e2e_msg *msgs;
    size_t n_msgs;
    size_t cap_msgs;
    struct e2e_index *indexes[E2E_MAX_INDEXES];
    size_t n_indexes;
};

struct e2e {
    char *tmpdir;
    bool finished;
    struct e2e_proc *procs[E2E_MAX_PROCS];
    size_t n_procs;
    struct e2e_proc *redis;
    struct e2e_proc *broker;
    int redis_port;
    char *redis_url;
    char *brokers;
    redisContext *redis_ctx;
    rd_kafka_t *producer;
    int produce_failed;
    char produce_err[256];
    int32_t produced_partition;
    int64_t produced_offset;
    struct e2e_collector *colls[E2E_MAX_COLLECTORS];
    size_t n_colls;
};

/* The running test, so an atexit handler can kill its children when the binary dies
 * early. */
static struct e2e *e2e_current;

/* ================================================================== small utilities */

double e2e_multiplier(void)
{
    const char *text = getenv("SC_TEST_TIMEOUT_MULTIPLIER");
    if (!text || !*text)
        return 1.0;
    double m = strtod(text, NULL);
    if (!(m >= 0.1))
        m = m > 0 ? 0.1 : 1.0;
    return m;
}

int e2e_ms(int ms)
{
    double scaled = (double)ms * e2e_multiplier();
    if (scaled > (double)INT_MAX / 2)
        return INT_MAX / 2;
    return (int)scaled;
}

int64_t e2e_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void e2e_nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

const char *e2e_tmpdir(const struct e2e *e)
{
    return e->tmpdir;
}

char *e2e_path(const struct e2e *e, const char *name)
{
    return sc_asprintf("%s/%s", e->tmpdir, name);
}

int e2e_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    socklen_t alen = sizeof(addr);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &alen), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

char *e2e_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = sc_malloc(cap);
    for (;;) {
        if (cap - n < 4096) {
            cap *= 2;
            buf = sc_realloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void e2e_write_file(const char *path, const void *data, size_t len, bool append)
{
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
    int fd = open(path, flags, 0644);
    if (fd < 0)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            fail_msg("cannot write %s: %s", path, strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    close(fd);
}

static int e2e_rm_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static bool e2e_env_true(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* Full path of program found on PATH, as a new string, or NULL. */
static char *e2e_find_on_path(const char *program)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    char *copy = sc_strdup(path);
    char *found = NULL;
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        char *full = sc_asprintf("%s/%s", dir, program);
        if (access(full, X_OK) == 0)
            found = full;
        else
            sc_free(full);
    }
    sc_free(copy);
    return found;
}

/* Is program found on PATH? */
static bool e2e_on_path(const char *program)
{
    char *full = e2e_find_on_path(program);
    sc_free(full);
    return full != NULL;
}

/* ================================================================== string set */

struct e2e_strset {
    char **slots;
    size_t cap;
    size_t count;
};

static uint64_t e2e_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

struct e2e_strset *e2e_strset_new(void)
{
    struct e2e_strset *set = sc_calloc(1, sizeof(*set));
    set->cap = 64;
    set->slots = sc_calloc(set->cap, sizeof(char *));
    return set;
}

void e2e_strset_free(struct e2e_strset *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->cap; i++)
        sc_free(set->slots[i]);
    sc_free(set->slots);
    sc_free(set);
}

static size_t e2e_strset_find(const struct e2e_strset *set, const char *s)
{
    size_t i = (size_t)(e2e_hash(s) & (set->cap - 1));
    while (set->slots[i] && strcmp(set->slots[i], s) != 0)
        i = (i + 1) & (set->cap - 1);
    return i;
}

bool e2e_strset_add(struct e2e_strset *set, const char *s)
{
    if (!s)
        return false;
    if ((set->count + 1) * 2 > set->cap) {
        char **old = set->slots;
        size_t old_cap = set->cap;
        set->cap *= 2;
        set->slots = sc_calloc(set->cap, sizeof(char *));
        for (size_t i = 0; i < old_cap; i++)
            if (old[i])
                set->slots[e2e_strset_find(set, old[i])] = old[i];
        sc_free(old);
    }
    size_t i = e2e_strset_find(set, s);
    if (set->slots[i])
        return false;
    set->slots[i] = sc_strdup(s);
    set->count++;
    return true;
}

bool e2e_strset_has(const struct e2e_strset *set, const char *s)
{
    return s && set->slots[e2e_strset_find(set, s)] != NULL;
}

size_t e2e_strset_count(const struct e2e_strset *set)
{
    return set->count;
}

/* ================================================================== child processes */

static char **e2e_build_env(const struct e2e *e, const char *const *extra);

static char **e2e_strv_dup(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **out = sc_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        out[i] = sc_strdup(v[i]);
    return out;
}

static void e2e_strv_free(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        sc_free(v[i]);
    sc_free(v);
}

char *e2e_bin_path(const char *program)
{
    const char *dir = getenv("SC_BIN_DIR");
    if (dir && *dir)
        return sc_asprintf("%s/%s", dir, program);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return sc_asprintf("./%s", program);
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    return sc_asprintf("%s/%s", self, program);
}

bool e2e_have_bin(const char *program)
{
    char *path = e2e_bin_path(program);
    bool ok = access(path, X_OK) == 0;
    sc_free(path);
    return ok;
}

static int e2e_decode_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* Forks and execs argv with env, stdout/stderr into the given files, stdin from
 * /dev/null. Everything the child needs is prepared before fork (the parent has threads).
 */
static pid_t e2e_fork_exec(char *const *argv, char *const *env, const char *out_path,
                           const char *err_path)
{
    int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || err < 0 || null < 0)
        fail_msg("cannot open child output files in temp dir: %s", strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        /* Child: only async-signal-safe calls until execve. */
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        setpgid(0, 0);
        if (dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(127);
        syscall(SYS_close_range, 3U, ~0U, 0U);
        execve(argv[0], argv, env);
        static const char msg[] = "e2e harness: execve failed\n";
        ssize_t w = write(2, msg, sizeof(msg) - 1);
        (void)w;
        _exit(127);
    }
    close(out);
    close(err);
    close(null);
    return pid;
}

static void e2e_proc_launch(struct e2e_proc *proc)
{
    assert_true(proc->runs < E2E_MAX_RUNS);
    int run = proc->runs++;
    if (run == 0) {
        proc->out_paths[run] = sc_asprintf("%s/%s.stdout", proc->e->tmpdir, proc->name);
        proc->err_paths[run] = sc_asprintf("%s/%s.stderr", proc->e->tmpdir, proc->name);
    } else {
        proc->out_paths[run] =
            sc_asprintf("%s/%s.%d.stdout", proc->e->tmpdir, proc->name, run + 1);
        proc->err_paths[run] =
            sc_asprintf("%s/%s.%d.stderr", proc->e->tmpdir, proc->name, run + 1);
    }
    proc->port = 0;
    proc->pid =
        e2e_fork_exec(proc->argv, proc->env, proc->out_paths[run], proc->err_paths[run]);
}

struct e2e_proc *e2e_spawn(struct e2e *e, const char *name, const char *const *argv,
                           const char *const *env)
{
    assert_true(e->n_procs < E2E_MAX_PROCS);
    struct e2e_proc *proc = sc_calloc(1, sizeof(*proc));
    proc->e = e;
    /* Unique file names when the same program runs twice. */
    int same = 0;
    for (size_t i = 0; i < e->n_procs; i++)
        if (strncmp(e->procs[i]->name, name, strlen(name)) == 0)
            same++;
    proc->name = same ? sc_asprintf("%s-%d", name, same + 1) : sc_strdup(name);
    proc->kind = E2E_PROC_SERVICE;
    proc->argv = e2e_strv_dup(argv);
    proc->env = e2e_strv_dup(env);
    proc->last_status = -1;
    e->procs[e->n_procs++] = proc;
    e2e_proc_launch(proc);
    return proc;
}

int e2e_proc_port(const struct e2e_proc *proc)
{
    return proc->port;
}

pid_t e2e_proc_pid(const struct e2e_proc *proc)
{
    return proc->pid;
}

const char *e2e_proc_name(const struct e2e_proc *proc)
{
    return proc->name;
}

const char *e2e_proc_stdout(const struct e2e_proc *proc)
{
    return proc->runs ? proc->out_paths[proc->runs - 1] : NULL;
}

const char *e2e_proc_stderr(const struct e2e_proc *proc)
{
    return proc->runs ? proc->err_paths[proc->runs - 1] : NULL;
}

bool e2e_proc_running(struct e2e_proc *proc)
{
    if (proc->pid <= 0)
        return false;
    int status;
    pid_t r = waitpid(proc->pid, &status, WNOHANG);
    if (r == proc->pid) {
        proc->last_status = e2e_decode_status(status);
        proc->pid = 0;
        return false;
    }
    return true;
}

int e2e_stop(struct e2e_proc *proc, int timeout_ms)
{
    if (!e2e_proc_running(proc))
        return proc->last_status;
    kill(proc->pid, SIGTERM);
    int64_t deadline = e2e_now_ms() + e2e_ms(timeout_ms);
    while (e2e_now_ms() < deadline) {
        if (!e2e_proc_running(proc))
            return proc->last_status;
        e2e_nap_ms(10);
    }
    fprintf(stderr, "e2e: %s (pid %d) did not exit within %d ms of SIGTERM; killing it\n",
            proc->name, (int)proc->pid, e2e_ms(timeout_ms));
    e2e_kill(proc);
    return -1;
}

int e2e_wait_exit(struct e2e_proc *proc, int timeout_ms)
{
    int64_t deadline = e2e_now_ms() + e2e_ms(timeout_ms);
    for (;;) {
        if (!e2e_proc_running(proc))
            return proc->last_status;
        if (e2e_now_ms() >= deadline)
            return -1;
        e2e_nap_ms(5);
    }
}

void e2e_kill(struct e2e_proc *proc)
{
    if (proc->pid <= 0)
        return;
    kill(proc->pid, SIGKILL);
    int status;
    while (waitpid(proc->pid, &status, 0) < 0 && errno == EINTR) {
    }
    proc->last_status = e2e_decode_status(status);
    proc->pid = 0;
}

int e2e_run(struct e2e *e, const char *program, const char *const *args, int timeout_ms,
            struct e2e_proc **proc_out)
{
    char *path = e2e_bin_path(program);
    if (access(path, X_OK) != 0)
        fail_msg("%s is not built (looked for %s)", program, path);
    const char *argv[32];
    size_t n = 0;
    argv[n++] = path;
    for (size_t i = 0; args && args[i]; i++) {
        assert_true(n < 30);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    char **env = e2e_build_env(e, NULL);
    struct e2e_proc *proc = e2e_spawn(e, program, argv, (const char *const *)env);
    e2e_strv_free(env);
    sc_free(path);
    int status = e2e_wait_exit(proc, timeout_ms);
    if (status < 0)
        e2e_kill(proc);
    if (proc_out)
        *proc_out = proc;
    return status;
}

/* Does needle occur in any of the given files? */
static bool e2e_files_contain(char *const *paths, int n, const char *needle)
{
    for (int i = 0; i < n; i++) {
        char *text = e2e_read_file(paths[i], NULL);
        bool hit = text && strstr(text, needle);
        sc_free(text);
        if (hit)
            return true;
    }
    return false;
}

static bool e2e_wait_files(struct e2e *e, struct e2e_proc *proc, bool err,
                           const char *needle, int timeout_ms)
{
    int64_t deadline = e2e_now_ms() + e2e_ms(timeout_ms);
    for (;;) {
        for (size_t i = 0; i < e->n_colls; i++)
            e2e_collector_pump(e->colls[i], 0);
        if (e2e_files_contain(err ? proc->err_paths : proc->out_paths, proc->runs,
                              needle))
            return true;
        if (e2e_now_ms() >= deadline)
            return false;
        e2e_nap_ms(10);
    }
}

bool e2e_wait_stdout(struct e2e *e, struct e2e_proc *proc, const char *needle,
                     int timeout_ms)
{
    return e2e_wait_files(e, proc, false, needle, timeout_ms);
}

bool e2e_wait_stderr(struct e2e *e, struct e2e_proc *proc, const char *needle,
                     int timeout_ms)
{
    return e2e_wait_files(e, proc, true, needle, timeout_ms);
}

static void e2e_dump_tail(const char *label, const char *path, int n)
{
    size_t len = 0;
    char *text = e2e_read_file(path, &len);
    fprintf(stderr, "---- %s: last %d lines of %s ----\n", label, n, path);
    if (!text) {
        fprintf(stderr, "(missing)\n");
        return;
    }
    size_t start = len;
    int lines = 0;
    if (start > 0 && text[start - 1] == '\n')
        start--;
    while (start > 0) {
        if (text[start - 1] == '\n' && ++lines >= n)
            break;
        start--;
    }
    fwrite(text + start, 1, len - start, stderr);
    if (len > 0 && text[len - 1] != '\n')
        fputc('\n', stderr);
    sc_free(text);
}

void e2e_dump_stderr(const struct e2e_proc *proc, int n)
{
    if (proc->runs)
        e2e_dump_tail(proc->name, proc->err_paths[proc->runs - 1], n);
}

/* Waits for ready_needle on the current stdout and parses the number after it into port.
 * Fails the test at once when the child exits first. */
static void e2e_wait_ready_line(struct e2e *e, struct e2e_proc *proc, int timeout_ms)
{
    int64_t deadline = e2e_now_ms() + e2e_ms(timeout_ms);
    const char *out_path = proc->out_paths[proc->runs - 1];
    for (;;) {
        char *text = e2e_read_file(out_path, NULL);
        const char *hit = text ? strstr(text, proc->ready_needle) : NULL;
        if (hit) {
            const char *after = hit + strlen(proc->ready_needle);
            const char *eol = strchr(after, '\n');
            if (eol) {
                proc->port = (int)strtol(after, NULL, 10);
                sc_free(text);
                return;
            }
        }
        sc_free(text);
        if (!e2e_proc_running(proc)) {
            e2e_dump_stderr(proc, E2E_TAIL_LINES);
            fail_msg("%s exited (status %d) before printing \"%s\"", proc->name,
                     proc->last_status, proc->ready_needle);
        }
        if (e2e_now_ms() >= deadline) {
            e2e_dump_stderr(proc, E2E_TAIL_LINES);
            fail_msg("%s did not print \"%s\" within %d ms", proc->name,
                     proc->ready_needle, e2e_ms(timeout_ms));
        }
        for (size_t i = 0; i < e->n_colls; i++)
            e2e_collector_pump(e->colls[i], 0);
        e2e_nap_ms(10);
    }
}

/* The environment for a child: passthrough of a few host variables, the standard test
 * settings, then extras (which replace a standard entry with the same key). */
static char **e2e_build_env(const struct e2e *e, const char *const *extra)
{
    const char *pass[] = {"PATH",
                          "HOME",
                          "TMPDIR",
                          "LD_LIBRARY_PATH",
                          "ASAN_OPTIONS",
                          "UBSAN_OPTIONS",
                          "LSAN_OPTIONS",
                          "TZ",
                          "LANG",
                          "LC_ALL",
                          NULL};
    char *list[E2E_MAX_ENV];
    size_t n = 0;
    for (size_t i = 0; pass[i]; i++) {
        const char *v = getenv(pass[i]);
        if (v)
            list[n++] = sc_asprintf("%s=%s", pass[i], v);
    }
    if (!getenv("UBSAN_OPTIONS"))
        list[n++] = sc_strdup("UBSAN_OPTIONS=print_stacktrace=1");
    if (e->brokers)
        list[n++] = sc_asprintf("KAFKA_BROKERS=%s", e->brokers);
    if (e->redis_url)
        list[n++] = sc_asprintf("REDIS_URL=%s", e->redis_url);
    const char *std[] = {"HTTP_PORT=0",
                         "LOG_LEVEL=info",
                         "KAFKA_SESSION_TIMEOUT_MS=6000",
                         "KAFKA_HEARTBEAT_INTERVAL_MS=500",
                         "KAFKA_FETCH_WAIT_MAX_MS=10",
                         "KAFKA_STATISTICS_INTERVAL_MS=1000",
                         NULL};
    for (size_t i = 0; std[i]; i++)
        list[n++] = sc_strdup(std[i]);
    for (size_t i = 0; extra && extra[i]; i++) {
        const char *eq = strchr(extra[i], '=');
        size_t klen = eq ? (size_t)(eq - extra[i]) : strlen(extra[i]);
        bool replaced = false;
        for (size_t j = 0; j < n && !replaced; j++) {
            if (strncmp(list[j], extra[i], klen) == 0 && list[j][klen] == '=') {
                sc_free(list[j]);
                list[j] = sc_strdup(extra[i]);
                replaced = true;
            }
        }
        if (!replaced) {
            assert_true(n < E2E_MAX_ENV - 1);
            list[n++] = sc_strdup(extra[i]);
        }
    }
    char **env = sc_calloc(n + 1, sizeof(char *));
    memcpy(env, list, n * sizeof(char *));
    return env;
}

static struct e2e_proc *e2e_start_program(struct e2e *e, const char *name,
                                          const char *program, const char *const *args,
                                          const char *const *extra_env)
{
    char *path = e2e_bin_path(program);
    if (access(path, X_OK) != 0)
        fail_msg("%s is not built (looked for %s)", program, path);
    const char *argv[32];
    size_t n = 0;
    argv[n++] = path;
    for (size_t i = 0; args && args[i]; i++) {
        assert_true(n < 30);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    char **env = e2e_build_env(e, extra_env);
    struct e2e_proc *proc = e2e_spawn(e, name, argv, (const char *const *)env);
    e2e_strv_free(env);
    sc_free(path);
    proc->ready_needle = sc_asprintf("%s ready port=", program);
    e2e_wait_ready_line(e, proc, 30000);
    return proc;
}

struct e2e_proc *e2e_start_service(struct e2e *e, const char *service,
                                   const char *const *extra_env)
{
    char *program = sc_asprintf("socialcare-%s", service);
    struct e2e_proc *proc = e2e_start_program(e, service, program, NULL, extra_env);
    sc_free(program);
    return proc;
}

struct e2e_proc *e2e_start_tool(struct e2e *e, const char *tool, const char *const *args)
{
    char *program = sc_asprintf("socialcare-%s", tool);
    struct e2e_proc *proc = e2e_start_program(e, tool, program, args, NULL);
    sc_free(program);
    return proc;
}

void e2e_restart(struct e2e *e, struct e2e_proc *proc)
{
    if (e2e_proc_running(proc))
        fail_msg("e2e_restart: %s is still running", proc->name);
    e2e_proc_launch(proc);
    if (proc->ready_needle)
        e2e_wait_ready_line(e, proc, 30000);
}

/* ================================================================== Redis and broker */

static void e2e_start_redis_opts(struct e2e *e, bool persistent);

void e2e_start_redis(struct e2e *e)
{
    e2e_start_redis_opts(e, false);
}

void e2e_start_redis_persistent(struct e2e *e)
{
    e2e_start_redis_opts(e, true);
}

/* True when redis on port answers PING; on success *ctx_out (may be NULL) keeps the
 * connection. */
static bool e2e_redis_pong(int port, redisContext **ctx_out)
{
    struct timeval tv = {0, 200000};
    redisContext *ctx = redisConnectWithTimeout("127.0.0.1", port, tv);
    bool pong = false;
    if (ctx && !ctx->err) {
        redisReply *reply = redisCommand(ctx, "PING");
        pong =
            reply && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0;
        if (reply)
            freeReplyObject(reply);
    }
    if (pong && ctx_out)
        *ctx_out = ctx;
    else if (ctx)
        redisFree(ctx);
    return pong;
}

struct e2e_proc *e2e_redis_proc(const struct e2e *e)
{
    return e->redis;
}

struct e2e_proc *e2e_broker_proc(const struct e2e *e)
{
    return e->broker;
}

void e2e_restart_redis(struct e2e *e)
{
    assert_non_null(e->redis);
    if (e2e_proc_running(e->redis))
        fail_msg("e2e_restart_redis: redis-server is still running");
    if (e->redis_ctx) {
        redisFree(e->redis_ctx);
        e->redis_ctx = NULL;
    }
    e2e_proc_launch(e->redis);
    int64_t deadline = e2e_now_ms() + e2e_ms(10000);
    while (e2e_now_ms() < deadline) {
        if (!e2e_proc_running(e->redis)) {
            e2e_dump_stderr(e->redis, E2E_TAIL_LINES);
            fail_msg("redis-server exited on restart (port %d)", e->redis_port);
        }
        if (e2e_redis_pong(e->redis_port, &e->redis_ctx))
            return;
        e2e_nap_ms(10);
    }
    fail_msg("restarted redis-server on port %d did not answer PING", e->redis_port);
}

static void e2e_start_redis_opts(struct e2e *e, bool persistent)
{
    assert_null(e->redis);
    char *server = e2e_find_on_path("redis-server");
    if (!server && access("/usr/bin/redis-server", X_OK) == 0)
        server = sc_strdup("/usr/bin/redis-server");
    if (!server)
        fail_msg("redis-server is not installed (not on PATH)");
    for (int attempt = 0; attempt < 8; attempt++) {
        int port = e2e_free_port();
        char port_text[16];
        snprintf(port_text, sizeof(port_text), "%d", port);
        const char *argv[] = {server,      "--port", port_text, "--bind",
                              "127.0.0.1", "--save", "",        "--appendonly",
                              "no",        "--dir",  e->tmpdir, "--daemonize",
                              "no",        NULL,     NULL,      NULL};
        if (persistent) {
            /* AOF with fsync on every write: a SIGKILLed server restarts with its data */
            argv[8] = "yes";
            argv[13] = "--appendfsync";
            argv[14] = "always";
        }
        const char *env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", NULL};
        struct e2e_proc *proc = e2e_spawn(e, "redis", argv, env);
        proc->kind = E2E_PROC_REDIS;
        int64_t deadline = e2e_now_ms() + e2e_ms(10000);
        bool in_use = false;
        while (e2e_now_ms() < deadline) {
            if (!e2e_proc_running(proc)) {
                in_use = e2e_files_contain(proc->out_paths, proc->runs, "in use") ||
                         e2e_files_contain(proc->err_paths, proc->runs, "in use");
                break;
            }
            struct timeval tv = {0, 200000};
            redisContext *ctx = redisConnectWithTimeout("127.0.0.1", port, tv);
            if (ctx && !ctx->err) {
                redisReply *reply = redisCommand(ctx, "PING");
                bool pong = reply && reply->type == REDIS_REPLY_STATUS &&
                            strcmp(reply->str, "PONG") == 0;
                if (reply)
                    freeReplyObject(reply);
                if (pong) {
                    e->redis = proc;
                    e->redis_port = port;
                    e->redis_ctx = ctx;
                    e->redis_url = sc_asprintf("redis://127.0.0.1:%d/0", port);
                    sc_free(server);
                    return;
                }
            }
            if (ctx)
                redisFree(ctx);
            e2e_nap_ms(10);
        }
        if (!in_use) {
            e2e_dump_tail("redis stdout", proc->out_paths[0], E2E_TAIL_LINES);
            e2e_kill(proc);
            sc_free(server);
            fail_msg("redis-server on port %d did not answer PING", port);
        }
        e2e_kill(proc);
    }
    sc_free(server);
    fail_msg("redis-server: no free port after 8 attempts");
}

const char *e2e_brokers(const struct e2e *e)
{
    return e->brokers;
}

const char *e2e_redis_url(const struct e2e *e)
{
    return e->redis_url;
}

void e2e_start_broker(struct e2e *e, const char *extra_topics)
{
    assert_null(e->broker);
    char *path = e2e_bin_path("socialcare-devbroker");
    if (access(path, X_OK) != 0)
        fail_msg("socialcare-devbroker is not built (looked for %s)", path);
    char *bootstrap = e2e_path(e, "bootstrap");
    const char *argv[] = {path,         "--partitions",
                          "4",          "--bootstrap-file",
                          bootstrap,    extra_topics ? "--topics" : NULL,
                          extra_topics, NULL};
    char **env = e2e_build_env(e, NULL);
    struct e2e_proc *proc = e2e_spawn(e, "devbroker", argv, (const char *const *)env);
    e2e_strv_free(env);
    sc_free(path);
    proc->kind = E2E_PROC_BROKER;
    e->broker = proc;
    proc->ready_needle = sc_strdup("socialcare-devbroker ready bootstrap=");
    e2e_wait_ready_line(e, proc, 30000);
    proc->port = 0;
    char *text = e2e_read_file(bootstrap, NULL);
    sc_free(bootstrap);
    if (!text)
        fail_msg("the dev broker printed its ready line but wrote no bootstrap file");
    size_t len = strcspn(text, "\r\n");
    text[len] = '\0';
    if (len == 0) {
        sc_free(text);
        fail_msg("the dev broker's bootstrap file is empty");
    }
    e->brokers = text;
}

/* ================================================================== HTTP */

struct e2e_http_buf {
    char *data;
    size_t len;
    size_t cap;
};

static size_t e2e_http_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct e2e_http_buf *buf = userdata;
    size_t n = size * nmemb;
    if (buf->len + n > E2E_HTTP_MAX_BODY)
        return 0;
    if (buf->len + n + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 4096;
        while (cap < buf->len + n + 1)
            cap *= 2;
        buf->data = sc_realloc(buf->data, cap);
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, ptr, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
    return n;
}

long e2e_http(int port, const char *method, const char *path, const void *body,
              size_t len, const char *const *extra_headers, struct e2e_http_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    char *url = sc_asprintf("http://127.0.0.1:%d%s", port, path);
    struct e2e_http_buf buf = {NULL, 0, 0};
    struct curl_slist *headers = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; extra_headers && extra_headers[i]; i++)
        headers = curl_slist_append(headers, extra_headers[i]);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)e2e_ms(30000));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)e2e_ms(5000));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, e2e_http_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (strcmp(method, "GET") != 0 && !(body && strcmp(method, "POST") == 0))
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    sc_free(url);
    resp->body = buf.data ? buf.data : sc_strdup("");
    resp->len = buf.len;
    if (resp->len > 0)
        resp->json = json_loadb(resp->body, resp->len, JSON_DECODE_ANY, NULL);
    return resp->status;
}

long e2e_http_get(int port, const char *path, struct e2e_http_resp *resp)
{
    return e2e_http(port, "GET", path, NULL, 0, NULL, resp);
}

long e2e_http_post_json(int port, const char *path, const char *body,
                        struct e2e_http_resp *resp)
{
    const char *headers[] = {"Content-Type: application/json", NULL};
    return e2e_http(port, "POST", path, body, strlen(body), headers, resp);
}

void e2e_http_resp_cleanup(struct e2e_http_resp *resp)
{
    sc_free(resp->body);
    json_decref(resp->json);
    memset(resp, 0, sizeof(*resp));
}

bool e2e_wait_http_status(struct e2e *e, int port, const char *path, long want_status,
                          int timeout_ms)
{
    int64_t deadline = e2e_now_ms() + e2e_ms(timeout_ms);
    for (;;) {
        struct e2e_http_resp resp;
        long status = e2e_http_get(port, path, &resp);
        e2e_http_resp_cleanup(&resp);
        if (status == want_status)
            return true;
        if (e2e_now_ms() >= deadline)
            return false;
        for (size_t i = 0; i < e->n_colls; i++)
            e2e_collector_pump(e->colls[i], 0);
        e2e_nap_ms(20);
    }
}

/* Does the label section [labels, labels_end) of a sample contain pair (k="v")? */
static bool e2e_labels_have(const char *labels, const char *labels_end, const char *pair,
                            size_t pair_len)
{
    for (const char *p = labels; p + pair_len <= labels_end; p++) {
        if ((p[-1] == '{' || p[-1] == ',') && strncmp(p, pair, pair_len) == 0 &&
            (p[pair_len] == ',' || p[pair_len] == '}'))
            return true;
    }
    return false;
}

double e2e_metric(const char *metrics_text, const char *series)
{
    /* Split the query into a name and its label pairs. */
    size_t name_len = strcspn(series, "{");
    const char *qlabels = series[name_len] == '{' ? series + name_len + 1 : NULL;
    double sum = 0;
    bool found = false;
    for (const char *line = metrics_text; line && *line;) {
        const char *eol = strchr(line, '\n');
        const char *end = eol ? eol : line + strlen(line);
        if (*line != '#' && (size_t)(end - line) > name_len &&
            strncmp(line, series, name_len) == 0 &&
            (line[name_len] == ' ' || line[name_len] == '{')) {
            const char *labels = line[name_len] == '{' ? line + name_len + 1 : NULL;
            const char *labels_end =
                labels ? memchr(labels, '}', (size_t)(end - labels)) : NULL;
            bool match = true;
            if (qlabels) {
                /* Each query pair k="v" must occur among the sample's labels. */
                const char *q = qlabels;
                while (match && *q && *q != '}') {
                    const char *qe = q;
                    bool in_quotes = false;
                    while (*qe && (in_quotes || (*qe != ',' && *qe != '}'))) {
                        if (*qe == '"' && qe[-1] != '\\')
                            in_quotes = !in_quotes;
                        qe++;
                    }
                    match = labels && labels_end &&
                            e2e_labels_have(labels, labels_end, q, (size_t)(qe - q));
                    q = *qe == ',' ? qe + 1 : qe;
                }
            }
            if (match) {
                const char *value = labels_end ? labels_end + 1 : line + name_len;
                sum += strtod(value, NULL);
                found = true;
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return found ? sum : -1;
}

int e2e_promtool_check(struct e2e *e, const char *text, size_t len)
{
    if (!e2e_on_path("promtool"))
        return -1;
    char *in = e2e_path(e, "metrics.prom");
    char *out = e2e_path(e, "promtool.out");
    e2e_write_file(in, text, len, false);
    char *cmd = sc_asprintf("promtool check metrics < '%s' > '%s' 2>&1", in, out);
    int status = system(cmd);
    int rc = 0;
    if (status != 0) {
        char *report = e2e_read_file(out, NULL);
        fprintf(stderr, "promtool check metrics failed (status %d):\n%s\n", status,
                report ? report : "");
        sc_free(report);
        rc = 1;
    }
    sc_free(cmd);
    sc_free(in);
    sc_free(out);
    return rc;
}

/* ================================================================== Kafka */

/* Set while teardown has killed the broker under live clients: their errors are expected.
 */
static volatile int e2e_kafka_quiet;

static void e2e_kafka_log(const rd_kafka_t *rk, int level, const char *fac,
                          const char *buf)
{
    (void)rk;
    if (level <= 3 && !e2e_kafka_quiet)
        fprintf(stderr, "e2e kafka %s: %s\n", fac, buf);
}

static void e2e_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct e2e *e = opaque;
    if (msg->err) {
        e->produce_failed++;
        snprintf(e->produce_err, sizeof(e->produce_err), "%s",
                 rd_kafka_err2str(msg->err));
    } else {
        e->produced_partition = msg->partition;
        e->produced_offset = msg->offset;
    }
}

void e2e_last_produced(const struct e2e *e, int32_t *partition, int64_t *offset)
{
    *partition = e->produced_partition;
    *offset = e->produced_offset;
}

static void e2e_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        fail_msg("rd_kafka_conf_set %s: %s", key, errstr);
}

void e2e_produce(struct e2e *e, const char *topic, const char *key, const void *value,
                 size_t len, const char *const *headers)
{
    assert_non_null(e->brokers);
    if (!e->producer) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        e2e_conf_set(conf, "bootstrap.servers", e->brokers);
        e2e_conf_set(conf, "client.id", "e2e-producer");
        e2e_conf_set(conf, "linger.ms", "0");
        e2e_conf_set(conf, "acks", "all");
        rd_kafka_conf_set_dr_msg_cb(conf, e2e_dr_cb);
        rd_kafka_conf_set_log_cb(conf, e2e_kafka_log);
        rd_kafka_conf_set_opaque(conf, e);
        char errstr[256];
        e->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!e->producer)
            fail_msg("rd_kafka_new(producer): %s", errstr);
    }
    rd_kafka_headers_t *hdrs = NULL;
    if (headers && headers[0]) {
        hdrs = rd_kafka_headers_new(8);
        for (size_t i = 0; headers[i] && headers[i + 1]; i += 2)
            rd_kafka_header_add(hdrs, headers[i], -1, headers[i + 1], -1);
    }
    e->produce_failed = 0;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        e->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key, key ? strlen(key) : 0), RD_KAFKA_V_VALUE((void *)value, len),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(hdrs);
        fail_msg("produce to %s: %s", topic, rd_kafka_err2str(err));
    }
    err = rd_kafka_flush(e->producer, e2e_ms(15000));
    if (err)
        fail_msg("produce to %s: flush: %s", topic, rd_kafka_err2str(err));
    if (e->produce_failed)
        fail_msg("produce to %s: delivery failed: %s", topic, e->produce_err);
}

/* Number of partitions of topic, from metadata, waiting for the topic to exist. */
static int e2e_partition_count(struct e2e *e, rd_kafka_t *rk, const char *topic)
{
    int64_t deadline = e2e_now_ms() + e2e_ms(15000);
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, e2e_ms(5000));
        int count = 0;
        if (!err) {
            for (int i = 0; i < md->topic_cnt; i++)
                if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
                    count = md->topics[i].partition_cnt;
            rd_kafka_metadata_destroy(md);
        }
        if (count > 0)
            return count;
        if (e2e_now_ms() >= deadline)
            fail_msg("topic %s not found in broker metadata (%s)", topic,
                     err ? rd_kafka_err2str(err) : "absent");
        (void)e;
        e2e_nap_ms(50);
    }
}

struct e2e_collector *e2e_collector_new(struct e2e *e, const char *const *topics)
{
    assert_non_null(e->brokers);
    assert_true(e->n_colls < E2E_MAX_COLLECTORS);
    struct e2e_collector *coll = sc_calloc(1, sizeof(*coll));
    coll->e = e;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char group[64];
    snprintf(group, sizeof(group), "e2e-collector-%d-%zu", (int)getpid(), e->n_colls);
    e2e_conf_set(conf, "bootstrap.servers", e->brokers);
    e2e_conf_set(conf, "client.id", "e2e-collector");
    e2e_conf_set(conf, "group.id", group);
    e2e_conf_set(conf, "enable.auto.commit", "false");
    e2e_conf_set(conf, "enable.auto.offset.store", "false");
    e2e_conf_set(conf, "enable.partition.eof", "false");
    e2e_conf_set(conf, "fetch.wait.max.ms", "10");
    e2e_conf_set(conf, "auto.offset.reset", "earliest");
    rd_kafka_conf_set_log_cb(conf, e2e_kafka_log);
    char errstr[256];
    coll->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!coll->rk) {
        sc_free(coll);
        fail_msg("rd_kafka_new(consumer): %s", errstr);
    }
    e->colls[e->n_colls++] = coll;
    rd_kafka_poll_set_consumer(coll->rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);
    for (size_t t = 0; topics[t]; t++) {
        int count = e2e_partition_count(e, coll->rk, topics[t]);
        for (int p = 0; p < count; p++)
            rd_kafka_topic_partition_list_add(parts, topics[t], p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(coll->rk, parts);
    coll->assigned = parts;
    if (err)
        fail_msg("rd_kafka_assign: %s", rd_kafka_err2str(err));
    return coll;
}

static char *e2e_memdup0(const void *p, size_t len)
{
    if (!p)
        return NULL;
    char *out = sc_malloc(len + 1);
    memcpy(out, p, len);
    out[len] = '\0';
    return out;
}

static void e2e_collector_take(struct e2e_collector *coll, rd_kafka_message_t *rkm)
{
    if (coll->n_msgs == coll->cap_msgs) {
        coll->cap_msgs = coll->cap_msgs ? coll->cap_msgs * 2 : 256;
        coll->msgs = sc_realloc(coll->msgs, coll->cap_msgs * sizeof(*coll->msgs));
    }
    struct e2e_msg *msg = &coll->msgs[coll->n_msgs++];
    memset(msg, 0, sizeof(*msg));
    msg->topic = sc_strdup(rd_kafka_topic_name(rkm->rkt));
    msg->partition = rkm->partition;
    msg->offset = rkm->offset;
    msg->key = e2e_memdup0(rkm->key, rkm->key_len);
    msg->key_len = rkm->key_len;
    msg->value = e2e_memdup0(rkm->payload, rkm->len);
    msg->value_len = rkm->len;
    if (msg->value)
        msg->json = json_loadb(msg->value, msg->value_len, 0, NULL);
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(rkm, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
        size_t n = rd_kafka_header_cnt(hdrs);
        msg->headers = sc_calloc(n ? n : 1, sizeof(*msg->headers));
        const char *name;
        const void *value;
        size_t size;
        for (size_t i = 0;
             i < n && !rd_kafka_header_get_all(hdrs, i, &name, &value, &size); i++) {
            msg->headers[i].name = sc_strdup(name);
            msg->headers[i].value = e2e_memdup0(value, size);
            msg->headers[i].value_len = size;
            msg->n_headers++;
        }
    }
}

void e2e_collector_pump(struct e2e_collector *coll, int timeout_ms)
{
    int wait = timeout_ms;
    for (;;) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(coll->rk, wait);
        if (!rkm)
            return;
        wait = 0;
        if (rkm->err) {
            if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "e2e collector: %s\n", rd_kafka_message_errstr(rkm));
        } else {
            e2e_collector_take(coll, rkm);
        }
        rd_kafka_message_destroy(rkm);
    }
}

size_t e2e_collector_count(const struct e2e_collector *coll)
{
    return coll->n_msgs;
}

const struct e2e_msg *e2e_collector_msg(const struct e2e_collector *coll, size_t i)
{
    return i < coll->n_msgs ? &coll->msgs[i] : NULL;
}

size_t e2e_collector_count_topic(const struct e2e_collector *coll, const char *topic)
{
    size_t n = 0;
    for (size_t i = 0; i < coll->n_msgs; i++)
        if (strcmp(coll->msgs[i].topic, topic) == 0)
            n++;
    return n;
}

const char *e2e_msg_header(const struct e2e_msg *msg, const char *name)
{
    for (size_t i = msg->n_headers; i > 0; i--)
        if (strcmp(msg->headers[i - 1].name, name) == 0)
            return msg->headers[i - 1].value;
    return NULL;
}

const char *e2e_msg_str(const struct e2e_msg *msg, const char *key)
{
    return msg->json ? json_string_value(json_object_get(msg->json, key)) : NULL;
}

const char *e2e_msg_path(const struct e2e_msg *msg, const char *key1, const char *key2)
{
    if (!msg->json)
        return NULL;
    return json_string_value(json_object_get(json_object_get(msg->json, key1), key2));
}

bool e2e_collector_sync(struct e2e_collector *coll, int timeout_ms)
{
    int64_t deadline = e2e_now_ms() + e2e_ms(timeout_ms);
    rd_kafka_topic_partition_list_t *parts = coll->assigned;
    int64_t *high = sc_calloc((size_t)parts->cnt + 1, sizeof(*high));
    bool ok = true;
    for (int i = 0; i < parts->cnt && ok; i++) {
        int64_t low = 0;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        while (err && e2e_now_ms() < deadline)
            err = rd_kafka_query_watermark_offsets(coll->rk, parts->elems[i].topic,
                                                   parts->elems[i].partition, &low,
                                                   &high[i], e2e_ms(5000));
        if (err) {
            fprintf(stderr, "e2e collector: watermarks of %s [%d]: %s\n",
                    parts->elems[i].topic, (int)parts->elems[i].partition,
                    rd_kafka_err2str(err));
            ok = false;
        }
    }
    rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_copy(parts);
    while (ok) {
        e2e_collector_pump(coll, 0);
        rd_kafka_position(coll->rk, pos);
        bool behind = false;
        for (int i = 0; i < pos->cnt && !behind; i++)
            behind = high[i] > 0 && pos->elems[i].offset < high[i];
        if (!behind)
            break;
        if (e2e_now_ms() >= deadline) {
            ok = false;
            break;
        }
        e2e_collector_pump(coll, 10);
    }
    rd_kafka_topic_partition_list_destroy(pos);
    sc_free(high);
    return ok;
}

struct e2e_index *e2e_index_new(struct e2e_collector *coll, const char *topic,
                                const char *key1, const char *key2)
{
    assert_true(coll->n_indexes < E2E_MAX_INDEXES);
    struct e2e_index *idx = sc_calloc(1, sizeof(*idx));
    idx->coll = coll;
    idx->topic = sc_strdup(topic);
    idx->key1 = sc_strdup(key1);
    idx->key2 = key2 ? sc_strdup(key2) : NULL;
    idx->values = e2e_strset_new();
    coll->indexes[coll->n_indexes++] = idx;
    return idx;
}

static void e2e_index_update(struct e2e_index *idx)
{
    for (; idx->scanned < idx->coll->n_msgs; idx->scanned++) {
        const struct e2e_msg *msg = &idx->coll->msgs[idx->scanned];
        if (strcmp(msg->topic, idx->topic) != 0)
            continue;
        idx->messages++;
        const char *value = idx->key2 ? e2e_msg_path(msg, idx->key1, idx->key2)
                                      : e2e_msg_str(msg, idx->key1);
        if (value)
            e2e_strset_add(idx->values, value);
    }
}

size_t e2e_index_distinct(struct e2e_index *idx)
{
    e2e_index_update(idx);
    return e2e_strset_count(idx->values);
}

size_t e2e_index_messages(struct e2e_index *idx)
{
    e2e_index_update(idx);
    return idx->messages;
}

bool e2e_index_has(struct e2e_index *idx, const char *value)
{
    e2e_index_update(idx);
    return e2e_strset_has(idx->values, value);
}

static void e2e_collector_free(struct e2e_collector *coll)
{
    if (!coll)
        return;
    for (size_t i = 0; i < coll->n_indexes; i++) {
        struct e2e_index *idx = coll->indexes[i];
        sc_free(idx->topic);
        sc_free(idx->key1);
        sc_free(idx->key2);
        e2e_strset_free(idx->values);
        sc_free(idx);
    }
    if (coll->assigned)
        rd_kafka_topic_partition_list_destroy(coll->assigned);
    if (coll->rk) {
        rd_kafka_consumer_close(coll->rk);
        rd_kafka_destroy(coll->rk);
    }
    for (size_t i = 0; i < coll->n_msgs; i++) {
        struct e2e_msg *msg = &coll->msgs[i];
        sc_free(msg->topic);
        sc_free(msg->key);
        sc_free(msg->value);
        json_decref(msg->json);
        for (size_t h = 0; h < msg->n_headers; h++) {
            sc_free(msg->headers[h].name);
            sc_free(msg->headers[h].value);
        }
        sc_free(msg->headers);
    }
    sc_free(coll->msgs);
    sc_free(coll);
}

/* ================================================================== conditions */

bool e2e_wait_until(struct e2e *e, e2e_cond_fn cond, void *arg, int timeout_ms)
{
    int64_t deadline = e2e_now_ms() + e2e_ms(timeout_ms);
    for (;;) {
        for (size_t i = 0; i < e->n_colls; i++)
            e2e_collector_pump(e->colls[i], 0);
        if (cond(e, arg))
            return true;
        if (e2e_now_ms() >= deadline)
            return false;
        if (e->n_colls > 0)
            e2e_collector_pump(e->colls[0], 10);
        else
            e2e_nap_ms(10);
    }
}

/* ================================================================== Redis */

redisReply *e2e_redis(struct e2e *e, const char *fmt, ...)
{
    assert_non_null(e->redis_ctx);
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(e->redis_ctx, fmt, ap);
    va_end(ap);
    if (!reply)
        fail_msg("redis command failed: %s", e->redis_ctx->errstr);
    return reply;
}

/* ================================================================== test data */

char *e2e_post_new(const char *platform, const char *post_id, const char *author_id,
                   const char *text)
{
    char id[256];
    snprintf(id, sizeof(id), "%s:%s", platform, post_id);
    char handle[128];
    snprintf(handle, sizeof(handle), "user%s", author_id);
    json_t *post =
        json_pack("{s:i, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:i, s:b}, s:s, s:s, "
                  "s:{s:s, s:s}}",
                  "v", 1, "id", id, "platform", platform, "kind", "mention", "created_at",
                  "2026-11-22T07:33:29Z", "author", "id", author_id, "handle", handle,
                  "followers", 120, "verified", 0, "text", text, "lang", "en", "source",
                  "type", "test", "name", "e2e");
    assert_non_null(post);
    char *dumped = json_dumps(post, JSON_COMPACT);
    json_decref(post);
    assert_non_null(dumped);
    char *out = sc_strdup(dumped);
    free(dumped);
    return out;
}

/* Texts chosen against the skeleton's cue lists: no crisis, spam or bug cue anywhere, no
 * complaint cue in questions or praise, and no digits (a "404" is a bug cue). */
static const char *const e2e_texts[E2E_INTENT_COUNT][4] = {
    {"My parcel never arrived and nobody answers, this is unacceptable",
     "Charged twice for one order and still waiting for a refund, ridiculous",
     "The delivery was late again and the box was damaged, really disappointed",
     "Worst service ever, hours on hold and the agent was rude"},
    {"How do I change the delivery address on my account?",
     "Is there a store near the central station?",
     "When will the spring collection be available online?",
     "Can I pay with a gift card at checkout?"},
    {"Thank you for the quick help today, amazing support",
     "Love the new app design, great job team",
     "Excellent service at the airport desk, kudos to the staff",
     "The best coffee in town, fantastic as always"},
};

const char *e2e_sample_text(enum e2e_intent intent, unsigned n)
{
    return e2e_texts[intent][n % 4];
}

const char *e2e_intent_name(enum e2e_intent intent)
{
    static const char *const names[E2E_INTENT_COUNT] = {"complaint", "question",
                                                        "praise"};
    return names[intent];
}

/* ================================================================== lifecycle */

static const char *const e2e_sanitizer_marks[] = {
    "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
    "runtime error:", "AddressSanitizer:DEADLYSIGNAL", NULL};

/* Prints and counts sanitizer reports in every child's stderr (all runs). */
static int e2e_check_sanitizers(struct e2e *e)
{
    int hits = 0;
    for (size_t i = 0; i < e->n_procs; i++) {
        struct e2e_proc *proc = e->procs[i];
        for (int r = 0; r < proc->runs; r++) {
            char *text = e2e_read_file(proc->err_paths[r], NULL);
            if (!text)
                continue;
            for (size_t m = 0; e2e_sanitizer_marks[m]; m++) {
                const char *hit = strstr(text, e2e_sanitizer_marks[m]);
                if (!hit)
                    continue;
                /* Show from the start of the report's line, up to 6000 bytes. */
                while (hit > text && hit[-1] != '\n')
                    hit--;
                fprintf(stderr, "---- sanitizer report in %s ----\n%.6000s\n",
                        proc->err_paths[r], hit);
                hits++;
                break;
            }
            sc_free(text);
        }
    }
    return hits;
}

static void e2e_kill_all(struct e2e *e)
{
    for (size_t i = e->n_procs; i > 0; i--)
        e2e_kill(e->procs[i - 1]);
}

static void e2e_atexit(void)
{
    if (e2e_current)
        for (size_t i = 0; i < e2e_current->n_procs; i++)
            if (e2e_current->procs[i]->pid > 0)
                kill(e2e_current->procs[i]->pid, SIGKILL);
}

int e2e_setup(void **state)
{
    static bool once;
    if (!once) {
        once = true;
        curl_global_init(CURL_GLOBAL_DEFAULT);
        atexit(e2e_atexit);
        signal(SIGPIPE, SIG_IGN);
    }
    struct e2e *e = sc_calloc(1, sizeof(*e));
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    char *tmpl = sc_asprintf("%s/sc-e2e-%s-XXXXXX", base, program_invocation_short_name);
    if (!mkdtemp(tmpl)) {
        fprintf(stderr, "e2e: mkdtemp %s: %s\n", tmpl, strerror(errno));
        sc_free(tmpl);
        sc_free(e);
        return -1;
    }
    e->tmpdir = tmpl;
    e2e_current = e;
    *state = e;
    return 0;
}

void e2e_finish(struct e2e *e)
{
    /* Services and tools first, all at once (so their drains overlap), then the broker
     * (they must leave their groups while it is up), then Redis. */
    bool running[E2E_MAX_PROCS] = {false};
    for (size_t i = 0; i < e->n_procs; i++) {
        running[i] =
            e->procs[i]->kind == E2E_PROC_SERVICE && e2e_proc_running(e->procs[i]);
        if (running[i])
            kill(e->procs[i]->pid, SIGTERM);
    }
    bool ok = true;
    for (size_t i = e->n_procs; i > 0; i--) {
        struct e2e_proc *proc = e->procs[i - 1];
        if (!running[i - 1])
            continue;
        int status = e2e_stop(proc, 30000);
        if (status != 0) {
            fprintf(stderr, "e2e: %s exited with status %d at shutdown (want 0)\n",
                    proc->name, status);
            e2e_dump_stderr(proc, E2E_TAIL_LINES);
            ok = false;
        }
    }
    for (size_t i = 0; i < e->n_colls; i++) {
        e2e_collector_free(e->colls[i]);
        e->colls[i] = NULL;
    }
    e->n_colls = 0;
    if (e->producer) {
        rd_kafka_flush(e->producer, 1000);
        rd_kafka_destroy(e->producer);
        e->producer = NULL;
    }
    if (e->broker && e2e_proc_running(e->broker)) {
        int status = e2e_stop(e->broker, 30000);
        if (status != 0) {
            fprintf(stderr, "e2e: devbroker exited with status %d at shutdown (want 0)\n",
                    status);
            e2e_dump_stderr(e->broker, E2E_TAIL_LINES);
            ok = false;
        }
    }
    if (e->redis)
        e2e_stop(e->redis, 10000);
    int hits = e2e_check_sanitizers(e);
    e->finished = true;
    if (hits)
        fail_msg("%d sanitizer report(s) in child stderr", hits);
    if (!ok)
        fail_msg("a child did not exit cleanly on SIGTERM");
}

int e2e_teardown(void **state)
{
    struct e2e *e = *state;
    if (!e)
        return 0;
    bool failed = !e->finished;
    e2e_kafka_quiet = 1;
    e2e_kill_all(e);
    int rc = 0;
    if (failed) {
        fprintf(stderr,
                "==== e2e: test body did not finish (failed or skipped); children's "
                "stderr (temp dir %s) ====\n",
                e->tmpdir);
        /* Children that died with a non-zero status first: CI keeps only the head and
         * the tail of a long log, and the abnormal exit is what explains a failure. */
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < e->n_procs; i++) {
                const struct e2e_proc *proc = e->procs[i];
                bool abnormal = proc->last_status > 0;
                if (proc->kind != E2E_PROC_REDIS && abnormal == (pass == 0))
                    e2e_dump_stderr(proc, E2E_TAIL_LINES);
            }
        if (e2e_check_sanitizers(e) > 0)
            rc = -1;
    }
    for (size_t i = 0; i < e->n_colls; i++)
        e2e_collector_free(e->colls[i]);
    if (e->producer)
        rd_kafka_destroy(e->producer);
    if (e->redis_ctx)
        redisFree(e->redis_ctx);
    for (size_t i = 0; i < e->n_procs; i++) {
        struct e2e_proc *proc = e->procs[i];
        for (int r = 0; r < proc->runs; r++) {
            sc_free(proc->out_paths[r]);
            sc_free(proc->err_paths[r]);
        }
        e2e_strv_free(proc->argv);
        e2e_strv_free(proc->env);
        sc_free(proc->ready_needle);
        sc_free(proc->name);
        sc_free(proc);
    }
    if (e2e_env_true("SC_TEST_KEEP")) {
        fprintf(stderr, "e2e: kept temp dir %s\n", e->tmpdir);
    } else {
        nftw(e->tmpdir, e2e_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    sc_free(e->tmpdir);
    sc_free(e->redis_url);
    sc_free(e->brokers);
    if (e2e_current == e)
        e2e_current = NULL;
    e2e_kafka_quiet = 0;
    sc_free(e);
    *state = NULL;
    return rc;
}
