/* Model files: build (quantise + serialise), load (mmap + checks), predict (sparse dot
 * product over bucket-major 8-bit codes, then a temperature softmax). The layout is
 * documented in docs/classifier.md; integers and floats are little-endian. */
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"

#define HEADER_LEN 64u
#define ALIGN      64u
/* weight rows are fetched this many features ahead: the dot products are bound by
 * random reads of the rows */
#define PREFETCH_AHEAD 8

uint64_t cls_fnv1a64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Linear 8-bit codes: w = code * scale / 127, scale clipped at a high quantile of |w| so
 * the bulk of small weights keeps its resolution (the few larger ones saturate). */
static int8_t encode(double x, double scale)
{
    double q = x / scale * 127.0;
    if (q > 127)
        q = 127;
    if (q < -127)
        q = -127;
    return (int8_t)lround(q);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* The CLIP_QUANTILE quantile of the non-zero |w|. */
#define CLIP_QUANTILE 0.9995
static double clip_scale(const float *w, size_t n)
{
    float *a = sc_malloc((n ? n : 1) * sizeof(float));
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (w[i] != 0)
            a[m++] = fabsf(w[i]);
    double s = 1.0;
    if (m > 0) {
        qsort(a, m, sizeof(float), cmp_float);
        s = a[(size_t)((double)(m - 1) * CLIP_QUANTILE)];
    }
    sc_free(a);
    return s > 0 ? s : 1.0;
}

static size_t align_up(size_t n)
{
    return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

static int valid_name(const char *s)
{
    return s && *s && strlen(s) < CLS_NAME_MAX && !strpbrk(s, "\t\n");
}

int cls_model_build(const struct cls_model_spec *spec, uint8_t **out, size_t *out_len,
                    char *errstr, size_t errlen)
{
    if (spec->bits < CLS_MIN_BITS || spec->bits > CLS_MAX_BITS || spec->n_heads == 0 ||
        spec->n_heads > CLS_MAX_HEADS || !valid_name(spec->name)) {
        snprintf(errstr, errlen, "bad model spec (bits, heads or name)");
        return SC_EINVAL;
    }
    size_t buckets = (size_t)1 << spec->bits;
    /* metadata text */
    size_t cap = 4096 + spec->n_heads * CLS_MAX_CLASSES * 160;
    char *meta = sc_calloc(1, cap);
    size_t ml =
        (size_t)snprintf(meta, cap, "name\t%s\nlicense\t%s\nfeatures\t%s\n", spec->name,
                         spec->license ? spec->license : "unspecified", CLS_FEATURES_ID);
    /* offsets are known once the metadata length is: compute with a fixed-width format */
    double scales[CLS_MAX_HEADS];
    size_t head_bytes[CLS_MAX_HEADS];
    for (unsigned h = 0; h < spec->n_heads; h++) {
        const struct cls_head_spec *hs = &spec->heads[h];
        if (!valid_name(hs->name) || hs->k < 2 || hs->k > CLS_MAX_CLASSES) {
            snprintf(errstr, errlen, "bad head %u", h);
            sc_free(meta);
            return SC_EINVAL;
        }
        scales[h] = clip_scale(hs->w, buckets * hs->k);
        head_bytes[h] = align_up(hs->k * sizeof(float) + buckets * CLS_STRIDE(hs->k));
    }
    /* reserve room: offsets printed as %012zu so the text length does not depend on them
     */
    size_t meta_fixed = ml;
    for (unsigned h = 0; h < spec->n_heads; h++) {
        const struct cls_head_spec *hs = &spec->heads[h];
        meta_fixed +=
            (size_t)snprintf(NULL, 0, "head\t%s\t%u\t%012zu\t%.9g\t%.6g\n", hs->name,
                             hs->k, (size_t)0, scales[h], (double)hs->temperature);
        for (unsigned c = 0; c < hs->k; c++) {
            if (!valid_name(hs->labels[c]) ||
                (hs->dept && hs->dept[c] && *hs->dept[c] && !valid_name(hs->dept[c]))) {
                snprintf(errstr, errlen, "bad label in head %s", hs->name);
                sc_free(meta);
                return SC_EINVAL;
            }
            meta_fixed += strlen(hs->labels[c]) + 8 +
                          (hs->dept && hs->dept[c] ? strlen(hs->dept[c]) : 0);
        }
    }
    size_t data_start = align_up(HEADER_LEN + meta_fixed + 512);
    size_t off = data_start;
    for (unsigned h = 0; h < spec->n_heads; h++) {
        const struct cls_head_spec *hs = &spec->heads[h];
        ml += (size_t)snprintf(meta + ml, cap - ml, "head\t%s\t%u\t%012zu\t%.9g\t%.6g\n",
                               hs->name, hs->k, off, scales[h], (double)hs->temperature);
        for (unsigned c = 0; c < hs->k; c++)
            ml += (size_t)snprintf(meta + ml, cap - ml, "label\t%s\t%s\n", hs->labels[c],
                                   hs->dept && hs->dept[c] ? hs->dept[c] : "");
        off += head_bytes[h];
    }
    if (spec->topic_head)
        ml += (size_t)snprintf(meta + ml, cap - ml, "topic\t%s\t%.6g\n", spec->topic_head,
                               (double)spec->topic_min);
    if (spec->gate_head && spec->gate_label)
        ml += (size_t)snprintf(meta + ml, cap - ml, "gate\t%s\t%s\n", spec->gate_head,
                               spec->gate_label);
    if (HEADER_LEN + ml + 1 > data_start) {
        snprintf(errstr, errlen, "metadata too long");
        sc_free(meta);
        return SC_EINVAL;
    }
    size_t total = off;
    uint8_t *buf = sc_calloc(1, total);
    memcpy(buf, CLS_MODEL_MAGIC, 8);
    put32(buf + 8, CLS_MODEL_VERSION);
    put32(buf + 12, HEADER_LEN);
    put64(buf + 16, total);
    put32(buf + 32, (uint32_t)(ml + 1));
    put32(buf + 36, spec->bits);
    put32(buf + 40, spec->n_heads);
    memcpy(buf + HEADER_LEN, meta, ml + 1);
    sc_free(meta);
    off = data_start;
    for (unsigned h = 0; h < spec->n_heads; h++) {
        const struct cls_head_spec *hs = &spec->heads[h];
        memcpy(buf + off, hs->bias, hs->k * sizeof(float));
        int8_t *w = (int8_t *)(buf + off + hs->k * sizeof(float));
        size_t stride = CLS_STRIDE(hs->k);
        for (size_t i = 0; i < buckets; i++)
            for (size_t c = 0; c < hs->k; c++)
                w[i * stride + c] = encode(hs->w[i * hs->k + c], scales[h]);
        off += head_bytes[h];
    }
    put64(buf + 24, cls_fnv1a64(buf + HEADER_LEN, total - HEADER_LEN));
    *out = buf;
    *out_len = total;
    return 0;
}

/* Splits line at tabs into at most max fields (NUL-terminating them in place). */
static int split_tabs(char *line, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == '\t') {
            *p = '\0';
            f[n++] = p + 1;
        }
    return n;
}

static void copy_name(char *dst, const char *src)
{
    snprintf(dst, CLS_NAME_MAX, "%s", src);
}

int cls_model_parse(struct cls_model *m, const void *image, size_t len, char *errstr,
                    size_t errlen)
{
    const uint8_t *b = image;
    void *keep_map = m->map;
    size_t keep_len = m->map_len;
    memset(m, 0, sizeof(*m));
    m->map = keep_map;
    m->map_len = keep_len;
    m->topic_head = m->gate_head = -1;
    if (len < HEADER_LEN || memcmp(b, CLS_MODEL_MAGIC, 8) != 0) {
        snprintf(errstr, errlen, "not a socialcare model file (bad magic)");
        return SC_EPARSE;
    }
    if (get32(b + 8) != CLS_MODEL_VERSION) {
        snprintf(errstr, errlen, "unsupported model format version %u (want %u)",
                 get32(b + 8), CLS_MODEL_VERSION);
        return SC_EPARSE;
    }
    if (get32(b + 12) != HEADER_LEN || get64(b + 16) != len) {
        snprintf(errstr, errlen,
                 "model file size %zu does not match its header (%llu): "
                 "truncated or padded",
                 len, (unsigned long long)get64(b + 16));
        return SC_EPARSE;
    }
    if (cls_fnv1a64(b + HEADER_LEN, len - HEADER_LEN) != get64(b + 24)) {
        snprintf(errstr, errlen, "model checksum mismatch: the file is corrupt");
        return SC_EPARSE;
    }
    uint32_t meta_len = get32(b + 32);
    m->bits = get32(b + 36);
    m->n_heads = get32(b + 40);
    if (meta_len == 0 || HEADER_LEN + (size_t)meta_len > len ||
        b[HEADER_LEN + meta_len - 1] != '\0' || m->bits < CLS_MIN_BITS ||
        m->bits > CLS_MAX_BITS || m->n_heads == 0 || m->n_heads > CLS_MAX_HEADS) {
        snprintf(errstr, errlen, "bad model header fields");
        return SC_EPARSE;
    }
    char *meta = sc_strdup((const char *)b + HEADER_LEN);
    size_t buckets = (size_t)1 << m->bits;
    unsigned nh = 0, want[CLS_MAX_HEADS] = {0};
    int features_ok = 0;
    int rc = 0;
    char topic[CLS_NAME_MAX] = "", gate[CLS_NAME_MAX] = "", gate_label[CLS_NAME_MAX] = "";
    char *save = NULL;
    for (char *line = strtok_r(meta, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[8];
        int n = split_tabs(line, f, 8);
        if (!strcmp(f[0], "name") && n >= 2) {
            copy_name(m->name, f[1]);
        } else if (!strcmp(f[0], "features") && n >= 2) {
            features_ok = !strcmp(f[1], CLS_FEATURES_ID);
            if (!features_ok) {
                snprintf(errstr, errlen,
                         "model features %.64s do not match this build (%s): retrain the "
                         "model",
                         f[1], CLS_FEATURES_ID);
                sc_free(meta);
                return SC_EPARSE;
            }
        } else if (!strcmp(f[0], "license") && n >= 2) {
            snprintf(m->license, sizeof(m->license), "%s", f[1]);
        } else if (!strcmp(f[0], "head") && n >= 6) {
            if (nh >= m->n_heads) {
                rc = SC_EPARSE;
                break;
            }
            struct cls_head *h = &m->heads[nh++];
            copy_name(h->name, f[1]);
            h->k = 0;
            unsigned k = (unsigned)strtoul(f[2], NULL, 10);
            size_t off = (size_t)strtoull(f[3], NULL, 10);
            double scale = strtod(f[4], NULL);
            h->temperature = (float)strtod(f[5], NULL);
            if (k < 2 || k > CLS_MAX_CLASSES || off % ALIGN != 0 ||
                off + k * sizeof(float) + buckets * CLS_STRIDE(k) > len || !(scale > 0) ||
                !(h->temperature > 0)) {
                rc = SC_EPARSE;
                break;
            }
            h->bias = (const float *)(b + off);
            h->w = (const int8_t *)(b + off + k * sizeof(float));
            h->scale = (float)(scale / 127.0);
            want[nh - 1] = k; /* h->k counts the label lines that follow */
        } else if (!strcmp(f[0], "label") && n >= 2 && nh > 0) {
            struct cls_head *h = &m->heads[nh - 1];
            if (h->k >= want[nh - 1] || !f[1][0]) {
                rc = SC_EPARSE;
                break;
            }
            copy_name(h->labels[h->k], f[1]);
            copy_name(h->dept[h->k], n >= 3 ? f[2] : "");
            h->k++;
        } else if (!strcmp(f[0], "topic") && n >= 3) {
            copy_name(topic, f[1]);
            m->topic_min = (float)strtod(f[2], NULL);
        } else if (!strcmp(f[0], "gate") && n >= 3) {
            copy_name(gate, f[1]);
            copy_name(gate_label, f[2]);
        }
    }
    sc_free(meta);
    if (rc == 0 && !features_ok) {
        snprintf(errstr, errlen, "model has no features line (made by an older trainer)");
        return SC_EPARSE;
    }
    if (rc == 0 && nh != m->n_heads)
        rc = SC_EPARSE;
    for (unsigned i = 0; rc == 0 && i < nh; i++) {
        if (m->heads[i].k != want[i])
            rc = SC_EPARSE;
    }
    if (rc == 0 && topic[0] && (m->topic_head = cls_model_head(m, topic)) < 0)
        rc = SC_EPARSE;
    if (rc == 0 && gate[0]) {
        m->gate_head = cls_model_head(m, gate);
        if (m->gate_head < 0 ||
            (m->gate_label = cls_head_label(&m->heads[m->gate_head], gate_label)) < 0)
            rc = SC_EPARSE;
    }
    if (rc != 0)
        snprintf(errstr, errlen, "bad model metadata (heads, labels or topic settings)");
    return rc;
}

int cls_model_load(struct cls_model *m, const char *path, char *errstr, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errstr, errlen, "cannot open model %s: %s", path, strerror(errno));
        return errno == ENOENT ? SC_ENOENT : SC_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)HEADER_LEN) {
        snprintf(errstr, errlen, "model %s: too short to be a model file", path);
        close(fd);
        return SC_EPARSE;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        snprintf(errstr, errlen, "cannot map model %s: %s", path, strerror(errno));
        return SC_EIO;
    }
    m->map = map;
    m->map_len = (size_t)st.st_size;
    char why[256];
    int rc = cls_model_parse(m, map, m->map_len, why, sizeof(why));
    if (rc != 0) {
        snprintf(errstr, errlen, "model %s: %s", path, why);
        cls_model_unload(m);
    }
    return rc;
}

