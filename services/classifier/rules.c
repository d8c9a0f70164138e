/* Rules: each line "<name> <action>[,<action>...] <pattern>" is checked on its own
 * (errors point at the line), then all patterns are joined into one anchored alternation
 * "(?:p0)(?C1)|(?:p1)(?C2)|..." compiled once with JIT. The scan tries that matcher at
 * word starts (a non-space byte not preceded by a letter, digit, '_' or non-ASCII byte,
 * found eight bytes at a time), so a rule matches when its pattern matches beginning at a
 * word start. Each alternative ends in a callout that records its rule and fails, so
 * every rule matching at a start is seen. Most word starts cannot begin any rule ("the",
 * "my", "to"): tables of the 2- and 4-byte prefixes that can, computed once at compile
 * time by hard partial matching (after the bytes that may precede a word start), skip
 * them without calling PCRE2. Built-in personal-data detectors are plain C scans. */
#include "rules.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

/* The text is already case-folded: patterns are written in lower case and matched
 * byte-wise (UTF-8 literals still match), which keeps the JIT scan fast. */
#ifndef RULE_FLAGS
#define RULE_FLAGS 0u
#endif

static const char *const builtin_pii[CLS_PII_BUILTIN_COUNT] = {"email", "phone",
                                                               "card_number"};

static int parse_action(struct cls_rules *r, struct cls_rule *rule, char *a)
{
    char *eq = strchr(a, '=');
    if (!eq || !eq[1] || strlen(eq + 1) >= CLS_RULE_NAME_MAX ||
        rule->n_actions >= CLS_MAX_ACTIONS)
        return -1;
    *eq = '\0';
    const char *v = eq + 1;
    enum cls_rule_head head;
    if (!strcmp(a, "intent")) {
        static const char *const ok[] = {"complaint", "question", "bug_report", "praise",
                                         "spam",      "crisis",   "other"};
        int found = 0;
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
            found |= !strcmp(ok[i], v);
        if (!found)
            return -1;
        head = CLS_RULE_INTENT;
    } else if (!strcmp(a, "topic")) {
        head = CLS_RULE_TOPIC;
    } else if (!strcmp(a, "sentiment")) {
        if (strcmp(v, "negative") && strcmp(v, "neutral") && strcmp(v, "positive"))
            return -1;
        head = CLS_RULE_SENTIMENT;
    } else if (!strcmp(a, "pii")) {
        head = CLS_RULE_PII;
    } else {
        return -1;
    }
    unsigned bit = 0;
    if (head == CLS_RULE_PII) {
        for (bit = 0; bit < r->n_pii && strcmp(r->pii_names[bit], v); bit++)
            ;
        if (bit == r->n_pii) {
            if (r->n_pii >= CLS_MAX_PII_KINDS)
                return -1;
            snprintf(r->pii_names[r->n_pii++], CLS_RULE_NAME_MAX, "%s", v);
        }
    }
    unsigned i = rule->n_actions++;
    rule->actions[i].head = head;
    rule->actions[i].pii_bit = bit;
    snprintf(rule->actions[i].value, CLS_RULE_NAME_MAX, "%s", v);
    return 0;
}

/* Byte classes of the word-start scan: 1 = part of a word (letters, digits, '_',
 * non-ASCII bytes), 2 = blank (' ', \n, \t, \r). Generated. */
static const unsigned char byte_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

static int word_byte(unsigned char c)
{
    return byte_class[c] & 1;
}

static int is_blank(unsigned char c)
{
    return byte_class[c] & 2;
}

/* ---- eight bytes at a time: bit 7 of each byte of the result flags that byte ---- */

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Bytes p[0 .. 8) as a little-endian integer (byte k = bits 8k .. 8k+7). */
static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < 8; k++)
        v |= (uint64_t)p[k] << (8 * k);
    return v;
}

/* The ASCII bytes of v within [lo, hi] (hi < 0x80); no carry crosses bytes. */
static uint64_t in_range(uint64_t v, unsigned lo, unsigned hi)
{
    uint64_t x = v & ~HIGHS;
    uint64_t ge = x + (0x80 - lo) * ONES, gt = x + (0x7f - hi) * ONES;
    return ge & ~gt & ~v & HIGHS;
}

