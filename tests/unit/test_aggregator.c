/*
 * Unit tests for contexts, windows and the aggregation formulas. Expected
 * values are computed here from the inputs (the Datadog agent's formulas as
 * written in shared/protocol/reference.md section 3), not copied outputs.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aggregator.h"
#include "context.h"
#include "histogram.h"

#define T0 1700000000.0 /* a window start: 1700000000 % 10 == 0 */

static struct md_str S(const char *s)
{
    return (struct md_str){s, (uint32_t)strlen(s)};
}

static int strcmp_p(const char **a, const char **b)
{
    return strcmp(*a, *b);
}

static struct md_agg *agg_default(void)
{
    struct md_agg_opts o = {.interval = 10, .grace = 1, .expiry_seconds = 300,
                            .context_expiry_seconds = 20, .hostname = "h1"};
    o.hist = (struct md_hist_opts){MD_HAGG_MAX | MD_HAGG_MEDIAN | MD_HAGG_AVG | MD_HAGG_COUNT,
                                   {0.95}, 1};
    struct md_agg *a = md_agg_new(&o);
    assert_non_null(a);
    return a;
}

static void add(struct md_agg *a, const char *name, int type, double v, double rate,
                const char **tags, uint32_t ntags, double now)
{
    struct md_str tv[16];
    for (uint32_t i = 0; i < ntags; i++)
        tv[i] = S(tags[i]);
    struct md_point p = {.name = S(name), .type = type, .value = v, .sample_rate = rate,
                         .tags = tv, .ntags = ntags};
    md_agg_add(a, &p, now);
}

static const struct md_series *find(const struct md_frame *f, const char *name, int64_t ts)
{
    char full[256];
    for (size_t i = 0; i < f->nseries; i++)
        if (strcmp(md_series_full_name(&f->series[i], full, sizeof full), name) == 0 &&
            f->series[i].timestamp == ts)
            return &f->series[i];
    return NULL;
}

static void test_counter_rate_and_window_stamp(void **st)
{
    struct md_agg *a = agg_default();
    add(a, "c", MD_COUNTER, 3, 1, NULL, 0, T0 + 1.5);
    add(a, "c", MD_COUNTER, 4, 1, NULL, 0, T0 + 9.9);
    add(a, "c", MD_COUNTER, 1, 0.1, NULL, 0, T0 + 5); /* counts 10 */
    struct md_frame f;
    /* Not sealed before its end + grace. */
    assert_int_equal(md_agg_flush(a, T0 + 10.5, false, &f), 0);
    assert_int_equal(f.nseries, 0);
    md_frame_free(&f);
    assert_int_equal(md_agg_flush(a, T0 + 11, false, &f), 1);
    const struct md_series *s = find(&f, "c", (int64_t)T0);
    assert_non_null(s);
    assert_int_equal(s->type, MD_SERIES_RATE);
    assert_int_equal(s->interval, 10);
    assert_true(fabs(s->value - (3 + 4 + 1 / 0.1) / 10) < 1e-12);
    assert_string_equal(s->key->host, "h1");
    md_frame_free(&f);
    md_agg_free(a);
}

