/* The classifier's decision: intent, sentiment, department topic, personal data kinds and
 * author influence from a post's text and author, as pure functions over data. This is
 * the walking skeleton's keyword model; the trained linear model replaces the scoring
 * later behind the same interface. */
#ifndef CLASSIFIER_CLASSIFY_H
#define CLASSIFIER_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

enum classifier_intent {
    CLASSIFIER_INTENT_COMPLAINT,
    CLASSIFIER_INTENT_QUESTION,
    CLASSIFIER_INTENT_BUG_REPORT,
    CLASSIFIER_INTENT_PRAISE,
    CLASSIFIER_INTENT_SPAM,
    CLASSIFIER_INTENT_CRISIS,
    CLASSIFIER_INTENT_OTHER,
    CLASSIFIER_INTENT_COUNT
};

enum classifier_sentiment {
    CLASSIFIER_SENTIMENT_NEGATIVE,
    CLASSIFIER_SENTIMENT_NEUTRAL,
    CLASSIFIER_SENTIMENT_POSITIVE,
    CLASSIFIER_SENTIMENT_COUNT
};

/* Kinds of personal data, as bits of classification.pii. */
enum classifier_pii {
    CLASSIFIER_PII_EMAIL = 1 << 0,
    CLASSIFIER_PII_PHONE = 1 << 1,
    CLASSIFIER_PII_ORDER_NUMBER = 1 << 2,
    CLASSIFIER_PII_CARD_NUMBER = 1 << 3,
    CLASSIFIER_PII_COUNT = 4
};

struct classification {
    enum classifier_intent intent;
    enum classifier_sentiment sentiment;
    double sentiment_score; /* -1 .. 1 */
    const char *topic;      /* static department-level topic, "other" when none */
    double confidence;      /* 0 .. 1 */
    double influence;       /* 0 .. 1 */
    unsigned pii;           /* enum classifier_pii bits */
};

#define CLASSIFIER_MODEL_NAME "socialcare-keywords-0.1"

/* @brief Classifies text (UTF-8, len bytes) written by an author with `followers`
 * followers. Pure: no allocation, no I/O. */
void classifier_classify(const char *text, size_t len, long long followers, bool verified,
                         struct classification *out);

/* @brief Influence 0..1 from follower count (log scale) and verification. */
double classifier_influence(long long followers, bool verified);

/* @brief Bits of personal data kinds found in text. */
unsigned classifier_find_pii(const char *text, size_t len);

const char *classifier_intent_name(enum classifier_intent intent);
const char *classifier_sentiment_name(enum classifier_sentiment sentiment);
const char *classifier_pii_name(unsigned bit);

/* @brief Builds the "classification" object of the event schema. @returns a new
 * reference. */
json_t *classifier_to_json(const struct classification *c);

#endif
