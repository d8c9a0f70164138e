/* Routing decisions of the escalation router as pure functions over a loaded routing
 * configuration (rules.h): the first matching rule picks department, base priority,
 * tags and acknowledgement template; the priority maths then raises the priority for
 * sentiment severity, author influence (follower tiers, verification) and virality
 * (engagement velocity), recording a reason for each step; the acknowledgement policy
 * decides whether the post may get an automatic message at all. */
#ifndef ROUTER_ROUTE_H
#define ROUTER_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "rules.h"

#define ROUTER_MAX_REASONS 8

/* Intents as the classifier spells them, in this order (index = router_intent_index). */
enum router_intent {
    ROUTER_INTENT_COMPLAINT,
    ROUTER_INTENT_QUESTION,
    ROUTER_INTENT_BUG_REPORT,
    ROUTER_INTENT_PRAISE,
    ROUTER_INTENT_SPAM,
    ROUTER_INTENT_CRISIS,
    ROUTER_INTENT_OTHER,
    ROUTER_INTENT_COUNT
};

struct route_input {
    const char *intent;     /* complaint, question, ... */
    const char *topic;      /* classifier topic ("other" when none) */
    const char *sentiment;  /* negative, neutral, positive */
    double sentiment_score; /* -1 .. 1 */
    double influence;       /* 0..1 */
    const char *language;   /* may be NULL */
    const char *platform;
    const char *kind;        /* mention | reply | dm | comment | review */
    const char *region;      /* may be NULL */
    const char *source_type; /* "search" for brand-term search results; may be NULL */
    const char *text;        /* may be NULL */
    long long followers;
    bool verified;
    double engagement_per_min; /* (likes + reposts + replies) / minutes since posted */
};

/* What the automatic acknowledgement does for this post. */
enum route_ack {
    ROUTE_ACK_NONE,  /* no automatic message */
    ROUTE_ACK_CASE,  /* acknowledge the case (once per case) */
    ROUTE_ACK_THANKS /* thank the customer (once per case) */
};

struct route_decision {
    const char *department; /* borrowed from the rules */
    int department_index;
    int priority;     /* 1 (most urgent) .. 4 */
    const char *rule; /* name of the matching rule, NULL for the defaults */
    const struct router_strlist *tags; /* borrowed; NULL when none */
    enum route_ack ack;
    const char *ack_template; /* template text, NULL when ack is NONE */
    const char *ack_why;  /* why no acknowledgement (static), NULL when there is one */
    bool requires_review; /* a person reads it before it goes out */
    bool amplify;         /* the matching rule asks for a case.amplify event */
    const char *reasons[ROUTER_MAX_REASONS];
    size_t n_reasons;
};

/* @brief Index of an intent name in enum router_intent, or -1. */
int router_intent_index(const char *intent);

/* @brief Parses "P1".."P4". @returns 1..4, or 0 when malformed. */
int router_priority_parse(const char *text);

/* @brief "P1".."P4" for 1..4 (static). */
const char *router_priority_name(int priority);

/* @brief True when the rule's conditions all hold for in. */
bool router_rule_matches(const struct router_rule *rule, const struct route_input *in);

/* @brief Applies the priority maths to a base priority (1..4) and records reasons in d.
 * @returns the raised priority (never above P1; spam is never raised). */
int router_priority(const struct router_rules *rules, int base,
                    const struct route_input *in, struct route_decision *d);

/* @brief Decides department, priority, tags, review and acknowledgement for a post. */
void router_route(const struct router_rules *rules, const struct route_input *in,
                  struct route_decision *out);

/* @brief Renders an acknowledgement template: {handle} ("@jane", or "" without a
 *        handle), {case} (case reference), {signature}, {department}. A leading blank
 * left by an empty handle is dropped.
 * @returns the length written, or -1 when buf is too small. */
int router_ack_render(const char *tpl, const char *handle, const char *case_ref,
                      const char *signature, const char *department, char *buf,
                      size_t size);

/* @brief Engagement per minute of a post: interactions divided by its age (at least one
 *        minute). */
double router_engagement_velocity(long long interactions, long long created_ms,
                                  long long now_ms);

#endif