static void test_context_key_ignores_order_and_duplicates(void **st)
{
    struct md_agg *a = agg_default();
    const char *t1[] = {"b:2", "a:1", "a:1"};
    const char *t2[] = {"a:1", "b:2"};
    add(a, "g", MD_GAUGE, 1, 1, t1, 3, T0 + 1);
    add(a, "g", MD_GAUGE, 7, 1, t2, 2, T0 + 2);
    struct md_frame f;
    md_agg_flush(a, T0 + 20, false, &f);
    assert_int_equal(f.nseries, 1);
    assert_int_equal(f.series[0].value, 7);
    assert_int_equal(f.series[0].key->ntags, 2);
    assert_string_equal(f.series[0].key->tags[0], "a:1");
    assert_string_equal(f.series[0].key->tags[1], "b:2");
    md_frame_free(&f);
    /* Different host -> different context. */
    struct md_ctx_scratch sc;
    uint64_t k1, k2, k3;
    struct md_str name = S("n"), tags[] = {S("x")}, h1 = S("h1"), h2 = S("h2");
    md_ctx_key(&name, tags, 1, &h1, &sc, &k1);
    md_ctx_key(&name, tags, 1, &h2, &sc, &k2);
    struct md_str name2 = S("nx");
    md_ctx_key(&name2, NULL, 0, &h1, &sc, &k3);
    assert_true(k1 != k2);
    assert_true(k1 != k3);
    md_agg_free(a);
}

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static void test_histogram_formulas(void **st)
{
    struct md_agg *a = agg_default();
    double v[100];
    for (int i = 0; i < 100; i++) {
        v[i] = (double)((i * 37) % 100 + 1); /* 1..100 shuffled */
        add(a, "h", MD_HISTOGRAM, v[i], 1, NULL, 0, T0 + 1);
    }
    qsort(v, 100, sizeof v[0], cmp_d);
    double sum = 0;
    for (int i = 0; i < 100; i++)
        sum += v[i];
    struct md_frame f;
    md_agg_flush(a, T0 + 11, false, &f);
    int64_t ts = (int64_t)T0;
    assert_true(find(&f, "h.max", ts)->value == v[99]);
    assert_true(find(&f, "h.median", ts)->value == v[(100 - 1) / 2]);
    assert_true(find(&f, "h.avg", ts)->value == sum / 100);
    assert_true(find(&f, "h.count", ts)->value == 100.0 / 10);
    assert_int_equal(find(&f, "h.count", ts)->type, MD_SERIES_RATE);
    assert_true(find(&f, "h.95percentile", ts)->value == v[(95 * 100 - 1) / 100]);
    assert_null(find(&f, "h.min", ts));
    md_frame_free(&f);
    /* Sampled: weight int64(1/rate), sum += v/rate, avg unchanged. */
    add(a, "h", MD_TIMER, 21, 0.5, NULL, 0, T0 + 21);
    md_agg_flush(a, T0 + 31, false, &f);
    assert_true(find(&f, "h.avg", ts + 20)->value == 21);
    assert_true(find(&f, "h.count", ts + 20)->value == 2.0 / 10);
    md_frame_free(&f);
    md_agg_free(a);
}

static void test_set_counts_distinct(void **st)
{
    struct md_agg *a = agg_default();
    const char *members[] = {"a", "b", "a", "c", "b"};
    for (int i = 0; i < 5; i++) {
        struct md_point p = {.name = S("s"), .type = MD_SET, .member = S(members[i]),
                             .sample_rate = 1};
        md_agg_add(a, &p, T0 + 1);
    }
    struct md_frame f;
    md_agg_flush(a, T0 + 11, false, &f);
    assert_int_equal(f.nseries, 1);
    assert_true(f.series[0].value == 3);
    md_frame_free(&f);
    md_agg_free(a);
}

static void test_counter_zero_fill_then_expiry(void **st)
{
    struct md_agg_opts o = {.interval = 10, .grace = 0, .expiry_seconds = 30,
                            .context_expiry_seconds = 5, .hostname = "h"};
    struct md_agg *a = md_agg_new(&o);
    add(a, "c", MD_COUNTER, 5, 1, NULL, 0, T0 + 1);
    int zeros = 0, values = 0;
    for (int w = 1; w <= 6; w++) {
        struct md_frame f;
        md_agg_flush(a, T0 + 10 * w, false, &f);
        for (size_t i = 0; i < f.nseries; i++) {
            assert_int_equal(f.series[i].timestamp, (int64_t)T0 + 10 * (w - 1));
            if (f.series[i].value == 0)
                zeros++;
            else
                values++;
        }
        md_frame_free(&f);
    }
    /* Windows T0+10, +20, +30 start within 30 s of the last sample (T0+1): zero-filled. */
    assert_int_equal(values, 1);
    assert_int_equal(zeros, 3);
    assert_int_equal(md_agg_stats(a)->contexts_live, 0);
    assert_int_equal(md_agg_stats(a)->contexts_expired, 1);
    md_agg_free(a);
}

