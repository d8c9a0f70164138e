/* Profiles, datasets (CSV/JSONL), the class-weighted one-vs-rest linear SVM trainer
 * (dual coordinate descent on the L2 loss, as in LIBLINEAR), temperature calibration on
 * out-of-fold scores, model building and metrics for socialcare-train/-eval. */
#include "dataset.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

/* ------------------------------------------------------------------ profile */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int set_name(char *dst, const char *src)
{
    if (!*src || strlen(src) >= CLS_NAME_MAX || strpbrk(src, "\t\n"))
        return -1;
    strcpy(dst, src);
    return 0;
}

int profile_load(struct profile *p, const char *path, char *errstr, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    strcpy(p->text_column, "text");
    strcpy(p->name, "model");
    p->bits = 18;
    p->epochs = 30;
    p->topic_min = 0.0f;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(errstr, errlen, "cannot open profile %s: %s", path, strerror(errno));
        return SC_ENOENT;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *rest = s;
        while (*rest && !isspace((unsigned char)*rest))
            rest++;
        if (*rest)
            *rest++ = '\0';
        rest = trim(rest);
        if (!strcmp(s, "name")) {
            rc = set_name(p->name, rest);
        } else if (!strcmp(s, "license")) {
            snprintf(p->license, sizeof(p->license), "%s", rest);
        } else if (!strcmp(s, "text")) {
            rc = set_name(p->text_column, rest);
        } else if (!strcmp(s, "bits")) {
            p->bits = (unsigned)atoi(rest);
            rc = p->bits >= CLS_MIN_BITS && p->bits <= CLS_MAX_BITS ? 0 : -1;
        } else if (!strcmp(s, "epochs")) {
            p->epochs = (unsigned)atoi(rest);
            rc = p->epochs > 0 ? 0 : -1;
        } else if (!strcmp(s, "head")) {
            /* head NAME COLUMN [c=C] [weight=POW] */
            if (p->n_heads >= CLS_MAX_HEADS) {
                rc = -1;
                break;
            }
            struct profile_head *h = &p->heads[p->n_heads];
            h->c = 0.1;
            h->weight_pow = 1.0;
            char *sv = NULL;
            char *name = strtok_r(rest, " \t", &sv), *col = strtok_r(NULL, " \t", &sv);
            if (!name || !col || set_name(h->name, name) || set_name(h->column, col)) {
                rc = -1;
                break;
            }
            for (char *o = strtok_r(NULL, " \t", &sv); o;
                 o = strtok_r(NULL, " \t", &sv)) {
                if (!strncmp(o, "c=", 2))
                    h->c = atof(o + 2);
                else if (!strncmp(o, "weight=", 7))
                    h->weight_pow = atof(o + 7);
                else
                    rc = -1;
            }
            if (!(h->c > 0))
                rc = -1;
            p->n_heads++;
        } else if (!strcmp(s, "map")) {
            /* map HEAD LABEL... => DEPT */
            char *arrow = strstr(rest, "=>");
            char *sp = rest;
            while (*sp && !isspace((unsigned char)*sp))
                sp++;
            if (!arrow || !*sp || sp > arrow || p->n_map >= PROFILE_MAX_MAP) {
                rc = -1;
                break;
            }
            *sp = '\0';
            *arrow = '\0';
            if (set_name(p->map[p->n_map].head, rest) ||
                set_name(p->map[p->n_map].label, trim(sp + 1)) ||
                set_name(p->map[p->n_map].dept, trim(arrow + 2)))
                rc = -1;
            p->n_map++;
        } else if (!strcmp(s, "topic")) {
            char *sv = NULL;
            char *h = strtok_r(rest, " \t", &sv), *mn = strtok_r(NULL, " \t", &sv);
            if (!h || set_name(p->topic_head, h))
                rc = -1;
            if (mn && !strncmp(mn, "min=", 4))
                p->topic_min = (float)atof(mn + 4);
        } else if (!strcmp(s, "gate")) {
            char *sv = NULL;
            char *h = strtok_r(rest, " \t", &sv), *l = strtok_r(NULL, "", &sv);
            if (!h || !l || set_name(p->gate_head, h) || set_name(p->gate_label, trim(l)))
                rc = -1;
        } else {
            rc = -1;
        }
    }
    fclose(f);
    if (rc == 0 && p->n_heads == 0) {
        snprintf(errstr, errlen, "profile %s: no head", path);
        return SC_EPARSE;
    }
    if (rc != 0) {
        snprintf(errstr, errlen, "profile %s line %d: cannot parse", path, lineno);
        return SC_EPARSE;
    }
    return 0;
}