/* Bytes that are part of a word (as word_byte). */
static uint64_t word_bytes(uint64_t v)
{
    return (v & HIGHS) | in_range(v, 'a', 'z') | in_range(v, 'A', 'Z') |
           in_range(v, '0', '9') | in_range(v, '_', '_');
}

/* Blank bytes (as is_blank). */
static uint64_t blank_bytes(uint64_t v)
{
    return in_range(v, '\t', '\n') | in_range(v, '\r', '\r') | in_range(v, ' ', ' ');
}

/* The byte index of the lowest flagged byte of a non-zero mask. */
static unsigned first_flag(uint64_t m)
{
    return (unsigned)__builtin_ctzll(m) / 8;
}

static void set_bit(uint8_t *bits, unsigned i)
{
    bits[i / 8] |= (uint8_t)(1u << (i % 8));
}

/* Whether the rules can match from pre[0 .. n) when the subject ends there (hard partial
 * matching: "not yet" counts as "can"), after the byte prev (none when prev < 0). */
static int probe(const pcre2_code *code, pcre2_match_data *md, int prev,
                 const unsigned char *pre, size_t n)
{
    unsigned char subj[1 + CLS_RULE_PREFIX];
    size_t off = 0;
    if (prev >= 0)
        subj[off++] = (unsigned char)prev;
    memcpy(subj + off, pre, n);
    return pcre2_match(code, (PCRE2_SPTR)subj, off + n, off, PCRE2_PARTIAL_HARD, md,
                       NULL) != PCRE2_ERROR_NOMATCH;
}

struct prefix_build {
    struct cls_rules *r;
    pcre2_match_data *md;
    int ctx[131]; /* bytes that may precede a word start; -1 = none (text start) */
    unsigned depth;
    unsigned long budget; /* probes left before giving up on the 4-byte table */
};

/* Extends the prefix pre[0 .. n), which can begin a match after the contexts ctx[0 ..
 * nc), by every byte, and records the pairs and 4-byte prefixes that still can. A
 * prefix that cannot match after some context cannot when longer either, so only the
 * contexts left are tried. @returns 0, or -1 when the probe budget ran out. */
static int extend(struct prefix_build *b, unsigned char *pre, unsigned n,
                  const unsigned char *ctx, unsigned nc)
{
    unsigned char next[131];
    for (unsigned c = 0; c < 256; c++) {
        if (n == 0 && is_blank((unsigned char)c))
            continue;
        pre[n] = (unsigned char)c;
        unsigned nn = 0;
        for (unsigned k = 0; k < nc; k++)
            if (probe(b->r->code, b->md, b->ctx[ctx[k]], pre, n + 1))
                next[nn++] = ctx[k];
        if (b->budget < nc)
            return -1;
        b->budget -= nc;
        if (nn == 0)
            continue;
        if (n + 1 == 2)
            set_bit(b->r->first2, (unsigned)pre[0] << 8 | pre[1]);
        if (n + 1 == CLS_RULE_PREFIX)
            set_bit(b->r->first4, cls_prefix_slot(pre));
        else if (n + 1 < b->depth && extend(b, pre, n + 1, next, nn) != 0)
            return -1;
    }
    return 0;
}

/* True when a pattern may look at the byte before its start other than through \b, \B
 * and anchors: lookbehind assertions, or verbs such as (*ANYCRLF) that change what a
 * line start is. (A named group "(?<n>" also counts: it only costs speed.) */
static int looks_behind(const char *pattern)
{
    return strstr(pattern, "(?<") || strstr(pattern, "(*");
}

/* Fills r->first2 and r->first4 by asking PCRE2 which 2- and 4-byte prefixes can begin
 * a match at a word start. The byte before a word start is a non-word byte or none: for
 * patterns that look back only through \b, \B or anchors, "none", ' ' and '\n' stand
 * for all of them; otherwise every ASCII non-word byte is tried, for the pairs only.
 * Patterns that look back further than one byte disable both tables (all bits set). */
