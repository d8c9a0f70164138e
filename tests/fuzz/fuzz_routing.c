/* libFuzzer target of the escalation router's routing-configuration loader
 * (services/escalation-router/rules.h, router_rules_parse): any text either loads into a
 * rule set whose lookups work, or is refused with a non-empty error. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct router_rules *rules = NULL;
    char err[256] = "";
    int rc =
        router_rules_parse((const char *)data, size, "fuzz", &rules, err, sizeof err);
    if (rc != 0) {
        if (rules != NULL || err[0] == '\0') {
            abort();
        }
        return 0;
    }
    if (rules == NULL) {
        abort();
    }
    for (size_t i = 0; i < rules->n_departments; i++) {
        if (router_rules_department(rules, rules->departments[i].name) < 0) {
            abort();
        }
    }
    for (size_t i = 0; i < rules->n_templates; i++) {
        if (router_rules_template(rules, rules->template_names[i]) == NULL) {
            abort();
        }
    }
    (void)router_rules_department(rules, "no-such-department");
    router_rules_free(rules);
    return 0;
}
