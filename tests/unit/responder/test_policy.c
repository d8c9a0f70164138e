/* Unit tests of the responder's pure policy: send verdicts and retry timing, platform
 * length counters (X weighted, Mastodon, Bluesky graphemes), thread splitting, personal
 * data, links and money, review rules, quiet mode and the message plan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "alloc.h"
#include "policy.h"

static void test_verdicts(void **state)
{
    (void)state;
    assert_int_equal(responder_verdict(true, 200), SEND_VERDICT_SENT);
    assert_int_equal(responder_verdict(true, 201), SEND_VERDICT_SENT);
    assert_int_equal(responder_verdict(true, 429), SEND_VERDICT_RETRY);
    assert_int_equal(responder_verdict(true, 408), SEND_VERDICT_RETRY);
    assert_int_equal(responder_verdict(true, 503), SEND_VERDICT_RETRY);
    assert_int_equal(responder_verdict(false, 0), SEND_VERDICT_RETRY);
    assert_int_equal(responder_verdict(true, 400), SEND_VERDICT_FAILED);
    assert_int_equal(responder_verdict(true, 403), SEND_VERDICT_FAILED);
    assert_true(policy_x_duplicate(
        403, "{\"detail\":\"You are not allowed to create a Tweet with duplicate "
             "content.\"}"));
    assert_false(policy_x_duplicate(403, "{\"detail\":\"Forbidden\"}"));
    assert_false(policy_x_duplicate(200, "duplicate"));
    assert_true(policy_bluesky_duplicate(
        400, "{\"error\":\"InvalidRequest\",\"message\":\"Record already exists\"}"));
    assert_false(policy_bluesky_duplicate(400, "{\"error\":\"InvalidRequest\"}"));
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(responder_backoff_ms(1, -1), 200);
    assert_int_equal(responder_backoff_ms(2, -1), 400);
    assert_int_equal(responder_backoff_ms(3, -1), 800);
    assert_int_equal(responder_backoff_ms(30, -1), 10000);
    assert_int_equal(responder_backoff_ms(1, 3), 3000);     /* Retry-After wins */
    assert_int_equal(responder_backoff_ms(1, 3600), 60000); /* but is capped */
    assert_int_equal(responder_backoff_ms(10, 0), 10000);
}

static void test_x_length(void **state)
{
    (void)state;
    assert_int_equal(policy_x_length("hello"), 5);
    assert_int_equal(policy_x_length(""), 0);
    /* CJK weighs 2 */
    assert_int_equal(policy_x_length("\xe4\xbd\xa0\xe5\xa5\xbd"), 4); /* 你好 */
    /* Latin-1 and Cyrillic weigh 1 */
    assert_int_equal(policy_x_length("caf\xc3\xa9"), 4);
    /* any URL is 23 */
    assert_int_equal(policy_x_length("see https://example.com/a/very/long/path/"
                                     "that/goes/on/and/on/and/on/and/on"),
                     4 + 23);
    assert_int_equal(policy_x_length("http://x.io"), 23);
    /* emoji 2; a ZWJ family and a skin tone count once */
    assert_int_equal(policy_x_length("\xf0\x9f\x98\x80"), 2);
    assert_int_equal(policy_x_length("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"), 2);
    assert_int_equal(policy_x_length("\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd"), 2);
    char buf[600];
    memset(buf, 'a', 280);
    buf[280] = '\0';
    assert_int_equal(policy_length(POLICY_X, buf), 280);
    /* 141 CJK characters = 282 > 280 */
    buf[0] = '\0';
    for (int i = 0; i < 141; i++)
        strcat(buf, "\xe4\xbd\xa0");
    assert_int_equal(policy_x_length(buf), 282);
}

static void test_mastodon_length(void **state)
{
    (void)state;
    assert_int_equal(policy_mastodon_length("hello"), 5);
    assert_int_equal(policy_mastodon_length("\xe4\xbd\xa0\xe5\xa5\xbd"), 2);
    assert_int_equal(policy_mastodon_length("@jane@mastodon.social hi"), 8);
    assert_int_equal(
        policy_mastodon_length("go https://example.org/a/b/c/d/e/f/g/h/i/j/k"), 3 + 23);
}

static void test_graphemes(void **state)
{
    (void)state;
    assert_int_equal(policy_graphemes("abc"), 3);
    assert_int_equal(policy_graphemes("e\xcc\x81"), 1); /* e + acute */
    assert_int_equal(policy_graphemes("\xf0\x9f\x87\xab\xf0\x9f\x87\xb7"), 1); /* FR */
    assert_int_equal(policy_graphemes("\xf0\x9f\x87\xab\xf0\x9f\x87\xb7"
                                      "\xf0\x9f\x87\xa9\xf0\x9f\x87\xaa"),
                     2); /* FR DE */
    assert_int_equal(
        policy_graphemes("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d"
                         "\xf0\x9f\x91\xa7"),
        1); /* family ZWJ sequence */
    assert_int_equal(policy_graphemes("\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd"), 1);
    assert_int_equal(policy_graphemes("\xe0\xa4\xa8\xe0\xa4\xbf"), 1); /* नि */
    assert_int_equal(policy_graphemes("a\r\nb"), 3);
    assert_int_equal(policy_codepoints("e\xcc\x81"), 2);
}

