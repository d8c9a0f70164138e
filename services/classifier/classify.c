/* Combines the model heads and the rules into one classification. Order of decisions:
 * features once; sentiment head; rules (first matching rule per head wins and overrides
 * the model); intent = rule, else the model's intent head, else question form (unless
 * confidently negative), else from sentiment (negative -> complaint, positive -> praise,
 * neutral -> other); topic = rule, else the topic head's department when the model's gate
 * passes (or the post is a question or bug report) and its probability reaches the
 * model's minimum, else "other". */
#include "classify.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "event.h"

/* Above this P(negative) a question is a complaint ("why is my flight late again?"). */
#define QUESTION_NEG_MAX 0.75

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

const char *classifier_pii_name(const struct classifier *cl, unsigned i)
{
    return i < cl->rules.n_pii ? cl->rules.pii_names[i] : "unknown";
}

const char *classifier_model_name(const struct classifier *cl)
{
    return cl->model.name;
}

static int intent_from_name(const char *s)
{
    for (int i = 0; i < CLASSIFIER_INTENT_COUNT; i++)
        if (!strcmp(intent_names[i], s))
            return i;
    return -1;
}

static int sentiment_from_name(const char *s)
{
    for (int i = 0; i < CLASSIFIER_SENTIMENT_COUNT; i++)
        if (!strcmp(sentiment_names[i], s))
            return i;
    return -1;
}

/* Resolves head roles and precomputes reason strings once the model and rules are in. */
static int setup(struct classifier *cl, char *errstr, size_t errlen)
{
    cls_fused_build(&cl->fused, &cl->model);
    cl->h_sentiment = cls_model_head(&cl->model, "sentiment");
    cl->h_intent = cls_model_head(&cl->model, "intent");
    if (cl->h_sentiment >= 0) {
        const struct cls_head *h = &cl->model.heads[cl->h_sentiment];
        for (unsigned c = 0; c < h->k; c++)
            if ((cl->sent_of[c] = sentiment_from_name(h->labels[c])) < 0) {
                snprintf(errstr, errlen,
                         "model %s: sentiment label %s is not negative/neutral/positive",
                         cl->model.name, h->labels[c]);
                return SC_EPARSE;
            }
    }
    if (cl->h_intent >= 0) {
        const struct cls_head *h = &cl->model.heads[cl->h_intent];
        for (unsigned c = 0; c < h->k; c++)
            cl->intent_of[c] =
                intent_from_name(h->dept[c][0] ? h->dept[c] : h->labels[c]);
    }
    /* names end up in JSON text (classifier_json_write): they must be UTF-8 */
    int utf8 = sc_utf8_valid(cl->model.name, strlen(cl->model.name));
    for (unsigned hi = 0; hi < cl->model.n_heads; hi++)
        for (unsigned c = 0; c < cl->model.heads[hi].k; c++)
            utf8 &= sc_utf8_valid(cl->model.heads[hi].labels[c],
                                  strlen(cl->model.heads[hi].labels[c])) &&
                    sc_utf8_valid(cl->model.heads[hi].dept[c],
                                  strlen(cl->model.heads[hi].dept[c]));
    for (unsigned i = 0; i < cl->rules.n; i++) {
        const struct cls_rule *r = &cl->rules.rules[i];
        utf8 &= sc_utf8_valid(r->reason, strlen(r->reason));
        for (unsigned a = 0; a < r->n_actions; a++)
            utf8 &= sc_utf8_valid(r->actions[a].value, strlen(r->actions[a].value));
    }
    if (!utf8) {
        snprintf(errstr, errlen, "model %s or its rules: a name is not valid UTF-8",
                 cl->model.name);
        return SC_EPARSE;
    }
    for (unsigned hi = 0; hi < cl->model.n_heads; hi++) {
        const struct cls_head *h = &cl->model.heads[hi];
        for (unsigned c = 0; c < h->k; c++) {
            char tmp[sizeof(cl->reason[0][0])]; /* not in place: gcc's -Wrestrict */
            snprintf(tmp, sizeof(tmp), "model:%s=%s", h->name, h->labels[c]);
            memcpy(cl->reason[hi][c], tmp, sizeof(tmp));
        }
    }
    return 0;
}

