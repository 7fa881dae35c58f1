/*
 * datadog_meta.h: the Datadog sink's host metadata document (/intake/).
 */
#ifndef METERD_SINK_DATADOG_META_H
#define METERD_SINK_DATADOG_META_H

#include <stddef.h>

#include "buf.h"

/* Seconds between two host metadata documents, as the Datadog agent sends them. */
#define MD_DD_META_INTERVAL 1800

/* Append the v5 host metadata JSON for `host` with its host tags to b. */
void md_dd_meta_body(struct md_buf *b, const char *host, const char *const *tags, size_t ntags);

#endif
