/*
 * Unit tests for the forwarder: real HTTP over 127.0.0.1 to a real server
 * (md_httpd on its own loop in a second thread) that records each request
 * and answers from a per-test script. The scripted 413/503 answers stand in
 * for failures a real backend cannot be made to produce on demand
 * (VictoriaMetrics answers 400 where Datadog answers 413, and never 503);
 * connection-refused failures are real (a port nobody listens on).
 */
#include "fwd_srv.h"

static void test_sent_202(void **st)
{
    int script[] = {202};
    struct srv *s = srv_start(script, 1, 202, 0, NULL);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_forwarder *f = md_forwarder_new(&loop, &fast);
    assert_non_null(f);
    const char *body = "{\"series\":[{\"metric\":\"a\",\"points\":[[1,2]]}]}";
    assert_int_equal(md_forwarder_send(f, payload(s->port, body)), 0);
    assert_true(run_until_idle(&loop, f, 10));
    struct md_fwd_stats t;
    assert_int_equal(md_forwarder_stats(f, NULL, &t), 0);
    assert_int_equal(t.payloads_sent, 1);
    assert_int_equal(t.bytes_sent, strlen(body));
    assert_int_equal(t.errors, 0);
    assert_int_equal(t.last_status, 202);
    assert_true(t.last_success > 0);
    assert_int_equal(md_forwarder_stats(f, "datadog", &t), 0);
    assert_int_equal(t.payloads_sent, 1);
    assert_int_equal(md_forwarder_stats(f, "other", &t), -ENOENT);
    assert_int_equal(srv_nrecs(s), 1);
    assert_string_equal(s->recs[0].path, "/datadog/api/v1/series");
    assert_string_equal(s->recs[0].body, body);
    assert_string_equal(s->recs[0].key, API_KEY);

    struct md_buf b;
    md_buf_init(&b);
    md_forwarder_status_json(f, &b);
    json_error_t e;
    json_t *j = json_loadb(b.p, b.len, 0, &e);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "payloads_sent")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "queue_bytes")), 0);
    json_t *dd = json_object_get(json_object_get(j, "sinks"), "datadog");
    assert_int_equal(json_integer_value(json_object_get(dd, "bytes_sent")), strlen(body));
    assert_null(strstr(b.p, API_KEY));
    assert_null(strstr(b.p, "127.0.0.1"));
    json_decref(j);
    md_buf_free(&b);
    finish(&loop, f);
    srv_stop(s);
}

