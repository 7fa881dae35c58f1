/*
 * Unit tests for the console sink's headers: a window sealed in one frame
 * gets one header with its series count; a window the aggregator hands
 * over in parts (and the flusher encodes in slices) gets one header per
 * part with the exact count under it, and the window's exact total after
 * its last part, even when that part is empty. The big-window test runs
 * the real aggregator, sealed in parts the way the pipeline seals it, and
 * the real flusher's slicing; the empty last part goes through the
 * daemon's flusher path to standard output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include "aggregator.h"
#include "buf.h"
#include "flush.h"
#include "meterd/config.h"
#include "meterd/sink.h"

#define T0 1700000000
/* As agent/pipeline/pipeline_threads.c seals: table slots a step, series a part. */
#define SEAL_STEP 2048
#define PART_SERIES 8192

struct console_run {
    struct md_config cfg;
    struct md_flusher *fl;
    struct md_buf out; /* every payload, in order, as standard output would get them */
};

static void run_open(struct console_run *r)
{
    char err[512];
    char *sets[] = {"sinks=console"};
    assert_int_equal(md_config_load(&r->cfg, NULL, sets, 1, err, sizeof err), 0);
    struct md_flush_opts fo = {.hostname = "h1"};
    assert_int_equal(md_flusher_new(&r->cfg, "console", &fo, &r->fl, err, sizeof err), 0);
    md_buf_init(&r->out);
}

static void run_close(struct console_run *r)
{
    md_flusher_free(r->fl);
    md_config_free(&r->cfg);
    md_buf_free(&r->out);
}

static void run_frame(struct console_run *r, struct md_frame *f)
{
    struct md_payload *list = NULL;
    md_flusher_encode(r->fl, f, false, &list);
    for (struct md_payload *p = list; p; p = p->next)
        md_buf_add(&r->out, p->body, p->len);
    md_payload_list_free(list);
    md_frame_free(f);
}

/* The lines of out that start with "=== ", joined; series lines counted per header. */
static void headers(const struct md_buf *out, char *hdr, size_t len, size_t *counts, size_t max)
{
    size_t n = 0, h = 0;
    hdr[0] = '\0';
    for (const char *p = out->p, *e = out->p + out->len; p < e;) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        size_t l = (size_t)((nl ? nl : e) - p);
        if (l > 4 && memcmp(p, "=== ", 4) == 0) {
            snprintf(hdr + h, len - h, "%.*s\n", (int)l, p);
            h += strlen(hdr + h);
            if (n < max)
                counts[n++] = 0;
        } else if (n) {
            counts[n - 1]++;
        }
        p += l + 1;
    }
    for (size_t i = n; i < max; i++)
        counts[i] = (size_t)-1;
}

static void add_counters(struct md_agg *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char name[32];
        int len = snprintf(name, sizeof name, "big.c%zu", i);
        struct md_point p = {.name = {name, (uint32_t)len}, .type = MD_COUNTER, .value = 1,
                             .sample_rate = 1};
        md_agg_add(a, &p, T0 + 1);
    }
}

/* Seal as the pipeline does: steps, a part whenever PART_SERIES are sealed. */
static int seal_in_parts(struct md_agg *a, struct console_run *r, size_t *series)
{
    struct md_frame f;
    int parts = 0;
    md_agg_seal_begin(a, T0 + 12, false);
    while (!md_agg_seal_step(a, SEAL_STEP)) {
        if (md_agg_seal_series(a) >= PART_SERIES) {
            md_agg_seal_take_part(a, &f);
            *series += f.nseries;
            run_frame(r, &f);
            parts++;
        }
    }
    md_agg_seal_take(a, &f);
    *series += f.nseries;
    if (f.nseries)
        parts++;
    run_frame(r, &f);
    return parts;
}

