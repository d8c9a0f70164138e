/* Linear multi-class models over hashed features, and their versioned binary file format
 * (docs/classifier.md): a 64-byte header (magic, version, sizes, FNV-1a-64 checksum of
 * everything after the header), a metadata text (name, license, heads, labels, department
 * map, topic settings) and per head a bias, a temperature and linear 8-bit quantised
 * weights laid out bucket-major ([bucket][class], rows padded to a multiple of 4) so one
 * feature reads one cache line.
 * Files are memory-mapped read-only; a file failing any check is refused with a reason.
 */
#ifndef CLASSIFIER_MODEL_H
#define CLASSIFIER_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "text.h"

#define CLS_MODEL_MAGIC   "SCMODEL\0"
#define CLS_MODEL_VERSION 1u
#define CLS_MAX_HEADS     8
#define CLS_MAX_CLASSES   32
#define CLS_NAME_MAX      64
#define CLS_STRIDE(k)     (((k) + 3u) & ~3u) /* codes per bucket row, padded to 4 */

struct cls_head {
    char name[CLS_NAME_MAX];
    unsigned k; /* number of classes */
    char labels[CLS_MAX_CLASSES][CLS_NAME_MAX];
    char dept[CLS_MAX_CLASSES][CLS_NAME_MAX]; /* department per class ("" = none) */
    float temperature;                        /* softmax(scores / temperature) */
    float scale;                              /* weight = code * scale */
    const float *bias;                        /* k floats */
    const int8_t *w;                          /* 2^bits rows of CLS_STRIDE(k) codes */
};

struct cls_model {
    void *map; /* mmap of the file (NULL for models parsed from caller memory) */
    size_t map_len;
    char name[CLS_NAME_MAX];
    char license[256];
    unsigned bits;
    unsigned n_heads;
    struct cls_head heads[CLS_MAX_HEADS];
    int topic_head; /* head whose class maps to a department, -1 none */
    int gate_head;  /* topic only when this head predicts gate_label, -1 none */
    int gate_label;
    float topic_min; /* minimum topic probability, else "other" */
};

/* @brief Maps and checks a model file. On failure *errstr says why (bad magic,
 * unsupported version, size mismatch, checksum mismatch, bad metadata).
 * @returns 0, SC_ENOENT, SC_EIO or SC_EPARSE. */
int cls_model_load(struct cls_model *m, const char *path, char *errstr, size_t errlen);

/* @brief Checks and parses a model image held in memory by the caller (kept alive
 * while the model is used). */
int cls_model_parse(struct cls_model *m, const void *buf, size_t len, char *errstr,
                    size_t errlen);

/* @brief Unmaps a loaded model. */
void cls_model_unload(struct cls_model *m);

/* @brief Index of the head called name, or -1. */
int cls_model_head(const struct cls_model *m, const char *name);

/* @brief Index of a label within head h, or -1. */
int cls_head_label(const struct cls_head *h, const char *label);

/* @brief Probabilities of each class of head h for features f (calibrated softmax).
 * @returns the arg-max class. */
unsigned cls_model_predict(const struct cls_model *m, unsigned h,
                           const struct cls_features *f, float *probs);

/* ---- all heads at once (the classifier's hot path) ---- */

/* The heads' codes side by side: per bucket one row holding head 0's codes, then head
 * 1's, ..., padded to a multiple of 16 bytes, so one feature reads one short row for
 * every head (the file keeps one table per head). Built once after loading. */
struct cls_fused {
    unsigned stride;             /* bytes per row: a multiple of 16 */
    unsigned off[CLS_MAX_HEADS]; /* position of head h's first class within a row */
    int8_t *w;                   /* 2^bits rows; sc_free'd by cls_fused_free */
    int avx2;                    /* the CPU has AVX2: sum rows with it */
};

/* x86-64 builds carry an AVX2 variant of the row sums, picked at run time. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CLS_HAVE_AVX2 1
#else
#define CLS_HAVE_AVX2 0
#endif

#define CLS_FUSED_MAX (CLS_MAX_HEADS * CLS_MAX_CLASSES) /* scores of all heads */

/* @brief Builds the fused rows of model m (one allocation, about 2^bits * stride). */
void cls_fused_build(struct cls_fused *fz, const struct cls_model *m);

void cls_fused_free(struct cls_fused *fz);

/* @brief Raw scores (bias + weights . features, before the temperature) of every class
 * of every head, at scores[fz->off[h] + c]. f must come from cls_featurize or
 * cls_featurize_blocks (two blocks of equal values, see struct cls_features): the dot
 * product sums the integer codes of each block, then scales once. */
void cls_fused_scores(const struct cls_model *m, const struct cls_fused *fz,
                      const struct cls_features *f, float *scores);

/* @brief Calibrated softmax of head h's raw scores (as from cls_fused_scores, at
 * scores[off[h]]) into probs. @returns the arg-max class. */
unsigned cls_head_softmax(const struct cls_head *h, const float *scores, float *probs);

/* ---- building models (trainer) ---- */

/* A head in float weights before quantisation. */
struct cls_head_spec {
    const char *name;
    unsigned k;
    const char *const *labels;
    const char *const *dept; /* may be NULL */
    float temperature;
    const float *bias; /* k */
    const float *w;    /* 2^bits * k, bucket-major */
};

struct cls_model_spec {
    const char *name;
    const char *license;
    unsigned bits;
    unsigned n_heads;
    struct cls_head_spec heads[CLS_MAX_HEADS];
    const char *topic_head; /* may be NULL */
    const char *gate_head;  /* may be NULL */
    const char *gate_label;
    float topic_min;
};

/* @brief Quantises and serialises a model into a new buffer (*out, *out_len; sc_free).
 * @returns 0 or SC_EINVAL. */
int cls_model_build(const struct cls_model_spec *spec, uint8_t **out, size_t *out_len,
                    char *errstr, size_t errlen);

/* @brief FNV-1a 64 of bytes. */
uint64_t cls_fnv1a64(const void *data, size_t len);

#endif
