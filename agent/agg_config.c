/*
 * agg_config.c: the aggregator as the configuration describes it. Shared by
 * the daemon's pipeline and `meterd aggregate`, so both aggregate alike.
 */
#include <errno.h>
#include <string.h>

#include "aggregator.h"
#include "context.h"
#include "meterd/config.h"

int md_agg_from_config(const struct md_config *c, const char *hostname, struct md_agg **out)
{
    struct md_agg_opts o = {
        .interval = (uint32_t)c->flush_interval,
        .grace = c->flush_interval >= 4 ? 1.0 : c->flush_interval / 4.0,
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
    if (md_hist_opts_parse(&o.hist, c->histogram_aggregates.v, c->histogram_aggregates.n,
                           c->histogram_percentiles.v, c->histogram_percentiles.n) != 0)
        return -EINVAL;
    *out = md_agg_new(&o);
    return *out ? 0 : -ENOMEM;
}
