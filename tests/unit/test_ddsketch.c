/*
 * test_ddsketch.c: the agent-compatible DDSketch.
 *
 * Keys are recomputed here from the agent's formula (not from the module's
 * constants), quantiles are checked against exact quantiles of the same
 * random data (fixed seed), and the bin limit and memory bound are
 * checked on data built to hit them.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ddsketch.h"

/* splitmix64: a fixed, libc-independent random stream. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_unit(void)
{
    return (double)(rng_next() >> 11) * 0x1.0p-53;
}

/* The agent's config, derived independently: eps = 1/128, min = 1e-9. */
static double ref_gamma_ln(void)
{
    return log1p(2.0 / 128.0);
}

static int ref_bias(void)
{
    return -(int)floor(log(1e-9) / ref_gamma_ln()) + 1;
}

static int32_t ref_key(double v)
{
    if (v < 0)
        return -ref_key(-v);
    double norm_min = pow(1.0 + 2.0 / 128.0, 1 - ref_bias());
    if (v < norm_min)
        return 0;
    double i = rint(log(v) / ref_gamma_ln()) + ref_bias();
    return i > 32766 ? 32767 : (int32_t)i;
}

static void test_constants(void **state)
{
    (void)state;
    assert_int_equal(ref_bias(), MD_DDSKETCH_BIAS);
    assert_true(MD_DDSKETCH_GAMMA == 1.015625);
    /* The zero bin ends at gamma^-1337, just under 1e-9. */
    double norm_min = pow(1.015625, -1337);
    assert_true(norm_min == md_ddsketch_key_value(1));
    assert_true(norm_min < 1e-9 && norm_min > 0.99e-9);
    assert_int_equal(md_ddsketch_key(norm_min), 1);
    assert_int_equal(md_ddsketch_key(nextafter(norm_min, 0)), 0);
}

static void test_key_mapping(void **state)
{
    (void)state;
    /* Hand-checked anchors: log_gamma(1) = 0, so key(1) is the bias. */
    assert_int_equal(md_ddsketch_key(1.0), 1338);
    assert_int_equal(md_ddsketch_key(-1.0), -1338);
    assert_int_equal(md_ddsketch_key(1.015625), 1339);
    assert_int_equal(md_ddsketch_key(0.0), 0);
    assert_int_equal(md_ddsketch_key(-0.0), 0);
    assert_int_equal(md_ddsketch_key(5e-10), 0);
    assert_int_equal(md_ddsketch_key(-5e-10), 0);
    assert_int_equal(md_ddsketch_key(1e-9), 1);
    assert_int_equal(md_ddsketch_key(1e300), MD_DDSKETCH_INF_KEY);
    assert_int_equal(md_ddsketch_key(-1e300), -MD_DDSKETCH_INF_KEY);
    /* Rounding, not flooring: the boundary between 1338 and 1339 is sqrt(gamma). */
    double mid = sqrt(1.015625);
    assert_int_equal(md_ddsketch_key(mid * (1 + 1e-9)), 1339);
    assert_int_equal(md_ddsketch_key(mid * (1 - 1e-9)), 1338);

    const double vals[] = {1e-9, 2.5e-7, 0.001, 0.5, 0.99, 3.0, 42.0, 100.0, 1234.5678,
                           1e6, 8.6e9, 1e15, 1e100, 4e211};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        assert_int_equal(md_ddsketch_key(vals[i]), ref_key(vals[i]));
        assert_int_equal(md_ddsketch_key(-vals[i]), -ref_key(vals[i]));
    }
    /* Every key maps back to itself, and every value is within 1/128 of its
     * key's value. */
    for (int32_t k = 1; k <= MD_DDSKETCH_MAX_KEY; k++)
        assert_int_equal(md_ddsketch_key(md_ddsketch_key_value(k)), k);
    rng_state = 7;
    for (int i = 0; i < 100000; i++) {
        double v = exp((rng_unit() - 0.5) * 40); /* 2e-9 .. 5e8 */
        double back = md_ddsketch_key_value(md_ddsketch_key(v));
        assert_true(fabs(back - v) / v <= sqrt(1.015625) - 1 + 1e-12);
        assert_int_equal(md_ddsketch_key(v), ref_key(v));
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Largest relative error of the sketch's quantiles against exact ones. */
static double max_quantile_error(double *v, size_t n)
{
    struct md_ddsketch s;
    md_ddsketch_init(&s);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(md_ddsketch_add(&s, v[i], 1), 0);
    qsort(v, n, sizeof *v, cmp_double);
    const double qs[] = {0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999};
    double worst = 0;
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double exact = v[(size_t)rint(qs[i] * (double)(n - 1))];
        double got = md_ddsketch_quantile(&s, qs[i]);
        double err = fabs(got - exact) / fabs(exact);
        if (err > worst)
            worst = err;
    }
    assert_true(md_ddsketch_quantile(&s, 0) == v[0]);
    assert_true(md_ddsketch_quantile(&s, 1) == v[n - 1]);
    md_ddsketch_free(&s);
    return worst;
}