void cls_model_unload(struct cls_model *m)
{
    if (m->map)
        munmap(m->map, m->map_len);
    m->map = NULL;
    m->map_len = 0;
}

int cls_model_head(const struct cls_model *m, const char *name)
{
    for (unsigned i = 0; i < m->n_heads; i++)
        if (!strcmp(m->heads[i].name, name))
            return (int)i;
    return -1;
}

int cls_head_label(const struct cls_head *h, const char *label)
{
    for (unsigned i = 0; i < h->k; i++)
        if (!strcmp(h->labels[i], label))
            return (int)i;
    return -1;
}

unsigned cls_model_predict(const struct cls_model *m, unsigned hi,
                           const struct cls_features *f, float *probs)
{
    const struct cls_head *h = &m->heads[hi];
    unsigned k = h->k, stride = CLS_STRIDE(k);
    float acc[CLS_MAX_CLASSES] = {0};
    const int8_t *w = h->w;
    uint32_t n = f->n;
    if (stride == 4) { /* the common 3-class head, in registers */
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (i + PREFETCH_AHEAD < n)
                __builtin_prefetch(w + (size_t)f->idx[i + PREFETCH_AHEAD] * 4);
            const int8_t *row = w + (size_t)f->idx[i] * 4;
            float v = f->val[i];
            a0 += v * (float)row[0];
            a1 += v * (float)row[1];
            a2 += v * (float)row[2];
            a3 += v * (float)row[3];
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
    } else {
        for (uint32_t i = 0; i < n; i++) {
            if (i + PREFETCH_AHEAD < n)
                __builtin_prefetch(w + (size_t)f->idx[i + PREFETCH_AHEAD] * stride);
            const int8_t *row = w + (size_t)f->idx[i] * stride;
            float v = f->val[i];
            for (unsigned c = 0; c < stride; c++)
                acc[c] += v * (float)row[c];
        }
    }
    for (unsigned c = 0; c < k; c++)
        acc[c] = h->bias[c] + acc[c] * h->scale;
    return cls_head_softmax(h, acc, probs);
}

