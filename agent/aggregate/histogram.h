/*
 * histogram.h: timers and histograms, aggregated the way the Datadog agent
 * does it: weighted samples, sorted at flush, exact percentiles.
 */
#ifndef METERD_HISTOGRAM_H
#define METERD_HISTOGRAM_H

#include <stdint.h>

#include "ddsketch.h"
#include "meterd/frame.h"

/* Which aggregates to emit (histogram_aggregates; the config lists them in this order). */
enum {
    MD_HAGG_MAX = 1 << 0,
    MD_HAGG_MIN = 1 << 1,
    MD_HAGG_MEDIAN = 1 << 2,
    MD_HAGG_AVG = 1 << 3,
    MD_HAGG_SUM = 1 << 4,
    MD_HAGG_COUNT = 1 << 5,
};

#define MD_HIST_MAX_PERCENTILES 16

struct md_hist_opts {
    unsigned aggregates;                       /* MD_HAGG_* bits */
    double percentiles[MD_HIST_MAX_PERCENTILES]; /* in (0,1) */
    unsigned npercentiles;
    char pct_suffix[MD_HIST_MAX_PERCENTILES][24]; /* ".95percentile": frames borrow these */
};
/* Fill pct_suffix from percentiles (the aggregator does, on its own copy of the options). */
void md_hist_opts_suffixes(struct md_hist_opts *o);

struct md_hist_sample {
    double value;
    int64_t weight;
};

struct md_hist {
    struct md_hist_sample *s;
    uint32_t n, cap;
    uint32_t limit;          /* exact samples kept; past it, sk takes over (0 = no limit) */
    struct md_ddsketch *sk;  /* bounded fallback for very busy contexts */
    int64_t count; /* sum of weights */
    double sum;    /* sum of value / rate */
};

void md_hist_add(struct md_hist *h, double value, double rate);
/* Append the configured series to the frame and reset h for reuse. */
/* name and o (the suffixes) are borrowed by f: they must outlive it. */
int md_hist_flush(struct md_hist *h, const struct md_hist_opts *o, struct md_frame *f,
                  const char *name, const struct md_series_key *key, int64_t ts,
                  uint32_t interval);
void md_hist_free(struct md_hist *h);

#endif
