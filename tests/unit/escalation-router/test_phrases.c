/* Unit tests of recurring-phrase detection: key phrase extraction (bigrams of content
 * words, lower-cased, stop words removed, words that may be personal data left out and
 * never joined across, duplicates and the per-post cap), the stop-word table's order,
 * the check points and the spike decision, and a simulation of the counter over
 * synthetic bucket streams: a phrase that spikes inside a steady topic is found within
 * the window, steady phrases (frequent or rare) never are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "phrases.h"

static size_t extract(const char *text, struct router_phrase *out, size_t max)
{
    memset(out, 0, sizeof(*out) * ROUTER_PHRASE_MAX);
    return router_phrases_extract(text, out, max);
}

static void test_extract(void **state)
{
    (void)state;
    struct router_phrase ph[ROUTER_PHRASE_MAX];
    assert_int_equal(extract("The App login ERROR again!!", ph, 3), 2);
    assert_string_equal(ph[0].text, "app login");
    assert_string_equal(ph[1].text, "login error");
    assert_true(ph[0].hash != ph[1].hash);

    /* same phrase, same hash, whatever the case and punctuation around it */
    struct router_phrase other[ROUTER_PHRASE_MAX];
    assert_int_equal(extract("app, LOGIN... and nothing", other, 3), 2);
    assert_string_equal(other[0].text, "app login");
    assert_true(other[0].hash == ph[0].hash);
    assert_string_equal(other[1].text, "login nothing"); /* "and" is a stop word */

    /* order numbers, e-mail addresses, handles, URLs break the chain and never appear */
    assert_int_equal(extract("order 12345 refund jane@example.com missing @bob "
                             "https://x.example/y parcel",
                             ph, 8),
                     0);
    assert_int_equal(extract("refund missing #A77 parcel lost", ph, 8), 2);
    assert_string_equal(ph[0].text, "refund missing");
    assert_string_equal(ph[1].text, "parcel lost");

    /* duplicates once; the cap */
    assert_int_equal(extract("battery drain battery drain battery drain", ph, 8), 2);
    assert_string_equal(ph[0].text, "battery drain");
    assert_string_equal(ph[1].text, "drain battery");
    assert_int_equal(extract("alpha beta gamma delta epsilon zeta", ph, 2), 2);
    assert_string_equal(ph[1].text, "beta gamma");
    assert_int_equal(extract("alpha beta gamma delta epsilon zeta", ph, 0), 0);
    assert_int_equal(
        extract("alpha beta gamma delta epsilon zeta eta theta iota kappa", ph, 100),
        ROUTER_PHRASE_MAX);

    /* nothing to pair */
    assert_int_equal(extract(NULL, ph, 3), 0);
    assert_int_equal(extract("", ph, 3), 0);
    assert_int_equal(extract("broken", ph, 3), 0);
    assert_int_equal(extract("it is on the way to me", ph, 3), 0);
    /* words too long to be words are left out */
    assert_int_equal(extract("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa screen flicker", ph, 3),
                     1);
    assert_string_equal(ph[0].text, "screen flicker");
    /* UTF-8 words are kept as they are */
    assert_int_equal(extract("Lieferung verspätet", ph, 3), 1);
    assert_string_equal(ph[0].text, "lieferung verspätet");
}

static void test_stop_words(void **state)
{
    (void)state;
    const char *const *w;
    size_t n = router_phrase_stop_words(&w);
    assert_true(n > 50);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(w[i - 1], w[i]) < 0); /* sorted, no duplicates (bsearch) */
    for (size_t i = 0; i < n; i++)
        assert_true(router_phrase_stop_word(w[i]));
    assert_false(router_phrase_stop_word("login"));
    assert_false(router_phrase_stop_word(""));
}

