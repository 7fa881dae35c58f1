/*
 * pipeline.h: the threaded DogStatsD path.
 *
 *   intake thread 1..N ──SPSC ring──┐
 *   (own SO_REUSEPORT socket,       ├──► aggregator thread ──SPSC ring──► loop (frames)
 *    recvmmsg, parse, key)          │    (contexts, windows)
 *   loop thread (collectors) ──ring─┘
 *
 * Intake threads parse and key each sample and publish small records in
 * batches; the aggregator thread owns the aggregator and is the only one to
 * touch contexts, so nothing on the path takes a lock. Sealed windows come
 * back to the libuv loop as frames through a third kind of ring and a
 * uv_async wake-up.
 *
 * With one intake thread (dogstatsd_pipeline_count: 1, or a process allowed
 * on one core), that thread owns the aggregator itself and there is no
 * aggregator thread: on a shared core the two would only take turns, and
 * the intake would wait on a full ring while datagrams queue in the kernel.
 */
#ifndef METERD_PIPELINE_H
#define METERD_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "aggregator.h"
#include "context.h"
#include "point.h"
#include "statsd.h"

struct md_pipeline;

/* Frames handed to the loop; the callee owns the frame (md_frame_free + free). */
typedef void (*md_frame_fn)(void *ud, struct md_frame *f);

/* Everything the pipeline is built from (agent/config/module_opts.c fills it from the config). */
struct md_pipeline_opts {
    struct md_agg_opts agg;       /* hostname and tags also key the intake threads' samples */
    struct md_str tagv[MD_CTX_MAX_TAGS]; /* storage agg.tags may point into */
    struct md_statsd_opts statsd;
    int udp_port;                 /* 0 = no UDP intake */
    const char *udp_host;         /* address to bind */
    const char *uds_path;         /* unix datagram socket, NULL = none */
    int uds_mode;                 /* its permissions */
    bool eol_udp, eol_uds;        /* packets must end in a newline */
    int so_rcvbuf;                /* 0 = OS default */
    size_t buffer_size;           /* largest datagram */
    unsigned threads;             /* UDP intake threads, 0 = one per usable core; 1 aggregates inline */
    size_t ring_size;             /* records per intake ring, power of two */
    bool block_on_full;           /* a full ring stops its reader instead of dropping */
};

/* o and the lists it borrows must outlive the pipeline. NULL with a reason in err. */
struct md_pipeline *md_pipeline_new(const struct md_pipeline_opts *o, char *err, size_t errlen);
/*
 * Origin detection (before md_pipeline_start): intake threads add the
 * sender container's tags from `store`, by the sender's pid on the unix
 * socket (by_pid) and/or a client's |c: field (by_field); card is the
 * default cardinality (0 low, 1 orchestrator, 2 high). 0 or -errno.
 */
struct md_containers;
int md_pipeline_set_origin(struct md_pipeline *p, struct md_containers *store, const char *procfs,
                           bool by_pid, bool by_field, int card);
/* tagged, no_container, too_long, lookups: see origin.h. */
void md_pipeline_origin_stats(struct md_pipeline *p, uint64_t out[4]);
int md_pipeline_start(struct md_pipeline *p, uv_loop_t *loop, md_frame_fn fn, void *ud);
/* Ask the aggregator to seal what is due (all open windows when `all`). */
void md_pipeline_flush(struct md_pipeline *p, bool all);
/*
 * A feed: datagrams pushed by the calling thread instead of read from a
 * socket (`meterd aggregate`). Open it before md_pipeline_start; each
 * md_pipeline_feed then runs exactly an intake thread's path (split, parse,
 * key cache, ring) on one datagram received at `now`; buf is modified. A
 * full ring makes the caller wait instead of dropping.
 */