static void build_prefixes(struct cls_rules *r, const char *pattern)
{
    uint32_t lookbehind = 0;
    memset(r->first2, 0, sizeof(r->first2));
    memset(r->first4, 0, sizeof(r->first4));
    if (pcre2_pattern_info(r->code, PCRE2_INFO_MAXLOOKBEHIND, &lookbehind) != 0 ||
        lookbehind > 1) {
        memset(r->first2, 0xff, sizeof(r->first2));
        memset(r->first4, 0xff, sizeof(r->first4));
        return;
    }
    struct prefix_build b = {.r = r, .md = pcre2_match_data_create(1, NULL)};
    if (!b.md)
        abort();
    unsigned nc = 0;
    b.ctx[nc++] = -1;
    if (looks_behind(pattern)) {
        for (unsigned c = 0; c < 0x80; c++)
            if (!word_byte((unsigned char)c))
                b.ctx[nc++] = (int)c;
    } else {
        b.ctx[nc++] = ' ';
        b.ctx[nc++] = '\n';
    }
    unsigned char all[131], pre[CLS_RULE_PREFIX];
    for (unsigned k = 0; k < nc; k++)
        all[k] = (unsigned char)k;
    b.depth = nc > 3 ? 2 : CLS_RULE_PREFIX;
    b.budget = 4000000;
    if (extend(&b, pre, 0, all, nc) != 0) { /* too many prefixes: no table */
        memset(r->first2, 0xff, sizeof(r->first2));
        memset(r->first4, 0xff, sizeof(r->first4));
    } else if (b.depth < CLS_RULE_PREFIX) {
        memset(r->first4, 0xff, sizeof(r->first4));
    }
    pcre2_match_data_free(b.md);
}

int cls_rules_compile(struct cls_rules *r, const char *text, const char *origin,
                      char *errstr, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    for (unsigned i = 0; i < CLS_PII_BUILTIN_COUNT; i++)
        snprintf(r->pii_names[i], CLS_RULE_NAME_MAX, "%s", builtin_pii[i]);
    r->n_pii = CLS_PII_BUILTIN_COUNT;
    char *copy = sc_strdup(text);
    size_t cap = strlen(text) * 2 + 64, used = 0;
    char *combined = sc_malloc(cap);
    combined[0] = '\0';
    int rc = 0, lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        /* strtok_r skips empty lines: count newlines in the original text instead */
        lineno = 1;
        for (const char *q = text; q < text + (line - copy); q++)
            lineno += *q == '\n';
        size_t l = strlen(line);
        while (l > 0 &&
               (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t'))
            line[--l] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            continue;
        char *name = strtok_r(s, " \t", &s), *acts = strtok_r(NULL, " \t", &s);
        while (s && (*s == ' ' || *s == '\t'))
            s++;
        const char *pattern = s;
        if (!name || !acts || !pattern || !*pattern ||
            strlen(name) >= CLS_RULE_NAME_MAX) {
            snprintf(errstr, errlen, "%s:%d: want <name> <action> <pattern>", origin,
                     lineno);
            rc = SC_EPARSE;
            break;
        }
        if (r->n >= CLS_MAX_RULES) {
            snprintf(errstr, errlen, "%s:%d: more than %d rules", origin, lineno,
                     CLS_MAX_RULES);
            rc = SC_EPARSE;
            break;
        }
        struct cls_rule *rule = &r->rules[r->n];
        memset(rule, 0, sizeof(*rule));
        snprintf(rule->name, sizeof(rule->name), "%s", name);
        snprintf(rule->reason, sizeof(rule->reason), "rule:%s", name);
        char *asave = NULL;
        for (char *a = strtok_r(acts, ",", &asave); a && rc == 0;
             a = strtok_r(NULL, ",", &asave))
            if (parse_action(r, rule, a) != 0) {
                snprintf(errstr, errlen,
                         "%s:%d: bad action (intent=<intent>, topic=<name>, "
                         "sentiment=<label>, pii=<kind>)",
                         origin, lineno);
                rc = SC_EPARSE;
            }
        if (rc != 0)
            break;
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *one = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                        RULE_FLAGS, &ec, &eo, NULL);
        if (!one) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof(msg));
            snprintf(errstr, errlen, "%s:%d: pattern error at offset %zu: %s", origin,
                     lineno, (size_t)eo, (const char *)msg);
            rc = SC_EPARSE;
            break;
        }
        pcre2_code_free(one);
        size_t need = strlen(pattern) + 16;
        if (used + need >= cap) {
            cap = (used + need) * 2;
            combined = sc_realloc(combined, cap);
        }
        used += (size_t)snprintf(combined + used, cap - used, "%s(?:%s)(?C%u)",
                                 r->n ? "|" : "", pattern, r->n + 1);
        r->n++;
    }
    sc_free(copy);
    if (rc == 0 && r->n > 0) {
        int ec;
        PCRE2_SIZE eo;
        r->code = pcre2_compile((PCRE2_SPTR)combined, PCRE2_ZERO_TERMINATED,
                                RULE_FLAGS | PCRE2_ANCHORED, &ec, &eo, NULL);
        if (!r->code) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof(msg));
            snprintf(errstr, errlen, "%s: combined pattern error: %s", origin,
                     (const char *)msg);
            rc = SC_EPARSE;
        } else {
            (void)pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE | PCRE2_JIT_PARTIAL_HARD);
            build_prefixes(r, combined);
        }
    }
    sc_free(combined);
    if (rc != 0)
        cls_rules_free(r);
    return rc;
}

