/* Fault suite (issue 8), faults combined in one round: each round runs the full stack of
 * fault_common.h (redis-server, dev broker, the four services, the platform peer),
 * injects several kinds of fault at once, at points of the stream (counts of posts
 * published on posts.inbound, never a sleep), and then checks the same by-id invariants
 * as the single-fault rounds (every post exactly one case update, every reply that should
 * go out delivered once and accepted by the peer exactly once; the COUNTS line).
 *
 * Round a: SIGKILLs of random services (each of the four once, one more at random) while
 * the dev broker returns NOT_LEADER_FOR_PARTITION and REQUEST_TIMED_OUT on Produce and
 * REBALANCE_IN_PROGRESS on OffsetCommit (each error stack pushed just before a SIGKILL,
 * so the restart meets it), and the platform peer answers every 9th post with a 429, a
 * 5xx, a timeout, a reset or an unknown outcome.
 *
 * Round b: the escalation router and the responder scaled 1 -> 3 -> 1; while three of
 * each run, broker 1 goes down and redis-server (AOF) is SIGKILLed, overlapping, then
 * both come back (the order, gap and lengths from the seed).
 *
 * Round c: the department webhooks down for the whole round (every case breaches a 1.2 s
 * SLA) while the platform rate limits the responder (a window of 100 posts a second, and
 * every 250th post request a 429 announcing 2 s as Retry-After seconds, HTTP-date or
 * reset headers); the invariants are checked with the webhooks still down, then they
 * come back and every escalation must reach them exactly once; the responder must never
 * have come back before a time it was given.
 *
 * The random moments come from SC_FAULT_SEED (printed); SC_FAULT_COMBINED (e.g. "ac")
 * runs only some rounds. Bounded (`make test`): SC_FAULT_POSTS (default 2000) per round;
 * `make test-faults` runs 20,000. */
#include "fault_common.h"

#define A_KILLS  5 /* each service once, then one at random */
#define A_PUSHES 3 /* broker error stacks, each followed by a SIGKILL */

static uint64_t base_seed;
static bool seeded;

/* True when round r ('a', 'b', 'c') is to run (SC_FAULT_COMBINED unset = all). */
static bool round_enabled(char r)
{
    const char *v = getenv("SC_FAULT_COMBINED");
    return !v || !*v || strchr(v, r) != NULL;
}

/* The round's random generator, derived from the run's seed (printed once). */
static uint64_t round_rng(char r)
{
    if (!seeded) {
        base_seed = fault_seed("fault_combined");
        seeded = true;
    }
    uint64_t rng = base_seed * 31 + (uint64_t)r;
    fault_rand(&rng, 1);
    return rng;
}

static bool bounded(void)
{
    return fault_posts() < 5000;
}

/* ------------------------------------------------------------------ round a */

struct a_step {
    size_t at;  /* posts published on posts.inbound */
    int victim; /* 0 ingestor, 1 classifier, 2 router, 3 responder */
    int push;   /* broker errors pushed before the SIGKILL: index, or -1 */
};

static int cmp_step(const void *a, const void *b)
{
    size_t x = ((const struct a_step *)a)->at, y = ((const struct a_step *)b)->at;
    return x < y ? -1 : x > y;
}

