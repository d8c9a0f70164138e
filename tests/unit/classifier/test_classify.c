/* Unit tests of the classifier: golden cases per head with the shipped airline model and
 * rules (models/airline.scm, config/classifier-rules.conf), tokenizer edge cases, model
 * file corruption, rules override order, personal-data kinds (Luhn negatives included),
 * influence and the JSON shape. Needs only files of the repository (SC_SOURCE_DIR). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <utf8proc.h>

#include "alloc.h"
#include "classify.h"
#include "error.h"

static char model_path[1024], rules_path[1024];

static struct classifier *cl;
static struct classifier_scratch *scr;

static void paths(void)
{
    const char *src = getenv("SC_SOURCE_DIR");
    if (!src)
        src = ".";
    snprintf(model_path, sizeof(model_path), "%s/models/airline.scm", src);
    snprintf(rules_path, sizeof(rules_path), "%s/config/classifier-rules.conf", src);
}

static int setup(void **state)
{
    (void)state;
    paths();
    char err[512];
    cl = sc_malloc(sizeof(*cl));
    if (classifier_open(cl, model_path, rules_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        sc_free(cl);
        return -1;
    }
    scr = classifier_scratch_new(cl);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    classifier_scratch_free(scr);
    classifier_close(cl);
    sc_free(cl);
    return 0;
}

static struct classification run(const char *text)
{
    struct classification c;
    struct classifier_author a = {.followers = 10};
    assert_int_equal(classifier_classify(cl, scr, text, strlen(text), &a, &c), 0);
    return c;
}

static int has_reason(const struct classification *c, const char *r)
{
    for (unsigned i = 0; i < c->n_reasons; i++)
        if (!strcmp(c->reasons[i], r))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ golden cases */

struct golden {
    const char *text;
    const char *want;
};

static void test_golden_sentiment(void **state)
{
    (void)state;
    static const struct golden g[] = {
        {"@united worst airline ever, lost my bag and nobody cares", "negative"},
        {"@SouthwestAir my flight was Cancelled Flightled and I am stuck for the night",
         "negative"},
        {"@JetBlue thank you so much, the crew was wonderful!", "positive"},
        {"@VirginAmerica love the new seats, great flight :)", "positive"},
        {"@AmericanAir what time does the Dallas lounge open tomorrow?", "neutral"},
        {"@USAirways is flight 512 from Boston on schedule?", "neutral"},
        {"@united the flight was not good at all", "negative"},
    };
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        struct classification c = run(g[i].text);
        if (strcmp(classifier_sentiment_name(c.sentiment), g[i].want) != 0)
            fail_msg("\"%s\": sentiment %s, want %s", g[i].text,
                     classifier_sentiment_name(c.sentiment), g[i].want);
        if (c.sentiment == CLASSIFIER_SENTIMENT_NEGATIVE)
            assert_true(c.sentiment_score < 0);
        if (c.sentiment == CLASSIFIER_SENTIMENT_POSITIVE)
            assert_true(c.sentiment_score > 0);
    }
}

static void test_golden_intent(void **state)
{
    (void)state;
    static const struct golden g[] = {
        /* the end-to-end harness samples (tests/e2e/harness.c) */
        {"My parcel never arrived and nobody answers, this is unacceptable", "complaint"},
        {"Charged twice for one order and still waiting for a refund, ridiculous",
         "complaint"},
        {"The delivery was late again and the box was damaged, really disappointed",
         "complaint"},
        {"Worst service ever, hours on hold and the agent was rude", "complaint"},
        {"How do I change the delivery address on my account?", "question"},
        {"Is there a store near the central station?", "question"},
        {"When will the spring collection be available online?", "question"},
        {"Can I pay with a gift card at checkout?", "question"},
        {"Thank you for the quick help today, amazing support", "praise"},
        {"Love the new app design, great job team", "praise"},
        {"Excellent service at the airport desk, kudos to the staff", "praise"},
        {"The best coffee in town, fantastic as always", "praise"},
        /* rules */
        {"Smoke in the cabin on flight 12, is everyone safe?", "crisis"},
        {"WIN A FREE iPhone!!! click here", "spam"},
        {"The app crashes when I open my boarding pass", "bug_report"},
        {"your website shows error 500 at checkout", "bug_report"},
        /* a confidently negative question is a complaint */
        {"@united why is my flight delayed AGAIN?? third time this week, terrible",
         "complaint"},
        {"@JetBlue Just landed in Oslo.", "other"},
    };
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        struct classification c = run(g[i].text);
        if (strcmp(classifier_intent_name(c.intent), g[i].want) != 0)
            fail_msg("\"%s\": intent %s, want %s", g[i].text,
                     classifier_intent_name(c.intent), g[i].want);
        assert_true(c.confidence > 0 && c.confidence <= 1);
        assert_true(c.n_reasons > 0);
    }
}