static void test_window_in_parts_states_exact_counts(void **state)
{
    struct md_agg_opts o = {.interval = 10, .grace = 1, .expiry_seconds = 300,
                            .context_expiry_seconds = 300, .hostname = "h1"};
    struct md_agg *a = md_agg_new(&o);
    struct console_run r;
    run_open(&r);
    add_counters(a, 20000);
    size_t series = 0;
    int parts = seal_in_parts(a, &r, &series);
    assert_true(parts >= 2);
    assert_int_equal(series, 20000);

    char hdr[2048], want[2048];
    size_t counts[16];
    headers(&r.out, hdr, sizeof hdr, counts, 16);
    size_t h = 0, sum = 0;
    for (int i = 0; i < parts; i++) {
        h += (size_t)snprintf(want + h, sizeof want - h,
                              "=== 2023-11-14T22:13:20Z interval=10s part=%d series=%zu "
                              "sketches=0 events=0 checks=0\n",
                              i + 1, counts[i]);
        sum += counts[i];
    }
    snprintf(want + h, sizeof want - h, "=== 2023-11-14T22:13:20Z interval=10s series=20000 in %d parts\n",
             parts);
    assert_string_equal(hdr, want);
    assert_int_equal(sum, 20000);         /* each part's count is the lines under it */
    assert_int_equal(counts[parts], 0);    /* nothing after the total */
    assert_true(counts[0] > 8192); /* a part bigger than a flusher slice (8192): sliced too */
    run_close(&r);
    md_agg_free(a);
}

static void frame_with(struct md_frame *f, int64_t start, size_t n, bool continued, bool more)
{
    md_frame_init(f, start, 10);
    const struct md_series_key *k = md_frame_key(f, "h1", 2, NULL, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(md_frame_add(f, "m", 1, NULL, k, MD_SERIES_GAUGE, 0, start, 1.0), 0);
    f->continued = continued;
    f->more_parts = more;
}

/* A frame as the pipeline hands it to the daemon's flusher (which frees it). */
static void flusher_frame(struct md_flusher *fl, uv_loop_t *loop, int64_t start, size_t n,
                          bool continued, bool more)
{
    struct md_frame *f = malloc(sizeof *f);
    assert_non_null(f);
    frame_with(f, start, n, continued, more);
    md_flusher_frame(fl, f);
    uv_run(loop, UV_RUN_DEFAULT); /* encoded on the pool, written on the loop, one at a time */
}

/*
 * Through the daemon's path (md_flusher_frame, the thread pool, standard
 * output): a window in parts whose last part is empty (the seal's last
 * steps found nothing more) gets its total right after its last series,
 * with no next window to push it out: at shutdown there is none.
 */
static void test_empty_last_part_closes_the_window(void **state)
{
    char err[512];
    struct md_config cfg;
    char *sets[] = {"sinks=console"};
    assert_int_equal(md_config_load(&cfg, NULL, sets, 1, err, sizeof err), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_flush_opts fo = {.hostname = "h1", .loop = &loop};
    struct md_flusher *fl;
    assert_int_equal(md_flusher_new(&cfg, "console", &fo, &fl, err, sizeof err), 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    FILE *out = tmpfile();
    assert_non_null(out);
    dup2(fileno(out), STDOUT_FILENO);
    flusher_frame(fl, &loop, T0, 3, false, false);     /* a window in one frame */
    flusher_frame(fl, &loop, T0 + 10, 5, false, true); /* a window in parts... */
    flusher_frame(fl, &loop, T0 + 10, 4, true, true);
    flusher_frame(fl, &loop, T0 + 10, 0, true, false); /* ...whose last part is empty */
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    struct console_run r;
    md_buf_init(&r.out);
    char chunk[4096];
    size_t n;
    rewind(out);
    while ((n = fread(chunk, 1, sizeof chunk, out)) > 0)
        md_buf_add(&r.out, chunk, n);
    fclose(out);
    char hdr[1024];
    size_t counts[8];
    headers(&r.out, hdr, sizeof hdr, counts, 8);
    assert_string_equal(hdr,
                        "=== 2023-11-14T22:13:20Z interval=10s series=3 sketches=0 events=0 checks=0\n"
                        "=== 2023-11-14T22:13:30Z interval=10s part=1 series=5 sketches=0 events=0 checks=0\n"
                        "=== 2023-11-14T22:13:30Z interval=10s part=2 series=4 sketches=0 events=0 checks=0\n"
                        "=== 2023-11-14T22:13:30Z interval=10s series=9 in 2 parts\n");
    size_t want[] = {3, 5, 4, 0};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(counts[i], want[i]);
    md_buf_free(&r.out);
    md_flusher_free(fl);
    uv_loop_close(&loop);
    md_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_in_parts_states_exact_counts),
        cmocka_unit_test(test_empty_last_part_closes_the_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
