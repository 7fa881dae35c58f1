/*
 * test_etsy.c: etsy statsd flush statistics and naming.
 *
 * Cases come from etsy's own tests (test/process_metrics_tests.js,
 * test/graphite_tests.js) and the etsy fields of the shared protocol corpus.
 * Expected numbers are worked out here from the inputs with etsy's
 * definitions (sort, take the first/last round(|pct|/100*n), population
 * std ...), independently of agent/aggregate/etsy.c, so a wrong formula fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etsy.h"

#define IV 10u /* flush interval, seconds */
#define TS 1700000000

struct fx {
    struct md_frame f;
    const struct md_series_key *key;
    struct md_hist h;
    double timer_count;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    md_frame_init(&x->f, TS, IV);
    x->key = md_frame_key(&x->f, "", 0, NULL, 0);
    *state = x;
    return x->key ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    md_hist_free(&x->h);
    md_frame_free(&x->f);
    free(x);
    return 0;
}

/* Record timer samples the way the aggregator will: value once, count += 1/rate. */
static void timer_add(struct fx *x, const double *v, size_t n, double rate)
{
    for (size_t i = 0; i < n; i++) {
        md_hist_add(&x->h, v[i], rate);
        x->timer_count += 1 / rate;
    }
}

static const struct md_series *find(const struct fx *x, const char *name)
{
    for (size_t i = 0; i < x->f.nseries; i++)
        if (strcmp(x->f.series[i].name, name) == 0)
            return &x->f.series[i];
    return NULL;
}

static double value_of(const struct fx *x, const char *name)
{
    const struct md_series *s = find(x, name);
    if (!s)
        fail_msg("series %s missing", name);
    assert_int_equal(s->type, MD_SERIES_GAUGE);
    assert_int_equal(s->timestamp, TS);
    assert_ptr_equal(s->key, x->key);
    return s->value;
}

static void assert_near(double got, double want)
{
    if (fabs(got - want) > 1e-9 * fmax(1, fabs(want)))
        fail_msg("got %.17g, want %.17g", got, want);
}

static void expect(const struct fx *x, const char *name, double want)
{
    assert_near(value_of(x, name), want);
}

static int flush(struct fx *x, const double *pcts, size_t npcts)
{
    return md_etsy_timer_flush(&x->h, x->timer_count, pcts, npcts, &x->f, "a", 1, x->key, TS, IV);
}

/* ---- independent reference: the definitions, written plainly ---- */

static int cmp(const void *a, const void *b)
{
    double p = *(const double *)a, q = *(const double *)b;
    return (p > q) - (p < q);
}

static void sorted_copy(const double *v, size_t n, double *out)
{
    memcpy(out, v, n * sizeof *v);
    qsort(out, n, sizeof *out, cmp);
}

static double sum_range(const double *s, size_t from, size_t to, int squares)
{
    double t = 0;
    for (size_t i = from; i < to; i++)
        t += squares ? s[i] * s[i] : s[i];
    return t;
}

/* Check every base statistic of values v (n of them, sample rate rate). */
static void expect_base(const struct fx *x, const double *v, size_t n, double rate)
{
    double s[64];
    sorted_copy(v, n, s);
    double sum = sum_range(s, 0, n, 0), mean = sum / n, var = 0;
    for (size_t i = 0; i < n; i++)
        var += (s[i] - mean) * (s[i] - mean) / n;
    double count = n / rate;
    expect(x, "stats.timers.a.upper", s[n - 1]);
    expect(x, "stats.timers.a.lower", s[0]);
    expect(x, "stats.timers.a.count", count);
    expect(x, "stats.timers.a.count_ps", count / IV);
    expect(x, "stats.timers.a.sum", sum);
    expect(x, "stats.timers.a.sum_squares", sum_range(s, 0, n, 1));
    expect(x, "stats.timers.a.mean", mean);
    expect(x, "stats.timers.a.median", n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2);
    expect(x, "stats.timers.a.std", sqrt(var));
}

