/*
 * histogram.c: exact weighted histograms (see histogram.h).
 *
 * Formulas follow datadog-agent pkg/metrics/histogram.go so dashboards see
 * the same numbers: weight = int64(1/rate) (rate 0 -> 1), count = sum of
 * weights, sum = sum of value/rate, median = first sample whose cumulative
 * weight exceeds (count-1)/2, percentile p = first sample whose cumulative
 * weight exceeds (p*100*count-1)/100, both with integer division.
 *
 * Memory per context is bounded: past `limit` samples in one window the
 * samples move into a DDSketch (1% relative accuracy, at most 4096 bins)
 * and the same rank rules are answered from it. max, min, avg, sum and
 * count stay exact either way. The first few samples live in the
 * histogram itself (histogram.h), so a timer with a few samples a window
 * costs one small allocation.
 */
#include "histogram.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void md_hist_opts_suffixes(struct md_hist_opts *o)
{
    for (unsigned i = 0; i < o->npercentiles && i < MD_HIST_MAX_PERCENTILES; i++)
        snprintf(o->pct_suffix[i], sizeof o->pct_suffix[0], ".%ldpercentile",
                 lround(o->percentiles[i] * 100));
}

_Static_assert(sizeof(struct md_hist) <= 88, "a timer window grew past a 96-byte malloc chunk");

static struct md_hist_sample *samples(struct md_hist *h)
{
    return h->cap ? h->u.heap : h->inl;
}

/* Move the exact samples into a sketch; false when memory is short. */
static bool to_sketch(struct md_hist *h)
{
    struct md_ddsketch *sk = malloc(sizeof *sk);
    if (!sk)
        return false;
    md_ddsketch_init(sk);
    const struct md_hist_sample *s = samples(h);
    for (uint32_t i = 0; i < h->n; i++)
        md_ddsketch_add(sk, s[i].value, (uint32_t)s[i].weight);
    if (h->cap)
        free(h->u.heap);
    h->u.sk = sk;
    h->sketched = true;
    h->n = h->cap = 0;
    return true;
}

/* Room for one more exact sample; false when memory is short. */
static bool make_room(struct md_hist *h)
{
    uint32_t room = h->cap ? h->cap : MD_HIST_INLINE;
    if (h->n < room)
        return true;
    uint32_t cap = h->cap ? h->cap * 2 : 8;
    struct md_hist_sample *s = h->cap ? realloc(h->u.heap, cap * sizeof *s) : malloc(cap * sizeof *s);
    if (!s)
        return false;
    if (!h->cap)
        memcpy(s, h->inl, h->n * sizeof *s);
    h->u.heap = s;
    h->cap = cap;
    return true;
}

void md_hist_add(struct md_hist *h, double value, double rate)
{
    if (!(rate > 0) || rate > 1)
        rate = 1;
    int64_t w = (int64_t)(1 / rate);
    if (!h->sketched && h->limit && h->n >= h->limit)
        to_sketch(h);
    if (h->sketched) {
        md_ddsketch_add(h->u.sk, value, w > UINT32_MAX ? UINT32_MAX : (uint32_t)w);
        h->count += w;
        h->sum += value / rate;
        return;
    }
    if (!make_room(h))
        return;
    samples(h)[h->n++] = (struct md_hist_sample){value, w};
    h->count += w;
    h->sum += value / rate;
}

static int cmp_sample(const void *a, const void *b)
{
    double x = ((const struct md_hist_sample *)a)->value;
    double y = ((const struct md_hist_sample *)b)->value;
    return (x > y) - (x < y);
}

/* First sample whose cumulative weight exceeds target. */
static double weighted_at(const struct md_hist *h, int64_t target)
{
    if (h->sketched)
        return md_ddsketch_value_at_rank(h->u.sk, target < 0 ? 0 : (uint64_t)target);
    const struct md_hist_sample *s = md_hist_samples(h);
    int64_t cum = 0;
    for (uint32_t i = 0; i < h->n; i++) {
        cum += s[i].weight;
        if (cum > target)
            return s[i].value;
    }
    return s[h->n - 1].value;
}

int md_hist_flush(struct md_hist *h, const struct md_hist_opts *o, struct md_frame *f,
                  const char *name, const struct md_series_key *key, int64_t ts,
                  uint32_t interval)
{
    if (h->n == 0 && !h->sketched)
        return 0;
    struct md_hist_sample *s = samples(h);
    if (!h->sketched)
        qsort(s, h->n, sizeof *s, cmp_sample);
    double max = h->sketched ? h->u.sk->max : s[h->n - 1].value;
    double min = h->sketched ? h->u.sk->min : s[0].value;
    int rc = 0;
#define ADD(suffix, type, v) \
    rc |= md_frame_add_ref(f, name, suffix, key, type, interval, ts, v)
    if (o->aggregates & MD_HAGG_MAX)
        ADD(".max", MD_SERIES_GAUGE, max);
    if (o->aggregates & MD_HAGG_MIN)
        ADD(".min", MD_SERIES_GAUGE, min);
    if (o->aggregates & MD_HAGG_MEDIAN)
        ADD(".median", MD_SERIES_GAUGE, weighted_at(h, (h->count - 1) / 2));
    if (o->aggregates & MD_HAGG_AVG && h->count > 0)
        ADD(".avg", MD_SERIES_GAUGE, h->sum / (double)h->count);
    if (o->aggregates & MD_HAGG_SUM)
        ADD(".sum", MD_SERIES_GAUGE, h->sum);
    if (o->aggregates & MD_HAGG_COUNT)
        ADD(".count", MD_SERIES_RATE, (double)h->count / interval);
    for (unsigned i = 0; i < o->npercentiles; i++) {
        int pct = (int)lround(o->percentiles[i] * 100);
        ADD(o->pct_suffix[i], MD_SERIES_GAUGE, weighted_at(h, (pct * h->count - 1) / 100));
    }
#undef ADD
    if (h->sketched) {
        md_ddsketch_free(h->u.sk);
        free(h->u.sk);
        h->u.sk = NULL;
        h->sketched = false;
    }
    h->n = 0;
    h->count = 0;
    h->sum = 0;
    return rc ? -ENOMEM : 0;
}

void md_hist_free(struct md_hist *h)
{
    if (h->sketched) {
        md_ddsketch_free(h->u.sk);
        free(h->u.sk);
    } else if (h->cap) {
        free(h->u.heap);
    }
    memset(h, 0, sizeof *h);
}