unsigned cls_head_softmax(const struct cls_head *h, const float *scores, float *probs)
{
    unsigned k = h->k, best = 0;
    for (unsigned c = 1; c < k; c++)
        if (scores[c] > scores[best])
            best = c;
    float sum = 0, inv_t = 1.0f / h->temperature;
    for (unsigned c = 0; c < k; c++) {
        probs[c] = expf((scores[c] - scores[best]) * inv_t);
        sum += probs[c];
    }
    for (unsigned c = 0; c < k; c++)
        probs[c] /= sum;
    return best;
}

void cls_fused_build(struct cls_fused *fz, const struct cls_model *m)
{
    unsigned total = 0;
    for (unsigned h = 0; h < m->n_heads; h++) {
        fz->off[h] = total;
        total += m->heads[h].k;
    }
    fz->stride = (total + 15u) & ~15u;
#if CLS_HAVE_AVX2
    fz->avx2 = __builtin_cpu_supports("avx2") != 0;
#else
    fz->avx2 = 0;
#endif
    size_t buckets = (size_t)1 << m->bits;
    fz->w = sc_calloc(buckets, fz->stride);
    for (unsigned h = 0; h < m->n_heads; h++) {
        const struct cls_head *hd = &m->heads[h];
        size_t hs = CLS_STRIDE(hd->k);
        for (size_t b = 0; b < buckets; b++)
            memcpy(fz->w + b * fz->stride + fz->off[h], hd->w + b * hs, hd->k);
    }
}

