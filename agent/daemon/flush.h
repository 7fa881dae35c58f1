/*
 * flush.h: from sealed frames to payloads on their way out.
 *
 * The flusher owns the configured sinks. For each frame it encodes the
 * series a slice at a time with every sink, compresses each slice's
 * payloads before encoding the next (the uncompressed text of a big window
 * never exists all at once), and hands them to the forwarder, or writes
 * them to standard output for sinks whose transport is stdout. The daemon
 * does this on the libuv thread pool so that intake never waits for a
 * flush; `meterd aggregate` calls the same encoder directly.
 *
 * Threads: md_flusher_frame, md_flusher_busy and the stats run on the loop
 * thread; the encoding runs on the pool and touches only its job and the
 * sinks' encode callbacks, which the sink interface requires to be safe to
 * call for two frames at once.
 */
#ifndef METERD_FLUSH_H
#define METERD_FLUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "meterd/config.h"
#include "meterd/frame.h"
#include "meterd/sink.h"

#define MD_FLUSH_MAX_SINKS 8

struct md_forwarder;
struct md_flusher;

/* Runs on the loop thread each time a frame's payloads have been handed over. */
typedef void (*md_flush_idle_fn)(void *ud);

struct md_flush_opts {
    const char *hostname;      /* the agent's host name, for the sinks; borrowed */
    uv_loop_t *loop;           /* NULL: only md_flusher_encode may be used */
    struct md_forwarder *fwd;  /* HTTP payloads go here; NULL drops them */
    md_flush_idle_fn idle;     /* optional */
    void *idle_ud;
};

/*
 * The sinks the config runs (md_config_sinks), or only the sink named
 * `only`, each created from its own keys in cfg. Returns 0, or a negative
 * errno with a message in err for an unknown sink or one that refuses its
 * keys. cfg must outlive the flusher (a sink may keep its keys).
 */
int md_flusher_new(const struct md_config *cfg, const char *only, const struct md_flush_opts *o,
                   struct md_flusher **out, char *err, size_t errlen);
void md_flusher_free(struct md_flusher *fl);

/* A frame from the aggregator: takes ownership of f (and of the struct itself). */
void md_flusher_frame(struct md_flusher *fl, struct md_frame *f);

/* From now on HTTP payloads are dropped: the forwarder is going away. */
void md_flusher_detach(struct md_flusher *fl);

/* Frames still on the thread pool. */
int md_flusher_busy(const struct md_flusher *fl);

/*
 * Encode f with every sink into a payload list (tail-appended to *out),
 * sliced as the daemon slices it; compressed when `compress`. Payloads of
 * stdout sinks have no URL. The caller frees the list.
 */
void md_flusher_encode(struct md_flusher *fl, const struct md_frame *f, bool compress,
                       struct md_payload **out);

struct md_flush_stats {
    uint64_t frames, series;
    double last_flush; /* unix seconds of the last non-empty frame, 0 = none yet */
};
void md_flusher_stats(const struct md_flusher *fl, struct md_flush_stats *out);
/*
 * With openmetrics_expose_series: the last flushed window's series as
 * OpenMetrics families (expose.h), appended to b; nothing otherwise.
 */
void md_flusher_metrics(const struct md_flusher *fl, struct md_buf *b);
/* Name of sink i, NULL past the last. */
const char *md_flusher_sink_name(const struct md_flusher *fl, size_t i);

#endif
