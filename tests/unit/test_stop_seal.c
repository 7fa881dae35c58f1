/*
 * test_stop_seal.c: what the pipeline does when it stops, on the real
 * pipeline and real sockets. The last seal (every open window) reaches the
 * loop in parts of about 8192 series, as a flush does, never as one frame
 * of the whole window (at 1M contexts that frame took RSS from 139 to 325
 * MiB); with the loop running (the daemon's drain) the parts come through
 * the loop and `done` follows the last one. After the stop the intake
 * sockets are gone: a datagram sent then is refused by the kernel, not
 * queued and freed unread at exit, and every datagram sent before it is
 * received and balanced in the ledger. A mass expiry gives memory back
 * from a thread of its own, not on the thread that aggregates. Also run by
 * the ThreadSanitizer build.
 */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include "aggregator.h"
#include "meterd/config.h"
#include "module_opts.h"
#include "pipeline.h"
#include "udp_fixture.h"

#define PART_SERIES 8192 /* agent/pipeline/pipeline_agg.c */
#define SEAL_STEP 2048

struct seen {
    size_t frames, series, max_series;
    int done;
    size_t series_at_done;
};

static void on_frame(void *ud, struct md_frame *f)
{
    struct seen *s = ud;
    s->frames++;
    s->series += f->nseries;
    if (f->nseries > s->max_series)
        s->max_series = f->nseries;
    md_frame_free(f);
    free(f);
}

static void on_done(void *ud)
{
    struct seen *s = ud;
    s->done++;
    s->series_at_done = s->series;
}

static struct md_pipeline *make(struct md_config *cfg, const char *const *extra, int nextra)
{
    char *sets[8] = {"hostname=t", "dogstatsd_context_limit=0", "dogstatsd_ring_size=16384"};
    int n = 3;
    for (int i = 0; i < nextra; i++)
        sets[n++] = (char *)extra[i];
    char err[512] = "";
    assert_int_equal(md_config_load(cfg, NULL, sets, n, err, sizeof err), 0);
    static struct md_pipeline_opts popts; /* outlives the pipeline */
    md_config_pipeline_opts(cfg, "t", &popts);
    struct md_pipeline *p = md_pipeline_new(&popts, err, sizeof err);
    assert_non_null(p);
    return p;
}

/* n gauges (no zero-fill, whatever windows the stop seals), 100 lines a datagram. */
static void feed_gauges(struct md_pipeline *p, size_t n)
{
    char buf[4096];
    double now = (double)time(NULL);
    for (size_t i = 0; i < n;) {
        size_t len = 0;
        for (int k = 0; k < 100 && i < n; k++, i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%sstop.g%zu:1|g",
                                    k ? "\n" : "", i);
        md_pipeline_feed(p, buf, len, false, now);
    }
}

static void finish(struct md_pipeline *p, uv_loop_t *loop, struct md_config *cfg)
{
    md_pipeline_stop(p); /* a no-op when stopped already */
    uv_run(loop, UV_RUN_DEFAULT);
    md_pipeline_free(p);
    md_config_free(cfg);
    uv_loop_close(loop);
}

#define N 30000

/* A pipeline started on `loop` (not running yet) holding N open gauges. */
static struct md_pipeline *started_with_gauges(struct md_config *cfg, uv_loop_t *loop,
                                               struct seen *s)
{
    uv_loop_init(loop);
    const char *x[] = {"dogstatsd_port=0"};
    struct md_pipeline *p = make(cfg, x, 1);
    assert_int_equal(md_pipeline_feed_open(p, false), 0);
    assert_int_equal(md_pipeline_start(p, loop, on_frame, s), 0);
    feed_gauges(p, N);
    return p;
}

/* Stops p with n datagrams queued on its socket: every one is read, aggregated and balanced. */
static void stop_with_all_read(struct md_pipeline *p, uint64_t n)
{
    md_pipeline_stop(p);
    struct md_pipeline_stats ps;
    md_pipeline_stats(p, &ps);
    assert_int_equal(ps.ledger.received, n);
    assert_int_equal(ps.ledger.aggregated, n);
    assert_true(ps.ledger.balanced);
}

/* md_pipeline_stop (the CLI, the tests): the window comes in parts. */
static void test_stop_seals_in_parts(void **st)
{
    struct md_config cfg;
    uv_loop_t loop;
    struct seen s = {0};
    struct md_pipeline *p = started_with_gauges(&cfg, &loop, &s);
    md_pipeline_stop(p);
    assert_int_equal(s.series, N);
    assert_true(s.frames >= N / (PART_SERIES + SEAL_STEP));
    /* a part is taken once a step (SEAL_STEP slots) brings it to PART_SERIES */
    assert_true(s.max_series < PART_SERIES + SEAL_STEP);
    finish(p, &loop, &cfg);
}

/* md_pipeline_stop_start (the daemon's drain): the loop runs and takes the parts. */
static void test_stop_start_with_the_loop_running(void **st)
{
    struct md_config cfg;
    uv_loop_t loop;
    struct seen s = {0};
    struct md_pipeline *p = started_with_gauges(&cfg, &loop, &s);
    md_pipeline_stop_start(p, on_done, &s);
    assert_int_equal(s.done, 0); /* it returns at once: the seal runs with the loop */
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once the pipeline closed its handle */
    assert_int_equal(s.done, 1);
    assert_int_equal(s.series_at_done, N); /* done comes after the last frame */
    assert_true(s.max_series < PART_SERIES + SEAL_STEP);
    md_pipeline_stop_start(p, on_done, &s); /* stopped: nothing more */
    assert_int_equal(s.done, 1);
    finish(p, &loop, &cfg);
}