static void test_check_points(void **state)
{
    (void)state;
    assert_int_equal(router_phrase_step(15, 3), 2);
    assert_int_equal(router_phrase_step(20, 5), 2);
    assert_int_equal(router_phrase_step(3, 5), 1);
    assert_int_equal(router_phrase_step(100, 0), 100);
    /* step 2: check points 2, 4, 8, 16, ... */
    assert_true(router_phrase_check_due(0, 2, 2));
    assert_true(router_phrase_check_due(1, 2, 2));
    assert_false(router_phrase_check_due(0, 1, 2));
    assert_false(router_phrase_check_due(2, 3, 2));
    assert_true(router_phrase_check_due(3, 4, 2));
    assert_false(router_phrase_check_due(4, 7, 2));
    assert_true(router_phrase_check_due(7, 40, 2)); /* one batch passing several */
    assert_false(router_phrase_check_due(40, 63, 2));
    assert_true(router_phrase_check_due(63, 64, 2));
    assert_false(router_phrase_check_due(5, 5, 2));
    assert_true(router_phrase_check_due(0, 1, 0)); /* step at least 1 */
}

static void test_decision(void **state)
{
    (void)state;
    /* a new phrase: the minimum decides */
    assert_false(router_phrase_spike(14, 0, 10, 3, 4, 15));
    assert_true(router_phrase_spike(15, 0, 10, 3, 4, 15));
    /* a frequent phrase: 4/bucket over 10 history buckets, window of 3 -> needs 48 */
    assert_false(router_phrase_spike(47, 40, 10, 3, 4, 15));
    assert_true(router_phrase_spike(48, 40, 10, 3, 4, 15));
    /* nothing learned yet: never */
    assert_false(router_phrase_spike(1000, 0, 0, 3, 4, 15));
}

/* The counter of incidents.c's script for one phrase, over bucket counts (one batch per
 * bucket, counted in `per_batch` steps): returns the bucket at which it first opens, or
 * -1. Uses the same pure rules, with the script's history of min(H, seen - N) buckets. */
static int simulate(const long long *buckets_in, int n_buckets, int per_batch)
{
    enum { N = 3, H = 10, MIN = 15 };
    const double factor = 4;
    long long step = router_phrase_step(MIN, N);
    long long counts[64] = {0};
    for (int b = 0; b < n_buckets; b++) {
        int seen = b; /* finished buckets */
        int hn = seen - N < H ? seen - N : H;
        long long c = 0;
        for (int k = 0; k < per_batch; k++) {
            long long add = buckets_in[b] / per_batch + (k < buckets_in[b] % per_batch);
            long long before = c;
            c += add;
            counts[b] = c;
            if (add == 0 || hn <= 0 || !router_phrase_check_due(before, c, step))
                continue;
            long long w = 0, hist = 0;
            for (int x = b - N + 1; x <= b; x++)
                w += x >= 0 ? counts[x] : 0;
            for (int x = b - N - hn + 1; x <= b - N; x++)
                hist += x >= 0 ? counts[x] : 0;
            if (router_phrase_spike(w, hist, hn, N, factor, MIN))
                return b;
        }
    }
    return -1;
}

static void test_simulation(void **state)
{
    (void)state;
    /* steady frequent phrase (12 per bucket, e.g. "customer service"): never */
    long long steady[30];
    for (int i = 0; i < 30; i++)
        steady[i] = 12;
    assert_int_equal(simulate(steady, 30, 4), -1);
    /* rare varied phrases (0-3 per bucket): never */
    long long rare[30];
    for (int i = 0; i < 30; i++)
        rare[i] = (i * 7) % 4;
    assert_int_equal(simulate(rare, 30, 4), -1);
    /* a new phrase bursting inside the steady topic: found in its own bucket */
    long long burst[30] = {0};
    burst[12] = 40;
    assert_int_equal(simulate(burst, 30, 4), 12);
    /* a sustained spike at 8 per bucket (window 24 >= 15): found within the window */
    long long ramp[30] = {0};
    for (int i = 12; i < 30; i++)
        ramp[i] = 8;
    int at = simulate(ramp, 30, 2);
    assert_true(at >= 12 && at <= 12 + 3);
    /* the same spike on top of a frequent phrase's level is not enough */
    long long high[30];
    for (int i = 0; i < 30; i++)
        high[i] = i >= 12 ? 20 : 12;
    assert_int_equal(simulate(high, 30, 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extract),      cmocka_unit_test(test_stop_words),
        cmocka_unit_test(test_check_points), cmocka_unit_test(test_decision),
        cmocka_unit_test(test_simulation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