void cls_fused_free(struct cls_fused *fz)
{
    sc_free(fz->w);
    fz->w = NULL;
}

/* Adds the rows idx[0 .. n) into sum[0 .. stride): int16 lanes for blocks of up to 256
 * rows (|code| <= 127, so a block cannot overflow), widened into int32 after each. */
#define BLOCK 256u

/* The rows of the airline model's shape: 3 + 10 classes, one 16-byte row per feature. */
#define SUM16_BODY                                                                       \
    for (uint32_t i0 = 0; i0 < n; i0 += BLOCK) {                                         \
        uint32_t i1 = n - i0 > BLOCK ? i0 + BLOCK : n;                                   \
        int16_t a[16] = {0};                                                             \
        for (uint32_t i = i0; i < i1; i++) {                                             \
            if (i + PREFETCH_AHEAD < i1)                                                 \
                __builtin_prefetch(w + (size_t)idx[i + PREFETCH_AHEAD] * 16);            \
            const int8_t *row = w + (size_t)idx[i] * 16;                                 \
            for (unsigned c = 0; c < 16; c++)                                            \
                a[c] = (int16_t)(a[c] + row[c]);                                         \
        }                                                                                \
        for (unsigned c = 0; c < 16; c++)                                                \
            sum[c] += a[c];                                                              \
    }