static void test_golden_topic(void **state)
{
    (void)state;
    static const struct golden g[] = {
        {"@united you lost my luggage and nobody can tell me where it is", "baggage"},
        {"@SouthwestAir flight delayed 4 hours and now I missed my connection, awful",
         "flight_operations"},
        {"@JetBlue I was charged twice for the same ticket, fix this", "billing"},
        {"@AmericanAir on hold for 2 hours, your agents hung up on me twice, horrible",
         "customer_service"},
        {"@VirginAmerica thanks, great flight!", "other"},
        {"nice weather today", "other"},
    };
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        struct classification c = run(g[i].text);
        if (strcmp(c.topic, g[i].want) != 0)
            fail_msg("\"%s\": topic %s, want %s", g[i].text, c.topic, g[i].want);
    }
}

/* ------------------------------------------------------------------ tokenizer */

struct toks {
    int n;
    char text[64][48];
    int kind[64];
    int neg[64];
    int elong[64];
};

static void collect(void *opaque, const struct cls_token *t)
{
    struct toks *k = opaque;
    if (k->n >= 64)
        return;
    snprintf(k->text[k->n], sizeof(k->text[0]), "%.*s", (int)t->len, t->text);
    k->kind[k->n] = t->kind;
    k->neg[k->n] = t->negated;
    k->elong[k->n] = t->elongated;
    k->n++;
}

static struct toks *tokenize(struct cls_text_scratch *s, const char *text)
{
    static struct toks k;
    memset(&k, 0, sizeof(k));
    assert_int_equal(cls_normalize(s, text, strlen(text)), 0);
    cls_tokenize(s, collect, &k);
    return &k;
}

static void test_tokenizer(void **state)
{
    (void)state;
    struct cls_text_scratch *s = sc_malloc(sizeof(*s));
    struct toks *k =
        tokenize(s, "@Delta SOOO happy!!! see https://t.co/xyz #NoMore 10:30 :)");
    const char *want[] = {"<user>", "soo",     "happy",  "!!",    "see",
                          "<url>",  "#nomore", "nomore", "<num>", "<smile>"};
    assert_int_equal(k->n, 10);
    for (int i = 0; i < 10; i++)
        assert_string_equal(k->text[i], want[i]);
    assert_int_equal(k->kind[0], CLS_TOK_MENTION);
    assert_true(k->elong[1]);
    assert_int_equal(k->kind[5], CLS_TOK_URL);
    assert_int_equal(k->kind[6], CLS_TOK_HASHTAG);
    assert_int_equal(k->kind[8], CLS_TOK_NUMBER);
    assert_int_equal(k->kind[9], CLS_TOK_EMOTICON);

    /* negation scope: until punctuation */
    k = tokenize(s, "the crew was not friendly or helpful. seats good");
    assert_string_equal(k->text[4], "friendly");
    assert_true(k->neg[4] && k->neg[6]);
    assert_false(k->neg[7] || k->neg[8] || k->neg[2]);
    k = tokenize(s, "don't like it");
    assert_true(k->neg[1]);

    /* mixed scripts and NFC + case folding: decomposed é and ß fold like precomposed */
    k = tokenize(s, "Привет МИР caf\xc3\xa9 STRASSE");
    assert_int_equal(k->n, 4);
    assert_string_equal(k->text[0], "привет");
    assert_string_equal(k->text[1], "мир");
    assert_string_equal(k->text[2], "caf\xc3\xa9");
    assert_string_equal(k->text[3], "strasse");
    k = tokenize(s, "Cafe\xcc\x81 stra\xc3\x9f"
                    "e");
    assert_string_equal(k->text[0], "caf\xc3\xa9");
    assert_string_equal(k->text[1], "strasse");

    /* emoji sequences: a ZWJ family and a skin-toned thumb are their base pictographs */
    k = tokenize(
        s, "ok \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91"
           "\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7");
    assert_int_equal(k->n, 5);
    assert_int_equal(k->kind[1], CLS_TOK_EMOJI);
    assert_string_equal(k->text[1], "\xf0\x9f\x91\x8d");
    assert_int_equal(k->kind[4], CLS_TOK_EMOJI);

    /* apostrophes: typographic and ASCII fold together */
    k = tokenize(s, "can\xe2\x80\x99t");
    assert_string_equal(k->text[0], "can't");

    /* invalid UTF-8 and NUL are rejected, not classified */
    assert_int_equal(cls_normalize(s, "bad \xff\xfe text", 14), SC_EPARSE);
    assert_int_equal(cls_normalize(s, "overlong \xc0\xaf", 11), SC_EPARSE);
    struct classification c;
    assert_int_equal(classifier_classify(cl, scr, "x\xe2\x82", 3, NULL, &c), SC_EPARSE);
    /* empty text is fine */
    assert_int_equal(classifier_classify(cl, scr, "", 0, NULL, &c), 0);
    sc_free(s);
}

