/*
 * pipeline.c: building, starting and stopping the threaded DogStatsD path
 * and the loop's side of it (frames in, collector points out); see
 * pipeline.h for the shape. The threads run pipeline_threads.c; their
 * counters and the intake ledger are pipeline_stats.c.
 */
#include "pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "intake.h"
#include "log.h"
#include "pipeline_threads.h"

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

static void stop_finish(struct md_pipeline *p);

static void on_async(uv_async_t *a)
{
    struct md_pipeline *p = a->data;
    deliver_frames(p);
    if (p->stop_state == PIPE_STOPPING && atomic_load(&p->agg_done))
        stop_finish(p);
}

void md_pipeline_flush(struct md_pipeline *p, bool all)
{
    int want = all ? 2 : 1, cur = 0;
    /* Upgrade a pending request to "all" but never downgrade one. */
    while (!atomic_compare_exchange_weak(&p->flush_req, &cur, cur > want ? cur : want))
        ;
    md_pipe_wake(p);
}

void md_pipeline_point(struct md_pipeline *p, const struct md_point *pt, double now)
{
    size_t n = 2 + pt->name.len + 1 + 2 + pt->host.len + 2;
    for (uint32_t i = 0; i < pt->ntags; i++)
        n += 2 + pt->tags[i].len;
    if (n > UINT16_MAX || pt->name.len > UINT16_MAX) {
        p->point_too_long++;
        return;
    }
    struct rec *r = md_ring_reserve(&p->main_ring, (uint32_t)(sizeof *r + 24 + n));
    if (!r) {
        if (!p->point_ring_full++) /* counted; one line, not one per point */
            md_warn("collector points dropped: aggregator ring full (counted in /status)");
        return;
    }
    *r = (struct rec){.kind = REC_POINT, .type = (uint8_t)pt->type, .len = (uint16_t)n,
                      .value = pt->value};
    memcpy(r->data, &pt->sample_rate, 8);
    memcpy(r->data + 8, &now, 8);
    memcpy(r->data + 16, &pt->timestamp, 8);
    char *d = r->data + 24;
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
    md_pipe_wake(p);
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
    if (fd >= 0 && fstat(fd, &st) == 0)
        t->inode = (unsigned long)st.st_ino;
    /* Intake threads block in recvmmsg; SO_RCVTIMEO bounds how long before they see a stop. */
    int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    struct timeval tv = {0, 100 * 1000};
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t ring_bytes = o->ring_size * 64;
    /* A record is at most a quarter of the ring (md_ring_reserve), with its
     * ring header, its own and its optional fields; len is 16 bits. */
    size_t room = ring_bytes / 4 - 16 - sizeof(struct rec) - 16;
    t->max_line = room < UINT16_MAX ? room : UINT16_MAX;
    if (!t->bufs || !t->scratch || md_ring_init(&t->ring, ring_bytes) != 0 ||
        md_keyer_init(&t->keyer, o->agg.hostname, o->agg.tags, o->agg.ntags) != 0 ||
        !(t->sd = md_statsd_new(&o->statsd, NULL)))
        return -ENOMEM;
    t->popts = *md_statsd_parse_opts(t->sd);
    t->popts.lazy_tags = true;
    return 0;
}

/* The cores this process may run on (a cpuset or taskset shrinks it). */
static unsigned usable_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (unsigned)cores : 1;
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
        unsigned n = o->threads > 0 ? o->threads : usable_cores();
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
        md_info("dogstatsd: listening on udp %s:%d with %u intake thread(s)%s", host,
                o->udp_port, n, n == 1 ? ", aggregating inline" : "");
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
        p->threads[p->nthreads - 1]->uds = true;
        p->uds_path = strdup(o->uds_path);
        md_info("dogstatsd: listening on unix socket %s", o->uds_path);
    }
    p->inline_agg = p->nthreads == 1;
    return p;
fail:
    md_pipeline_free(p);
    return NULL;
}

int md_pipeline_feed_open(struct md_pipeline *p, bool eol_required)
{
    if (p->feed || p->nthreads == MAX_THREADS)
        return -EINVAL;
    int rc = add_thread(p, -1, eol_required);
    if (rc == 0)
        p->feed = p->threads[p->nthreads - 1];
    return rc;
}

void md_pipeline_feed(struct md_pipeline *p, char *buf, size_t len, bool truncated, double now)
{
    md_pipe_feed(p->feed, buf, len, truncated, now);
}

