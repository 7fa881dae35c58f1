/*
 * test_ledger.c: the intake half of the delivery ledger, counted by the
 * real pipeline. The same datagrams, holding a line of every way a sample
 * can end (aggregated, rejected by parse reason, blocked, too many tags,
 * non-finite, context limit, |T on a histogram, too long, truncated), go
 * through the feed (an intake stage and the aggregator thread) and
 * through a real UDP socket read by a lone intake thread that aggregates
 * inline; every term must come out exact, packed values counting each
 * value, and the identity must hold. A stalled aggregator shows the
 * in-transit term measured while samples sit in the rings, and the drop
 * policy's ring_full counted in samples. `meterd status` works its table's
 * sums out itself. Also run by the ThreadSanitizer build.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include "meterd/config.h"
#include "module_opts.h"
#include "pipeline.h"
#include "status_text.h"
#include "udp_fixture.h"

#define NDGRAM 16

static void on_frame(void *ud, struct md_frame *f)
{
    (void)ud;
    md_frame_free(f);
    free(f);
}

static struct md_pipeline *start(struct md_config *cfg, uv_loop_t *loop, const char *port,
                                 const char *threads, const char *policy)
{
    char *sets[] = {(char *)port, (char *)threads, (char *)policy, "hostname=t",
                    "dogstatsd_context_limit=3", "statsd_metric_blocklist=blocked.m",
                    "dogstatsd_buffer_size=32768", "dogstatsd_ring_size=1024",
                    "dogstatsd_so_rcvbuf=8388608"};
    char err[512] = "";
    assert_int_equal(md_config_load(cfg, NULL, sets, 9, err, sizeof err), 0);
    static struct md_pipeline_opts popts; /* outlives the pipeline */
    md_config_pipeline_opts(cfg, "t", &popts);
    struct md_pipeline *p = md_pipeline_new(&popts, err, sizeof err);
    assert_non_null(p);
    uv_loop_init(loop);
    return p;
}

static void stop(struct md_pipeline *p, uv_loop_t *loop, struct md_config *cfg)
{
    md_pipeline_stop(p);
    uv_run(loop, UV_RUN_DEFAULT); /* the async handle's close completes here */
    md_pipeline_free(p);
    md_config_free(cfg);
    uv_loop_close(loop);
}

/* 300 distinct tags: over MD_CTX_MAX_TAGS. */
static size_t many_tags(char *out, size_t len)
{
    size_t n = 0;
    for (int i = 0; i < 300 && n + 16 < len; i++)
        n += (size_t)snprintf(out + n, len - n, "%st%d", i ? "," : "", i);
    return n;
}

/*
 * The datagrams of every ending, in order (the first three contexts fill
 * dogstatsd_context_limit: 3). dg[i] is NUL-terminated; trunc[i] marks the
 * one sent or fed as cut by the receive buffer.
 */
struct dgrams {
    char *dg[NDGRAM];
    bool trunc[NDGRAM];
    int n;
};

static void add(struct dgrams *d, bool trunc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    d->dg[d->n] = malloc(40000);
    vsnprintf(d->dg[d->n], 40000, fmt, ap);
    va_end(ap);
    d->trunc[d->n++] = trunc;
}

static void build(struct dgrams *d)
{
    static char tags[4096], longtags[20001];
    many_tags(tags, sizeof tags);
    memset(longtags, 'a', sizeof longtags - 1);
    long now = (long)time(NULL);
    *d = (struct dgrams){.n = 0};
    add(d, false, "ok.a:1|c\nok.a:2|c\nok.a:3|c"); /* 3 aggregated */
    add(d, false, "ok.p:1:2:3|c");                 /* 3 aggregated, packed */
    add(d, false, "nf.p:1:nan|g");                 /* 1 aggregated, 1 nonfinite */
    add(d, false, "nf.m:inf|g");                   /* 1 nonfinite */
    add(d, false, "bad\nx:1|q\n:1|c");             /* 3 rejected lines */
    add(d, false, "blocked.m:1|c\nblocked.m:1:2|c"); /* 3 blocked: fast path and packed */
    add(d, false, "tags.m:1|c|#%s", tags);         /* 1 too many tags */
    add(d, false, "tags.p:1:2|c|#%s", tags);       /* 2 too many tags, packed */
    add(d, false, "new.c0:1|c\nnew.c1:1|c");    /* 2 context limit */
    add(d, false, "ts.g:5|g|T%ld\nts.h:5|h|T%ld", now - 5, now - 5); /* 1 aggregated, 1 ts type */
    add(d, false, "long.m:1|c|#%s", longtags);     /* 1 line_too_long (ring of 64 KiB) */
    add(d, true, "cut.m:1|c\ncut.m:2|c\ncut.m:3"); /* 2 context limit, 1 truncated */
    add(d, false, "_e{5,4}:title|text\n_e{x}:y|z"); /* 1 event (not a sample), 1 rejected */
}

