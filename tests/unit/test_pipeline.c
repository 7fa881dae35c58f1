/*
 * The threaded intake end to end inside one process: real UDP sockets,
 * real intake threads and the real aggregator thread. Checks that counter
 * totals are exact across two SO_REUSEPORT intake threads, and what happens
 * when the aggregator is stalled and the rings fill: with the drop policy
 * the drop counter equals exactly what did not arrive; with the block
 * policy nothing is lost. A lone intake thread aggregates itself, and a
 * window of more series than a part reaches the loop in parts, each one
 * only once the loop has freed the one before. At one metric per datagram
 * the intake thread naps between reads instead of waking for each. Also
 * run by the ThreadSanitizer build.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include "meterd/config.h"
#include "module_opts.h"
#include "pipeline.h"
#include "udp_fixture.h"

#define NCTX 500
#define NBIG 20000 /* contexts of the parts test: more than two parts of 8192 series */

struct sums {
    double v[NCTX];
    int frames;
    int parts;      /* frames with `continued` set */
    int more;       /* frames with `more_parts` set */
    double big[NBIG];
    double big_total;
};

static void on_frame(void *ud, struct md_frame *f)
{
    struct sums *s = ud;
    for (size_t i = 0; i < f->nseries; i++) {
        int idx;
        if (sscanf(f->series[i].name, "pl.c%d", &idx) == 1 && idx >= 0 && idx < NCTX)
            s->v[idx] += f->series[i].value * f->interval;
        if (sscanf(f->series[i].name, "pp.c%d", &idx) == 1 && idx >= 0 && idx < NBIG) {
            s->big[idx] += f->series[i].value * f->interval;
            s->big_total += f->series[i].value * f->interval;
        }
    }
    s->frames++;
    s->parts += f->continued;
    s->more += f->more_parts;
    md_frame_free(f);
    free(f);
}

/* One pipeline on a loop of its own, its frames summed into a struct sums. */
struct rig {
    uv_loop_t loop;
    struct md_config cfg;
    struct md_pipeline *p;
};

static void rig_start(struct rig *r, struct sums *s, const char *policy, int threads,
                      int ring_size, int interval)
{
    char port[64], th[64], ring[64], pol[64], iv[64];
    snprintf(iv, sizeof iv, "flush_interval=%d", interval);
    snprintf(port, sizeof port, "dogstatsd_port=%d", free_udp_port());
    snprintf(th, sizeof th, "dogstatsd_pipeline_count=%d", threads);
    snprintf(ring, sizeof ring, "dogstatsd_ring_size=%d", ring_size);
    snprintf(pol, sizeof pol, "dogstatsd_ring_full_policy=%s", policy);
    char *sets[] = {port, th, ring, pol, iv, "dogstatsd_so_rcvbuf=33554432", "hostname=t"};
    char err[512];
    uv_loop_init(&r->loop);
    assert_int_equal(md_config_load(&r->cfg, NULL, sets, 7, err, sizeof err), 0);
    static struct md_pipeline_opts popts; /* outlives the pipeline */
    md_config_pipeline_opts(&r->cfg, "t", &popts);
    r->p = md_pipeline_new(&popts, err, sizeof err);
    assert_non_null(r->p);
    assert_int_equal(md_pipeline_start(r->p, &r->loop, on_frame, s), 0);
}

