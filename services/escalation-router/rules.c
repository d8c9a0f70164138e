/* Loading and validating the routing configuration (JSON, jansson). Unknown keys are
 * errors (a typo must not silently disable a rule); every error names the key path, and
 * syntax errors the line and column. */
#include "rules.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "alloc.h"
#include "phrases.h"
#include "route.h"

struct loader {
    struct router_rules *r;
    char *err;
    size_t err_size;
};

static int fail(struct loader *ld, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct loader *ld, const char *path, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(ld->err, ld->err_size, "%s: %s", path, msg);
    return SC_EINVAL;
}

/* Fails on a key of obj not in allowed (NULL-terminated). */
static int check_keys(struct loader *ld, const char *path, json_t *obj,
                      const char *const *allowed)
{
    if (!json_is_object(obj))
        return fail(ld, path, "expected an object");
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return fail(ld, path, "unknown key \"%s\"", key);
    }
    return 0;
}

/* buf = path "." key, cut short when too long (paths only name places in errors). */
static void join(char *buf, size_t size, const char *path, const char *key)
{
    size_t pl = strlen(path), kl = strlen(key);
    if (pl > size - 1)
        pl = size - 1;
    memcpy(buf, path, pl);
    size_t n = pl;
    if (n + 1 < size)
        buf[n++] = '.';
    if (kl > size - 1 - n)
        kl = size - 1 - n;
    memcpy(buf + n, key, kl);
    buf[n + kl] = '\0';
}

static int get_str(struct loader *ld, const char *path, json_t *obj, const char *key,
                   bool required, char **out)
{
    char p[256];
    join(p, sizeof(p), path, key);
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required)
            return fail(ld, p, "missing");
        return 0;
    }
    if (!json_is_string(v))
        return fail(ld, p, "expected a string");
    *out = sc_strdup(json_string_value(v));
    return 0;
}

static int get_num(struct loader *ld, const char *path, json_t *obj, const char *key,
                   double min, double max, double *out)
{
    char p[256];
    join(p, sizeof(p), path, key);
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_number(v))
        return fail(ld, p, "expected a number");
    double d = json_number_value(v);
    if (d < min || d > max)
        return fail(ld, p, "%g is out of range [%g, %g]", d, min, max);
    *out = d;
    return 0;
}

static int get_int(struct loader *ld, const char *path, json_t *obj, const char *key,
                   long long min, long long max, long long *out)
{
    char p[256];
    join(p, sizeof(p), path, key);
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return fail(ld, p, "expected an integer");
    long long d = json_integer_value(v);
    if (d < min || d > max)
        return fail(ld, p, "%lld is out of range [%lld, %lld]", d, min, max);
    *out = d;
    return 0;
}

static int get_list(struct loader *ld, const char *path, json_t *obj, const char *key,
                    struct router_strlist *out)
{
    char p[256];
    join(p, sizeof(p), path, key);
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (json_is_string(v)) {
        out->v = sc_calloc(1, sizeof(char *));
        out->v[0] = sc_strdup(json_string_value(v));
        out->n = 1;
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return fail(ld, p, "expected a string or a non-empty array of strings");
    out->v = sc_calloc(json_array_size(v), sizeof(char *));
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e))
            return fail(ld, p, "element %zu is not a string", i);
        out->v[out->n++] = sc_strdup(json_string_value(e));
    }
    return 0;
}

int router_priority_parse(const char *text)
{
    if (text && text[0] == 'P' && text[1] >= '1' && text[1] <= '4' && !text[2])
        return text[1] - '0';
    return 0;
}

static int get_priority(struct loader *ld, const char *path, json_t *obj, const char *key,
                        int *out)
{
    char *s = NULL;
    int rc = get_str(ld, path, obj, key, false, &s);
    if (rc != 0 || !s)
        return rc;
    *out = router_priority_parse(s);
    sc_free(s);
    if (*out == 0) {
        char p[256];
        join(p, sizeof(p), path, key);
        return fail(ld, p, "expected P1, P2, P3 or P4");
    }
    return 0;
}

