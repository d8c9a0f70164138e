/* Routing decisions over the loaded rules: rule matching, priority maths, the
 * acknowledgement policy and template rendering. Pure functions: no I/O, no clock. */
#include "route.h"

#include <stdio.h>
#include <string.h>

static const char *const intent_names[ROUTER_INTENT_COUNT] = {
    "complaint", "question", "bug_report", "praise", "spam", "crisis", "other"};

int router_intent_index(const char *intent)
{
    for (int i = 0; intent && i < ROUTER_INTENT_COUNT; i++)
        if (!strcmp(intent, intent_names[i]))
            return i;
    return -1;
}

const char *router_priority_name(int priority)
{
    static const char *const names[] = {"P1", "P1", "P2", "P3", "P4"};
    return priority >= 1 && priority <= 4 ? names[priority] : "P4";
}

static void add_reason(struct route_decision *d, const char *reason)
{
    for (size_t i = 0; i < d->n_reasons; i++)
        if (!strcmp(d->reasons[i], reason))
            return;
    if (d->n_reasons < ROUTER_MAX_REASONS)
        d->reasons[d->n_reasons++] = reason;
}

static bool list_has(const struct router_strlist *l, const char *value)
{
    if (l->n == 0)
        return true; /* no condition */
    if (!value)
        return false;
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], value))
            return true;
    return false;
}

bool router_rule_matches(const struct router_rule *r, const struct route_input *in)
{
    if (!list_has(&r->intent, in->intent) || !list_has(&r->topic, in->topic) ||
        !list_has(&r->sentiment, in->sentiment) ||
        !list_has(&r->language, in->language) || !list_has(&r->platform, in->platform) ||
        !list_has(&r->kind, in->kind) || !list_has(&r->region, in->region) ||
        !list_has(&r->source, in->source_type))
        return false;
    if (r->influence_min >= 0 && in->influence < r->influence_min)
        return false;
    if (r->sentiment_max <= 1 && in->sentiment_score > r->sentiment_max)
        return false;
    if (r->followers_min >= 0 && in->followers < r->followers_min)
        return false;
    if (r->keywords.n) {
        bool any = false;
        for (size_t i = 0; i < r->keywords.n && !any; i++)
            any = in->text && strcasestr(in->text, r->keywords.v[i]) != NULL;
        if (!any)
            return false;
    }
    return true;
}

static int raise_by(int priority, int levels)
{
    priority -= levels;
    return priority < 1 ? 1 : priority;
}

int router_priority(const struct router_rules *rules, int base,
                    const struct route_input *in, struct route_decision *d)
{
    int intent = router_intent_index(in->intent);
    int p = base;
    if (intent == ROUTER_INTENT_SPAM)
        return p;
    if (intent == ROUTER_INTENT_CRISIS)
        add_reason(d, "crisis");
    if (intent == ROUTER_INTENT_BUG_REPORT)
        add_reason(d, "bug_report");
    if (intent == ROUTER_INTENT_COMPLAINT)
        add_reason(d, "complaint");
    bool negative_intent =
        intent == ROUTER_INTENT_COMPLAINT || intent == ROUTER_INTENT_BUG_REPORT ||
        intent == ROUTER_INTENT_CRISIS || intent == ROUTER_INTENT_QUESTION;
    if (in->sentiment_score <= rules->severe_score && negative_intent) {
        p = raise_by(p, 1);
        add_reason(d, "severe_sentiment");
    }
    if (negative_intent) {
        bool tiered = false;
        for (size_t i = 0; i < rules->n_tiers && !tiered; i++) {
            if (in->followers >= rules->tiers[i].min_followers) {
                p = raise_by(p, rules->tiers[i].boost);
                add_reason(d, rules->tiers[i].name);
                tiered = true;
            }
        }
        if (!tiered && in->influence >= 0.7) {
            p = raise_by(p, 1);
            add_reason(d, "influence_score");
        }
        if (in->verified && rules->verified_boost > 0) {
            p = raise_by(p, rules->verified_boost);
            add_reason(d, "verified");
        }
    }
    if (in->engagement_per_min >= rules->viral_per_min && rules->viral_boost > 0 &&
        intent != ROUTER_INTENT_PRAISE) {
        p = raise_by(p, rules->viral_boost);
        add_reason(d, "viral");
    }
    return p;
}

static bool addressed_brand(const char *kind)
{
    return kind &&
           (!strcmp(kind, "mention") || !strcmp(kind, "reply") || !strcmp(kind, "dm"));
}

