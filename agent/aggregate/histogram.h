/*
 * histogram.h: timers and histograms, aggregated the way the Datadog agent
 * does it: weighted samples, sorted at flush, exact percentiles.
 */
#ifndef METERD_HISTOGRAM_H
#define METERD_HISTOGRAM_H

#include <stdbool.h>
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

/*
 * Most timers see a few samples a window, so the first MD_HIST_INLINE live
 * in the histogram itself: one 96-byte malloc chunk per timer window,
 * where a header and a separate sample array took 144. Past them the
 * samples move to an array of their own (heap, cap > 0).
 */
#define MD_HIST_INLINE 3

struct md_hist {
    union {
        struct md_hist_sample *heap; /* cap > 0: the samples */
        struct md_ddsketch *sk;      /* sketched: the bounded fallback for busy contexts */
    } u;
    uint32_t n, cap;
    int64_t count; /* sum of weights */
    double sum;    /* sum of value / rate */
    uint32_t limit; /* exact samples kept; past it, a sketch takes over (0 = no limit) */
    bool sketched;
    struct md_hist_sample inl[MD_HIST_INLINE]; /* cap == 0: the samples */
};

static inline const struct md_hist_sample *md_hist_samples(const struct md_hist *h)
{
    return h->cap ? h->u.heap : h->inl;
}

void md_hist_add(struct md_hist *h, double value, double rate);
/* Append the configured series to the frame and reset h for reuse. */
/* name and o (the suffixes) are borrowed by f: they must outlive it. */
int md_hist_flush(struct md_hist *h, const struct md_hist_opts *o, struct md_frame *f,
                  const char *name, const struct md_series_key *key, int64_t ts,
                  uint32_t interval);
void md_hist_free(struct md_hist *h);

#endif
