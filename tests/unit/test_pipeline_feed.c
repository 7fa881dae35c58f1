/*
 * test_pipeline_feed.c: the pipeline fed by the calling thread, the path
 * `meterd aggregate` takes. Datagrams pushed with md_pipeline_feed go
 * through an intake stage's parse and key cache into a ring small enough
 * to fill, to the real aggregator thread: every counter must come out
 * exact (a feed waits on a full ring, it never drops), and the fast-path
 * counters must say one miss per new context and no key disagreement.
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

static void test_feed_is_exact(void **st)
{
    struct md_config cfg;
    char err[512] = "";
    /* The smallest ring (64 KiB): the feed fills it many times over. */
    char *sets[] = {"dogstatsd_port=0", "dogstatsd_ring_size=1024", "hostname=t",
                    "dogstatsd_ring_full_policy=drop"};
    assert_int_equal(md_config_load(&cfg, NULL, sets, 4, err, sizeof err), 0);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct sums s = {.frames = 0};
    static struct md_pipeline_opts popts; /* outlives the pipeline */
    md_config_pipeline_opts(&cfg, "t", &popts);
    struct md_pipeline *p = md_pipeline_new(&popts, err, sizeof err);
    assert_non_null(p);
    assert_int_equal(md_pipeline_feed_open(p, false), 0);
    assert_int_equal(md_pipeline_start(p, &loop, on_frame, &s), 0);
    double now = (double)time(NULL);
    char buf[4096];
    for (int r = 0; r < ROUNDS; r++) {
        for (int c = 0; c < NCTX; c += 10) {
            int n = 0;
            for (int k = c; k < c + 10; k++) /* tags in two orders: one context each */
                n += snprintf(buf + n, sizeof buf - n, "feed.c%d:1|c|#%s\n", k,
                              (r & 1) ? "b:2,a:1" : "a:1,b:2,a:1");
            md_pipeline_feed(p, buf, (size_t)n, false, now);
        }
    }
    md_pipeline_stop(p);
    struct md_pipeline_stats ps;
    md_pipeline_stats(p, &ps);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(s.frames >= 1);
    for (int i = 0; i < NCTX; i++)
        if (s.v[i] < ROUNDS - 1e-6 || s.v[i] > ROUNDS + 1e-6)
            fail_msg("feed.c%d: %.3f, want %d", i, s.v[i], ROUNDS);
    assert_int_equal(ps.ring_full_drops, 0);
    assert_int_equal(ps.statsd.metrics, NCTX * ROUNDS);
    assert_int_equal(ps.fast_misses, NCTX);
    assert_int_equal(ps.fast_mismatches, 0);
    md_pipeline_free(p);
    assert_int_equal(uv_loop_close(&loop), 0);
    md_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feed_is_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
