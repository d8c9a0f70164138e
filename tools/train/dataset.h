/* Training data and profiles for socialcare-train and socialcare-eval: a profile file
 * says which column holds the text and which columns feed which model head (plus
 * department maps and topic settings); a dataset is a CSV (RFC 4180, header row) or JSONL
 * file read by path, featurised once into sparse vectors. Also the linear trainer
 * (one-vs-rest L2-loss linear SVM by dual coordinate descent, class-weighted,
 * temperature-calibrated) and the metrics (accuracy, macro-F1, confusion matrices). */
#ifndef TRAIN_DATASET_H
#define TRAIN_DATASET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"

#define PROFILE_MAX_MAP 64

struct profile_head {
    char name[CLS_NAME_MAX];
    char column[CLS_NAME_MAX];
    double c;          /* SVM cost */
    double weight_pow; /* class weight = (n / (k * n_c))^weight_pow; 0 = unweighted */
};

struct profile {
    char name[CLS_NAME_MAX];
    char license[256];
    char text_column[CLS_NAME_MAX];
    unsigned bits;
    unsigned epochs;
    unsigned n_heads;
    struct profile_head heads[CLS_MAX_HEADS];
    unsigned n_map;
    struct {
        char head[CLS_NAME_MAX], label[CLS_NAME_MAX], dept[CLS_NAME_MAX];
    } map[PROFILE_MAX_MAP];
    char topic_head[CLS_NAME_MAX];
    float topic_min;
    char gate_head[CLS_NAME_MAX], gate_label[CLS_NAME_MAX];
};

/* @brief Reads a profile file. @returns 0 or SC_EPARSE/SC_ENOENT with errstr. */
int profile_load(struct profile *p, const char *path, char *errstr, size_t errlen);

struct sparse_doc {
    uint32_t n;
    uint32_t *idx; /* sorted, unique */
    float *val;
};

struct dataset {
    size_t n;
    struct sparse_doc *docs;
    /* labels[h][i]: class index of doc i for profile head h, -1 when empty/unknown */
    int *labels[CLS_MAX_HEADS];
    /* label names per head, sorted, from the data (training) or the model (eval) */
    unsigned k[CLS_MAX_HEADS];
    char *names[CLS_MAX_HEADS][CLS_MAX_CLASSES];
    size_t unknown[CLS_MAX_HEADS]; /* rows whose label the model does not know */
    size_t rejected;               /* rows with invalid text */
};

/* @brief Reads path (CSV or .jsonl/.ndjson) and featurises it with p's bits. When model
 * is given, class names come from the model's heads (same names as the profile's heads);
 * otherwise from the data (sorted). */
int dataset_load(struct dataset *d, const struct profile *p, const char *path,
                 const struct cls_model *model, char *errstr, size_t errlen);

void dataset_free(struct dataset *d);

/* Trained float weights of one head. */
struct trained_head {
    unsigned k;
    float *w; /* buckets * k */
    float bias[CLS_MAX_CLASSES];
    float temperature;
};

/* @brief Trains head h on the docs whose index is in rows (n_rows), labels from d. */
void train_head(const struct dataset *d, unsigned h, const struct profile_head *ph,
                unsigned bits, unsigned epochs, const size_t *rows, size_t n_rows,
                struct trained_head *out);

/* @brief Fits the softmax temperature on out-of-fold scores (folds internal folds). */
void calibrate_head(const struct dataset *d, unsigned h, const struct profile_head *ph,
                    unsigned bits, unsigned epochs, const size_t *rows, size_t n_rows,
                    unsigned folds, struct trained_head *out);

/* @brief Builds a model image from the trained heads and the profile's maps. */
int build_model(const struct profile *p, const struct dataset *d, struct trained_head *th,
                uint8_t **img, size_t *len, char *errstr, size_t errlen);

/* Confusion matrix of one head. */
struct confusion {
    unsigned k;
    uint64_t m[CLS_MAX_CLASSES][CLS_MAX_CLASSES]; /* [truth][predicted] */
};

/* @brief Writes text or JSON metrics of every head. */
void report(FILE *out, int json, const struct profile *p, const struct dataset *d,
            const struct confusion *conf, const char *mode, unsigned folds);

/* @brief Sparse dot-product score of float weights for class c (training/eval). */
double score_doc(const struct trained_head *th, const struct sparse_doc *doc, unsigned c);

/* @brief The values of one CSV column (NULL-terminated array of sc_strdup'ed strings;
 * free each and the array with sc_free). @returns NULL with errstr on failure. */
char **dataset_texts(const char *path, const char *column, size_t *n_out, char *errstr,
                     size_t errlen);

#endif
