/*
 * pipeline_threads.h: what the pipeline's threads share with its setup
 * (pipeline.c builds and stops them, pipeline_threads.c is what they run).
 * Not for use outside agent/pipeline.
 */
#ifndef METERD_PIPELINE_THREADS_H
#define METERD_PIPELINE_THREADS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <uv.h>

#include "aggregator.h"
#include "origin.h"
#include "context.h"
#include "pipeline.h"
#include "ring.h"
#include "statsd.h"
#include "wallclock.h"

#define BATCH 64
#define MAX_THREADS 64
#define DRAIN_MAX 4096 /* records taken from one ring before looking at the others */

/*
 * The counters a thread publishes for the status endpoint, as one
 * consistent snapshot (a sequence lock: md_pipe_seq_publish/read). Intake
 * threads publish theirs before the records they count become visible in
 * the ring, so a reader that takes the aggregator's snapshot first and the
 * intake's second never sees a sample taken that was not yet pushed: the
 * ledger adds up at any moment, not only when the agent is idle.
 */
struct intake_counts {
    struct md_statsd_stats st;
    uint64_t ring_full;      /* samples dropped on a full ring */
    uint64_t ring_full_msgs; /* events and service checks dropped on a full ring */
    uint64_t ring_waits;
    uint64_t pushed;         /* samples handed to the aggregator (ring or inline) */
};
struct agg_counts {
    struct md_agg_stats agg;  /* every point: DogStatsD and the loop's */
    struct md_agg_stats coll; /* the share of the loop's points (collectors, telemetry) */
    uint64_t taken;           /* DogStatsD samples taken from the rings (or inline) */
    uint64_t reparse;         /* ... whose line the aggregator's parse did not take */
    uint64_t fast_misses, fast_mismatches;
    struct md_statsd_stats sd; /* the aggregator's own statsd stage (slow path) */
};
#define INTAKE_N (sizeof(struct intake_counts) / sizeof(uint64_t))
#define AGG_N (sizeof(struct agg_counts) / sizeof(uint64_t))

/*
 * Ring records: a 24-byte header, the optional fields its flags name, then
 * the line. Every record of an intake batch has the same arrival time, so
 * it travels once, as a REC_TIME record before the batch's first record;
 * most samples have rate 1 and are not sets, so those fields are optional.
 */
enum { REC_FAST = 1, REC_LINE, REC_POINT, REC_TIME };
#define REC_SIGNED 1u /* etsy gauge delta */
#define REC_RATE 2u   /* a double sample rate leads the data */
#define REC_MEMBER 4u /* a uint64 set member hash follows it */

struct rec {
    uint8_t kind;
    uint8_t type;
    uint16_t len;   /* bytes of line / serialized point, after the optional fields */
    uint32_t flags;
    uint64_t key;
    double value;   /* REC_TIME: the arrival time of the records after it */
    char data[];    /* REC_POINT: rate, time and |T timestamp, then the point */
};

/* Control buffer of one datagram: the sender's credentials. */
#define MD_CRED_SPACE CMSG_SPACE(sizeof(struct ucred))

struct intake_thread {
    struct md_pipeline *p;
    pthread_t tid;
    bool started;
    int fd;
    bool eol_required;
    struct md_ring ring;
    struct md_statsd *sd;
    struct md_keyer keyer;
    size_t bufsize;
    char *bufs;
    char *scratch; /* events are unescaped in place: parse a copy, ship the original */
    struct md_parse_opts popts; /* the statsd stage's, with lazy_tags */
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    double now;
    bool now_sent;   /* this batch's REC_TIME is in the ring */
    double rec_now;  /* consumer: the time of the ring's last REC_TIME */
    /* origin detection (NULL when off): the sender pid of the datagram being split */
    struct md_origin *origin;
    bool uds;
    int pid;
    char *cmsg; /* BATCH control buffers for SCM_CREDENTIALS */
    size_t max_line;  /* longest line a ring record holds */
    uint64_t ring_full, ring_full_msgs, ring_waits, pushed;
    _Atomic uint32_t pub_seq;
    _Atomic uint64_t pub[INTAKE_N]; /* struct intake_counts */
    unsigned long inode;
};