int cls_rules_load(struct cls_rules *r, const char *path, char *errstr, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errlen, "cannot open rules %s: %s", path, strerror(errno));
        return SC_ENOENT;
    }
    size_t cap = 4096, len = 0;
    char *buf = sc_malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = sc_realloc(buf, cap);
        }
    }
    fclose(f);
    buf[len] = '\0';
    int rc = cls_rules_compile(r, buf, path, errstr, errlen);
    sc_free(buf);
    return rc;
}

void cls_rules_free(struct cls_rules *r)
{
    if (r->code)
        pcre2_code_free(r->code);
    r->code = NULL;
    r->n = 0;
}

void cls_matcher_init(struct cls_matcher *mt, const struct cls_rules *r)
{
    (void)r;
    mt->md = pcre2_match_data_create(1, NULL);
    mt->mc = pcre2_match_context_create(NULL);
    if (!mt->md || !mt->mc)
        abort(); /* out of memory, as sc_malloc does */
}

void cls_matcher_free(struct cls_matcher *mt)
{
    pcre2_match_data_free(mt->md);
    pcre2_match_context_free(mt->mc);
    mt->md = NULL;
    mt->mc = NULL;
}

struct callout_state {
    struct cls_rule_hits *hits;
    unsigned found;
};

/* Called when rule (callout_number - 1) has matched: record it and fail, so the engine
 * backtracks into the remaining alternatives and every rule matching here is seen. */
static int on_rule(pcre2_callout_block *cb, void *data)
{
    struct callout_state *st = data;
    unsigned i = cb->callout_number - 1;
    if (i < CLS_MAX_RULES && !cls_rule_hit(st->hits, i)) {
        st->hits->bits[i / 64] |= 1ull << (i % 64);
        st->found++;
    }
    return 1;
}

/* Runs the rules at word start `start` unless the prefilters rule it out. */
static void try_start(const struct cls_rules *r, struct cls_matcher *mt,
                      const unsigned char *t, size_t len, size_t start)
{
    if (start + 1 < len &&
        !(r->first2[(t[start] << 8 | t[start + 1]) / 8] & (1u << (t[start + 1] % 8))))
        return; /* no rule begins with these two bytes */
    if (start + CLS_RULE_PREFIX <= len) {
        unsigned slot = cls_prefix_slot(t + start);
        if (!(r->first4[slot / 8] & (1u << (slot % 8))))
            return; /* nor with these four */
    }
    (void)pcre2_match(r->code, (PCRE2_SPTR)t, len, start, 0, mt->md, mt->mc);
}