/*
 * Frames borrow names and keys from the contexts: a context that expires
 * while an earlier frame still points at it must outlive that frame (run
 * under ASan by tests/run.sh, a use after free fails here), and contexts
 * with the same host and tags share one key.
 */
static void test_frames_outlive_expired_contexts(void **st)
{
    struct md_agg_opts o = {.interval = 10, .grace = 0, .expiry_seconds = 0,
                            .context_expiry_seconds = 5, .hostname = "h"};
    struct md_agg *a = md_agg_new(&o);
    const char *tags[] = {"env:x", "team:y"};
    add(a, "g.one", MD_GAUGE, 5, 1, tags, 2, T0 + 1);
    add(a, "g.two", MD_GAUGE, 6, 1, tags, 2, T0 + 2);
    struct md_frame held, f;
    md_agg_flush(a, T0 + 10, false, &held);
    assert_int_equal(held.nseries, 2);
    assert_ptr_equal(held.series[0].key, held.series[1].key); /* one interned identity */
    md_agg_flush(a, T0 + 20, false, &f); /* both expire here */
    assert_int_equal(md_agg_stats(a)->contexts_expired, 2);
    md_frame_free(&f);
    assert_int_equal(md_agg_frames_out(a), 1);
    md_agg_flush(a, T0 + 30, false, &f); /* a frame is out: nothing may be freed yet */
    md_frame_free(&f);
    add(a, "g.three", MD_GAUGE, 7, 1, tags, 2, T0 + 31);
    for (size_t i = 0; i < held.nseries; i++) {
        const struct md_series *s = &held.series[i];
        assert_true(strcmp(s->name, "g.one") == 0 || strcmp(s->name, "g.two") == 0);
        assert_string_equal(s->key->host, "h");
        assert_int_equal(s->key->ntags, 2);
        assert_string_equal(s->key->tags[0], "env:x");
        assert_string_equal(s->key->tags[1], "team:y");
    }
    md_frame_free(&held);
    assert_int_equal(md_agg_frames_out(a), 0);
    md_agg_flush(a, T0 + 40, false, &f); /* now the expired ones go */
    assert_int_equal(f.nseries, 1);
    assert_string_equal(f.series[0].name, "g.three");
    assert_string_equal(f.series[0].key->tags[1], "team:y");
    md_frame_free(&f);
    md_agg_free(a);
}

static void test_timestamped_bypass_and_host_override(void **st)
{
    struct md_agg *a = agg_default();
    struct md_point p = {.name = S("t"), .type = MD_COUNTER, .value = 50, .sample_rate = 1,
                         .timestamp = 1600000000, .host = S("other"), .has_host = true};
    md_agg_add(a, &p, T0 + 1);
    struct md_frame f;
    md_agg_flush(a, T0 + 1.5, false, &f); /* nothing sealed, but pending ships */
    const struct md_series *s = find(&f, "t", 1600000000);
    assert_non_null(s);
    assert_int_equal(s->type, MD_SERIES_RATE);
    assert_true(s->value == 5);
    assert_string_equal(s->key->host, "other");
    md_frame_free(&f);
    md_agg_free(a);
}

static void test_late_flush_spills_instead_of_losing(void **st)
{
    struct md_agg *a = agg_default();
    add(a, "g", MD_GAUGE, 1, 1, NULL, 0, T0 + 1);
    add(a, "g", MD_GAUGE, 2, 1, NULL, 0, T0 + 21); /* same slot, window never flushed */
    struct md_frame f;
    md_agg_flush(a, T0 + 31, false, &f);
    assert_non_null(find(&f, "g", (int64_t)T0));
    assert_non_null(find(&f, "g", (int64_t)T0 + 20));
    assert_int_equal(md_agg_stats(a)->late_flushes, 1);
    md_frame_free(&f);
    md_agg_free(a);
}

