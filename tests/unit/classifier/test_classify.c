/* Unit tests of the classifier's keyword rules, influence and personal-data detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "classify.h"

static struct classification run(const char *text, long long followers, bool verified)
{
    struct classification c;
    classifier_classify(text, strlen(text), followers, verified, &c);
    return c;
}

static void test_intents(void **state)
{
    (void)state;
    assert_int_equal(
        run("@Northwind my order never arrived, this is unacceptable", 10, false).intent,
        CLASSIFIER_INTENT_COMPLAINT);
    assert_int_equal(run("How do I change my booking to Friday?", 10, false).intent,
                     CLASSIFIER_INTENT_QUESTION);
    assert_int_equal(run("Thanks @Northwind, the crew was amazing!", 10, false).intent,
                     CLASSIFIER_INTENT_PRAISE);
    assert_int_equal(run("WIN A FREE iPhone!!! click here", 10, false).intent,
                     CLASSIFIER_INTENT_SPAM);
    assert_int_equal(
        run("The app crashes when I open my boarding pass", 10, false).intent,
        CLASSIFIER_INTENT_BUG_REPORT);
    assert_int_equal(
        run("Smoke in the cabin on flight 12, is everyone safe?", 10, false).intent,
        CLASSIFIER_INTENT_CRISIS);
    assert_int_equal(run("Just landed in Oslo.", 10, false).intent,
                     CLASSIFIER_INTENT_OTHER);
}

static void test_sentiment_and_topic(void **state)
{
    (void)state;
    struct classification c = run("I was charged twice, worst service ever", 5, false);
    assert_int_equal(c.sentiment, CLASSIFIER_SENTIMENT_NEGATIVE);
    assert_true(c.sentiment_score < 0);
    assert_string_equal(c.topic, "billing");
    c = run("Love the new lounge, thank you!", 5, false);
    assert_int_equal(c.sentiment, CLASSIFIER_SENTIMENT_POSITIVE);
    c = run("this is terrible and nobody answers", 5, false);
    assert_string_equal(c.topic, "customer_service");
    c = run("nice weather", 5, false);
    assert_string_equal(c.topic, "other");
}

static void test_influence(void **state)
{
    (void)state;
    assert_true(classifier_influence(0, false) == 0.0);
    assert_true(classifier_influence(100, false) < classifier_influence(100000, false));
    assert_true(classifier_influence(100, true) > classifier_influence(100, false));
    assert_true(classifier_influence(1000000000LL, true) <= 1.0);
}

static void test_pii(void **state)
{
    (void)state;
    const char *t = "mail me at jane.doe@example.com please";
    assert_true(classifier_find_pii(t, strlen(t)) & CLASSIFIER_PII_EMAIL);
    t = "hey @Northwind where is it";
    assert_false(classifier_find_pii(t, strlen(t)) & CLASSIFIER_PII_EMAIL);
    t = "my order #A1234567 is late";
    assert_true(classifier_find_pii(t, strlen(t)) & CLASSIFIER_PII_ORDER_NUMBER);
    t = "call me on +1 (555) 010-2030";
    assert_true(classifier_find_pii(t, strlen(t)) & CLASSIFIER_PII_PHONE);
    t = "card 4111 1111 1111 1111 was charged";
    assert_true(classifier_find_pii(t, strlen(t)) & CLASSIFIER_PII_CARD_NUMBER);
    t = "flight 12 was late";
    assert_int_equal(classifier_find_pii(t, strlen(t)), 0);
}

static void test_json(void **state)
{
    (void)state;
    struct classification c = run("my order #A1234567 never arrived", 50000, true);
    json_t *j = classifier_to_json(&c);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "intent")), "complaint");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "sentiment"), "label")),
        "negative");
    json_t *pii = json_object_get(j, "pii");
    assert_int_equal(json_array_size(pii), 1);
    assert_string_equal(json_string_value(json_array_get(pii, 0)), "order_number");
    assert_string_equal(json_string_value(json_object_get(j, "model")),
                        CLASSIFIER_MODEL_NAME);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intents),   cmocka_unit_test(test_sentiment_and_topic),
        cmocka_unit_test(test_influence), cmocka_unit_test(test_pii),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
