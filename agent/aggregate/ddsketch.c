/*
 * ddsketch.c: the agent-compatible DDSketch (see ddsketch.h for why).
 *
 * Bins are two parallel sorted arrays (key, count) so that export to the
 * protobuf payload is a borrow, not a copy. An insert is a binary search and,
 * for a new key, a memmove of at most 4096 entries; in practice a window holds
 * a few hundred keys (one decade of values spans ~150 keys). When a new key
 * pushes the sketch past the bin limit, the lowest bin is folded into the next
 * one, which gives the same bins as the agent's batched trimLeft: the survivors
 * are always the highest 4096 keys and everything below lands in the lowest
 * survivor. Unlike the agent (uint16 bins, a key repeated on overflow) counts
 * are uint32 and saturate, so there is never more than one bin per key.
 */
#include "ddsketch.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DDS_MIN_CAP 32u
/* key_value(1) = gamma^(1 - bias) = gamma^-1337 (~9.94e-10): the agent's
 * norm.min, where the zero bin ends. Spelled out so that key() does not pay
 * for a pow() per sample; the unit test checks it against pow(). */
#define DDS_NORM_MIN 0x1.1147942601311p-30

static double dds_gamma_ln(void)
{
    /* The agent uses log1p(2 * eps): more accurate than log(1 + 2 * eps). */
    return log1p(2.0 * MD_DDSKETCH_EPS);
}

double md_ddsketch_key_value(int32_t k)
{
    if (k < 0)
        return -md_ddsketch_key_value(-k);
    if (k >= MD_DDSKETCH_INF_KEY)
        return INFINITY;
    if (k == 0)
        return 0.0;
    return pow(MD_DDSKETCH_GAMMA, (double)(k - MD_DDSKETCH_BIAS));
}

int32_t md_ddsketch_key(double v)
{
    if (v < 0)
        return -md_ddsketch_key(-v);
    /* The zero bin ends at the value of key 1, gamma^-1337, not at 1e-9. */
    if (!(v >= DDS_NORM_MIN))
        return 0;
    /* rint rounds half to even, like the agent's math.RoundToEven, so that
     * key(key_value(k)) == k. */
    double i = rint(log(v) / dds_gamma_ln()) + MD_DDSKETCH_BIAS;
    if (i > MD_DDSKETCH_MAX_KEY)
        return MD_DDSKETCH_INF_KEY;
    if (i < 1)
        return 1;
    return (int32_t)i;
}

void md_ddsketch_init(struct md_ddsketch *s)
{
    memset(s, 0, sizeof *s);
}

void md_ddsketch_free(struct md_ddsketch *s)
{
    free(s->keys);
    free(s->counts);
    md_ddsketch_init(s);
}