#define NQ 100000

static void test_quantile_accuracy(void **state)
{
    (void)state;
    double *v = malloc(NQ * sizeof *v);
    assert_non_null(v);

    rng_state = 1;
    for (size_t i = 0; i < NQ; i++)
        v[i] = 1 + rng_unit() * 999; /* uniform [1, 1000) */
    double e_uni = max_quantile_error(v, NQ);

    for (size_t i = 0; i < NQ; i++)
        v[i] = -log1p(-rng_unit()) * 10 + 1e-6; /* exponential, mean 10 */
    double e_exp = max_quantile_error(v, NQ);

    for (size_t i = 0; i < NQ; i++) { /* both signs, five decades */
        double m = exp(rng_unit() * log(1e5)) * 1e-2;
        v[i] = rng_unit() < 0.4 ? -m : m;
    }
    double e_mix = max_quantile_error(v, NQ);

    print_message("max relative quantile error: uniform %.4f%%, exponential %.4f%%, "
                  "mixed-sign %.4f%%\n", e_uni * 100, e_exp * 100, e_mix * 100);
    assert_true(e_uni < 0.01);
    assert_true(e_exp < 0.01);
    assert_true(e_mix < 0.01);
    free(v);
}

static void test_summary_and_edges(void **state)
{
    (void)state;
    struct md_ddsketch s;
    md_ddsketch_init(&s);
    assert_true(md_ddsketch_quantile(&s, 0.5) == 0); /* empty: 0, as the agent */
    assert_int_equal(md_ddsketch_add(&s, NAN, 1), -EINVAL);
    assert_int_equal(md_ddsketch_add(&s, INFINITY, 1), -EINVAL);
    assert_int_equal(md_ddsketch_add(&s, 3.0, 0), 0);
    assert_true(md_ddsketch_empty(&s));
    assert_int_equal(md_ddsketch_bins(&s, NULL, NULL), 0);

    assert_int_equal(md_ddsketch_add(&s, 42.0, 1), 0);
    assert_true(md_ddsketch_quantile(&s, 0.5) == 42.0); /* clamped to [min, max] */
    assert_int_equal(md_ddsketch_add(&s, -2.0, 3), 0);
    assert_int_equal(md_ddsketch_add(&s, 0.0, 1), 0);
    assert_int_equal(s.count, 5);
    assert_true(s.min == -2.0 && s.max == 42.0);
    assert_true(fabs(s.sum - 36.0) < 1e-12);
    assert_true(fabs(s.avg - 36.0 / 5) < 1e-12);
    const int32_t *k;
    const uint32_t *n;
    assert_int_equal(md_ddsketch_bins(&s, &k, &n), 3);
    assert_int_equal(k[0], -ref_key(2.0));
    assert_int_equal(n[0], 3);
    assert_int_equal(k[1], 0);
    assert_int_equal(n[1], 1);
    assert_int_equal(k[2], ref_key(42.0));
    /* Ranks 0..2 are -2, 3 is 0, 4 is 42; the extreme ranks are exact. */
    assert_true(md_ddsketch_value_at_rank(&s, 0) == -2.0);
    assert_true(fabs(md_ddsketch_value_at_rank(&s, 2) + 2.0) <= 2.0 / 128);
    assert_true(md_ddsketch_value_at_rank(&s, 3) == 0.0);
    assert_true(md_ddsketch_value_at_rank(&s, 4) == 42.0);
    assert_true(md_ddsketch_value_at_rank(&s, 99) == 42.0);

    md_ddsketch_free(&s);
}

static void test_sample_rate(void **state)
{
    (void)state;
    struct md_ddsketch s;
    md_ddsketch_init(&s);
    /* 0.3 -> 3 in the bins and count, 10/0.3 in the sum (agent Insert). */
    assert_int_equal(md_ddsketch_add_rate(&s, 10.0, 0.3), 0);
    assert_int_equal(s.count, 3);
    assert_int_equal(s.bin_total, 3);
    assert_true(fabs(s.sum - 10.0 / 0.3) < 1e-9);
    /* Out-of-range rates count once. */
    assert_int_equal(md_ddsketch_add_rate(&s, 10.0, 0), 0);
    assert_int_equal(md_ddsketch_add_rate(&s, 10.0, 2), 0);
    assert_int_equal(md_ddsketch_add_rate(&s, 10.0, NAN), 0);
    assert_int_equal(md_ddsketch_add_rate(&s, 10.0, -1), 0);
    assert_int_equal(s.count, 7);
    /* A tiny rate saturates the bin instead of overflowing it. */
    assert_int_equal(md_ddsketch_add_rate(&s, 10.0, 1e-300), 0);
    assert_int_equal(s.count, 7 + (uint64_t)UINT32_MAX);
    assert_int_equal(s.bin_total, UINT32_MAX);
    const uint32_t *n;
    assert_int_equal(md_ddsketch_bins(&s, NULL, &n), 1);
    assert_int_equal(n[0], UINT32_MAX);
    md_ddsketch_free(&s);
}

