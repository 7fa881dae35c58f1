/*
 * expose.h: the last flushed window's series on /metrics
 * (openmetrics_expose_series), for a Prometheus that scrapes instead of
 * receiving remote write.
 *
 * A frame is rendered on the thread pool, next to its encoding: one
 * OpenMetrics sample line per series, named and labelled as the
 * prometheus_rw sink does (md_prw_series_text), sorted by metric name so
 * each family's samples are one group under one TYPE line, as OpenMetrics
 * requires. The loop thread keeps the newest window: a part of the same
 * window (a big window comes in several frames) is merged into it, a
 * newer window replaces it. Every series is a gauge holding the value the
 * sinks ship, with the window's start as its timestamp.
 */
#ifndef METERD_EXPOSE_H
#define METERD_EXPOSE_H

#include <stdint.h>

#include "buf.h"
#include "meterd/frame.h"

/* Sample lines of one frame, sorted by metric name. */
struct md_expose_part;
struct md_expose;

/* Any thread: render frame f (borrowed). NULL when out of memory. */
struct md_expose_part *md_expose_render(const struct md_frame *f);
void md_expose_part_free(struct md_expose_part *p);

struct md_expose *md_expose_new(void);
void md_expose_free(struct md_expose *e);
/* Loop thread: keep part (taken) as, or in, the last window. */
void md_expose_add(struct md_expose *e, struct md_expose_part *part);
/* Loop thread: the last window's families and samples, appended to b. */
void md_expose_write(const struct md_expose *e, struct md_buf *b);

#endif