static void sum16(const int8_t *w, const uint32_t *idx, uint32_t n, int32_t *sum)
{
    SUM16_BODY
}

#if CLS_HAVE_AVX2
/* The same compiled for AVX2 (one 16-lane widening add per row), used when the CPU has
 * it (struct cls_fused.avx2). */
__attribute__((target("avx2"))) static void
sum16_avx2(const int8_t *w, const uint32_t *idx, uint32_t n, int32_t *sum)
{
    SUM16_BODY
}
#endif

static void sum_rows(const struct cls_fused *fz, const uint32_t *idx, uint32_t n,
                     int32_t *sum)
{
    const int8_t *w = fz->w;
    unsigned stride = fz->stride;
    if (stride == 16) {
#if CLS_HAVE_AVX2
        if (fz->avx2) {
            sum16_avx2(w, idx, n, sum);
            return;
        }
#endif
        sum16(w, idx, n, sum);
        return;
    }
    for (uint32_t i0 = 0; i0 < n; i0 += BLOCK) {
        uint32_t i1 = n - i0 > BLOCK ? i0 + BLOCK : n;
        int16_t a[CLS_FUSED_MAX + 16];
        memset(a, 0, stride * sizeof(int16_t));
        for (uint32_t i = i0; i < i1; i++) {
            if (i + PREFETCH_AHEAD < i1)
                __builtin_prefetch(w + (size_t)idx[i + PREFETCH_AHEAD] * stride);
            const int8_t *row = w + (size_t)idx[i] * stride;
            for (unsigned c0 = 0; c0 < stride; c0 += 16)
                for (unsigned c = c0; c < c0 + 16; c++)
                    a[c] = (int16_t)(a[c] + row[c]);
        }
        for (unsigned c = 0; c < stride; c++)
            sum[c] += a[c];
    }
}

void cls_fused_scores(const struct cls_model *m, const struct cls_fused *fz,
                      const struct cls_features *f, float *scores)
{
    int32_t sw[CLS_FUSED_MAX + 16] = {0}, sc[CLS_FUSED_MAX + 16] = {0};
    uint32_t nw = f->n_word <= f->n ? f->n_word : f->n, nc = f->n - nw;
    uint32_t at =
        f->char_at >= nw && f->char_at <= CLS_MAX_FEATURES - nc ? f->char_at : nw;
    sum_rows(fz, f->idx, nw, sw);
    sum_rows(fz, f->idx + at, nc, sc);
    for (unsigned h = 0; h < m->n_heads; h++) {
        const struct cls_head *hd = &m->heads[h];
        unsigned o = fz->off[h];
        for (unsigned c = 0; c < hd->k; c++)
            scores[o + c] = hd->bias[c] + hd->scale * (f->word_val * (float)sw[o + c] +
                                                       f->char_val * (float)sc[o + c]);
    }
}