static void test_split(void **state)
{
    (void)state;
    char text[1200] = "";
    for (int i = 0; i < 100; i++)
        strcat(text, "word1234 "); /* 900 characters */
    char *parts[8];
    size_t n = policy_split(POLICY_X, text, 280, 4, parts);
    assert_int_equal(n, 4);
    size_t words = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(policy_x_length(parts[i]) <= 280);
        char suffix[32];
        snprintf(suffix, sizeof(suffix), "(%d/4)", (int)i + 1);
        assert_non_null(strstr(parts[i], suffix));
        for (const char *p = parts[i]; (p = strstr(p, "word1234")); p++)
            words++;
        sc_free(parts[i]);
    }
    assert_int_equal(words, 100); /* nothing lost */
    /* too long for 2 parts of 280 */
    assert_int_equal(policy_split(POLICY_X, text, 280, 2, parts), 0);
    /* one long word is cut, not lost */
    char word[700];
    memset(word, 'z', 600);
    word[600] = '\0';
    n = policy_split(POLICY_MASTODON, word, 500, 4, parts);
    assert_int_equal(n, 2);
    assert_int_equal(strspn(parts[0], "z") + strspn(parts[1], "z"), 600);
    sc_free(parts[0]);
    sc_free(parts[1]);
}

/* Parts filled word by word stay within the limit also where the platform's count is not
 * additive (a word that starts with a combining mark or ends with a ZWJ joins the space),
 * and a long text at a large limit is split without losing a word. */
static void test_split_joins_and_long(void **state)
{
    (void)state;
    char text[4096] = "";
    for (int i = 0; i < 30; i++) /* "ab" + combining acute, "c" + ZWJ, a heavy emoji */
        strcat(text, "ab Ìx câ ðð½ ");
    char *parts[8];
    enum policy_platform platforms[] = {POLICY_X, POLICY_MASTODON, POLICY_BLUESKY};
    for (size_t p = 0; p < 3; p++) {
        size_t n = policy_split(platforms[p], text, 120, 8, parts);
        assert_true(n >= 2);
        for (size_t i = 0; i < n; i++) {
            assert_true(policy_length(platforms[p], parts[i]) <= 120);
            sc_free(parts[i]);
        }
    }
    size_t words = 20000, len = words * 7;
    char *big = sc_malloc(len + 1);
    for (size_t i = 0; i < words; i++)
        memcpy(big + 7 * i, "abcdef ", 7);
    big[len] = '\0';
    size_t n = policy_split(POLICY_GENERIC, big, 50000, 4, parts);
    assert_int_equal(n, 3);
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(policy_length(POLICY_GENERIC, parts[i]) <= 50000);
        for (const char *q = parts[i]; (q = strstr(q, "abcdef")); q++)
            found++;
        sc_free(parts[i]);
    }
    assert_int_equal(found, words);
    sc_free(big);
}

static void test_personal_data(void **state)
{
    (void)state;
    assert_int_equal(policy_personal_data("Thanks, we are on it!"), 0);
    assert_int_equal(policy_personal_data("write to jane.doe@example.com please"),
                     POLICY_PII_EMAIL);
    assert_int_equal(policy_personal_data("@jane thanks"), 0); /* a mention */
    assert_int_equal(policy_personal_data("call +1 (415) 555-0134 today"),
                     POLICY_PII_PHONE);
    assert_int_equal(policy_personal_data("call 0151 2345 6789"), POLICY_PII_PHONE);
    assert_int_equal(policy_personal_data("your order #A1234567 shipped"),
                     POLICY_PII_ORDER);
    assert_int_equal(policy_personal_data("booking number: XK45TZ9 is confirmed"),
                     POLICY_PII_ORDER);
    assert_int_equal(policy_personal_data("card 4111 1111 1111 1111 was charged"),
                     POLICY_PII_CARD);
    assert_int_equal(policy_personal_data("we fixed it in 2 hours on 2026-11-22"), 0);
    assert_int_equal(policy_personal_data("it costs $1,000,000 or 12 EUR"), 0);
    assert_int_equal(policy_personal_data("your order is on its way"), 0);
    /* the case reference in an acknowledgement is not a phone number */
    assert_int_equal(
        policy_personal_data("We've opened case c-bluesky:3002493414 for you"), 0);
    assert_int_equal(policy_personal_data("ticket ref_2024123456 is open"), 0);
    assert_int_equal(policy_personal_data("call tel:4155550134"), POLICY_PII_PHONE);
    assert_int_equal(policy_personal_data("call me: 415-555-0134"), POLICY_PII_PHONE);
    assert_string_equal(policy_pii_name(POLICY_PII_CARD), "card");
}

