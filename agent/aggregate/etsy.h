/*
 * etsy.h: flush statistics the way etsy statsd (statsd/statsd 0.9/0.10)
 * computes them, for `statsd_mode: etsy`.
 *
 * People moving off a stock statsd server keep their graphite dashboards only
 * if the numbers and the names match: `stats.timers.<key>.mean_90`,
 * `stats.counters.<key>.rate`, relative gauges, sanitised keys. These
 * functions hold etsy's formulas (lib/process_metrics.js, stats.js) and the
 * graphite backend's naming (non-legacy namespace, global prefix "stats");
 * the aggregator keeps the raw state and calls them when a window seals.
 * Every point is appended as a gauge: etsy has already turned counts into
 * per-interval values, so a backend must not rate them again.
 */
#ifndef METERD_ETSY_H
#define METERD_ETSY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "histogram.h"
#include "meterd/frame.h"

/* Thresholds kept per agent; etsy's default is a single 90. */
#define MD_ETSY_MAX_THRESHOLDS 16
#define MD_ETSY_DEFAULT_THRESHOLD 90.0

/*
 * The name part etsy derives from a threshold: the number as JavaScript
 * prints it, first '.' -> '_', first '-' -> "top" (90 -> "90",
 * 99.9 -> "99_9", -10 -> "top10"). Returns the length, or -ENOSPC.
 */
int md_etsy_threshold_suffix(double pct, char *buf, size_t cap);

/*
 * Key sanitising of stats.js: each run of whitespace -> one '_', '/' -> '-',
 * anything else outside [A-Za-z0-9_.;=-] dropped. out must hold n bytes
 * (it never grows); in and out may be the same buffer. Returns the new
 * length. Not NUL-terminated.
 */
size_t md_etsy_sanitize(const char *in, size_t n, char *out);

/*
 * A gauge sample: text that began with '+' or '-' (MD_SAMPLE_SIGNED) moves
 * an existing gauge by v, anything else sets it. Returns the new value.
 */
double md_etsy_gauge_apply(bool has_prev, double prev, double v, bool signed_text);

/*
 * Timer statistics of one key for one flush. h holds each received value
 * once (weights ignored); timer_count is etsy's timer_counters[key], the sum
 * of 1/rate over the samples. Emits `stats.timers.<name>.` + per threshold
 * count_N mean_N upper_N|lower_topN sum_N sum_squares_N, then std upper
 * lower count count_ps sum sum_squares mean median. An empty h emits count
 * and count_ps as 0, as etsy does for an idle timer. h is not modified (the
 * caller resets it). Returns 0, -ENOMEM, or -EINVAL if interval is 0.
 */
int md_etsy_timer_flush(const struct md_hist *h, double timer_count, const double *thresholds,
                        size_t nthresholds, struct md_frame *f, const char *name, size_t name_len,
                        const struct md_series_key *key, int64_t ts, uint32_t interval);

/* `stats.counters.<name>.rate` = sum / interval and `.count` = sum. */
int md_etsy_counter_flush(double sum, struct md_frame *f, const char *name, size_t name_len,
                          const struct md_series_key *key, int64_t ts, uint32_t interval);

/* `stats.gauges.<name>` = value (etsy re-sends the last value every flush). */
int md_etsy_gauge_flush(double value, struct md_frame *f, const char *name, size_t name_len,
                        const struct md_series_key *key, int64_t ts, uint32_t interval);

/* `stats.sets.<name>.count` = number of distinct members. */
int md_etsy_set_flush(double count, struct md_frame *f, const char *name, size_t name_len,
                      const struct md_series_key *key, int64_t ts, uint32_t interval);

#endif
