/*
 * point.h: one value on its way into the aggregator, in normalised form.
 *
 * The statsd path turns a parsed md_sample into points; collectors emit
 * points through the runner. Strings are views, valid only during the call
 * that receives the point: the aggregator interns what it keeps.
 */
#ifndef METERD_POINT_H
#define METERD_POINT_H

#include "meterd/sample.h"

/* Collector-only kind beside enum md_mtype: a delta shipped as a Datadog count. */
#define MD_MONOTONIC_COUNT MD_MTYPE_COUNT

struct md_point {
    struct md_str name;
    int type;               /* enum md_mtype, or MD_MONOTONIC_COUNT */
    double value;
    struct md_str member;   /* the set member, for MD_SET */
    double sample_rate;     /* 1.0 unless sampled */
    struct md_str host;
    bool has_host;          /* false: the agent's hostname */
    const struct md_str *tags;
    uint32_t ntags;
    int64_t timestamp;      /* seconds; 0 = now */
    bool signed_value;      /* the value text had a sign: an etsy gauge delta */
};

/* Where points go: the aggregator in the daemon, a printer in `meterd check`. */
struct md_point_sink {
    void (*point)(void *ud, const struct md_point *p);
    void *ud;
};

#endif