static void test_links_money(void **state)
{
    (void)state;
    assert_true(policy_has_link("see https://help.example.com"));
    assert_true(policy_has_link("see www.example.com"));
    assert_false(policy_has_link("see the help page"));
    assert_true(policy_has_money("a refund of $25"));
    assert_true(policy_has_money("a refund of 25 EUR"));
    assert_true(policy_has_money("a refund of 25\xe2\x82\xac"));
    assert_true(policy_has_money("\xc2\xa3"
                                 "3.50 back"));
    assert_true(policy_has_money("100 dollars"));
    assert_false(policy_has_money("we answer within 2 hours"));
    assert_false(policy_has_money("$HOME is not money"));
}

static void test_quiet(void **state)
{
    (void)state;
    assert_true(policy_quiet("auto", 1000, 2000, 0));
    assert_true(policy_quiet("scheduled", 1000, 0, 5000));
    assert_false(policy_quiet("auto", 3000, 2000, 0)); /* ended */
    assert_false(policy_quiet("agent:42", 1000, 2000, 2000));
    assert_false(policy_quiet("auto", 1000, 0, 0));
    assert_true(policy_is_automatic("auto"));
    assert_false(policy_is_automatic("agent:7"));
}

static struct policy_input input(enum policy_platform p, const char *text)
{
    struct policy_input in = {
        .platform = p, .text = text, .origin = "auto", .handle = "jane"};
    return in;
}

static void test_plan_simple(void **state)
{
    (void)state;
    struct policy_plan plan;
    struct policy_input in = input(POLICY_X, "We are looking into it.");
    in.signature = "^JS";
    in.origin = "agent:7";
    policy_decide(&in, &policy_default_limits, &plan);
    assert_int_equal(plan.outcome, POLICY_SEND);
    assert_int_equal(plan.n_msgs, 1);
    assert_false(plan.msgs[0].dm);
    assert_string_equal(plan.msgs[0].text, "@jane We are looking into it. ^JS");
    policy_plan_free(&plan);

    /* mention already present, signature already there: unchanged */
    in.text = "Hi @Jane, on it ^JS";
    policy_decide(&in, &policy_default_limits, &plan);
    assert_string_equal(plan.msgs[0].text, "Hi @Jane, on it ^JS");
    policy_plan_free(&plan);

    in.text = "  ";
    policy_decide(&in, &policy_default_limits, &plan);
    assert_int_equal(plan.outcome, POLICY_REJECT);
    assert_int_equal(plan.n_msgs, 0);
}