void router_route(const struct router_rules *rules, const struct route_input *in,
                  struct route_decision *out)
{
    memset(out, 0, sizeof(*out));
    int intent = router_intent_index(in->intent);
    const struct router_rule *rule = NULL;
    for (size_t i = 0; i < rules->n_rules && !rule; i++)
        if (router_rule_matches(&rules->rules[i], in))
            rule = &rules->rules[i];
    int dept = rules->default_department;
    int base = intent >= 0 ? rules->intent_priority[intent] : 4;
    if (rule) {
        out->rule = rule->name;
        if (rule->department >= 0)
            dept = rule->department;
        if (rule->priority)
            base = rule->priority;
        if (rule->tags.n)
            out->tags = &rule->tags;
        out->requires_review = rule->review;
        out->amplify = rule->amplify;
    }
    if (intent == ROUTER_INTENT_CRISIS) {
        /* crisis always goes to communications, at P1, and never gets a bot reply */
        int comms = router_rules_department(rules, "communications");
        if (comms >= 0)
            dept = comms;
        base = 1;
    }
    out->department_index = dept;
    out->department = rules->departments[dept].name;
    out->priority = router_priority(rules, base, in, out);

    /* the acknowledgement policy */
    const char *tpl_name = rule && rule->ack ? rule->ack : NULL;
    if (intent == ROUTER_INTENT_SPAM)
        out->ack_why = "spam";
    else if (intent == ROUTER_INTENT_CRISIS)
        out->ack_why = "crisis";
    else if (in->source_type && !strcmp(in->source_type, "search"))
        out->ack_why = "search_result";
    else if (!addressed_brand(in->kind))
        out->ack_why = "not_addressed";
    else if (tpl_name && !strcmp(tpl_name, "none"))
        out->ack_why = "rule";
    if (!out->ack_why) {
        if (!tpl_name)
            tpl_name = intent >= 0 ? intent_names[intent] : "other";
        out->ack_template = router_rules_template(rules, tpl_name);
        if (!out->ack_template)
            out->ack_why = "no_template";
    }
    if (out->ack_why) {
        out->ack = ROUTE_ACK_NONE;
        out->ack_template = NULL;
    } else {
        out->ack = intent == ROUTER_INTENT_PRAISE ? ROUTE_ACK_THANKS : ROUTE_ACK_CASE;
        if (in->followers >= rules->review_followers || in->verified)
            out->requires_review = true;
    }
}

int router_ack_render(const char *tpl, const char *handle, const char *case_ref,
                      const char *signature, const char *department, char *buf,
                      size_t size)
{
    size_t n = 0;
    bool overflow = false;
    for (const char *p = tpl; *p;) {
        const char *sub = NULL;
        size_t skip = 0;
        char at_handle[160];
        if (*p == '{') {
            static const char *const names[] = {"{handle}", "{case}", "{signature}",
                                                "{department}"};
            for (int i = 0; i < 4 && !sub; i++) {
                size_t l = strlen(names[i]);
                if (!strncmp(p, names[i], l)) {
                    skip = l;
                    if (i == 0) {
                        snprintf(at_handle, sizeof(at_handle), "%s%s",
                                 handle && *handle ? "@" : "", handle ? handle : "");
                        sub = at_handle;
                    } else {
                        sub = i == 1 ? case_ref : i == 2 ? signature : department;
                        if (!sub)
                            sub = "";
                    }
                }
            }
        }
        if (sub) {
            size_t l = strlen(sub);
            if (n + l >= size) {
                overflow = true;
                break;
            }
            memcpy(buf + n, sub, l);
            n += l;
            p += skip;
        } else {
            if (n + 1 >= size) {
                overflow = true;
                break;
            }
            buf[n++] = *p++;
        }
    }
    if (overflow || size == 0)
        return -1;
    buf[n] = '\0';
    size_t lead = 0; /* an empty {handle} at the start leaves a blank */
    while (buf[lead] == ' ')
        lead++;
    if (lead) {
        memmove(buf, buf + lead, n - lead + 1);
        n -= lead;
    }
    return (int)n;
}

double router_engagement_velocity(long long interactions, long long created_ms,
                                  long long now_ms)
{
    double minutes = (double)(now_ms - created_ms) / 60000.0;
    if (minutes < 1)
        minutes = 1;
    return interactions > 0 ? (double)interactions / minutes : 0;
}