static void free_dgrams(struct dgrams *d)
{
    for (int i = 0; i < d->n; i++)
        free(d->dg[i]);
}

/* What the datagrams above must come to. */
static void assert_expected(const struct md_pipeline_stats *ps)
{
    const struct md_intake_ledger *l = &ps->ledger;
    assert_int_equal(l->aggregated, 3 + 3 + 1 + 1);
    assert_int_equal(l->rejected[MD_PERR_NO_PIPE], 1);
    assert_int_equal(l->rejected[MD_PERR_BAD_TYPE], 1);
    assert_int_equal(l->rejected[MD_PERR_EMPTY_NAME], 1);
    assert_int_equal(l->rejected[MD_PERR_LINE_TOO_LONG], 1);
    assert_int_equal(l->rejected[MD_PERR_TRUNCATED], 1);
    assert_int_equal(l->rejected[MD_PERR_EVENT_HEADER], 1);
    assert_int_equal(l->blocked, 3);
    assert_int_equal(l->too_many_tags, 3);
    assert_int_equal(l->nonfinite, 2);
    assert_int_equal(l->context_limit, 2 + 2);
    assert_int_equal(l->timestamp_type, 1);
    assert_int_equal(l->no_memory, 0);
    assert_int_equal(l->ring_full, 0);
    assert_int_equal(l->reparse, 0);
    assert_int_equal(l->in_transit, 0);
    uint64_t rejected = 0;
    for (int i = 0; i < MD_PERR_COUNT; i++)
        rejected += l->rejected[i];
    assert_int_equal(rejected, 6);
    /* 21 metric samples parsed and 6 lines rejected */
    assert_int_equal(l->received, 27);
    assert_int_equal(l->received, l->aggregated + rejected + l->blocked + l->too_many_tags +
                                      l->nonfinite + l->context_limit + l->timestamp_type);
    assert_true(l->balanced);
    assert_int_equal(ps->statsd.events, 1);
}

static void test_feed_every_reason(void **st)
{
    struct md_config cfg;
    uv_loop_t loop;
    struct md_pipeline *p = start(&cfg, &loop, "dogstatsd_port=0", "dogstatsd_pipeline_count=0",
                                  "dogstatsd_ring_full_policy=block");
    assert_int_equal(md_pipeline_feed_open(p, false), 0);
    assert_int_equal(md_pipeline_start(p, &loop, on_frame, NULL), 0);
    struct dgrams d;
    build(&d);
    double now = (double)time(NULL);
    for (int i = 0; i < d.n; i++)
        md_pipeline_feed(p, d.dg[i], strlen(d.dg[i]), d.trunc[i], now);
    md_pipeline_stop(p);
    struct md_pipeline_stats ps;
    md_pipeline_stats(p, &ps);
    assert_expected(&ps);
    free_dgrams(&d);
    stop(p, &loop, &cfg);
}

static void send_all(int port, struct dgrams *d, size_t bufsize)
{
    struct sockaddr_in a;
    int fd = udp_sender(port, &a);
    static char big[40000];
    for (int i = 0; i < d->n; i++) {
        size_t len = strlen(d->dg[i]);
        const char *msg = d->dg[i];
        if (d->trunc[i]) {
            /* Longer than the receive buffer, cut by the kernel inside its
             * last line: blank lines, then d->dg[i] across the cut. */
            static const char head[] = "cut.m:1|c\ncut.m:2|c\ncut.m:";
            size_t h = sizeof head - 1;
            memset(big, '\n', bufsize - h);
            memcpy(big + bufsize - h, head, h);
            memcpy(big + bufsize, "3|c", 3);
            msg = big;
            len = bufsize + 3;
        }
        sendto(fd, msg, len, 0, (struct sockaddr *)&a, sizeof a);
    }
    close(fd);
}

static void wait_read(struct md_pipeline *p, uint64_t packets, struct md_pipeline_stats *ps)
{
    for (int i = 0; i < 5000; i++) {
        md_pipeline_stats(p, ps);
        if (ps->statsd.packets >= packets)
            return;
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("read %llu datagrams of %llu", (unsigned long long)ps->statsd.packets,
             (unsigned long long)packets);
}

static void test_udp_inline_every_reason(void **st)
{
    struct md_config cfg;
    uv_loop_t loop;
    char port[64];
    snprintf(port, sizeof port, "dogstatsd_port=%d", free_udp_port());
    struct md_pipeline *p = start(&cfg, &loop, port, "dogstatsd_pipeline_count=1",
                                  "dogstatsd_ring_full_policy=block");
    assert_int_equal(md_pipeline_start(p, &loop, on_frame, NULL), 0);
    struct dgrams d;
    build(&d);
    send_all(cfg.dogstatsd_port, &d, (size_t)cfg.dogstatsd_buffer_size);
    struct md_pipeline_stats ps;
    wait_read(p, (uint64_t)d.n, &ps);
    md_pipeline_stop(p);
    md_pipeline_stats(p, &ps);
    assert_int_equal(ps.statsd.packets, d.n);
    assert_expected(&ps);
    free_dgrams(&d);
    stop(p, &loop, &cfg);
}

/* n datagrams of one packed line of 2 values each. */
static void send_packed(int port, int n)
{
    struct sockaddr_in a;
    int fd = udp_sender(port, &a);
    char buf[64];
    for (int i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof buf, "r.c%d:1:1|c", i % 3);
        sendto(fd, buf, (size_t)len, 0, (struct sockaddr *)&a, sizeof a);
    }
    close(fd);
}

