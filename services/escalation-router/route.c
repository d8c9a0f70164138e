/* The skeleton's routing table: topic -> department, intent and influence -> priority.
 * The configurable rule set (issue: escalation router) replaces the tables, not the
 * interface. */
#include "route.h"

#include <stdio.h>
#include <string.h>

struct topic_department {
    const char *topic;
    const char *department;
};

static const struct topic_department topic_departments[] = {
    {"billing", "billing"},
    {"shipping", "shipping"},
    {"technical_support", "technical_support"},
    {"accounts", "accounts"},
    {"flight_operations", "customer_service"},
    {"baggage", "customer_service"},
    {"customer_service", "customer_service"},
};

static void add_reason(struct route_decision *d, const char *reason)
{
    if (d->n_reasons < ROUTER_MAX_REASONS)
        d->reasons[d->n_reasons++] = reason;
}

bool router_intent_acknowledged(const char *intent)
{
    return !strcmp(intent, "complaint") || !strcmp(intent, "bug_report") ||
           !strcmp(intent, "crisis");
}

void router_route(const struct route_input *in, struct route_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->department = "customer_service";
    for (size_t i = 0; i < sizeof(topic_departments) / sizeof(topic_departments[0]); i++)
        if (!strcmp(in->topic, topic_departments[i].topic))
            out->department = topic_departments[i].department;

    const char *intent = in->intent;
    bool negative = !strcmp(in->sentiment, "negative");
    bool influencer = in->influence >= 0.7;

    if (!strcmp(intent, "crisis")) {
        out->department = "communications";
        out->priority = "P1";
        out->requires_review = true;
        add_reason(out, "crisis");
    } else if (!strcmp(intent, "bug_report")) {
        out->department = "technical_support";
        out->priority = "P2";
        add_reason(out, "bug_report");
    } else if (!strcmp(intent, "complaint")) {
        out->priority = negative ? "P2" : "P3";
        add_reason(out, "complaint");
        if (negative)
            add_reason(out, "negative");
    } else if (!strcmp(intent, "question")) {
        out->priority = "P3";
        add_reason(out, "question");
    } else if (!strcmp(intent, "praise")) {
        out->department = "marketing";
        out->priority = "P4";
        add_reason(out, "praise");
    } else if (!strcmp(intent, "spam")) {
        out->department = "moderation";
        out->priority = "P4";
        add_reason(out, "spam");
    } else {
        out->priority = "P4";
    }
    if (influencer && strcmp(intent, "spam") != 0 && strcmp(intent, "praise") != 0) {
        out->priority = "P1";
        add_reason(out, "influencer");
        if (router_intent_acknowledged(intent))
            out->requires_review = true;
    }
    out->acknowledge = router_intent_acknowledged(intent);
}

int router_ack_text(const char *handle, const struct route_decision *d, char *buf,
                    size_t size)
{
    const char *body;
    if (d->reasons[0] && !strcmp(d->reasons[0], "crisis"))
        body =
            "We are looking into this right now and will update you as soon as we can.";
    else if (d->reasons[0] && !strcmp(d->reasons[0], "bug_report"))
        body =
            "Sorry about the trouble. Our technical team is on it; we'll follow up here.";
    else
        body =
            "Sorry to hear that. We've passed this to our team and will get back to you "
            "shortly.";
    int n = handle && *handle ? snprintf(buf, size, "@%s %s", handle, body)
                              : snprintf(buf, size, "%s", body);
    return n < 0 || (size_t)n >= size ? -1 : n;
}