/* cls_normalize copies ASCII and code points NFC and case folding leave alone itself;
 * the result must be what utf8proc gives for the whole text (plus the apostrophe fold).
 */
static void test_normalize_fast_path(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "Thanks \xe2\x80\x9cUnited\xe2\x80\x9d \xe2\x9c\x88\xef\xb8\x8f\xf0\x9f\x98\x82 "
        "can\xe2\x80\x99t wait\xe2\x80\xa6",
        "family \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9 thumbs "
        "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
        "Caf\xc3\xa9 CAF\xc3\x89 cafe\xcc\x81",         /* precomposed, and e + U+0301 */
        "\xea\xb0\x80 \xe1\x84\x80\xe1\x85\xa1 Hangul", /* syllable, and jamo that compose
                                                         */
        "\xef\xac\x81 stra\xc3\x9f\x65 \xce\xa3\xce\xa9", /* ligature fi, sharp s, Greek
                                                             capitals */
        "zero\xe2\x80\x8bwidth soft\xc2\xadhyphen nbsp\xc2\xa0here",
        "\xe2\x84\xaa Kelvin \xef\xbc\xa1 fullwidth \xe2\x84\xab Angstrom",
        "\xe3\x81\x8b\xe3\x82\x99 kana + voiced mark, \xe0\xb3\x86\xe0\xb3\x95",
        "MiXeD CaSe ASCII only, with digits 123 and !?",
    };
    struct cls_text_scratch *s = sc_malloc(sizeof(*s));
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        utf8proc_uint8_t *ref = NULL;
        utf8proc_ssize_t n = utf8proc_map(
            (const utf8proc_uint8_t *)texts[i], (utf8proc_ssize_t)strlen(texts[i]), &ref,
            UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);
        assert_true(n >= 0);
        size_t o = 0; /* U+2018 and U+2019 fold to an ASCII apostrophe */
        for (utf8proc_ssize_t k = 0; k < n; k++) {
            if (k + 2 < n && ref[k] == 0xe2 && ref[k + 1] == 0x80 &&
                (ref[k + 2] == 0x98 || ref[k + 2] == 0x99)) {
                ref[o++] = '\'';
                k += 2;
            } else {
                ref[o++] = ref[k];
            }
        }
        assert_int_equal(cls_normalize(s, texts[i], strlen(texts[i])), 0);
        if (s->norm_len != o || memcmp(s->norm, ref, o) != 0)
            fail_msg("text %zu: \"%s\" != \"%.*s\"", i, s->norm, (int)o,
                     (const char *)ref);
        free(ref);
    }
    sc_free(s);
}

