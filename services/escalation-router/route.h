/* Routing decisions of the escalation router as pure functions: department, priority with
 * its reasons, whether the customer gets an automatic acknowledgement, whether a person
 * must review it first, and the acknowledgement's text. */
#ifndef ROUTER_ROUTE_H
#define ROUTER_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#define ROUTER_MAX_REASONS 4

struct route_input {
    const char *intent;    /* complaint, question, ... */
    const char *topic;     /* classifier topic ("other" when none) */
    const char *sentiment; /* negative, neutral, positive */
    double influence;      /* 0..1 */
};

struct route_decision {
    const char *department; /* static string */
    const char *priority;   /* "P1" (most urgent) .. "P4" */
    bool acknowledge;       /* send an automatic acknowledgement */
    bool requires_review;   /* a person reads it before it goes out */
    const char *reasons[ROUTER_MAX_REASONS];
    size_t n_reasons;
};

/* @brief Decides department, priority and acknowledgement for a classified post. */
void router_route(const struct route_input *in, struct route_decision *out);

/* @brief Writes the acknowledgement for a customer (handle may be NULL) into buf.
 * @returns the length written, or -1 when buf is too small. */
int router_ack_text(const char *handle, const struct route_decision *d, char *buf,
                    size_t size);

/* @brief True when intent is one that gets an acknowledgement (complaint, bug report,
 *        crisis). */
bool router_intent_acknowledged(const char *intent);

#endif
