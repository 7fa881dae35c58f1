/*
 * module_opts.c: each module's options from the loaded configuration (see
 * module_opts.h). Only copies and small decisions happen here; every value
 * was parsed and checked when the configuration was loaded.
 */
#include "module_opts.h"

#include <string.h>

#include "etsy.h"
#include "meterd/sink.h"

/* Whether any sink that will run wants distributions as sketches: the sinks decide. */
static bool cfg_dist_sketch(const struct md_config *c)
{
    const struct md_sink_ops *ops[MD_CONFIG_MAX_SINK_KINDS];
    size_t n = md_config_sinks(c, ops, MD_CONFIG_MAX_SINK_KINDS);
    for (size_t i = 0; i < n; i++)
        if (ops[i]->sketches && ops[i]->sketches(md_config_sink_conf(c, ops[i])))
            return true;
    return false;
}

void md_config_agg_opts(const struct md_config *c, const char *hostname, struct md_str *tagbuf,
                        struct md_agg_opts *o)
{
    size_t n = c->tags.n < MD_CTX_MAX_TAGS ? c->tags.n : MD_CTX_MAX_TAGS;
    for (size_t i = 0; i < n; i++)
        tagbuf[i] = (struct md_str){c->tags.v[i], (uint32_t)strlen(c->tags.v[i])};
    *o = (struct md_agg_opts){
        .interval = (uint32_t)c->flush_interval,
        .grace = c->flush_interval >= 4 ? 1.0 : c->flush_interval / 4.0,
        .expiry_seconds = c->dogstatsd_expiry_seconds,
        .context_expiry_seconds = c->dogstatsd_context_expiry_seconds,
        .hostname = hostname,
        .tags = tagbuf,
        .ntags = (uint32_t)n,
        .context_limit = (uint32_t)c->dogstatsd_context_limit,
        .collector_limit = (uint32_t)c->collector_context_limit,
        .etsy = c->statsd_mode == MD_MODE_ETSY,
        .hist_limit = (uint32_t)c->histogram_exact_samples,
        .dist_sketch = cfg_dist_sketch(c),
        .hist = {.aggregates = c->histogram_aggregates},
    };
    const struct md_numlist *pl = &c->histogram_percentiles;
    for (size_t i = 0; i < pl->n && i < MD_HIST_MAX_PERCENTILES; i++)
        o->hist.percentiles[o->hist.npercentiles++] = pl->v[i];
    const struct md_numlist *tl = &c->percent_threshold;
    for (size_t i = 0; i < tl->n && i < MD_ETSY_MAX_THRESHOLDS; i++)
        o->thresholds[o->nthresholds++] = tl->v[i];
    if (o->nthresholds == 0) /* `percent_threshold: []`: etsy's own default */
        o->thresholds[o->nthresholds++] = MD_ETSY_DEFAULT_THRESHOLD;
}

void md_config_statsd_opts(const struct md_config *c, struct md_statsd_opts *o)
{
    *o = (struct md_statsd_opts){
        .origin_detection_client = c->dogstatsd_origin_detection_client,
        .no_aggregation_pipeline = c->dogstatsd_no_aggregation_pipeline,
        .etsy = c->statsd_mode == MD_MODE_ETSY,
        .metric_namespace = c->statsd_metric_namespace ? c->statsd_metric_namespace : "",
        .namespace_blocklist = c->statsd_metric_namespace_blocklist.v,
        .nnamespace_blocklist = c->statsd_metric_namespace_blocklist.n,
        .blocklist = c->statsd_metric_blocklist.v,
        .nblocklist = c->statsd_metric_blocklist.n,
        .tags = c->dogstatsd_tags.v,
        .ntags = c->dogstatsd_tags.n,
        .global_tags = c->tags.v,
        .nglobal_tags = c->tags.n,
        .mapper_profiles = c->dogstatsd_mapper_profiles.v,
        .nmapper_profiles = c->dogstatsd_mapper_profiles.n,
    };
}

void md_config_pipeline_opts(const struct md_config *c, const char *hostname,
                             struct md_pipeline_opts *o)
{
    memset(o, 0, sizeof *o);
    md_config_agg_opts(c, hostname, o->tagv, &o->agg);
    md_config_statsd_opts(c, &o->statsd);
    o->udp_port = c->dogstatsd_port;
    /* "::" is dual-stack (IPv4 and IPv6), as the agent's ":8125"; v4 only without IPv6 */
    o->udp_host = c->dogstatsd_non_local_traffic ? "::" : c->bind_host;
    o->uds_path = c->dogstatsd_socket && c->dogstatsd_socket[0] ? c->dogstatsd_socket : NULL;
    o->uds_mode = c->dogstatsd_socket_mode;
    o->eol_udp = c->dogstatsd_eol_required & MD_EOL_UDP;
    o->eol_uds = c->dogstatsd_eol_required & MD_EOL_UDS;
    o->so_rcvbuf = c->dogstatsd_so_rcvbuf;
    o->buffer_size = (size_t)c->dogstatsd_buffer_size;
    o->threads = (unsigned)c->dogstatsd_pipeline_count;
    o->ring_size = (size_t)c->dogstatsd_ring_size;
    o->block_on_full = c->dogstatsd_ring_full_policy == MD_RING_BLOCK;
}
