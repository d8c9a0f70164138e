/* The routing configuration of the escalation router: departments (webhooks, SLA per
 * priority, business hours and time zone, escalation contact, signature), ordered rules
 * that match classified posts and set department, priority, tags and the
 * acknowledgement template, the priority tuning (influence tiers, verification,
 * virality, sentiment severity), case, acknowledgement and spike settings. Loaded from a
 * JSON file (ROUTING_CONFIG) or the built-in default (config/routing.json compiled in);
 * every error names the key path (rules[3].match.intent) or the line and column of a
 * syntax error. A loaded set is immutable: a reload builds a new one and swaps it. */
#ifndef ROUTER_RULES_H
#define ROUTER_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define ROUTER_N_PRIORITIES 4 /* P1 (most urgent) .. P4 */

struct router_strlist {
    char **v;
    size_t n;
};

struct router_webhook {
    char *url;
    bool slack;   /* Slack-compatible {"text": ...} instead of the JSON event */
    char *secret; /* HMAC-SHA256 key (from the env variable named by secret_env), or NULL
                   */
};

/* Business hours: the days and the local opening time range in a time zone. */
struct router_hours {
    bool always;    /* 24/7: SLA clocks run continuously */
    char *timezone; /* IANA name, e.g. "Europe/London" */
    unsigned days;  /* bit d set = open on weekday d (0 = Sunday) */
    int open_min;   /* minutes after local midnight */
    int close_min;  /* > open_min */
};

struct router_department {
    char *name;
    struct router_webhook *webhooks;
    size_t n_webhooks;
    int64_t sla_ms[ROUTER_N_PRIORITIES]; /* first-response budget per priority */
    struct router_hours hours;
    char *escalation_name;
    struct router_webhook escalation; /* url NULL when none (then the department hooks) */
    char *signature;                  /* signs acknowledgements */
};

/* One ordered rule: every given condition must hold (lists match any element). */
struct router_rule {
    char *name;
    struct router_strlist intent, topic, sentiment, language, platform, kind, region,
        source, keywords;
    double influence_min;    /* < 0 = any */
    double sentiment_max;    /* sentiment score at most this; > 1 = any */
    long long followers_min; /* < 0 = any */
    int department;          /* index into departments; -1 = keep the default */
    int priority;            /* 1..4; 0 = by intent */
    struct router_strlist tags;
    char *ack;    /* template name, "none", or NULL = by intent */
    bool review;  /* acknowledgement only after a person reviewed it */
    bool amplify; /* praise it matches also gets a case.amplify event */
};

struct router_tier {
    long long min_followers;
    int boost; /* priority levels raised */
    char *name;
};

struct router_rules {
    struct router_department *departments;
    size_t n_departments;
    struct router_rule *rules;
    size_t n_rules;
    int default_department;
    int intent_priority[8]; /* by enum in route.c order; see router_intent_index */
    /* priority tuning */
    struct router_tier *tiers; /* ordered by min_followers descending */
    size_t n_tiers;
    int verified_boost;
    double severe_score;  /* sentiment score at or below: raised one level */
    double viral_per_min; /* engagements per minute at or above: raised one level */
    int viral_boost;
    long long review_followers; /* acknowledgements to authors with at least this many
                                   followers wait for review */
    /* cases */
    int64_t reopen_window_ms;
    int last_posts;
    /* acknowledgements */
    int daily_cap;
    char *team_signature;
    char **template_names;
    char **template_texts;
    size_t n_templates;
    /* spikes */
    int64_t spike_bucket_ms;
    int spike_buckets; /* window = buckets * bucket_ms */
    double spike_factor;
    long long spike_min;
    double spike_alpha; /* baseline learning rate */
    int spike_samples;
    /* recurring phrases within a topic (phrases.h) */
    int phrases_per_post; /* 0: phrase spikes off */
    long long phrase_min;
    double phrase_factor;
    int phrase_history; /* buckets before the window that make a phrase's baseline */
};

/* @brief Parses a routing configuration from text (origin names it in errors).
 * @returns 0 with *out set (free with router_rules_free), or SC_EINVAL with err naming
 * the line/column or key path. */
int router_rules_parse(const char *text, size_t len, const char *origin,
                       struct router_rules **out, char *err, size_t err_size) SC_WUR;

/* @brief Loads path, or the built-in default when path is NULL or "". */
int router_rules_load(const char *path, struct router_rules **out, char *err,
                      size_t err_size) SC_WUR;

void router_rules_free(struct router_rules *rules);

/* @brief Department index by name, or -1. */
int router_rules_department(const struct router_rules *rules, const char *name);

/* @brief Template text by name, or NULL. */
const char *router_rules_template(const struct router_rules *rules, const char *name);

/* @brief True when tz is "UTC" or names a zone file under TZDIR (default
 *        /usr/share/zoneinfo, the tzdata package). */
bool router_timezone_known(const char *tz);

/* The built-in default configuration (config/routing.json, compiled in). */
extern const char router_default_config[];
extern const size_t router_default_config_len;

#endif