/* ------------------------------------------------------------------ reading */

struct row_sink {
    struct dataset *d;
    const struct profile *p;
    const struct cls_model *model;
    struct cls_text_scratch *scratch;
    struct cls_features *feats;
    size_t cap;
    /* raw label strings per head until names are fixed */
    char **raw[CLS_MAX_HEADS];
};

static void add_row(struct row_sink *rs, const char *text, const char *const *labels)
{
    struct dataset *d = rs->d;
    if (cls_featurize(rs->scratch, text, strlen(text), rs->p->bits, rs->feats) != 0) {
        d->rejected++;
        return;
    }
    if (d->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 1024;
        d->docs = sc_realloc(d->docs, rs->cap * sizeof(*d->docs));
        for (unsigned h = 0; h < rs->p->n_heads; h++)
            rs->raw[h] = sc_realloc(rs->raw[h], rs->cap * sizeof(char *));
    }
    /* merge repeated indices: sort by index, then sum */
    struct cls_features *f = rs->feats;
    uint32_t n = f->n;
    struct sparse_doc *doc = &d->docs[d->n];
    doc->idx = sc_malloc((n ? n : 1) * sizeof(uint32_t));
    doc->val = sc_malloc((n ? n : 1) * sizeof(float));
    uint32_t *order = sc_malloc((n ? n : 1) * sizeof(uint32_t));
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    /* shell sort by index (n is a few hundred) */
    for (uint32_t gap = n / 2; gap > 0; gap /= 2)
        for (uint32_t i = gap; i < n; i++)
            for (uint32_t j = i; j >= gap && f->idx[order[j - gap]] > f->idx[order[j]];
                 j -= gap) {
                uint32_t t = order[j];
                order[j] = order[j - gap];
                order[j - gap] = t;
            }
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t ix = f->idx[order[i]];
        if (m > 0 && doc->idx[m - 1] == ix) {
            doc->val[m - 1] += f->val[order[i]];
        } else {
            doc->idx[m] = ix;
            doc->val[m] = f->val[order[i]];
            m++;
        }
    }
    sc_free(order);
    doc->n = m;
    for (unsigned h = 0; h < rs->p->n_heads; h++)
        rs->raw[h][d->n] = sc_strdup(labels[h] ? labels[h] : "");
    d->n++;
}

/* Parses one CSV record starting at *pos; fields are unescaped into buf (same size as the
 * file) and returned as pointers. @returns number of fields, 0 at end. */
