/* Recurring phrases inside a topic: the key phrases of a post (word bigrams of content
 * words, lower-cased, after stop-word removal) and the pure rules the phrase spike
 * counter applies. A phrase is identified by a 64-bit FNV-1a hash of its text; the
 * router counts (topic, phrase hash) pairs per bucket in Redis inside the topic's spike
 * script call (see incidents.h), so that "app login error" within the technical topic
 * can open its own incident while the topic as a whole stays steady.
 *
 * Words that may carry personal data never make a phrase: a word with a digit, '@',
 * '#', '/', ':', '.' inside or '_' (order numbers, phone numbers, e-mail addresses,
 * handles, URLs) breaks the chain of content words and is left out. */
#ifndef ROUTER_PHRASES_H
#define ROUTER_PHRASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROUTER_PHRASE_MAX  8  /* phrases per post, upper bound of the setting */
#define ROUTER_PHRASE_TEXT 52 /* two words of at most 24 bytes, a space, NUL */

struct router_phrase {
    uint64_t hash;
    char text[ROUTER_PHRASE_TEXT];
};

/* @brief Extracts up to max (<= ROUTER_PHRASE_MAX) distinct key phrases of text, in
 *        order of appearance. Pure; text may be NULL.
 * @returns the number written to out. */
size_t router_phrases_extract(const char *text, struct router_phrase *out, size_t max);

/* @brief True when a word (lower-case ASCII, NUL-terminated) is a stop word. */
bool router_phrase_stop_word(const char *word);

/* @brief The stop word table (sorted by strcmp), for tests. @returns its size. */
size_t router_phrase_stop_words(const char *const **words);

/* @brief The count in the current bucket at which a phrase's window is checked first:
 *        max(1, min_count / (2 x window buckets)). Checks then happen each time the
 *        bucket count reaches the next doubling (step, 2 step, 4 step, ...). */
long long router_phrase_step(long long min_count, int buckets);

/* @brief True when a bucket count going from before to after passes a check point
 *        step x 2^k (k >= 0). */
bool router_phrase_check_due(long long before, long long after, long long step);

/* @brief Pure decision for a phrase: the window (last `buckets` buckets) holds at least
 *        min_count and at least factor x the baseline's window, where the baseline per
 *        bucket is history / history_buckets (the counts of the buckets before the
 *        window; history_buckets 0 means nothing learned yet: never a spike). */
bool router_phrase_spike(long long window, long long history, int history_buckets,
                         int buckets, double factor, long long min_count);

#endif
