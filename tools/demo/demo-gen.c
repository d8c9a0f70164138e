/* socialcare-demo-gen: writes a realistic, deterministic demo stream of v1 posts as JSON
 * lines on stdout, for the fictional brand "Northwind" (an airline with a web shop). The
 * stream mixes complaints, questions, praise, spam, bug reports, a rare crisis and small
 * talk, written from our own template sentences; customers are reused so some post
 * several times; follower counts are heavy-tailed. On request it re-emits earlier posts
 * verbatim (duplicates, as platforms redeliver webhooks) and adds malformed lines (broken
 * JSON, invalid UTF-8, a missing author.id, oversized text, a wrong "v") that the
 * ingestor must dead-letter. The same seed (and --now) always gives the same bytes. At
 * the end it reports what it wrote on stderr, and as JSON in the --manifest file, so the
 * demo knows how many unique valid posts to expect. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"

/* ------------------------------------------------------------------ random numbers */

/* splitmix64: tiny, fast, and good enough to make text; the state is the whole generator.
 */
struct gen_rng {
    uint64_t state;
};

static uint64_t rng_next(struct gen_rng *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A number in [0, n) (n > 0); the modulo bias is negligible for our small n. */
static uint64_t rng_below(struct gen_rng *rng, uint64_t n)
{
    return rng_next(rng) % n;
}

/* A double in [0, 1). */
static double rng_unit(struct gen_rng *rng)
{
    return (double)(rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* A number in [lo, hi]. */
static long rng_range(struct gen_rng *rng, long lo, long hi)
{
    return lo + (long)rng_below(rng, (uint64_t)(hi - lo + 1));
}

/* Picks an index by integer weights (the weights need not sum to anything in particular).
 */
static size_t rng_weighted(struct gen_rng *rng, const unsigned *weights, size_t n)
{
    unsigned total = 0;
    for (size_t i = 0; i < n; i++)
        total += weights[i];
    unsigned r = (unsigned)rng_below(rng, total);
    for (size_t i = 0; i < n; i++) {
        if (r < weights[i])
            return i;
        r -= weights[i];
    }
    return n - 1;
}

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(rng, a) ((a)[rng_below((rng), ARRAY_LEN(a))])

/* ------------------------------------------------------------------ growable string */

struct gen_buf {
    char *data;
    size_t len, cap;
};

static void buf_add(struct gen_buf *buf, const char *s, size_t n)
{
    if (buf->len + n + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 256;
        while (buf->len + n + 1 > cap)
            cap *= 2;
        buf->data = sc_realloc(buf->data, cap);
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, s, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
}

static void buf_puts(struct gen_buf *buf, const char *s)
{
    buf_add(buf, s, strlen(s));
}

/* ------------------------------------------------------------------ vocabulary */

enum gen_intent {
    GEN_COMPLAINT,
    GEN_QUESTION,
    GEN_PRAISE,
    GEN_SPAM,
    GEN_BUG_REPORT,
    GEN_CRISIS,
    GEN_OTHER,
    GEN_INTENT_COUNT
};

static const char *const gen_intent_names[GEN_INTENT_COUNT] = {
    "complaint", "question", "praise", "spam", "bug_report", "crisis", "other"};

/* Per mille: 40% complaints, 20% questions, 15% praise, 10% spam, 2% bug reports,
 * 0.2% crisis, the rest small talk. */
static const unsigned gen_intent_weights[GEN_INTENT_COUNT] = {400, 200, 150, 100,
                                                              20,  2,   128};

/* Our own sentences. Slots in braces are filled in by gen_expand. */
static const char *const gen_complaints[] = {
    ("@Northwind flight {flight} delayed {minutes} minutes again and nobody at the gate "
     "tells us anything. Terrible."),
    ("@Northwind you charged me twice for order {order}. I want a refund for the double "
     "charge now."),
    ("Lost bag on {flight} from {city}, day {days} without my luggage. @Northwind this "
     "is unacceptable"),
    ("Still waiting for my Northwind order {order}, tracking hasn't moved in {days} "
     "days. Really disappointed"),
    ("@Northwind your customer service hung up on me after {minutes} minutes on hold. "
     "Worst experience ever"),
    ("The {product} I got from Northwind arrived broken. Box crushed, no answer to my "
     "emails. Awful"),
    ("Northwind cancelled my flight to {city} with two hours notice and the rebooking is "
     "a joke. Never again"),
    ("@Northwind delivery was promised for Tuesday, it's {weekday} and still nothing. "
     "Order {order}"),
    ("Paid extra for seat selection on {flight} and got a middle seat anyway. @Northwind "
     "I want my money back"),
    ("@Northwind refund for order {order} still not processed after {days} days. This is "
     "ridiculous"),
    ("My partner and I were split up on {flight} even though we booked together. Not "
     "happy @Northwind"),
    ("Overbooked again! @Northwind bumped me off {flight} and offered a {amount} "
     "voucher. Terrible service"),
    ("@Northwind the wrong size {product} was delivered and the return label doesn't "
     "work. So frustrated"),
    ("Two hours stuck on the tarmac in {city} without water. @Northwind this is "
     "unacceptable"),
    ("I was charged {amount} for a bag that should be free on my fare. @Northwind fix "
     "this overcharge"),
    ("@Northwind your courier left my parcel in the rain, the {product} is ruined. Order "
     "{order}. Very disappointed"),
    ("Waited {minutes} minutes at baggage claim in {city} for a bag that never came. "
     "Great job @Northwind"),
    ("@Northwind I emailed you from {email} three times about my damaged {product}, zero "
     "response. Awful"),
    ("@Northwind call me back on {phone}, my booking for {flight} vanished and nobody "
     "helps. Unacceptable"),
    ("Northwind lost my order {order} and support keeps closing the ticket. Worst shop "
     "ever"),
    ("Missed my connection in {city} because {flight} left late, and @Northwind won't "
     "pay for the hotel. Disgraceful"),
    ("@Northwind the {product} I returned {days} days ago still isn't refunded. Order "
     "{order}, email {email}"),
};

static const char *const gen_questions[] = {
    "@Northwind how do I change my booking for {flight}?",
    "Hi @Northwind, can I bring a {item} as carry-on on {flight}?",
    "@Northwind what's the baggage allowance for flights to {city}?",
    "Does Northwind ship to {country}? Can't find it on the website",
    "@Northwind how long does a refund usually take for order {order}?",
    "Is there wifi on Northwind flights to {city}?",
    "@Northwind can I change the delivery address for order {order}? My email is {email}",
    "@Northwind when does check-in open for {flight}?",
    "How do I add my frequent flyer number to an existing Northwind booking?",
    "@Northwind do you price match if the {product} goes on sale after I buy it?",
    "Quick question @Northwind: is the lounge in {city} open before 6am?",
    "@Northwind where can I find the invoice for order {order}?",
    "@Northwind can I upgrade to business on {flight} with miles?",
    "Anyone know if Northwind lets you pick seats for free on short flights to {city}?",
};

static const char *const gen_praise[] = {
    "Thanks @Northwind, the crew on {flight} was amazing!",
    ("Shout out to the Northwind agent who sorted out my booking in five minutes. Great "
     "service"),
    "My {product} from Northwind arrived a day early and it's perfect. Love it",
    "@Northwind smoothest boarding I've had in years in {city}. Well done",
    "Huge thanks to Northwind support for the quick refund on order {order}. Impressed",
    "The pilot on {flight} made the best announcement ever. Love flying @Northwind",
    "@Northwind thank you for finding my bag so fast in {city}!",
    "Best customer service I've had all year, thanks @Northwind",
    "Northwind upgraded me for my birthday, what a lovely surprise. Thank you!",
    "The new Northwind {product} is excellent quality for the price. Highly recommend",
};

static const char *const gen_spam[] = {
    "Win a free iPhone!!! click northwind-prizes.example to claim your reward now",
    "@Northwind FREE GIFT CARDS for everyone, click here: short.example/{code} !!!",
    "Earn {amount} a day from home, DM me now!!! #northwind #travel",
    "Cheap followers and likes, 10k for {amount}, click the link in bio",
    ("\xF0\x9F\x8E\x89 Congratulations! You've been selected for a free Northwind "
     "voucher, click the link to claim \xF0\x9F\x8E\x89"),
    "Crypto giveaway!!! Send 0.1 BTC get 1 BTC back, click now #Northwind",
    "Free flights for life!!! Northwind fans click promo.example/{code} before it's gone",
};

static const char *const gen_bug_reports[] = {
    "@Northwind the app crashes when I open my boarding pass",
    ("Northwind app bug: the checkout button does nothing on Android after the last "
     "update"),
    "@Northwind your website shows error 500 when I try to pay for order {order}",
    "The Northwind app keeps logging me out and crashes on the bookings tab. iOS 17",
    "@Northwind bug in the app: the seat map freezes on {flight}, can't select anything",
    "Promo code field gives 'unknown error' on the Northwind site, tried three browsers",
};

static const char *const gen_crises[] = {
    "Smoke in the cabin on {flight}, is everyone safe?? @Northwind what is happening",
    ("@Northwind emergency landing in {city}, passengers evacuated on the slides. Please "
     "tell us what's going on"),
    "Fire alarm at the Northwind warehouse in {city}, staff evacuated, is everyone safe?",
};

static const char *const gen_others[] = {
    "Flying Northwind to {city} tomorrow, first time in years",
    "Anyone else on {flight} tonight? @Northwind",
    "Northwind's new ad with the dog is everywhere lol",
    "Picking up my {product} from the Northwind store later",
    "Watching the Northwind planes land at {city} airport with my kid",
    "Northwind annual sale starts Friday apparently",
    "@Northwind the in-flight magazine has a crossword and I finished it",
    "Packing for {city}. Northwind, here I come",
};

static const char *const *const gen_texts[GEN_INTENT_COUNT] = {
    gen_complaints,  gen_questions, gen_praise, gen_spam,
    gen_bug_reports, gen_crises,    gen_others};
static const size_t gen_text_counts[GEN_INTENT_COUNT] = {
    ARRAY_LEN(gen_complaints), ARRAY_LEN(gen_questions),   ARRAY_LEN(gen_praise),
    ARRAY_LEN(gen_spam),       ARRAY_LEN(gen_bug_reports), ARRAY_LEN(gen_crises),
    ARRAY_LEN(gen_others)};

static const char *const gen_first_names[] = {
    "Ada",   "Ben",    "Chloe",  "Dev",    "Elena", "Farid", "Grace", "Hugo",  "Ines",
    "Jonas", "Kemi",   "Liam",   "Maya",   "Noah",  "Olga",  "Pablo", "Quinn", "Rosa",
    "Sami",  "Tara",   "Umar",   "Vera",   "Wes",   "Xena",  "Yusuf", "Zoe",   "Aiko",
    "Bruno", "Carmen", "Dmitri", "Esther", "Felix", "Gita",  "Hana",  "Ivan",  "Jade"};
static const char *const gen_last_names[] = {
    "Abbott", "Brennan",  "Castillo",  "Dubois", "Eriksen",  "Fontaine",
    "Garcia", "Hale",     "Ito",       "Jensen", "Kowalski", "Lindqvist",
    "Moreau", "Nakamura", "Okafor",    "Price",  "Quint",    "Rossi",
    "Silva",  "Tanaka",   "Underwood", "Varga",  "Weber",    "Young"};
static const char *const gen_cities[] = {"Lisbon", "Denver",  "Oslo",   "Nairobi",
                                         "Austin", "Glasgow", "Osaka",  "Toronto",
                                         "Madrid", "Perth",   "Dublin", "Boston"};
static const char *const gen_products[] = {
    "headphones",    "suitcase",   "rain jacket",   "coffee maker", "backpack",
    "travel pillow", "smartwatch", "packing cubes", "kettle"};
static const char *const gen_items[] = {"guitar", "stroller", "laptop bag", "ski bag",
                                        "cat carrier"};
static const char *const gen_countries[] = {"Iceland", "Chile", "Portugal", "New Zealand",
                                            "Kenya"};
static const char *const gen_weekdays[] = {"Thursday", "Friday", "Saturday", "Monday"};

/* ------------------------------------------------------------------ customers */

enum gen_platform {
    GEN_X,
    GEN_MASTODON,
    GEN_BLUESKY,
    GEN_FACEBOOK,
    GEN_INSTAGRAM,
    GEN_PLATFORM_COUNT
};

static const char *const gen_platform_names[GEN_PLATFORM_COUNT] = {
    "x", "mastodon", "bluesky", "facebook", "instagram"};
static const unsigned gen_platform_weights[GEN_PLATFORM_COUNT] = {35, 15, 15, 20, 15};

struct gen_customer {
    enum gen_platform platform;
    char id[32];
    char handle[64];
    char name[64];
    char email[96];
    long long followers;
    int verified;
};

static void gen_customer_init(struct gen_rng *rng, struct gen_customer *customer,
                              size_t index)
{
    customer->platform =
        (enum gen_platform)rng_weighted(rng, gen_platform_weights, GEN_PLATFORM_COUNT);
    /* Numeric account ids in each platform's usual range; unique by construction. */
    static const uint64_t id_base[GEN_PLATFORM_COUNT] = {
        1200000000000000000ULL, 109000000000000000ULL, 7000000000ULL, 100004000000000ULL,
        17840000000ULL};
    uint64_t id =
        id_base[customer->platform] + (uint64_t)index * 7919 + rng_below(rng, 7919);
    snprintf(customer->id, sizeof(customer->id), "%" PRIu64, id);

    const char *first = PICK(rng, gen_first_names);
    const char *last = PICK(rng, gen_last_names);
    snprintf(customer->name, sizeof(customer->name), "%s %s", first, last);
    char lower[32];
    size_t i = 0;
    for (; first[i] && i + 1 < sizeof(lower); i++)
        lower[i] = (char)(first[i] >= 'A' && first[i] <= 'Z' ? first[i] + 32 : first[i]);
    lower[i] = '\0';
    snprintf(customer->handle, sizeof(customer->handle), "%s_%c%zu", lower,
             (char)(last[0] + 32), index);
    snprintf(customer->email, sizeof(customer->email), "%s.%c%zu@example.com", lower,
             (char)(last[0] + 32), index);

    /* Heavy tail: about 1% are public figures (100k..2M followers, mostly verified); the
     * rest follow a Pareto law from 10 followers, so most stay under a thousand. */
    if (rng_below(rng, 100) == 0) {
        customer->followers =
            (long long)(100000.0 * (1.0 + 19.0 * rng_unit(rng) * rng_unit(rng)));
        customer->verified = rng_below(rng, 10) < 6;
    } else {
        double u = 1.0 - rng_unit(rng); /* (0, 1]: Pareto with alpha 1 */
        double f = 10.0 / u;
        customer->followers = f > 99000.0 ? 99000 : (long long)f;
        customer->verified = rng_below(rng, 200) == 0;
    }
}

/* ------------------------------------------------------------------ text */

/* Fills the {slot}s of a template into out. Personal data is fake: order numbers, emails
 * at example.com and phone numbers from the fictional 555-01xx range. */
static void gen_expand(struct gen_rng *rng, const char *tmpl,
                       const struct gen_customer *customer, struct gen_buf *out)
{
    char tmp[96];
    const char *p = tmpl;
    while (*p) {
        const char *open = strchr(p, '{');
        if (!open) {
            buf_puts(out, p);
            break;
        }
        buf_add(out, p, (size_t)(open - p));
        const char *close = strchr(open, '}');
        if (!close) {
            buf_puts(out, open);
            break;
        }
        size_t n = (size_t)(close - open - 1);
        const char *slot = open + 1;
#define SLOT_IS(name) (n == strlen(name) && !strncmp(slot, name, n))
        tmp[0] = '\0';
        if (SLOT_IS("order"))
            snprintf(tmp, sizeof(tmp), "#A%07ld", rng_range(rng, 0, 9999999));
        else if (SLOT_IS("flight"))
            snprintf(tmp, sizeof(tmp), "NW%ld", rng_range(rng, 100, 2999));
        else if (SLOT_IS("minutes"))
            snprintf(tmp, sizeof(tmp), "%ld", rng_range(rng, 3, 48) * 5);
        else if (SLOT_IS("days"))
            snprintf(tmp, sizeof(tmp), "%ld", rng_range(rng, 3, 21));
        else if (SLOT_IS("amount"))
            snprintf(tmp, sizeof(tmp), "$%ld", rng_range(rng, 2, 30) * 10);
        else if (SLOT_IS("code"))
            snprintf(tmp, sizeof(tmp), "%06lx", rng_range(rng, 0, 0xffffff));
        else if (SLOT_IS("phone"))
            snprintf(tmp, sizeof(tmp), "555-01%02ld", rng_range(rng, 0, 99));
        else if (SLOT_IS("email"))
            snprintf(tmp, sizeof(tmp), "%s", customer->email);
        else if (SLOT_IS("city"))
            snprintf(tmp, sizeof(tmp), "%s", PICK(rng, gen_cities));
        else if (SLOT_IS("product"))
            snprintf(tmp, sizeof(tmp), "%s", PICK(rng, gen_products));
        else if (SLOT_IS("item"))
            snprintf(tmp, sizeof(tmp), "%s", PICK(rng, gen_items));
        else if (SLOT_IS("country"))
            snprintf(tmp, sizeof(tmp), "%s", PICK(rng, gen_countries));
        else if (SLOT_IS("weekday"))
            snprintf(tmp, sizeof(tmp), "%s", PICK(rng, gen_weekdays));
        else
            buf_add(out, open, n + 2); /* unknown slot: kept as written */
#undef SLOT_IS
        buf_puts(out, tmp);
        p = close + 1;
    }
}

/* ------------------------------------------------------------------ posts */

/* Formats wall-clock milliseconds as RFC 3339 UTC with seconds ("2026-11-22T07:33:29Z").
 */
static void gen_time(int64_t wall_ms, char *buf, size_t size)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *gen_kind(struct gen_rng *rng, enum gen_platform platform)
{
    static const char *const kinds[] = {"mention", "reply", "dm", "comment"};
    static const unsigned weights[GEN_PLATFORM_COUNT][4] = {
        {60, 25, 15, 0}, /* x */
        {70, 25, 5, 0},  /* mastodon */
        {70, 30, 0, 0},  /* bluesky */
        {0, 0, 30, 70},  /* facebook */
        {0, 0, 25, 75},  /* instagram */
    };
    return kinds[rng_weighted(rng, weights[platform], 4)];
}

/* Builds one post (new reference). id_number makes the id; text is the post's text. */
static json_t *gen_post(struct gen_rng *rng, const struct gen_customer *customer,
                        uint64_t id_number, int64_t created_ms, const char *text)
{
    char id[64], created[32];
    snprintf(id, sizeof(id), "%s:%" PRIu64, gen_platform_names[customer->platform],
             id_number);
    gen_time(created_ms, created, sizeof(created));

    long long reach = customer->followers / 200 + 2;
    json_t *engagement =
        json_pack("{s:I,s:I,s:I}", "likes", (json_int_t)rng_below(rng, (uint64_t)reach),
                  "reposts", (json_int_t)rng_below(rng, (uint64_t)reach / 4 + 1),
                  "replies", (json_int_t)rng_below(rng, 4));
    json_t *post =
        json_pack("{s:i,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:I,s:b},s:s,s:s,s:o,s:{s:s,s:s}}",
                  "v", 1, "id", id, "platform", gen_platform_names[customer->platform],
                  "kind", gen_kind(rng, customer->platform), "created_at", created,
                  "author", "id", customer->id, "handle", customer->handle, "name",
                  customer->name, "followers", (json_int_t)customer->followers,
                  "verified", customer->verified, "text", text, "lang", "en",
                  "engagement", engagement, "source", "type", "replay", "name", "demo");
    if (!post) {
        fprintf(stderr, "demo-gen: building a post failed\n");
        exit(1);
    }
    return post;
}

static char *gen_dump(const json_t *post)
{
    char *line = json_dumps(post, JSON_COMPACT);
    if (!line) {
        fprintf(stderr, "demo-gen: serialising a post failed\n");
        exit(1);
    }
    return line;
}

/* ------------------------------------------------------------------ malformed lines */

enum gen_bad {
    GEN_BAD_JSON,
    GEN_BAD_UTF8,
    GEN_BAD_NO_AUTHOR_ID,
    GEN_BAD_OVERSIZED,
    GEN_BAD_VERSION,
    GEN_BAD_COUNT
};

static const char *const gen_bad_names[GEN_BAD_COUNT] = {
    "broken_json", "invalid_utf8", "missing_author_id", "oversized_text",
    "wrong_version"};

/* Makes a malformed line (new string, no newline inside) from a fresh, otherwise valid
 * post. */
static char *gen_bad_line(enum gen_bad kind, json_t *post)
{
    struct gen_buf buf = {0};
    char *line = NULL;
    switch (kind) {
        case GEN_BAD_JSON: {
            /* Cut in the middle of the object, as a truncated write would. */
            line = gen_dump(post);
            line[strlen(line) / 2] = '\0';
            return line;
        }
        case GEN_BAD_UTF8: {
            static const char marker[] = "@@BAD-UTF8@@";
            json_object_set_new(post, "text",
                                json_string("Northwind charged me twice "
                                            "@@BAD-UTF8@@ again"));
            line = gen_dump(post);
            char *at = strstr(line, marker);
            if (!at || at < line) /* cannot happen: the text holds the marker */
                return line;
            buf_add(&buf, line, (size_t)(at - line));
            buf_add(&buf, "\xC3\x28\xFF\xFE",
                    4); /* a broken sequence and two bytes never valid */
            buf_puts(&buf, at + strlen(marker));
            free(line);
            return buf.data;
        }
        case GEN_BAD_NO_AUTHOR_ID:
            json_object_del(json_object_get(post, "author"), "id");
            break;
        case GEN_BAD_OVERSIZED:
            while (buf.len <= 9000)
                buf_puts(
                    &buf,
                    "Northwind, this is a very long complaint that goes on and on. ");
            json_object_set_new(post, "text", json_string(buf.data));
            sc_free(buf.data);
            break;
        case GEN_BAD_VERSION:
            json_object_set_new(post, "v", json_integer(2));
            break;
        case GEN_BAD_COUNT:
            break;
    }
    return gen_dump(post);
}

/* ------------------------------------------------------------------ main */

struct gen_options {
    long count;
    uint64_t seed;
    long duplicates; /* -1: 2% of count */
    long bad;
    int64_t now_ms; /* end of the hour the posts span; 0: now */
    const char *manifest;
};

static void gen_usage(FILE *out)
{
    fprintf(out,
            "usage: socialcare-demo-gen [options] > stream.jsonl\n"
            "Writes a deterministic demo stream of v1 posts (JSON lines) to stdout.\n"
            "  --count N       lines to write in total (default 3000)\n"
            "  --seed S        random seed (default 1)\n"
            "  --duplicates N  earlier posts re-emitted verbatim (default 2%% of count)\n"
            "  --bad N         malformed lines (default 10)\n"
            "  --now SECONDS   Unix time the stream ends at (default now; fix it for\n"
            "                  byte-identical output)\n"
            "  --manifest FILE also write the counts as JSON to FILE\n"
            "Counts (lines, unique valid posts, duplicates, bad lines) go to stderr.\n");
}

static int gen_parse_long(const char *text, long min, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min)
        return -1;
    *out = v;
    return 0;
}

static int gen_args(int argc, char **argv, struct gen_options *opt)
{
    /* Every option takes a value: step over pairs. */
    for (int i = 1; i < argc; i += 2) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        long v;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            gen_usage(stdout);
            exit(0);
        }
        if (!val) {
            fprintf(stderr, "demo-gen: unknown option or missing value: %s\n", arg);
            return -1;
        }
        if (!strcmp(arg, "--manifest")) {
            opt->manifest = val;
        } else if (!strcmp(arg, "--seed")) {
            char *end;
            errno = 0;
            opt->seed = strtoull(val, &end, 0);
            if (errno || end == val || *end) {
                fprintf(stderr, "demo-gen: bad --seed: %s\n", val);
                return -1;
            }
        } else if (gen_parse_long(val, 0, &v) == 0 && !strcmp(arg, "--count")) {
            opt->count = v;
        } else if (gen_parse_long(val, 0, &v) == 0 && !strcmp(arg, "--duplicates")) {
            opt->duplicates = v;
        } else if (gen_parse_long(val, 0, &v) == 0 && !strcmp(arg, "--bad")) {
            opt->bad = v;
        } else if (gen_parse_long(val, 1, &v) == 0 && !strcmp(arg, "--now")) {
            opt->now_ms = (int64_t)v * 1000;
        } else {
            fprintf(stderr, "demo-gen: unknown option or bad value: %s %s\n", arg, val);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct gen_options opt = {.count = 3000, .seed = 1, .duplicates = -1, .bad = 10};
    if (gen_args(argc, argv, &opt) != 0) {
        gen_usage(stderr);
        return 2;
    }
    if (opt.duplicates < 0)
        opt.duplicates = opt.count / 50;
    if (opt.duplicates + opt.bad > opt.count ||
        (opt.duplicates > 0 && opt.duplicates + opt.bad >= opt.count)) {
        fprintf(stderr,
                "demo-gen: --duplicates + --bad must leave room for valid posts\n");
        return 2;
    }
    if (!opt.now_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        opt.now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }

    struct gen_rng rng = {opt.seed};
    long unique = opt.count - opt.duplicates - opt.bad;

    /* About five posts per posting customer, skewed so that a few customers post a lot.
     */
    size_t n_customers = (size_t)(unique / 4 > 0 ? unique / 4 : 1);
    struct gen_customer *customers = sc_calloc(n_customers, sizeof(*customers));
    for (size_t i = 0; i < n_customers; i++)
        gen_customer_init(&rng, &customers[i], i);
    unsigned char *customer_used = sc_calloc(n_customers, 1);

    char **valid =
        sc_calloc((size_t)unique + 1, sizeof(*valid)); /* lines emitted so far */
    long n_valid = 0, n_dups = 0, n_bad = 0;
    long by_intent[GEN_INTENT_COUNT] = {0};
    long by_bad[GEN_BAD_COUNT] = {0};
    long n_with_pii = 0;
    uint64_t next_id[GEN_PLATFORM_COUNT] = {1790000000000000000ULL, 113000000000000000ULL,
                                            3000000000ULL, 122000000000000ULL,
                                            18000000000000000ULL};
    int crisis_done = 0;

    for (long line_no = 0; line_no < opt.count; line_no++) {
        /* Posts span the last hour, in created_at order, a few seconds of jitter. */
        int64_t created_ms = opt.now_ms - 3600 * 1000 +
                             (int64_t)((double)line_no / (double)opt.count * 3600000.0) -
                             (int64_t)rng_below(&rng, 4000);
        long left_valid = unique - n_valid, left_dup = opt.duplicates - n_dups,
             left_bad = opt.bad - n_bad;
        unsigned weights[3] = {(unsigned)left_valid, n_valid > 0 ? (unsigned)left_dup : 0,
                               (unsigned)left_bad};
        size_t what = rng_weighted(&rng, weights, 3);

        if (what == 1) {
            /* A redelivery: mostly of a recent post, as webhook retries are. */
            long back = (long)rng_below(&rng, n_valid < 50 ? (uint64_t)n_valid : 50);
            puts(valid[n_valid - 1 - back]);
            n_dups++;
            continue;
        }

        struct gen_customer *customer =
            &customers[(size_t)((double)n_customers * rng_unit(&rng) * rng_unit(&rng))];
        enum gen_intent intent =
            (enum gen_intent)rng_weighted(&rng, gen_intent_weights, GEN_INTENT_COUNT);
        /* Make sure a long enough demo shows the one crisis. */
        if (!crisis_done && what == 0 && unique >= 200 && n_valid == unique / 2)
            intent = GEN_CRISIS;
        struct gen_buf text = {0};
        gen_expand(&rng, gen_texts[intent][rng_below(&rng, gen_text_counts[intent])],
                   customer, &text);
        if (intent == GEN_COMPLAINT && rng_below(&rng, 10) == 0) {
            if (!strchr(".!?", text.data[text.len - 1]))
                buf_puts(&text, ".");
            gen_expand(&rng, " Order {order}, reach me at {email}", customer, &text);
        }
        json_t *post =
            gen_post(&rng, customer, next_id[customer->platform], created_ms, text.data);
        next_id[customer->platform] += 1 + rng_below(&rng, 100000);

        if (what == 2) {
            enum gen_bad kind = (enum gen_bad)(n_bad % GEN_BAD_COUNT);
            char *line = gen_bad_line(kind, post);
            puts(line);
            free(line);
            by_bad[kind]++;
            n_bad++;
        } else {
            valid[n_valid++] = gen_dump(post);
            puts(valid[n_valid - 1]);
            by_intent[intent]++;
            crisis_done |= intent == GEN_CRISIS;
            customer_used[customer - customers] = 1;
            if (strstr(text.data, "#A") || strstr(text.data, "@example.com") ||
                strstr(text.data, "555-01"))
                n_with_pii++;
        }
        json_decref(post);
        sc_free(text.data);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "demo-gen: writing stdout failed\n");
        return 1;
    }

    size_t n_used = 0;
    for (size_t i = 0; i < n_customers; i++)
        n_used += customer_used[i];
    json_t *intents = json_object(), *bads = json_object();
    for (int i = 0; i < GEN_INTENT_COUNT; i++)
        json_object_set_new(intents, gen_intent_names[i], json_integer(by_intent[i]));
    for (int i = 0; i < GEN_BAD_COUNT; i++)
        json_object_set_new(bads, gen_bad_names[i], json_integer(by_bad[i]));
    json_t *manifest = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:I}", "total_lines", (json_int_t)opt.count,
        "unique_valid", (json_int_t)n_valid, "duplicates", (json_int_t)n_dups, "bad",
        (json_int_t)n_bad, "customers", (json_int_t)n_used, "with_pii",
        (json_int_t)n_with_pii, "intended_intents", intents, "bad_by_kind", bads, "seed",
        (json_int_t)opt.seed);

    fprintf(
        stderr,
        "demo-gen: %ld lines: %ld unique valid posts from %zu customers, %ld duplicates, "
        "%ld bad lines\n",
        opt.count, n_valid, n_used, n_dups, n_bad);
    int rc = 0;
    if (opt.manifest && json_dump_file(manifest, opt.manifest, JSON_COMPACT) != 0) {
        fprintf(stderr, "demo-gen: cannot write %s\n", opt.manifest);
        rc = 1;
    }
    json_decref(manifest);
    for (long i = 0; i < n_valid; i++)
        free(valid[i]);
    sc_free(valid);
    sc_free(customers);
    sc_free(customer_used);
    return rc;
}
