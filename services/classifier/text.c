/* Text pipeline: normalise (utf8proc NFC + case fold, ASCII fast path), tokenise in one
 * pass over the normalised bytes, and hash unigrams (negation-marked), bigrams and
 * character 3..5-grams of words into a fixed feature space. No allocation: all buffers
 * live in struct cls_text_scratch. */
#include "text.h"

#include <math.h>
#include <string.h>
#include <utf8proc.h>

#include "error.h"

#define SEED_WORD  0x9e3779b1u
#define SEED_NEG   0x85ebca6bu
#define SEED_BI    0xc2b2ae35u
#define SEED_CHAR  0x27d4eb2fu
#define W_UNI      1.0f
#define W_BI       1.0f
#define W_CHAR     0.6f
#define NEG_WINDOW 5

uint32_t cls_hash(const void *data, size_t len, uint32_t seed)
{
    const unsigned char *p = data;
    uint32_t h = 2166136261u ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* Replaces U+2019 (right single quotation mark) by an ASCII apostrophe, in place. */
static size_t fold_apostrophes(char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
            ((unsigned char)s[i + 2] == 0x99 || (unsigned char)s[i + 2] == 0x98)) {
            s[o++] = '\'';
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    return o;
}

int cls_normalize(struct cls_text_scratch *s, const char *text, size_t len)
{
    if (len > CLS_TEXT_MAX) {
        len = CLS_TEXT_MAX;
        while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
            len--; /* cut at a code point boundary */
    }
    size_t i = 0;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x80 || c == 0)
            break;
        s->ascii[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    if (i == len) {
        s->ascii[len] = '\0';
        s->norm = s->ascii;
        s->norm_len = len;
        return 0;
    }
    utf8proc_ssize_t n = utf8proc_decompose(
        (const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, s->norm32,
        CLS_NORM_CAP - 1,
        UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);
    if (n < 0 || n > CLS_NORM_CAP - 1)
        return SC_EPARSE;
    for (utf8proc_ssize_t k = 0; k < n; k++)
        if (s->norm32[k] == 0)
            return SC_EPARSE;
    n = utf8proc_reencode(s->norm32, n,
                          UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD);
    if (n < 0)
        return SC_EPARSE;
    char *out = (char *)s->norm32;
    s->norm_len = fold_apostrophes(out, (size_t)n);
    s->norm = out;
    return 0;
}

/* ------------------------------------------------------------------ tokeniser */

static int is_ascii_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Decodes one code point at p (valid UTF-8 after normalisation); returns its length. */
static size_t decode(const char *p, size_t avail, int32_t *cp)
{
    utf8proc_ssize_t n =
        utf8proc_iterate((const utf8proc_uint8_t *)p, (utf8proc_ssize_t)avail, cp);
    if (n <= 0) {
        *cp = -1;
        return 1;
    }
    return (size_t)n;
}

static int cp_is_letter(int32_t cp)
{
    utf8proc_category_t cat = utf8proc_category(cp);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_ME) ||
           cat == UTF8PROC_CATEGORY_ND;
}

static int cp_is_modifier(int32_t cp)
{
    return cp == 0x200d || (cp >= 0xfe00 && cp <= 0xfe0f) ||
           (cp >= 0x1f3fb && cp <= 0x1f3ff) || (cp >= 0xe0020 && cp <= 0xe007f);
}

struct emoticon {
    const char *face;
    const char *token;
};

static const struct emoticon emoticons[] = {
    {":-)", "<smile>"},  {":)", "<smile>"},    {"=)", "<smile>"},    {":-d", "<laugh>"},
    {":d", "<laugh>"},   {"xd", "<laugh>"},    {";-)", "<wink>"},    {";)", "<wink>"},
    {":-(", "<sad>"},    {":(", "<sad>"},      {":'(", "<sad>"},     {"=(", "<sad>"},
    {":/", "<skeptic>"}, {":-/", "<skeptic>"}, {":|", "<skeptic>"},  {"<3", "<heart>"},
    {":p", "<tongue>"},  {":-p", "<tongue>"},  {":o", "<surprise>"}, {">:(", "<angry>"},
};

static const char *const negators[] = {
    "not",     "no",       "never",  "nothing", "nobody", "none",  "nowhere",
    "neither", "nor",      "cannot", "cant",    "dont",   "wont",  "didnt",
    "doesnt",  "isnt",     "wasnt",  "arent",   "havent", "hasnt", "couldnt",
    "wouldnt", "shouldnt", "aint",   "without"};

static int is_negator(const char *w, size_t n)
{
    if (n >= 3 && w[n - 3] == 'n' && w[n - 2] == '\'' && w[n - 1] == 't')
        return 1;
    if (n < 2 || n > 8 || !strchr("ncdwihasn", w[0]))
        return 0;
    for (size_t i = 0; i < sizeof(negators) / sizeof(negators[0]); i++)
        if (negators[i][0] == w[0] && !strncmp(negators[i], w, n) &&
            negators[i][n] == '\0')
            return 1;
    return 0;
}

static int boundary_after(const char *p, const char *end)
{
    return p >= end || is_space((unsigned char)*p) || *p == '.' || *p == ',' ||
           *p == '!' || *p == '?';
}

size_t cls_tokenize(struct cls_text_scratch *s,
                    void (*fn)(void *opaque, const struct cls_token *tok), void *opaque)
{
    const char *p = s->norm, *end = s->norm + s->norm_len;
    size_t count = 0;
    int neg = 0; /* words left in the current negation scope */
    s->elong_used = 0;
    struct cls_token t;
#define EMIT(txt, l, k)                                                                  \
    do {                                                                                 \
        t.text = (txt);                                                                  \
        t.len = (uint16_t)(l);                                                           \
        t.kind = (k);                                                                    \
        fn(opaque, &t);                                                                  \
        count++;                                                                         \
    } while (0)
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        memset(&t, 0, sizeof(t));
        if (is_space(c)) {
            p++;
            continue;
        }
        int at_start = p == s->norm || is_space((unsigned char)p[-1]);
        if ((end - p >= 7 && !memcmp(p, "http://", 7)) ||
            (end - p >= 8 && !memcmp(p, "https://", 8)) ||
            (end - p >= 4 && !memcmp(p, "www.", 4))) {
            while (p < end && !is_space((unsigned char)*p))
                p++;
            EMIT("<url>", 5, CLS_TOK_URL);
            continue;
        }
        if ((c == '@' || c == '#') && p + 1 < end &&
            (is_ascii_word((unsigned char)p[1]) || (unsigned char)p[1] >= 0x80)) {
            const char *q = p + 1;
            while (q < end) {
                if (is_ascii_word((unsigned char)*q)) {
                    q++;
                    continue;
                }
                int32_t cp;
                size_t l = decode(q, (size_t)(end - q), &cp);
                if ((unsigned char)*q < 0x80 || !cp_is_letter(cp))
                    break;
                q += l;
            }
            if (q == p + 1) { /* '#' or '@' before a non-letter */
                p++;
                continue;
            }
            if (c == '@') {
                EMIT("<user>", 6, CLS_TOK_MENTION);
            } else {
                EMIT(p, q - p, CLS_TOK_HASHTAG);
                EMIT(p + 1, q - p - 1, CLS_TOK_WORD);
            }
            p = q;
            continue;
        }
        if (at_start &&
            (c == ':' || c == ';' || c == '=' || c == 'x' || c == '<' || c == '>')) {
            const struct emoticon *hit = NULL;
            for (size_t i = 0; i < sizeof(emoticons) / sizeof(emoticons[0]); i++) {
                size_t l = strlen(emoticons[i].face);
                if ((size_t)(end - p) >= l && !memcmp(p, emoticons[i].face, l) &&
                    boundary_after(p + l, end)) {
                    hit = &emoticons[i];
                    break;
                }
            }
            if (hit) {
                p += strlen(hit->face);
                EMIT(hit->token, strlen(hit->token), CLS_TOK_EMOTICON);
                continue;
            }
        }
        if (c >= '0' && c <= '9') {
            const char *q = p;
            while (q < end && ((*q >= '0' && *q <= '9') ||
                               ((*q == '.' || *q == ',' || *q == ':') && q + 1 < end &&
                                q[1] >= '0' && q[1] <= '9')))
                q++;
            /* digits glued to letters ("2nd", "a320") are one word */
            if (q < end && is_ascii_word((unsigned char)*q)) {
                /* fall through to word scanning */
            } else {
                p = q;
                EMIT("<num>", 5, CLS_TOK_NUMBER);
                continue;
            }
        }
        int32_t cp = -1;
        size_t cl = c < 0x80 ? 1 : decode(p, (size_t)(end - p), &cp);
        if (is_ascii_word(c) || (c >= 0x80 && cp_is_letter(cp))) {
            const char *q = p;
            int run = 0, elong = 0;
            unsigned char prev = 0;
            char *buf = s->elong + s->elong_used;
            size_t room = sizeof(s->elong) - s->elong_used - 1, bl = 0;
            while (q < end) {
                unsigned char d = (unsigned char)*q;
                size_t l = 1;
                if (d == '\'' && q + 1 < end && is_ascii_word((unsigned char)q[1]) &&
                    q > p) {
                    /* apostrophe inside a word */
                } else if (d >= 0x80) {
                    int32_t dc;
                    l = decode(q, (size_t)(end - q), &dc);
                    if (!cp_is_letter(dc))
                        break;
                } else if (!is_ascii_word(d)) {
                    break;
                }
                run = (l == 1 && d == prev) ? run + 1 : 1;
                prev = l == 1 ? d : 0;
                if (run >= 3 && d >= 'a' && d <= 'z') {
                    elong = 1; /* "sooo" -> "soo" */
                } else if (bl + l <= room) {
                    memcpy(buf + bl, q, l);
                    bl += l;
                }
                q += l;
            }
            if (bl > 0xffff)
                bl = 0xffff;
            t.negated = neg > 0;
            t.elongated = (uint8_t)elong;
            EMIT(buf, bl, CLS_TOK_WORD);
            s->elong_used += bl;
            if (neg > 0)
                neg--;
            if (is_negator(buf, bl))
                neg = NEG_WINDOW;
            p = q;
            continue;
        }
        if (c == '!' || c == '?') {
            const char *q = p;
            while (q < end && (*q == '!' || *q == '?'))
                q++;
            EMIT(c == '!' ? (q - p > 1 ? "!!" : "!") : (q - p > 1 ? "??" : "?"),
                 q - p > 1 ? 2 : 1, CLS_TOK_PUNCT);
            neg = 0;
            p = q;
            continue;
        }
        if (c == '.' || c == ',' || c == ';' || c == ':') {
            neg = 0;
            p++;
            continue;
        }
        if (c >= 0x80 && cp >= 0) {
            utf8proc_category_t cat = utf8proc_category(cp);
            if (!cp_is_modifier(cp) &&
                (cat == UTF8PROC_CATEGORY_SO || cat == UTF8PROC_CATEGORY_SK ||
                 (cp >= 0x1f000 && cp <= 0x1faff)))
                EMIT(p, cl, CLS_TOK_EMOJI);
            p += cl;
            continue;
        }
        p++;
    }
#undef EMIT
    return count;
}

