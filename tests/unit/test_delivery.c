/*
 * Unit tests for what the forwarder does so nothing is lost: the disk
 * spool across a restart, a full memory queue spilling to the spool, a
 * shutdown with the backend down, 413 answered by splitting, and probes
 * that find a recovered backend long before the backoff would. Real HTTP
 * to the scripted server of fwd_srv.h, real files, real refused
 * connections.
 */
#include <dirent.h>
#include <zlib.h>

#include <snappy-c.h>

#include "compress.h"
#include "fwd_srv.h"
#include "meterd/frame.h"
#include "prometheus_rw.h"
#include "spool_fixture.h"

/* Run the loop until pred(ud) or max_s seconds; returns pred's last answer. */
static bool run_until(uv_loop_t *loop, bool (*pred)(void *), void *ud, double max_s)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, tick_cb, 20, 20);
    double t0 = now_s();
    while (!pred(ud) && now_s() - t0 < max_s)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return pred(ud);
}

struct want {
    struct md_forwarder *f;
    struct srv *s;
    uint64_t n;
};

static bool got_errors(void *ud)
{
    struct want *w = ud;
    return fwd_stats(w->f).errors >= w->n;
}

static bool got_sent(void *ud)
{
    struct want *w = ud;
    return fwd_stats(w->f).items_sent >= w->n;
}

static bool got_spooled(void *ud)
{
    struct want *w = ud;
    return fwd_stats(w->f).spooled >= w->n;
}

static bool got_recs(void *ud)
{
    struct want *w = ud;
    return (uint64_t)srv_nrecs(w->s) >= w->n;
}

struct files_want {
    const char *dir;
    int n;
};

/* The spool's writer thread has left exactly n files (writes and deletions are asynchronous). */
static bool got_files(void *ud)
{
    struct files_want *w = ud;
    return fx_count_files(w->dir, ".spl") == w->n;
}

/* The ledger identity: every item handed over is somewhere, counted once. */
static struct md_fwd_ledger balanced(struct md_forwarder *f)
{
    struct md_fwd_ledger l;
    md_forwarder_ledger(f, &l);
    if (!l.balanced)
        fail_msg("ledger: in %llu + recovered %llu != sent %llu + dropped %llu + evicted %llu + "
                 "corrupt %llu + queued %llu + inflight %llu + on_disk %llu",
                 (unsigned long long)l.in_, (unsigned long long)l.recovered,
                 (unsigned long long)l.sent, (unsigned long long)l.dropped,
                 (unsigned long long)l.evicted, (unsigned long long)l.corrupt,
                 (unsigned long long)l.queued, (unsigned long long)l.inflight,
                 (unsigned long long)l.on_disk);
    return l;
}

static struct md_fwd_opts spool_opts(const char *dir)
{
    struct md_fwd_opts o = fast;
    o.spool_path = dir;
    o.secrets[0] = API_KEY;
    return o;
}

static void test_spool_survives_restart(void **st)
{
    char *d = fx_tmpdir("test_delivery");
    uv_loop_t loop;
    uv_loop_init(&loop);
    int port = closed_port();
    struct md_fwd_opts o = spool_opts(d);
    struct md_forwarder *f = md_forwarder_new(&loop, &o);
    const char *bodies[] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(md_forwarder_send(f, payload(port, bodies[i])), 0);
    struct want w = {.f = f, .n = 3};
    assert_true(run_until(&loop, got_spooled, &w, 10)); /* on disk while the backend is down */
    struct files_want fw = {d, 3};
    assert_true(run_until(&loop, got_files, &fw, 10));
    balanced(f);
    md_forwarder_free(f); /* stands for the end of a run: nothing more is sent */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(fx_count_files(d, ".spl"), 3);

    int script[] = {202};
    struct srv *s = srv_start_on(port, script, 1, 202, 0, NULL, 0);
    f = md_forwarder_new(&loop, &o); /* the next run, same folder */
    assert_int_equal(balanced(f).recovered, 3);
    w = (struct want){.f = f, .s = s, .n = 3};
    assert_true(run_until(&loop, got_recs, &w, 10));
    assert_true(run_until_idle(&loop, f, 5));
    for (int i = 0; i < 3; i++) {
        assert_string_equal(s->recs[i].body, bodies[i]); /* oldest first */
        assert_string_equal(s->recs[i].key, API_KEY);    /* put back from the config */
    }
    assert_int_equal(srv_nrecs(s), 3);
    fw.n = 0;
    assert_true(run_until(&loop, got_files, &fw, 10));
    assert_int_equal(balanced(f).sent, 3);
    finish(&loop, f);
    srv_stop(s);
    fx_rmdir_all(d);
}