static int connected_sender(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/*
 * After the stop the port is closed: the kernel answers a datagram with
 * "port unreachable", which a connected sender sees as ECONNREFUSED,
 * instead of queueing it in a socket nobody reads again.
 */
static void test_udp_refused_after_stop(void **st)
{
    for (int threads = 1; threads <= 2; threads++) {
        struct md_config cfg;
        uv_loop_t loop;
        uv_loop_init(&loop);
        char port[64], th[64];
        int pn = free_udp_port();
        snprintf(port, sizeof port, "dogstatsd_port=%d", pn);
        snprintf(th, sizeof th, "dogstatsd_pipeline_count=%d", threads);
        const char *x[] = {port, th};
        struct md_pipeline *p = make(&cfg, x, 2);
        struct seen s = {0};
        assert_int_equal(md_pipeline_start(p, &loop, on_frame, &s), 0);
        int fd = connected_sender(pn);
        for (int i = 0; i < 200; i++)
            assert_int_equal(send(fd, "stop.udp:1|c", 12, 0), 12);
        /* All 200 were queued before the stop: every one is read, none left behind. */
        stop_with_all_read(p, 200);
        assert_int_equal(send(fd, "stop.udp:1|c", 12, 0), 12);
        char b[16];
        errno = 0;
        assert_true(recv(fd, b, sizeof b, 0) < 0);
        assert_int_equal(errno, ECONNREFUSED);
        close(fd);
        finish(p, &loop, &cfg);
    }
}

static void test_uds_refused_after_stop(void **st)
{
    char dir[] = "/tmp/md-stop-XXXXXX", path[64], opt[96];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/dsd.sock", dir);
    snprintf(opt, sizeof opt, "dogstatsd_socket=%s", path);
    struct md_config cfg;
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *x[] = {"dogstatsd_port=0", opt};
    struct md_pipeline *p = make(&cfg, x, 2);
    struct seen s = {0};
    assert_int_equal(md_pipeline_start(p, &loop, on_frame, &s), 0);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(send(fd, "stop.uds:1|c", 12, 0), 12);
    stop_with_all_read(p, 100);
    /* the socket file is there until md_pipeline_free; the socket is not */
    errno = 0;
    assert_true(send(fd, "stop.uds:1|c", 12, 0) < 0);
    assert_int_equal(errno, ECONNREFUSED);
    close(fd);
    finish(p, &loop, &cfg);
    rmdir(dir);
}

/*
 * A test double, the only one here: a trim as slow as a real one after 1M
 * contexts expired in a daemon's fragmented heap (0.4 to 1.5 s measured;
 * this test's fresh heap trims in a few milliseconds). It notes the thread
 * it runs on. The executable's definition takes the aggregator's call.
 */
static _Atomic pid_t trim_tid;
static _Atomic int trims;

int malloc_trim(size_t pad)
{
    atomic_store(&trim_tid, (pid_t)syscall(SYS_gettid));
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    atomic_fetch_add(&trims, 1);
    return 0;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * 20k contexts expire at once; freeing them starts the trim, on a thread
 * of its own: the seal that freed them returns long before the trim ends,
 * and the aggregator goes on folding samples meanwhile.
 */
static void test_trim_after_mass_expiry_off_the_caller(void **st)
{
    struct md_agg_opts o = {.interval = 10, .grace = 1, .expiry_seconds = 5,
                            .context_expiry_seconds = 5, .hostname = "h"};
    struct md_agg *a = md_agg_new(&o);
    double t0 = 1700000000;
    for (int i = 0; i < 20000; i++) {
        char name[32];
        int len = snprintf(name, sizeof name, "trim.g%d", i);
        struct md_point pt = {.name = {name, (uint32_t)len}, .type = MD_GAUGE, .value = 1,
                              .sample_rate = 1};
        md_agg_add(a, &pt, t0 + 1);
    }
    struct md_frame f;
    md_agg_flush(a, t0 + 12, false, &f); /* the window */
    md_frame_free(&f);
    md_agg_flush(a, t0 + 22, false, &f); /* idle past expiry: removed, in the graveyard */
    md_frame_free(&f);
    assert_int_equal(md_agg_stats(a)->contexts_live, 0);
    assert_int_equal(atomic_load(&trims), 0);
    double t = mono();
    md_agg_flush(a, t0 + 32, false, &f); /* no frame out: freed, and the trim starts */
    double took = mono() - t;
    md_frame_free(&f);
    struct md_point pt = {.name = {"trim.after", 10}, .type = MD_GAUGE, .value = 1,
                          .sample_rate = 1};
    md_agg_add(a, &pt, t0 + 33);
    assert_true(took < 0.3); /* freeing 20k contexts, not waiting 0.3 s for the trim */
    md_agg_free(a); /* waits for the trim */
    assert_int_equal(atomic_load(&trims), 1);
    assert_int_not_equal(atomic_load(&trim_tid), (pid_t)syscall(SYS_gettid));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_seals_in_parts),
        cmocka_unit_test(test_stop_start_with_the_loop_running),
        cmocka_unit_test(test_udp_refused_after_stop),
        cmocka_unit_test(test_uds_refused_after_stop),
        cmocka_unit_test(test_trim_after_mass_expiry_off_the_caller),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