int classifier_open(struct classifier *cl, const char *model_path, const char *rules_path,
                    char *errstr, size_t errlen)
{
    memset(cl, 0, sizeof(*cl));
    int rc = cls_model_load(&cl->model, model_path, errstr, errlen);
    if (rc != 0)
        return rc;
    if (rules_path && *rules_path)
        rc = cls_rules_load(&cl->rules, rules_path, errstr, errlen);
    else
        rc = cls_rules_compile(&cl->rules, "", "(none)", errstr, errlen);
    if (rc == 0)
        rc = setup(cl, errstr, errlen);
    if (rc != 0)
        classifier_close(cl);
    return rc;
}

int classifier_open_mem(struct classifier *cl, const void *model, size_t model_len,
                        const char *rules_text, char *errstr, size_t errlen)
{
    memset(cl, 0, sizeof(*cl));
    int rc = cls_model_parse(&cl->model, model, model_len, errstr, errlen);
    if (rc == 0)
        rc = cls_rules_compile(&cl->rules, rules_text ? rules_text : "", "(memory)",
                               errstr, errlen);
    if (rc == 0)
        rc = setup(cl, errstr, errlen);
    if (rc != 0)
        classifier_close(cl);
    return rc;
}

void classifier_close(struct classifier *cl)
{
    cls_rules_free(&cl->rules);
    cls_fused_free(&cl->fused);
    cls_model_unload(&cl->model);
}

struct classifier_scratch *classifier_scratch_new(const struct classifier *cl)
{
    struct classifier_scratch *s = sc_malloc(sizeof(*s));
    cls_matcher_init(&s->mt, &cl->rules);
    return s;
}

void classifier_scratch_free(struct classifier_scratch *s)
{
    if (!s)
        return;
    cls_matcher_free(&s->mt);
    sc_free(s);
}

double classifier_influence(const struct classifier_author *a)
{
    if (!a)
        return 0.0;
    double f = a->followers > 0 ? log10((double)a->followers + 1.0) / 7.0 : 0.0;
    if (a->verified)
        f += 0.2;
    /* in double: counts up to INT64_MAX are valid input, and their sum overflows */
    double eng = (a->likes > 0 ? (double)a->likes : 0.0) +
                 2.0 * (a->reposts > 0 ? (double)a->reposts : 0.0) +
                 (a->replies > 0 ? (double)a->replies : 0.0);
    if (eng > 0)
        f += 0.1 * log10(eng + 1.0) / 3.0;
    return f > 1.0 ? 1.0 : f;
}

static void add_reason(struct classification *out, const char *r)
{
    for (unsigned i = 0; i < out->n_reasons; i++)
        if (out->reasons[i] == r)
            return;
    if (out->n_reasons < CLASSIFIER_MAX_REASONS)
        out->reasons[out->n_reasons++] = r;
}

int classifier_classify(const struct classifier *cl, struct classifier_scratch *s,
                        const char *text, size_t len,
                        const struct classifier_author *author,
                        struct classification *out)
{
    memset(out, 0, sizeof(*out));
    out->topic = "other";
    out->sentiment = CLASSIFIER_SENTIMENT_NEUTRAL;
    out->influence = classifier_influence(author);
    if (cls_featurize_blocks(&s->text, text, len, cl->model.bits, &s->feats) != 0)
        return SC_EPARSE;
    if (author && author->lang && *author->lang) {
        out->language = author->lang;
    } else {
        out->language = cls_detect_language(&s->text);
        out->language_detected = true;
    }
    const struct cls_model *m = &cl->model;
    const struct cls_fused *fz = &cl->fused;
    float probs[CLS_MAX_CLASSES], raw[CLS_FUSED_MAX];
    cls_fused_scores(m, fz, &s->feats, raw); /* every head in one pass */
    double p_neg = 0, p_sent = 0;