/* Check the statistics of threshold pct (name part p) over values v. */
static void expect_pct(const struct fx *x, const double *v, size_t n, double pct, const char *p)
{
    double s[64];
    sorted_copy(v, n, s);
    size_t k = n == 1 ? 1 : (size_t)floor(fabs(pct) / 100 * n + 0.5);
    size_t from = pct > 0 ? 0 : n - k, to = pct > 0 ? k : n;
    char name[96];
    snprintf(name, sizeof name, "stats.timers.a.count_%s", p);
    expect(x, name, (double)k);
    snprintf(name, sizeof name, "stats.timers.a.mean_%s", p);
    expect(x, name, sum_range(s, from, to, 0) / k);
    snprintf(name, sizeof name, "stats.timers.a.%s_%s", pct > 0 ? "upper" : "lower", p);
    expect(x, name, pct > 0 ? s[k - 1] : s[n - k]);
    snprintf(name, sizeof name, "stats.timers.a.sum_%s", p);
    expect(x, name, sum_range(s, from, to, 0));
    snprintf(name, sizeof name, "stats.timers.a.sum_squares_%s", p);
    expect(x, name, sum_range(s, from, to, 1));
}

/* ---- timers (process_metrics_tests.js) ---- */

static void test_timer_single(void **state)
{
    struct fx *x = *state;
    const double v[] = {100};
    timer_add(x, v, 1, 1);
    assert_int_equal(flush(x, NULL, 0), 0);
    expect_base(x, v, 1, 1);
    assert_int_equal(x->f.nseries, 9);
    assert_near(value_of(x, "stats.timers.a.std"), 0);
}

static void test_timer_multiple(void **state)
{
    struct fx *x = *state;
    const double v[] = {100, 200, 300};
    timer_add(x, v, 3, 1);
    assert_int_equal(flush(x, NULL, 0), 0);
    expect_base(x, v, 3, 1);
}

static void test_timer_even_median(void **state)
{
    struct fx *x = *state;
    const double v[] = {300, 200, 400, 100};
    timer_add(x, v, 4, 1);
    assert_int_equal(flush(x, NULL, 0), 0);
    expect_base(x, v, 4, 1);
    /* not the upper middle value the Datadog agent would report */
    assert_true(value_of(x, "stats.timers.a.median") != 300);
}

static void test_timer_single_value_percentiles(void **state)
{
    struct fx *x = *state;
    const double v[] = {100};
    const double pcts[] = {90, 80};
    timer_add(x, v, 1, 1);
    assert_int_equal(flush(x, pcts, 2), 0);
    expect_pct(x, v, 1, 90, "90");
    expect_pct(x, v, 1, 80, "80");
    assert_int_equal(x->f.nseries, 9 + 2 * 5);
}

static void test_timer_multiple_percentiles(void **state)
{
    struct fx *x = *state;
    const double v[] = {100, 200, 300};
    const double pcts[] = {90, 80};
    timer_add(x, v, 3, 1);
    assert_int_equal(flush(x, pcts, 2), 0);
    expect_pct(x, v, 3, 90, "90");
    expect_pct(x, v, 3, 80, "80");
    expect_base(x, v, 3, 1);
}

static void test_timer_top_percentile_single(void **state)
{
    struct fx *x = *state;
    const double v[] = {100};
    const double pcts[] = {-10};
    timer_add(x, v, 1, 1);
    assert_int_equal(flush(x, pcts, 1), 0);
    expect_pct(x, v, 1, -10, "top10");
    assert_null(find(x, "stats.timers.a.upper_top10"));
}

static void test_timer_top_percentile_multiple(void **state)
{
    struct fx *x = *state;
    const double v[] = {10, 10, 10, 10, 10, 10, 10, 10, 100, 200};
    const double pcts[] = {-20};
    timer_add(x, v, 10, 1);
    assert_int_equal(flush(x, pcts, 1), 0);
    expect_pct(x, v, 10, -20, "top20");
    expect_base(x, v, 10, 1);
}

