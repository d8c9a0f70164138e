/* Text pipeline: normalise (utf8proc NFC + case fold; ASCII and code points that need no
 * change copied directly), tokenise in one pass over the normalised bytes (gathering the
 * language evidence on the way), and hash unigrams (negation-marked), bigrams and
 * character 4-grams of words into a fixed feature space. No allocation: all buffers live
 * in struct cls_text_scratch. */
#include "text.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <utf8proc.h>

#include "error.h"

#define SEED_WORD  0x9e3779b1u
#define SEED_NEG   0x85ebca6bu
#define SEED_BI    0xc2b2ae35u
#define SEED_CHAR  0x27d4eb2fu
#define W_UNI      1.0f /* every word-level feature: unigrams, bigrams, elongation */
#define W_CHAR     0.8f /* every character 4-gram */
#define NEG_WINDOW 5

/* Bytes p[0 .. 4) as a little-endian integer. */
static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

uint32_t cls_hash(const void *data, size_t len, uint32_t seed)
{
    /* eight bytes per multiply (little-endian order whatever the machine), then the
     * murmur3 64-bit finaliser; a last part of 4..7 bytes is read as two overlapping
     * 4-byte words, of 1..3 bytes as first, middle and last byte (len is in the seed,
     * so this stays a function of the bytes) */
    const unsigned char *p = data;
    uint64_t h = seed ^ ((uint64_t)len * 0x9e3779b97f4a7c15ull);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = (uint64_t)le32(p + i) | (uint64_t)le32(p + i + 4) << 32;
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    size_t r = len - i;
    if (r > 0) {
        uint64_t v;
        if (r >= 4)
            v = (uint64_t)le32(p + i) | (uint64_t)le32(p + len - 4) << 32;
        else
            v = (uint64_t)p[i] | (uint64_t)p[i + r / 2] << 8 | (uint64_t)p[len - 1] << 16;
        h = (h ^ v) * 0xff51afd7ed558ccdull;
    }
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (uint32_t)h;
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

/* What NFC + case folding + dropping default-ignorables (the utf8proc options below) do
 * to code point cp >= 0x80 on its own: 1 = left as it is, 0 = dropped (ignorable), -1 =
 * anything else or unsure (a canonical decomposition, a case folding, a combining class,
 * a part of a composition, Hangul): then only utf8proc can say. */
static int passthrough(int32_t cp)
{
    if ((cp >= 0x1100 && cp <= 0x11ff) || (cp >= 0x3130 && cp <= 0x318f) ||
        (cp >= 0xa960 && cp <= 0xa97f) || (cp >= 0xac00 && cp <= 0xd7ff))
        return -1; /* Hangul composes algorithmically */
    const utf8proc_property_t *pr = utf8proc_get_property(cp);
    if ((pr->decomp_seqindex != UINT16_MAX && pr->decomp_type == 0) ||
        pr->casefold_seqindex != UINT16_MAX || pr->combining_class != 0 ||
        pr->comb_index != UINT16_MAX)
        return -1;
    return pr->ignorable ? 0 : 1;
}

int cls_normalize(struct cls_text_scratch *s, const char *text, size_t len)
{
    if (len > CLS_TEXT_MAX) {
        len = CLS_TEXT_MAX;
        while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
            len--; /* cut at a code point boundary */
    }
    size_t i = 0;
    /* eight bytes at a time while they are ASCII and not NUL: 'A'..'Z' get 0x20 */
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, text + i, 8);
        if ((v & highs) || ((v - ones) & ~v & highs))
            break; /* a non-ASCII or NUL byte: the byte loop below decides */
        uint64_t ge_a = v + (0x80 - 'A') * ones, gt_z = v + (0x7f - 'Z') * ones;
        v |= (ge_a & ~gt_z & highs) >> 2;
        memcpy(s->ascii + i, &v, 8);
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x80 || c == 0)
            break;
        s->ascii[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    s->lang_ready = 0;
    /* Mixed text: ASCII plus code points that NFC and case folding leave as they are
     * (typically curly quotes and emoji) is copied here; the first other one sends the
     * whole text through utf8proc. */
    size_t o = i;
    while (i < len) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x80) {
            if (c == 0)
                break;
            s->ascii[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            i++;
            continue;
        }
        int32_t cp;
        utf8proc_ssize_t l = utf8proc_iterate((const utf8proc_uint8_t *)text + i,
                                              (utf8proc_ssize_t)(len - i), &cp);
        if (l <= 0)
            break; /* invalid UTF-8: utf8proc rejects it below */
        if (cp == 0x2018 || cp == 0x2019) {
            s->ascii[o++] = '\''; /* as fold_apostrophes */
        } else {
            int keep = passthrough(cp);
            if (keep < 0)
                break;
            if (keep) {
                memcpy(s->ascii + o, text + i, (size_t)l);
                o += (size_t)l;
            }
        }
        i += (size_t)l;
    }
    if (i == len) {
        s->ascii[o] = '\0';
        s->norm = s->ascii;
        s->norm_len = o;
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

/* lang_words in an open-addressing hash table (256 slots, under half full), built once:
 * one or two probes per short word instead of a binary search. */
#define LANG_SLOTS 256u
static struct {
    uint32_t key; /* 0 = empty (no word packs to 0) */
    uint8_t mask;
} lang_slots[LANG_SLOTS];
static pthread_once_t lang_once = PTHREAD_ONCE_INIT;

static unsigned lang_slot(uint32_t key)
{
    return (key * 0x9e3779b1u) >> 24;
}

static void lang_build(void)
{
    for (size_t i = 0; i < sizeof(lang_words) / sizeof(lang_words[0]); i++) {
        unsigned h = lang_slot(lang_words[i].key);
        while (lang_slots[h].key)
            h = (h + 1) & (LANG_SLOTS - 1);
        lang_slots[h].key = lang_words[i].key;
        lang_slots[h].mask = lang_words[i].mask;
    }
}

static unsigned word_langs(const char *w, size_t l)
{
    uint32_t key = 0;
    for (size_t i = 0; i < 4; i++)
        key = (key << 8) | (i < l ? (unsigned char)w[i] : 0u);
    for (unsigned h = lang_slot(key); lang_slots[h].key; h = (h + 1) & (LANG_SLOTS - 1))
        if (lang_slots[h].key == key)
            return lang_slots[h].mask;
    return 0;
}

/* Scripts that decide the language by themselves, indexed as script_of returns. */
static const char *const script_names[CLS_LANG_SCRIPTS] = {"ru", "el", "he", "ar", "hi",
                                                           "th", "ja", "ko", "zh"};
#define SCRIPT_JA 6

/* Script of a code point: an index into script_names, or -1. */
static int script_of(int32_t cp)
{
    if (cp < 0x0370)
        return -1;
    if (cp <= 0x03ff)
        return 1;
    if (cp >= 0x0400 && cp <= 0x04ff)
        return 0;
    if (cp >= 0x0590 && cp <= 0x05ff)
        return 2;
    if (cp >= 0x0600 && cp <= 0x06ff)
        return 3;
    if (cp >= 0x0900 && cp <= 0x097f)
        return 4;
    if (cp >= 0x0e00 && cp <= 0x0e7f)
        return 5;
    if (cp >= 0x3040 && cp <= 0x30ff)
        return SCRIPT_JA;
    if (cp >= 0xac00 && cp <= 0xd7af)
        return 7;
    if (cp >= 0x4e00 && cp <= 0x9fff)
        return 8;
    return -1;
}

/* Counts a word token as language evidence (called by the tokeniser for plain words,
 * not for #hashtags or @mentions): Latin words starting with a-z vote for the languages
 * using them when they are common short words. */
static void lang_word(struct cls_text_scratch *s, const char *w, size_t l)
{
    unsigned char c = (unsigned char)w[0];
    if (c < 'a' || c > 'z')
        return;
    s->lang_latin++;
    /* the letters before an apostrophe or digit: "can't" votes as "can" */
    size_t n = 1;
    while (n < l && n <= 4 &&
           (((unsigned char)w[n] >= 'a' && (unsigned char)w[n] <= 'z') ||
            (unsigned char)w[n] >= 0x80))
        n++;
    unsigned mask = n <= 4 ? word_langs(w, n) : 0;
    for (unsigned i = 0; mask; i++, mask >>= 1)
        s->lang_votes[i] += mask & 1u;
}

static void count_none(void *opaque, const struct cls_token *tok)
{
    (void)opaque;
    (void)tok;
}

const char *cls_detect_language(struct cls_text_scratch *s)
{
    if (!s->lang_ready)
        cls_tokenize(s, count_none, NULL);
    unsigned best_script = 0;
    for (unsigned i = 1; i < CLS_LANG_SCRIPTS; i++)
        if (s->lang_script[i] > s->lang_script[best_script])
            best_script = i;
    /* kana anywhere means Japanese even when kanji dominate */
    if (s->lang_script[SCRIPT_JA] > 0)
        best_script = SCRIPT_JA;
    if (s->lang_script[best_script] > 0 && s->lang_script[best_script] >= s->lang_latin)
        return script_names[best_script];
    unsigned best = 0;
    for (size_t i = 1; i < sizeof(lang_names) / sizeof(lang_names[0]); i++)
        if (s->lang_votes[i] > s->lang_votes[best])
            best = (unsigned)i;
    return s->lang_votes[best] > 0 ? lang_names[best] : "und";
}

/* ------------------------------------------------------------------ tokeniser */

/* Byte classes of the tokeniser: 1 = ASCII word byte (a-z, 0-9, '_'), 2 = space
 * (' ', \t, \n, \r, \f, \v). Generated; the text is case-folded. */
static const unsigned char byte_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static int is_ascii_word(unsigned char c)
{
    return byte_class[c] & 1;
}

static int is_space(unsigned char c)
{
    return byte_class[c] & 2;
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

#define NEG(w)                                                                           \
    {                                                                                    \
        w, sizeof(w) - 1                                                                 \
    }
static const struct {
    const char *w;
    size_t n;
} negators[] = {
    NEG("not"),     NEG("no"),      NEG("never"),    NEG("nothing"), NEG("nobody"),
    NEG("none"),    NEG("nowhere"), NEG("neither"),  NEG("nor"),     NEG("cannot"),
    NEG("cant"),    NEG("dont"),    NEG("wont"),     NEG("didnt"),   NEG("doesnt"),
    NEG("isnt"),    NEG("wasnt"),   NEG("arent"),    NEG("havent"),  NEG("hasnt"),
    NEG("couldnt"), NEG("wouldnt"), NEG("shouldnt"), NEG("aint"),    NEG("without")};
#undef NEG

/* Up to eight bytes packed into an integer, zero-padded. */
static uint64_t pack8(const char *w, size_t n)
{
    uint64_t k = 0;
    for (size_t i = 0; i < n && i < 8; i++)
        k |= (uint64_t)(unsigned char)w[i] << (8 * i);
    return k;
}

#define N_NEGATORS (sizeof(negators) / sizeof(negators[0]))
#define NEG_SLOTS  64u
static uint64_t negator_slots[NEG_SLOTS]; /* packed negators, hashed (tables_build) */

static unsigned neg_slot(uint64_t k)
{
    return (unsigned)((k * 0x9e3779b97f4a7c15ull) >> 58);
}

static int is_negator(const char *w, size_t n)
{
    if (n >= 3 && w[n - 3] == 'n' && w[n - 2] == '\'' && w[n - 1] == 't')
        return 1;
    unsigned f = (unsigned char)w[0] - 'a'; /* first letters: a c d h i n s w */
    if (n < 2 || n > 8 || f > 25 || !((0x44218du >> f) & 1u))
        return 0;
    uint64_t k = pack8(w, n);
    for (unsigned h = neg_slot(k); negator_slots[h]; h = (h + 1) & (NEG_SLOTS - 1))
        if (negator_slots[h] == k)
            return 1;
    return 0;
}

static int boundary_after(const char *p, const char *end)
{
    return p >= end || is_space((unsigned char)*p) || *p == '.' || *p == ',' ||
           *p == '!' || *p == '?';
}

/* Tables built once per process: the language word hash and the packed negators. */
static void tables_build(void)
{
    lang_build();
    for (size_t i = 0; i < N_NEGATORS; i++) {
        uint64_t k = pack8(negators[i].w, negators[i].n);
        unsigned h = neg_slot(k);
        while (negator_slots[h])
            h = (h + 1) & (NEG_SLOTS - 1);
        negator_slots[h] = k;
    }
}

static void lang_reset(struct cls_text_scratch *s)
{
    pthread_once(&lang_once, tables_build);
    s->lang_latin = 0;
    memset(s->lang_votes, 0, sizeof(s->lang_votes));
    memset(s->lang_script, 0, sizeof(s->lang_script));
}

size_t cls_tokenize(struct cls_text_scratch *s,
                    void (*fn)(void *opaque, const struct cls_token *tok), void *opaque)
{
    const char *p = s->norm, *end = s->norm + s->norm_len;
    size_t count = 0;
    int neg = 0; /* words left in the current negation scope */
    s->elong_used = 0;
    lang_reset(s);
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
        if (is_space(c)) {
            p++;
            continue;
        }
        t.negated = t.elongated = 0;
        int at_start = p == s->norm || is_space((unsigned char)p[-1]);
        if ((c == 'h' || c == 'w') && ((end - p >= 7 && !memcmp(p, "http://", 7)) ||
                                       (end - p >= 8 && !memcmp(p, "https://", 8)) ||
                                       (end - p >= 4 && !memcmp(p, "www.", 4)))) {
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
            /* find the word's end; elongation = three equal letters a-z in a row */
            const char *q = p;
            int run = 0, elong = 0;
            unsigned char prev = 0;
            while (q < end) {
                unsigned char d = (unsigned char)*q;
                if (is_ascii_word(d) || (d == '\'' && q + 1 < end &&
                                         is_ascii_word((unsigned char)q[1]) && q > p)) {
                    run = d == prev ? run + 1 : 1;
                    prev = d;
                    elong |= run >= 3 && d >= 'a' && d <= 'z';
                    q++;
                } else if (d >= 0x80) {
                    int32_t dc;
                    size_t l = decode(q, (size_t)(end - q), &dc);
                    if (!cp_is_letter(dc))
                        break;
                    int sc = script_of(dc);
                    if (sc >= 0)
                        s->lang_script[sc]++;
                    run = 1;
                    prev = 0;
                    q += l;
                } else {
                    break;
                }
            }
            const char *w = p;
            size_t wl = (size_t)(q - p);
            if (elong) { /* collapse runs to two letters ("sooo" -> "soo") in s->elong */
                char *buf = s->elong + s->elong_used;
                size_t room = sizeof(s->elong) - s->elong_used - 1, bl = 0;
                run = 0;
                prev = 0;
                for (const char *r = p; r < q; r++) {
                    unsigned char d = (unsigned char)*r;
                    run = d == prev && d < 0x80 ? run + 1 : 1;
                    prev = d < 0x80 ? d : 0;
                    if ((run < 3 || d < 'a' || d > 'z') && bl < room)
                        buf[bl++] = (char)d;
                }
                s->elong_used += bl;
                w = buf;
                wl = bl;
            }
            if (wl > 0xffff)
                wl = 0xffff;
            t.negated = neg > 0;
            t.elongated = (uint8_t)elong;
            EMIT(w, wl, CLS_TOK_WORD);
            lang_word(s, w, wl);
            if (neg > 0)
                neg--;
            if (is_negator(w, wl))
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
    s->lang_ready = 1;
    return count;
}

/* ------------------------------------------------------------------ features */

struct feat_ctx {
    struct cls_features *out;
    uint32_t mask;
    uint32_t prev; /* hash of the previous token, 0 at start */
    uint32_t nw;   /* word-level features, from the front of out->idx */
    uint32_t nc;   /* character n-grams, from the back of out->idx (reversed) */
};

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
    /* locals: stores into idx could alias the counters and force reloads */
    uint32_t *idx = fc->out->idx, mask = fc->mask, nw = fc->nw, nc = fc->nc;
    uint32_t hp = cls_hash(t->text, t->len, SEED_WORD);
    if (nw + nc + 3 > CLS_MAX_FEATURES)
        return; /* full (a text of thousands of words): the rest is ignored */
    idx[nw++] = (t->negated ? mix32(hp ^ SEED_NEG) : hp) & mask;
    if (fc->prev)
        idx[nw++] = mix32((fc->prev * 31u) ^ hp ^ SEED_BI) & mask;
    fc->prev = hp;
    if (t->elongated)
        idx[nw++] = (SEED_WORD ^ 0x5bd1e995u) & mask;
    if (t->kind == CLS_TOK_WORD && t->len >= 2) {
        /* character 4-grams of " word " (3-grams added nothing on cross-validation and
         * cost as much again): a rolling window of the last four bytes */
        size_t l = t->len < 62 ? t->len : 62;
        if (nw + nc + l > CLS_MAX_FEATURES)
            l = 0;
        const unsigned char *tx = (const unsigned char *)t->text;
        uint32_t w = (uint32_t)' ' << 16 | (uint32_t)tx[0] << 8 | tx[1];
        uint32_t *back = idx + CLS_MAX_FEATURES - 1 - nc;
        for (size_t i = 2; i < l; i++) {
            w = w << 8 | tx[i];
            *back-- = mix32(w ^ SEED_CHAR) & mask;
        }
        if (l >= 2) {
            w = w << 8 | ' ';
            *back-- = mix32(w ^ SEED_CHAR) & mask;
            nc += (uint32_t)(l - 1);
        }
    }
    fc->nw = nw;
    fc->nc = nc;
}

int cls_featurize_blocks(struct cls_text_scratch *s, const char *text, size_t len,
                         unsigned bits, struct cls_features *out)
{
    out->n = out->n_word = 0;
    out->char_at = CLS_MAX_FEATURES;
    out->word_val = out->char_val = 0;
    if (cls_normalize(s, text, len) != 0)
        return SC_EPARSE;
    struct feat_ctx fc = {
        .out = out, .mask = (1u << bits) - 1, .prev = 0, .nw = 0, .nc = 0};
    cls_tokenize(s, feature_token, &fc);
    out->n = fc.nw + fc.nc;
    out->n_word = fc.nw;
    out->char_at = CLS_MAX_FEATURES - fc.nc; /* written backwards from the end */
    double norm2 = (double)fc.nw * W_UNI * W_UNI + (double)fc.nc * W_CHAR * W_CHAR;
    if (norm2 > 0) {
        double inv = 1.0 / sqrt(norm2);
        out->word_val = (float)(W_UNI * inv);
        out->char_val = (float)(W_CHAR * inv);
    }
    return 0;
}

int cls_featurize(struct cls_text_scratch *s, const char *text, size_t len, unsigned bits,
                  struct cls_features *out)
{
    if (cls_featurize_blocks(s, text, len, bits, out) != 0)
        return SC_EPARSE;
    /* move the character n-grams next to the word features */
    uint32_t *idx = out->idx, nw = out->n_word;
    memmove(idx + nw, idx + out->char_at, (out->n - nw) * sizeof(uint32_t));
    out->char_at = nw;
    for (uint32_t i = 0; i < nw; i++)
        out->val[i] = out->word_val;
    for (uint32_t i = nw; i < out->n; i++)
        out->val[i] = out->char_val;
    return 0;
}

#define Q(w)                                                                             \
    {                                                                                    \
        w, sizeof(w) - 1                                                                 \
    }
static const struct {
    const char *w;
    size_t n;
} interrogatives[] = {Q("how "),       Q("what "),      Q("when "),    Q("where "),
                      Q("why "),       Q("who "),       Q("which "),   Q("can i "),
                      Q("can you "),   Q("could you "), Q("could i "), Q("is there "),
                      Q("are there "), Q("do you "),    Q("does "),    Q("is it "),
                      Q("will "),      Q("should i "),  Q("may i "),   Q("would you "),
                      Q("is my "),     Q("are you "),   Q("did you "), Q("do i ")};
#undef Q

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
    if (end - p < 4 || !strchr("hwcidasm", *p)) /* first letters of interrogatives */
        return 0;
    for (size_t i = 0; i < sizeof(interrogatives) / sizeof(interrogatives[0]); i++) {
        size_t l = interrogatives[i].n;
        if (interrogatives[i].w[0] == *p && (size_t)(end - p) >= l &&
            !memcmp(p, interrogatives[i].w, l))
            return 1;
    }
    return 0;
}
