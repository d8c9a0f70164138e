/* libFuzzer target of the classifier's text pipeline (services/classifier/text.h): NFC
 * and case folding, the tokenizer, feature hashing, question and language detection on
 * arbitrary bytes. Tokens must lie within their text and features within the buckets. */
#include <stdlib.h>

#include "fuzz.h"
#include "text.h"

static struct cls_text_scratch scratch;
static struct cls_features features;

/* Checks one token: non-empty when a word, and a sane length. */
static void on_token(void *opaque, const struct cls_token *tok)
{
    size_t *count = opaque;
    if (tok->text == NULL || tok->kind > CLS_TOK_PUNCT) {
        abort();
    }
    volatile char sink = 0;
    for (uint16_t i = 0; i < tok->len; i++) {
        sink ^= tok->text[i]; /* ASan catches a token pointing outside its buffer */
    }
    (void)sink;
    (*count)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    if (cls_normalize(&scratch, text, size) == 0) {
        if (scratch.norm == NULL || scratch.norm[scratch.norm_len] != '\0') {
            abort();
        }
        size_t count = 0;
        size_t n = cls_tokenize(&scratch, on_token, &count);
        if (n != count) {
            abort();
        }
        (void)cls_is_question(&scratch);
        if (cls_detect_language(&scratch) == NULL) {
            abort();
        }
    }
    unsigned bits =
        CLS_MIN_BITS + (size > 0 ? data[0] % (CLS_MAX_BITS - CLS_MIN_BITS + 1) : 0);
    if (cls_featurize(&scratch, text, size, bits, &features) == 0) {
        if (features.n > CLS_MAX_FEATURES) {
            abort();
        }
        for (uint32_t i = 0; i < features.n; i++) {
            if (features.idx[i] >= (1u << bits)) {
                abort();
            }
        }
    }
    (void)cls_hash(data, size, 7);
    return 0;
}