    /* 1. sentiment head */
    if (cl->h_sentiment >= 0) {
        unsigned c = cls_head_softmax(&m->heads[cl->h_sentiment],
                                      raw + fz->off[cl->h_sentiment], probs);
        out->sentiment = (enum classifier_sentiment)cl->sent_of[c];
        p_sent = probs[c];
        double pos = 0;
        for (unsigned k = 0; k < m->heads[cl->h_sentiment].k; k++) {
            if (cl->sent_of[k] == CLASSIFIER_SENTIMENT_NEGATIVE)
                p_neg = probs[k];
            else if (cl->sent_of[k] == CLASSIFIER_SENTIMENT_POSITIVE)
                pos = probs[k];
        }
        out->sentiment_score = pos - p_neg;
    }

    /* 2. rules: first matching rule per head wins */
    struct cls_rule_hits hits;
    const char *rule_intent = NULL, *rule_topic = NULL, *rule_sent = NULL;
    const char *why_intent = NULL, *why_topic = NULL, *why_sent = NULL;
    if (cls_rules_match(&cl->rules, &s->mt, s->text.norm, s->text.norm_len, &hits) > 0) {
        for (unsigned i = 0; i < cl->rules.n; i++) {
            if (!cls_rule_hit(&hits, i))
                continue;
            const struct cls_rule *r = &cl->rules.rules[i];
            for (unsigned a = 0; a < r->n_actions; a++) {
                const char *v = r->actions[a].value;
                switch (r->actions[a].head) {
                    case CLS_RULE_INTENT:
                        if (!rule_intent) {
                            rule_intent = v;
                            why_intent = r->reason;
                        }
                        break;
                    case CLS_RULE_TOPIC:
                        if (!rule_topic) {
                            rule_topic = v;
                            why_topic = r->reason;
                        }
                        break;
                    case CLS_RULE_SENTIMENT:
                        if (!rule_sent) {
                            rule_sent = v;
                            why_sent = r->reason;
                        }
                        break;
                    case CLS_RULE_PII:
                        out->pii |= 1u << r->actions[a].pii_bit;
                        break;
                }
            }
        }
    }
    out->pii |= cls_pii_builtin(s->text.norm, s->text.norm_len);

    if (rule_sent) {
        out->sentiment = (enum classifier_sentiment)sentiment_from_name(rule_sent);
        out->sentiment_score = out->sentiment == CLASSIFIER_SENTIMENT_NEGATIVE   ? -1.0
                               : out->sentiment == CLASSIFIER_SENTIMENT_POSITIVE ? 1.0
                                                                                 : 0.0;
        p_neg = out->sentiment == CLASSIFIER_SENTIMENT_NEGATIVE;
        p_sent = 1.0;
        add_reason(out, why_sent);
    } else if (cl->h_sentiment >= 0) {
        unsigned c = 0;
        while (c + 1 < m->heads[cl->h_sentiment].k &&
               cl->sent_of[c] != (int)out->sentiment)
            c++;
        add_reason(out, cl->reason[cl->h_sentiment][c]);
    }

