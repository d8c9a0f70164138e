/* Keyword rules for the walking skeleton: each intent has cue phrases; the text is folded
 * to lower-case ASCII in a stack buffer once, then cues are matched as substrings.
 * Sentiment is the balance of positive and negative cue words. */
#include "classify.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#define CLASSIFIER_TEXT_MAX 8192

static const char *const intent_names[CLASSIFIER_INTENT_COUNT] = {
    "complaint", "question", "bug_report", "praise", "spam", "crisis", "other"};
static const char *const sentiment_names[CLASSIFIER_SENTIMENT_COUNT] = {
    "negative", "neutral", "positive"};

const char *classifier_intent_name(enum classifier_intent intent)
{
    return (unsigned)intent < CLASSIFIER_INTENT_COUNT ? intent_names[intent] : "other";
}

const char *classifier_sentiment_name(enum classifier_sentiment sentiment)
{
    return (unsigned)sentiment < CLASSIFIER_SENTIMENT_COUNT ? sentiment_names[sentiment]
                                                            : "neutral";
}

const char *classifier_pii_name(unsigned bit)
{
    switch (bit) {
        case CLASSIFIER_PII_EMAIL:
            return "email";
        case CLASSIFIER_PII_PHONE:
            return "phone";
        case CLASSIFIER_PII_ORDER_NUMBER:
            return "order_number";
        case CLASSIFIER_PII_CARD_NUMBER:
            return "card_number";
        default:
            return "unknown";
    }
}

/* Cue lists. A NULL ends each list. */
static const char *const cues_crisis[] = {
    "smoke in the cabin", "emergency landing", "fire",      "injured", "evacuat",
    "is everyone safe",   "food poisoning",    "explosion", NULL};
static const char *const cues_spam[] = {
    "click here", "win a free",     "free iphone",     "crypto",
    "giveaway",   "follow back",    "bit.ly/",         "dm for promo",
    "claim your", "click the link", "earn $",          "work from home",
    "dm me",      "free flights",   "congratulations", NULL};
static const char *const cues_bug[] = {
    "crash",         "bug",        "error code",     "doesn't load",
    "does not load", "won't load", "keeps freezing", "broken link",
    "404",           "glitch",     "error 500",      "unknown error",
    "error message", NULL};
static const char *const cues_complaint[] = {
    "worst",        "terrible",      "awful",         "still waiting", "never arrived",
    "delayed",      "delay",         "lost",          "charged twice", "double charged",
    "refund",       "cancelled",     "canceled",      "rude",          "unacceptable",
    "disappointed", "hours on hold", "no one",        "nobody",        "broken",
    "damaged",      "missing",       "late",          "ridiculous",    "fix this",
    "angry",        "horrible",      "still nothing", "not happy",     "money back",
    "frustrated",   "fed up",        "still no",      "waste of",      NULL};
static const char *const cues_praise[] = {
    "thank",     "amazing",   "love",      "great job",  "awesome",
    "best",      "excellent", "wonderful", "kudos",      "shout out",
    "fantastic", "well done", "smooth",    "appreciate", NULL};
static const char *const cues_question[] = {
    "how do i", "how can i",   "can i ",    "is there", "what is", "when will",
    "where is", "does anyone", "could you", "do you",   NULL};
static const char *const cues_negative[] = {
    "worst",         "terrible",      "awful",      "hate",     "angry",
    "unacceptable",  "disappointed",  "ridiculous", "horrible", "never",
    "lost",          "delayed",       "rude",       "broken",   "crash",
    "charged twice", "still waiting", "damaged",    "missing",  "frustrated",
    "not happy",     "fed up",        NULL};
static const char *const cues_positive[] = {
    "thank",     "amazing",   "love",  "great",     "awesome", "best",
    "excellent", "wonderful", "happy", "fantastic", NULL};

struct topic_rule {
    const char *topic;
    const char *const cues[10];
};

static const struct topic_rule topic_rules[] = {
    {"billing",
     {"charged", "charge", "refund", "invoice", "bill", "payment", "price", NULL}},
    {"shipping",
     {"delivery", "deliver", "package", "parcel", "shipping", "shipped", "order",
      "tracking", NULL}},
    {"technical_support",
     {"app", "crash", "bug", "website", "error", "glitch", "load", NULL}},
    {"accounts",
     {"account", "password", "login", "log in", "locked out", "sign in", NULL}},
    {"flight_operations",
     {"flight", "delayed", "cancelled", "canceled", "gate", "pilot", NULL}},
    {"baggage", {"bag", "luggage", "suitcase", NULL}},
};

/* True when cue occurs in folded starting at a word boundary (so "404" does not match
 * inside "NW1404"); the cue may end inside a word ("thank" matches "thanks"). */
static bool has_cue(const char *folded, const char *cue)
{
    for (const char *p = strstr(folded, cue); p; p = strstr(p + 1, cue))
        if (p == folded || !isalnum((unsigned char)p[-1]))
            return true;
    return false;
}

static int count_cues(const char *folded, const char *const *cues)
{
    int n = 0;
    for (; *cues; cues++)
        n += has_cue(folded, *cues);
    return n;
}

/* Folds ASCII letters to lower case and copies up to size-1 bytes. */
static size_t fold(const char *text, size_t len, char *out, size_t size)
{
    size_t n = len < size - 1 ? len : size - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)text[i]);
    out[n] = '\0';
    return n;
}

double classifier_influence(long long followers, bool verified)
{
    double f = followers > 0 ? log10((double)followers + 1.0) / 7.0 : 0.0;
    if (verified)
        f += 0.2;
    if (f > 1.0)
        f = 1.0;
    return f;
}

