/*
 * pipeline.c: intake threads, the aggregator thread and the rings between
 * them (see pipeline.h for the shape).
 *
 * Per metric, an intake thread does: split, parse, enrich, hash the context
 * key, copy the line into its ring. No allocation, no lock, no syscall: the
 * syscalls (recvmmsg, clock_gettime via vDSO, the futex wake when the
 * aggregator sleeps) happen once per batch of up to 64 datagrams. The
 * aggregator looks the key up; only for a context it has not seen (or for
 * rare messages: events, checks, packed values, |T) does it parse the line
 * copy again, so names and tags are interned once per new context.
 */
#include "pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "context.h"
#include "daemon.h"
#include "intake.h"
#include "log.h"
#include "ring.h"

#define BATCH 64
#define MAX_THREADS 64
#define DRAIN_MAX 4096 /* records taken from one ring before looking at the others */
#define STATS_N (sizeof(struct md_statsd_stats) / sizeof(uint64_t))
#define AGG_STATS_N (sizeof(struct md_agg_stats) / sizeof(uint64_t))

enum { REC_FAST = 1, REC_LINE, REC_POINT };
#define REC_SIGNED 1u

struct rec {
    uint8_t kind;
    uint8_t type;
    uint16_t len; /* bytes of line / serialized point after the header */
    uint32_t flags; /* REC_SIGNED */
    uint64_t key;
    double value, rate, now;
    uint64_t member_hash; /* sets; the |T timestamp for REC_POINT */
    char data[];
};

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
    uint64_t ring_full, ring_waits;
    _Atomic uint64_t pub[STATS_N];
    _Atomic uint64_t pub_ring_full, pub_ring_waits;
    unsigned long inode;
};

