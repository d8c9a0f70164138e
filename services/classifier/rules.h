/* The classifier's rules layer: keyword and pattern rules read from a configuration file
 * (config/classifier-rules.conf) and compiled once with PCRE2 into one alternation (JIT),
 * tried at the word starts whose first bytes can begin a rule; each rule sets heads
 * (intent, topic, sentiment) or reports a personal-data kind. Also the built-in
 * personal-data detectors (emails, phone numbers, Luhn-checked card numbers) which need
 * no configuration. Rules run on the normalised, case-folded text. */
#ifndef CLASSIFIER_RULES_H
#define CLASSIFIER_RULES_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define CLS_MAX_RULES        128
#define CLS_MAX_ACTIONS      3
#define CLS_MAX_PII_KINDS    16
#define CLS_RULE_NAME_MAX    64
#define CLS_RULE_PREFIX      4  /* bytes of the longer prefilter (first4) */
#define CLS_RULE_PREFIX_BITS 18 /* its size: 2^18 bits, 32 KiB */

enum cls_rule_head { CLS_RULE_INTENT, CLS_RULE_TOPIC, CLS_RULE_SENTIMENT, CLS_RULE_PII };

/* Built-in personal-data kinds: bits 0..2 of a pii mask; configured kinds follow. */
enum cls_pii_builtin {
    CLS_PII_EMAIL,
    CLS_PII_PHONE,
    CLS_PII_CARD,
    CLS_PII_BUILTIN_COUNT
};

struct cls_rule {
    char name[CLS_RULE_NAME_MAX];
    char reason[CLS_RULE_NAME_MAX + 8]; /* "rule:<name>" */
    unsigned n_actions;
    struct {
        enum cls_rule_head head;
        char value[CLS_RULE_NAME_MAX];
        unsigned pii_bit; /* for CLS_RULE_PII */
    } actions[CLS_MAX_ACTIONS];
};

struct cls_rules {
    pcre2_code *code; /* NULL when there are no rules */
    /* Prefilters, found at compile time by partial matching: bit (b0 << 8 | b1) of
     * first2 is set when some rule can match at a word start whose first two bytes are
     * b0 b1; bit cls_prefix_slot(p) of first4 when one can with the four bytes at p
     * (a hashed set: collisions only cost a PCRE2 call). All set when unknown. */
    uint8_t first2[65536 / 8];
    uint8_t first4[(1u << CLS_RULE_PREFIX_BITS) / 8];
    unsigned n;
    struct cls_rule rules[CLS_MAX_RULES];
    unsigned n_pii; /* kinds including the built-in ones */
    char pii_names[CLS_MAX_PII_KINDS][CLS_RULE_NAME_MAX];
};

/* Bit set of matched rules. */
struct cls_rule_hits {
    uint64_t bits[CLS_MAX_RULES / 64];
};

/* @brief Compiles rules from text (the file format, see config/classifier-rules.conf);
 * origin names the source in errors ("file:line: ..."). @returns 0 or SC_EPARSE. */
int cls_rules_compile(struct cls_rules *r, const char *text, const char *origin,
                      char *errstr, size_t errlen);

/* @brief Reads and compiles a rules file. @returns 0, SC_ENOENT or SC_EPARSE. */
int cls_rules_load(struct cls_rules *r, const char *path, char *errstr, size_t errlen);

void cls_rules_free(struct cls_rules *r);

/* Matching state of one thread, made once (no allocation per text). */
struct cls_matcher {
    pcre2_match_data *md;
    pcre2_match_context *mc;
};

void cls_matcher_init(struct cls_matcher *mt, const struct cls_rules *r);
void cls_matcher_free(struct cls_matcher *mt);

/* @brief Runs every rule over text (valid UTF-8, normalised). @returns number of rules
 * that matched; hits has their bits. */
unsigned cls_rules_match(const struct cls_rules *r, struct cls_matcher *mt,
                         const char *text, size_t len, struct cls_rule_hits *hits);

static inline int cls_rule_hit(const struct cls_rule_hits *h, unsigned i)
{
    return (int)((h->bits[i / 64] >> (i % 64)) & 1u);
}

/* @brief Built-in personal data in text: bits (1 << CLS_PII_*). Pure, no allocation. */
unsigned cls_pii_builtin(const char *text, size_t len);

/* @brief Slot of the CLS_RULE_PREFIX bytes at p in cls_rules.first4. */
static inline unsigned cls_prefix_slot(const unsigned char *p)
{
    uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    return (k * 0x9e3779b1u) >> (32 - CLS_RULE_PREFIX_BITS);
}

/* @brief Luhn check of a digit string. */
int cls_luhn_ok(const char *digits, size_t n);

#endif