unsigned cls_rules_match(const struct cls_rules *r, struct cls_matcher *mt,
                         const char *text, size_t len, struct cls_rule_hits *hits)
{
    memset(hits, 0, sizeof(*hits));
    if (!r->code)
        return 0;
    struct callout_state st = {.hits = hits, .found = 0};
    pcre2_set_callout(mt->mc, on_rule, &st);
    const unsigned char *t = (const unsigned char *)text;
    /* word starts, eight bytes at a time: not blank, and not after a word byte */
    uint64_t carry = 0; /* bit 7 set when the byte before the chunk is a word byte */
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = le64(t + i), w = word_bytes(v);
        uint64_t starts = ~(w << 8 | carry) & ~blank_bytes(v) & HIGHS;
        carry = w >> 56 & 0x80;
        for (; starts; starts &= starts - 1)
            try_start(r, mt, t, len, i + first_flag(starts));
    }
    for (; i < len; i++) {
        if (!carry && !is_blank(t[i]))
            try_start(r, mt, t, len, i);
        carry = word_byte(t[i]);
    }
    return st.found;
}

/* ------------------------------------------------------------------ built-in PII */

int cls_luhn_ok(const char *digits, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(digits[n - 1 - i] - '0');
        if (i % 2 == 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return n > 0 && sum % 10 == 0;
}

static int email_local(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '_' || c == '-' || c == '+' || c == '%';
}

static int email_domain(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.';
}

/* The first position >= i of a byte that can start a find ('@', '+' or a digit), or len.
 */
static size_t next_trigger(const char *text, size_t i, size_t len)
{
    const unsigned char *t = (const unsigned char *)text;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = le64(t + i);
        uint64_t m =
            in_range(v, '0', '9') | in_range(v, '@', '@') | in_range(v, '+', '+');
        if (m)
            return i + first_flag(m);
    }
    while (i < len && t[i] != '@' && t[i] != '+' && (t[i] < '0' || t[i] > '9'))
        i++;
    return i;
}

unsigned cls_pii_builtin(const char *text, size_t len)
{
    unsigned found = 0;
    /* only '@', '+' and digits start a find: skip to them */
    for (size_t i = next_trigger(text, 0, len); i < len;
         i = next_trigger(text, i + 1, len)) {
        unsigned char c = (unsigned char)text[i];
        if (c == '@' && i > 0 && email_local((unsigned char)text[i - 1]) &&
            text[i - 1] != '.') {
            /* domain: labels with at least one dot and a final label of 2+ letters */
            size_t j = i + 1, last_dot = 0;
            while (j < len && email_domain((unsigned char)text[j]))
                j++;
            while (j > i + 1 && text[j - 1] == '.')
                j--; /* trailing full stop of a sentence */
            for (size_t q = i + 1; q < j; q++)
                if (text[q] == '.')
                    last_dot = q;
            if (last_dot > i + 1 && j - last_dot - 1 >= 2)
                found |= 1u << CLS_PII_EMAIL;
            continue;
        }
        int plus = c == '+' && i + 1 < len && isdigit((unsigned char)text[i + 1]);
        if ((isdigit(c) || plus) && (i == 0 || !isalnum((unsigned char)text[i - 1]))) {
            char digits[32];
            size_t nd = 0, j = i + (plus ? 1 : 0);
            int seps = 0;
            while (j < len) {
                unsigned char d = (unsigned char)text[j];
                if (isdigit(d)) {
                    if (nd < sizeof(digits))
                        digits[nd] = (char)d;
                    nd++;
                    seps = 0;
                } else if ((d == ' ' || d == '-' || d == '.' || d == '(' || d == ')') &&
                           seps < 2 && j + 1 < len) {
                    seps++;
                } else {
                    break;
                }
                j++;
            }
            if (j < len && isalpha((unsigned char)text[j]) && seps == 0) {
                i = j; /* digits glued to letters: a code, not a number */
                continue;
            }
            if (nd >= 13 && nd <= 19 && cls_luhn_ok(digits, nd))
                found |= 1u << CLS_PII_CARD;
            else if (nd >= 9 && nd <= 15)
                found |= 1u << CLS_PII_PHONE;
            i = j > i ? j - 1 : i;
        }
    }
    return found;
}