static void test_features(void **state)
{
    (void)state;
    struct cls_text_scratch *s = sc_malloc(sizeof(*s));
    struct cls_features *f = sc_malloc(sizeof(*f)), *g = sc_malloc(sizeof(*g));
    const char *a = "Lost my BAG again";
    assert_int_equal(cls_featurize(s, a, strlen(a), 16, f), 0);
    assert_true(f->n > 10);
    double norm = 0;
    for (uint32_t i = 0; i < f->n; i++) {
        assert_true(f->idx[i] < (1u << 16));
        norm += (double)f->val[i] * f->val[i];
    }
    assert_true(norm > 0.999 && norm < 1.001);
    /* case folding: same features */
    const char *b = "lost my bag again";
    assert_int_equal(cls_featurize(s, b, strlen(b), 16, g), 0);
    assert_int_equal(f->n, g->n);
    assert_memory_equal(f->idx, g->idx, f->n * sizeof(uint32_t));
    /* a huge text is capped, never overflows */
    size_t big = 3 * CLS_TEXT_MAX;
    char *t = sc_malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        t[i] = "ab cd\xc3\xa9 "[i % 8];
    t[big] = '\0';
    assert_int_equal(cls_featurize(s, t, big, 16, f), 0);
    assert_true(f->n <= CLS_MAX_FEATURES);
    sc_free(t);
    sc_free(f);
    sc_free(g);
    sc_free(s);
}

/* ------------------------------------------------------------------ model file */

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = sc_malloc((size_t)n);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void test_model_corruption(void **state)
{
    (void)state;
    size_t len;
    uint8_t *img = read_file(model_path, &len);
    struct cls_model *m = sc_calloc(1, sizeof(*m));
    char err[512];
    assert_int_equal(cls_model_parse(m, img, len, err, sizeof(err)), 0);
    assert_string_equal(m->name, "airline-1");
    assert_true(cls_model_head(m, "sentiment") >= 0);
    assert_true(strstr(m->license, "non-commercial") != NULL);

    img[len / 2] ^= 0x40; /* one flipped bit in the weights */
    assert_int_equal(cls_model_parse(m, img, len, err, sizeof(err)), SC_EPARSE);
    assert_non_null(strstr(err, "checksum"));
    img[len / 2] ^= 0x40;

    assert_int_equal(cls_model_parse(m, img, len - 100, err, sizeof(err)), SC_EPARSE);
    assert_non_null(strstr(err, "truncated"));

    img[8] = 99; /* version */
    assert_int_equal(cls_model_parse(m, img, len, err, sizeof(err)), SC_EPARSE);
    assert_non_null(strstr(err, "version"));
    img[8] = 1;

    img[0] = 'X';
    assert_int_equal(cls_model_parse(m, img, len, err, sizeof(err)), SC_EPARSE);
    assert_non_null(strstr(err, "magic"));
    img[0] = 'S';
    assert_int_equal(cls_model_parse(m, img, len, err, sizeof(err)), 0);

    /* a model made for another feature pipeline is refused even with a valid checksum */
    uint8_t *feat = memmem(img, len, CLS_FEATURES_ID, strlen(CLS_FEATURES_ID));
    assert_non_null(feat);
    feat[strlen(CLS_FEATURES_ID) - 1] ^= 1;
    uint64_t sum = cls_fnv1a64(img + 64, len - 64);
    memcpy(img + 24, &sum, 8);
    assert_int_equal(cls_model_parse(m, img, len, err, sizeof(err)), SC_EPARSE);
    assert_non_null(strstr(err, "retrain"));
    feat[strlen(CLS_FEATURES_ID) - 1] ^= 1;
    sum = cls_fnv1a64(img + 64, len - 64);
    memcpy(img + 24, &sum, 8);
    assert_int_equal(cls_model_parse(m, img, len, err, sizeof(err)), 0);

    /* start-up refuses: missing file, and a corrupt file on disk */
    struct classifier *c2 = sc_malloc(sizeof(*c2));
    assert_int_equal(
        classifier_open(c2, "/nonexistent/model.scm", NULL, err, sizeof(err)), SC_ENOENT);
    assert_non_null(strstr(err, "/nonexistent/model.scm"));
    char tmp[] = "/tmp/sc-model-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    img[len - 1] ^= 1;
    assert_int_equal(write(fd, img, len), (ssize_t)len);
    close(fd);
    assert_int_equal(classifier_open(c2, tmp, NULL, err, sizeof(err)), SC_EPARSE);
    assert_non_null(strstr(err, "checksum"));
    unlink(tmp);
    sc_free(c2);
    sc_free(m);
    sc_free(img);
}

