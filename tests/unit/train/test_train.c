/* Unit tests of the trainer library behind socialcare-train and socialcare-eval: profile
 * parsing, CSV (quoted fields with commas, quotes and newlines) and JSONL reading,
 * training both heads of a tiny project-written data set (tests/data/classifier),
 * building the model and classifying with it, and the metrics report in JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "alloc.h"
#include "classify.h"
#include "dataset.h"
#include "error.h"

static char dir[1024];

static const char *data_path(const char *name)
{
    static char buf[4][1200];
    static int n;
    char *b = buf[n++ % 4];
    snprintf(b, sizeof(buf[0]), "%s/%s", dir, name);
    return b;
}

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("SC_SOURCE_DIR");
    snprintf(dir, sizeof(dir), "%s/tests/data/classifier", src ? src : ".");
    return 0;
}

static void test_profile(void **state)
{
    (void)state;
    struct profile p;
    char err[512];
    assert_int_equal(profile_load(&p, data_path("tiny.profile"), err, sizeof(err)), 0);
    assert_string_equal(p.name, "tiny-1");
    assert_int_equal(p.bits, 12);
    assert_int_equal(p.n_heads, 2);
    assert_string_equal(p.heads[1].column, "reason");
    assert_true(p.heads[0].c == 0.5 && p.heads[0].weight_pow == 0.5);
    assert_int_equal(p.n_map, 4);
    assert_string_equal(p.map[0].label, "Lost Luggage");
    assert_string_equal(p.map[0].dept, "baggage");
    assert_string_equal(p.gate_label, "negative");
    assert_int_equal(profile_load(&p, data_path("missing.profile"), err, sizeof(err)),
                     SC_ENOENT);
}

static void load(struct dataset *d, struct profile *p, const char *file)
{
    char err[512];
    assert_int_equal(profile_load(p, data_path("tiny.profile"), err, sizeof(err)), 0);
    if (dataset_load(d, p, data_path(file), NULL, err, sizeof(err)) != 0)
        fail_msg("%s", err);
}

static void test_read_csv_jsonl(void **state)
{
    (void)state;
    struct profile p;
    struct dataset a, b;
    load(&a, &p, "tiny.csv");
    load(&b, &p, "tiny.jsonl");
    assert_int_equal(a.n, 61);
    assert_int_equal(b.n, 61);
    assert_int_equal(a.k[0], 3);
    assert_string_equal(a.names[0][0], "negative");
    assert_int_equal(a.k[1], 4);
    /* the quoted multi-line row parsed as one row with its labels */
    assert_int_equal(a.labels[0][60], 0);
    assert_string_equal(a.names[1][a.labels[1][60]], "Lost Luggage");
    /* same features both ways */
    for (size_t i = 0; i < a.n; i++) {
        assert_int_equal(a.docs[i].n, b.docs[i].n);
        assert_int_equal(a.labels[0][i], b.labels[0][i]);
    }
    /* empty reason = not labeled for that head */
    size_t unlabeled = 0;
    for (size_t i = 0; i < a.n; i++)
        unlabeled += a.labels[1][i] < 0;
    assert_int_equal(unlabeled, 36);
    dataset_free(&a);
    dataset_free(&b);

    char err[512];
    strcpy(p.text_column, "nope");
    assert_int_equal(dataset_load(&a, &p, data_path("tiny.csv"), NULL, err, sizeof(err)),
                     SC_EPARSE);
    assert_non_null(strstr(err, "nope"));
}

