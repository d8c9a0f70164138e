/* Rules: each line "<name> <action>[,<action>...] <pattern>" is checked on its own
 * (errors point at the line), then all patterns are joined into one anchored alternation
 * "(?:p0)(?C1)|(?:p1)(?C2)|..." compiled once with JIT. The scan tries that matcher at
 * every word start (a non-space byte not preceded by a letter, digit or '_'), so a rule
 * matches when its pattern matches beginning at a word start. Each alternative ends in a
 * callout that records its rule and fails, so every rule matching at a start is seen.
 * Built-in personal-data detectors are plain C scans. */
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
            (void)pcre2_jit_compile(r->code,
                                    PCRE2_JIT_COMPLETE); /* falls back if absent */
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

static int word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80 ||
           (c >= 'A' && c <= 'Z');
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

unsigned cls_rules_match(const struct cls_rules *r, struct cls_matcher *mt,
                         const char *text, size_t len, struct cls_rule_hits *hits)
{
    memset(hits, 0, sizeof(*hits));
    if (!r->code)
        return 0;
    struct callout_state st = {.hits = hits, .found = 0};
    pcre2_set_callout(mt->mc, on_rule, &st);
    for (size_t start = 0; start < len; start++) {
        unsigned char c = (unsigned char)text[start];
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r' ||
            (start > 0 && word_byte((unsigned char)text[start - 1])))
            continue; /* rules are anchored at word starts */
        (void)pcre2_match(r->code, (PCRE2_SPTR)text, len, start, 0, mt->md, mt->mc);
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

unsigned cls_pii_builtin(const char *text, size_t len)
{
    unsigned found = 0;
    for (size_t i = 0; i < len; i++) {
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