static int parse_clock(const char *s, int *minutes)
{
    int h, m;
    char extra;
    if (sscanf(s, "%d:%d%c", &h, &m, &extra) != 2 || h < 0 || h > 24 || m < 0 || m > 59 ||
        (h == 24 && m != 0))
        return -1;
    *minutes = h * 60 + m;
    return 0;
}

static int load_webhook(struct loader *ld, const char *path, json_t *v,
                        struct router_webhook *wh)
{
    static const char *const keys[] = {"url", "format", "secret_env", NULL};
    if (json_is_string(v)) {
        wh->url = sc_strdup(json_string_value(v));
    } else {
        int rc = check_keys(ld, path, v, keys);
        char *format = NULL, *secret_env = NULL;
        if (rc == 0)
            rc = get_str(ld, path, v, "url", true, &wh->url);
        if (rc == 0)
            rc = get_str(ld, path, v, "format", false, &format);
        if (rc == 0 && format && strcmp(format, "json") && strcmp(format, "slack"))
            rc = fail(ld, path, "format must be \"json\" or \"slack\"");
        wh->slack = format && !strcmp(format, "slack");
        if (rc == 0)
            rc = get_str(ld, path, v, "secret_env", false, &secret_env);
        if (rc == 0 && secret_env) {
            const char *secret = getenv(secret_env);
            if (secret && *secret)
                wh->secret = sc_strdup(secret);
        }
        sc_free(format);
        sc_free(secret_env);
        if (rc != 0)
            return rc;
    }
    if (strncmp(wh->url, "http://", 7) != 0 && strncmp(wh->url, "https://", 8) != 0)
        return fail(ld, path, "url must start with http:// or https://");
    return 0;
}

bool router_timezone_known(const char *tz)
{
    if (!strcmp(tz, "UTC"))
        return true;
    if (!*tz || tz[0] == '/' || strstr(tz, ".."))
        return false;
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", tz);
    return access(path, R_OK) == 0;
}

static int load_hours(struct loader *ld, const char *path, json_t *v,
                      struct router_hours *h)
{
    static const char *const keys[] = {"timezone", "days",   "open",
                                       "close",    "always", NULL};
    static const char *const day_names[] = {"sun", "mon", "tue", "wed",
                                            "thu", "fri", "sat"};
    h->days = 0x7f;
    h->open_min = 0;
    h->close_min = 24 * 60;
    if (!v) {
        h->always = true;
        h->timezone = sc_strdup("UTC");
        return 0;
    }
    int rc = check_keys(ld, path, v, keys);
    if (rc == 0)
        rc = get_str(ld, path, v, "timezone", false, &h->timezone);
    if (rc != 0)
        return rc;
    if (!h->timezone)
        h->timezone = sc_strdup("UTC");
    char p[256];
    if (!router_timezone_known(h->timezone)) {
        join(p, sizeof(p), path, "timezone");
        return fail(ld, p,
                    "unknown time zone \"%s\" (an IANA name such as Europe/London)",
                    h->timezone);
    }
    if (json_is_true(json_object_get(v, "always"))) {
        h->always = true;
        return 0;
    }
    struct router_strlist days = {0};
    rc = get_list(ld, path, v, "days", &days);
    if (rc == 0 && days.n) {
        h->days = 0;
        for (size_t i = 0; i < days.n && rc == 0; i++) {
            int d = -1;
            for (int k = 0; k < 7; k++)
                if (!strcmp(days.v[i], day_names[k]))
                    d = k;
            join(p, sizeof(p), path, "days");
            if (d < 0)
                rc = fail(ld, p, "\"%s\" is not a day (sun, mon, ... sat)", days.v[i]);
            else
                h->days |= 1u << d;
        }
    }
    for (size_t i = 0; i < days.n; i++)
        sc_free(days.v[i]);
    sc_free(days.v);
    const char *which[] = {"open", "close"};
    int *dest[] = {&h->open_min, &h->close_min};
    for (int i = 0; i < 2 && rc == 0; i++) {
        json_t *t = json_object_get(v, which[i]);
        join(p, sizeof(p), path, which[i]);
        if (!t)
            rc = fail(ld, p, "missing (HH:MM)");
        else if (!json_is_string(t) || parse_clock(json_string_value(t), dest[i]) != 0)
            rc = fail(ld, p, "expected a time HH:MM");
    }
    if (rc == 0 && h->close_min <= h->open_min)
        rc = fail(ld, path, "close must be after open");
    return rc;
}