static int csv_record(const char *s, size_t len, size_t *pos, char *buf, char **fields,
                      int max)
{
    size_t i = *pos;
    if (i >= len)
        return 0;
    int n = 0;
    char *o = buf + i; /* unescaped text never outgrows its source span */
    for (;;) {
        char *start = o;
        if (i < len && s[i] == '"') {
            i++;
            while (i < len) {
                if (s[i] == '"') {
                    if (i + 1 < len && s[i + 1] == '"') {
                        *o++ = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                *o++ = s[i++];
            }
            while (i < len && s[i] != ',' && s[i] != '\n' && s[i] != '\r')
                *o++ = s[i++];
        } else {
            while (i < len && s[i] != ',' && s[i] != '\n' && s[i] != '\r')
                *o++ = s[i++];
        }
        *o++ = '\0';
        if (n < max)
            fields[n++] = start;
        if (i < len && s[i] == ',') {
            i++;
            continue;
        }
        if (i < len && s[i] == '\r')
            i++;
        if (i < len && s[i] == '\n')
            i++;
        break;
    }
    *pos = i;
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fixes class names and label indices from the raw label strings. */
static int finish_labels(struct row_sink *rs, char *errstr, size_t errlen)
{
    struct dataset *d = rs->d;
    for (unsigned h = 0; h < rs->p->n_heads; h++) {
        if (rs->model) {
            int mh = cls_model_head(rs->model, rs->p->heads[h].name);
            if (mh < 0) {
                snprintf(errstr, errlen, "model has no head %s", rs->p->heads[h].name);
                return SC_EINVAL;
            }
            const struct cls_head *ch = &rs->model->heads[mh];
            d->k[h] = ch->k;
            for (unsigned c = 0; c < ch->k; c++)
                d->names[h][c] = sc_strdup(ch->labels[c]);
        } else {
            char **sorted = sc_malloc((d->n ? d->n : 1) * sizeof(char *));
            memcpy(sorted, rs->raw[h], d->n * sizeof(char *));
            qsort(sorted, d->n, sizeof(char *), cmp_str);
            unsigned k = 0;
            for (size_t i = 0; i < d->n; i++) {
                if (!sorted[i][0] || (k > 0 && !strcmp(sorted[i], d->names[h][k - 1])))
                    continue;
                if (k == CLS_MAX_CLASSES) {
                    sc_free(sorted);
                    snprintf(errstr, errlen, "head %s: more than %d classes",
                             rs->p->heads[h].name, CLS_MAX_CLASSES);
                    return SC_EINVAL;
                }
                d->names[h][k++] = sc_strdup(sorted[i]);
            }
            sc_free(sorted);
            d->k[h] = k;
        }
        d->labels[h] = sc_malloc((d->n ? d->n : 1) * sizeof(int));
        for (size_t i = 0; i < d->n; i++) {
            d->labels[h][i] = -1;
            if (!rs->raw[h][i][0])
                continue;
            for (unsigned c = 0; c < d->k[h]; c++)
                if (!strcmp(rs->raw[h][i], d->names[h][c]))
                    d->labels[h][i] = (int)c;
            if (d->labels[h][i] < 0)
                d->unknown[h]++;
        }
    }
    return 0;
}

int dataset_load(struct dataset *d, const struct profile *p, const char *path,
                 const struct cls_model *model, char *errstr, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errlen, "cannot open %s: %s", path, strerror(errno));
        return SC_ENOENT;
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = sc_malloc((size_t)sz + 1);
    size_t len = fread(s, 1, (size_t)sz, f);
    fclose(f);
    s[len] = '\0';

    struct row_sink rs = {.d = d, .p = p, .model = model};
    rs.scratch = sc_malloc(sizeof(*rs.scratch));
    rs.feats = sc_malloc(sizeof(*rs.feats));
    int rc = 0;
    size_t plen = strlen(path);
    int jsonl = (plen > 6 && !strcmp(path + plen - 6, ".jsonl")) ||
                (plen > 7 && !strcmp(path + plen - 7, ".ndjson"));
    const char *labels[CLS_MAX_HEADS];
    if (jsonl) {
        size_t i = 0;
        int lineno = 0;
        while (i < len && rc == 0) {
            char *nl = memchr(s + i, '\n', len - i);
            size_t e = nl ? (size_t)(nl - s) : len;
            lineno++;
            json_error_t jerr;
            json_t *o = e > i ? json_loadb(s + i, e - i, 0, &jerr) : NULL;
            i = e + 1;
            if (!o)
                continue;
            const char *text = json_string_value(json_object_get(o, p->text_column));
            char numbuf[CLS_MAX_HEADS][32];
            for (unsigned h = 0; h < p->n_heads; h++) {
                json_t *v = json_object_get(o, p->heads[h].column);
                labels[h] = json_string_value(v);
                if (json_is_integer(v)) {
                    snprintf(numbuf[h], sizeof(numbuf[h]), "%lld",
                             (long long)json_integer_value(v));
                    labels[h] = numbuf[h];
                }
            }
            if (text)
                add_row(&rs, text, labels);
            else
                d->rejected++;
            json_decref(o);
        }
    } else {
        char *buf = sc_malloc(len + 1);
        char *fields[64];
        size_t pos = 0;
        int nf = csv_record(s, len, &pos, buf, fields, 64);
        int tcol = -1, hcol[CLS_MAX_HEADS];
        for (unsigned h = 0; h < p->n_heads; h++)
            hcol[h] = -1;
        for (int i = 0; i < nf; i++) {
            const char *name = fields[i];
            if (i == 0 && !memcmp(name, "\xef\xbb\xbf", 3))
                name += 3; /* byte order mark */
            if (!strcmp(name, p->text_column))
                tcol = i;
            for (unsigned h = 0; h < p->n_heads; h++)
                if (!strcmp(name, p->heads[h].column))
                    hcol[h] = i;
        }
        if (tcol < 0) {
            snprintf(errstr, errlen, "%s: no column %s in the header", path,
                     p->text_column);
            rc = SC_EPARSE;
        }
        for (unsigned h = 0; rc == 0 && h < p->n_heads; h++)
            if (hcol[h] < 0) {
                snprintf(errstr, errlen, "%s: no column %s in the header", path,
                         p->heads[h].column);
                rc = SC_EPARSE;
            }
        while (rc == 0 && (nf = csv_record(s, len, &pos, buf, fields, 64)) > 0) {
            if (nf == 1 && !fields[0][0])
                continue; /* blank line */
            if (tcol >= nf) {
                d->rejected++;
                continue;
            }
            for (unsigned h = 0; h < p->n_heads; h++)
                labels[h] = hcol[h] < nf ? fields[hcol[h]] : "";
            add_row(&rs, fields[tcol], labels);
        }
        sc_free(buf);
    }
    sc_free(s);
    if (rc == 0)
        rc = finish_labels(&rs, errstr, errlen);
    for (unsigned h = 0; h < p->n_heads; h++) {
        for (size_t i = 0; i < d->n; i++)
            sc_free(rs.raw[h] ? rs.raw[h][i] : NULL);
        sc_free(rs.raw[h]);
    }
    sc_free(rs.scratch);
    sc_free(rs.feats);
    if (rc != 0)
        dataset_free(d);
    return rc;
}

void dataset_free(struct dataset *d)
{
    for (size_t i = 0; i < d->n; i++) {
        sc_free(d->docs[i].idx);
        sc_free(d->docs[i].val);
    }
    sc_free(d->docs);
    for (unsigned h = 0; h < CLS_MAX_HEADS; h++) {
        sc_free(d->labels[h]);
        for (unsigned c = 0; c < CLS_MAX_CLASSES; c++)
            sc_free(d->names[h][c]);
    }
    memset(d, 0, sizeof(*d));
}

/* ------------------------------------------------------------------ training */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

double score_doc(const struct trained_head *th, const struct sparse_doc *doc, unsigned c)
{
    double s = th->bias[c];
    for (uint32_t i = 0; i < doc->n; i++)
        s += (double)doc->val[i] * th->w[(size_t)doc->idx[i] * th->k + c];
    return s;
}

void train_head(const struct dataset *d, unsigned h, const struct profile_head *ph,
                unsigned bits, unsigned epochs, const size_t *rows, size_t n_rows,
                struct trained_head *out)
{
    size_t buckets = (size_t)1 << bits;
    unsigned k = d->k[h];
    out->k = k;
    out->temperature = 1.0f;
    out->w = sc_calloc(buckets * k, sizeof(float));
    memset(out->bias, 0, sizeof(out->bias));
    /* usable rows and class weights */
    size_t *use = sc_malloc((n_rows ? n_rows : 1) * sizeof(size_t));
    size_t n = 0, count[CLS_MAX_CLASSES] = {0};
    for (size_t r = 0; r < n_rows; r++) {
        int y = d->labels[h][rows[r]];
        if (y >= 0) {
            use[n++] = rows[r];
            count[y]++;
        }
    }
    double cw[CLS_MAX_CLASSES];
    for (unsigned c = 0; c < k; c++)
        cw[c] = count[c] ? pow((double)n / ((double)k * (double)count[c]), ph->weight_pow)
                         : 1.0;
    double *alpha = sc_malloc((n ? n : 1) * sizeof(double));
    double *qd = sc_malloc((n ? n : 1) * sizeof(double));
    double *w = sc_malloc(buckets * sizeof(double));
    size_t *perm = sc_malloc((n ? n : 1) * sizeof(size_t));
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)h;
    for (unsigned c = 0; c < k; c++) {
        memset(w, 0, buckets * sizeof(double));
        double b = 0;
        for (size_t i = 0; i < n; i++) {
            const struct sparse_doc *doc = &d->docs[use[i]];
            double ci = ph->c * cw[d->labels[h][use[i]]];
            double sq = 1.0; /* bias feature */
            for (uint32_t j = 0; j < doc->n; j++)
                sq += (double)doc->val[j] * doc->val[j];
            qd[i] = sq + 1.0 / (2.0 * ci);
            alpha[i] = 0;
            perm[i] = i;
        }
        for (unsigned ep = 0; ep < epochs; ep++) {
            for (size_t i = n; i > 1; i--) {
                size_t j = rng_next(&seed) % i;
                size_t t = perm[i - 1];
                perm[i - 1] = perm[j];
                perm[j] = t;
            }
            double pgmax = -1e300, pgmin = 1e300;
            for (size_t pi = 0; pi < n; pi++) {
                size_t i = perm[pi];
                const struct sparse_doc *doc = &d->docs[use[i]];
                double y = d->labels[h][use[i]] == (int)c ? 1.0 : -1.0;
                double ci = ph->c * cw[d->labels[h][use[i]]];
                double dot = b;
                for (uint32_t j = 0; j < doc->n; j++)
                    dot += w[doc->idx[j]] * doc->val[j];
                double g = y * dot - 1.0 + alpha[i] / (2.0 * ci);
                double pg = alpha[i] == 0 ? (g < 0 ? g : 0) : g;
                if (pg > pgmax)
                    pgmax = pg;
                if (pg < pgmin)
                    pgmin = pg;
                if (fabs(pg) > 1e-12) {
                    double old = alpha[i];
                    alpha[i] = fmax(old - g / qd[i], 0.0);
                    double delta = (alpha[i] - old) * y;
                    for (uint32_t j = 0; j < doc->n; j++)
                        w[doc->idx[j]] += delta * doc->val[j];
                    b += delta;
                }
            }
            if (pgmax - pgmin < 0.05)
                break;
        }
        for (size_t j = 0; j < buckets; j++)
            out->w[j * k + c] = (float)w[j];
        out->bias[c] = (float)b;
    }
    sc_free(perm);
    sc_free(w);
    sc_free(qd);
    sc_free(alpha);
    sc_free(use);
}

void calibrate_head(const struct dataset *d, unsigned h, const struct profile_head *ph,
                    unsigned bits, unsigned epochs, const size_t *rows, size_t n_rows,
                    unsigned folds, struct trained_head *out)
{
    /* out-of-fold scores, then a 1-D search for the temperature minimising log loss */
    unsigned k = d->k[h];
    double *scores = sc_calloc((n_rows ? n_rows : 1) * k, sizeof(double));
    size_t *tr = sc_malloc((n_rows ? n_rows : 1) * sizeof(size_t));
    for (unsigned fo = 0; fo < folds; fo++) {
        size_t nt = 0;
        for (size_t r = 0; r < n_rows; r++)
            if (r % folds != fo)
                tr[nt++] = rows[r];
        struct trained_head th;
        train_head(d, h, ph, bits, epochs, tr, nt, &th);
        for (size_t r = fo; r < n_rows; r += folds)
            for (unsigned c = 0; c < k; c++)
                scores[r * k + c] = score_doc(&th, &d->docs[rows[r]], c);
        sc_free(th.w);
    }
    double best_t = 1.0, best_loss = 1e300;
    for (double t = 0.05; t <= 3.0; t *= 1.08) {
        double loss = 0;
        size_t m = 0;
        for (size_t r = 0; r < n_rows; r++) {
            int y = d->labels[h][rows[r]];
            if (y < 0)
                continue;
            double mx = -1e300, sum = 0;
            for (unsigned c = 0; c < k; c++)
                mx = fmax(mx, scores[r * k + c]);
            for (unsigned c = 0; c < k; c++)
                sum += exp((scores[r * k + c] - mx) / t);
            loss += log(sum) - (scores[r * k + y] - mx) / t;
            m++;
        }
        if (m && loss / m < best_loss) {
            best_loss = loss / m;
            best_t = t;
        }
    }
    out->temperature = (float)best_t;
    sc_free(tr);
    sc_free(scores);
}

int build_model(const struct profile *p, const struct dataset *d, struct trained_head *th,
                uint8_t **img, size_t *len, char *errstr, size_t errlen)
{
    struct cls_model_spec spec = {.name = p->name,
                                  .license = p->license[0] ? p->license : NULL,
                                  .bits = p->bits,
                                  .n_heads = p->n_heads,
                                  .topic_head = p->topic_head[0] ? p->topic_head : NULL,
                                  .gate_head = p->gate_head[0] ? p->gate_head : NULL,
                                  .gate_label = p->gate_label,
                                  .topic_min = p->topic_min};
    const char *depts[CLS_MAX_HEADS][CLS_MAX_CLASSES];
    for (unsigned h = 0; h < p->n_heads; h++) {
        for (unsigned c = 0; c < d->k[h]; c++) {
            depts[h][c] = "";
            for (unsigned i = 0; i < p->n_map; i++)
                if (!strcmp(p->map[i].head, p->heads[h].name) &&
                    !strcmp(p->map[i].label, d->names[h][c]))
                    depts[h][c] = p->map[i].dept;
        }
        spec.heads[h] = (struct cls_head_spec){.name = p->heads[h].name,
                                               .k = d->k[h],
                                               .labels = (const char *const *)d->names[h],
                                               .dept = depts[h],
                                               .temperature = th[h].temperature,
                                               .bias = th[h].bias,
                                               .w = th[h].w};
    }
    return cls_model_build(&spec, img, len, errstr, errlen);
}

/* ------------------------------------------------------------------ metrics */

struct head_metrics {
    double accuracy, macro_f1;
    double p[CLS_MAX_CLASSES], r[CLS_MAX_CLASSES], f1[CLS_MAX_CLASSES];
    uint64_t support[CLS_MAX_CLASSES], total;
};

static void metrics(const struct confusion *cf, struct head_metrics *hm)
{
    memset(hm, 0, sizeof(*hm));
    uint64_t correct = 0;
    unsigned present = 0;
    double f1sum = 0;
    for (unsigned c = 0; c < cf->k; c++) {
        uint64_t tp = cf->m[c][c], row = 0, col = 0;
        for (unsigned j = 0; j < cf->k; j++) {
            row += cf->m[c][j];
            col += cf->m[j][c];
        }
        hm->support[c] = row;
        hm->total += row;
        correct += tp;
        hm->p[c] = col ? (double)tp / col : 0;
        hm->r[c] = row ? (double)tp / row : 0;
        hm->f1[c] =
            hm->p[c] + hm->r[c] > 0 ? 2 * hm->p[c] * hm->r[c] / (hm->p[c] + hm->r[c]) : 0;
        if (row) { /* macro average over classes present in the data */
            present++;
            f1sum += hm->f1[c];
        }
    }
    hm->accuracy = hm->total ? (double)correct / hm->total : 0;
    hm->macro_f1 = present ? f1sum / present : 0;
}

void report(FILE *out, int json, const struct profile *p, const struct dataset *d,
            const struct confusion *conf, const char *mode, unsigned folds)
{
    json_t *root = json_object();
    json_object_set_new(root, "mode", json_string(mode));
    if (folds)
        json_object_set_new(root, "folds", json_integer(folds));
    json_object_set_new(root, "rows", json_integer((json_int_t)d->n));
    json_object_set_new(root, "rejected_rows", json_integer((json_int_t)d->rejected));
    json_t *heads = json_object();
    if (!json)
        fprintf(out, "%s%s: %zu rows (%zu rejected)\n", mode, folds ? " (k-fold)" : "",
                d->n, d->rejected);
    for (unsigned h = 0; h < p->n_heads; h++) {
        struct head_metrics hm;
        metrics(&conf[h], &hm);
        unsigned k = conf[h].k;
        if (!json) {
            fprintf(out, "\nhead %s (column %s): n=%llu accuracy=%.4f macro_f1=%.4f%s\n",
                    p->heads[h].name, p->heads[h].column, (unsigned long long)hm.total,
                    hm.accuracy, hm.macro_f1,
                    d->unknown[h] ? " (unknown labels skipped)" : "");
            fprintf(out, "  %-28s %7s %7s %7s %7s\n", "class", "prec", "recall", "f1",
                    "support");
            for (unsigned c = 0; c < k; c++)
                fprintf(out, "  %-28s %7.4f %7.4f %7.4f %7llu\n", d->names[h][c], hm.p[c],
                        hm.r[c], hm.f1[c], (unsigned long long)hm.support[c]);
            fprintf(out,
                    "  confusion (rows = truth, columns = predicted, order as above):\n");
            for (unsigned c = 0; c < k; c++) {
                fprintf(out, "   ");
                for (unsigned j = 0; j < k; j++)
                    fprintf(out, " %6llu", (unsigned long long)conf[h].m[c][j]);
                fprintf(out, "\n");
            }
        }
        json_t *jh = json_object();
        json_object_set_new(jh, "column", json_string(p->heads[h].column));
        json_object_set_new(jh, "n", json_integer((json_int_t)hm.total));
        json_object_set_new(jh, "accuracy", json_real(hm.accuracy));
        json_object_set_new(jh, "macro_f1", json_real(hm.macro_f1));
        json_object_set_new(jh, "unknown_labels",
                            json_integer((json_int_t)d->unknown[h]));
        json_t *classes = json_array(), *matrix = json_array();
        for (unsigned c = 0; c < k; c++) {
            json_array_append_new(
                classes, json_pack("{s:s,s:f,s:f,s:f,s:I}", "label", d->names[h][c],
                                   "precision", hm.p[c], "recall", hm.r[c], "f1",
                                   hm.f1[c], "support", (json_int_t)hm.support[c]));
            json_t *row = json_array();
            for (unsigned j = 0; j < k; j++)
                json_array_append_new(row, json_integer((json_int_t)conf[h].m[c][j]));
            json_array_append_new(matrix, row);
        }
        json_object_set_new(jh, "classes", classes);
        json_object_set_new(jh, "confusion", matrix);
        json_object_set_new(heads, p->heads[h].name, jh);
    }
    json_object_set_new(root, "heads", heads);
    if (json) {
        char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fprintf(out, "%s\n", s);
        free(s);
    }
    json_decref(root);
}

char **dataset_texts(const char *path, const char *column, size_t *n_out, char *errstr,
                     size_t errlen)
{
    *n_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = sc_malloc((size_t)sz + 1);
    size_t len = fread(s, 1, (size_t)sz, f);
    fclose(f);
    s[len] = '\0';
    char *buf = sc_malloc(len + 1);
    char *fields[64];
    size_t pos = 0, cap = 1024, n = 0;
    int nf = csv_record(s, len, &pos, buf, fields, 64), col = -1;
    for (int i = 0; i < nf; i++)
        if (!strcmp(fields[i], column))
            col = i;
    char **out = NULL;
    if (col < 0) {
        snprintf(errstr, errlen, "%s: no column %s", path, column);
    } else {
        out = sc_malloc(cap * sizeof(char *));
        while ((nf = csv_record(s, len, &pos, buf, fields, 64)) > 0) {
            if (col >= nf)
                continue;
            if (n + 1 >= cap) {
                cap *= 2;
                out = sc_realloc(out, cap * sizeof(char *));
            }
            out[n++] = sc_strdup(fields[col]);
        }
        out[n] = NULL;
        *n_out = n;
    }
    sc_free(buf);
    sc_free(s);
    return out;
}