static void test_shutdown_flushes_open_window(void **st)
{
    struct md_agg *a = agg_default();
    add(a, "c", MD_COUNTER, 1, 1, NULL, 0, T0 + 3);
    struct md_frame f;
    assert_int_equal(md_agg_flush(a, T0 + 4, true, &f), 1);
    assert_non_null(find(&f, "c", (int64_t)T0));
    md_frame_free(&f);
    md_agg_free(a);
}

static void test_context_limit_and_nonfinite(void **st)
{
    struct md_agg_opts o = {.interval = 10, .expiry_seconds = 300, .context_expiry_seconds = 20,
                            .hostname = "h", .context_limit = 100};
    struct md_agg *a = md_agg_new(&o);
    char name[32];
    for (int i = 0; i < 150; i++) {
        snprintf(name, sizeof name, "m%d", i);
        add(a, name, MD_COUNTER, 1, 1, NULL, 0, T0 + 1);
    }
    add(a, "m1", MD_COUNTER, NAN, 1, NULL, 0, T0 + 1);
    add(a, "m1", MD_GAUGE, INFINITY, 1, NULL, 0, T0 + 1);
    assert_int_equal(md_agg_stats(a)->context_limit_drops, 50);
    assert_int_equal(md_agg_stats(a)->nonfinite_drops, 2);
    struct md_frame f;
    md_agg_flush(a, T0 + 11, false, &f);
    assert_int_equal(f.nseries, 100);
    md_frame_free(&f);
    md_agg_free(a);
}

static void test_many_contexts_survive_growth_and_removal(void **st)
{
    struct md_agg_opts o = {.interval = 10, .expiry_seconds = 0, .context_expiry_seconds = 0,
                            .hostname = "h"};
    struct md_agg *a = md_agg_new(&o);
    char name[32];
    for (int round = 0; round < 3; round++) {
        double now = T0 + 10 * round + 1;
        for (int i = 0; i < 20000; i++) {
            snprintf(name, sizeof name, "m%d", (i * 7 + round * 5000) % 30000);
            add(a, name, MD_COUNTER, 1, 1, NULL, 0, now);
        }
        struct md_frame f;
        md_agg_flush(a, now + 10, false, &f);
        assert_int_equal(f.nseries, 20000);
        for (size_t i = 0; i < f.nseries; i++)
            assert_true(f.series[i].value == 0.1);
        md_frame_free(&f);
    }
    md_agg_free(a);
}

/* The frame's series as sorted "name|host|tags|type|ts|value" lines. */
static char **frame_lines(const struct md_frame *f)
{
    char **v = calloc(f->nseries + 1, sizeof *v);
    for (size_t i = 0; i < f->nseries; i++) {
        const struct md_series *x = &f->series[i];
        char buf[512];
        char full[256];
        int n = snprintf(buf, sizeof buf, "%s|%s|", md_series_full_name(x, full, sizeof full),
                         x->key->host);
        for (uint32_t t = 0; t < x->key->ntags; t++)
            n += snprintf(buf + n, sizeof buf - (size_t)n, "%s,", x->key->tags[t]);
        snprintf(buf + n, sizeof buf - (size_t)n, "|%d|%lld|%.17g", (int)x->type,
                 (long long)x->timestamp, x->value);
        v[i] = strdup(buf);
    }
    qsort(v, f->nseries, sizeof *v, (int (*)(const void *, const void *))strcmp_p);
    return v;
}

static void assert_same_frames(const struct md_frame *a, const struct md_frame *b)
{
    assert_int_equal(a->nseries, b->nseries);
    char **la = frame_lines(a), **lb = frame_lines(b);
    for (size_t i = 0; i < a->nseries; i++) {
        if (strcmp(la[i], lb[i]) != 0)
            fail_msg("series %zu differs: %s vs %s", i, la[i], lb[i]);
        free(la[i]);
        free(lb[i]);
    }
    free(la);
    free(lb);
}