static int load_department(struct loader *ld, const char *path, json_t *v,
                           struct router_department *d)
{
    static const char *const keys[] = {
        "name",       "webhooks",  "sla_minutes", "business_hours",
        "escalation", "signature", NULL};
    static const double default_sla_min[ROUTER_N_PRIORITIES] = {60, 240, 480, 1440};
    char p[256];
    int rc = check_keys(ld, path, v, keys);
    if (rc == 0)
        rc = get_str(ld, path, v, "name", true, &d->name);
    if (rc == 0)
        rc = get_str(ld, path, v, "signature", false, &d->signature);
    json_t *hooks = json_object_get(v, "webhooks");
    join(p, sizeof(p), path, "webhooks");
    if (rc == 0 && hooks && !json_is_array(hooks))
        rc = fail(ld, p, "expected an array");
    if (rc == 0 && hooks) {
        d->webhooks = sc_calloc(json_array_size(hooks) + 1, sizeof(*d->webhooks));
        size_t i;
        json_t *e;
        json_array_foreach(hooks, i, e)
        {
            char pi[300];
            snprintf(pi, sizeof(pi), "%s[%zu]", p, i);
            d->n_webhooks++;
            if ((rc = load_webhook(ld, pi, e, &d->webhooks[i])) != 0)
                break;
        }
    }
    json_t *sla = json_object_get(v, "sla_minutes");
    join(p, sizeof(p), path, "sla_minutes");
    for (int i = 0; i < ROUTER_N_PRIORITIES; i++)
        d->sla_ms[i] = (int64_t)(default_sla_min[i] * 60000);
    if (rc == 0 && sla) {
        static const char *const pkeys[] = {"P1", "P2", "P3", "P4", NULL};
        rc = check_keys(ld, p, sla, pkeys);
        for (int i = 0; i < ROUTER_N_PRIORITIES && rc == 0; i++) {
            double m = -1;
            rc = get_num(ld, p, sla, pkeys[i], 0.001, 525600, &m);
            if (m > 0)
                d->sla_ms[i] = (int64_t)llround(m * 60000);
        }
    }
    join(p, sizeof(p), path, "business_hours");
    if (rc == 0)
        rc = load_hours(ld, p, json_object_get(v, "business_hours"), &d->hours);
    json_t *esc = json_object_get(v, "escalation");
    join(p, sizeof(p), path, "escalation");
    if (rc == 0 && esc) {
        static const char *const ekeys[] = {"name", "webhook", NULL};
        rc = check_keys(ld, p, esc, ekeys);
        if (rc == 0)
            rc = get_str(ld, p, esc, "name", true, &d->escalation_name);
        json_t *wh = json_object_get(esc, "webhook");
        if (rc == 0 && wh) {
            char pw[300];
            join(pw, sizeof(pw), p, "webhook");
            rc = load_webhook(ld, pw, wh, &d->escalation);
        }
    }
    return rc;
}

