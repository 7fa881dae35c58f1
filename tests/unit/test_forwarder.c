/*
 * Unit tests for the forwarder: real HTTP over 127.0.0.1 to a real server
 * (md_httpd on its own loop in a second thread) that records each request
 * and answers from a per-test script. The scripted 413/503 answers stand in
 * for failures a real backend cannot be made to produce on demand
 * (VictoriaMetrics answers 400 where Datadog answers 413, and never 503);
 * connection-refused failures are real (a port nobody listens on).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
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

#include "forwarder.h"
#include "httpd.h"

#define API_KEY "secretkey0123456789abcdef"
#define MAX_REC 64

struct rec {
    char path[64];
    char *body;
    size_t len;
    char key[64];
};

struct srv {
    uv_loop_t loop;
    uv_async_t stop;
    struct md_httpd *h;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int port;
    int script[16]; /* status for request i; past the end: dflt */
    int nscript, dflt;
    unsigned delay_ms;
    const char *reply;
    struct rec recs[MAX_REC];
    int nrecs;
};

static void handler(void *ud, const struct md_httpd_req *req, struct md_httpd_resp *resp)
{
    struct srv *s = ud;
    pthread_mutex_lock(&s->mu);
    int i = s->nrecs;
    if (i < MAX_REC) {
        struct rec *r = &s->recs[i];
        snprintf(r->path, sizeof r->path, "%s", req->path);
        r->body = malloc(req->body_len + 1);
        memcpy(r->body, req->body ? req->body : "", req->body_len);
        r->body[req->body_len] = '\0';
        r->len = req->body_len;
        const char *k = md_httpd_req_header(req, "DD-API-KEY");
        snprintf(r->key, sizeof r->key, "%s", k ? k : "");
        s->nrecs++;
    }
    resp->status = i < s->nscript ? s->script[i] : s->dflt;
    unsigned delay = s->delay_ms;
    pthread_mutex_unlock(&s->mu);
    if (delay) { /* a slow backend, deliberately */
        struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    resp->content_type = "application/json";
    md_buf_puts(&resp->body, s->reply ? s->reply : "{\"status\":\"ok\"}");
}

static void on_stop(uv_async_t *a)
{
    struct srv *s = a->data;
    md_httpd_free(s->h);
    uv_close((uv_handle_t *)&s->stop, NULL);
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    char err[256];
    uv_loop_init(&s->loop);
    s->stop.data = s;
    uv_async_init(&s->loop, &s->stop, on_stop);
    s->h = md_httpd_new(&s->loop, "127.0.0.1", 0, handler, s, err, sizeof err);
    if (s->h)
        md_httpd_set_max_body(s->h, 1 << 20);
    pthread_mutex_lock(&s->mu);
    s->port = s->h ? md_httpd_port(s->h) : -1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    return NULL;
}

static struct srv *srv_start(const int *script, int n, int dflt, unsigned delay_ms, const char *reply)
{
    struct srv *s = calloc(1, sizeof *s);
    memcpy(s->script, script, sizeof(int) * (size_t)n);
    s->nscript = n;
    s->dflt = dflt;
    s->delay_ms = delay_ms;
    s->reply = reply;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
    pthread_mutex_lock(&s->mu);
    while (s->port == 0)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    assert_true(s->port > 0);
    return s;
}

static int srv_nrecs(struct srv *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->nrecs;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void srv_stop(struct srv *s)
{
    uv_async_send(&s->stop);
    pthread_join(s->th, NULL);
    for (int i = 0; i < s->nrecs; i++)
        free(s->recs[i].body);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct md_payload *payload(int port, const char *body)
{
    struct md_payload *p = calloc(1, sizeof *p);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/datadog/api/v1/series?x=1", port);
    p->url = strdup(url);
    p->body = strdup(body);
    p->len = strlen(body);
    p->content_type = "application/json";
    p->headers[p->nheaders++] = strdup("DD-API-KEY: " API_KEY);
    p->headers[p->nheaders++] = strdup("Content-Type: application/json");
    p->nitems = 1;
    p->sink = "datadog";
    return p;
}

static void tick_cb(uv_timer_t *t)
{
}

/* Run the loop until the forwarder is idle, at most max_s seconds. */
static bool run_until_idle(uv_loop_t *loop, struct md_forwarder *f, double max_s)
{
    uv_timer_t tick; /* bounds each uv_run(ONCE) so the deadline is checked */
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, tick_cb, 20, 20);
    double t0 = now_s();
    while (md_forwarder_pending(f) && now_s() - t0 < max_s)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return md_forwarder_pending(f) == 0;
}

static void on_done(struct md_forwarder *f, void *ud)
{
    *(int *)ud += 1;
}

/* Shut down, run the loop dry and check every handle was closed. */
static void finish(uv_loop_t *loop, struct md_forwarder *f)
{
    int done = 0;
    if (md_forwarder_shutdown(f, 0, on_done, &done) == 0) {
        uv_run(loop, UV_RUN_DEFAULT);
        assert_int_equal(done, 1);
    }
    md_forwarder_free(f);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static const struct md_fwd_opts fast = {
    .timeout_ms = 5000, .max_concurrent = 4, .backoff_base_ms = 10, .backoff_max_ms = 40,
};

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
    struct md_fwd_stats t;
    md_forwarder_stats(f, NULL, &t);
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
    for (int i = 0; i < 5; i++) {
        memset(bodies[i], 'a' + i, 100);
        bodies[i][100] = '\0';
        assert_int_equal(md_forwarder_send(f, payload(s->port, bodies[i])), 0);
    }
    /* #1 in flight, #2 and #3 pushed out by #4 and #5. */
    struct md_fwd_stats t;
    md_forwarder_stats(f, NULL, &t);
    assert_int_equal(t.dropped_queue_full, 2);
    assert_int_equal(md_forwarder_pending(f), 3);
    assert_true(run_until_idle(&loop, f, 10));
    /* #1 fails (503) and goes back to the queue as its oldest entry: dropped in turn. */
    md_forwarder_stats(f, NULL, &t);
    assert_int_equal(t.dropped_queue_full, 3);
    assert_int_equal(t.payloads_sent, 2);
    assert_int_equal(srv_nrecs(s), 3);
    assert_string_equal(s->recs[0].body, bodies[0]);
    assert_string_equal(s->recs[1].body, bodies[3]);
    assert_string_equal(s->recs[2].body, bodies[4]);
    finish(&loop, f);
    srv_stop(s);
}

static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
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
        md_forwarder_stats(f, NULL, &t);
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
    md_forwarder_stats(f, NULL, &t);
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
    struct md_fwd_stats t;
    md_forwarder_stats(f, NULL, &t);
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
    struct md_fwd_stats t;
    md_forwarder_stats(f, NULL, &t);
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
