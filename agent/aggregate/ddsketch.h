/*
 * ddsketch.h: the Datadog agent's DDSketch variant, for distributions.
 *
 * Datadog merges the sketches it receives from every host, so a sketch we ship
 * has to use exactly the agent's bin layout (datadog-agent pkg/quantile):
 * relative accuracy 1/128, gamma = 1 + 2/128, key(v) = round-half-even(
 * log_gamma(v)) + 1338, |v| below gamma^-1337 (~9.94e-10) in the zero bin,
 * negative values on negative keys, at most 4096 bins with the lowest keys
 * collapsed first. Memory is bounded by the bin limit, not by the number of
 * samples, which also makes it the bounded fallback for exact histograms.
 */
#ifndef METERD_DDSKETCH_H
#define METERD_DDSKETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The agent's constants (pkg/quantile/config.go, key.go). */
#define MD_DDSKETCH_BIN_LIMIT 4096
#define MD_DDSKETCH_EPS (1.0 / 128.0)
#define MD_DDSKETCH_GAMMA (1.0 + 2.0 * MD_DDSKETCH_EPS)
#define MD_DDSKETCH_BIAS 1338           /* -floor(log_gamma(1e-9)) + 1 */
#define MD_DDSKETCH_MAX_KEY 32766       /* int16 max - 1; +/-32767 mean +/-Inf */
#define MD_DDSKETCH_INF_KEY 32767

struct md_ddsketch {
    /* Summary, kept the way the agent keeps it (avg updated incrementally). */
    uint64_t count; /* values added (sum of n) */
    double min, max, sum, avg;
    /* Sparse bins: keys strictly increasing, counts[i] > 0. */
    int32_t *keys;
    uint32_t *counts;
    uint32_t nbins, cap;
    uint64_t bin_total; /* sum of counts (differs from count only on saturation) */
};

void md_ddsketch_init(struct md_ddsketch *s);
void md_ddsketch_free(struct md_ddsketch *s);

/* The agent's mapping: key of a value, and a key's value (gamma^(k - bias)). */
int32_t md_ddsketch_key(double v);
double md_ddsketch_key_value(int32_t k);

/*
 * Add `value` n times (n = floor(1/rate) for sampled values; 0 is a no-op).
 * Non-finite values are refused (-EINVAL); -ENOMEM leaves the sketch as it was.
 */
int md_ddsketch_add(struct md_ddsketch *s, double value, uint32_t n);
/*
 * Add one sampled value as the agent's Agent.Insert does: a rate outside
 * (0,1] counts as 1; otherwise the bins get floor(1/rate) and sum gets
 * value/rate.
 */
int md_ddsketch_add_rate(struct md_ddsketch *s, double value, double rate);

/*
 * Value at quantile q in [0,1]: min for q <= 0, max for q >= 1, else the
 * value of the bin holding rank round-half-even(q * (count - 1)), clamped to
 * [min, max]. 0 for an empty sketch (as the agent).
 */
double md_ddsketch_quantile(const struct md_ddsketch *s, double q);
/* Value of the bin holding 0-based rank `rank` (clamped as above); the
 * first and last ranks give min and max exactly. */
double md_ddsketch_value_at_rank(const struct md_ddsketch *s, uint64_t rank);

/* Borrow the bins (valid until the next change); returns their number. */
uint32_t md_ddsketch_bins(const struct md_ddsketch *s, const int32_t **keys,
                          const uint32_t **counts);

static inline bool md_ddsketch_empty(const struct md_ddsketch *s)
{
    return s->count == 0;
}

#endif
