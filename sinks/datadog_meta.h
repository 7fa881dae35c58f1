/*
 * datadog_meta.h: the Datadog sink's host metadata document (/intake/).
 */
#ifndef METERD_SINK_DATADOG_META_H
#define METERD_SINK_DATADOG_META_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Seconds between two host metadata documents, as the Datadog agent sends them. */
#define MD_DD_META_INTERVAL 1800

/* Append the v5 host metadata JSON for `host` with its host tags to b. */
void md_dd_meta_body(struct md_buf *b, const char *host, const char *const *tags, size_t ntags);

/*
 * Whether the document is due at `now` (unix seconds); the caller that gets
 * true owns this turn and the next is due an interval later. Encodes run on
 * several workers: one of two at the same instant wins.
 */
bool md_dd_meta_take(_Atomic int64_t *due, int64_t now);

/*
 * Whether the frame of window `start` is the first of that window to carry
 * datadog.agent.running: a window can reach the sink as several frames
 * (late samples, slices), and the agent sends the series once a flush.
 */
bool md_dd_running_take(_Atomic int64_t *last, int64_t start);

/* datadog.agent.running of one window (value 1, the agent's host), as a series item. */
void md_dd_running_item(struct md_buf *b, const char *host, int64_t start, uint32_t interval);

#endif
