/* Deterministic hostile-input generator shared by the bad-input suite
 * (tests/e2e/test_hostile_*.c; header-only, static functions). A seeded xorshift PRNG
 * picks, for each input, one class of damage applied to a valid event: a truncated
 * document, random bytes, invalid UTF-8 (overlong, surrogate, truncated, out of range),
 * NUL bytes (raw and escaped), nesting deeper than any cap, huge or malformed numbers,
 * wrong root types, missing or wrong-typed required fields, unknown enum values, strings
 * one byte past their cap, lone surrogate escapes, and trailing garbage. Every output is
 * invalid for the event kind it was made from, so a consumer must reject it. */
#ifndef SC_E2E_HOSTILE_H
#define SC_E2E_HOSTILE_H

#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* xorshift64*: deterministic for a seed. */
struct hrng {
    uint64_t s;
};

static inline uint64_t hrng_next(struct hrng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

static inline size_t hrng_below(struct hrng *r, size_t n)
{
    return n ? (size_t)(hrng_next(r) % n) : 0;
}

/* The seed: SC_BAD_INPUT_SEED when set, else a fixed one (printed by the tests). */
static inline uint64_t hostile_seed(void)
{
    const char *s = getenv("SC_BAD_INPUT_SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 0) : 0x5eed0badc0ffeeULL;
    return seed ? seed : 1;
}

/* What a generated input is made from. */
struct hostile_base {
    const json_t *valid;         /* a valid event (borrowed) */
    const char *const *required; /* required keys ("author.id" = nested), NULL-ended */
    const char *const *enums;    /* enum-valued string keys, NULL-ended (may be NULL) */
    const char *str_key;         /* a top-level string member to damage ("text") */
    size_t str_cap;              /* its cap in bytes */
    bool no_array_root;          /* do not wrap the valid event in an array */
};

/* One generated input (bytes owned; cls a static class name). */
struct hostile {
    char *bytes;
    size_t len;
    const char *cls;
};

static inline void hostile_free(struct hostile *h)
{
    sc_free(h->bytes);
    h->bytes = NULL;
}

/* Compact dump of j into a new sc_ buffer. */
static inline char *hostile_dump(const json_t *j, size_t *len)
{
    char *s = json_dumps(j, JSON_COMPACT);
    assert_non_null(s);
    *len = strlen(s);
    char *copy = sc_malloc(*len + 1);
    memcpy(copy, s, *len + 1);
    free(s);
    return copy;
}

/* Dumps j, then replaces the first occurrence of marker (a JSON string token, quotes
 * included) with raw bytes. */
static inline void hostile_splice(const json_t *j, const char *marker, const char *raw,
                                  size_t raw_len, struct hostile *out)
{
    size_t len;
    char *s = hostile_dump(j, &len);
    char *hit = strstr(s, marker);
    assert_non_null(hit);
    size_t pre = (size_t)(hit - s), mlen = strlen(marker);
    out->len = len - mlen + raw_len;
    out->bytes = sc_malloc(out->len + 1);
    memcpy(out->bytes, s, pre);
    memcpy(out->bytes + pre, raw, raw_len);
    memcpy(out->bytes + pre + raw_len, hit + mlen, len - pre - mlen);
    out->bytes[out->len] = '\0';
    sc_free(s);
}

/* Sets (or deletes when v is NULL) a possibly nested key ("author.id") in j. */
static inline void hostile_set(json_t *j, const char *key, json_t *v)
{
    const char *dot = strchr(key, '.');
    if (dot) {
        char outer[64];
        snprintf(outer, sizeof(outer), "%.*s", (int)(dot - key), key);
        json_t *o = json_object_get(j, outer);
        if (!json_is_object(o)) {
            json_decref(v);
            return;
        }
        key = dot + 1;
        j = o;
    }
    if (v)
        json_object_set_new(j, key, v);
    else
        json_object_del(j, key);
}

#define HOSTILE_CLASSES 14

/* Makes input number n (classes cycle, details from the PRNG) from base. max_nest bounds
 * the deepest nesting generated (keeps topic messages under the size cap). */
static inline void hostile_make(struct hrng *r, const struct hostile_base *b, unsigned n,
                                size_t max_nest, struct hostile *out)
{
    json_t *j = json_deep_copy(b->valid);
    unsigned cls = n % HOSTILE_CLASSES;
    if (cls == 11 && b->no_array_root)
        cls = 8;
    switch (cls) {
        case 0: { /* truncated: a strict prefix of an object is never valid JSON */
            size_t len;
            char *s = hostile_dump(j, &len);
            out->len = hrng_below(r, len);
            out->bytes = s;
            s[out->len] = '\0';
            out->cls = "truncated";
            break;
        }
        case 1: { /* random bytes, JSON punctuation and high bytes favoured */
            static const char alpha[] =
                "{}[]\":,\\ 0123456789eE+-.tfnul\x80\xbf\xc0\xff\xed";
            out->len = 1 + hrng_below(r, 96);
            out->bytes = sc_malloc(out->len + 1);
            out->bytes[0] = "{[\"x1"[hrng_below(r, 5)];
            for (size_t i = 1; i < out->len; i++)
                out->bytes[i] = hrng_below(r, 4) ? alpha[hrng_below(r, sizeof(alpha) - 1)]
                                                 : (char)hrng_below(r, 256);
            out->bytes[out->len] = '\0';
            out->cls = "garbage";
            break;
        }
        case 2: { /* invalid UTF-8 inside a string */
            static const char *const bad[] = {
                "\xc0\xaf",         /* overlong '/' */
                "\xe0\x80\xaf",     /* overlong, 3 bytes */
                "\xf0\x80\x80\xaf", /* overlong, 4 bytes */
                "\xed\xa0\x80",     /* UTF-16 surrogate D800 */
                "\xed\xbf\xbf",     /* surrogate DFFF */
                "\xe2\x82",         /* truncated sequence */
                "\xf0\x9f\x98",     /* truncated 4-byte */
                "\x80",             /* lone continuation */
                "\xff",             /* never valid */
                "\xf5\x80\x80\x80", /* above U+10FFFF */
                "\xc3",             /* truncated at end of string */
            };
            const char *seq = bad[hrng_below(r, sizeof(bad) / sizeof(bad[0]))];
            char *raw = sc_asprintf("\"ok %s then\"", seq);
            json_object_set_new(j, b->str_key, json_string("@@HOSTILE@@"));
            hostile_splice(j, "\"@@HOSTILE@@\"", raw, strlen(raw), out);
            sc_free(raw);
            out->cls = "invalid_utf8";
            break;
        }
        case 3: { /* NUL: raw anywhere, or escaped inside a string */
            if (hrng_below(r, 2)) {
                size_t len;
                char *s = hostile_dump(j, &len);
                size_t at = hrng_below(r, len + 1);
                out->len = len + 1;
                out->bytes = sc_malloc(out->len + 1);
                memcpy(out->bytes, s, at);
                out->bytes[at] = '\0';
                memcpy(out->bytes + at + 1, s + at, len - at);
                out->bytes[out->len] = '\0';
                sc_free(s);
            } else {
                json_object_set_new(j, b->str_key, json_string("@@HOSTILE@@"));
                hostile_splice(j, "\"@@HOSTILE@@\"", "\"a\\u0000b\"", 10, out);
            }
            out->cls = "nul";
            break;
        }
        case 4: { /* deep nesting inside the string member */
            static const size_t depths[] = {9, 64, 2049, 20000, 100000};
            size_t d = depths[hrng_below(r, 5)];
            if (d > max_nest)
                d = max_nest;
            char *raw = sc_malloc(2 * d + 1);
            for (size_t i = 0; i < d; i++) {
                raw[i] = '[';
                raw[2 * d - 1 - i] = ']';
            }
            raw[2 * d] = '\0';
            json_object_set_new(j, b->str_key, json_string("@@HOSTILE@@"));
            hostile_splice(j, "\"@@HOSTILE@@\"", raw, 2 * d, out);
            sc_free(raw);
            out->cls = "deep";
            break;
        }
        case 5: { /* huge, malformed or wrong numbers as "v" */
            static const char *const nums[] = {"1e999",
                                               "-1e999",
                                               "99999999999999999999999999",
                                               "18446744073709551617",
                                               "2",
                                               "0",
                                               "-1",
                                               "1.5",
                                               "01",
                                               "+1",
                                               "1e",
                                               "0x1",
                                               "NaN",
                                               "Infinity",
                                               "\"1\"",
                                               "true",
                                               "[1]",
                                               "{\"v\":1}",
                                               "9223372036854775808",
                                               "-9223372036854775809"};
            const char *num = nums[hrng_below(r, sizeof(nums) / sizeof(nums[0]))];
            json_object_set_new(j, "v", json_string("@@HOSTILE@@"));
            hostile_splice(j, "\"@@HOSTILE@@\"", num, strlen(num), out);
            out->cls = "bad_number";
            break;
        }
        case 6: { /* wrong type for a required field */
            size_t nreq = 0;
            while (b->required[nreq])
                nreq++;
            const char *key = b->required[hrng_below(r, nreq)];
            json_t *vals[] = {json_integer(7), json_null(), json_true(), json_array(),
                              json_real(1.5)};
            size_t pick = hrng_below(r, 5);
            for (size_t i = 0; i < 5; i++)
                if (i != pick)
                    json_decref(vals[i]);
            /* an object stays an object: give it a string instead */
            json_t *cur = json_object_get(j, key);
            if (json_is_object(cur)) {
                json_decref(vals[pick]);
                vals[pick] = json_string("flat");
            }
            hostile_set(j, key, vals[pick]);
            out->bytes = hostile_dump(j, &out->len);
            out->cls = "wrong_type";
            break;
        }
        case 7: { /* a required field missing */
            size_t nreq = 0;
            while (b->required[nreq])
                nreq++;
            hostile_set(j, b->required[hrng_below(r, nreq)], NULL);
            out->bytes = hostile_dump(j, &out->len);
            out->cls = "missing_field";
            break;
        }
        case 8: { /* a root that is not an object */
            static const char *const roots[] = {"[]", "null", "42",   "\"post\"", "true",
                                                "",   " ",    "[[]]", "-0",       "{}"};
            const char *root = roots[hrng_below(r, sizeof(roots) / sizeof(roots[0]))];
            out->bytes = sc_strdup(root);
            out->len = strlen(root);
            out->cls = "wrong_root";
            break;
        }
        case 9: { /* an unknown enum value, or an invalid one when there are none */
            size_t ne = 0;
            while (b->enums && b->enums[ne])
                ne++;
            if (ne)
                hostile_set(j, b->enums[hrng_below(r, ne)], json_string("bogus-value"));
            else
                json_object_set_new(j, "v", json_integer(3));
            out->bytes = hostile_dump(j, &out->len);
            out->cls = "bad_enum";
            break;
        }
        case 10: { /* the string member one byte past its cap */
            size_t n_over = b->str_cap + 1;
            char *big = sc_malloc(n_over + 1);
            memset(big, 'a', n_over);
            big[n_over] = '\0';
            json_object_set_new(j, b->str_key, json_string(big));
            sc_free(big);
            out->bytes = hostile_dump(j, &out->len);
            out->cls = "over_cap";
            break;
        }
        case 11: { /* the valid event, wrapped in an array */
            json_t *arr = json_pack("[O]", j);
            out->bytes = hostile_dump(arr, &out->len);
            json_decref(arr);
            out->cls = "array_root";
            break;
        }
        case 12: { /* a lone surrogate escape */
            static const char *const esc[] = {"\"\\ud800\"", "\"x\\udc00y\"",
                                              "\"\\uD83D\"", "\"\\u12\"", "\"\\q\""};
            const char *raw = esc[hrng_below(r, 5)];
            json_object_set_new(j, b->str_key, json_string("@@HOSTILE@@"));
            hostile_splice(j, "\"@@HOSTILE@@\"", raw, strlen(raw), out);
            out->cls = "bad_escape";
            break;
        }
        default: { /* trailing garbage after a valid object */
            static const char *const tails[] = {"x", "}", ",", "{}", "\"", "]"};
            size_t len;
            char *s = hostile_dump(j, &len);
            const char *tail = tails[hrng_below(r, 6)];
            out->bytes = sc_asprintf("%s%s", s, tail);
            out->len = len + strlen(tail);
            sc_free(s);
            out->cls = "trailing";
            break;
        }
    }
    json_decref(j);
}

/* True when bytes parse as a JSON object (with jansson, as the services do). */
static inline bool hostile_is_object(const char *bytes, size_t len)
{
    json_t *j = json_loadb(bytes, len, 0, NULL);
    bool ok = json_is_object(j);
    json_decref(j);
    return ok;
}

#endif