/* After md_pipeline_stop: the async handle's close completes in the uv_run. */
static void rig_end(struct rig *r)
{
    uv_run(&r->loop, UV_RUN_DEFAULT);
    md_pipeline_free(r->p);
    md_config_free(&r->cfg);
    uv_loop_close(&r->loop);
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Send `n` increments of 1 spread over NCTX counters, 20 per datagram. */
static void send_counters(int port, int n)
{
    struct sockaddr_in a;
    int fd = udp_sender(port, &a);
    char buf[2048];
    int i = 0;
    while (i < n) {
        size_t len = 0;
        for (int k = 0; k < 20 && i < n; k++, i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%spl.c%d:1|c|#env:test",
                                    k ? "\n" : "", i % NCTX);
        sendto(fd, buf, len, 0, (struct sockaddr *)&a, sizeof a);
        if (i % 20000 == 0)
            nap_ms(2); /* stay below loopback capacity */
    }
    close(fd);
}

static uint64_t metrics_seen(struct md_pipeline *p, struct md_pipeline_stats *ps)
{
    md_pipeline_stats(p, ps);
    return ps->statsd.metrics;
}

/* Wait (bounded) until the intake threads have parsed `n` metrics. */
static void wait_metrics(struct md_pipeline *p, uint64_t n)
{
    struct md_pipeline_stats ps;
    for (int i = 0; i < 5000 && metrics_seen(p, &ps) < n; i++)
        nap_ms(1);
    assert_int_equal(metrics_seen(p, &ps), n);
}

static double total(const struct sums *s)
{
    double t = 0;
    for (int i = 0; i < NCTX; i++)
        t += s->v[i];
    return t;
}

/*
 * 200000 increments over NCTX counters through `threads` intake threads
 * (one: the intake thread aggregates itself), every one counted.
 */
static void exact_totals(int threads)
{
    struct rig r;
    struct sums s = {0};
    rig_start(&r, &s, "drop", threads, 65536, 10);
    const int n = 200000;
    send_counters(r.cfg.dogstatsd_port, n);
    wait_metrics(r.p, n);
    md_pipeline_stop(r.p);
    struct md_pipeline_stats ps;
    md_pipeline_stats(r.p, &ps);
    assert_int_equal(ps.threads, threads);
    assert_int_equal(ps.ring_full_drops + ps.ring_waits, 0);
    for (int i = 0; i < NCTX; i++)
        assert_true(s.v[i] == n / NCTX);
    rig_end(&r);
}

static void test_exact_totals_two_threads(void **st)
{
    exact_totals(2);
}

static void test_exact_totals_one_thread_inline(void **st)
{
    exact_totals(1);
}

#define STALLED_N 5000

/* Two intake threads on the smallest rings, the aggregator paused, STALLED_N increments sent. */
static void send_to_stalled(struct rig *r, struct sums *s, const char *policy)
{
    rig_start(r, s, policy, 2, 1024, 10);
    md_pipeline_pause(r->p, true);
    send_counters(r->cfg.dogstatsd_port, STALLED_N);
}

static void test_stalled_consumer_drop_policy_counts_exactly(void **st)
{
    struct rig r;
    struct sums s = {0};
    const int n = STALLED_N;
    send_to_stalled(&r, &s, "drop");
    wait_metrics(r.p, n);
    md_pipeline_pause(r.p, false);
    md_pipeline_stop(r.p);
    struct md_pipeline_stats ps;
    md_pipeline_stats(r.p, &ps);
    assert_true(ps.ring_full_drops > 0);
    assert_true(total(&s) + (double)ps.ring_full_drops == n);
    rig_end(&r);
}

static void test_stalled_consumer_block_policy_loses_nothing(void **st)
{
    struct rig r;
    struct sums s = {0};
    const int n = STALLED_N;
    send_to_stalled(&r, &s, "block");
    /* The intake thread now waits on the full ring; the socket holds the rest. */
    struct md_pipeline_stats ps;
    for (int i = 0; i < 2000 && (md_pipeline_stats(r.p, &ps), ps.ring_waits == 0); i++)
        nap_ms(1);
    assert_true(ps.ring_waits > 0);
    md_pipeline_pause(r.p, false);
    wait_metrics(r.p, n);
    md_pipeline_stop(r.p);
    md_pipeline_stats(r.p, &ps);
    assert_int_equal(ps.ring_full_drops, 0);
    assert_true(total(&s) == n);
    rig_end(&r);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One increment on each of NBIG contexts, then a due flush of their 1 s window. */
static void parts_case(int threads)
{
    struct rig r;
    struct sums *s = calloc(1, sizeof *s);
    rig_start(&r, s, "block", threads, 65536, 1);
    /* Start early in a second, so that every sample lands in one window. */
    for (int i = 0; i < 2000 && now_s() - (double)(long)now_s() > 0.3; i++)
        nap_ms(1);
    struct sockaddr_in a;
    int fd = udp_sender(r.cfg.dogstatsd_port, &a);
    char buf[2048];
    for (int i = 0; i < NBIG;) {
        size_t len = 0;
        for (int k = 0; k < 20 && i < NBIG; k++, i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%spp.c%d:1|c", k ? "\n" : "", i);
        sendto(fd, buf, len, 0, (struct sockaddr *)&a, sizeof a);
    }
    close(fd);
    wait_metrics(r.p, NBIG);
    /* The window is due once it has ended plus the 0.25 s grace of a 1 s interval. */
    double due = (double)(long)now_s() + 1.3;
    for (int i = 0; i < 3000 && now_s() < due; i++)
        nap_ms(1);
    md_pipeline_flush(r.p, false);
    /* The loop frees each part; the seal waits for that before the next one. */
    for (int i = 0; i < 5000 && s->big_total < NBIG; i++) {
        uv_run(&r.loop, UV_RUN_NOWAIT);
        nap_ms(1);
    }
    assert_true(s->big_total == NBIG);
    assert_true(s->parts >= 2); /* 20000 series: three parts of at most 8192 */
    assert_int_equal(s->more, s->parts); /* every part but the last says more follow */
    md_pipeline_stop(r.p);
    for (int i = 0; i < NBIG; i++)
        assert_true(s->big[i] == 1);
    rig_end(&r);
    free(s);
}

static void test_inline_window_in_parts_exact(void **st)
{
    parts_case(1);
}

static void test_threaded_window_in_parts_exact(void **st)
{
    parts_case(2);
}

/* Voluntary context switches of every thread but the caller's. */
static long other_threads_sleeps(void)
{
    char path[300], line[256];
    long total = 0;
    pid_t self = (pid_t)syscall(SYS_gettid);
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == self)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0)
                total += atol(line + 24);
        if (f)
            fclose(f);
    }
    closedir(d);
    return total;
}

