/*
 * fwd_srv.h: the scripted HTTP server and helpers shared by the forwarder's
 * unit tests (test_forwarder.c, test_delivery.c). A real md_httpd on
 * 127.0.0.1 in its own thread and loop records each request and answers
 * from a per-test script: the scripted 413/503 answers stand in for
 * failures a real backend cannot be made to produce on demand
 * (VictoriaMetrics answers 400 where Datadog answers 413, and never 503);
 * connection-refused failures are real (a port nobody listens on).
 * Included by one test file each, so its functions are static.
 */
#ifndef METERD_TEST_FWD_SRV_H
#define METERD_TEST_FWD_SRV_H

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
#include "httpd_thread.h"

#define API_KEY "secretkey0123456789abcdef"
#define MAX_REC 64

struct rec {
    char path[64];
    char *body;
    size_t len;
    char key[64];
};

struct srv {
    struct httpd_thread t;
    pthread_mutex_t mu; /* the fields below, between the server's thread and the test's */
    int port;
    int script[16]; /* status for request i; past the end: dflt */
    int nscript, dflt;
    unsigned delay_ms;
    const char *reply;
    size_t max_body; /* answer 413 above this many body bytes; 0 = no limit */
    const char *fail_path; /* requests to paths starting so get fail_status (set before use) */
    int fail_status;
    int heads;       /* HEAD requests (probes) seen, not recorded */
    struct rec recs[MAX_REC];
    int nrecs;
};

static void handler(void *ud, const struct md_httpd_req *req, struct md_httpd_resp *resp)
{
    struct srv *s = ud;
    pthread_mutex_lock(&s->mu);
    if (strcmp(req->method, "HEAD") == 0) {
        s->heads++;
        pthread_mutex_unlock(&s->mu);
        resp->status = 405;
        return;
    }
    if (s->max_body && req->body_len > s->max_body) {
        pthread_mutex_unlock(&s->mu);
        resp->status = 413;
        md_buf_puts(&resp->body, "{\"errors\":[\"Payload too large\"]}");
        return;
    }
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
    if (s->fail_path && strncmp(req->path, s->fail_path, strlen(s->fail_path)) == 0)
        resp->status = s->fail_status;
    unsigned delay = s->delay_ms;
    pthread_mutex_unlock(&s->mu);
    if (delay) { /* a slow backend, deliberately */
        struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    resp->content_type = "application/json";
    md_buf_puts(&resp->body, s->reply ? s->reply : "{\"status\":\"ok\"}");
}

static struct srv *srv_start_on(int port, const int *script, int n, int dflt, unsigned delay_ms,
                                const char *reply, size_t max_body)
{
    struct srv *s = calloc(1, sizeof *s);
    s->t = (struct httpd_thread){.fn = handler, .ud = s, .bind_port = port, .max_body = 1 << 20};
    s->max_body = max_body;
    memcpy(s->script, script, sizeof(int) * (size_t)n);
    s->nscript = n;
    s->dflt = dflt;
    s->delay_ms = delay_ms;
    s->reply = reply;
    pthread_mutex_init(&s->mu, NULL);
    s->port = httpd_thread_start(&s->t);
    return s;
}

static struct srv *srv_start(const int *script, int n, int dflt, unsigned delay_ms, const char *reply)
{
    return srv_start_on(0, script, n, dflt, delay_ms, reply, 0);
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
    httpd_thread_stop(&s->t);
    for (int i = 0; i < s->nrecs; i++)
        free(s->recs[i].body);
    pthread_mutex_destroy(&s->mu);
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

/* n payloads of 100 bytes: "aaa...", "bbb...", ...; their bodies stay in bodies[] to compare. */
static void send_lettered(struct md_forwarder *f, int port, char bodies[][101], int n)
{
    for (int i = 0; i < n; i++) {
        memset(bodies[i], 'a' + i, 100);
        bodies[i][100] = '\0';
        assert_int_equal(md_forwarder_send(f, payload(port, bodies[i])), 0);
    }
}

static struct md_fwd_stats fwd_stats(struct md_forwarder *f)
{
    struct md_fwd_stats t;
    md_forwarder_stats(f, NULL, &t);
    return t;
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

#endif