static int load_rule(struct loader *ld, const char *path, json_t *v,
                     struct router_rule *rule)
{
    static const char *const keys[] = {"name", "match",  "department", "priority", "tags",
                                       "ack",  "review", "amplify",    NULL};
    static const char *const mkeys[] = {
        "intent",        "topic",         "sentiment", "language", "platform",
        "kind",          "region",        "source",    "keywords", "influence_min",
        "sentiment_max", "followers_min", NULL};
    rule->influence_min = -1;
    rule->sentiment_max = 2;
    rule->followers_min = -1;
    rule->department = -1;
    char p[256];
    int rc = check_keys(ld, path, v, keys);
    if (rc == 0)
        rc = get_str(ld, path, v, "name", false, &rule->name);
    json_t *m = json_object_get(v, "match");
    join(p, sizeof(p), path, "match");
    if (rc == 0 && !m)
        rc = fail(ld, p, "missing");
    if (rc == 0)
        rc = check_keys(ld, p, m, mkeys);
    struct router_strlist *lists[] = {&rule->intent,   &rule->topic,    &rule->sentiment,
                                      &rule->language, &rule->platform, &rule->kind,
                                      &rule->region,   &rule->source,   &rule->keywords};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]) && rc == 0; i++)
        rc = get_list(ld, p, m, mkeys[i], lists[i]);
    for (size_t i = 0; i < rule->intent.n && rc == 0; i++)
        if (router_intent_index(rule->intent.v[i]) < 0) {
            char pi[300];
            join(pi, sizeof(pi), p, "intent");
            rc = fail(ld, pi, "unknown intent \"%s\"", rule->intent.v[i]);
        }
    for (size_t i = 0; i < rule->keywords.n; i++) /* matched case-insensitively */
        for (char *c = rule->keywords.v[i]; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
    if (rc == 0)
        rc = get_num(ld, p, m, "influence_min", 0, 1, &rule->influence_min);
    if (rc == 0)
        rc = get_num(ld, p, m, "sentiment_max", -1, 1, &rule->sentiment_max);
    if (rc == 0)
        rc = get_int(ld, p, m, "followers_min", 0, 1LL << 50, &rule->followers_min);
    char *dept = NULL;
    if (rc == 0)
        rc = get_str(ld, path, v, "department", false, &dept);
    if (rc == 0 && dept) {
        rule->department = router_rules_department(ld->r, dept);
        join(p, sizeof(p), path, "department");
        if (rule->department < 0)
            rc = fail(ld, p, "no department named \"%s\"", dept);
    }
    sc_free(dept);
    if (rc == 0)
        rc = get_priority(ld, path, v, "priority", &rule->priority);
    if (rc == 0)
        rc = get_list(ld, path, v, "tags", &rule->tags);
    if (rc == 0)
        rc = get_str(ld, path, v, "ack", false, &rule->ack);
    if (rc == 0 && rule->ack && strcmp(rule->ack, "none") &&
        !router_rules_template(ld->r, rule->ack)) {
        join(p, sizeof(p), path, "ack");
        rc = fail(ld, p, "no template named \"%s\"", rule->ack);
    }
    json_t *review = json_object_get(v, "review");
    join(p, sizeof(p), path, "review");
    if (rc == 0 && review && !json_is_boolean(review))
        rc = fail(ld, p, "expected true or false");
    rule->review = json_is_true(review);
    json_t *amplify = json_object_get(v, "amplify");
    join(p, sizeof(p), path, "amplify");
    if (rc == 0 && amplify && !json_is_boolean(amplify))
        rc = fail(ld, p, "expected true or false");
    rule->amplify = json_is_true(amplify);
    return rc;
}