/* A tiny two-head model built in memory: round trip through build and parse. */
static void test_model_roundtrip(void **state)
{
    (void)state;
    unsigned bits = 10;
    size_t buckets = (size_t)1 << bits;
    float *w = sc_calloc(buckets * 3, sizeof(float));
    float bias[3] = {0.1f, 0.0f, -0.1f};
    struct cls_text_scratch *s = sc_malloc(sizeof(*s));
    struct cls_features *f = sc_malloc(sizeof(*f));
    /* weights that make "great" positive and "awful" negative */
    assert_int_equal(cls_featurize(s, "great", 5, bits, f), 0);
    for (uint32_t i = 0; i < f->n; i++)
        w[f->idx[i] * 3 + 2] += 2.0f;
    assert_int_equal(cls_featurize(s, "awful", 5, bits, f), 0);
    for (uint32_t i = 0; i < f->n; i++)
        w[f->idx[i] * 3 + 0] += 2.0f;
    static const char *const labels[] = {"negative", "neutral", "positive"};
    struct cls_model_spec spec = {
        .name = "tiny", .license = "test", .bits = bits, .n_heads = 1};
    spec.heads[0] = (struct cls_head_spec){.name = "sentiment",
                                           .k = 3,
                                           .labels = labels,
                                           .temperature = 1.0f,
                                           .bias = bias,
                                           .w = w};
    uint8_t *img;
    size_t len;
    char err[256];
    assert_int_equal(cls_model_build(&spec, &img, &len, err, sizeof(err)), 0);
    struct classifier *c2 = sc_malloc(sizeof(*c2));
    assert_int_equal(classifier_open_mem(c2, img, len, NULL, err, sizeof(err)), 0);
    struct classifier_scratch *s2 = classifier_scratch_new(c2);
    struct classification c;
    assert_int_equal(classifier_classify(c2, s2, "great", 5, NULL, &c), 0);
    assert_int_equal(c.sentiment, CLASSIFIER_SENTIMENT_POSITIVE);
    assert_int_equal(c.intent, CLASSIFIER_INTENT_PRAISE);
    assert_int_equal(classifier_classify(c2, s2, "awful", 5, NULL, &c), 0);
    assert_int_equal(c.sentiment, CLASSIFIER_SENTIMENT_NEGATIVE);
    assert_string_equal(c.topic, "other"); /* no topic head */
    float probs[3];
    assert_int_equal(cls_featurize(s, "great", 5, bits, f), 0);
    cls_model_predict(&c2->model, 0, f, probs);
    assert_true(probs[2] > 0.5f && probs[0] + probs[1] + probs[2] > 0.999f);
    classifier_scratch_free(s2);
    classifier_close(c2);
    /* labels must be negative/neutral/positive for a sentiment head */
    static const char *const bad[] = {"sad", "meh", "glad"};
    spec.heads[0].labels = bad;
    sc_free(img);
    assert_int_equal(cls_model_build(&spec, &img, &len, err, sizeof(err)), 0);
    assert_int_equal(classifier_open_mem(c2, img, len, NULL, err, sizeof(err)),
                     SC_EPARSE);
    sc_free(c2);
    sc_free(img);
    sc_free(w);
    sc_free(f);
    sc_free(s);
}

/* ------------------------------------------------------------------ rules */

