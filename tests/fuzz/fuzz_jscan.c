/* libFuzzer target of the tree-less post reader (shared/jscan.h), differential against
 * the full parser: whenever sc_jscan_post accepts an input, sc_event_parse must accept it
 * too (as a post, default limits) and the fields the reader picked out must equal the
 * tree's. The reader may decline anything; it must never accept more. */
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "fuzz.h"
#include "jscan.h"

static void same_str(const json_t *ev, const char *key, const char *got)
{
    const char *want = sc_event_str(ev, key);
    if ((want == NULL) != (got == NULL) || (want && strcmp(want, got) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SC_JSCAN_MAX_BYTES)
        return 0;
    char *strbuf = malloc(size + 16);
    if (!strbuf)
        return 0;
    size_t used = 0;
    struct sc_jscan_post out;
    bool ok = sc_jscan_post((const char *)data, size, strbuf, &used, &out);
    if (ok) {
        char reason[128];
        json_t *ev = sc_event_parse((const char *)data, size, SC_EVENT_POST, NULL, reason,
                                    sizeof reason);
        if (!ev)
            abort(); /* accepted what the full parser rejects */
        if (used > size + 16)
            abort();
        same_str(ev, "id", out.id);
        same_str(ev, "platform", out.platform);
        same_str(ev, "kind", out.kind);
        same_str(ev, "text", out.text);
        const char *intent = sc_event_path(ev, "classification", "intent");
        if ((intent == NULL) != (out.intent == NULL) ||
            (intent && strcmp(intent, out.intent) != 0))
            abort();
        json_decref(ev);
    }
    free(strbuf);
    return 0;
}