static void test_plan_review(void **state)
{
    (void)state;
    struct policy_plan plan;
    struct {
        const char *text, *intent;
        bool requires_review, influencer, sensitive, first;
        const char *reason;
    } cases[] = {
        {"Sorry about that", NULL, true, false, false, false, "flagged_for_review"},
        {"Sorry about that", "crisis", false, false, false, false, "crisis"},
        {"Sorry about that", "complaint", false, true, false, false,
         "influencer_complaint"},
        {"See https://help.example.com", NULL, false, false, false, false, "link"},
        {"You get $20 back", NULL, false, false, false, false, "money_amount"},
        {"Sorry about that", NULL, false, false, true, true, "sensitive_first_reply"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct policy_input in = input(POLICY_MASTODON, cases[i].text);
        in.intent = cases[i].intent;
        in.requires_review = cases[i].requires_review;
        in.influencer = cases[i].influencer;
        in.sensitive = cases[i].sensitive;
        in.first_auto_reply = cases[i].first;
        policy_decide(&in, &policy_default_limits, &plan);
        assert_int_equal(plan.outcome, POLICY_HOLD);
        assert_string_equal(plan.reason, cases[i].reason);
        assert_int_equal(plan.n_msgs, 0);
        /* approval lets it through */
        in.approved = true;
        policy_decide(&in, &policy_default_limits, &plan);
        assert_int_equal(plan.outcome, POLICY_SEND);
        policy_plan_free(&plan);
    }
    /* a sensitive topic is fine after the first automatic reply; agents' links too */
    struct policy_input in = input(POLICY_MASTODON, "Sorry about that");
    in.sensitive = true;
    policy_decide(&in, &policy_default_limits, &plan);
    assert_int_equal(plan.outcome, POLICY_SEND);
    policy_plan_free(&plan);
    in = input(POLICY_MASTODON, "See https://help.example.com");
    in.origin = "agent:3";
    policy_decide(&in, &policy_default_limits, &plan);
    assert_int_equal(plan.outcome, POLICY_SEND);
    policy_plan_free(&plan);
}

static void test_plan_personal_data(void **state)
{
    (void)state;
    struct policy_plan plan;
    struct policy_input in = input(POLICY_X, "Your order #A1234567 ships today");
    in.origin = "agent:1";
    policy_decide(&in, &policy_default_limits, &plan);
    assert_int_equal(plan.outcome, POLICY_SEND);
    assert_int_equal(plan.n_msgs, 2);
    assert_true(plan.msgs[0].dm);
    assert_non_null(strstr(plan.msgs[0].text, "A1234567"));
    assert_false(plan.msgs[1].dm);
    assert_null(strstr(plan.msgs[1].text, "A1234567"));
    assert_non_null(strstr(plan.msgs[1].text, "@jane"));
    assert_non_null(strstr(plan.msgs[1].text, "direct message"));
    assert_int_equal(policy_personal_data(plan.msgs[1].text), 0);
    policy_plan_free(&plan);

    /* Bluesky: a chat message (no mention in it), then the public invitation */
    in.platform = POLICY_BLUESKY;
    policy_decide(&in, &policy_default_limits, &plan);
    assert_int_equal(plan.outcome, POLICY_SEND);
    assert_int_equal(plan.n_msgs, 2);
    assert_true(plan.msgs[0].dm);
    assert_non_null(strstr(plan.msgs[0].text, "A1234567"));
    assert_null(strstr(plan.msgs[0].text, "@jane"));
    assert_false(plan.msgs[1].dm);
    assert_null(strstr(plan.msgs[1].text, "A1234567"));
    policy_plan_free(&plan);

    /* a webhook platform has no direct messages: held */
    in.platform = POLICY_GENERIC;
    policy_decide(&in, &policy_default_limits, &plan);
    assert_int_equal(plan.outcome, POLICY_HOLD);
    assert_string_equal(plan.reason, "personal_data_in_public: order");

    /* a DM may carry it */
    in.platform = POLICY_X;
    in.dm = true;
    policy_decide(&in, &policy_default_limits, &plan);
    assert_int_equal(plan.outcome, POLICY_SEND);
    assert_int_equal(plan.n_msgs, 1);
    assert_true(plan.msgs[0].dm);
    policy_plan_free(&plan);
}

static void test_plan_length(void **state)
{
    (void)state;
    char text[2000] = "";
    for (int i = 0; i < 60; i++)
        strcat(text, "longer words here "); /* 1080 */
    struct policy_plan plan;
    struct policy_input in = input(POLICY_MASTODON, text);
    in.origin = "agent:1";
    policy_decide(&in, &policy_default_limits, &plan);
    assert_int_equal(plan.outcome, POLICY_SEND);
    assert_int_equal(plan.n_msgs, 3);
    for (size_t i = 0; i < plan.n_msgs; i++)
        assert_true(policy_mastodon_length(plan.msgs[i].text) <= 500);
    assert_int_equal(strncmp(plan.msgs[0].text, "@jane ", 6), 0);
    policy_plan_free(&plan);

    /* threads off: held, never truncated */
    struct policy_limits lim = policy_default_limits;
    lim.thread_max_parts = 1;
    policy_decide(&in, &lim, &plan);
    assert_int_equal(plan.outcome, POLICY_HOLD);
    assert_string_equal(plan.reason, "too_long: mastodon counts 1086 of 500");

    /* a configured server limit */
    lim.mastodon_max = 5000;
    policy_decide(&in, &lim, &plan);
    assert_int_equal(plan.outcome, POLICY_SEND);
    assert_int_equal(plan.n_msgs, 1);
    policy_plan_free(&plan);

    /* Bluesky counts graphemes: 300 flags (600 code points) fit */
    char flags[3000] = "";
    for (int i = 0; i < 290; i++)
        strcat(flags, "\xf0\x9f\x87\xab\xf0\x9f\x87\xb7");
    in = input(POLICY_BLUESKY, flags);
    in.handle = NULL;
    in.origin = "agent:1";
    lim = policy_default_limits;
    lim.thread_max_parts = 1;
    policy_decide(&in, &lim, &plan);
    assert_int_equal(plan.outcome, POLICY_SEND);
    policy_plan_free(&plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_x_length),
        cmocka_unit_test(test_mastodon_length),
        cmocka_unit_test(test_graphemes),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_split_joins_and_long),
        cmocka_unit_test(test_personal_data),
        cmocka_unit_test(test_links_money),
        cmocka_unit_test(test_quiet),
        cmocka_unit_test(test_plan_simple),
        cmocka_unit_test(test_plan_review),
        cmocka_unit_test(test_plan_personal_data),
        cmocka_unit_test(test_plan_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
