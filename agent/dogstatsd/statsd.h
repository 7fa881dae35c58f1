/*
 * statsd.h: from parsed DogStatsD messages to aggregator points.
 *
 * This is the enrichment step of the Datadog agent: the metric namespace,
 * the blocklist, host: tags, dogstatsd_tags, packed values. It also keeps
 * the intake's telemetry (metrics, events, checks, errors by reason). It
 * owns no sockets, so the UDP/UDS intake, `meterd aggregate` and the tests
 * feed it the same way.
 */
#ifndef METERD_STATSD_H
#define METERD_STATSD_H

#include <stdint.h>

#include "aggregator.h"
#include "meterd/parse.h"
#include "point.h"

/*
 * Counted in samples (a packed message counts its values) except packets,
 * bytes, events, checks and errors (lines rejected before they became
 * samples, by reason). A sample counted in metrics may later be counted in
 * blocked or too_many_tags: those are drops of a sample, not rejected lines.
 */
struct md_statsd_stats {
    uint64_t packets;
    uint64_t bytes;
    uint64_t metrics;  /* metric samples parsed */
    uint64_t events;
    uint64_t service_checks;
    uint64_t blocked;  /* samples dropped by statsd_metric_blocklist */
    uint64_t too_many_tags; /* samples with more than MD_CTX_MAX_TAGS distinct tags once
                               enriched (see md_statsd_fast_key) */
    uint64_t errors[MD_PERR_COUNT];
};

struct md_statsd;
struct md_mapper_profile;

/* What the statsd stage does to each sample; lists are borrowed and must outlive it. */
struct md_statsd_opts {
    bool origin_detection_client;  /* dogstatsd_origin_detection_client */
    bool no_aggregation_pipeline;  /* dogstatsd_no_aggregation_pipeline */
    bool etsy;                     /* statsd_mode: etsy */
    const char *metric_namespace;  /* statsd_metric_namespace, "" = none */
    char *const *namespace_blocklist; /* prefixes that do not get the namespace */
    size_t nnamespace_blocklist;
    char *const *blocklist;        /* statsd_metric_blocklist */
    size_t nblocklist;
    char *const *tags;             /* dogstatsd_tags */
    size_t ntags;
    char *const *global_tags;      /* config `tags`: the aggregator adds them, and
                                      they count towards the tag limit */
    size_t nglobal_tags;
    const struct md_mapper_profile *mapper_profiles; /* checked at load */
    size_t nmapper_profiles;
};

/* NULL when out of memory. agg may be NULL (the intake threads only key samples). */
struct md_statsd *md_statsd_new(const struct md_statsd_opts *o, struct md_agg *agg);
void md_statsd_free(struct md_statsd *s);
/* Split one datagram into lines, parse and aggregate them. buf is modified. */
void md_statsd_datagram(struct md_statsd *s, char *buf, size_t len, bool truncated,
                        bool eol_required, double now);
const struct md_statsd_stats *md_statsd_stats(const struct md_statsd *s);
struct md_statsd_stats *md_statsd_stats_mut(struct md_statsd *s);
/* Parse, enrich and aggregate one line (no '\n'). */
void md_statsd_line(struct md_statsd *s, char *line, size_t len, double now);
/*
 * Enrichment alone: the point a metric sample becomes (first value only;
 * tags are views into s's scratch and the sample, valid until the next
 * call). When its tags, counting repeats and the global tags, are more
 * than the limit, each distinct tag is there once and the global tags are
 * left to the aggregator, which adds them. False when the blocklist drops
 * it or it has too many tags (counted as one sample).
 */
bool md_statsd_enrich(struct md_statsd *s, const struct md_sample *m, struct md_point *p);
/*
 * The intake's hot path: the context key of a sample, enrichment included,
 * in one pass over its tags and without building the point; works on a
 * sample parsed with lazy_tags (it picks up host: itself). 0, 1 when the
 * blocklist drops it, -E2BIG on too many tags (counted).
 *
 * The tag limit, here and in md_statsd_enrich alike: more than
 * MD_CTX_MAX_TAGS distinct tags in the context (the line's tags without
 * host: and dd.internal.*, dogstatsd_tags, the mapper's tags and the global
 * tags, each tag counted once however often it is repeated). The Datadog
 * agent counts the same way: its context key drops repeated tags before
 * dogstatsd_max_metrics_tags is checked.
 */
struct md_keyer;
int md_statsd_fast_key(struct md_statsd *s, const struct md_keyer *k, const struct md_sample *m,
                       uint64_t *key);
const struct md_parse_opts *md_statsd_parse_opts(const struct md_statsd *s);

#endif