/* Fractional thresholds: name part "99_9", and the values of the top share. */
static void test_timer_fractional_threshold(void **state)
{
    struct fx *x = *state;
    double v[40];
    for (size_t i = 0; i < 40; i++)
        v[i] = (double)((i * 7) % 40) + 0.25;
    const double pcts[] = {99.9, 95.5, -2.5};
    timer_add(x, v, 40, 1);
    assert_int_equal(flush(x, pcts, 3), 0);
    expect_pct(x, v, 40, 99.9, "99_9");
    expect_pct(x, v, 40, 95.5, "95_5");
    expect_pct(x, v, 40, -2.5, "top2_5");
}

/* A threshold whose share rounds to no value is left out (count > 1 only). */
static void test_timer_threshold_rounds_to_zero(void **state)
{
    struct fx *x = *state;
    const double v[] = {1, 2, 3};
    const double pcts[] = {10, 50};
    timer_add(x, v, 3, 1);
    assert_int_equal(flush(x, pcts, 2), 0);
    assert_null(find(x, "stats.timers.a.count_10"));
    assert_null(find(x, "stats.timers.a.mean_10"));
    /* 1.5 rounds half up (Math.round), so 2 values are in the 50th */
    expect(x, "stats.timers.a.count_50", floor(0.5 * 3 + 0.5));
    expect_pct(x, v, 3, 50, "50");
}

/* etsy emits NaN here (cumulativeValues[-1]); we emit the sum it meant. */
static void test_timer_top_threshold_covering_all(void **state)
{
    struct fx *x = *state;
    const double v[] = {4, 1, 2};
    const double pcts[] = {-100};
    timer_add(x, v, 3, 1);
    assert_int_equal(flush(x, pcts, 1), 0);
    expect_pct(x, v, 3, -100, "top100");
}

/* graphite_tests sampled_timers_are_valid: `100|ms|@0.1` counts 10. */
static void test_timer_sampled(void **state)
{
    struct fx *x = *state;
    const double v[] = {100};
    timer_add(x, v, 1, 0.1);
    assert_int_equal(flush(x, NULL, 0), 0);
    expect_base(x, v, 1, 0.1);
    assert_near(value_of(x, "stats.timers.a.count"), 1 / 0.1);
}

/* process_metrics timers_sampled_times: count from timer_count, stats from values. */
static void test_timer_sampled_percentiles(void **state)
{
    struct fx *x = *state;
    const double v[] = {100, 200, 300};
    const double pcts[] = {90, 80};
    timer_add(x, v, 3, 0.25);
    assert_int_equal(flush(x, pcts, 2), 0);
    expect_base(x, v, 3, 0.25);
    expect_pct(x, v, 3, 90, "90");
    expect_pct(x, v, 3, 80, "80");
}

static void test_timer_empty(void **state)
{
    struct fx *x = *state;
    const double pcts[] = {90};
    assert_int_equal(flush(x, pcts, 1), 0);
    assert_int_equal(x->f.nseries, 2);
    expect(x, "stats.timers.a.count", 0);
    expect(x, "stats.timers.a.count_ps", 0);
}

static void test_timer_long_name(void **state)
{
    struct fx *x = *state;
    char name[600], want[700];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    md_hist_add(&x->h, 5, 1);
    assert_int_equal(md_etsy_timer_flush(&x->h, 1, NULL, 0, &x->f, name, strlen(name), x->key,
                                         TS, IV), 0);
    snprintf(want, sizeof want, "stats.timers.%s.upper", name);
    assert_near(value_of(x, want), 5);
    assert_int_equal(md_etsy_timer_flush(&x->h, 1, NULL, 0, &x->f, name, 1, x->key, TS, 0),
                     -EINVAL);
}

/* ---- counters, gauges, sets ---- */