static int load_priority(struct loader *ld, json_t *v)
{
    struct router_rules *r = ld->r;
    static const char *const keys[] = {
        "by_intent",        "influence_tiers", "verified_boost",   "severe_score",
        "viral_per_minute", "viral_boost",     "review_followers", NULL};
    static const int intent_defaults[] = {3, 4, 2, 4, 4, 1, 4, 4};
    for (size_t i = 0; i < 8; i++)
        r->intent_priority[i] = intent_defaults[i];
    r->verified_boost = 1;
    r->severe_score = -0.7;
    r->viral_per_min = 20;
    r->viral_boost = 1;
    r->review_followers = 100000;
    if (!v)
        return 0;
    const char *path = "priority";
    int rc = check_keys(ld, path, v, keys);
    json_t *bi = json_object_get(v, "by_intent");
    if (rc == 0 && bi) {
        const char *key;
        json_t *e;
        if (!json_is_object(bi))
            return fail(ld, "priority.by_intent", "expected an object");
        json_object_foreach(bi, key, e)
        {
            int idx = router_intent_index(key);
            if (idx < 0)
                return fail(ld, "priority.by_intent", "unknown intent \"%s\"", key);
            if ((rc = get_priority(ld, "priority.by_intent", bi, key,
                                   &r->intent_priority[idx])) != 0)
                return rc;
        }
    }
    json_t *tiers = json_object_get(v, "influence_tiers");
    if (rc == 0 && tiers) {
        if (!json_is_array(tiers))
            return fail(ld, "priority.influence_tiers", "expected an array");
        r->tiers = sc_calloc(json_array_size(tiers) + 1, sizeof(*r->tiers));
        size_t i;
        json_t *e;
        json_array_foreach(tiers, i, e)
        {
            static const char *const tkeys[] = {"name", "min_followers", "boost", NULL};
            char p[128];
            snprintf(p, sizeof(p), "priority.influence_tiers[%zu]", i);
            struct router_tier *t = &r->tiers[r->n_tiers++];
            long long boost = 1;
            t->min_followers = -1;
            if ((rc = check_keys(ld, p, e, tkeys)) != 0 ||
                (rc = get_str(ld, p, e, "name", true, &t->name)) != 0 ||
                (rc = get_int(ld, p, e, "min_followers", 0, 1LL << 50,
                              &t->min_followers)) != 0 ||
                (rc = get_int(ld, p, e, "boost", 0, 3, &boost)) != 0)
                return rc;
            if (t->min_followers < 0)
                return fail(ld, p, "min_followers missing");
            t->boost = (int)boost;
            if (i > 0 && t->min_followers >= r->tiers[i - 1].min_followers)
                return fail(ld, p, "tiers must be ordered by min_followers, descending");
        }
    }
    long long vb = r->verified_boost, viral_boost = r->viral_boost;
    if (rc == 0)
        rc = get_int(ld, path, v, "verified_boost", 0, 3, &vb);
    if (rc == 0)
        rc = get_num(ld, path, v, "severe_score", -1, 0, &r->severe_score);
    if (rc == 0)
        rc = get_num(ld, path, v, "viral_per_minute", 0.001, 1e9, &r->viral_per_min);
    if (rc == 0)
        rc = get_int(ld, path, v, "viral_boost", 0, 3, &viral_boost);
    if (rc == 0)
        rc = get_int(ld, path, v, "review_followers", 0, 1LL << 50, &r->review_followers);
    r->verified_boost = (int)vb;
    r->viral_boost = (int)viral_boost;
    return rc;
}