/* Two intake threads: the aggregator thread stalled, what sits in the rings is in transit. */
static void stalled(const char *policy, bool expect_drops)
{
    struct md_config cfg;
    uv_loop_t loop;
    char port[64];
    snprintf(port, sizeof port, "dogstatsd_port=%d", free_udp_port());
    struct md_pipeline *p = start(&cfg, &loop, port, "dogstatsd_pipeline_count=2", policy);
    assert_int_equal(md_pipeline_start(p, &loop, on_frame, NULL), 0);
    md_pipeline_pause(p, true);
    const int n = expect_drops ? 5000 : 200;
    send_packed(cfg.dogstatsd_port, n);
    struct md_pipeline_stats ps;
    wait_read(p, (uint64_t)n, &ps);
    const struct md_intake_ledger *l = &ps.ledger;
    assert_true(l->balanced);
    assert_int_equal(l->received, 2 * n);
    assert_int_equal(l->in_transit + l->ring_full + l->aggregated + l->context_limit, 2 * n);
    assert_true(l->in_transit > 0);
    assert_true(l->ring_full % 2 == 0); /* a packed line is lost whole: both values */
    if (expect_drops)
        assert_true(l->ring_full > 0);
    else
        assert_int_equal(l->in_transit, 2 * n);
    md_pipeline_pause(p, false);
    md_pipeline_stop(p);
    md_pipeline_stats(p, &ps);
    assert_true(l->balanced);
    assert_int_equal(l->in_transit, 0);
    assert_int_equal(l->aggregated + l->context_limit + l->ring_full, 2 * n);
    assert_int_equal(l->context_limit, 0); /* 3 contexts, limit 3 */
    stop(p, &loop, &cfg);
}

static void test_stalled_block_in_transit(void **st)
{
    stalled("dogstatsd_ring_full_policy=block", false);
}

static void test_stalled_drop_ring_full_in_samples(void **st)
{
    stalled("dogstatsd_ring_full_policy=drop", true);
}

/* meterd status: the sum is worked out from the lines it prints, not taken on trust. */
static void render(const char *json, char **out)
{
    size_t len;
    FILE *f = open_memstream(out, &len);
    char err[256];
    assert_int_equal(md_status_text(json, strlen(json), f, err, sizeof err), 0);
    fclose(f);
}

static void test_status_table_says_whether_it_adds_up(void **st)
{
    static const char ok[] =
        "{\"ledger\":{\"intake\":{\"received\":10,\"aggregated\":6,\"in_transit\":1,"
        "\"rejected\":{\"bad_type\":2},\"dropped\":{\"context_limit\":1,\"reparse\":0},"
        "\"balanced\":true},\"forwarder\":{\"series_flushed\":4,\"handed\":5,"
        "\"recovered\":1,\"shipped\":3,\"queued\":1,\"inflight\":0,\"on_disk\":1,"
        "\"dropped\":{\"evicted\":1},\"balanced\":true}}}";
    char *out = NULL;
    render(ok, &out);
    assert_non_null(strstr(out, "Adds up: yes (10 in = 10 accounted for)"));
    assert_non_null(strstr(out, "Adds up: yes (6 in = 6 accounted for)"));
    assert_non_null(strstr(out, "context_limit"));
    assert_null(strstr(out, "reparse")); /* zero reasons are not listed */
    free(out);
    /* One sample short: the table says so, whatever the agent claims. */
    static const char short_one[] =
        "{\"ledger\":{\"intake\":{\"received\":11,\"aggregated\":6,\"in_transit\":1,"
        "\"rejected\":{\"bad_type\":2},\"dropped\":{\"context_limit\":1},"
        "\"balanced\":true},\"forwarder\":{\"series_flushed\":0}}}";
    render(short_one, &out);
    assert_non_null(strstr(out, "Adds up: NO (11 in, 10 accounted for, difference 1)"));
    assert_non_null(strstr(out, "No HTTP sink"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feed_every_reason),
        cmocka_unit_test(test_udp_inline_every_reason),
        cmocka_unit_test(test_stalled_block_in_transit),
        cmocka_unit_test(test_stalled_drop_ring_full_in_samples),
        cmocka_unit_test(test_status_table_says_whether_it_adds_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