static void test_retry_503_then_202(void **st)
{
    int script[] = {503, 503, 202};
    struct srv *s = srv_start(script, 3, 202, 0, NULL);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_forwarder *f = md_forwarder_new(&loop, &fast);
    const char *body = "{\"series\":[{\"metric\":\"retry.me\",\"points\":[[1,2]]}]}";
    assert_int_equal(md_forwarder_send(f, payload(s->port, body)), 0);
    assert_true(run_until_idle(&loop, f, 10));
    struct md_fwd_stats t = fwd_stats(f);
    assert_int_equal(t.payloads_sent, 1);
    assert_int_equal(t.errors, 2);
    assert_int_equal(t.retries, 2);
    assert_int_equal(t.dropped_rejected + t.dropped_queue_full + t.dropped_shutdown, 0);
    assert_int_equal(t.last_status, 202);
    assert_int_equal(srv_nrecs(s), 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(s->recs[i].body, body); /* the same bytes each time */
        assert_string_equal(s->recs[i].key, API_KEY);
    }
    finish(&loop, f);
    srv_stop(s);
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void test_413_single_item_dropped_and_logged(void **st)
{
    int script[] = {413};
    /* The backend echoes the key back: the log must still not show it. */
    struct srv *s = srv_start(script, 1, 413, 0,
                             "{\"errors\":[\"Payload too large\"],\"seen_key\":\"" API_KEY "\"}");
    uv_loop_t loop;
    uv_loop_init(&loop);
    char logpath[] = "/tmp/test_forwarder_log_XXXXXX";
    int lfd = mkstemp(logpath);
    assert_true(lfd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(lfd, 2);
    struct md_forwarder *f = md_forwarder_new(&loop, &fast);
    assert_int_equal(md_forwarder_send(f, payload(s->port, "{\"series\":[]}")), 0);
    bool idle = run_until_idle(&loop, f, 10);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(lfd);
    assert_true(idle);
    const char *log = read_file(logpath);
    unlink(logpath);
    assert_non_null(strstr(log, "HTTP 413"));
    assert_non_null(strstr(log, "Payload too large"));
    assert_non_null(strstr(log, "/datadog/api/v1/series"));
    assert_null(strstr(log, API_KEY));
    assert_null(strstr(log, "?x=1")); /* query strings can carry secrets too */
    struct md_fwd_stats t;
    md_forwarder_stats(f, "datadog", &t);
    assert_int_equal(t.dropped_too_big, 1);
    assert_int_equal(t.items_dropped, 1);
    assert_int_equal(t.payloads_sent, 0);
    assert_int_equal(t.retries, 0);
    assert_int_equal(t.last_status, 413);
    assert_int_equal(srv_nrecs(s), 1); /* not retried */
    finish(&loop, f);
    srv_stop(s);
}

static void test_queue_overflow_drops_oldest(void **st)
{
    int script[] = {503};
    struct srv *s = srv_start(script, 1, 202, 0, NULL);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_fwd_opts o = fast;
    o.max_concurrent = 1;
    o.retry_queue_max_bytes = 250; /* room for two 100-byte payloads */
    struct md_forwarder *f = md_forwarder_new(&loop, &o);
    char bodies[5][101];
    send_lettered(f, s->port, bodies, 5);
    /* #1 in flight, #2 and #3 pushed out by #4 and #5. */
    struct md_fwd_stats t = fwd_stats(f);
    assert_int_equal(t.dropped_queue_full, 2);
    assert_int_equal(md_forwarder_pending(f), 3);
    assert_true(run_until_idle(&loop, f, 10));
    /* #1 fails (503) and goes back to the queue as its oldest entry: dropped in turn. */
    t = fwd_stats(f);
    assert_int_equal(t.dropped_queue_full, 3);
    assert_int_equal(t.payloads_sent, 2);
    assert_int_equal(srv_nrecs(s), 3);
    assert_string_equal(s->recs[0].body, bodies[0]);
    assert_string_equal(s->recs[1].body, bodies[3]);
    assert_string_equal(s->recs[2].body, bodies[4]);
    finish(&loop, f);
    srv_stop(s);
}

static void test_connection_refused_retried(void **st)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_forwarder *f = md_forwarder_new(&loop, &fast);
    assert_int_equal(md_forwarder_send(f, payload(closed_port(), "{}")), 0);
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, tick_cb, 20, 20);
    struct md_fwd_stats t = {0};
    double t0 = now_s();
    while (t.retries < 3 && now_s() - t0 < 10) {
        uv_run(&loop, UV_RUN_ONCE);
        t = fwd_stats(f);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    assert_true(t.retries >= 3);
    assert_int_equal(t.errors, t.retries);
    assert_int_equal(t.last_status, 0);
    assert_int_equal(md_forwarder_pending(f), 1); /* still held for later */
    int done = 0;
    assert_int_equal(md_forwarder_shutdown(f, 0, on_done, &done), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(done, 1);
    t = fwd_stats(f);
    assert_int_equal(t.dropped_shutdown, 1);
    md_forwarder_free(f);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_shutdown_waits_for_inflight(void **st)
{
    int script[] = {202};
    struct srv *s = srv_start(script, 1, 202, 300, NULL);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_forwarder *f = md_forwarder_new(&loop, &fast);
    assert_int_equal(md_forwarder_send(f, payload(s->port, "one")), 0);
    assert_int_equal(md_forwarder_send(f, payload(s->port, "two")), 0);
    int done = 0;
    double t0 = now_s();
    assert_int_equal(md_forwarder_shutdown(f, 5000, on_done, &done), 0);
    assert_int_equal(md_forwarder_shutdown(f, 5000, on_done, &done), -EALREADY);
    assert_int_equal(md_forwarder_send(f, payload(s->port, "late")), -ESHUTDOWN);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once the forwarder closed its handles */
    double dt = now_s() - t0;
    assert_int_equal(done, 1);
    assert_true(dt >= 0.25 && dt < 4.0);
    struct md_fwd_stats t = fwd_stats(f);
    assert_int_equal(t.payloads_sent, 2);
    assert_int_equal(t.dropped_shutdown, 1); /* the late one */
    assert_int_equal(srv_nrecs(s), 2);
    md_forwarder_free(f);
    assert_int_equal(uv_loop_close(&loop), 0);
    srv_stop(s);
}

static void test_shutdown_deadline(void **st)
{
    int script[] = {202};
    struct srv *s = srv_start(script, 1, 202, 1000, NULL);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_forwarder *f = md_forwarder_new(&loop, &fast);
    assert_int_equal(md_forwarder_send(f, payload(s->port, "slow")), 0);
    int done = 0;
    double t0 = now_s();
    assert_int_equal(md_forwarder_shutdown(f, 150, on_done, &done), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    double dt = now_s() - t0;
    assert_int_equal(done, 1);
    assert_true(dt >= 0.1 && dt < 0.9); /* gave up at the deadline, not at the answer */
    struct md_fwd_stats t = fwd_stats(f);
    assert_int_equal(t.payloads_sent, 0);
    assert_int_equal(t.dropped_shutdown, 1);
    md_forwarder_free(f);
    assert_int_equal(uv_loop_close(&loop), 0);
    srv_stop(s);
}

static void test_free_without_shutdown(void **st)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_forwarder *f = md_forwarder_new(&loop, NULL);
    assert_int_equal(md_forwarder_send(f, payload(closed_port(), "x")), 0);
    struct md_payload *bad = payload(1, "y");
    free(bad->url);
    bad->url = NULL;
    assert_int_equal(md_forwarder_send(f, bad), -EINVAL);
    md_forwarder_free(f); /* memory released by the last close callback */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sent_202),
        cmocka_unit_test(test_retry_503_then_202),
        cmocka_unit_test(test_413_single_item_dropped_and_logged),
        cmocka_unit_test(test_queue_overflow_drops_oldest),
        cmocka_unit_test(test_connection_refused_retried),
        cmocka_unit_test(test_shutdown_waits_for_inflight),
        cmocka_unit_test(test_shutdown_deadline),
        cmocka_unit_test(test_free_without_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