static int load_sections(struct loader *ld, json_t *root)
{
    struct router_rules *r = ld->r;
    static const char *const keys[] = {
        "version", "default_department", "departments", "rules",  "priority",
        "cases",   "acknowledgements",   "templates",   "spikes", NULL};
    int rc = check_keys(ld, "(top level)", root, keys);
    if (rc != 0)
        return rc;
    json_t *ver = json_object_get(root, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != 1)
        return fail(ld, "version", "must be 1");

    /* templates first: rules refer to them */
    json_t *tpl = json_object_get(root, "templates");
    if (tpl && !json_is_object(tpl))
        return fail(ld, "templates", "expected an object");
    size_t nt = tpl ? json_object_size(tpl) : 0;
    r->template_names = sc_calloc(nt + 1, sizeof(char *));
    r->template_texts = sc_calloc(nt + 1, sizeof(char *));
    const char *key;
    json_t *e;
    if (tpl) {
        json_object_foreach(tpl, key, e)
        {
            if (!json_is_string(e)) {
                char p[256];
                join(p, sizeof(p), "templates", key);
                return fail(ld, p, "expected a string");
            }
            r->template_names[r->n_templates] = sc_strdup(key);
            r->template_texts[r->n_templates++] = sc_strdup(json_string_value(e));
        }
    }

    json_t *depts = json_object_get(root, "departments");
    if (!json_is_array(depts) || json_array_size(depts) == 0)
        return fail(ld, "departments", "expected a non-empty array");
    r->departments = sc_calloc(json_array_size(depts), sizeof(*r->departments));
    size_t i;
    json_array_foreach(depts, i, e)
    {
        char p[64];
        snprintf(p, sizeof(p), "departments[%zu]", i);
        r->n_departments++;
        if ((rc = load_department(ld, p, e, &r->departments[i])) != 0)
            return rc;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(r->departments[k].name, r->departments[i].name))
                return fail(ld, p, "duplicate department \"%s\"", r->departments[i].name);
    }
    char *def = NULL;
    if ((rc = get_str(ld, "(top level)", root, "default_department", true, &def)) != 0)
        return fail(ld, "default_department", "missing");
    r->default_department = router_rules_department(r, def);
    rc = r->default_department < 0
             ? fail(ld, "default_department", "no department named \"%s\"", def)
             : 0;
    sc_free(def);
    if (rc != 0)
        return rc;

    if ((rc = load_priority(ld, json_object_get(root, "priority"))) != 0)
        return rc;

    json_t *rules = json_object_get(root, "rules");
    if (!json_is_array(rules))
        return fail(ld, "rules", "expected an array");
    r->rules = sc_calloc(json_array_size(rules) + 1, sizeof(*r->rules));
    json_array_foreach(rules, i, e)
    {
        char p[64];
        snprintf(p, sizeof(p), "rules[%zu]", i);
        r->n_rules++;
        if ((rc = load_rule(ld, p, e, &r->rules[i])) != 0)
            return rc;
    }

    json_t *cases = json_object_get(root, "cases");
    double reopen_h = 72;
    long long last_posts = 10;
    if (cases) {
        static const char *const ckeys[] = {"reopen_window_hours", "last_posts", NULL};
        if ((rc = check_keys(ld, "cases", cases, ckeys)) != 0 ||
            (rc = get_num(ld, "cases", cases, "reopen_window_hours", 0, 8760,
                          &reopen_h)) != 0 ||
            (rc = get_int(ld, "cases", cases, "last_posts", 1, 100, &last_posts)) != 0)
            return rc;
    }
    r->reopen_window_ms = (int64_t)(reopen_h * 3600000.0);
    r->last_posts = (int)last_posts;

    json_t *acks = json_object_get(root, "acknowledgements");
    long long cap = 3;
    if (acks) {
        static const char *const akeys[] = {"daily_cap_per_customer", "signature", NULL};
        if ((rc = check_keys(ld, "acknowledgements", acks, akeys)) != 0 ||
            (rc = get_int(ld, "acknowledgements", acks, "daily_cap_per_customer", 0, 100,
                          &cap)) != 0 ||
            (rc = get_str(ld, "acknowledgements", acks, "signature", false,
                          &r->team_signature)) != 0)
            return rc;
    }
    r->daily_cap = (int)cap;
    if (!r->team_signature)
        r->team_signature = sc_strdup("Customer Care");

    json_t *sp = json_object_get(root, "spikes");
    double bucket_s = 60, alpha = 0.1;
    long long buckets = 5, samples = 3, per_post = 3, p_hist = 30;
    r->spike_factor = 4;
    r->spike_min = 20;
    r->phrase_factor = 4;
    r->phrase_min = 15;
    if (sp) {
        static const char *const skeys[] = {"bucket_seconds",
                                            "window_buckets",
                                            "factor",
                                            "min_count",
                                            "baseline_alpha",
                                            "samples",
                                            "phrases_per_post",
                                            "phrase_min_count",
                                            "phrase_factor",
                                            "phrase_history_buckets",
                                            NULL};
        if ((rc = check_keys(ld, "spikes", sp, skeys)) != 0 ||
            (rc = get_num(ld, "spikes", sp, "bucket_seconds", 0.1, 86400, &bucket_s)) !=
                0 ||
            (rc = get_int(ld, "spikes", sp, "window_buckets", 1, 60, &buckets)) != 0 ||
            (rc = get_num(ld, "spikes", sp, "factor", 1, 1000, &r->spike_factor)) != 0 ||
            (rc = get_int(ld, "spikes", sp, "min_count", 1, 1LL << 40, &r->spike_min)) !=
                0 ||
            (rc = get_num(ld, "spikes", sp, "baseline_alpha", 0.001, 1, &alpha)) != 0 ||
            (rc = get_int(ld, "spikes", sp, "samples", 0, 20, &samples)) != 0 ||
            (rc = get_int(ld, "spikes", sp, "phrases_per_post", 0, ROUTER_PHRASE_MAX,
                          &per_post)) != 0 ||
            (rc = get_int(ld, "spikes", sp, "phrase_min_count", 1, 1LL << 40,
                          &r->phrase_min)) != 0 ||
            (rc = get_num(ld, "spikes", sp, "phrase_factor", 1, 1000,
                          &r->phrase_factor)) != 0 ||
            (rc = get_int(ld, "spikes", sp, "phrase_history_buckets", 1, 1440,
                          &p_hist)) != 0)
            return rc;
    }
    r->spike_bucket_ms = (int64_t)(bucket_s * 1000);
    r->spike_buckets = (int)buckets;
    r->spike_alpha = alpha;
    r->spike_samples = (int)samples;
    r->phrases_per_post = (int)per_post;
    r->phrase_history = (int)p_hist;
    return 0;
}

