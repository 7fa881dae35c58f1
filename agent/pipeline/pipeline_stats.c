/*
 * pipeline_stats.c: the pipeline's counters as the status endpoint reads
 * them, and the intake ledger made of them (pipeline.h says what it
 * promises). Each thread publishes its counters once per batch as one
 * consistent snapshot; a reader on another thread takes the aggregator's
 * snapshot before the intake threads', which is what lets the ledger's
 * in-transit term be measured rather than inferred.
 */
#include <sched.h>
#include <string.h>

#include "intake.h"
#include "pipeline.h"
#include "pipeline_threads.h"

/*
 * Sequence lock: the writer makes seq odd, stores, makes it even; a reader
 * retries while it is odd or changed under it. Once per batch, not per
 * metric.
 */
void md_pipe_seq_publish(_Atomic uint32_t *seq, _Atomic uint64_t *dst, const void *src, size_t n)
{
    const uint64_t *v = src;
    uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);
    atomic_store_explicit(seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&dst[i], v[i], memory_order_relaxed);
    atomic_store_explicit(seq, s + 2, memory_order_release);
}

void md_pipe_seq_read(_Atomic uint32_t *seq, const _Atomic uint64_t *src, void *dst, size_t n)
{
    uint64_t *v = dst;
    for (;;) {
        uint32_t s = atomic_load_explicit(seq, memory_order_acquire);
        if (s & 1) {
            sched_yield();
            continue;
        }
        for (size_t i = 0; i < n; i++)
            v[i] = atomic_load_explicit(&src[i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(seq, memory_order_relaxed) == s)
            return;
    }
}

void md_pipe_publish_stats(struct intake_thread *t)
{
    struct intake_counts c = {.st = *md_statsd_stats(t->sd), .ring_full = t->ring_full,
                              .ring_full_msgs = t->ring_full_msgs, .ring_waits = t->ring_waits,
                              .pushed = t->pushed};
    md_pipe_seq_publish(&t->pub_seq, t->pub, &c, INTAKE_N);
}

static int64_t kernel_drops(struct md_pipeline *p)
{
    unsigned long inodes[MAX_THREADS];
    for (unsigned i = 0; i < p->nthreads; i++)
        inodes[i] = p->threads[i]->inode;
    return md_intake_kernel_drops(inodes, p->nthreads);
}

bool md_pipeline_thread_stats(struct md_pipeline *p, unsigned i, struct md_statsd_stats *out,
                              uint64_t *ring_full_drops)
{
    if (i >= p->nthreads)
        return false;
    struct intake_counts c;
    md_pipe_seq_read(&p->threads[i]->pub_seq, p->threads[i]->pub, &c, INTAKE_N);
    *out = c.st;
    *ring_full_drops = c.ring_full;
    return true;
}

/* a - b, field by field, for the DogStatsD share of the aggregator's stats. */
static struct md_agg_stats agg_minus(const struct md_agg_stats *a, const struct md_agg_stats *b)
{
    struct md_agg_stats d;
    const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
    uint64_t *z = (uint64_t *)&d;
    for (size_t k = 0; k < sizeof d / sizeof(uint64_t); k++)
        z[k] = x[k] - y[k];
    return d;
}

/* The intake identity (pipeline.h): every sample received is in one term. */
static void ledger(const struct agg_counts *ac, const struct intake_counts *in,
                   struct md_intake_ledger *l)
{
    const struct md_statsd_stats *s = &in->st;
    struct md_agg_stats a = agg_minus(&ac->agg, &ac->coll);
    memset(l, 0, sizeof *l);
    uint64_t drops = 0;
    for (int k = 1; k < MD_PERR_COUNT; k++) {
        l->rejected[k] = s->errors[k];
        drops += s->errors[k];
    }
    l->received = s->metrics + drops;
    l->blocked = s->blocked + ac->sd.blocked;
    l->too_many_tags = s->too_many_tags + ac->sd.too_many_tags + a.too_many_tags;
    l->nonfinite = a.nonfinite_drops;
    l->context_limit = a.context_limit_drops;
    l->timestamp_type = a.timestamp_type_drops;
    l->no_memory = a.alloc_drops;
    l->ring_full = in->ring_full;
    l->reparse = ac->reparse;
    l->aggregated = a.points - a.context_limit_drops - a.timestamp_type_drops - a.alloc_drops;
    l->in_transit = in->pushed - ac->taken;
    drops += l->blocked + l->too_many_tags + l->nonfinite + l->context_limit + l->timestamp_type +
             l->no_memory + l->ring_full + l->reparse;
    l->balanced = l->received == l->aggregated + drops + l->in_transit;
}

void md_pipeline_stats(struct md_pipeline *p, struct md_pipeline_stats *out)
{
    memset(out, 0, sizeof *out);
    /* The aggregator's snapshot first: then the intake's is at least as new,
     * and every sample taken is one the snapshot counts as pushed. */
    struct agg_counts ac;
    md_pipe_seq_read(&p->agg_seq, p->agg_pub, &ac, AGG_N);
    struct intake_counts sum = {0};
    uint64_t *v = (uint64_t *)&sum;
    for (unsigned i = 0; i < p->nthreads; i++) {
        struct intake_counts c;
        md_pipe_seq_read(&p->threads[i]->pub_seq, p->threads[i]->pub, &c, INTAKE_N);
        const uint64_t *x = (const uint64_t *)&c;
        for (size_t k = 0; k < INTAKE_N; k++)
            v[k] += x[k];
    }
    out->statsd = sum.st;
    out->ring_full_drops = sum.ring_full;
    out->ring_full_msgs = sum.ring_full_msgs;
    out->ring_waits = sum.ring_waits;
    out->agg = ac.agg;
    out->fast_misses = ac.fast_misses;
    out->fast_mismatches = ac.fast_mismatches;
    out->kernel_drops = kernel_drops(p);
    out->threads = p->nthreads;
    out->point_ring_full = p->point_ring_full;
    out->point_too_long = p->point_too_long;
    ledger(&ac, &sum, &out->ledger);
}