/*
 * A restart with another backend configured: what was spooled for the old
 * one is dropped when read back (counted as unconfigured, its file
 * deleted), never sent to the new one; what was spooled for a backend
 * still configured is sent there.
 */
static void test_spool_replays_only_to_configured_endpoints(void **st)
{
    char *d = fx_tmpdir("test_delivery");
    uv_loop_t loop;
    uv_loop_init(&loop);
    int gone = closed_port(), kept = closed_port();
    struct md_fwd_opts o = spool_opts(d);
    struct md_forwarder *f = md_forwarder_new(&loop, &o);
    assert_int_equal(md_forwarder_send(f, payload(gone, "old-1")), 0);
    assert_int_equal(md_forwarder_send(f, payload(kept, "kept")), 0);
    assert_int_equal(md_forwarder_send(f, payload(gone, "old-2")), 0);
    struct want w = {.f = f, .n = 3};
    assert_true(run_until(&loop, got_spooled, &w, 10));
    md_forwarder_spool_pending(f);
    md_forwarder_free(f);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(fx_count_files(d, ".spl"), 3);

    int script[] = {202};
    struct srv *s = srv_start_on(kept, script, 1, 202, 0, NULL, 0);
    char ep[64], near[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d/datadog/", kept);
    snprintf(near, sizeof near, "http://127.0.0.1:%d/data", gone); /* not at a path boundary */
    o.endpoints[0] = near;
    o.endpoints[1] = ep;
    f = md_forwarder_new(&loop, &o);
    struct files_want fw = {d, 0};
    assert_true(run_until(&loop, got_files, &fw, 10));
    assert_true(run_until_idle(&loop, f, 5));
    assert_int_equal(srv_nrecs(s), 1);
    assert_string_equal(s->recs[0].body, "kept");
    struct md_fwd_stats t = fwd_stats(f);
    assert_int_equal(t.dropped_unconfigured, 2);
    assert_int_equal(t.items_unconfigured, 2);
    assert_int_equal(t.items_sent, 1);
    struct md_fwd_ledger l = balanced(f);
    assert_int_equal(l.recovered, 3);
    assert_int_equal(l.on_disk, 0);
    finish(&loop, f);
    srv_stop(s);
    fx_rmdir_all(d);
}

static void test_full_queue_spills_to_spool_without_loss(void **st)
{
    char *d = fx_tmpdir("test_delivery");
    int script[] = {503};
    struct srv *s = srv_start(script, 1, 202, 0, NULL);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_fwd_opts o = spool_opts(d);
    o.max_concurrent = 1;
    o.retry_queue_max_bytes = 250; /* room for two 100-byte payloads in memory */
    struct md_forwarder *f = md_forwarder_new(&loop, &o);
    char bodies[5][101];
    send_lettered(f, s->port, bodies, 5);
    struct want w = {.f = f, .s = s, .n = 6}; /* the 503 and five deliveries */
    assert_true(run_until(&loop, got_recs, &w, 10));
    assert_true(run_until_idle(&loop, f, 5));
    struct md_fwd_stats t = fwd_stats(f);
    assert_int_equal(t.dropped_queue_full, 0);
    assert_int_equal(t.payloads_sent, 5);
    assert_true(t.spooled >= 2);
    balanced(f);
    assert_string_equal(s->recs[0].body, bodies[0]); /* the 503 */
    for (int i = 0; i < 5; i++)
        assert_string_equal(s->recs[i + 1].body, bodies[i]); /* in order */
    struct files_want fw = {d, 0};
    assert_true(run_until(&loop, got_files, &fw, 10));
    finish(&loop, f);
    srv_stop(s);
    fx_rmdir_all(d);
}

static void test_shutdown_with_backend_down_spools_at_once(void **st)
{
    char *d = fx_tmpdir("test_delivery");
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_fwd_opts o = spool_opts(d);
    struct md_forwarder *f = md_forwarder_new(&loop, &o);
    int port = closed_port();
    assert_int_equal(md_forwarder_send(f, payload(port, "a")), 0);
    struct want w = {.f = f, .n = 1};
    assert_true(run_until(&loop, got_errors, &w, 10));
    assert_int_equal(md_forwarder_send(f, payload(port, "b")), 0);
    int done = 0;
    double t0 = now_s();
    assert_int_equal(md_forwarder_shutdown(f, 5000, on_done, &done), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(done, 1);
    assert_true(now_s() - t0 < 1.0); /* no point waiting out the deadline */
    struct md_fwd_stats t = fwd_stats(f);
    assert_int_equal(t.dropped_shutdown, 0);
    assert_int_equal(t.spooled, 2);
    assert_int_equal(balanced(f).on_disk, 2);
    assert_int_equal(fx_count_files(d, ".spl"), 2); /* written before the forwarder said done */
    md_forwarder_free(f);
    assert_int_equal(uv_loop_close(&loop), 0);
    fx_rmdir_all(d);
}

/* A series body of n items that compress poorly, deflated as the flusher does. */
static struct md_payload *series_payload(int port, int n)
{
    struct md_buf b;
    md_buf_init(&b);
    md_buf_puts(&b, "{\"series\":[");
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        md_buf_printf(&b, "%s{\"metric\":\"m.%d\",\"tags\":[\"r:%016llx%016llx\"]}", i ? "," : "",
                      i, (unsigned long long)x, (unsigned long long)(x * 31));
    }
    md_buf_puts(&b, "]}");
    struct md_payload *p = payload(port, "");
    free(p->body);
    void *z;
    size_t zl;
    assert_int_equal(md_deflate(b.p, b.len, 6, &z, &zl), 0);
    p->body = z;
    p->len = zl;
    p->nitems = (size_t)n;
    p->headers[p->nheaders++] = strdup("Content-Encoding: deflate");
    md_buf_free(&b);
    return p;
}

static void test_413_split_until_accepted(void **st)
{
    int script[] = {202};
    struct srv *s = srv_start_on(0, script, 1, 202, 0, NULL, 400);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_forwarder *f = md_forwarder_new(&loop, &fast);
    assert_int_equal(md_forwarder_send(f, series_payload(s->port, 40)), 0);
    assert_true(run_until_idle(&loop, f, 10));
    struct md_fwd_stats t = fwd_stats(f);
    assert_true(t.splits >= 3);
    assert_int_equal(t.items_sent, 40);
    assert_int_equal(t.items_dropped, 0);
    int seen[40] = {0};
    for (int i = 0; i < srv_nrecs(s); i++) {
        void *plain;
        size_t pl;
        assert_true(s->recs[i].len <= 400);
        assert_int_equal(md_inflate(s->recs[i].body, s->recs[i].len, 1 << 20, &plain, &pl), 0);
        json_error_t je;
        json_t *doc = json_loadb(plain, pl, 0, &je);
        assert_non_null(doc); /* each half is a whole document */
        json_t *series = json_object_get(doc, "series"), *v;
        size_t k;
        json_array_foreach(series, k, v) {
            int m = atoi(json_string_value(json_object_get(v, "metric")) + 2);
            seen[m]++;
        }
        json_decref(doc);
        free(plain);
    }
    for (int i = 0; i < 40; i++)
        assert_int_equal(seen[i], 1); /* each series exactly once */
    assert_int_equal(balanced(f).sent, 40);
    finish(&loop, f);
    srv_stop(s);
}

/* Remote write: a snappy body is cut and re-snappied; every series arrives once. */
static void test_413_split_remote_write(void **st)
{
    int script[] = {202};
    struct srv *s = srv_start_on(0, script, 1, 202, 0, NULL, 300);
    const struct md_sink_ops *ops = md_sink_lookup("prometheus_rw");
    char url[96], err[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/write", s->port);
    struct md_prw_conf conf = {.prometheus_remote_write_url = url};
    void *sst = NULL;
    assert_int_equal(ops->create(&conf, NULL, &sst, err, sizeof err), 0);
    struct md_frame fr;
    md_frame_init(&fr, 1700000000, 10);
    const struct md_series_key *k = md_frame_key(&fr, "h", 1, NULL, 0);
    char name[32];
    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof name, "rw_m_%02d", i);
        assert_int_equal(md_frame_add(&fr, name, strlen(name), NULL, k, MD_SERIES_GAUGE, 0,
                                      fr.start, i), 0);
    }
    struct md_payload *p = NULL;
    assert_int_equal(ops->encode(sst, &fr, &p), 0);
    p->sink = "prometheus_rw";
    assert_true(p->len > 300);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_forwarder *f = md_forwarder_new(&loop, &fast);
    assert_int_equal(md_forwarder_send(f, p), 0);
    assert_true(run_until_idle(&loop, f, 10));
    struct md_fwd_stats t = fwd_stats(f);
    assert_true(t.splits >= 1);
    assert_int_equal(t.items_sent, 30);
    int seen[30] = {0};
    for (int i = 0; i < srv_nrecs(s); i++) {
        size_t n = 0;
        char plain[4096];
        assert_true(s->recs[i].len <= 300);
        assert_int_equal(snappy_uncompressed_length(s->recs[i].body, s->recs[i].len, &n), SNAPPY_OK);
        assert_true(n < sizeof plain);
        assert_int_equal(snappy_uncompress(s->recs[i].body, s->recs[i].len, plain, &n), SNAPPY_OK);
        for (size_t j = 0; j + 8 <= n; j++)
            if (memcmp(plain + j, "rw_m_", 5) == 0)
                seen[atoi(plain + j + 5)]++;
    }
    for (int i = 0; i < 30; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(balanced(f).sent, 30);
    finish(&loop, f);
    srv_stop(s);
    md_frame_free(&fr);
    ops->destroy(sst);
}

/* Items a sink could fit in no payload: counted dropped as too_big, nothing sent. */
static void test_too_big_marker_counted(void **st)
{
    int script[] = {202};
    struct srv *s = srv_start_on(0, script, 1, 202, 0, NULL, 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_forwarder *f = md_forwarder_new(&loop, &fast);
    struct md_payload *p = payload(s->port, "");
    free(p->body);
    p->body = NULL;
    p->len = 0;
    p->nitems = 3;
    p->too_big = true;
    assert_int_equal(md_forwarder_send(f, p), 0);
    assert_int_equal(md_forwarder_send(f, payload(s->port, "{\"series\":[]}")), 0);
    assert_true(run_until_idle(&loop, f, 10));
    struct md_fwd_stats t = fwd_stats(f);
    assert_int_equal(t.dropped_too_big, 1);
    assert_int_equal(t.items_dropped, 3);
    assert_int_equal(t.items_sent, 1);
    assert_int_equal(srv_nrecs(s), 1);
    struct md_fwd_ledger l = balanced(f);
    assert_int_equal(l.dropped, 3);
    finish(&loop, f);
    srv_stop(s);
}

static void test_probe_finds_recovered_backend(void **st)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_fwd_opts o = fast;
    o.backoff_base_ms = 100;
    o.backoff_max_ms = 60000;
    int port = closed_port();
    struct md_forwarder *f = md_forwarder_new(&loop, &o);
    assert_int_equal(md_forwarder_send(f, payload(port, "late")), 0);
    struct want w = {.f = f, .n = 6}; /* the next wait is 3.2 to 6.4 s */
    assert_true(run_until(&loop, got_errors, &w, 20));
    int script[] = {202};
    struct srv *s = srv_start_on(port, script, 1, 202, 0, NULL, 0);
    double t0 = now_s();
    w = (struct want){.f = f, .s = s, .n = 1};
    assert_true(run_until(&loop, got_recs, &w, 10));
    double dt = now_s() - t0;
    assert_true(dt < 1.5); /* a probe found it, the backoff would say >= 3.2 s */
    assert_true(s->heads >= 1);
    struct md_fwd_stats t = fwd_stats(f);
    assert_true(t.probes >= 1);
    finish(&loop, f);
    srv_stop(s);
}

/* A long outage fills a small spool: the oldest go, counted, and the ledger adds up throughout. */
static void test_outage_fills_spool_ledger_adds_up(void **st)
{
    char *d = fx_tmpdir("test_delivery");
    uv_loop_t loop;
    struct md_fwd_opts o = spool_opts(d);
    o.spool_max_bytes = 4000; /* five of these payloads */
    int port = closed_port();
    char body[601];
    memset(body, 'z', 600);
    body[600] = '\0';
    uint64_t recovered = 0;
    for (int run = 0; run < 2; run++) { /* a second run starts on what the first left */
        uv_loop_init(&loop);
        struct md_forwarder *f = md_forwarder_new(&loop, &o);
        assert_int_equal(balanced(f).recovered, recovered);
        for (int i = 0; i < 20; i++) {
            struct md_payload *p = payload(port, body);
            p->nitems = 7;
            assert_int_equal(md_forwarder_send(f, p), 0);
            uv_run(&loop, UV_RUN_NOWAIT);
            balanced(f);
        }
        struct want w = {.f = f, .n = 1};
        assert_true(run_until(&loop, got_errors, &w, 10));
        balanced(f);
        int done = 0;
        assert_int_equal(md_forwarder_shutdown(f, 1000, on_done, &done), 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        struct md_fwd_ledger l = balanced(f);
        assert_int_equal(l.in_, 140);
        assert_int_equal(l.sent + l.queued + l.inflight, 0);
        assert_true(l.evicted > 0);           /* the bound held: the oldest went */
        assert_true(l.on_disk > 0 && l.on_disk <= 5 * 7);
        recovered = l.on_disk;
        md_forwarder_free(f);
        assert_int_equal(uv_loop_close(&loop), 0);
    }
    fx_rmdir_all(d);
}

static struct md_payload *intake_payload(int port)
{
    struct md_payload *p = payload(port, "{\"internalHostname\":\"h\"}");
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/datadog/intake/?x=1", port);
    free(p->url);
    p->url = strdup(url);
    return p;
}

static bool got_series_recs(void *ud)
{
    struct want *w = ud;
    int n = 0;
    pthread_mutex_lock(&w->s->mu);
    for (int i = 0; i < w->s->nrecs; i++)
        n += strstr(w->s->recs[i].path, "/api/v1/series") != NULL;
    pthread_mutex_unlock(&w->s->mu);
    return (uint64_t)n >= w->n;
}

/*
 * The host metadata payload failing on /intake/ (a proxy that blocks it,
 * an intake that refuses it) backs off that endpoint only: series of the
 * same sink keep going to /api/v1/series at once. The server's 503 for
 * /intake/ is scripted: no real backend refuses one path on demand.
 */
static void test_failing_metadata_does_not_hold_back_series(void **st)
{
    int script[] = {202};
    struct srv *s = srv_start(script, 1, 202, 0, NULL);
    pthread_mutex_lock(&s->mu);
    s->fail_path = "/datadog/intake/";
    s->fail_status = 503;
    pthread_mutex_unlock(&s->mu);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_fwd_opts o = fast;
    o.backoff_base_ms = 2000; /* a blocked sink would hold the series 2 to 4 s */
    o.backoff_max_ms = 8000;
    struct md_forwarder *f = md_forwarder_new(&loop, &o);
    assert_int_equal(md_forwarder_send(f, intake_payload(s->port)), 0);
    struct want w = {.f = f, .s = s, .n = 1};
    assert_true(run_until(&loop, got_errors, &w, 10)); /* /intake/ failed and backs off */
    double t0 = now_s();
    for (int i = 0; i < 3; i++)
        assert_int_equal(md_forwarder_send(f, payload(s->port, "series")), 0);
    w.n = 3;
    /* Wait for the forwarder to take the answers, not for the server to see
     * the requests: the server records a request before it answers it. */
    assert_true(run_until(&loop, got_sent, &w, 10));
    double took = now_s() - t0;
    assert_true(got_series_recs(&w));
    assert_true(took < 1.0);
    struct md_fwd_stats t;
    md_forwarder_stats(f, "datadog", &t);
    assert_int_equal(t.items_sent, 3);
    assert_int_equal(md_forwarder_pending(f), 1); /* the metadata still waits for its endpoint */
    balanced(f);
    finish(&loop, f);
    srv_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spool_survives_restart),
        cmocka_unit_test(test_spool_replays_only_to_configured_endpoints),
        cmocka_unit_test(test_full_queue_spills_to_spool_without_loss),
        cmocka_unit_test(test_shutdown_with_backend_down_spools_at_once),
        cmocka_unit_test(test_413_split_until_accepted),
        cmocka_unit_test(test_413_split_remote_write),
        cmocka_unit_test(test_too_big_marker_counted),
        cmocka_unit_test(test_probe_finds_recovered_backend),
        cmocka_unit_test(test_outage_fills_spool_ledger_adds_up),
        cmocka_unit_test(test_failing_metadata_does_not_hold_back_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
