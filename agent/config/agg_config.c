/*
 * agg_config.c: the aggregator as the configuration describes it. Shared by
 * the daemon's pipeline and `meterd aggregate`, so both aggregate alike.
 */
#include <errno.h>
#include <string.h>

#include "aggregator.h"
#include "context.h"
#include "etsy.h"
#include "meterd/config.h"

/*
 * distribution_output: auto ships sketches only to Datadog's own intake
 * (an api_key and no dd_url, or a dd_url on a Datadog domain); anything
 * else that speaks the series API (VictoriaMetrics 1.79 ...) gets series.
 */
bool md_agg_dist_as_sketch(const struct md_config *c)
{
    if (c->distribution_output != MD_DIST_AUTO)
        return c->distribution_output == MD_DIST_SKETCH;
    if (!c->api_key || !c->api_key[0])
        return false;
    const char *u = c->dd_url ? c->dd_url : "";
    return !u[0] || strstr(u, ".datadoghq.") || strstr(u, "ddog-gov.com");
}

int md_agg_from_config(const struct md_config *c, const char *hostname, struct md_agg **out)
{
    struct md_agg_opts o = {
        .interval = (uint32_t)c->flush_interval,
        .grace = md_agg_grace(c->flush_interval),
        .expiry_seconds = c->dogstatsd_expiry_seconds,
        .context_expiry_seconds = c->dogstatsd_context_expiry_seconds,
        .hostname = hostname,
        .context_limit = (uint32_t)c->dogstatsd_context_limit,
        .etsy = c->statsd_mode == MD_MODE_ETSY,
    };
    struct md_str tags[MD_CTX_MAX_TAGS];
    size_t n = c->tags.n < MD_CTX_MAX_TAGS ? c->tags.n : MD_CTX_MAX_TAGS;
    for (size_t i = 0; i < n; i++)
        tags[i] = (struct md_str){c->tags.v[i], (uint32_t)strlen(c->tags.v[i])};
    o.tags = tags;
    o.ntags = (uint32_t)n;
    char err[256];
    int nt = md_etsy_thresholds_parse(c->percent_threshold.v, c->percent_threshold.n, o.thresholds,
                                      MD_ETSY_MAX_THRESHOLDS, err, sizeof err);
    if (nt < 0)
        return -EINVAL;
    o.nthresholds = (size_t)nt;
    o.hist_limit = (uint32_t)c->histogram_exact_samples;
    o.dist_sketch = md_agg_dist_as_sketch(c);
    if (md_hist_opts_parse(&o.hist, c->histogram_aggregates.v, c->histogram_aggregates.n,
                           c->histogram_percentiles.v, c->histogram_percentiles.n) != 0)
        return -EINVAL;
    *out = md_agg_new(&o);
    return *out ? 0 : -ENOMEM;
}
