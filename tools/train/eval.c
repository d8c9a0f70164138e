/* socialcare-eval: accuracy, macro-F1 and a confusion matrix per head, as text or JSON.
 *   socialcare-eval --model M --profile P --data FILE [--json]
 *   socialcare-eval --profile P --data FILE --folds K [--json]   (k-fold
 * cross-validation: trains K models from the profile, each scored, quantised, on its
 * held-out fold) Rows whose label is empty are not scored for that head; labels the model
 * does not know are counted as unknown_labels and skipped. Exit 0 on success, 2 on bad
 * usage or input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dataset.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: socialcare-eval --profile P --data FILE (--model M | --folds K) "
                 "[--json] [--seed S]\n");
}

static void to_features(const struct sparse_doc *doc, struct cls_features *f)
{
    f->n = doc->n < CLS_MAX_FEATURES ? doc->n : CLS_MAX_FEATURES;
    memcpy(f->idx, doc->idx, f->n * sizeof(uint32_t));
    memcpy(f->val, doc->val, f->n * sizeof(float));
}

/* Scores rows (n) of d with model m into conf. */
static void score_rows(const struct cls_model *m, const struct profile *p,
                       const struct dataset *d, const size_t *rows, size_t n,
                       struct confusion *conf, struct cls_features *f)
{
    float probs[CLS_MAX_CLASSES];
    for (size_t r = 0; r < n; r++) {
        to_features(&d->docs[rows[r]], f);
        for (unsigned h = 0; h < p->n_heads; h++) {
            int y = d->labels[h][rows[r]];
            if (y < 0)
                continue;
            int mh = cls_model_head(m, p->heads[h].name);
            unsigned pred = cls_model_predict(m, (unsigned)mh, f, probs);
            conf[h].m[y][pred]++;
        }
    }
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *profile_path = NULL, *data = NULL;
    unsigned folds = 0;
    int json = 0;
    unsigned long long seed = 42;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--model") && i + 1 < argc) {
            model_path = argv[++i];
        } else if (!strcmp(argv[i], "--profile") && i + 1 < argc) {
            profile_path = argv[++i];
        } else if (!strcmp(argv[i], "--data") && i + 1 < argc) {
            data = argv[++i];
        } else if (!strcmp(argv[i], "--folds") && i + 1 < argc) {
            folds = (unsigned)atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!profile_path || !data || (!model_path && folds < 2) || folds == 1) {
        usage(stderr);
        return 2;
    }
    char err[512];
    struct profile p;
    if (profile_load(&p, profile_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "socialcare-eval: %s\n", err);
        return 2;
    }
    struct cls_model model;
    memset(&model, 0, sizeof(model));
    if (model_path && folds < 2) {
        if (cls_model_load(&model, model_path, err, sizeof(err)) != 0) {
            fprintf(stderr, "socialcare-eval: %s\n", err);
            return 2;
        }
        p.bits = model.bits;
        for (unsigned h = 0; h < p.n_heads; h++)
            if (cls_model_head(&model, p.heads[h].name) < 0) {
                fprintf(stderr, "socialcare-eval: model has no head %s\n",
                        p.heads[h].name);
                cls_model_unload(&model);
                return 2;
            }
    }
    struct dataset d;
    if (dataset_load(&d, &p, data, model.map ? &model : NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "socialcare-eval: %s\n", err);
        cls_model_unload(&model);
        return 2;
    }
    struct confusion *conf = sc_calloc(CLS_MAX_HEADS, sizeof(*conf));
    for (unsigned h = 0; h < p.n_heads; h++)
        conf[h].k = d.k[h];
    struct cls_features *f = sc_malloc(sizeof(*f));
    size_t *rows = sc_malloc((d.n ? d.n : 1) * sizeof(size_t));
    int rc = 0;
    if (folds < 2) {
        for (size_t i = 0; i < d.n; i++)
            rows[i] = i;
        score_rows(&model, &p, &d, rows, d.n, conf, f);
    } else {
        /* shuffled fold assignment */
        size_t *order = sc_malloc((d.n ? d.n : 1) * sizeof(size_t));
        uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
        for (size_t i = 0; i < d.n; i++)
            order[i] = i;
        for (size_t i = d.n; i > 1; i--) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            size_t j = s % i, t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        size_t *test = sc_malloc((d.n ? d.n : 1) * sizeof(size_t));
        for (unsigned fo = 0; fo < folds && rc == 0; fo++) {
            size_t nt = 0, ne = 0;
            for (size_t i = 0; i < d.n; i++) {
                if (i % folds == fo)
                    test[ne++] = order[i];
                else
                    rows[nt++] = order[i];
            }
            struct trained_head th[CLS_MAX_HEADS];
            for (unsigned h = 0; h < p.n_heads; h++)
                train_head(&d, h, &p.heads[h], p.bits, p.epochs, rows, nt, &th[h]);
            uint8_t *img;
            size_t len;
            rc = build_model(&p, &d, th, &img, &len, err, sizeof(err));
            for (unsigned h = 0; h < p.n_heads; h++)
                sc_free(th[h].w);
            if (rc != 0)
                break;
            struct cls_model fm;
            memset(&fm, 0, sizeof(fm));
            rc = cls_model_parse(&fm, img, len, err, sizeof(err));
            if (rc == 0)
                score_rows(&fm, &p, &d, test, ne, conf, f);
            sc_free(img);
        }
        sc_free(test);
        sc_free(order);
    }
    if (rc == 0)
        report(stdout, json, &p, &d, conf, folds >= 2 ? "cross-validation" : "evaluation",
               folds >= 2 ? folds : 0);
    else
        fprintf(stderr, "socialcare-eval: %s\n", err);
    sc_free(rows);
    sc_free(f);
    sc_free(conf);
    dataset_free(&d);
    cls_model_unload(&model);
    return rc == 0 ? 0 : 2;
}