    /* 3. intent */
    int intent = -1;
    if (rule_intent) {
        intent = intent_from_name(rule_intent);
        out->confidence = 0.95;
        add_reason(out, why_intent);
    }
    if (intent < 0 && cl->h_intent >= 0) {
        unsigned c =
            cls_head_softmax(&m->heads[cl->h_intent], raw + fz->off[cl->h_intent], probs);
        if (cl->intent_of[c] >= 0) {
            intent = cl->intent_of[c];
            out->confidence = probs[c];
            add_reason(out, cl->reason[cl->h_intent][c]);
        }
    }
    if (intent < 0 && cls_is_question(&s->text) &&
        !(cl->h_sentiment >= 0 && out->sentiment == CLASSIFIER_SENTIMENT_NEGATIVE &&
          p_neg >= QUESTION_NEG_MAX)) {
        intent = CLASSIFIER_INTENT_QUESTION;
        out->confidence = 1.0 - p_neg * 0.5;
        add_reason(out, "form:question");
    }
    if (intent < 0) {
        intent =
            out->sentiment == CLASSIFIER_SENTIMENT_NEGATIVE ? CLASSIFIER_INTENT_COMPLAINT
            : out->sentiment == CLASSIFIER_SENTIMENT_POSITIVE ? CLASSIFIER_INTENT_PRAISE
                                                              : CLASSIFIER_INTENT_OTHER;
        out->confidence = cl->h_sentiment >= 0 || rule_sent ? p_sent : 0.5;
        add_reason(out, "derived:sentiment");
    }
    out->intent = (enum classifier_intent)intent;
    if (cl->h_sentiment < 0 && !rule_sent) {
        /* no sentiment head (e.g. the retail model): sentiment follows the intent */
        if (intent == CLASSIFIER_INTENT_COMPLAINT || intent == CLASSIFIER_INTENT_CRISIS ||
            intent == CLASSIFIER_INTENT_BUG_REPORT) {
            out->sentiment = CLASSIFIER_SENTIMENT_NEGATIVE;
            out->sentiment_score = -0.5;
        } else if (intent == CLASSIFIER_INTENT_PRAISE) {
            out->sentiment = CLASSIFIER_SENTIMENT_POSITIVE;
            out->sentiment_score = 0.5;
        }
    }

    /* 4. topic */
    if (rule_topic) {
        out->topic = rule_topic;
        add_reason(out, why_topic);
    } else if (m->topic_head >= 0) {
        int gate = m->gate_head < 0 || intent == CLASSIFIER_INTENT_QUESTION ||
                   intent == CLASSIFIER_INTENT_BUG_REPORT ||
                   intent == CLASSIFIER_INTENT_CRISIS;
        if (!gate && m->gate_head == cl->h_sentiment && m->gate_head >= 0)
            gate = (int)out->sentiment ==
                   cl->sent_of[m->gate_label]; /* the sentiment after rules */
        else if (!gate)
            gate = cls_head_softmax(&m->heads[m->gate_head], raw + fz->off[m->gate_head],
                                    probs) == (unsigned)m->gate_label;
        if (gate) {
            unsigned c = cls_head_softmax(&m->heads[m->topic_head],
                                          raw + fz->off[m->topic_head], probs);
            const char *dept = m->heads[m->topic_head].dept[c];
            if (dept[0] && probs[c] >= m->topic_min) {
                out->topic = dept;
                add_reason(out, cl->reason[m->topic_head][c]);
            }
        }
    }
    return 0;
}

json_t *classifier_to_json(const struct classifier *cl, const struct classification *c)
{
    json_t *pii = json_array();
    for (unsigned i = 0; i < cl->rules.n_pii; i++)
        if (c->pii & (1u << i))
            json_array_append_new(pii, json_string(classifier_pii_name(cl, i)));
    json_t *reasons = json_array();
    for (unsigned i = 0; i < c->n_reasons; i++)
        json_array_append_new(reasons, json_string(c->reasons[i]));
    return json_pack("{s:{s:s,s:f},s:s,s:s,s:f,s:f,s:o,s:o,s:s,s:{s:s,s:s}}", "sentiment",
                     "label", classifier_sentiment_name(c->sentiment), "score",
                     round(c->sentiment_score * 1000) / 1000, "intent",
                     classifier_intent_name(c->intent), "topic", c->topic, "confidence",
                     round(c->confidence * 1000) / 1000, "influence",
                     round(c->influence * 1000) / 1000, "pii", pii, "reasons", reasons,
                     "model", cl->model.name, "language", "code",
                     c->language ? c->language : "und", "source",
                     c->language_detected ? "detected" : "platform");
}