/* ------------------------------------------------------------------ features */

struct feat_ctx {
    struct cls_features *out;
    uint32_t mask;
    uint32_t prev; /* hash of the previous token, 0 at start */
    double norm2;
};

static void add(struct feat_ctx *fc, uint32_t h, float v)
{
    struct cls_features *f = fc->out;
    if (f->n >= CLS_MAX_FEATURES)
        return;
    f->idx[f->n] = h & fc->mask;
    f->val[f->n] = v;
    f->n++;
    fc->norm2 += (double)v * v;
}

/* Cheap 32-bit mixer for packed character n-grams (n <= 4 bytes fit in the key). */
static uint32_t mix32(uint32_t x)
{
    x *= 0x9e3779b1u;
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    return x;
}

static void feature_token(void *opaque, const struct cls_token *t)
{
    struct feat_ctx *fc = opaque;
    uint32_t hp = cls_hash(t->text, t->len, SEED_WORD);
    add(fc, t->negated ? cls_hash(t->text, t->len, SEED_NEG) : hp, W_UNI);
    if (fc->prev)
        add(fc, mix32((fc->prev * 31u) ^ hp ^ SEED_BI), W_BI);
    fc->prev = hp;
    if (t->elongated)
        add(fc, SEED_WORD ^ 0x5bd1e995u, W_UNI);
    if (t->kind != CLS_TOK_WORD || t->len < 2)
        return;
    /* character 3- and 4-grams of " word ": a rolling window of the last four bytes */
    size_t l = t->len < 62 ? t->len : 62;
    uint32_t w = ' ';
    for (size_t i = 0; i <= l; i++) {
        unsigned char c = i < l ? (unsigned char)t->text[i] : ' ';
        w = (w << 8) | c;
        if (i >= 1) /* bytes i-2 .. i of the padded word */
            add(fc, mix32((w & 0xffffffu) ^ (SEED_CHAR + 3u)), W_CHAR);
        if (i >= 2)
            add(fc, mix32(w ^ (SEED_CHAR + 4u)) ^ 0x27d4eb2du, W_CHAR);
    }
}