struct md_pipeline {
    const struct md_pipeline_opts *o;
    bool block_on_full;
    struct intake_thread *threads[MAX_THREADS];
    unsigned nthreads;
    /* aggregator thread */
    pthread_t agg_tid;
    bool agg_started;
    struct md_agg *agg;
    struct md_statsd *agg_sd;
    struct md_ring main_ring;   /* loop -> aggregator: points */
    struct md_ring frame_ring;  /* aggregator -> loop: frames */
    _Atomic int flush_req;      /* 1 = due windows, 2 = all */
    int want_flush;             /* aggregator thread: a request not begun yet */
    bool seal_busy, seal_all;   /* aggregator thread: a seal in progress */
    _Atomic int intake_stop, agg_stop;
    _Atomic int agg_sleeping;
    _Atomic int agg_paused;     /* tests stall the consumer with this */
    _Atomic uint32_t wake_seq;
    _Atomic uint64_t agg_pub[AGG_STATS_N];
    char *uds_path;
    /* loop side */
    uv_async_t async;
    bool async_init;
    md_frame_fn frame_fn;
    void *frame_ud;
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- waking the aggregator ---------------------------------------------- */

/*
 * The aggregator sleeps at most AGG_NAP between looks at the rings, and
 * producers wake it early only when a ring is getting full (or for a flush
 * or stop). Waking it for every small batch would cost two context
 * switches per datagram when intake and aggregation share a core.
 */
#define AGG_NAP_NS (50 * 1000 * 1000)

static void agg_wake(struct md_pipeline *p)
{
    if (!atomic_load(&p->agg_sleeping))
        return;
    atomic_fetch_add(&p->wake_seq, 1);
    syscall(SYS_futex, &p->wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* --- intake threads ----------------------------------------------------- */

/* Room for a record in the thread's ring, honouring the full-ring policy. */
static struct rec *reserve(struct intake_thread *t, uint32_t n)
{
    for (;;) {
        struct rec *r = md_ring_reserve(&t->ring, (uint32_t)sizeof(struct rec) + n);
        if (r)
            return r;
        if (!t->p->block_on_full || atomic_load_explicit(&t->p->agg_stop, memory_order_relaxed)) {
            t->ring_full++;
            return NULL;
        }
        /* block: let the aggregator see what we have, and wait for room */
        t->ring_waits++;
        atomic_store_explicit(&t->pub_ring_waits, t->ring_waits, memory_order_relaxed);
        md_ring_publish(&t->ring);
        agg_wake(t->p);
        sched_yield();
    }
}

/* The record of a line: its copy, and for REC_FAST what the aggregator adds. */
static struct rec *put_line(struct intake_thread *t, int kind, const char *line, size_t len)
{
    if (len > UINT16_MAX)
        return NULL;
    struct rec *r = reserve(t, (uint32_t)len);
    if (!r)
        return NULL;
    r->kind = (uint8_t)kind;
    r->len = (uint16_t)len;
    r->now = t->now;
    memcpy(r->data, line, len);
    return r;
}

static void intake_line(void *ud, char *line, size_t len, enum md_parse_error err)
{
    struct intake_thread *t = ud;
    struct md_statsd_stats *st = md_statsd_stats_mut(t->sd);
    if (err != MD_PERR_NONE) {
        st->errors[err]++;
        return;
    }
    struct md_msg msg;
    char *text = line;
    if (len >= 3 && memcmp(line, "_e{", 3) == 0) {
        memcpy(t->scratch, line, len);
        text = t->scratch;
    }
    switch (md_parse_line(text, len, &t->popts, &msg)) {
    case MD_MSG_ERROR:
        st->errors[msg.error]++;
        return;
    case MD_MSG_EVENT:
        st->events++;
        put_line(t, REC_LINE, line, len);
        return;
    case MD_MSG_SERVICE_CHECK:
        st->service_checks++;
        put_line(t, REC_LINE, line, len);
        return;
    case MD_MSG_METRIC:
        break;
    }
    const struct md_sample *m = &msg.u.metric;
    st->metrics += m->type == MD_SET ? 1 : m->nvalues;
    if (m->nvalues > 1 || (m->flags & MD_SAMPLE_HAS_TS)) {
        put_line(t, REC_LINE, line, len); /* rare: the aggregator parses it */
        return;
    }
    uint64_t key;
    if (md_statsd_fast_key(t->sd, &t->keyer, m, &key) != 0)
        return;
    struct rec *r = put_line(t, REC_FAST, line, len);
    if (!r)
        return;
    r->type = (uint8_t)m->type;
    r->flags = (m->flags & MD_SAMPLE_SIGNED) ? REC_SIGNED : 0;
    r->key = key;
    r->value = m->value;
    r->rate = m->sample_rate;
    r->member_hash = m->type == MD_SET ? md_hash(m->values.p, m->values.len) : 0;
}

static void publish_stats(struct intake_thread *t)
{
    const uint64_t *v = (const uint64_t *)md_statsd_stats(t->sd);
    for (size_t i = 0; i < STATS_N; i++)
        atomic_store_explicit(&t->pub[i], v[i], memory_order_relaxed);
    atomic_store_explicit(&t->pub_ring_full, t->ring_full, memory_order_relaxed);
    atomic_store_explicit(&t->pub_ring_waits, t->ring_waits, memory_order_relaxed);
}

/* One recvmmsg; returns datagrams read (0 on timeout or when empty). */
static int intake_batch(struct intake_thread *t, int flags)
{
    for (int i = 0; i < BATCH; i++) {
        t->iov[i] = (struct iovec){t->bufs + (size_t)i * t->bufsize, t->bufsize};
        t->msgs[i].msg_hdr = (struct msghdr){.msg_iov = &t->iov[i], .msg_iovlen = 1};
    }
    int n = recvmmsg(t->fd, t->msgs, BATCH, flags, NULL);
    if (n <= 0)
        return 0;
    t->now = wall_now();
    for (int i = 0; i < n; i++) {
        size_t len = t->msgs[i].msg_len;
        bool trunc = (t->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 || len > t->bufsize;
        md_statsd_stats_mut(t->sd)->packets++;
        md_statsd_stats_mut(t->sd)->bytes += len;
        md_split_datagram(t->iov[i].iov_base, len > t->bufsize ? t->bufsize : len, trunc,
                          t->eol_required, intake_line, t);
    }
    md_ring_publish(&t->ring);
    publish_stats(t);
    t->ring.head_cache = atomic_load_explicit(&t->ring.head, memory_order_acquire);
    if (t->ring.ptail - t->ring.head_cache > t->ring.size / 4)
        agg_wake(t->p); /* getting full: do not wait for the aggregator's nap to end */
    return n;
}

static void *intake_main(void *arg)
{
    struct intake_thread *t = arg;
    while (!atomic_load_explicit(&t->p->intake_stop, memory_order_relaxed))
        intake_batch(t, MSG_WAITFORONE); /* SO_RCVTIMEO bounds the wait */
    /* What the kernel still holds was accepted by us: read it before leaving. */
    while (intake_batch(t, MSG_DONTWAIT) > 0)
        ;
    return NULL;
}

/* --- aggregator thread -------------------------------------------------- */

/* Rebuild a loop-thread point from its ring record. */
static void handle_point(struct md_pipeline *p, const struct rec *r)
{
    const char *d = r->data, *end = r->data + r->len;
    struct md_str tags[MD_CTX_MAX_TAGS];
    struct md_point pt = {.type = r->type, .value = r->value, .sample_rate = r->rate,
                          .timestamp = (int64_t)r->member_hash};
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
    md_agg_add(p->agg, &pt, r->now);
}

static void handle_rec(struct md_pipeline *p, struct rec *r)
{
    switch (r->kind) {
    case REC_FAST: {
        struct md_fast f = {.type = r->type, .value = r->value, .rate = r->rate,
                            .member_hash = r->member_hash, .now = r->now,
                            .signed_value = (r->flags & REC_SIGNED) != 0};
        if (md_agg_add_fast(p->agg, r->key, &f) == -ENOENT)
            md_statsd_line(p->agg_sd, r->data, r->len, r->now); /* new context */
        break;
    }
    case REC_LINE:
        md_statsd_line(p->agg_sd, r->data, r->len, r->now);
        break;
    case REC_POINT:
        handle_point(p, r);
        break;
    }
}

static size_t drain(struct md_pipeline *p, struct md_ring *ring)
{
    size_t n = 0;
    uint32_t len;
    struct rec *r;
    while (n < DRAIN_MAX && (r = md_ring_peek(ring, &len))) {
        handle_rec(p, r);
        md_ring_consume(ring);
        n++;
    }
    if (n)
        md_ring_release(ring);
    return n;
}

/* Hand the sealed frame to the loop. */
static void push_frame(struct md_pipeline *p)
{
    struct md_frame *f = malloc(sizeof *f);
    if (!f) {
        struct md_frame lost;
        md_agg_seal_take(p->agg, &lost);
        md_frame_free(&lost);
        return;
    }
    md_agg_seal_take(p->agg, f);
    struct md_frame **slot;
    while (!(slot = md_ring_reserve(&p->frame_ring, sizeof f)))
        sched_yield(); /* the loop is behind on frames: wait, never drop a window */
    *slot = f;
    md_ring_publish(&p->frame_ring);
    uv_async_send(&p->async);
}

/*
 * Flush requests become incremental seals: SEAL_STEP table slots at a time
 * (about a millisecond), with the rings drained between steps, so that
 * sealing 100k contexts never leaves intake waiting on full rings while
 * the socket buffers overflow. A request that comes during a seal waits for
 * it; "all" (stop, tests) seals in one go.
 */
#define SEAL_STEP 2048

static void seal_work(struct md_pipeline *p)
{
    int req = atomic_exchange(&p->flush_req, 0);
    if (req > p->want_flush)
        p->want_flush = req;
    if (!p->seal_busy && p->want_flush) {
        p->seal_all = p->want_flush == 2;
        p->want_flush = 0;
        md_agg_seal_begin(p->agg, wall_now(), p->seal_all);
        p->seal_busy = true;
    }
    if (p->seal_busy && md_agg_seal_step(p->agg, p->seal_all ? UINT32_MAX : SEAL_STEP)) {
        push_frame(p);
        p->seal_busy = false;
    }
}

static void publish_agg_stats(struct md_pipeline *p)
{
    const uint64_t *v = (const uint64_t *)md_agg_stats(p->agg);
    for (size_t i = 0; i < AGG_STATS_N; i++)
        atomic_store_explicit(&p->agg_pub[i], v[i], memory_order_relaxed);
}

static bool rings_empty(struct md_pipeline *p)
{
    for (unsigned i = 0; i < p->nthreads; i++)
        if (!md_ring_empty(&p->threads[i]->ring))
            return false;
    return md_ring_empty(&p->main_ring);
}

static void agg_sleep(struct md_pipeline *p)
{
    atomic_store(&p->agg_sleeping, 1);
    uint32_t seq = atomic_load(&p->wake_seq);
    if (rings_empty(p) && !atomic_load(&p->flush_req) && !atomic_load(&p->agg_stop)) {
        struct timespec ts = {0, AGG_NAP_NS};
        syscall(SYS_futex, &p->wake_seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
    }
    atomic_store(&p->agg_sleeping, 0);
}

static void *agg_main(void *arg)
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
            n += drain(p, &p->threads[i]->ring);
        n += drain(p, &p->main_ring);
        seal_work(p);
        publish_agg_stats(p);
        bool idle = n == 0 && !p->seal_busy && !p->want_flush;
        if (atomic_load(&p->agg_stop) && idle && rings_empty(p))
            break;
        if (idle)
            agg_sleep(p);
    }
    p->want_flush = 2; /* the last frame: every open window */
    seal_work(p);
    publish_agg_stats(p);
    return NULL;
}

/* --- loop side ---------------------------------------------------------- */

static void deliver_frames(struct md_pipeline *p)
{
    uint32_t len;
    struct md_frame **slot;
    while ((slot = md_ring_peek(&p->frame_ring, &len))) {
        struct md_frame *f = *slot;
        md_ring_consume(&p->frame_ring);
        md_ring_release(&p->frame_ring);
        p->frame_fn(p->frame_ud, f);
    }
}

static void on_async(uv_async_t *a)
{
    deliver_frames(a->data);
}

void md_pipeline_flush(struct md_pipeline *p, bool all)
{
    int want = all ? 2 : 1, cur = 0;
    /* Upgrade a pending request to "all" but never downgrade one. */
    while (!atomic_compare_exchange_weak(&p->flush_req, &cur, cur > want ? cur : want))
        ;
    agg_wake(p);
}

void md_pipeline_point(struct md_pipeline *p, const struct md_point *pt, double now)
{
    size_t n = 2 + pt->name.len + 1 + 2 + pt->host.len + 2;
    for (uint32_t i = 0; i < pt->ntags; i++)
        n += 2 + pt->tags[i].len;
    if (n > UINT16_MAX || pt->name.len > UINT16_MAX)
        return;
    struct rec *r = md_ring_reserve(&p->main_ring, (uint32_t)(sizeof *r + n));
    if (!r) {
        md_warn("collector point dropped: aggregator ring full");
        return;
    }
    *r = (struct rec){.kind = REC_POINT, .type = (uint8_t)pt->type, .len = (uint16_t)n,
                      .value = pt->value, .rate = pt->sample_rate, .now = now,
                      .member_hash = (uint64_t)pt->timestamp};
    char *d = r->data;
    uint16_t l;
#define PUT(s)                        \
    do {                              \
        l = (uint16_t)(s).len;        \
        memcpy(d, &l, 2);             \
        memcpy(d + 2, (s).p, l);      \
        d += 2 + l;                   \
    } while (0)
    PUT(pt->name);
    *d++ = (char)pt->has_host;
    PUT(pt->host);
    l = (uint16_t)pt->ntags;
    memcpy(d, &l, 2);
    d += 2;
    for (uint32_t i = 0; i < pt->ntags; i++)
        PUT(pt->tags[i]);
#undef PUT
    md_ring_publish(&p->main_ring);
    agg_wake(p);
}

/* --- construction ------------------------------------------------------- */

static int add_thread(struct md_pipeline *p, int fd, bool eol)
{
    struct intake_thread *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    p->threads[p->nthreads++] = t;
    t->p = p;
    t->fd = fd;
    t->eol_required = eol;
    const struct md_pipeline_opts *o = p->o;
    t->bufsize = o->buffer_size;
    t->bufs = malloc(t->bufsize * BATCH);
    t->scratch = malloc(t->bufsize);
    struct stat st;
    if (fstat(fd, &st) == 0)
        t->inode = (unsigned long)st.st_ino;
    /* Intake threads block in recvmmsg; SO_RCVTIMEO bounds how long before they see a stop. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    struct timeval tv = {0, 100 * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t ring_bytes = o->ring_size * 64;
    if (!t->bufs || !t->scratch || md_ring_init(&t->ring, ring_bytes) != 0 ||
        md_keyer_init(&t->keyer, o->agg.hostname, o->agg.tags, o->agg.ntags) != 0 ||
        !(t->sd = md_statsd_new(&o->statsd, NULL)))
        return -ENOMEM;
    t->popts = *md_statsd_parse_opts(t->sd);
    t->popts.lazy_tags = true;
    return 0;
}

struct md_pipeline *md_pipeline_new(const struct md_pipeline_opts *o, char *err, size_t errlen)
{
    struct md_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->o = o;
    p->block_on_full = o->block_on_full;
    if (!(p->agg = md_agg_new(&o->agg)) || !(p->agg_sd = md_statsd_new(&o->statsd, p->agg)) ||
        md_ring_init(&p->main_ring, 1 << 20) != 0 || md_ring_init(&p->frame_ring, 4096) != 0) {
        snprintf(err, errlen, "pipeline: cannot set up the aggregator");
        goto fail;
    }
    if (o->udp_port > 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned n = o->threads > 0 ? o->threads : (unsigned)(cores > 0 ? cores : 1);
        if (n > MAX_THREADS - 1)
            n = MAX_THREADS - 1;
        const char *host = o->udp_host;
        /* SO_REUSEPORT would let a second agent share the port and silently take
         * half the traffic: a plain bind first makes "already in use" an error. */
        int probe = md_intake_udp_socket(host, o->udp_port, 0, 0, err, errlen);
        if (probe < 0)
            goto fail;
        close(probe);
        for (unsigned i = 0; i < n; i++) {
            int fd = md_intake_udp_socket(host, o->udp_port, o->so_rcvbuf, 1, err, errlen);
            if (fd < 0 || add_thread(p, fd, o->eol_udp) != 0)
                goto fail;
        }
        md_info("dogstatsd: listening on udp %s:%d with %u intake thread(s)", host,
                o->udp_port, n);
    }
    if (o->uds_path) {
        int fd = md_intake_uds_socket(o->uds_path, o->uds_mode, o->so_rcvbuf, err, errlen);
        /* As the Datadog agent: a socket folder not (yet) mounted costs the socket, not UDP. */
        if (fd == -ENOENT && o->udp_port > 0) {
            md_error("%s: its folder does not exist; the unix socket is off, UDP carries on", err);
            err[0] = '\0';
            return p;
        }
        if (fd < 0 || add_thread(p, fd, o->eol_uds) != 0)
            goto fail;
        p->uds_path = strdup(o->uds_path);
        md_info("dogstatsd: listening on unix socket %s", o->uds_path);
    }
    return p;
fail:
    md_pipeline_free(p);
    return NULL;
}

int md_pipeline_start(struct md_pipeline *p, uv_loop_t *loop, md_frame_fn fn, void *ud)
{
    p->frame_fn = fn;
    p->frame_ud = ud;
    if (uv_async_init(loop, &p->async, on_async) != 0)
        return -EINVAL;
    p->async.data = p;
    p->async_init = true;
    if (pthread_create(&p->agg_tid, NULL, agg_main, p) != 0)
        return -EAGAIN;
    p->agg_started = true;
    for (unsigned i = 0; i < p->nthreads; i++) {
        if (pthread_create(&p->threads[i]->tid, NULL, intake_main, p->threads[i]) != 0)
            return -EAGAIN;
        p->threads[i]->started = true;
    }
    return 0;
}

static void async_closed(uv_handle_t *h)
{
}

void md_pipeline_stop(struct md_pipeline *p)
{
    atomic_store(&p->intake_stop, 1);
    for (unsigned i = 0; i < p->nthreads; i++)
        if (p->threads[i]->started) {
            pthread_join(p->threads[i]->tid, NULL);
            p->threads[i]->started = false;
            publish_stats(p->threads[i]);
        }
    atomic_store(&p->agg_stop, 1);
    agg_wake(p);
    if (p->agg_started) {
        pthread_join(p->agg_tid, NULL);
        p->agg_started = false;
    }
    if (p->async_init) {
        deliver_frames(p);
        uv_close((uv_handle_t *)&p->async, async_closed);
        p->async_init = false;
    }
}

void md_pipeline_free(struct md_pipeline *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->nthreads; i++) {
        struct intake_thread *t = p->threads[i];
        if (t->fd >= 0)
            close(t->fd);
        md_ring_free(&t->ring);
        md_keyer_free(&t->keyer);
        md_statsd_free(t->sd);
        free(t->bufs);
        free(t->scratch);
        free(t);
    }
    if (p->uds_path) {
        unlink(p->uds_path);
        free(p->uds_path);
    }
    uint32_t len;
    struct md_frame **slot;
    while (p->frame_ring.buf && (slot = md_ring_peek(&p->frame_ring, &len))) {
        md_frame_free(*slot);
        free(*slot);
        md_ring_consume(&p->frame_ring);
    }
    md_ring_free(&p->main_ring);
    md_ring_free(&p->frame_ring);
    md_statsd_free(p->agg_sd);
    md_agg_free(p->agg);
    free(p);
}

void md_pipeline_pause(struct md_pipeline *p, bool paused)
{
    atomic_store(&p->agg_paused, paused ? 1 : 0);
    agg_wake(p);
}

/* --- stats -------------------------------------------------------------- */

static int64_t kernel_drops(struct md_pipeline *p)
{
    int64_t total = -1;
    const char *files[] = {"/proc/net/udp", "/proc/net/udp6"};
    for (int f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "r");
        if (!fp)
            continue;
        char line[512];
        while (fgets(line, sizeof line, fp)) {
            unsigned long inode;
            long long drops;
            if (sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %lu %*s %*s %lld", &inode,
                       &drops) != 2)
                continue;
            for (unsigned i = 0; i < p->nthreads; i++)
                if (p->threads[i]->inode == inode)
                    total = (total < 0 ? 0 : total) + drops;
        }
        fclose(fp);
    }
    return total;
}

