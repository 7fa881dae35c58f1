/*
 * pipeline_agg.c: the aggregator's side of the pipeline's threads (see
 * pipeline.h for the shape, pipeline_threads.h for the shared state). The
 * aggregator thread drains the intake threads' rings and the loop's ring,
 * looks each sample's context up (re-parsing the line copy only for a
 * context it has not seen, or for events, checks, packed values and |T),
 * and seals windows in steps, handing the loop parts of at most
 * PART_SERIES series. With one intake thread there is no aggregator
 * thread: the intake thread takes the same turns between its reads
 * (md_pipe_agg_turn, in pipeline_threads.c).
 */
#include "pipeline_threads.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* --- waking the aggregator ---------------------------------------------- */

/*
 * The aggregator sleeps at most AGG_NAP between looks at the rings, and
 * producers wake it early only when a ring is getting full (or for a flush
 * or stop). Waking it for every small batch would cost two context
 * switches per datagram when intake and aggregation share a core.
 */
#define AGG_NAP_NS (50 * 1000 * 1000)

void md_pipe_wake(struct md_pipeline *p)
{
    if (!atomic_load(&p->agg_sleeping))
        return;
    atomic_fetch_add(&p->wake_seq, 1);
    syscall(SYS_futex, &p->wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Once per frame part (8192 series) or at the end: the futex wake costs nothing here. */
void md_pipe_wake_loop(struct md_pipeline *p)
{
    atomic_fetch_add(&p->loop_seq, 1);
    syscall(SYS_futex, &p->loop_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    uv_async_send(&p->async);
}

/*
 * The aggregator's statsd stage parses a line of `samples` samples (0 for
 * events and checks) that the caller counted as taken from the intake.
 * The intake parsed it already, so it always takes it; if it ever did not,
 * the samples it did not count are `reparse` drops instead of vanishing
 * from the ledger.
 */
void md_pipe_slow_fold(struct md_pipeline *p, char *line, size_t len, uint64_t samples, double now)
{
    const struct md_statsd_stats *sd = md_statsd_stats(p->agg_sd);
    uint64_t before = sd->metrics;
    md_statsd_line(p->agg_sd, line, len, now);
    if (sd->metrics - before < samples)
        p->ac.reparse += samples - (sd->metrics - before);
}

/*
 * The intake's key names no context: a new one, normally. The line is parsed
 * again and aggregated by the slow path, which creates the context under
 * the slow key. If that context existed already, the fast key disagreed
 * with the slow one: counted, because every later sample of it would take
 * this path too. Runs on the thread that owns the aggregator.
 */
void md_pipe_fast_miss(struct md_pipeline *p, char *line, size_t len, double now)
{
    const struct md_agg_stats *a = md_agg_stats(p->agg);
    uint64_t points = a->points, created = a->contexts_created, limited = a->context_limit_drops;
    md_pipe_slow_fold(p, line, len, 1, now);
    p->ac.fast_misses++;
    if (a->points > points && a->contexts_created == created && a->context_limit_drops == limited)
        p->ac.fast_mismatches++;
}

/* --- aggregator thread -------------------------------------------------- */

/* Rebuild a loop-thread point from its ring record. */
static void handle_point(struct md_pipeline *p, const struct rec *r)
{
    const char *d = r->data + 24, *end = d + r->len;
    struct md_str tags[MD_CTX_MAX_TAGS];
    struct md_point pt = {.type = r->type, .value = r->value};
    double now;
    memcpy(&pt.sample_rate, r->data, 8);
    memcpy(&now, r->data + 8, 8);
    memcpy(&pt.timestamp, r->data + 16, 8);
    uint16_t n;
#define TAKE(s)                                           \
    do {                                                  \
        memcpy(&n, d, 2);                                 \
        (s) = (struct md_str){d + 2, n};                  \
        d += 2 + n;                                       \
    } while (0)
    TAKE(pt.name);
    pt.has_host = *d++;
    TAKE(pt.host);
    memcpy(&n, d, 2);
    d += 2;
    uint16_t nt = n;
    for (uint16_t i = 0; i < nt && i < MD_CTX_MAX_TAGS && d < end; i++)
        TAKE(tags[i]);
#undef TAKE
    pt.tags = tags;
    pt.ntags = nt;
    /* The loop's points share the aggregator and its stats: keep their
     * share apart, so what is left is DogStatsD's. */
    const struct md_agg_stats *a = md_agg_stats(p->agg);
    struct md_agg_stats before = *a;
    md_agg_add_internal(p->agg, &pt, now); /* only the loop thread's own points come this way */
    const uint64_t *x = (const uint64_t *)a, *b = (const uint64_t *)&before;
    uint64_t *c = (uint64_t *)&p->ac.coll;
    for (size_t i = 0; i < sizeof *a / sizeof(uint64_t); i++)
        c[i] += x[i] - b[i];
}

static void handle_rec(struct md_pipeline *p, struct rec *r, double *now)
{
    char *d = r->data;
    struct md_fast f = {.type = r->type, .value = r->value, .rate = 1, .now = *now,
                        .signed_value = (r->flags & REC_SIGNED) != 0};
    if (r->flags & REC_RATE) {
        memcpy(&f.rate, d, 8);
        d += 8;
    }
    if (r->flags & REC_MEMBER) {
        memcpy(&f.member_hash, d, 8);
        d += 8;
    }
    switch (r->kind) {
    case REC_TIME:
        *now = r->value;
        break;
    case REC_FAST:
        p->ac.taken++;
        if (md_agg_add_fast(p->agg, r->key, &f) == -ENOENT)
            md_pipe_fast_miss(p, d, r->len, *now);
        break;
    case REC_LINE:
        p->ac.taken += r->key;
        md_pipe_slow_fold(p, d, r->len, r->key, *now);
        break;
    case REC_POINT:
        handle_point(p, r);
        break;
    }
}

/* Fold up to DRAIN_MAX records of a ring; now is that ring's current REC_TIME. */
static size_t drain(struct md_pipeline *p, struct md_ring *ring, double *now)
{
    size_t n = 0;
    uint32_t len;
    struct rec *r;
    while (n < DRAIN_MAX && (r = md_ring_peek(ring, &len))) {
        handle_rec(p, r, now);
        md_ring_consume(ring);
        n++;
    }
    if (n)
        md_ring_release(ring);
    return n;
}

/* Hand the sealed frame (or the part of it sealed so far) to the loop. */
static void push_frame(struct md_pipeline *p, bool part)
{
    struct md_frame *f = malloc(sizeof *f);
    if (!f) {
        struct md_frame lost;
        if (part)
            md_agg_seal_take_part(p->agg, &lost);
        else
            md_agg_seal_take(p->agg, &lost);
        md_frame_free(&lost);
        return;
    }
    if (part)
        md_agg_seal_take_part(p->agg, f);
    else
        md_agg_seal_take(p->agg, f);
    struct md_frame **slot;
    while (!(slot = md_ring_reserve(&p->frame_ring, sizeof f)))
        sched_yield(); /* the loop is behind on frames: wait, never drop a window */
    *slot = f;
    md_ring_publish(&p->frame_ring);
    md_pipe_wake_loop(p);
}

/*
 * Flush requests become incremental seals: SEAL_STEP table slots at a time
 * (about a millisecond), with the rings drained between steps, so that
 * sealing 100k contexts never leaves intake waiting on full rings while
 * the socket buffers overflow. A request that comes during a seal waits for
 * it.
 *
 * The series sealed go to the loop PART_SERIES at a time, and the seal
 * waits (seal_blocked) while PARTS_OUT frames are still being encoded:
 * the series of a big window then never all exist at once, which is most
 * of what a flush adds to the agent's peak memory. Samples keep flowing
 * meanwhile; only the seal waits. The last seal at stop ("all") goes the
 * same way: sealed whole, 1M contexts took RSS from 139 to 325 MiB.
 */
#define SEAL_STEP 2048
#define PART_SERIES 8192
#define PARTS_OUT 1

static void seal_work(struct md_pipeline *p)
{
    int req = atomic_exchange(&p->flush_req, 0);
    if (req > p->want_flush)
        p->want_flush = req;
    if (!p->seal_busy && p->want_flush) {
        md_agg_seal_begin(p->agg, md_wall_now(), p->want_flush == 2);
        p->want_flush = 0;
        p->seal_busy = true;
    }
    if (!p->seal_busy)
        return;
    p->seal_blocked = md_agg_frames_out(p->agg) >= PARTS_OUT;
    if (p->seal_blocked)
        return;
    if (md_agg_seal_step(p->agg, SEAL_STEP)) {
        push_frame(p, false);
        p->seal_busy = false;
    } else if (md_agg_seal_series(p->agg) >= PART_SERIES) {
        push_frame(p, true);
    }
}

/*
 * The last frames on stop: the seal in progress, then every open window,
 * in parts like any seal. The loop keeps taking them (md_pipeline_stop
 * delivers them while it waits), so the waits end as parts are encoded.
 */
static void seal_last(struct md_pipeline *p)
{
    p->want_flush = 2;
    while (p->seal_busy || p->want_flush) {
        seal_work(p);
        if (p->seal_blocked) {
            struct timespec ts = {0, AGG_SEAL_NAP_NS};
            nanosleep(&ts, NULL);
        }
    }
}

static void publish_agg_stats(struct md_pipeline *p)
{
    p->ac.agg = *md_agg_stats(p->agg);
    p->ac.sd = *md_statsd_stats(p->agg_sd);
    md_pipe_seq_publish(&p->agg_seq, p->agg_pub, &p->ac, AGG_N);
}

static bool rings_empty(struct md_pipeline *p)
{
    for (unsigned i = 0; i < p->nthreads; i++)
        if (!md_ring_empty(&p->threads[i]->ring))
            return false;
    return md_ring_empty(&p->main_ring);
}

static void agg_sleep(struct md_pipeline *p, long ns)
{
    atomic_store(&p->agg_sleeping, 1);
    uint32_t seq = atomic_load(&p->wake_seq);
    if (rings_empty(p) && !atomic_load(&p->flush_req) && !atomic_load(&p->agg_stop)) {
        struct timespec ts = {0, ns};
        syscall(SYS_futex, &p->wake_seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
    }
    atomic_store(&p->agg_sleeping, 0);
}

void *md_pipe_agg_main(void *arg)
{
    struct md_pipeline *p = arg;
    for (;;) {
        if (atomic_load(&p->agg_paused) && !atomic_load(&p->agg_stop)) {
            struct timespec ts = {0, 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        size_t n = 0;
        for (unsigned i = 0; i < p->nthreads; i++)
            n += drain(p, &p->threads[i]->ring, &p->threads[i]->rec_now);
        n += drain(p, &p->main_ring, &p->main_now);
        seal_work(p);
        publish_agg_stats(p);
        bool idle = n == 0 && (p->seal_blocked || (!p->seal_busy && !p->want_flush));
        if (atomic_load(&p->agg_stop) && n == 0 && rings_empty(p))
            break;
        if (idle)
            agg_sleep(p, p->seal_blocked ? AGG_SEAL_NAP_NS : AGG_NAP_NS);
    }
    seal_last(p);
    publish_agg_stats(p);
    atomic_store(&p->agg_done, 1);
    md_pipe_wake_loop(p);
    return NULL;
}

void md_pipe_agg_turn(struct md_pipeline *p)
{
    drain(p, &p->main_ring, &p->main_now);
    seal_work(p);
    publish_agg_stats(p);
}

void md_pipe_agg_finish(struct md_pipeline *p)
{
    while (drain(p, &p->main_ring, &p->main_now))
        ;
    seal_last(p);
    publish_agg_stats(p);
    atomic_store(&p->agg_done, 1);
    md_pipe_wake_loop(p);
}
