/* libFuzzer target of the responder's text policy (services/responder/policy.h): the
 * length counters of each platform, the personal-data, link and money detectors, and the
 * thread splitter on arbitrary bytes. Every part of a split must fit the limit. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "fuzz.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL) {
        abort();
    }
    if (size > 0) {
        memcpy(text, data, size);
    }
    text[size] = '\0';

    size_t cps = policy_codepoints(text);
    if (cps > strlen(text)) {
        abort();
    }
    (void)policy_x_length(text);
    (void)policy_mastodon_length(text);
    if (policy_graphemes(text) > cps) {
        abort();
    }
    for (int p = 0; p < POLICY_PLATFORM_COUNT; p++) {
        (void)policy_length((enum policy_platform)p, text);
    }
    (void)policy_pii_name(policy_personal_data(text));
    (void)policy_has_link(text);
    (void)policy_has_money(text);

    enum policy_platform platform =
        size > 0 ? (enum policy_platform)(data[0] % POLICY_PLATFORM_COUNT) : POLICY_X;
    size_t limit = policy_limit(&policy_default_limits, platform, false);
    if (limit == 0) {
        limit = 280;
    }
    char *parts[POLICY_MAX_MSGS] = {0};
    /* Splitting costs O(limit^2) per part; four parts of any platform fit in 2 KiB, so
     * longer texts only repeat the "does not fit" path: cut them to keep fuzzing fast. */
    if (size > 2048) {
        text[2048] = '\0';
    }
    size_t n = policy_split(platform, text, limit, 4, parts);
    if (n > 4) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        if (parts[i] == NULL || policy_length(platform, parts[i]) > limit) {
            abort();
        }
        sc_free(parts[i]);
    }
    free(text);
    return 0;
}
