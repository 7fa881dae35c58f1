/*
 * module_opts.h: the loaded configuration turned into each module's own
 * options. The aggregator, the statsd stage and the pipeline never see
 * struct md_config: they get typed option structs built here, so a module
 * can be set up (by the daemon, `meterd aggregate` or a test) without a
 * configuration file, and a key's meaning is decided in one place.
 */
#ifndef METERD_MODULE_OPTS_H
#define METERD_MODULE_OPTS_H

#include "aggregator.h"
#include "context.h"
#include "meterd/config.h"
#include "pipeline.h"
#include "statsd.h"

/*
 * Aggregator options. tagbuf (MD_CTX_MAX_TAGS entries) holds views of the
 * config's tags; it and c must outlive md_agg_new. Distributions are kept
 * as sketches when a sink that will run asks for them.
 */
void md_config_agg_opts(const struct md_config *c, const char *hostname, struct md_str *tagbuf,
                        struct md_agg_opts *o);

/* Statsd stage options; they borrow c's lists, so c must outlive the stage. */
void md_config_statsd_opts(const struct md_config *c, struct md_statsd_opts *o);

/* Everything the pipeline needs; o->agg.tags points into o->tagv (do not copy o). */
void md_config_pipeline_opts(const struct md_config *c, const char *hostname,
                             struct md_pipeline_opts *o);

#endif
