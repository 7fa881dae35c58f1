/*
 * aggregator.h: contexts and time windows.
 *
 * Points are folded into per-context state for the window their arrival
 * time falls in (windows are `interval` seconds long, aligned to the epoch,
 * stamped with their start). md_agg_flush seals every window whose end has
 * passed (plus a grace period) and returns one frame with their series.
 * Points with their own timestamp (|T), events and service checks skip
 * aggregation and go out with the next frame. One aggregator is owned by
 * one thread; it takes no locks.
 */
#ifndef METERD_AGGREGATOR_H
#define METERD_AGGREGATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "histogram.h"
#include "meterd/frame.h"
#include "point.h"

struct md_agg_opts {
    uint32_t interval;         /* window length, seconds */
    double grace;              /* seconds after a window's end before it is sealed */
    int expiry_seconds;        /* counters zero-fill this long after their last sample */
    int context_expiry_seconds;/* idle contexts are freed after this */
    const char *hostname;      /* host of points without a host */
    const struct md_str *tags; /* added to every point (config `tags`) */
    uint32_t ntags;
    struct md_hist_opts hist;
    uint32_t context_limit;    /* DogStatsD contexts (dogstatsd_context_limit), 0 = none */
    uint32_t collector_limit;  /* the agent's own (collector_context_limit), 0 = none */
    bool etsy;                 /* statsd_mode: etsy */
    double thresholds[16];     /* etsy percent_threshold, at least one */
    size_t nthresholds;
    uint32_t hist_limit;       /* histogram_exact_samples (0 = unbounded) */
    bool dist_sketch;          /* distributions leave as sketches, else as series */
};

struct md_agg_stats {
    uint64_t points;
    uint64_t contexts_live;
    uint64_t contexts_created;
    uint64_t contexts_expired;
    uint64_t context_limit_drops;
    uint64_t nonfinite_drops;
    uint64_t too_many_tags;
    uint64_t timestamped;
    uint64_t late_flushes; /* windows pushed out early because a flush was late */
    uint64_t contexts_collector;     /* live contexts of the agent's own points */
    uint64_t collector_limit_drops;  /* their samples dropped by collector_context_limit */
    /* Counted in points, then not stored: */
    uint64_t timestamp_type_drops; /* |T on a type other than gauge and count (as the agent) */
    uint64_t alloc_drops;          /* out of memory, or a clock outside 1970..2106 */
};

struct md_agg;

struct md_agg *md_agg_new(const struct md_agg_opts *o);
void md_agg_free(struct md_agg *a);
/* Fold one point in, at time `now` (seconds since the epoch). */
void md_agg_add(struct md_agg *a, const struct md_point *p, double now);
/*
 * The same for the agent's own points (collectors, checks, containers,
 * meterd.* telemetry): a context it creates counts against
 * collector_limit instead of context_limit, so statsd names can never
 * crowd them out.
 */
void md_agg_add_internal(struct md_agg *a, const struct md_point *p, double now);
/*
 * The fast path of the threaded intake: the intake thread parsed and keyed
 * the sample already. Returns -ENOENT when the context does not exist yet;
 * the caller then re-parses the line and uses md_agg_add, which creates it.
 */
struct md_fast {
    int type;
    double value;
    double rate;
    uint64_t member_hash; /* sets */
    double now;
    bool signed_value;    /* etsy gauge delta */
};
int md_agg_add_fast(struct md_agg *a, uint64_t key, const struct md_fast *v);
/* Queue an event or a service check for the next frame. */
void md_agg_add_event(struct md_agg *a, const struct md_event *e, double now);
void md_agg_add_check(struct md_agg *a, const struct md_service_check *c, double now);
/*
 * Seal windows ended before now - grace (all open windows when `all`) into
 * *out (initialised here; the caller frees it with md_frame_free).
 * Returns the number of windows sealed.
 */
int md_agg_flush(struct md_agg *a, double now, bool all, struct md_frame *out);
/*
 * The same in steps, so that the caller can take new samples between them
 * (md_agg_flush must not be called while such a seal is in progress):
 * begin fixes the windows to seal (false: none; take still returns the
 * pending events and points); each step seals up to `budget` table slots
 * and returns true once all are done; take then hands over the frame and
 * returns the number of windows sealed. Samples added meanwhile go to later
 * windows, and the frame is what an all-at-once seal at `now` would give.
 */
bool md_agg_seal_begin(struct md_agg *a, double now, bool all);
bool md_agg_seal_step(struct md_agg *a, uint32_t budget);
int md_agg_seal_take(struct md_agg *a, struct md_frame *out);
/*
 * Between steps: the series sealed so far, and handing them over as a
 * frame of their own (`continued` is set on the frames after the first),
 * so that a big window never exists as one frame. Events, checks and
 * sketches go with the first part.
 */
size_t md_agg_seal_series(const struct md_agg *a);
void md_agg_seal_take_part(struct md_agg *a, struct md_frame *out);
/*
 * Frames handed out and not freed yet. Frames borrow the contexts'
 * strings: free them before md_agg_free. Any thread may free a frame.
 */
uint64_t md_agg_frames_out(const struct md_agg *a);
const struct md_agg_stats *md_agg_stats(const struct md_agg *a);

#endif
