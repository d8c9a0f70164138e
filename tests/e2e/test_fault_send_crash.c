/* Fault suite (issue 8), a crash between a platform send and the offset commit: the
 * platform peer accepts a reply and then holds the answer (--hang-first 3 --hang-after
 * A, A chosen at random from the printed seed: the hangs start after A accepted replies,
 * so mid-stream), and each time the responder is SIGKILLed while the peer holds the
 * request: the reply was posted, but neither the sent ledger nor the offset commit
 * happened. The restarted responder consumes the reply again and resends it with the
 * same Idempotency-Key; the peer answers from its first copy. Three such crashes, then
 * the invariants of fault_common.h: every reply that should go out reached the peer
 * exactly once (the three resends are counted as idempotent duplicates). */
#include "fault_common.h"

#define CRASHES 3

static void test_fault_send_crash(void **state)
{
    struct e2e *e = *state;
    uint64_t rng = fault_seed("fault_send_crash");
    /* The replies are acknowledgements: at most two per customer (a complaint, a
     * praise) whatever the stream's length, so start the hangs within the first half of
     * them, or a seed could ask for more accepted replies than will ever exist. */
    long long after = 50 + (long long)fault_rand(&rng, (uint64_t)FAULT_CUSTOMERS - 50);
    char hang_after[32];
    snprintf(hang_after, sizeof(hang_after), "%lld", after);
    const char *peer_args[] = {
        "--hang-first", "3", "--hang-after", hang_after, "--hang-ms", "600000", NULL};
    struct fault_opts opts = {.peer_args = peer_args};
    struct fault_stack *fs = sc_calloc(1, sizeof(*fs));
    fault_stack_start_opts(e, fs, &opts);
    for (int k = 1; k <= CRASHES; k++) {
        if (!fault_wait_peer(fs, "hung", k, FAULT_WAIT))
            fail_msg("crash %d: the peer never held a request", k);
        long long accepted = fault_peer_stat(fs, "accepted");
        size_t seen = e2e_index_distinct(fs->case_ids);
        fprintf(stderr,
                "fault_send_crash: crash %d: SIGKILL of the responder while the peer "
                "holds an accepted reply (%lld accepted, %zu of %d posts with case "
                "events)\n",
                k, accepted, seen, fs->posts);
        fault_kill_restart(fs, fs->responder[0]);
    }
    fs->min_resends = CRASHES; /* each held reply was sent again, same key */
    fault_stack_check(fs, "fault_send_crash");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fault_send_crash, e2e_setup, e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
