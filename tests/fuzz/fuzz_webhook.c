/* libFuzzer target of the ingestor's webhook payload parsers (services/ingestor/
 * mapping.h and text.h): the input, parsed as JSON the way the webhook handlers parse a
 * body, goes through every platform mapper, and as raw bytes through the HTML-to-text
 * and entity decoders and the X v1.1 date parser. Every mapped post must be an object
 * with a string "text". */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "fuzz.h"
#include "mapping.h"
#include "text.h"

/* Checks the posts appended to out since index from. */
static void check_posts(const json_t *out, size_t from, size_t n)
{
    if (json_array_size(out) != from + n) {
        abort();
    }
    for (size_t i = from; i < json_array_size(out); i++) {
        const json_t *post = json_array_get(out, i);
        if (!json_is_object(post) || !json_is_string(json_object_get(post, "text"))) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;

    char *plain = ingest_html_to_text(buf, size);
    sc_free(plain);
    plain = ingest_plain_text(buf, size);
    sc_free(plain);

    char *str = malloc(size + 1);
    if (str == NULL) {
        abort();
    }
    memcpy(str, data, size);
    str[size] = '\0';
    char rfc[32];
    (void)ingest_x_legacy_time(str, rfc, sizeof rfc);
    char *nfc = ingest_nfc(str);
    sc_free(nfc);
    free(str);

    json_error_t jerr;
    json_t *payload =
        json_loadb(buf, size, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &jerr);
    if (payload == NULL) {
        return 0;
    }
    json_t *out = json_array();
    size_t n = ingest_map_x_activity(payload, out);
    check_posts(out, 0, n);
    size_t at = json_array_size(out);
    n = ingest_map_meta(payload, out);
    check_posts(out, at, n);
    at = json_array_size(out);
    n = ingest_map_mastodon_status(payload, NULL, "mastodon", out);
    check_posts(out, at, n);
    at = json_array_size(out);
    n = ingest_map_mastodon_status(payload, "mention", "mastodon", out);
    check_posts(out, at, n);
    at = json_array_size(out);
    n = ingest_map_x_v2(payload, "100", "x-v2", out);
    check_posts(out, at, n);
    at = json_array_size(out);
    n = ingest_map_bluesky(payload, "bluesky", out);
    check_posts(out, at, n);
    /* The same mappers applied to every member value, as a poller hands them over one
     * by one (statuses, notifications). */
    if (json_is_array(payload)) {
        size_t i;
        json_t *item;
        json_array_foreach(payload, i, item)
        {
            at = json_array_size(out);
            n = ingest_map_mastodon_status(item, "reply", "mastodon", out);
            n += ingest_map_bluesky(item, "bluesky", out);
            check_posts(out, at, n);
        }
    }
    json_decref(out);
    json_decref(payload);
    return 0;
}