struct md_pipeline {
    const struct md_pipeline_opts *o;
    bool block_on_full;
    bool inline_agg;            /* one intake thread that aggregates itself (see inline_main) */
    struct intake_thread *threads[MAX_THREADS];
    unsigned nthreads;
    /* aggregator thread */
    pthread_t agg_tid;
    bool agg_started;
    struct md_agg *agg;
    struct md_statsd *agg_sd;
    struct md_ring main_ring;   /* loop -> aggregator: points */
    double main_now;            /* unused: REC_POINT carries its time */
    struct md_ring frame_ring;  /* aggregator -> loop: frames */
    _Atomic int flush_req;      /* 1 = due windows, 2 = all */
    int want_flush;             /* aggregator thread: a request not begun yet */
    bool seal_busy;             /* aggregator thread: a seal in progress */
    bool seal_blocked;          /* ... waiting for the loop to free parts */
    /* Stop: intake_stop asks the intake threads to read their sockets empty
     * and leave; the last to leave sets agg_stop; the thread that owns the
     * aggregator seals the last windows (in parts, the loop taking them)
     * and sets agg_done. */
    _Atomic int intake_stop, agg_stop, agg_done;
    _Atomic unsigned intake_running; /* intake threads (not the inline one) not gone yet */
    _Atomic int agg_sleeping;
    _Atomic int agg_paused;     /* tests stall the consumer with this */
    _Atomic uint32_t wake_seq;
    struct agg_counts ac;       /* the thread that owns the aggregator */
    _Atomic uint32_t agg_seq;
    _Atomic uint64_t agg_pub[AGG_N]; /* struct agg_counts */
    uint64_t point_ring_full, point_too_long; /* loop thread: its points dropped */
    struct intake_thread *feed; /* md_pipeline_feed_open */
    char *uds_path;
    struct md_origin_stats origin_st;
    /* loop side */
    uv_async_t async;
    bool async_init;
    md_frame_fn frame_fn;
    void *frame_ud;
    _Atomic uint32_t loop_seq;  /* a frame or agg_done: wakes a blocking md_pipeline_stop */
    enum { PIPE_RUNNING, PIPE_STOPPING, PIPE_STOPPED } stop_state;
    void (*stopped_fn)(void *ud);
    void *stopped_ud;
};

/* Thread bodies: an intake thread feeding the aggregator thread through
 * its ring, the aggregator thread, and a lone intake thread that
 * aggregates itself. */
void *md_pipe_intake_main(void *t);
void *md_pipe_agg_main(void *p);
void *md_pipe_inline_main(void *t);
/* Wake the aggregator thread if it naps. */
void md_pipe_wake(struct md_pipeline *p);
/* Tell the loop (and a blocking md_pipeline_stop) that a frame or agg_done is there. */
void md_pipe_wake_loop(struct md_pipeline *p);

/* pipeline_agg.c: the aggregator's side, also run by a lone intake thread. */
#define AGG_SEAL_NAP_NS (1000 * 1000) /* a seal waiting for the loop to free parts */
/* Fold a line the intake could not key (or a context not seen yet) the slow way. */
void md_pipe_slow_fold(struct md_pipeline *p, char *line, size_t len, uint64_t samples,
                       double now);
void md_pipe_fast_miss(struct md_pipeline *p, char *line, size_t len, double now);
/* One turn between reads: the loop's points, a step of a seal, the stats. */
void md_pipe_agg_turn(struct md_pipeline *p);
/* At stop: the loop's last points, the last seal, what was left, the stats. */
void md_pipe_agg_finish(struct md_pipeline *p);

/* Copy an intake thread's counters where md_pipeline_stats reads them. */
void md_pipe_publish_stats(struct intake_thread *t);
/* A consistent copy of n counters (sequence lock; one writer). */
void md_pipe_seq_publish(_Atomic uint32_t *seq, _Atomic uint64_t *dst, const void *src, size_t n);
void md_pipe_seq_read(_Atomic uint32_t *seq, const _Atomic uint64_t *src, void *dst, size_t n);
/* One datagram pushed by the caller into a feed (fd -1) thread's ring. */
void md_pipe_feed(struct intake_thread *t, char *buf, size_t len, bool truncated, double now);

#endif