static void test_counter(void **state)
{
    struct fx *x = *state;
    /* process_metrics counters_has_stats_count / _correct_rate, and `1|c|@0.1` */
    const double sum = 2 + 1 / 0.1;
    assert_int_equal(md_etsy_counter_flush(sum, &x->f, "a", 1, x->key, TS, IV), 0);
    expect(x, "stats.counters.a.count", sum);
    expect(x, "stats.counters.a.rate", sum / IV);
    assert_int_equal(x->f.nseries, 2);
    assert_int_equal(md_etsy_counter_flush(1, &x->f, "a", 1, x->key, TS, 0), -EINVAL);
}

/* corpus etsy-gauge-delta / graphite_tests gauge_modifications_are_valid */
static void test_gauge_delta(void **state)
{
    struct fx *x = *state;
    double g = md_etsy_gauge_apply(false, 0, 50, false);
    g = md_etsy_gauge_apply(true, g, -3, true);
    assert_int_equal(md_etsy_gauge_flush(g, &x->f, "test_value", 10, x->key, TS, IV), 0);
    expect(x, "stats.gauges.test_value", 50 + -3);
    assert_int_equal(x->f.nseries, 1);
}

static void test_gauge_apply_rules(void **state)
{
    (void)state;
    /* corpus val-gauge-minus-is-absolute, etsy column: moves an existing gauge */
    assert_near(md_etsy_gauge_apply(true, 7, -10, true), 7 - 10);
    assert_near(md_etsy_gauge_apply(true, 7, 2, true), 7 + 2);
    /* signed text without a gauge sets it */
    assert_near(md_etsy_gauge_apply(false, 0, -10, true), -10);
    /* unsigned text always sets */
    assert_near(md_etsy_gauge_apply(true, 7, 3, false), 3);
    /* a NaN gauge is falsy in stats.js: replaced */
    assert_near(md_etsy_gauge_apply(true, NAN, 4, true), 4);
}

static void test_set(void **state)
{
    struct fx *x = *state;
    assert_int_equal(md_etsy_set_flush(3, &x->f, "uniq", 4, x->key, TS, IV), 0);
    expect(x, "stats.sets.uniq.count", 3);
}

/* ---- names ---- */

static void sanitize_case(const char *in, const char *want)
{
    char out[128];
    size_t n = md_etsy_sanitize(in, strlen(in), out);
    out[n] = '\0';
    assert_string_equal(out, want);
}

static void test_sanitize(void **state)
{
    (void)state;
    sanitize_case("b ar", "b_ar");         /* corpus name-with-spaces */
    sanitize_case("fo/o", "fo-o");         /* corpus name-with-slash */
    sanitize_case("a \t\n b", "a_b");      /* a run of whitespace is one _ */
    sanitize_case("x!@#$%^&*()y", "xy");   /* dropped */
    sanitize_case("m;env=prod", "m;env=prod"); /* graphite tags survive */
    sanitize_case("A-z_0.9", "A-z_0.9");
    sanitize_case("caf\xc3\xa9", "caf");
    /* in place */
    char buf[] = "a b/c";
    size_t n = md_etsy_sanitize(buf, strlen(buf), buf);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "a_b-c", 5);
}

static void suffix_case(double pct, const char *want)
{
    char buf[48];
    int n = md_etsy_threshold_suffix(pct, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
}

static void test_threshold_suffix(void **state)
{
    (void)state;
    suffix_case(90, "90");
    suffix_case(99.9, "99_9");
    suffix_case(95.5, "95_5");
    suffix_case(-10, "top10");
    suffix_case(-99.9, "top99_9");
    suffix_case(0.1, "0_1");
    char tiny[3];
    assert_int_equal(md_etsy_threshold_suffix(-10, tiny, sizeof tiny), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_timer_single, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_multiple, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_even_median, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_single_value_percentiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_multiple_percentiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_top_percentile_single, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_top_percentile_multiple, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_fractional_threshold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_threshold_rounds_to_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_top_threshold_covering_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_sampled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_sampled_percentiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_long_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gauge_delta, setup, teardown),
        cmocka_unit_test(test_gauge_apply_rules),
        cmocka_unit_test_setup_teardown(test_set, setup, teardown),
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_threshold_suffix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
