/*
 * pipeline_threads.c: what the pipeline's intake threads run (see
 * pipeline.h for the shape, pipeline_threads.h for the shared state, and
 * pipeline_agg.c for the aggregator's side).
 *
 * Per metric, an intake thread does: split, parse, enrich, hash the context
 * key, then either fold the sample into the aggregator itself (a lone
 * intake thread, md_pipe_inline_main) or copy the line into its ring for the
 * aggregator thread. No allocation, no lock, no syscall: the syscalls
 * (recvmmsg, clock_gettime via vDSO, the futex wake when the aggregator
 * sleeps) happen once per batch of up to 64 datagrams. The aggregator looks
 * the key up; only for a context it has not seen (or for rare messages:
 * events, checks, packed values, |T) does it parse the line copy again, so
 * names and tags are interned once per new context. Between reads, a UDP
 * intake thread that saw traffic naps a bounded short time instead of
 * blocking (see "taking fewer wake-ups"), so one wake-up collects tens of
 * datagrams even when each carries one metric.
 */
#include "pipeline_threads.h"

#include <errno.h>
#include <linux/filter.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* --- intake threads ----------------------------------------------------- */

/* Room for a record in the thread's ring, honouring the full-ring policy. */
static struct rec *reserve(struct intake_thread *t, uint32_t n)
{
    for (;;) {
        struct rec *r = md_ring_reserve(&t->ring, (uint32_t)sizeof(struct rec) + n);
        if (r)
            return r;
        bool block = t->p->block_on_full || t->fd < 0; /* a feed's caller can wait */
        if (!block || atomic_load_explicit(&t->p->agg_stop, memory_order_relaxed))
            return NULL; /* the caller counts what it loses */
        /* block: let the aggregator see what we have (counted first), and wait for room */
        t->ring_waits++;
        md_pipe_publish_stats(t);
        md_ring_publish(&t->ring);
        md_pipe_wake(t->p);
        sched_yield();
    }
}

_Static_assert(sizeof(struct rec) == 24, "ring record header");

/* The record of a line (after the batch's time, once): its optional fields and its copy. */
static struct rec *put_line(struct intake_thread *t, int kind, const char *line, size_t len,
                            uint32_t flags, double rate, uint64_t member)
{
    if (len > UINT16_MAX)
        return NULL;
    if (!t->now_sent) {
        struct rec *tr = reserve(t, 0);
        if (!tr)
            return NULL;
        *tr = (struct rec){.kind = REC_TIME, .value = t->now};
        t->now_sent = true;
    }
    uint32_t opt = ((flags & REC_RATE) ? 8 : 0) + ((flags & REC_MEMBER) ? 8 : 0);
    struct rec *r = reserve(t, opt + (uint32_t)len);
    if (!r)
        return NULL;
    r->kind = (uint8_t)kind;
    r->len = (uint16_t)len;
    r->flags = flags;
    char *d = r->data;
    if (flags & REC_RATE) {
        memcpy(d, &rate, 8);
        d += 8;
    }
    if (flags & REC_MEMBER) {
        memcpy(d, &member, 8);
        d += 8;
    }
    memcpy(d, line, len);
    return r;
}

/*
 * A line the aggregator parses in full: events, checks (0 samples), packed
 * and |T values. A REC_LINE's key holds its sample count, so the
 * aggregator knows how many it took.
 */
static void slow_line(struct intake_thread *t, char *line, size_t len, uint64_t samples)
{
    if (t->p->inline_agg) {
        t->pushed += samples;
        t->p->ac.taken += samples;
        md_pipe_slow_fold(t->p, line, len, samples, t->now);
        return;
    }
    struct rec *r = put_line(t, REC_LINE, line, len, 0, 1, 0);
    if (r) {
        r->key = samples;
        t->pushed += samples;
    } else if (samples) {
        t->ring_full += samples;
    } else {
        t->ring_full_msgs++;
    }
}