int cls_featurize(struct cls_text_scratch *s, const char *text, size_t len, unsigned bits,
                  struct cls_features *out)
{
    out->n = 0;
    if (cls_normalize(s, text, len) != 0)
        return SC_EPARSE;
    struct feat_ctx fc = {.out = out, .mask = (1u << bits) - 1, .prev = 0, .norm2 = 0};
    cls_tokenize(s, feature_token, &fc);
    if (fc.norm2 > 0) {
        float inv = (float)(1.0 / sqrt(fc.norm2));
        for (uint32_t i = 0; i < out->n; i++)
            out->val[i] *= inv;
    }
    return 0;
}

static const char *const interrogatives[] = {
    "how ",       "what ",      "when ",    "where ",     "why ",     "who ",
    "which ",     "can i ",     "can you ", "could you ", "could i ", "is there ",
    "are there ", "do you ",    "does ",    "is it ",     "will ",    "should i ",
    "may i ",     "would you ", "is my ",   "are you ",   "did you ", "do i "};

int cls_is_question(const struct cls_text_scratch *s)
{
    if (memchr(s->norm, '?', s->norm_len))
        return 1;
    const char *p = s->norm, *end = s->norm + s->norm_len;
    /* skip leading mentions */
    for (;;) {
        while (p < end && is_space((unsigned char)*p))
            p++;
        if (p < end && *p == '@') {
            while (p < end && !is_space((unsigned char)*p))
                p++;
            continue;
        }
        break;
    }
    for (size_t i = 0; i < sizeof(interrogatives) / sizeof(interrogatives[0]); i++) {
        size_t l = strlen(interrogatives[i]);
        if ((size_t)(end - p) >= l && !memcmp(p, interrogatives[i], l))
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ language */

/* Common short words of the Latin-script languages detected: the word's bytes packed
 * big-endian into 32 bits (zero-padded), sorted by key for a binary search, with a bit
 * mask of the languages using it (bit i = lang_names[i]). Generated from word lists; keep
 * sorted. */
static const char *const lang_names[] = {"en", "es", "fr", "de", "nl", "it", "pt"};

static const struct {
    uint32_t key;
    uint8_t mask;
} lang_words[] = {
    {0x61000000u, 0x40}, /* a */
    {0x616c0000u, 0x02}, /* al */
    {0x616e6400u, 0x01}, /* and */
    {0x61726500u, 0x01}, /* are */
    {0x61740000u, 0x01}, /* at */
    {0x61756600u, 0x08}, /* auf */
    {0x61766563u, 0x04}, /* avec */
    {0x62650000u, 0x01}, /* be */
    {0x62757400u, 0x01}, /* but */
    {0x63616e00u, 0x01}, /* can */
    {0x63686500u, 0x20}, /* che */
    {0x636f6d00u, 0x40}, /* com */
    {0x636f6e00u, 0x22}, /* con */
    {0x64610000u, 0x40}, /* da */
    {0x64616e73u, 0x04}, /* dans */
    {0x64617300u, 0x08}, /* das */
    {0x64617400u, 0x10}, /* dat */
    {0x64650000u, 0x56}, /* de */
    {0x64656c00u, 0x22}, /* del */
    {0x64656e00u, 0x08}, /* den */
    {0x64657200u, 0x08}, /* der */
    {0x64657300u, 0x04}, /* des */
    {0x64690000u, 0x20}, /* di */
    {0x64696500u, 0x08}, /* die */
    {0x646f0000u, 0x40}, /* do */
    {0x64750000u, 0x04}, /* du */
    {0x65000000u, 0x60}, /* e */
    {0x65656e00u, 0x10}, /* een */
    {0x65696e00u, 0x08}, /* ein */
    {0x65696e65u, 0x08}, /* eine */
    {0x656c0000u, 0x02}, /* el */
    {0x656d0000u, 0x40}, /* em */
    {0x656e0000u, 0x12}, /* en */
    {0x65730000u, 0x0a}, /* es */
    {0x65737400u, 0x04}, /* est */
    {0x65740000u, 0x04}, /* et */
    {0x666f7200u, 0x01}, /* for */
    {0x67657400u, 0x01}, /* get */
    {0x68617665u, 0x01}, /* have */
    {0x68657400u, 0x10}, /* het */
    {0x686f0000u, 0x20}, /* ho */
    {0x69636800u, 0x08}, /* ich */
    {0x696b0000u, 0x10}, /* ik */
    {0x696c0000u, 0x20}, /* il */
    {0x696e0000u, 0x01}, /* in */
    {0x69730000u, 0x11}, /* is */
    {0x69737400u, 0x08}, /* ist */
    {0x69740000u, 0x01}, /* it */
    {0x6a650000u, 0x14}, /* je */
    {0x6a757374u, 0x01}, /* just */
    {0x6c610000u, 0x26}, /* la */
    {0x6c617300u, 0x02}, /* las */
    {0x6c650000u, 0x04}, /* le */
    {0x6c657300u, 0x04}, /* les */
    {0x6c6f0000u, 0x02}, /* lo */
    {0x6c6f7300u, 0x02}, /* los */
    {0x6d650000u, 0x01}, /* me */
    {0x6d65696eu, 0x08}, /* mein */
    {0x6d657400u, 0x10}, /* met */
    {0x6d657500u, 0x40}, /* meu */
    {0x6d690000u, 0x22}, /* mi */
    {0x6d696a6eu, 0x10}, /* mijn */
    {0x6d697400u, 0x08}, /* mit */
    {0x6d6f6e00u, 0x04}, /* mon */
    {0x6d757900u, 0x02}, /* muy */
    {0x6d790000u, 0x01}, /* my */
    {0x6e696574u, 0x10}, /* niet */
    {0x6e6f0000u, 0x03}, /* no */
    {0x6e6f6e00u, 0x20}, /* non */
    {0x6e6f7400u, 0x01}, /* not */
    {0x6ec3a36fu, 0x40}, /* não */
    {0x6f000000u, 0x40}, /* o */
    {0x6f660000u, 0x01}, /* of */
    {0x6f6e0000u, 0x01}, /* on */
    {0x6f700000u, 0x10}, /* op */
    {0x6f730000u, 0x40}, /* os */
    {0x70617261u, 0x42}, /* para */
    {0x70617300u, 0x04}, /* pas */
    {0x70657200u, 0x20}, /* per */
    {0x7065726fu, 0x02}, /* pero */
    {0x706f7200u, 0x02}, /* por */
    {0x706f7572u, 0x04}, /* pour */
    {0x71756500u, 0x46}, /* que */
    {0x71756900u, 0x04}, /* qui */
    {0x73650000u, 0x02}, /* se */
    {0x73696500u, 0x08}, /* sie */
    {0x736f0000u, 0x01}, /* so */
    {0x736f6e6fu, 0x20}, /* sono */
    {0x73757200u, 0x04}, /* sur */
    {0x74686500u, 0x01}, /* the */
    {0x74686579u, 0x01}, /* they */
    {0x74686973u, 0x01}, /* this */
    {0x746f0000u, 0x01}, /* to */
    {0x756d0000u, 0x40}, /* um */
    {0x756d6100u, 0x40}, /* uma */
    {0x756e0000u, 0x26}, /* un */
    {0x756e6100u, 0x22}, /* una */
    {0x756e6400u, 0x08}, /* und */
    {0x756e6500u, 0x04}, /* une */
    {0x76616e00u, 0x10}, /* van */
    {0x766f6e00u, 0x08}, /* von */
    {0x766f6f72u, 0x10}, /* voor */
    {0x766f7573u, 0x04}, /* vous */
    {0x77617300u, 0x01}, /* was */
    {0x77650000u, 0x11}, /* we */
    {0x77686174u, 0x01}, /* what */
    {0x77697200u, 0x08}, /* wir */
    {0x77697468u, 0x01}, /* with */
    {0x79000000u, 0x02}, /* y */
    {0x796f7500u, 0x01}, /* you */
    {0x796f7572u, 0x01}, /* your */
    {0x7a696a6eu, 0x10}, /* zijn */
    {0x7a750000u, 0x08}, /* zu */
};

static unsigned word_langs(const char *w, size_t l)
{
    uint32_t key = 0;
    for (size_t i = 0; i < 4; i++)
        key = (key << 8) | (i < l ? (unsigned char)w[i] : 0u);
    size_t lo = 0, hi = sizeof(lang_words) / sizeof(lang_words[0]);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (lang_words[mid].key == key)
            return lang_words[mid].mask;
        if (lang_words[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Script of a code point, as a language when the script decides it. */
static const char *script_lang(int32_t cp)
{
    if (cp >= 0x0400 && cp <= 0x04ff)
        return "ru";
    if (cp >= 0x0370 && cp <= 0x03ff)
        return "el";
    if (cp >= 0x0590 && cp <= 0x05ff)
        return "he";
    if (cp >= 0x0600 && cp <= 0x06ff)
        return "ar";
    if (cp >= 0x0900 && cp <= 0x097f)
        return "hi";
    if (cp >= 0x0e00 && cp <= 0x0e7f)
        return "th";
    if (cp >= 0x3040 && cp <= 0x30ff)
        return "ja";
    if (cp >= 0xac00 && cp <= 0xd7af)
        return "ko";
    if (cp >= 0x4e00 && cp <= 0x9fff)
        return "zh";
    return NULL;
}

const char *cls_detect_language(const struct cls_text_scratch *s)
{
    const char *p = s->norm, *end = s->norm + s->norm_len;
    const char *scripts[8];
    unsigned script_n[8] = {0}, n_scripts = 0, latin = 0;
    unsigned votes[sizeof(lang_names) / sizeof(lang_names[0])] = {0};
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x80) {
            if (c == '@' || c == '#' || (end - p >= 4 && !memcmp(p, "http", 4))) {
                while (p < end && !is_space((unsigned char)*p))
                    p++;
                continue;
            }
            if (c >= 'a' && c <= 'z') {
                const char *q = p;
                while (q < end &&
                       (((unsigned char)*q >= 'a' && (unsigned char)*q <= 'z') ||
                        (unsigned char)*q >= 0x80))
                    q++;
                latin++;
                size_t l = (size_t)(q - p);
                unsigned mask = l <= 4 ? word_langs(p, l) : 0;
                for (unsigned i = 0; mask; i++, mask >>= 1)
                    votes[i] += mask & 1u;
                p = q;
                continue;
            }
            p++;
            continue;
        }
        int32_t cp;
        p += decode(p, (size_t)(end - p), &cp);
        const char *sl = script_lang(cp);
        if (!sl)
            continue;
        unsigned i = 0;
        while (i < n_scripts && strcmp(scripts[i], sl))
            i++;
        if (i == n_scripts && n_scripts < 8)
            scripts[n_scripts++] = sl;
        if (i < 8)
            script_n[i]++;
    }
    unsigned best_script = 0;
    for (unsigned i = 1; i < n_scripts; i++)
        if (script_n[i] > script_n[best_script])
            best_script = i;
    /* kana anywhere means Japanese even when kanji dominate */
    for (unsigned i = 0; i < n_scripts; i++)
        if (!strcmp(scripts[i], "ja") && script_n[i] > 0)
            best_script = i;
    if (n_scripts > 0 && script_n[best_script] >= latin)
        return scripts[best_script];
    unsigned best = 0;
    for (size_t i = 1; i < sizeof(votes) / sizeof(votes[0]); i++)
        if (votes[i] > votes[best])
            best = (unsigned)i;
    return votes[best] > 0 ? lang_names[best] : "und";
}
