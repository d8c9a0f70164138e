/* The classifier's decision: sentiment, intent, department topic, personal-data kinds,
 * influence and the reasons behind them, from a trained linear model (model.h) plus the
 * rules layer (rules.h). A struct classifier is loaded once at start and shared
 * read-only; each thread classifies with its own struct classifier_scratch (no allocation
 * per post). How intent is derived (the datasets carry no intent labels) is in
 * docs/classifier.md: rule > model intent head > question form > sentiment. */
#ifndef CLASSIFIER_CLASSIFY_H
#define CLASSIFIER_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "model.h"
#include "rules.h"
#include "text.h"

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

#define CLASSIFIER_MAX_REASONS 8

struct classifier {
    struct cls_model model;
    struct cls_fused fused; /* the model's heads side by side (the hot path) */
    struct cls_rules rules;
    int h_sentiment; /* model head named "sentiment", or -1 */
    int h_intent;    /* model head named "intent" (labels mapped to intents), or -1 */
    int sent_of[CLS_MAX_CLASSES]; /* sentiment head class -> enum classifier_sentiment */
    int intent_of[CLS_MAX_CLASSES]; /* intent head class -> enum classifier_intent, -1 */
    char reason[CLS_MAX_HEADS][CLS_MAX_CLASSES][2 * CLS_NAME_MAX + 8]; /* model:h=label */
};

/* Per-thread working memory (large: allocate with classifier_scratch_new). */
struct classifier_scratch {
    struct cls_text_scratch text;
    struct cls_features feats;
    struct cls_matcher mt;
};

/* Optional facts about the post: author and engagement for the influence score, and the
 * language the platform gave (NULL or "" = detect it from the text). */
struct classifier_author {
    long long followers;
    bool verified;
    long long likes, reposts, replies;
    const char *lang;
};

struct classification {
    enum classifier_intent intent;
    enum classifier_sentiment sentiment;
    double sentiment_score; /* -1 .. 1: P(positive) - P(negative) */
    const char *topic;      /* department-level topic, "other" when none */
    double confidence;      /* 0 .. 1: probability behind the intent */
    double influence;       /* 0 .. 1 */
    unsigned pii;           /* bit i: kind classifier_pii_name(cl, i) */
    unsigned n_reasons;
    const char *reasons[CLASSIFIER_MAX_REASONS]; /* static strings of the classifier */
    const char *language; /* the platform's (author->lang) or detected; "und" unknown */
    bool language_detected;
};

/* @brief Loads the model file and (when rules_path is non-NULL) the rules file. Any
 * failed check stops with a reason in errstr. @returns 0 or an SC_E* code. */
int classifier_open(struct classifier *cl, const char *model_path, const char *rules_path,
                    char *errstr, size_t errlen);

/* @brief Same from a model image and rules text held in memory (tests). */
int classifier_open_mem(struct classifier *cl, const void *model, size_t model_len,
                        const char *rules_text, char *errstr, size_t errlen);

void classifier_close(struct classifier *cl);

struct classifier_scratch *classifier_scratch_new(const struct classifier *cl);
void classifier_scratch_free(struct classifier_scratch *s);

/* @brief Classifies text (UTF-8, len bytes). No allocation, no I/O.
 * @returns 0, or SC_EPARSE when the text is not valid UTF-8. */
int classifier_classify(const struct classifier *cl, struct classifier_scratch *s,
                        const char *text, size_t len,
                        const struct classifier_author *author,
                        struct classification *out);

/* @brief Influence 0..1 from follower count (log scale), verification and engagement. */
double classifier_influence(const struct classifier_author *author);

const char *classifier_intent_name(enum classifier_intent intent);
const char *classifier_sentiment_name(enum classifier_sentiment sentiment);

/* @brief Name of personal-data kind bit i ("email", "phone", "card_number", then the
 * rules' kinds such as "order_number"). */
const char *classifier_pii_name(const struct classifier *cl, unsigned i);

/* @brief Model name and version for classification.model. */
const char *classifier_model_name(const struct classifier *cl);

/* @brief Builds the "classification" object of the event schema. @returns a new
 * reference. */
json_t *classifier_to_json(const struct classifier *cl, const struct classification *c);

/* @brief Writes the same object as classifier_to_json as compact JSON text into
 *        buf[0 .. cap) (no allocation; numbers with three decimals, always with a
 *        decimal point). Strings are escaped; c->language must be valid UTF-8.
 * @returns the length of the text, or the length it needs when that is >= cap (then
 *          buf holds a truncated prefix), as snprintf. */
size_t classifier_json_write(const struct classifier *cl, const struct classification *c,
                             char *buf, size_t cap);

#endif