bool md_pipeline_thread_stats(struct md_pipeline *p, unsigned i, struct md_statsd_stats *out,
                              uint64_t *ring_full_drops)
{
    if (i >= p->nthreads)
        return false;
    uint64_t *v = (uint64_t *)out;
    for (size_t k = 0; k < STATS_N; k++)
        v[k] = atomic_load_explicit(&p->threads[i]->pub[k], memory_order_relaxed);
    *ring_full_drops = atomic_load_explicit(&p->threads[i]->pub_ring_full, memory_order_relaxed);
    return true;
}

void md_pipeline_stats(struct md_pipeline *p, struct md_pipeline_stats *out)
{
    memset(out, 0, sizeof *out);
    uint64_t *sum = (uint64_t *)&out->statsd;
    for (unsigned i = 0; i < p->nthreads; i++) {
        struct md_statsd_stats s;
        uint64_t full;
        md_pipeline_thread_stats(p, i, &s, &full);
        const uint64_t *v = (const uint64_t *)&s;
        for (size_t k = 0; k < STATS_N; k++)
            sum[k] += v[k];
        out->ring_full_drops += full;
        out->ring_waits += atomic_load_explicit(&p->threads[i]->pub_ring_waits, memory_order_relaxed);
    }
    uint64_t *a = (uint64_t *)&out->agg;
    for (size_t k = 0; k < AGG_STATS_N; k++)
        a[k] = atomic_load_explicit(&p->agg_pub[k], memory_order_relaxed);
    out->kernel_drops = kernel_drops(p);
    out->threads = p->nthreads;
}
