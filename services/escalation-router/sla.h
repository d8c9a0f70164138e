/* SLA clocks: the due time of a first response given a department's business hours (days,
 * opening hours, IANA time zone) and the budget of the case's priority. The clock only
 * runs while the department is open: a P2 complaint on Friday evening is due on Monday
 * morning plus what is left of its budget. Time zones come from the system's zoneinfo
 * (tzdata), daylight saving included. */
#ifndef ROUTER_SLA_H
#define ROUTER_SLA_H

#include <stdint.h>

#include "rules.h"

/* @brief Wall time (ms) at which budget_ms of open business time has elapsed after
 *        start_ms. Thread-safe (time zone switching is serialised). */
int64_t router_sla_due(const struct router_hours *hours, int64_t start_ms,
                       int64_t budget_ms);

/* @brief True when the department is open at wall time t_ms. */
int router_sla_open(const struct router_hours *hours, int64_t t_ms);

#endif