/* ------------------------------------------------------------------ JSON text */

struct jw {
    char *buf;
    size_t cap, len;
};

static void jw_raw(struct jw *w, const char *s, size_t n)
{
    if (w->len < w->cap) {
        size_t room = w->cap - w->len;
        memcpy(w->buf + w->len, s, n < room ? n : room);
    }
    w->len += n;
}

static void jw_lit(struct jw *w, const char *s)
{
    jw_raw(w, s, strlen(s));
}

/* A JSON string: '"' and '\\' escaped, control characters as \u00XX. */
static void jw_str(struct jw *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    jw_raw(w, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        jw_raw(w, run, (size_t)(s - run));
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            jw_raw(w, esc, 2);
        } else {
            jw_raw(w, esc, 6);
        }
        run = s + 1;
    }
    jw_raw(w, run, (size_t)(s - run));
    jw_raw(w, "\"", 1);
}

/* x rounded to three decimals, as a JSON real ("-0.25", "1.0"). */
static void jw_fixed3(struct jw *w, double x)
{
    char tmp[32], *e = tmp + sizeof(tmp), *p = e;
    if (!(x == x) || x > 1e15 || x < -1e15)
        x = 0; /* not a finite score: never produced, kept valid JSON */
    long long v = llround(x * 1000);
    int neg = v < 0;
    unsigned long long a = neg ? (unsigned long long)(-v) : (unsigned long long)v;
    unsigned frac = (unsigned)(a % 1000);
    unsigned long long ip = a / 1000;
    int digits = 3;
    while (digits > 1 && frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    for (int i = 0; i < digits; i++) {
        *--p = (char)('0' + frac % 10);
        frac /= 10;
    }
    *--p = '.';
    do {
        *--p = (char)('0' + ip % 10);
        ip /= 10;
    } while (ip);
    if (neg && (a != 0))
        *--p = '-';
    jw_raw(w, p, (size_t)(e - p));
}

size_t classifier_json_write(const struct classifier *cl, const struct classification *c,
                             char *buf, size_t cap)
{
    struct jw w = {.buf = buf, .cap = cap, .len = 0};
    jw_lit(&w, "{\"sentiment\":{\"label\":");
    jw_str(&w, classifier_sentiment_name(c->sentiment));
    jw_lit(&w, ",\"score\":");
    jw_fixed3(&w, c->sentiment_score);
    jw_lit(&w, "},\"intent\":");
    jw_str(&w, classifier_intent_name(c->intent));
    jw_lit(&w, ",\"topic\":");
    jw_str(&w, c->topic);
    jw_lit(&w, ",\"confidence\":");
    jw_fixed3(&w, c->confidence);
    jw_lit(&w, ",\"influence\":");
    jw_fixed3(&w, c->influence);
    jw_lit(&w, ",\"pii\":[");
    int first = 1;
    for (unsigned i = 0; i < cl->rules.n_pii; i++)
        if (c->pii & (1u << i)) {
            if (!first)
                jw_raw(&w, ",", 1);
            first = 0;
            jw_str(&w, classifier_pii_name(cl, i));
        }
    jw_lit(&w, "],\"reasons\":[");
    for (unsigned i = 0; i < c->n_reasons; i++) {
        if (i)
            jw_raw(&w, ",", 1);
        jw_str(&w, c->reasons[i]);
    }
    jw_lit(&w, "],\"model\":");
    jw_str(&w, cl->model.name);
    jw_lit(&w, ",\"language\":{\"code\":");
    jw_str(&w, c->language ? c->language : "und");
    jw_lit(&w, ",\"source\":");
    jw_str(&w, c->language_detected ? "detected" : "platform");
    jw_lit(&w, "}}");
    if (w.len < cap)
        buf[w.len] = '\0';
    return w.len;
}