int md_pipeline_feed_open(struct md_pipeline *p, bool eol_required);
void md_pipeline_feed(struct md_pipeline *p, char *buf, size_t len, bool truncated, double now);
/* A point from the loop thread (collectors, telemetry). */
void md_pipeline_point(struct md_pipeline *p, const struct md_point *pt, double now);
/*
 * Stop: intake threads refuse new datagrams, read their sockets empty,
 * close them and exit; the aggregator seals every open window, in parts as
 * a flush does, and waits for each part to be freed before it takes the
 * next. md_pipeline_stop_start returns at once: the loop keeps running and
 * takes the parts through fn, and `done` is called on the loop after the
 * last frame, with the threads joined. md_pipeline_stop does the same
 * while blocking the loop thread, handing the frames to fn as they come
 * (fn must free them, or the seal waits for ever); after a stop_start it
 * waits for that stop. Both are no-ops once stopped.
 */
void md_pipeline_stop_start(struct md_pipeline *p, void (*done)(void *ud), void *ud);
void md_pipeline_stop(struct md_pipeline *p);
void md_pipeline_free(struct md_pipeline *p);

/* Stall (or resume) the aggregator thread: lets tests fill the rings for real. */
void md_pipeline_pause(struct md_pipeline *p, bool paused);

/*
 * The intake half of the delivery ledger, in DogStatsD metric samples (a
 * packed message counts its values; a line rejected before it became a
 * sample counts one, its value count being unknown, and an event or check
 * line that does not parse is such a line). At every moment
 *
 *   received = aggregated + sum(rejected) + blocked + too_many_tags
 *              + nonfinite + context_limit + timestamp_type + no_memory
 *              + ring_full + reparse + in_transit
 *
 * and balanced says it does. in_transit is measured (pushed into the
 * intake rings minus taken out of them), not the remainder, so a sample
 * lost without a reason unbalances it. The loop's own points (collectors,
 * telemetry) are not in it. Datagrams the kernel dropped were never read,
 * so they are not in received: kernel_drops is a datagram count apart.
 * Nothing is left behind at stop: the intake reads until empty sockets
 * that no longer take datagrams, and the aggregator takes every record
 * before its last seal (see md_pipeline_stop).
 */
struct md_intake_ledger {
    uint64_t received, aggregated;
    uint64_t rejected[MD_PERR_COUNT]; /* lines, by parse reason (index 0 unused) */
    uint64_t blocked;        /* statsd_metric_blocklist */
    uint64_t too_many_tags;  /* over MD_CTX_MAX_TAGS distinct tags once enriched */
    uint64_t nonfinite;      /* NaN, Inf */
    uint64_t context_limit;  /* a new context past dogstatsd_context_limit */
    uint64_t timestamp_type; /* |T on a type other than gauge and count */
    uint64_t no_memory;      /* the aggregator could not allocate */
    uint64_t ring_full;      /* dogstatsd_ring_full_policy: drop */
    uint64_t reparse;        /* the aggregator's parse refused a line the intake took */
    uint64_t in_transit;     /* in the intake rings right now */
    bool balanced;
};

struct md_pipeline_stats {
    struct md_statsd_stats statsd; /* summed over intake threads */
    struct md_agg_stats agg;       /* every point, the loop's included */
    struct md_intake_ledger ledger;
    uint64_t ring_full_drops;      /* samples */
    uint64_t ring_full_msgs;       /* events and service checks */
    uint64_t point_ring_full, point_too_long; /* the loop's points dropped (read on the loop) */
    uint64_t ring_waits;      /* block policy: times an intake thread waited */
    int64_t kernel_drops;     /* -1 when unknown */
    uint64_t fast_misses;     /* intake keys the aggregator did not know: new contexts, or ... */
    uint64_t fast_mismatches; /* ... misses whose line, parsed again, hit an existing context */
    unsigned threads;
};
void md_pipeline_stats(struct md_pipeline *p, struct md_pipeline_stats *out);
/* Per intake thread, for /status: fills out for thread i; false past the last. */
bool md_pipeline_thread_stats(struct md_pipeline *p, unsigned i, struct md_statsd_stats *out,
                              uint64_t *ring_full_drops);

#endif
