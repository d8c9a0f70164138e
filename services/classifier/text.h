/* The classifier's text pipeline: Unicode NFC normalisation and case folding (utf8proc),
 * one tokenising pass (words, @mentions, #hashtags, URLs, numbers, emoji, emoticons,
 * elongations, negation scope) and word plus character n-gram features hashed into a
 * fixed space of 2^bits buckets. Everything works in a caller-owned scratch area: no
 * allocation per text. */
#ifndef CLASSIFIER_TEXT_H
#define CLASSIFIER_TEXT_H

#include <stddef.h>
#include <stdint.h>

#define CLS_TEXT_MAX     8192 /* bytes of text considered; the rest is ignored */
#define CLS_NORM_CAP     (3 * CLS_TEXT_MAX + 16)
#define CLS_MAX_FEATURES 4096
#define CLS_MAX_BITS     24
#define CLS_MIN_BITS     10
#define CLS_LANG_SCRIPTS 9 /* scripts that decide a language (cls_detect_language) */
/* Identifies the feature extraction; stored in every model and checked at load, so a
 * model trained with another pipeline is refused instead of silently misread. Change it
 * with any change to normalisation, tokens or hashing. */
#define CLS_FEATURES_ID "sc-text-2"

/* Token kinds reported by cls_tokenize (for tests and feature families). */
enum cls_token_kind {
    CLS_TOK_WORD,     /* letters/digits word, elongations collapsed to two letters */
    CLS_TOK_MENTION,  /* @user -> "<user>" */
    CLS_TOK_HASHTAG,  /* #tag -> "#tag" (the word "tag" follows as a word token) */
    CLS_TOK_URL,      /* http(s)://... or www.... -> "<url>" */
    CLS_TOK_NUMBER,   /* 12, 3.50, 10:30 -> "<num>" */
    CLS_TOK_EMOTICON, /* :) :( <3 ... -> "<smile>" "<sad>" "<heart>" ... */
    CLS_TOK_EMOJI,    /* one pictographic code point (modifiers and joiners dropped) */
    CLS_TOK_PUNCT,    /* "!" "?" "!!" "??" */
};

struct cls_token {
    const char *text; /* points into the normalised text or a static string */
    uint16_t len;
    uint8_t kind;    /* enum cls_token_kind */
    uint8_t negated; /* inside a negation scope ("not good" -> good is negated) */
    uint8_t elongated;
};

/* Hashed sparse feature vector, L2-normalised. Indices may repeat. cls_featurize puts
 * the word-level features (unigrams, bigrams, elongation) first, idx[0 .. n_word), each
 * with value word_val, then the character n-grams, idx[n_word .. n), each with value
 * char_val, and fills val. cls_featurize_blocks (the classifier's hot path) leaves the
 * character n-grams at idx[char_at .. char_at + n - n_word) and does not fill val: the
 * integer dot product (model.h, cls_fused_scores) needs only the two blocks. Vectors
 * built by other code (the evaluator) fill only n, idx and val. */
struct cls_features {
    uint32_t n;
    uint32_t n_word;
    uint32_t char_at;
    float word_val, char_val;
    uint32_t idx[CLS_MAX_FEATURES];
    float val[CLS_MAX_FEATURES];
};

/* Working memory of one thread; large (about 150 KiB): allocate once, reuse. */
struct cls_text_scratch {
    int32_t norm32[CLS_NORM_CAP]; /* utf8proc buffer; holds the normalised UTF-8 after */
    char ascii[CLS_TEXT_MAX + 1];
    const char *norm; /* normalised, case-folded text (NUL-terminated) */
    size_t norm_len;
    char elong[CLS_TEXT_MAX + 1]; /* collapsed copies of elongated words */
    size_t elong_used;
    /* language evidence gathered by cls_tokenize (read by cls_detect_language) */
    int lang_ready; /* set by cls_tokenize, cleared by cls_normalize */
    unsigned lang_latin;
    unsigned lang_votes[8];
    unsigned lang_script[CLS_LANG_SCRIPTS];
};

/* @brief Normalises text (NFC + case folding; ASCII fast path) into s->norm.
 * @returns 0, or SC_EPARSE for invalid UTF-8 (the text is rejected). */
int cls_normalize(struct cls_text_scratch *s, const char *text, size_t len);

/* @brief Tokenises s->norm (after cls_normalize); calls fn for each token in order.
 * @returns number of tokens. */
size_t cls_tokenize(struct cls_text_scratch *s,
                    void (*fn)(void *opaque, const struct cls_token *tok), void *opaque);

/* @brief Normalises, tokenises and hashes text into out with 2^bits buckets.
 * @returns 0 or SC_EPARSE (invalid UTF-8). */
int cls_featurize(struct cls_text_scratch *s, const char *text, size_t len, unsigned bits,
                  struct cls_features *out);

/* @brief As cls_featurize, leaving the character n-grams where they were written (see
 * struct cls_features) and val unset: for cls_fused_scores. */
int cls_featurize_blocks(struct cls_text_scratch *s, const char *text, size_t len,
                         unsigned bits, struct cls_features *out);

/* @brief True when the normalised text reads as a question ('?' or a leading
 * interrogative such as "how", "can i", "is there"). Uses s->norm. */
int cls_is_question(const struct cls_text_scratch *s);

/* @brief Language of the normalised text: a script-decided language (ru for Cyrillic,
 * el, he, ar, hi, th, ja, ko, zh) when the letters of word tokens in that script are at
 * least as many as the Latin words, otherwise the language whose common short words
 * occur most among the word tokens (en, es, fr, de, nl, it, pt); "und" when undecided.
 * The evidence is gathered by cls_tokenize in its pass (cls_featurize runs it); when the
 * text was only normalised, this tokenises it first (hence the non-const scratch). */
const char *cls_detect_language(struct cls_text_scratch *s);

/* @brief 32-bit hash of bytes with a seed (8 bytes per multiply, little-endian, then the
 * murmur3 64-bit finaliser); defines the feature space (CLS_FEATURES_ID). */
uint32_t cls_hash(const void *data, size_t len, uint32_t seed);

#endif
