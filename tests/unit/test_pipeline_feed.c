/*
 * test_pipeline_feed.c: the pipeline fed by the calling thread, the path
 * `meterd aggregate` takes. Datagrams pushed with md_pipeline_feed go
 * through an intake stage's parse and key cache into a ring small enough
 * to fill, to the real aggregator thread: every counter must come out
 * exact (a feed waits on a full ring, it never drops), and the fast-path
 * counters must say one miss per new context and no key disagreement,
 * also for lines at the 256-tag limit.
 * Also run by the ThreadSanitizer build.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <uv.h>

#include "meterd/config.h"
#include "module_opts.h"
#include "pipeline.h"

#define NCTX 300
#define ROUNDS 400

struct sums {
    double v[NCTX];
    int frames;
};

static void on_frame(void *ud, struct md_frame *f)
{
    struct sums *s = ud;
    for (size_t i = 0; i < f->nseries; i++) {
        int idx;
        if (sscanf(f->series[i].name, "feed.c%d", &idx) == 1 && idx >= 0 && idx < NCTX)
            s->v[idx] += f->series[i].value * f->interval;
    }
    s->frames++;
    md_frame_free(f);
    free(f);
}

/* A pipeline fed by this thread, on its own loop. */
struct feed {
    struct md_config cfg;
    uv_loop_t loop;
    struct sums s;
    struct md_pipeline *p;
    struct md_pipeline_stats ps; /* after feed_stop */
};

static void feed_start(struct feed *f, char **sets, size_t nsets)
{
    char err[512] = "";
    assert_int_equal(md_config_load(&f->cfg, NULL, sets, nsets, err, sizeof err), 0);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->s = (struct sums){.frames = 0};
    static struct md_pipeline_opts popts; /* outlives the pipeline */
    md_config_pipeline_opts(&f->cfg, "t", &popts);
    f->p = md_pipeline_new(&popts, err, sizeof err);
    assert_non_null(f->p);
    assert_int_equal(md_pipeline_feed_open(f->p, false), 0);
    assert_int_equal(md_pipeline_start(f->p, &f->loop, on_frame, &f->s), 0);
}

/* Stop, take the stats, and hand every frame to on_frame. */
static void feed_stop(struct feed *f)
{
    md_pipeline_stop(f->p);
    md_pipeline_stats(f->p, &f->ps);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_true(f->s.frames >= 1);
}

static void feed_free(struct feed *f)
{
    md_pipeline_free(f->p);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    md_config_free(&f->cfg);
}

static void test_feed_is_exact(void **st)
{
    /* The smallest ring (64 KiB): the feed fills it many times over. */
    char *sets[] = {"dogstatsd_port=0", "dogstatsd_ring_size=1024", "hostname=t",
                    "dogstatsd_ring_full_policy=drop"};
    struct feed f;
    feed_start(&f, sets, 4);
    double now = (double)time(NULL);
    char buf[4096];
    for (int r = 0; r < ROUNDS; r++) {
        for (int c = 0; c < NCTX; c += 10) {
            int n = 0;
            for (int k = c; k < c + 10; k++) /* tags in two orders: one context each */
                n += snprintf(buf + n, sizeof buf - n, "feed.c%d:1|c|#%s\n", k,
                              (r & 1) ? "b:2,a:1" : "a:1,b:2,a:1");
            md_pipeline_feed(f.p, buf, (size_t)n, false, now);
        }
    }
    feed_stop(&f);
    for (int i = 0; i < NCTX; i++)
        if (f.s.v[i] < ROUNDS - 1e-6 || f.s.v[i] > ROUNDS + 1e-6)
            fail_msg("feed.c%d: %.3f, want %d", i, f.s.v[i], ROUNDS);
    assert_int_equal(f.ps.ring_full_drops, 0);
    assert_int_equal(f.ps.statsd.metrics, NCTX * ROUNDS);
    assert_int_equal(f.ps.fast_misses, NCTX);
    assert_int_equal(f.ps.fast_mismatches, 0);
    feed_free(&f);
}

/* `feed.c<idx>:1|c|#` then `distinct` tags written `total` times round, then `extra`. */
static size_t wide_line(char *buf, size_t cap, int idx, int distinct, int total, const char *extra)
{
    size_t n = (size_t)snprintf(buf, cap, "feed.c%d:1|c|#%s", idx, extra);
    for (int i = 0; i < total; i++)
        n += (size_t)snprintf(buf + n, cap - n, ",w%d", i % distinct);
    buf[n++] = '\n';
    assert_true(n < cap);
    return n;
}

/*
 * The tag limit is one rule on both paths: a line of 300 tags with 256
 * distinct ones (the global tag g:1 among them) creates its context once
 * and then takes the fast path; one with 257 distinct tags is dropped by
 * the intake and counted once per sample.
 */
static void test_tag_limit_same_on_both_paths(void **st)
{
    char *sets[] = {"dogstatsd_port=0", "hostname=t", "tags=[g:1]"};
    struct feed f;
    feed_start(&f, sets, 3);
    double now = (double)time(NULL);
    static char buf[8192];
    const int rounds = 20;
    for (int r = 0; r < rounds; r++) {
        size_t n = wide_line(buf, sizeof buf, 1, 254, 298, "g:1,d:1");
        md_pipeline_feed(f.p, buf, n, false, now);
        n = wide_line(buf, sizeof buf, 2, 256, 300, "g:1");
        md_pipeline_feed(f.p, buf, n, false, now);
    }
    feed_stop(&f);
    assert_true(f.s.v[1] == rounds);
    assert_true(f.s.v[2] == 0);
    assert_int_equal(f.ps.statsd.metrics, 2 * rounds);
    assert_int_equal(f.ps.ledger.too_many_tags, rounds);
    assert_int_equal(f.ps.fast_misses, 1);
    assert_int_equal(f.ps.fast_mismatches, 0);
    feed_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feed_is_exact),
        cmocka_unit_test(test_tag_limit_same_on_both_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
