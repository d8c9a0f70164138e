/* libFuzzer target of the v1 event parser (shared/event.h): the first input byte picks
 * the kind (post, reply, delivery) and whether tight limits are used, the rest is the
 * message. An accepted event must serialise, re-parse under the same limits and validate
 * again. */
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    enum sc_event_kind kind = (enum sc_event_kind)(data[0] % SC_EVENT_KIND_COUNT);
    struct sc_event_limits tight = {
        .max_bytes = 4096, .max_depth = 3, .max_text = 64, .max_string = 32};
    const struct sc_event_limits *limits = (data[0] & 0x80) ? &tight : NULL;
    char reason[128];
    json_t *ev = sc_event_parse((const char *)data + 1, size - 1, kind, limits, reason,
                                sizeof reason);
    if (ev == NULL) {
        if (strlen(reason) == 0 || strlen(reason) >= sizeof reason) {
            abort(); /* every rejection carries a reason */
        }
        return 0;
    }
    char key[256];
    int klen = sc_event_customer_key(ev, key, sizeof key);
    if (klen >= 0 && (size_t)klen != strlen(key)) {
        abort();
    }
    (void)sc_event_str(ev, "id");
    (void)sc_event_path(ev, "classification", "intent");
    size_t len = 0;
    char *dump = sc_event_dump(ev, &len);
    if (dump == NULL) {
        abort();
    }
    char reason2[128];
    json_t *again = sc_event_parse(dump, len, kind, limits, reason2, sizeof reason2);
    /* The compact dump holds nothing the parser rejects, but it may be longer than the
     * input (escapes such as \u00e9 are written as raw UTF-8, but "/" or control
     * characters may grow): it must re-parse unless it is over the byte cap. */
    size_t cap = limits ? limits->max_bytes : sc_event_default_limits.max_bytes;
    if (again == NULL && len <= cap) {
        abort();
    }
    if (again != NULL &&
        sc_event_validate(again, kind, limits, reason2, sizeof reason2) != 0) {
        abort();
    }
    json_decref(again);
    free(dump);
    json_decref(ev);
    return 0;
}