static void test_bin_limit_collapse(void **state)
{
    (void)state;
    struct md_ddsketch s;
    md_ddsketch_init(&s);
    /* One negative value, then 6001 distinct positive keys: the negative bin
     * and the lowest positive ones fold into the lowest survivor. */
    assert_int_equal(md_ddsketch_add(&s, -5.0, 2), 0);
    const int32_t nkeys = 6001;
    for (int32_t k = 1; k <= nkeys; k++)
        assert_int_equal(md_ddsketch_add(&s, md_ddsketch_key_value(k), 1), 0);
    const int32_t *keys;
    const uint32_t *counts;
    uint32_t nb = md_ddsketch_bins(&s, &keys, &counts);
    assert_int_equal(nb, MD_DDSKETCH_BIN_LIMIT);
    assert_true(s.cap <= MD_DDSKETCH_BIN_LIMIT + 1);
    int32_t lowest = nkeys - MD_DDSKETCH_BIN_LIMIT + 1;
    assert_int_equal(keys[0], lowest);
    assert_int_equal(counts[0], 2 + lowest); /* -5 twice, keys 1..lowest */
    uint64_t total = 0;
    for (uint32_t i = 0; i < nb; i++) {
        if (i > 0) {
            assert_true(keys[i] > keys[i - 1]);
            assert_int_equal(counts[i], 1);
        }
        total += counts[i];
    }
    assert_int_equal(total, nkeys + 2);
    assert_int_equal(s.bin_total, nkeys + 2);
    assert_int_equal(keys[nb - 1], nkeys);
    /* A value below every survivor also lands in the lowest survivor. */
    assert_int_equal(md_ddsketch_add(&s, -1e6, 1), 0);
    nb = md_ddsketch_bins(&s, &keys, &counts);
    assert_int_equal(nb, MD_DDSKETCH_BIN_LIMIT);
    assert_int_equal(keys[0], lowest);
    assert_int_equal(counts[0], 3 + lowest);
    md_ddsketch_free(&s);
}

static void test_million_adds_bounded(void **state)
{
    (void)state;
    struct md_ddsketch s;
    md_ddsketch_init(&s);
    /* Reference: plain per-key counts, collapsed once at the end the way the
     * agent's trimLeft does (top 4096 keys survive, the rest go to the lowest
     * survivor). Arrival order must not matter. */
    uint64_t *ref = calloc(65535, sizeof *ref);
    assert_non_null(ref);
    rng_state = 11;
    /* Both signs over 1e-15 .. 1e15: ~9000 distinct keys, so the limit bites. */
    for (int i = 0; i < 1000000; i++) {
        double v = exp((rng_unit() - 0.5) * 69);
        v = rng_next() & 1 ? v : -v;
        assert_int_equal(md_ddsketch_add(&s, v, 1), 0);
        ref[ref_key(v) + 32767]++;
        assert_true(s.nbins <= MD_DDSKETCH_BIN_LIMIT);
    }
    assert_int_equal(s.count, 1000000);
    assert_int_equal(s.bin_total, 1000000);
    assert_int_equal(s.nbins, MD_DDSKETCH_BIN_LIMIT);
    const int32_t *keys;
    const uint32_t *counts;
    md_ddsketch_bins(&s, &keys, &counts);
    int j = MD_DDSKETCH_BIN_LIMIT - 1;
    uint64_t below = 0;
    for (int idx = 65534; idx >= 0; idx--) {
        if (!ref[idx])
            continue;
        if (j > 0) {
            assert_int_equal(keys[j], idx - 32767);
            assert_int_equal(counts[j], ref[idx]);
            j--;
            continue;
        }
        if (below == 0) /* the 4096th highest key is the lowest survivor */
            assert_int_equal(keys[0], idx - 32767);
        below += ref[idx];
    }
    assert_int_equal(counts[0], below);
    free(ref);
    size_t bytes = s.cap * (sizeof *s.keys + sizeof *s.counts);
    print_message("1e6 adds: %u bins, %zu bytes of bins\n", s.nbins, bytes);
    assert_true(bytes <= (MD_DDSKETCH_BIN_LIMIT + 1) * 8);
    md_ddsketch_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constants),
        cmocka_unit_test(test_key_mapping),
        cmocka_unit_test(test_quantile_accuracy),
        cmocka_unit_test(test_summary_and_edges),
        cmocka_unit_test(test_sample_rate),
        cmocka_unit_test(test_bin_limit_collapse),
        cmocka_unit_test(test_million_adds_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