static void test_rules_order(void **state)
{
    (void)state;
    size_t len;
    uint8_t *img = read_file(model_path, &len);
    char err[512];
    struct classifier *c2 = sc_malloc(sizeof(*c2));
    /* two rules set the intent of the same text: the first line wins; both give reasons;
     * rules override the model (a cheerful crisis is still a crisis) */
    const char *rules = "# test rules\n"
                        "first.crisis  intent=crisis   \\bfire\\b\n"
                        "\n"
                        "second.spam   intent=spam,topic=marketing  \\bfire sale\n"
                        "third.topic   topic=safety    \\bfire\n"
                        "sent.rule     sentiment=negative \\bbummer\n";
    assert_int_equal(classifier_open_mem(c2, img, len, rules, err, sizeof(err)), 0);
    struct classifier_scratch *s2 = classifier_scratch_new(c2);
    struct classification c;
    const char *t = "Great news, fire sale today! love it";
    assert_int_equal(classifier_classify(c2, s2, t, strlen(t), NULL, &c), 0);
    assert_int_equal(c.intent, CLASSIFIER_INTENT_CRISIS);
    assert_string_equal(c.topic, "marketing"); /* second.spam is the first topic rule */
    assert_true(has_reason(&c, "rule:first.crisis"));
    assert_true(has_reason(&c, "rule:second.spam"));
    assert_int_equal(c.sentiment, CLASSIFIER_SENTIMENT_POSITIVE); /* model, no rule */
    t = "what a bummer, thanks anyway";
    assert_int_equal(classifier_classify(c2, s2, t, strlen(t), NULL, &c), 0);
    assert_int_equal(c.sentiment, CLASSIFIER_SENTIMENT_NEGATIVE);
    assert_true(has_reason(&c, "rule:sent.rule"));
    /* rules start at word starts: "bonfire" is not "fire" */
    t = "bonfire night";
    assert_int_equal(classifier_classify(c2, s2, t, strlen(t), NULL, &c), 0);
    assert_int_not_equal(c.intent, CLASSIFIER_INTENT_CRISIS);
    classifier_scratch_free(s2);
    classifier_close(c2);

    /* errors name the line */
    struct cls_rules r;
    assert_int_equal(cls_rules_compile(&r,
                                       "ok intent=spam x\n\nbad intent=spam (unclosed\n",
                                       "t.conf", err, sizeof(err)),
                     SC_EPARSE);
    assert_non_null(strstr(err, "t.conf:3"));
    assert_int_equal(
        cls_rules_compile(&r, "x intent=nonsense y\n", "t.conf", err, sizeof(err)),
        SC_EPARSE);
    assert_non_null(strstr(err, "t.conf:1"));
    assert_int_equal(cls_rules_compile(&r, "x intent=spam\n", "t.conf", err, sizeof(err)),
                     SC_EPARSE);
    sc_free(c2);
    sc_free(img);
}

/* ------------------------------------------------------------------ personal data */

static unsigned pii_of(const char *text)
{
    return run(text).pii;
}

static unsigned bit_of(const char *kind)
{
    for (unsigned i = 0; i < cl->rules.n_pii; i++)
        if (!strcmp(classifier_pii_name(cl, i), kind))
            return 1u << i;
    fail_msg("no pii kind %s", kind);
    return 0;
}

static void test_pii(void **state)
{
    (void)state;
    unsigned email = bit_of("email"), phone = bit_of("phone"),
             card = bit_of("card_number"), order = bit_of("order_number"),
             booking = bit_of("booking_reference");
    assert_int_equal(pii_of("mail me at jane.doe@example.com please"), email);
    assert_int_equal(pii_of("write to Jane.Doe@Example.co.uk."), email);
    assert_int_equal(pii_of("hey @Northwind where is it"), 0);
    assert_int_equal(pii_of("user@localhost is not an address"), 0);
    assert_int_equal(pii_of("call me on +1 (555) 010-2030"), phone);
    assert_int_equal(pii_of("my number is 0612345678"), phone);
    /* Luhn-valid card numbers with and without separators */
    assert_int_equal(pii_of("card 4111 1111 1111 1111 was charged"), card);
    assert_int_equal(pii_of("card 5500-0000-0000-0004 was charged"), card);
    assert_int_equal(pii_of("card 4012888888881881"), card);
    /* Luhn negatives: one digit off is no card (and too long to be a phone) */
    assert_int_equal(pii_of("card 4111 1111 1111 1112 was charged") & card, 0);
    assert_int_equal(pii_of("ref 4012888888881882 ok") & card, 0);
    /* configurable references */
    assert_int_equal(pii_of("my order #A1234567 is late") & order, order);
    assert_int_equal(pii_of("order number: 998877 still missing") & order, order);
    assert_int_equal(pii_of("booking reference X7K2PQ please") & booking, booking);
    assert_int_equal(pii_of("booking reference please"), 0);
    /* short numbers are nothing */
    assert_int_equal(pii_of("flight 12 was late at 10:30 on 2026-11-22"), 0);
    assert_int_equal(pii_of("order pizza"), 0);
    /* built-in scan directly */
    assert_true(cls_luhn_ok("79927398713", 11));
    assert_false(cls_luhn_ok("79927398710", 11));
}