static void intake_line(void *ud, char *line, size_t len, enum md_parse_error err)
{
    struct intake_thread *t = ud;
    struct md_statsd_stats *st = md_statsd_stats_mut(t->sd);
    if (err != MD_PERR_NONE) {
        st->errors[err]++;
        return;
    }
    if (t->origin) /* the sender's container tags become part of the line */
        line = md_origin_apply(t->origin, t->pid, line, len, t->now, &len);
    if (len > t->max_line) {
        st->errors[MD_PERR_LINE_TOO_LONG]++;
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
        slow_line(t, line, len, 0);
        return;
    case MD_MSG_SERVICE_CHECK:
        st->service_checks++;
        slow_line(t, line, len, 0);
        return;
    case MD_MSG_METRIC:
        break;
    }
    const struct md_sample *m = &msg.u.metric;
    uint64_t samples = m->type == MD_SET ? 1 : m->nvalues;
    st->metrics += samples;
    if (m->nvalues > 1 || (m->flags & MD_SAMPLE_HAS_TS)) {
        slow_line(t, line, len, samples); /* rare: the aggregator parses it */
        return;
    }
    uint64_t key;
    if (md_statsd_fast_key(t->sd, &t->keyer, m, &key) != 0)
        return; /* counted: blocked or too many tags */
    if (t->p->inline_agg) {
        t->pushed++;
        t->p->ac.taken++;
        struct md_fast f = {.type = m->type, .value = m->value, .rate = m->sample_rate,
                            .now = t->now, .signed_value = (m->flags & MD_SAMPLE_SIGNED) != 0};
        if (m->type == MD_SET)
            f.member_hash = md_hash(m->values.p, m->values.len);
        if (md_agg_add_fast(t->p->agg, key, &f) == -ENOENT)
            md_pipe_fast_miss(t->p, line, len, t->now);
        return;
    }
    uint32_t flags = ((m->flags & MD_SAMPLE_SIGNED) ? REC_SIGNED : 0) |
                     (m->sample_rate != 1 ? REC_RATE : 0) | (m->type == MD_SET ? REC_MEMBER : 0);
    struct rec *r = put_line(t, REC_FAST, line, len, flags, m->sample_rate,
                             m->type == MD_SET ? md_hash(m->values.p, m->values.len) : 0);
    if (!r) {
        t->ring_full++;
        return;
    }
    t->pushed++;
    r->type = (uint8_t)m->type;
    r->key = key;
    r->value = m->value;
}

/* The sender pid the kernel attached to datagram i (SO_PASSCRED), 0 if none. */
static int sender_pid(struct intake_thread *t, int i)
{
    struct msghdr *h = &t->msgs[i].msg_hdr;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred cr;
            memcpy(&cr, CMSG_DATA(c), sizeof cr);
            return cr.pid;
        }
    return 0;
}