static void test_kill_broker_platform(void **state)
{
    if (!round_enabled('a'))
        skip();
    struct e2e *e = *state;
    const char *name = "fault_combined a";
    uint64_t rng = round_rng('a');
    static const char *const pushes[A_PUSHES] = {
        "errors 1 Produce NOT_LEADER_FOR_PARTITION*20",
        "errors 1 Produce REQUEST_TIMED_OUT*20:100",
        "errors 1 OffsetCommit REBALANCE_IN_PROGRESS*10",
    };
    static const char *const names[] = {"ingestor", "classifier", "escalation-router",
                                        "responder"};

    /* One request in flight per connection, as in e2e.fault_broker_errors: the mock
     * does not check idempotent producers' sequence numbers (docs/internals/KAFKA.md). */
    const char *service_env[] = {"KAFKA_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION=1", NULL};
    const char *peer_args[] = {"--fault-every",
                               "9",
                               "--faults",
                               "429s,500,timeout,503,reset,502,hang,429r",
                               "--retry-after-s",
                               "2",
                               "--hang-ms",
                               "3000",
                               NULL};
    const char *responder_env[] = {FAULT_RESPONDER_PATIENT, NULL};
    struct fault_opts opts = {.peer_args = peer_args,
                              .responder_env = responder_env,
                              .service_env = service_env,
                              .rate = bounded() ? "200" : NULL};
    struct fault_stack *fs = sc_calloc(1, sizeof(*fs));
    fault_stack_start_opts(e, fs, &opts);

    /* victims: the four services in a random order, then one at random; the kills of
     * the first A_PUSHES victims each come right after a broker error stack, between
     * 10 % and 50 % of the input, the others anywhere in 5 % .. 85 % */
    struct a_step steps[A_KILLS];
    int order[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; i--) {
        int j = (int)fault_rand(&rng, (uint64_t)i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < A_KILLS; i++) {
        steps[i].victim = i < 4 ? order[i] : (int)fault_rand(&rng, 4);
        steps[i].push = i < A_PUSHES ? i : -1;
        size_t lo = (size_t)fs->posts * (i < A_PUSHES ? 10 : 5) / 100;
        size_t span = (size_t)fs->posts * (i < A_PUSHES ? 40 : 80) / 100;
        steps[i].at = lo + (size_t)fault_rand(&rng, span);
    }
    qsort(steps, A_KILLS, sizeof(steps[0]), cmp_step);

    for (int i = 0; i < A_KILLS; i++) {
        size_t seen = fault_wait_input(fs, steps[i].at, FAULT_WAIT);
        if (steps[i].push >= 0)
            fault_ctl(fs, pushes[steps[i].push], name);
        struct e2e_proc *victim = steps[i].victim == 0   ? fs->ingestor
                                  : steps[i].victim == 1 ? fs->classifier[0]
                                  : steps[i].victim == 2 ? fs->router[0]
                                                         : fs->responder[0];
        fprintf(stderr,
                "%s: SIGKILL %d of %d: %s at %zu of %d posts published (%zu with case "
                "events; platform faults injected so far %lld)\n",
                name, i + 1, A_KILLS, names[steps[i].victim], seen, fs->posts,
                e2e_index_distinct(fs->case_ids), fault_peer_stat(fs, "injected"));
        fault_kill_restart(fs, victim);
    }
    /* every injected broker error reached a client (the faults really happened) */
    if (!fault_wait_drained(fs, "Produce", 120000))
        fail_msg("%s: the injected Produce errors were not all returned to clients",
                 name);
    if (!fault_wait_drained(fs, "OffsetCommit", 120000))
        fail_msg("%s: the injected OffsetCommit errors were not all returned to clients",
                 name);
    fprintf(stderr, "%s: every injected broker error was returned to a client\n", name);
    fault_stack_check(fs, name);
}

/* ------------------------------------------------------------------ round b */

static void test_redis_scale_broker(void **state)
{
    if (!round_enabled('b'))
        skip();
    struct e2e *e = *state;
    const char *name = "fault_combined b";
    uint64_t rng = round_rng('b');
    struct fault_opts opts = {.persistent_redis = true, .rate = bounded() ? "60" : NULL};
    struct fault_stack *fs = sc_calloc(1, sizeof(*fs));
    fault_stack_start_opts(e, fs, &opts);

    size_t seen = fault_at_input(fs, 5, name);
    fprintf(stderr, "%s: 1 -> 3 routers and responders at %zu of %d posts published\n",
            name, seen, fs->posts);
    int64_t scaled_at = e2e_now_ms();
    for (int i = 0; i < 2; i++) {
        fault_start_router(fs);
        fault_start_responder(fs);
    }
    fprintf(stderr, "%s: the new replicas started after %lld ms (joining their groups)\n",
            name, (long long)(e2e_now_ms() - scaled_at));

    /* Broker 1 down and Redis SIGKILLed, overlapping, while the partitions move to the
     * new replicas (not waiting for their rebalance keeps this inside the stream on a
     * slow machine): which goes first, how long after it the other follows, and how long
     * each stays down are drawn from the seed (the broker 1.5-4 s, Redis 2-3.5 s); the
     * four events run in the order of their times. */
    enum { BROKER_DOWN, REDIS_KILL, BROKER_UP, REDIS_START };
    static const char *const what[] = {"broker 1 down", "Redis SIGKILL", "broker 1 up",
                                       "Redis restart (AOF)"};
    int64_t when[4];
    int first = (int)fault_rand(&rng, 2); /* BROKER_DOWN or REDIS_KILL */
    when[first] = 0;
    when[1 - first] = 300 + (int64_t)fault_rand(&rng, 1200);
    when[BROKER_UP] = when[BROKER_DOWN] + 1500 + (int64_t)fault_rand(&rng, 2500);
    when[REDIS_START] = when[REDIS_KILL] + 2000 + (int64_t)fault_rand(&rng, 1500);
    int order[4] = {0, 1, 2, 3};
    for (int i = 1; i < 4; i++) /* insertion sort by time */
        for (int j = i; j > 0 && when[order[j]] < when[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    seen = fault_at_input(fs, 20, name);
    fprintf(stderr, "%s: at %zu of %d posts published (%zu with case events):", name,
            seen, fs->posts, e2e_index_distinct(fs->case_ids));
    for (int i = 0; i < 4; i++)
        fprintf(stderr, " %s at +%lld ms%s", what[order[i]], (long long)when[order[i]],
                i < 3 ? "," : "\n");
    int64_t t0 = e2e_now_ms();
    for (int i = 0; i < 4; i++) {
        fault_hold_until(fs, t0 + when[order[i]]);
        switch (order[i]) {
            case BROKER_DOWN:
                fault_ctl(fs, "down 1", name);
                break;
            case BROKER_UP:
                fault_ctl(fs, "up 1", name);
                break;
            case REDIS_KILL:
                fault_redis_kill(fs, name);
                break;
            default:
                e2e_restart_redis(e);
                break;
        }
    }
    /* every router and responder, old and new, is ready (Kafka and Redis reachable,
     * partitions assigned) */
    if (!fault_routers_ready(fs, 200, 60000))
        fail_msg("%s: an escalation router was not ready again after the faults", name);
    for (int i = 0; i < fs->n_responder; i++)
        if (!e2e_wait_http_status(e, e2e_proc_port(fs->responder[i]), "/readyz", 200,
                                  60000))
            fail_msg("%s: responder %d was not ready after the faults", name, i + 1);
    fprintf(stderr,
            "%s: broker 1 and Redis back, every router and responder ready %lld ms after "
            "the first fault (%zu posts with case events)\n",
            name, (long long)(e2e_now_ms() - t0), e2e_index_distinct(fs->case_ids));

    /* Scale down at 60 % of the input (or at once when it is further on): mid-stream
     * on any ordinary machine, but a slow one that let the stream end during the faults
     * only makes this step a quiet-time one (e2e.fault_scale proves it mid-stream). */
    seen = fault_wait_input(fs, (size_t)fs->posts * 60 / 100, FAULT_WAIT);
    fprintf(stderr,
            "%s: 3 -> 1 routers and responders at %zu of %d posts published (%s)\n", name,
            seen, fs->posts,
            e2e_wait_stderr(e, fs->ingestor, "replay finished", 0) ? "replay finished"
                                                                   : "mid-stream");
    for (int i = 2; i >= 1; i--) {
        fault_stop_replica(fs->router[i], name);
        fault_stop_replica(fs->responder[i], name);
    }
    fault_stack_check(fs, name);
}

/* ------------------------------------------------------------------ round c */

struct c_state {
    struct peer *hooks;
};

/* After the common invariants, with the webhooks still down: they were tried and
 * refused, the platform really limited, then the webhooks come back and every
 * escalation reaches them exactly once. */
static void c_check(struct fault_stack *fs, const char *name, void *arg)
{
    struct c_state *c = arg;
    pthread_mutex_lock(&c->hooks->lock);
    int refused = c->hooks->requests;
    long long answered = c->hooks->answered;
    pthread_mutex_unlock(&c->hooks->lock);
    long long limited = fault_peer_stat(fs, "rate_limited");
    long long injected = fault_peer_stat(fs, "injected");
    fprintf(stderr,
            "%s: every post and reply done with the webhooks down: %d webhook requests "
            "refused; the platform answered %lld 429s (%lld of them at its window "
            "limit)\n",
            name, refused, limited, limited - injected);
    if (refused == 0 || answered != 0)
        fail_msg("%s: the webhooks were tried %d times and answered 200 %lld times while "
                 "down",
                 name, refused, answered);
    /* the window limit was really met (429s beyond the injected ones): unhindered, the
     * responder sends faster than 100 a second, and releases deferred replies together */
    if (injected <= 0 || limited - injected <= 0)
        fail_msg("%s: the platform never limited the responder (429s %lld, injected "
                 "%lld)",
                 name, limited, injected);
    peer_set_down(c->hooks, false);
    int64_t up_at = e2e_now_ms();
    size_t breaches = fault_check_webhooks(fs, c->hooks, name);
    fprintf(stderr,
            "%s: %zu escalations delivered within %lld ms of the webhooks' return\n",
            name, breaches, (long long)(e2e_now_ms() - up_at));
    fault_check_not_early(fs, name);
}

static void test_webhooks_down_rate_limited(void **state)
{
    if (!round_enabled('c'))
        skip();
    struct e2e *e = *state;
    const char *name = "fault_combined c";
    char *cfg_env = NULL;
    struct c_state c = {fault_hooks_start_down(e, &cfg_env)};

    const char *peer_args[] = {"--limit",
                               "100",
                               "--window-ms",
                               "1000",
                               "--fault-every",
                               "250",
                               "--faults",
                               "429s,429d,429r",
                               "--retry-after-s",
                               "2",
                               "--early-grace-ms",
                               "1500",
                               NULL};
    const char *responder_env[] = {FAULT_RESPONDER_PATIENT, NULL};
    const char *router_env[] = {cfg_env, FAULT_ROUTER_WEBHOOKS, NULL};
    struct fault_opts opts = {
        .peer_args = peer_args, .responder_env = responder_env, .router_env = router_env};
    struct fault_stack *fs = sc_calloc(1, sizeof(*fs));
    fault_stack_start_opts(e, fs, &opts);
    sc_free(cfg_env);
    fs->extra_check = c_check;
    fs->extra_arg = &c;
    fault_stack_check(fs, name);
    peer_free(c.hooks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill_broker_platform, e2e_setup,
                                        e2e_teardown),
        cmocka_unit_test_setup_teardown(test_redis_scale_broker, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_webhooks_down_rate_limited, e2e_setup,
                                        e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