static void test_influence(void **state)
{
    (void)state;
    struct classifier_author a = {0}, b = {.followers = 100}, c = {.followers = 100000};
    assert_true(classifier_influence(&a) == 0.0);
    assert_true(classifier_influence(NULL) == 0.0);
    assert_true(classifier_influence(&b) < classifier_influence(&c));
    struct classifier_author v = b;
    v.verified = true;
    assert_true(classifier_influence(&v) > classifier_influence(&b));
    struct classifier_author e = b;
    e.likes = 500;
    e.reposts = 200;
    assert_true(classifier_influence(&e) > classifier_influence(&b));
    struct classifier_author huge = {
        .followers = 1000000000LL, .verified = true, .likes = 1000000};
    assert_true(classifier_influence(&huge) <= 1.0);
}

static void test_language(void **state)
{
    (void)state;
    static const struct golden g[] = {
        {"@united my bag is lost and nobody helps", "en"},
        {"@iberia mi maleta no lleg\xc3\xb3, por favor ayuda", "es"},
        {"@airfrance je suis tr\xc3\xa8s d\xc3\xa9\xc3\xa7u, le vol est en retard", "fr"},
        {"@lufthansa ich bin entt\xc3\xa4uscht, mein Koffer ist nicht da", "de"},
        {"\xd0\x93\xd0\xb4\xd0\xb5 \xd0\xbc\xd0\xbe\xd0\xb9 "
         "\xd0\xb1\xd0\xb0\xd0\xb3\xd0\xb0\xd0\xb6?",
         "ru"},
        {"\xe8\x8d\xb7\xe7\x89\xa9\xe3\x81\x8c\xe5\xb1\x8a\xe3\x81\x8d\xe3\x81\xbe\xe3"
         "\x81\x9b\xe3\x82\x93",
         "ja"},
        {"12345 !!!", "und"},
    };
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        struct classification c = run(g[i].text);
        if (strcmp(c.language, g[i].want) != 0)
            fail_msg("\"%s\": language %s, want %s", g[i].text, c.language, g[i].want);
        assert_true(c.language_detected);
    }
    /* the platform's language wins */
    struct classification c;
    struct classifier_author a = {.lang = "pt"};
    assert_int_equal(classifier_classify(cl, scr, "hello there", 11, &a, &c), 0);
    assert_string_equal(c.language, "pt");
    assert_false(c.language_detected);
    json_t *j = classifier_to_json(cl, &c);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "language"), "source")),
        "platform");
    json_decref(j);
}

static void test_json(void **state)
{
    (void)state;
    struct classification c =
        run("my order #A1234567 never arrived, this is unacceptable");
    json_t *j = classifier_to_json(cl, &c);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "intent")), "complaint");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "sentiment"), "label")),
        "negative");
    assert_true(
        json_real_value(json_object_get(json_object_get(j, "sentiment"), "score")) < 0);
    json_t *pii = json_object_get(j, "pii");
    assert_int_equal(json_array_size(pii), 1);
    assert_string_equal(json_string_value(json_array_get(pii, 0)), "order_number");
    json_t *reasons = json_object_get(j, "reasons");
    assert_true(json_array_size(reasons) >= 2);
    for (size_t i = 0; i < json_array_size(reasons);
         i++) /* no personal data in reasons */
        assert_null(strstr(json_string_value(json_array_get(reasons, i)), "1234567"));
    assert_string_equal(json_string_value(json_object_get(j, "model")), "airline-1");
    assert_non_null(json_object_get(j, "topic"));
    assert_non_null(json_object_get(j, "confidence"));
    assert_non_null(json_object_get(j, "influence"));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_sentiment),
        cmocka_unit_test(test_golden_intent),
        cmocka_unit_test(test_golden_topic),
        cmocka_unit_test(test_tokenizer),
        cmocka_unit_test(test_normalize_fast_path),
        cmocka_unit_test(test_features),
        cmocka_unit_test(test_model_corruption),
        cmocka_unit_test(test_model_roundtrip),
        cmocka_unit_test(test_rules_order),
        cmocka_unit_test(test_pii),
        cmocka_unit_test(test_influence),
        cmocka_unit_test(test_language),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