int router_rules_parse(const char *text, size_t len, const char *origin,
                       struct router_rules **out, char *err, size_t err_size)
{
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, err_size, "%s: line %d, column %d: %s", origin, jerr.line,
                 jerr.column, jerr.text);
        return SC_EINVAL;
    }
    struct loader ld = {.r = sc_calloc(1, sizeof(struct router_rules))};
    char msg[384];
    ld.err = msg;
    ld.err_size = sizeof(msg);
    int rc = load_sections(&ld, root);
    json_decref(root);
    if (rc != 0) {
        snprintf(err, err_size, "%s: %s", origin, msg);
        router_rules_free(ld.r);
        return rc;
    }
    *out = ld.r;
    return 0;
}

int router_rules_load(const char *path, struct router_rules **out, char *err,
                      size_t err_size)
{
    if (!path || !*path)
        return router_rules_parse(router_default_config, router_default_config_len,
                                  "built-in routing.json", out, err, err_size);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open", path);
        *out = NULL;
        return SC_EINVAL;
    }
    size_t cap = 65536, n = 0;
    char *buf = sc_malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            if (cap >= 16u << 20)
                break;
            cap *= 2;
            char *nb = sc_malloc(cap);
            memcpy(nb, buf, n);
            sc_free(buf);
            buf = nb;
        }
    }
    fclose(f);
    int rc = router_rules_parse(buf, n, path, out, err, err_size);
    sc_free(buf);
    return rc;
}

static void free_list(struct router_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        sc_free(l->v[i]);
    sc_free(l->v);
}

static void free_webhook(struct router_webhook *w)
{
    sc_free(w->url);
    sc_free(w->secret);
}

void router_rules_free(struct router_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_departments; i++) {
        struct router_department *d = &r->departments[i];
        sc_free(d->name);
        for (size_t k = 0; k < d->n_webhooks; k++)
            free_webhook(&d->webhooks[k]);
        sc_free(d->webhooks);
        sc_free(d->hours.timezone);
        sc_free(d->escalation_name);
        free_webhook(&d->escalation);
        sc_free(d->signature);
    }
    sc_free(r->departments);
    for (size_t i = 0; i < r->n_rules; i++) {
        struct router_rule *u = &r->rules[i];
        sc_free(u->name);
        struct router_strlist *lists[] = {
            &u->intent, &u->topic,  &u->sentiment, &u->language, &u->platform,
            &u->kind,   &u->region, &u->source,    &u->keywords, &u->tags};
        for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++)
            free_list(lists[k]);
        sc_free(u->ack);
    }
    sc_free(r->rules);
    for (size_t i = 0; i < r->n_tiers; i++)
        sc_free(r->tiers[i].name);
    sc_free(r->tiers);
    for (size_t i = 0; i < r->n_templates; i++) {
        sc_free(r->template_names[i]);
        sc_free(r->template_texts[i]);
    }
    sc_free(r->template_names);
    sc_free(r->template_texts);
    sc_free(r->team_signature);
    sc_free(r);
}

int router_rules_department(const struct router_rules *r, const char *name)
{
    for (size_t i = 0; i < r->n_departments; i++)
        if (!strcmp(r->departments[i].name, name))
            return (int)i;
    return -1;
}

const char *router_rules_template(const struct router_rules *r, const char *name)
{
    for (size_t i = 0; i < r->n_templates; i++)
        if (!strcmp(r->template_names[i], name))
            return r->template_texts[i];
    return NULL;
}
