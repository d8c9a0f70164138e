/* Fault suite (issue 8), SIGKILL of each service at random moments: in every round the
 * full stack replays the stream while six SIGKILLs hit the four services (each of the
 * ingestor, classifier, escalation router and responder at least once, two more chosen
 * at random), each at a random point of the stream (a random count of posts published on
 * posts.inbound, between 5 % and 85 % of the input), and every killed service is
 * started again at once. A bounded stream (under 5,000 posts) is paced at 125 posts/s,
 * so that six restarts fit inside it. The moments and victims come from a seeded
 * generator whose seed is printed (SC_FAULT_SEED repeats a run). Afterwards the
 * invariants of fault_common.h hold: every post has exactly one case update and one
 * outcome, every reply that should go out reached the platform peer exactly once. Rounds:
 * SC_FAULT_KILL_ROUNDS (default 1; make test-faults: 4), each its own test case with its
 * own derived seed. */
#include "fault_common.h"

#define KILLS      6
#define MAX_ROUNDS 4

static uint64_t base_seed;
static bool seeded;

static int kill_rounds(void)
{
    const char *v = getenv("SC_FAULT_KILL_ROUNDS");
    int n = v && *v ? atoi(v) : 1;
    return n < 1 ? 1 : n > MAX_ROUNDS ? MAX_ROUNDS : n;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static void kill_round(struct e2e *e, int round)
{
    if (round > kill_rounds())
        skip();
    if (!seeded) {
        base_seed = fault_seed("fault_kill");
        seeded = true;
    }
    uint64_t rng = base_seed * 31 + (uint64_t)round;
    fault_rand(&rng, 1);
    char name[32];
    snprintf(name, sizeof(name), "fault_kill round %d", round);

    struct fault_opts opts = {.rate = fault_posts() < 5000 ? "125" : NULL};
    struct fault_stack *fs = sc_calloc(1, sizeof(*fs));
    fault_stack_start_opts(e, fs, &opts);

    /* victims: the four services in a random order, then two at random */
    int victims[KILLS];
    for (int i = 0; i < 4; i++)
        victims[i] = i;
    for (int i = 3; i > 0; i--) {
        int j = (int)fault_rand(&rng, (uint64_t)i + 1);
        int t = victims[i];
        victims[i] = victims[j];
        victims[j] = t;
    }
    for (int i = 4; i < KILLS; i++)
        victims[i] = (int)fault_rand(&rng, 4);
    size_t at[KILLS];
    size_t lo = (size_t)fs->posts / 20, span = (size_t)fs->posts * 80 / 100;
    for (int i = 0; i < KILLS; i++)
        at[i] = lo + (size_t)fault_rand(&rng, span);
    qsort(at, KILLS, sizeof(at[0]), cmp_size);

    static const char *const names[] = {"ingestor", "classifier", "escalation-router",
                                        "responder"};
    for (int i = 0; i < KILLS; i++) {
        size_t seen = fault_wait_input(fs, at[i], FAULT_WAIT);
        size_t cases = e2e_index_distinct(fs->case_ids);
        struct e2e_proc *victim = victims[i] == 0   ? fs->ingestor
                                  : victims[i] == 1 ? fs->classifier[0]
                                  : victims[i] == 2 ? fs->router[0]
                                                    : fs->responder[0];
        fprintf(stderr,
                "%s: SIGKILL %d of %d: %s at %zu of %d posts published (%zu with case "
                "events)\n",
                name, i + 1, KILLS, names[victims[i]], seen, fs->posts, cases);
        fault_kill_restart(fs, victim);
    }
    fault_stack_check(fs, name);
}

static void test_round1(void **state)
{
    kill_round(*state, 1);
}
static void test_round2(void **state)
{
    kill_round(*state, 2);
}
static void test_round3(void **state)
{
    kill_round(*state, 3);
}
static void test_round4(void **state)
{
    kill_round(*state, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round1, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_round2, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_round3, e2e_setup, e2e_teardown),
        cmocka_unit_test_setup_teardown(test_round4, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
