/*
 * datadog.h: the Datadog sink's own keys. They sit at the top level of
 * meterd.yaml under datadog.yaml's names, so a Datadog agent's file keeps
 * working; the config engine fills this struct from the sink's key table.
 */
#ifndef METERD_SINK_DATADOG_H
#define METERD_SINK_DATADOG_H

#include <stdbool.h>
#include <stddef.h>

enum md_dist_output { MD_DIST_AUTO = 0, MD_DIST_SKETCH, MD_DIST_SERIES };
/* use_v2_api.series: auto (by the intake), true, false. */
enum md_v2_series { MD_V2_AUTO = 0, MD_V2_ON, MD_V2_OFF };
/* serializer_compressor_kind: auto (by the intake), zstd, zlib. */
enum md_dd_compressor { MD_DD_COMP_AUTO = 0, MD_DD_COMP_ZSTD, MD_DD_COMP_ZLIB };

struct md_datadog_conf {
    char *api_key; /* secret: never log; only copied into a header */
    char *site;    /* datadoghq.com */
    char *dd_url;  /* overrides site when set; may hold credentials */
    enum md_dist_output distribution_output;
    enum md_v2_series use_v2_series;
    enum md_dd_compressor compressor_kind;
    int zstd_level;
};

/* The intake's base URL (dd_url, else https://api.<site>), no trailing slash; malloc'd, NULL when out of memory. */
char *md_sink_datadog_base_url(const struct md_datadog_conf *c);

/* Whether a URL's host is one of Datadog's sites (datadoghq.com, .eu, ddog-gov.com) or under one. */
bool md_sink_datadog_is_site(const char *url);

/*
 * Lets tests of the frame's own payloads leave out what the sink adds as
 * the agent (host metadata, datadog.agent.running); on by default.
 */
int md_sink_datadog_set_agent_items(void *state, bool on);
/* Lets tests exercise splitting with small frames (v1 and v2 bodies alike); 0 restores a default. */
int md_sink_datadog_set_limits(void *state, size_t max_compressed, size_t max_uncompressed);

#endif
