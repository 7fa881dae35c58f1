/*
 * budget.h: a cap on live contexts of one origin, and what it says when hit.
 *
 * The aggregator keeps two: one for DogStatsD (dogstatsd_context_limit) and
 * one for the agent's own series (collectors, checks, containers and
 * meterd.* telemetry: collector_context_limit), so that a flood of statsd
 * names fills only its own budget and never takes a slot a host metric
 * needs. A sample that would create a context past its budget is dropped
 * and counted. The first such drop logs one line naming the limit, its
 * value and the key that raises it; after that at most one line a minute
 * reports the drops since the previous line (a flood of millions of names
 * must not become millions of log lines). Time is the caller's: the
 * aggregator's sample time, so tests drive it without a clock.
 */
#ifndef METERD_BUDGET_H
#define METERD_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#define MD_BUDGET_LOG_EVERY 60.0 /* seconds between two lines about one budget */

struct md_budget {
    const char *key;   /* the config key that sets limit */
    const char *what;  /* "DogStatsD", "collector" */
    uint32_t limit;    /* 0 = none */
    uint32_t live;     /* contexts held against it */
    uint64_t drops;    /* samples dropped at the limit, ever */
    uint64_t logged;   /* drops already reported in a log line */
    double last_log;   /* time of the last line; 0 = the limit was never hit */
    uint64_t lines;    /* log lines written */
};

void md_budget_init(struct md_budget *b, const char *key, const char *what, uint32_t limit);
/* Take a slot for a new context: false (the sample is dropped and counted) when full. */
bool md_budget_take(struct md_budget *b, double now);
/* A context counted against b was removed. */
void md_budget_release(struct md_budget *b);
/* Once a window: report drops not yet reported once a minute has passed. */
void md_budget_tick(struct md_budget *b, double now);

#endif