/*
 * One metric per datagram, each sent alone at a steady 20k/s: a reader that
 * blocks between reads is woken for every one. The intake naps between
 * reads while traffic flows, so its thread sleeps far fewer times than
 * datagrams arrive (about one nap per millisecond here), and loses none.
 */
static void test_steady_trickle_takes_few_wakeups(void **st)
{
    (void)st;
    struct rig r;
    struct sums s = {0};
    rig_start(&r, &s, "drop", 1, 65536, 10);
    struct sockaddr_in a;
    int fd = udp_sender(r.cfg.dogstatsd_port, &a);
    const int n = 10000;
    char buf[64];
    long before = other_threads_sleeps();
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof buf, "pl.c%d:1|c", i % NCTX);
        sendto(fd, buf, (size_t)len, 0, (struct sockaddr *)&a, sizeof a);
        double due = (i + 1) / 20000.0; /* paced by spinning: a sleep would batch the sends */
        do
            clock_gettime(CLOCK_MONOTONIC, &now);
        while ((double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 < due);
    }
    close(fd);
    wait_metrics(r.p, n);
    long sleeps = other_threads_sleeps() - before;
    printf("%d datagrams at 20k/s: the intake thread slept %ld times\n", n, sleeps);
    assert_true(sleeps < n / 4);
    md_pipeline_stop(r.p);
    rig_end(&r);
    for (int i = 0; i < NCTX; i++)
        assert_true(s.v[i] == n / NCTX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_totals_two_threads),
        cmocka_unit_test(test_exact_totals_one_thread_inline),
        cmocka_unit_test(test_steady_trickle_takes_few_wakeups),
        cmocka_unit_test(test_inline_window_in_parts_exact),
        cmocka_unit_test(test_threaded_window_in_parts_exact),
        cmocka_unit_test(test_stalled_consumer_drop_policy_counts_exactly),
        cmocka_unit_test(test_stalled_consumer_block_policy_loses_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
