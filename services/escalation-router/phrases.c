/* Key phrase extraction and the phrase spike rules (see phrases.h). */
#include "phrases.h"

#include <stdlib.h>
#include <string.h>

#define WORD_MAX 24

/* English function words and the words most complaints carry, sorted by bytes (strcmp)
 * for bsearch; the unit test checks the order. */
static const char *const stop_words[] = {
    "about",  "after",  "again",  "all",     "already", "also",   "always", "and",
    "any",    "are",    "aren't", "because", "been",    "before", "but",    "can",
    "can't",  "cannot", "cant",   "could",   "did",     "didn't", "does",   "doesn't",
    "doing",  "don't",  "dont",   "even",    "ever",    "for",    "from",   "get",
    "got",    "had",    "has",    "have",    "haven't", "her",    "here",   "him",
    "his",    "how",    "i'm",    "i've",    "im",      "into",   "isn't",  "it's",
    "its",    "just",   "keep",   "keeps",   "let",     "like",   "more",   "most",
    "much",   "never",  "not",    "now",     "off",     "once",   "one",    "only",
    "other",  "our",    "out",    "over",    "please",  "really", "same",   "she",
    "should", "since",  "some",   "still",   "such",    "than",   "thank",  "thanks",
    "that",   "that's", "the",    "their",   "them",    "then",   "there",  "these",
    "they",   "this",   "those",  "through", "today",   "too",    "under",  "until",
    "very",   "via",    "was",    "wasn't",  "way",     "were",   "what",   "when",
    "where",  "which",  "while",  "who",     "why",     "will",   "with",   "won't",
    "would",  "yet",    "you",    "you're",  "your",    "yours",
};

static int cmp_word(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t router_phrase_stop_words(const char *const **words)
{
    *words = stop_words;
    return sizeof(stop_words) / sizeof(stop_words[0]);
}

bool router_phrase_stop_word(const char *word)
{
    return bsearch(&word, stop_words, sizeof(stop_words) / sizeof(stop_words[0]),
                   sizeof(stop_words[0]), cmp_word) != NULL;
}

/* Byte classes: separators end a word; sensitive bytes mark a word as possibly personal
 * data (numbers, addresses, handles, links); trim bytes are cut from a word's ends. */
enum { C_SEP = 1, C_SENSITIVE = 2, C_TRIM = 4 };
static const unsigned char byte_class[256] = {
    [' '] = C_SEP,
    ['\t'] = C_SEP,
    ['\n'] = C_SEP,
    ['\r'] = C_SEP,
    ['\f'] = C_SEP,
    ['\v'] = C_SEP,
    [','] = C_SEP,
    [';'] = C_SEP,
    ['!'] = C_SEP,
    ['?'] = C_SEP,
    ['('] = C_SEP,
    [')'] = C_SEP,
    ['['] = C_SEP,
    [']'] = C_SEP,
    ['{'] = C_SEP,
    ['}'] = C_SEP,
    ['"'] = C_SEP,
    ['<'] = C_SEP,
    ['>'] = C_SEP,
    ['*'] = C_SEP,
    ['~'] = C_SEP,
    ['|'] = C_SEP,
    ['='] = C_SEP,
    ['+'] = C_SEP,
    ['&'] = C_SEP,
    ['0'] = C_SENSITIVE,
    ['1'] = C_SENSITIVE,
    ['2'] = C_SENSITIVE,
    ['3'] = C_SENSITIVE,
    ['4'] = C_SENSITIVE,
    ['5'] = C_SENSITIVE,
    ['6'] = C_SENSITIVE,
    ['7'] = C_SENSITIVE,
    ['8'] = C_SENSITIVE,
    ['9'] = C_SENSITIVE,
    ['@'] = C_SENSITIVE,
    ['#'] = C_SENSITIVE,
    ['/'] = C_SENSITIVE,
    ['_'] = C_SENSITIVE,
    ['\\'] = C_SENSITIVE,
    ['$'] = C_SENSITIVE,
    ['%'] = C_SENSITIVE,
    [':'] = C_SENSITIVE | C_TRIM,
    ['.'] = C_SENSITIVE | C_TRIM,
    ['\''] = C_TRIM,
    ['-'] = C_TRIM,
    ['`'] = C_TRIM,
};

static bool is_separator(unsigned char c)
{
    return (byte_class[c] & C_SEP) != 0;
}

static bool is_sensitive(unsigned char c)
{
    return (byte_class[c] & C_SENSITIVE) != 0;
}

static bool is_trim(unsigned char c)
{
    return (byte_class[c] & C_TRIM) != 0;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

size_t router_phrases_extract(const char *text, struct router_phrase *out, size_t max)
{
    if (max > ROUTER_PHRASE_MAX)
        max = ROUTER_PHRASE_MAX;
    size_t n = 0;
    char prev[WORD_MAX + 1] = "";
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    while (*p && n < max) {
        while (*p && is_separator(*p))
            p++;
        const unsigned char *start = p;
        while (*p && !is_separator(*p))
            p++;
        const unsigned char *end = p;
        while (start < end && is_trim(*start))
            start++;
        while (end > start && is_trim(end[-1]))
            end--;
        size_t len = (size_t)(end - start);
        if (len == 0)
            continue;
        bool sensitive = len > WORD_MAX;
        for (const unsigned char *q = start; q < end && !sensitive; q++)
            sensitive = is_sensitive(*q);
        if (sensitive) {
            prev[0] = '\0'; /* never join across a left-out word */
            continue;
        }
        char word[WORD_MAX + 1];
        for (size_t i = 0; i < len; i++) {
            unsigned char c = start[i];
            word[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
        }
        word[len] = '\0';
        if (len < 3 || router_phrase_stop_word(word))
            continue;
        if (prev[0]) {
            struct router_phrase ph;
            size_t pl = strlen(prev);
            memcpy(ph.text, prev, pl);
            ph.text[pl] = ' ';
            memcpy(ph.text + pl + 1, word, len + 1);
            ph.hash = fnv1a(ph.text);
            bool dup = false;
            for (size_t i = 0; i < n && !dup; i++)
                dup = out[i].hash == ph.hash;
            if (!dup)
                out[n++] = ph;
        }
        memcpy(prev, word, len + 1);
    }
    return n;
}

long long router_phrase_step(long long min_count, int buckets)
{
    long long step = buckets > 0 ? min_count / (2LL * buckets) : min_count;
    return step < 1 ? 1 : step;
}

bool router_phrase_check_due(long long before, long long after, long long step)
{
    if (step < 1)
        step = 1;
    for (long long mark = step; mark > 0 && mark <= after; mark *= 2)
        if (mark > before)
            return true;
    return false;
}

bool router_phrase_spike(long long window, long long history, int history_buckets,
                         int buckets, double factor, long long min_count)
{
    if (history_buckets <= 0)
        return false;
    double baseline = (double)history / history_buckets;
    return window >= min_count && (double)window >= baseline * buckets * factor;
}