/* One recvmmsg; returns datagrams read (0 on timeout or when empty). */
static int intake_batch(struct intake_thread *t, int flags)
{
    for (int i = 0; i < BATCH; i++) {
        t->iov[i] = (struct iovec){t->bufs + (size_t)i * t->bufsize, t->bufsize};
        t->msgs[i].msg_hdr = (struct msghdr){.msg_iov = &t->iov[i], .msg_iovlen = 1};
        if (t->cmsg) {
            t->msgs[i].msg_hdr.msg_control = t->cmsg + (size_t)i * MD_CRED_SPACE;
            t->msgs[i].msg_hdr.msg_controllen = MD_CRED_SPACE;
        }
    }
    int n = recvmmsg(t->fd, t->msgs, BATCH, flags, NULL);
    if (n <= 0)
        return 0;
    t->now = md_wall_now();
    t->now_sent = false;
    for (int i = 0; i < n; i++) {
        size_t len = t->msgs[i].msg_len;
        bool trunc = (t->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 || len > t->bufsize;
        md_statsd_stats_mut(t->sd)->packets++;
        md_statsd_stats_mut(t->sd)->bytes += len;
        t->pid = t->cmsg ? sender_pid(t, i) : 0;
        md_split_datagram(t->iov[i].iov_base, len > t->bufsize ? t->bufsize : len, trunc,
                          t->eol_required, intake_line, t);
    }
    md_pipe_publish_stats(t);
    if (t->p->inline_agg)
        return n;
    md_ring_publish(&t->ring);
    t->ring.head_cache = atomic_load_explicit(&t->ring.head, memory_order_acquire);
    if (t->ring.ptail - t->ring.head_cache > t->ring.size / 4)
        md_pipe_wake(t->p); /* getting full: do not wait for the aggregator's nap to end */
    return n;
}

void md_pipe_feed(struct intake_thread *t, char *buf, size_t len, bool truncated, double now)
{
    t->now = now;
    t->now_sent = false;
    md_statsd_stats_mut(t->sd)->packets++;
    md_statsd_stats_mut(t->sd)->bytes += len;
    md_split_datagram(buf, len > t->bufsize ? t->bufsize : len, truncated || len > t->bufsize,
                      t->eol_required, intake_line, t);
    md_pipe_publish_stats(t);
    md_ring_publish(&t->ring);
    md_pipe_wake(t->p);
}

/* --- taking fewer wake-ups ---------------------------------------------- */

/*
 * At one metric per datagram the cost is not parsing but waking up: a
 * thread blocked in recvmmsg is woken for every datagram (or every few,
 * as a client's sendmmsg batch lands), and a wake-up costs more than the
 * parse. recvmmsg cannot wait for "a batch or a deadline" (its timeout is
 * only checked between datagrams) and SO_RCVLOWAT does not apply to UDP,
 * so the coalescing is done here: after a read that took some datagrams
 * but not a full batch, while they keep coming, the thread sleeps a
 * bounded short time and then reads without waiting; a read that finds
 * nothing returns it to blocking reads, and naps that do not pay are
 * tried less and less often (nap_plan). A nap aims at NAP_TARGET
 * datagrams at the rate just seen, lasts at most NAP_MAX_NS (so no sample
 * is held back long enough to matter to a 10 s window, and a stop or a
 * flush is seen soon), and never long enough to fill a quarter of the
 * receive buffer at that rate (NAP_SKB_COST: what a datagram costs the
 * buffer beyond its payload on Linux, about). Unix sockets never nap:
 * their queue is net.unix.max_dgram_qlen datagrams (10 by default), and
 * clients that write without blocking drop when it is full.
 * bench/bare_recv --coalesce applies the same rule, as the floor.
 */
#define NAP_MIN_NS 50000L
#define NAP_MAX_NS 1000000L
#define NAP_TARGET 32.0
#define NAP_WORTH 2.0 /* fewer per longest nap than this: blocking reads cost no more */
#define NAP_SKB_COST 1024.0
#define NAP_BACKOFF_MAX 64u /* reads without a nap after naps that did not pay */

struct napper {
    bool on;          /* a UDP socket */
    double rcvbuf;    /* its receive buffer as the kernel counts it */
    double prev;      /* monotonic time of the last read */
    long ns;          /* the nap before the next read; 0 = block in it */
    unsigned backoff; /* reads to skip after the next nap that does not pay */
    unsigned skip;    /* reads left before a nap may be tried again */
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void napper_init(struct napper *z, const struct intake_thread *t)
{
    int rcvbuf = 0;
    socklen_t len = sizeof rcvbuf;
    *z = (struct napper){.prev = mono_now()};
    z->on = !t->uds && getsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) == 0 && rcvbuf > 0;
    z->rcvbuf = rcvbuf;
}

/* The nap that gathers NAP_TARGET datagrams at the rate of the last read, within bounds. */
static long nap_for(const struct napper *z, int n, double bytes, double dt)
{
    double rate = n / dt;
    if (rate * (NAP_MAX_NS / 1e9) < NAP_WORTH)
        return 0;
    double nap = NAP_TARGET / rate;
    double room = z->rcvbuf / 4 / ((bytes + n * NAP_SKB_COST) / dt);
    if (room < nap)
        nap = room;
    if (nap * 1e9 < NAP_MIN_NS)
        return 0;
    return nap * 1e9 > NAP_MAX_NS ? NAP_MAX_NS : (long)(nap * 1e9);
}

/*
 * Decide the nap before the next read, after one that took n datagrams
 * (bytes of payload) arriving over dt seconds. blocked: that read waited
 * for them; napped: a nap came before it. Naps only pay when traffic is
 * spread out; a client that sends bursts (a batch of datagrams, then a
 * pause) is already handed over a burst per wake-up by the kernel, and a
 * nap after the burst comes back empty. So a read that waited longer than
 * the longest nap is not followed by one, and a nap that gathered fewer
 * than NAP_WORTH makes the next 2, 4, ... NAP_BACKOFF_MAX reads skip
 * napping; one that paid resets that.
 */
static void nap_plan(struct napper *z, int n, double bytes, double dt, bool blocked, bool napped)
{
    z->ns = 0;
    if (napped && n >= NAP_WORTH) {
        z->backoff = 0;
    } else if (napped) {
        z->backoff = z->backoff ? z->backoff * 2 : 2;
        if (z->backoff > NAP_BACKOFF_MAX)
            z->backoff = NAP_BACKOFF_MAX;
        z->skip = z->backoff;
    }
    if (!z->on || n <= 0 || n >= BATCH || dt <= 0 || (blocked && dt * 1e9 > NAP_MAX_NS))
        return;
    if (z->skip) {
        z->skip--;
        return;
    }
    z->ns = nap_for(z, n, bytes, dt);
}

/*
 * One read: after the nap the last read asked for, without waiting; else
 * blocking (SO_RCVTIMEO bounds it) when may_block. Returns datagrams read.
 */
static int intake_read(struct intake_thread *t, struct napper *z, bool may_block)
{
    bool nap = z->ns && may_block;
    if (nap) {
        struct timespec ts = {0, z->ns};
        nanosleep(&ts, NULL);
    }
    uint64_t bytes = md_statsd_stats(t->sd)->bytes;
    bool block = !z->ns && may_block;
    int n = intake_batch(t, block ? MSG_WAITFORONE : MSG_DONTWAIT);
    double now = mono_now();
    nap_plan(z, n, (double)(md_statsd_stats(t->sd)->bytes - bytes), now - z->prev, block, nap);
    z->prev = now;
    return n;
}

/* --- the last read ------------------------------------------------------ */

/*
 * At stop, nothing may stay in the kernel uncounted: a datagram the kernel
 * accepted is read (received, in the ledger); one it took after the last
 * read and freed at close would be lost without a trace. So the socket
 * first refuses new datagrams, then is read until empty, then closed
 * (after which the kernel refuses them outright: ECONNREFUSED, or ICMP
 * port unreachable). A unix socket is shut for reading (senders get
 * EPIPE; a filter would drop their datagrams silently); a UDP one, which
 * cannot be shut, gets a filter that passes none (the kernel counts what
 * it drops in the socket's drops: kernel_drops). The drain that follows
 * (the last seal, the backends) can take seconds; senders learn at once.
 */
static void intake_last_read(struct intake_thread *t)
{
    struct sock_filter none = BPF_STMT(BPF_RET | BPF_K, 0);
    struct sock_fprog prog = {.len = 1, .filter = &none};
    if (t->uds)
        shutdown(t->fd, SHUT_RD);
    else
        setsockopt(t->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
    while (intake_batch(t, MSG_DONTWAIT) > 0)
        ;
    close(t->fd);
    t->fd = -1;
    md_pipe_publish_stats(t);
}

void *md_pipe_intake_main(void *arg)
{
    struct intake_thread *t = arg;
    struct md_pipeline *p = t->p;
    struct napper z;
    napper_init(&z, t);
    while (!atomic_load_explicit(&p->intake_stop, memory_order_relaxed))
        intake_read(t, &z, true);
    intake_last_read(t);
    /* Its last records are published: the last one to leave lets the aggregator finish. */
    if (atomic_fetch_sub(&p->intake_running, 1) == 1)
        atomic_store(&p->agg_stop, 1);
    md_pipe_wake(p);
    return NULL;
}

/*
 * With one intake thread, that thread aggregates too (inline_agg): the
 * aggregator thread would only take turns with it, on one core a context
 * switch per batch, and when the other thread is descheduled the intake
 * waits on a full ring while datagrams queue in the kernel. Inline, the one
 * thread reads, parses and folds each batch, and between batches takes the
 * loop's points and does one step of a seal in progress (reading without
 * waiting until the seal is done, so a flush never holds the socket).
 */
void *md_pipe_inline_main(void *arg)
{
    struct intake_thread *t = arg;
    struct md_pipeline *p = t->p;
    struct napper z;
    napper_init(&z, t);
    while (!atomic_load_explicit(&p->intake_stop, memory_order_relaxed)) {
        if (atomic_load(&p->agg_paused)) {
            struct timespec ts = {0, 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (p->seal_blocked) {
            if (intake_batch(t, MSG_DONTWAIT) == 0) {
                struct timespec ts = {0, AGG_SEAL_NAP_NS};
                nanosleep(&ts, NULL);
            }
        } else {
            intake_read(t, &z, !p->seal_busy); /* a seal step is the pause while sealing */
        }
        md_pipe_agg_turn(p);
    }
    intake_last_read(t);
    md_pipe_agg_finish(p);
    return NULL;
}