int md_pipeline_set_origin(struct md_pipeline *p, struct md_containers *store, const char *procfs,
                           bool by_pid, bool by_field, int card)
{
    for (unsigned i = 0; i < p->nthreads; i++) {
        struct intake_thread *t = p->threads[i];
        bool pid = by_pid && t->uds;
        if (!pid && !by_field)
            continue;
        t->origin = md_origin_new(store, procfs, pid, by_field, card, t->bufsize, &p->origin_st);
        if (!t->origin)
            return -ENOMEM;
        if (!pid)
            continue;
        int one = 1;
        if (setsockopt(t->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0 ||
            !(t->cmsg = calloc(BATCH, MD_CRED_SPACE)))
            return -errno;
    }
    return 0;
}

void md_pipeline_origin_stats(struct md_pipeline *p, uint64_t out[4])
{
    out[0] = atomic_load(&p->origin_st.tagged);
    out[1] = atomic_load(&p->origin_st.no_container);
    out[2] = atomic_load(&p->origin_st.too_long);
    out[3] = atomic_load(&p->origin_st.lookups);
}

int md_pipeline_start(struct md_pipeline *p, uv_loop_t *loop, md_frame_fn fn, void *ud)
{
    p->frame_fn = fn;
    p->frame_ud = ud;
    if (uv_async_init(loop, &p->async, on_async) != 0)
        return -EINVAL;
    p->async.data = p;
    p->async_init = true;
    if (!p->inline_agg) {
        if (pthread_create(&p->agg_tid, NULL, md_pipe_agg_main, p) != 0)
            return -EAGAIN;
        p->agg_started = true;
    }
    for (unsigned i = 0; i < p->nthreads; i++) {
        if (p->threads[i]->fd < 0)
            continue; /* a feed: the caller pushes its datagrams */
        void *(*body)(void *) = p->inline_agg ? md_pipe_inline_main : md_pipe_intake_main;
        if (!p->inline_agg)
            atomic_fetch_add(&p->intake_running, 1);
        if (pthread_create(&p->threads[i]->tid, NULL, body, p->threads[i]) != 0) {
            if (!p->inline_agg)
                atomic_fetch_sub(&p->intake_running, 1);
            return -EAGAIN;
        }
        p->threads[i]->started = true;
    }
    return 0;
}

static void async_closed(uv_handle_t *h)
{
}

/* Every thread is gone or going (agg_done): join them, hand over the last frames. */
static void stop_finish(struct md_pipeline *p)
{
    for (unsigned i = 0; i < p->nthreads; i++)
        if (p->threads[i]->started) {
            pthread_join(p->threads[i]->tid, NULL);
            p->threads[i]->started = false;
        }
    if (p->agg_started) {
        pthread_join(p->agg_tid, NULL);
        p->agg_started = false;
    }
    p->stop_state = PIPE_STOPPED;
    if (p->async_init) {
        deliver_frames(p);
        uv_close((uv_handle_t *)&p->async, async_closed);
        p->async_init = false;
    }
    if (p->stopped_fn)
        p->stopped_fn(p->stopped_ud);
}

void md_pipeline_stop_start(struct md_pipeline *p, void (*done)(void *ud), void *ud)
{
    if (p->stop_state != PIPE_RUNNING)
        return;
    p->stop_state = PIPE_STOPPING;
    p->stopped_fn = done;
    p->stopped_ud = ud;
    atomic_store(&p->intake_stop, 1);
    if (atomic_load(&p->intake_running) == 0)
        atomic_store(&p->agg_stop, 1); /* no intake thread to leave last (a feed, a failed start) */
    md_pipe_wake(p);
    bool owner = p->inline_agg ? p->nthreads && p->threads[0]->started : p->agg_started;
    if (!owner)
        atomic_store(&p->agg_done, 1);
    if (atomic_load(&p->agg_done))
        stop_finish(p);
}

/* Waiting on the loop thread: the frames are delivered here as they come. */
void md_pipeline_stop(struct md_pipeline *p)
{
    md_pipeline_stop_start(p, NULL, NULL);
    while (p->stop_state == PIPE_STOPPING) {
        uint32_t seq = atomic_load(&p->loop_seq);
        if (p->async_init)
            deliver_frames(p);
        if (atomic_load(&p->agg_done)) {
            stop_finish(p);
            break;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        syscall(SYS_futex, &p->loop_seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
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
        free(t->cmsg);
        md_origin_free(t->origin);
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
    md_pipe_wake(p);
}