static void test_train_and_classify(void **state)
{
    (void)state;
    struct profile p;
    struct dataset d;
    load(&d, &p, "tiny.csv");
    size_t *rows = sc_malloc(d.n * sizeof(size_t));
    for (size_t i = 0; i < d.n; i++)
        rows[i] = i;
    struct trained_head th[2];
    for (unsigned h = 0; h < 2; h++) {
        train_head(&d, h, &p.heads[h], p.bits, p.epochs, rows, d.n, &th[h]);
        calibrate_head(&d, h, &p.heads[h], p.bits, p.epochs, rows, d.n, 3, &th[h]);
        assert_true(th[h].temperature > 0);
    }
    /* training accuracy on separable data */
    size_t right = 0;
    for (size_t i = 0; i < d.n; i++) {
        unsigned best = 0;
        for (unsigned c = 1; c < th[0].k; c++)
            if (score_doc(&th[0], &d.docs[i], c) > score_doc(&th[0], &d.docs[i], best))
                best = c;
        right += (int)best == d.labels[0][i];
    }
    assert_true(right >= d.n - 2);

    uint8_t *img;
    size_t len;
    char err[512];
    assert_int_equal(build_model(&p, &d, th, &img, &len, err, sizeof(err)), 0);
    struct classifier *cl = sc_malloc(sizeof(*cl));
    assert_int_equal(classifier_open_mem(cl, img, len, NULL, err, sizeof(err)), 0);
    assert_string_equal(classifier_model_name(cl), "tiny-1");
    struct classifier_scratch *s = classifier_scratch_new(cl);
    struct classification c;
    const char *t = "@air lost my luggage, awful";
    assert_int_equal(classifier_classify(cl, s, t, strlen(t), NULL, &c), 0);
    assert_int_equal(c.sentiment, CLASSIFIER_SENTIMENT_NEGATIVE);
    assert_string_equal(c.topic, "baggage");
    t = "@air thank you, amazing crew";
    assert_int_equal(classifier_classify(cl, s, t, strlen(t), NULL, &c), 0);
    assert_int_equal(c.sentiment, CLASSIFIER_SENTIMENT_POSITIVE);
    assert_string_equal(c.topic, "other"); /* gate: not negative */

    /* evaluation report of the model on its data, as JSON */
    struct confusion conf[CLS_MAX_HEADS];
    memset(conf, 0, sizeof(conf));
    struct cls_features *f = sc_malloc(sizeof(*f));
    float probs[CLS_MAX_CLASSES];
    for (unsigned h = 0; h < 2; h++) {
        conf[h].k = d.k[h];
        for (size_t i = 0; i < d.n; i++) {
            if (d.labels[h][i] < 0)
                continue;
            f->n = d.docs[i].n;
            memcpy(f->idx, d.docs[i].idx, f->n * sizeof(uint32_t));
            memcpy(f->val, d.docs[i].val, f->n * sizeof(float));
            conf[h].m[d.labels[h][i]][cls_model_predict(&cl->model, h, f, probs)]++;
        }
    }
    char *buf = NULL;
    size_t blen = 0;
    FILE *out = open_memstream(&buf, &blen);
    report(out, 1, &p, &d, conf, "evaluation", 0);
    fclose(out);
    json_error_t jerr;
    json_t *j = json_loads(buf, 0, &jerr);
    assert_non_null(j);
    json_t *sent = json_object_get(json_object_get(j, "heads"), "sentiment");
    assert_true(json_real_value(json_object_get(sent, "accuracy")) > 0.9);
    assert_true(json_real_value(json_object_get(sent, "macro_f1")) > 0.9);
    assert_int_equal(json_integer_value(json_object_get(sent, "n")), 61);
    assert_int_equal(json_array_size(json_object_get(sent, "confusion")), 3);
    json_t *rsn = json_object_get(json_object_get(j, "heads"), "reason");
    assert_int_equal(json_integer_value(json_object_get(rsn, "n")), 25);
    json_decref(j);
    free(buf);

    sc_free(f);
    classifier_scratch_free(s);
    classifier_close(cl);
    sc_free(cl);
    sc_free(img);
    for (unsigned h = 0; h < 2; h++)
        sc_free(th[h].w);
    sc_free(rows);
    dataset_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_read_csv_jsonl),
        cmocka_unit_test(test_train_and_classify),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