/* Window 1's samples: every third old counter again, gauges, and new contexts. */
static void window1_sample(struct md_agg *a, int i)
{
    char name[32];
    static const char *tags[] = {"env:prod", "shard:x"};
    if (i < 3000) {
        snprintf(name, sizeof name, "c%d", i);
        if (i % 3 == 0)
            add(a, name, MD_COUNTER, 2, 1, tags, 2, T0 + 12);
        else if (i % 3 == 1)
            add(a, "g", MD_GAUGE, 7, 1, tags, 1, T0 + 12); /* last value: same in any order */
        else
            add(a, "h", MD_HISTOGRAM, i, 0.5, NULL, 0, T0 + 12);
    } else {
        snprintf(name, sizeof name, "n%d", i);
        add(a, name, MD_COUNTER, 1, 1, NULL, 0, T0 + 12);
        if (i % 6 == 0) { /* and a z* counter woken before the scan reaches it */
            snprintf(name, sizeof name, "z%d", (i / 6) % 1000);
            add(a, name, MD_COUNTER, 5, 1, NULL, 0, T0 + 12);
        }
    }
}

/*
 * A seal in steps, with samples for the next window (some touching contexts
 * the scan has not reached, some new ones growing the table mid-seal),
 * must give the frames an all-at-once seal gives.
 */
static void test_incremental_seal_matches_all_at_once(void **st)
{
    struct md_agg *ref = agg_default(), *inc = agg_default();
    static const char *tags[] = {"env:prod", "shard:x"};
    char name[32];
    struct md_frame fr, fi;
    for (int k = 0; k < 2; k++) {
        struct md_agg *a = k ? inc : ref;
        /* z*: counters of the window before, idle in the sealed one: zero-filled there */
        for (int i = 0; i < 1000; i++) {
            snprintf(name, sizeof name, "z%d", i);
            add(a, name, MD_COUNTER, 1, 1, NULL, 0, T0 - 9);
        }
        assert_int_equal(md_agg_flush(a, T0 + 1, false, &fr), 1);
        assert_int_equal(fr.nseries, 1000);
        md_frame_free(&fr);
        for (int i = 0; i < 3000; i++) {
            snprintf(name, sizeof name, "c%d", i);
            add(a, name, MD_COUNTER, i, 1, tags, 2, T0 + 1);
            add(a, "h", MD_HISTOGRAM, i, 1, NULL, 0, T0 + 2);
        }
    }
    const int n1 = 9000; /* 3000 old contexts touched, 6000 new: the table grows */
    assert_int_equal(md_agg_flush(ref, T0 + 11, false, &fr), 1);
    for (int i = 0; i < n1; i++)
        window1_sample(ref, i);

    assert_true(md_agg_seal_begin(inc, T0 + 11, false));
    int next = n1 - 1, steps = 0; /* from the end: touch contexts before the scan reaches them */
    while (!md_agg_seal_step(inc, 37)) {
        for (int j = 0; j < 30 && next >= 0; j++)
            window1_sample(inc, next--);
        steps++;
    }
    assert_true(steps > 100);
    while (next >= 0)
        window1_sample(inc, next--);
    assert_int_equal(md_agg_seal_take(inc, &fi), 1);
    /* c0..c2999, z0..z999 at 0, h: max median avg count 95percentile */
    assert_int_equal(fr.nseries, 3000 + 1000 + 5);
    assert_same_frames(&fr, &fi);
    md_frame_free(&fr);
    md_frame_free(&fi);

    /* The next window: zero-filled counters, the new contexts, the gauge, h again. */
    assert_int_equal(md_agg_flush(ref, T0 + 21, false, &fr), 1);
    assert_int_equal(md_agg_flush(inc, T0 + 21, false, &fi), 1);
    assert_int_equal(fr.nseries, 3000 + 1000 + 6000 + 1 + 5);
    assert_same_frames(&fr, &fi);
    md_frame_free(&fr);
    md_frame_free(&fi);
    assert_int_equal(md_agg_stats(ref)->contexts_live, md_agg_stats(inc)->contexts_live);
    md_agg_free(ref);
    md_agg_free(inc);
}

/*
 * Samples for contexts the scan has not reached add nothing to the frame
 * being sealed: however many contexts are touched during a seal, its parts
 * grow only with the scan (sealing them on the spot made 1M-series parts).
 */