static uint32_t dds_sat_add(uint32_t a, uint64_t b)
{
    uint64_t r = (uint64_t)a + b;
    return r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

/* Grow both arrays to hold `need` (<= limit) bins. */
static int dds_reserve(struct md_ddsketch *s, uint32_t need)
{
    if (need <= s->cap)
        return 0;
    uint32_t cap = s->cap ? s->cap : DDS_MIN_CAP;
    while (cap < need)
        cap *= 2;
    if (cap > MD_DDSKETCH_BIN_LIMIT)
        cap = MD_DDSKETCH_BIN_LIMIT;
    int32_t *k = realloc(s->keys, cap * sizeof *k);
    if (!k)
        return -ENOMEM;
    s->keys = k;
    uint32_t *n = realloc(s->counts, cap * sizeof *n);
    if (!n)
        return -ENOMEM;
    s->counts = n;
    s->cap = cap;
    return 0;
}

/* Index of the first bin whose key is >= k. */
static uint32_t dds_lower_bound(const struct md_ddsketch *s, int32_t k)
{
    uint32_t lo = 0, hi = s->nbins;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->keys[mid] < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * A new key `k` (position i) into a full sketch. The agent would insert it and
 * fold the lowest bin into the next one; done in place, that is: below every
 * bin, k lands in bin 0; otherwise the keys below i move down one slot, k
 * takes slot i - 1 and old bin 0 folds into the new slot 0.
 */
static int dds_add_key_full(struct md_ddsketch *s, uint32_t i, int32_t k, uint32_t n)
{
    if (i == 0) {
        uint32_t before = s->counts[0];
        s->counts[0] = dds_sat_add(before, n);
        s->bin_total += s->counts[0] - before;
        return 0;
    }
    uint32_t folded = s->counts[0];
    memmove(s->keys, s->keys + 1, (i - 1) * sizeof *s->keys);
    memmove(s->counts, s->counts + 1, (i - 1) * sizeof *s->counts);
    s->keys[i - 1] = k;
    s->counts[i - 1] = n;
    uint64_t want = (uint64_t)s->counts[0] + folded;
    s->counts[0] = dds_sat_add(s->counts[0], folded);
    s->bin_total = s->bin_total + n - (want - s->counts[0]); /* minus what saturated */
    return 0;
}

static int dds_add_key(struct md_ddsketch *s, int32_t k, uint32_t n)
{
    uint32_t i = dds_lower_bound(s, k);
    if (i < s->nbins && s->keys[i] == k) {
        uint32_t before = s->counts[i];
        s->counts[i] = dds_sat_add(before, n);
        s->bin_total += s->counts[i] - before;
        return 0;
    }
    if (s->nbins == MD_DDSKETCH_BIN_LIMIT)
        return dds_add_key_full(s, i, k, n);
    if (dds_reserve(s, s->nbins + 1) != 0)
        return -ENOMEM;
    memmove(s->keys + i + 1, s->keys + i, (s->nbins - i) * sizeof *s->keys);
    memmove(s->counts + i + 1, s->counts + i, (s->nbins - i) * sizeof *s->counts);
    s->keys[i] = k;
    s->counts[i] = n;
    s->nbins++;
    s->bin_total += n;
    return 0;
}

/* The agent's Summary.Merge with {cnt, sum, min = max = avg = v}. */
static void dds_summary_add(struct md_ddsketch *s, double v, uint64_t cnt, double sum)
{
    if (s->count == 0) {
        s->count = cnt;
        s->sum = sum;
        s->min = s->max = s->avg = v;
        return;
    }
    if (v > s->max)
        s->max = v;
    if (v < s->min)
        s->min = v;
    s->count += cnt;
    s->sum += sum;
    s->avg += (v - s->avg) * (double)cnt / (double)s->count;
}

int md_ddsketch_add(struct md_ddsketch *s, double value, uint32_t n)
{
    if (!isfinite(value))
        return -EINVAL;
    if (n == 0)
        return 0;
    int rc = dds_add_key(s, md_ddsketch_key(value), n);
    if (rc != 0)
        return rc;
    dds_summary_add(s, value, n, (double)n * value);
    return 0;
}

int md_ddsketch_add_rate(struct md_ddsketch *s, double value, double rate)
{
    if (!(rate > 0 && rate <= 1))
        rate = 1;
    if (rate == 1)
        return md_ddsketch_add(s, value, 1);
    if (!isfinite(value))
        return -EINVAL;
    double times = 1.0 / rate;
    /* The bins get the truncated count, the sum the exact 1/rate (agent). */
    uint32_t n = times >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)times;
    int rc = dds_add_key(s, md_ddsketch_key(value), n);
    if (rc != 0)
        return rc;
    dds_summary_add(s, value, n, times * value);
    return 0;
}

double md_ddsketch_value_at_rank(const struct md_ddsketch *s, uint64_t rank)
{
    if (s->nbins == 0)
        return 0;
    /* The ends are known exactly (the agent's interpolation also lands on
     * min for rank 0). */
    if (rank == 0)
        return s->min;
    if (rank >= s->bin_total - 1)
        return s->max;
    uint64_t cum = 0;
    for (uint32_t i = 0; i < s->nbins; i++) {
        cum += s->counts[i];
        if (cum <= rank)
            continue;
        /* The key's value is the centre of its bin in log space (keys are
         * rounded, not floored), so it is within 1/128 of every value in it;
         * the agent's interpolation toward value * gamma is not used, as it
         * can be off by up to gamma^1.5 - 1 (~2.4%), worse for negatives. */
        double v = md_ddsketch_key_value(s->keys[i]);
        if (v < s->min)
            v = s->min;
        if (v > s->max)
            v = s->max;
        return v;
    }
    return s->max;
}

double md_ddsketch_quantile(const struct md_ddsketch *s, double q)
{
    if (s->bin_total == 0)
        return 0;
    if (!(q > 0))
        return s->min;
    if (q >= 1)
        return s->max;
    /* The agent's rank: round-half-even(q * (n - 1)), 0-based. */
    double r = rint(q * (double)(s->bin_total - 1));
    return md_ddsketch_value_at_rank(s, (uint64_t)r);
}

uint32_t md_ddsketch_bins(const struct md_ddsketch *s, const int32_t **keys,
                          const uint32_t **counts)
{
    if (keys)
        *keys = s->keys;
    if (counts)
        *counts = s->counts;
    return s->nbins;
}