static bool is_email_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-' || c == '+';
}

unsigned classifier_find_pii(const char *text, size_t len)
{
    unsigned found = 0;
    size_t digits = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '@' && i > 0 && is_email_char(text[i - 1])) {
            size_t j = i + 1;
            while (j < len && is_email_char(text[j]) && text[j] != '.')
                j++;
            if (j < len && text[j] == '.' && j > i + 1)
                found |= CLASSIFIER_PII_EMAIL;
        }
        if (isdigit((unsigned char)c)) {
            digits++;
        } else if (c != ' ' && c != '-' && c != '(' && c != ')' && c != '.') {
            if (digits >= 13 && digits <= 19)
                found |= CLASSIFIER_PII_CARD_NUMBER;
            else if (digits >= 9 && digits <= 12)
                found |= CLASSIFIER_PII_PHONE;
            digits = 0;
        }
    }
    if (digits >= 13 && digits <= 19)
        found |= CLASSIFIER_PII_CARD_NUMBER;
    else if (digits >= 9 && digits <= 12)
        found |= CLASSIFIER_PII_PHONE;

    char folded[CLASSIFIER_TEXT_MAX];
    size_t n = fold(text, len, folded, sizeof(folded));
    for (const char *p = strstr(folded, "order"); p; p = strstr(p + 1, "order")) {
        const char *q = p + 5;
        while (q < folded + n && (*q == ' ' || *q == '#' || *q == ':' || *q == 'n' ||
                                  *q == 'o' || *q == '.'))
            q++;
        int alnum = 0, dig = 0;
        while (q < folded + n && isalnum((unsigned char)*q)) {
            alnum++;
            dig += isdigit((unsigned char)*q) != 0;
            q++;
        }
        if (alnum >= 5 && dig >= 4)
            found |= CLASSIFIER_PII_ORDER_NUMBER;
    }
    return found;
}

void classifier_classify(const char *text, size_t len, long long followers, bool verified,
                         struct classification *out)
{
    char folded[CLASSIFIER_TEXT_MAX];
    fold(text, len, folded, sizeof(folded));

    int neg = count_cues(folded, cues_negative);
    int pos = count_cues(folded, cues_positive);
    int complaint = count_cues(folded, cues_complaint);
    int praise = count_cues(folded, cues_praise);
    int question = count_cues(folded, cues_question) + (strchr(folded, '?') != NULL);

    memset(out, 0, sizeof(*out));
    if (count_cues(folded, cues_crisis) > 0) {
        out->intent = CLASSIFIER_INTENT_CRISIS;
        out->confidence = 0.7;
    } else if (count_cues(folded, cues_spam) > 0) {
        out->intent = CLASSIFIER_INTENT_SPAM;
        out->confidence = 0.8;
    } else if (count_cues(folded, cues_bug) > 0) {
        out->intent = CLASSIFIER_INTENT_BUG_REPORT;
        out->confidence = 0.7;
    } else if (complaint > 0 && complaint >= praise) {
        out->intent = CLASSIFIER_INTENT_COMPLAINT;
        out->confidence = complaint > 1 ? 0.85 : 0.65;
    } else if (praise > 0) {
        out->intent = CLASSIFIER_INTENT_PRAISE;
        out->confidence = praise > 1 ? 0.85 : 0.65;
    } else if (question > 0) {
        out->intent = CLASSIFIER_INTENT_QUESTION;
        out->confidence = 0.6;
    } else {
        out->intent = CLASSIFIER_INTENT_OTHER;
        out->confidence = 0.4;
    }

    int balance = pos - neg;
    if (out->intent == CLASSIFIER_INTENT_COMPLAINT ||
        out->intent == CLASSIFIER_INTENT_CRISIS)
        balance -= 1;
    if (balance < 0) {
        out->sentiment = CLASSIFIER_SENTIMENT_NEGATIVE;
        out->sentiment_score = balance < -3 ? -1.0 : balance / 3.0 - 0.0;
    } else if (balance > 0) {
        out->sentiment = CLASSIFIER_SENTIMENT_POSITIVE;
        out->sentiment_score = balance > 3 ? 1.0 : balance / 3.0;
    } else {
        out->sentiment = CLASSIFIER_SENTIMENT_NEUTRAL;
        out->sentiment_score = 0.0;
    }

    out->topic = "other";
    int best = 0;
    for (size_t i = 0; i < sizeof(topic_rules) / sizeof(topic_rules[0]); i++) {
        int hits = count_cues(folded, topic_rules[i].cues);
        if (hits > best) {
            best = hits;
            out->topic = topic_rules[i].topic;
        }
    }
    if (best == 0 && out->intent == CLASSIFIER_INTENT_COMPLAINT)
        out->topic = "customer_service";

    out->influence = classifier_influence(followers, verified);
    out->pii = classifier_find_pii(text, len);
}

json_t *classifier_to_json(const struct classification *c)
{
    json_t *pii = json_array();
    for (unsigned bit = 1; bit < (1u << CLASSIFIER_PII_COUNT); bit <<= 1)
        if (c->pii & bit)
            json_array_append_new(pii, json_string(classifier_pii_name(bit)));
    return json_pack("{s:{s:s,s:f},s:s,s:s,s:f,s:f,s:o,s:s}", "sentiment", "label",
                     classifier_sentiment_name(c->sentiment), "score", c->sentiment_score,
                     "intent", classifier_intent_name(c->intent), "topic", c->topic,
                     "confidence", c->confidence, "influence", c->influence, "pii", pii,
                     "model", CLASSIFIER_MODEL_NAME);
}