static void test_touched_contexts_wait_for_the_scan(void **st)
{
    (void)st;
    struct md_agg *a = agg_default();
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "c%d", i);
        add(a, name, i % 2 ? MD_COUNTER : MD_TIMER, 1, 1, NULL, 0, T0 + 1);
    }
    assert_true(md_agg_seal_begin(a, T0 + 11, false));
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "c%d", i);
        add(a, name, i % 2 ? MD_COUNTER : MD_TIMER, 2, 1, NULL, 0, T0 + 12);
    }
    assert_int_equal(md_agg_seal_series(a), 0);
    while (!md_agg_seal_step(a, 1000))
        ;
    struct md_frame f;
    assert_int_equal(md_agg_seal_take(a, &f), 1);
    assert_int_equal(f.nseries, 2500 + 2500 * 5); /* the window as it was: 1 per counter, 5 per timer */
    for (size_t i = 0; i < f.nseries; i++)
        assert_true(f.series[i].timestamp == (int64_t)T0);
    md_frame_free(&f);
    md_agg_free(a);
}

/*
 * A histogram keeps its first samples in itself, then in an array of their
 * own, then (past its limit) in a sketch: the figures agree at every stage.
 */
static void test_histogram_storage_stages(void **st)
{
    (void)st;
    struct md_hist_opts o = {.aggregates = MD_HAGG_MAX | MD_HAGG_MIN | MD_HAGG_MEDIAN |
                                           MD_HAGG_SUM | MD_HAGG_COUNT};
    static const struct md_series_key key = {.host = "h"};
    const int sizes[] = {1, 2, MD_HIST_INLINE, MD_HIST_INLINE + 1, 9, 40, 100};
    for (int limit = 0; limit <= 50; limit += 50) {
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            int n = sizes[k];
            struct md_hist h = {.limit = (uint32_t)limit};
            for (int i = n; i >= 1; i--) /* out of order: the flush sorts */
                md_hist_add(&h, i, 1);
            bool sketched = h.sketched;
            assert_true(sketched == (limit && n > limit));
            struct md_frame f;
            md_frame_init(&f, (int64_t)T0, 10);
            assert_int_equal(md_hist_flush(&h, &o, &f, "t", &key, (int64_t)T0, 10), 0);
            assert_int_equal(f.nseries, 5);
            assert_true(find(&f, "t.max", (int64_t)T0)->value == n);
            assert_true(find(&f, "t.min", (int64_t)T0)->value == 1);
            assert_true(find(&f, "t.sum", (int64_t)T0)->value == n * (n + 1) / 2.0);
            assert_true(find(&f, "t.count", (int64_t)T0)->value == n / 10.0);
            double median = (n - 1) / 2 + 1; /* the first whose cumulative weight passes (n-1)/2 */
            double got = find(&f, "t.median", (int64_t)T0)->value;
            assert_true(fabs(got - median) <= (sketched ? 0.02 * median : 0));
            md_frame_free(&f);
            md_hist_free(&h);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_rate_and_window_stamp),
        cmocka_unit_test(test_context_key_ignores_order_and_duplicates),
        cmocka_unit_test(test_histogram_formulas),
        cmocka_unit_test(test_set_counts_distinct),
        cmocka_unit_test(test_counter_zero_fill_then_expiry),
        cmocka_unit_test(test_frames_outlive_expired_contexts),
        cmocka_unit_test(test_timestamped_bypass_and_host_override),
        cmocka_unit_test(test_late_flush_spills_instead_of_losing),
        cmocka_unit_test(test_shutdown_flushes_open_window),
        cmocka_unit_test(test_context_limit_and_nonfinite),
        cmocka_unit_test(test_many_contexts_survive_growth_and_removal),
        cmocka_unit_test(test_incremental_seal_matches_all_at_once),
        cmocka_unit_test(test_touched_contexts_wait_for_the_scan),
        cmocka_unit_test(test_histogram_storage_stages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
