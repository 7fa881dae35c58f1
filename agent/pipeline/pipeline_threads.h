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
#include <uv.h>

#include "aggregator.h"
#include "origin.h"
#include "context.h"
#include "pipeline.h"
#include "ring.h"
#include "statsd.h"

#define BATCH 64
#define MAX_THREADS 64
#define DRAIN_MAX 4096 /* records taken from one ring before looking at the others */
#define STATS_N (sizeof(struct md_statsd_stats) / sizeof(uint64_t))
#define AGG_STATS_N (sizeof(struct md_agg_stats) / sizeof(uint64_t))

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
    uint64_t ring_full, ring_waits;
    _Atomic uint64_t pub[STATS_N];
    _Atomic uint64_t pub_ring_full, pub_ring_waits;
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
    bool seal_busy, seal_all;   /* aggregator thread: a seal in progress */
    bool seal_blocked;          /* ... waiting for the loop to free parts */
    bool stopping;              /* aggregator thread: the last seal */
    _Atomic int intake_stop, agg_stop;
    _Atomic int agg_sleeping;
    _Atomic int agg_paused;     /* tests stall the consumer with this */
    _Atomic uint32_t wake_seq;
    _Atomic uint64_t agg_pub[AGG_STATS_N];
    char *uds_path;
    struct md_origin_stats origin_st;
    /* loop side */
    uv_async_t async;
    bool async_init;
    md_frame_fn frame_fn;
    void *frame_ud;
};

/* Thread bodies: an intake thread feeding the aggregator thread through
 * its ring, the aggregator thread, and a lone intake thread that
 * aggregates itself. */
void *md_pipe_intake_main(void *t);
void *md_pipe_agg_main(void *p);
void *md_pipe_inline_main(void *t);
/* Wake the aggregator thread if it naps. */
void md_pipe_wake(struct md_pipeline *p);
/* Copy an intake thread's counters where md_pipeline_stats reads them. */
void md_pipe_publish_stats(struct intake_thread *t);

#endif
