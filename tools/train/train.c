/* socialcare-train: builds a classifier model file from a labeled CSV or JSONL file and a
 * profile (which column feeds which head, department maps, topic settings). Usage:
 *   socialcare-train --profile P --data FILE --out MODEL [--calibrate-folds N]
 * Prints a one-line summary per head; exit 0 on success, 2 on bad usage or input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "dataset.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: socialcare-train --profile P --data FILE --out MODEL "
                 "[--calibrate-folds N (default 3, 0 = none)]\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *profile_path = NULL, *data = NULL, *out = NULL;
    unsigned cal_folds = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--profile") && i + 1 < argc) {
            profile_path = argv[++i];
        } else if (!strcmp(argv[i], "--data") && i + 1 < argc) {
            data = argv[++i];
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--calibrate-folds") && i + 1 < argc) {
            cal_folds = (unsigned)atoi(argv[++i]);
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!profile_path || !data || !out || cal_folds == 1) {
        usage(stderr);
        return 2;
    }
    char err[512];
    struct profile p;
    struct dataset d;
    if (profile_load(&p, profile_path, err, sizeof(err)) != 0 ||
        dataset_load(&d, &p, data, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "socialcare-train: %s\n", err);
        return 2;
    }
    double t0 = now_s();
    size_t *rows = sc_malloc((d.n ? d.n : 1) * sizeof(size_t));
    for (size_t i = 0; i < d.n; i++)
        rows[i] = i;
    struct trained_head th[CLS_MAX_HEADS];
    for (unsigned h = 0; h < p.n_heads; h++) {
        if (d.k[h] < 2) {
            fprintf(stderr, "socialcare-train: head %s has fewer than two classes\n",
                    p.heads[h].name);
            return 2;
        }
        train_head(&d, h, &p.heads[h], p.bits, p.epochs, rows, d.n, &th[h]);
        if (cal_folds > 1) {
            calibrate_head(&d, h, &p.heads[h], p.bits, p.epochs, rows, d.n, cal_folds,
                           &th[h]);
        }
        size_t n = 0;
        for (size_t i = 0; i < d.n; i++)
            n += d.labels[h][i] >= 0;
        printf("head %s: %u classes, %zu labeled rows, temperature %.3f\n",
               p.heads[h].name, d.k[h], n, (double)th[h].temperature);
    }
    uint8_t *img;
    size_t len;
    int rc = build_model(&p, &d, th, &img, &len, err, sizeof(err));
    if (rc == 0) {
        FILE *f = fopen(out, "wb");
        if (!f || fwrite(img, 1, len, f) != len || fclose(f) != 0) {
            fprintf(stderr, "socialcare-train: cannot write %s\n", out);
            rc = 2;
        }
        sc_free(img);
    } else {
        fprintf(stderr, "socialcare-train: %s\n", err);
    }
    if (rc == 0)
        printf("wrote %s: %zu bytes, %zu rows (%zu rejected), %.2f s\n", out, len, d.n,
               d.rejected, now_s() - t0);
    for (unsigned h = 0; h < p.n_heads; h++)
        sc_free(th[h].w);
    sc_free(rows);
    dataset_free(&d);
    return rc == 0 ? 0 : 2;
}
