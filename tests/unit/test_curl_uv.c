/*
 * Unit tests for the libcurl-on-libuv glue (curl_uv.c), with real
 * transfers over loopback TCP and the servers on the same loop as the
 * glue: an md_httpd that answers every GET with its path, and a small
 * "stall" server that reads requests and never answers (or answers with a
 * TCP reset), which is how a transfer is kept in flight for as long as a
 * test needs. Run under ASan too: every easy handle, poll and timer must
 * be released, and the loop must close empty.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "curl_uv.h"
#include "httpd.h"

#define NXFER 200   /* transfers in test_many_concurrent */
#define WIDTH 32    /* of which at most this many at once (md_httpd takes 64) */
#define NSTALL 4    /* connections the stall server holds */

struct xfer {
    CURL *easy;
    char url[96];
    char body[64];
    size_t len;
    int ndone; /* done callbacks seen: must end at exactly 1 */
    CURLcode rc;
    long code;
};

struct stall {
    uv_tcp_t srv;
    uv_tcp_t conns[NSTALL];
    int nconns, heads, eofs, closed;
    bool reset; /* answer each request with a TCP reset */
};

struct tc {
    uv_loop_t loop;
    struct md_curl_uv *cu;
    struct xfer x[NXFER];
    int next, ndone, nafter, closed;
    bool round_open;  /* a done ran and its round's after has not yet */
    bool refill;      /* start the next transfer from each done callback */
    int add_in_close; /* what md_curl_uv_add returned when tried from a done in close */
};

/* -------------------------------------------------------- loop helpers */

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

static double now_s(void)
{
    return (double)uv_hrtime() / 1e9;
}

/* Run the loop until *flag reaches want, at most max_s seconds. */
static bool run_until(uv_loop_t *loop, const int *flag, int want, double max_s)
{
    uv_timer_t tick; /* bounds each uv_run(ONCE) so the deadline is checked */
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, tick_cb, 20, 20);
    double t0 = now_s();
    while (*flag < want && now_s() - t0 < max_s)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag >= want;
}

/* ------------------------------------------------------- glue callbacks */

static size_t on_write(char *p, size_t sz, size_t nm, void *ud)
{
    struct xfer *x = ud;
    size_t n = sz * nm, room = sizeof x->body - 1 - x->len;
    memcpy(x->body + x->len, p, n < room ? n : room);
    x->len += n < room ? n : room;
    return n;
}

static int xfer_add(struct tc *t, struct xfer *x, const char *url, long timeout_ms)
{
    snprintf(x->url, sizeof x->url, "%s", url);
    x->easy = curl_easy_init();
    assert_non_null(x->easy);
    curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    int rc = md_curl_uv_add(t->cu, x->easy, x);
    if (rc != 0) {
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
    }
    return rc;
}

static int httpd_port;

static void start_next(struct tc *t)
{
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/r/%d", httpd_port, t->next);
    assert_int_equal(xfer_add(t, &t->x[t->next], url, 10000), 0);
    t->next++;
}

static void on_done(void *arg, CURL *e, CURLcode rc, void *ud)
{
    struct tc *t = arg;
    struct xfer *x = ud;
    assert_ptr_equal(e, x->easy);
    x->ndone++;
    x->rc = rc;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &x->code);
    curl_easy_cleanup(e); /* out of the multi already: the caller's again */
    x->easy = NULL;
    t->ndone++;
    t->round_open = true;
    if (t->refill && t->next < NXFER)
        start_next(t);
    if (rc == CURLE_ABORTED_BY_CALLBACK) { /* in md_curl_uv_close */
        struct xfer late = {0};
        t->add_in_close = xfer_add(t, &late, "http://127.0.0.1:1/", 1000);
    }
}

static void on_after(void *arg)
{
    struct tc *t = arg;
    t->nafter++;
    t->round_open = false;
}

static void on_closed(void *arg)
{
    ((struct tc *)arg)->closed++;
}

static void tc_init(struct tc *t)
{
    memset(t, 0, sizeof *t);
    assert_int_equal(uv_loop_init(&t->loop), 0);
    t->cu = md_curl_uv_new(&t->loop, on_done, on_after, t);
    assert_non_null(t->cu);
}

/* Close the glue, run the loop dry, and check nothing was left open. */
static void tc_close(struct tc *t)
{
    md_curl_uv_close(t->cu, on_closed);
    assert_true(run_until(&t->loop, &t->closed, 1, 5));
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_int_equal(t->closed, 1);
    assert_int_equal(uv_loop_close(&t->loop), 0);
}

/* -------------------------------------------------------- stall server */

static void stall_conn_closed(uv_handle_t *h)
{
    ((struct stall *)h->data)->closed++;
}

static void stall_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char buf[4096]; /* one loop thread; the bytes are only counted */
    (void)h, (void)hint;
    *b = uv_buf_init(buf, sizeof buf);
}

static void stall_read(uv_stream_t *c, ssize_t n, const uv_buf_t *b)
{
    struct stall *s = c->data;
    if (n < 0) { /* the client went away */
        s->eofs++;
        uv_close((uv_handle_t *)c, stall_conn_closed);
        return;
    }
    if (memmem(b->base, (size_t)n, "\r\n\r\n", 4)) {
        s->heads++; /* a whole GET: the transfer is in flight, waiting for us */
        if (s->reset)
            uv_tcp_close_reset((uv_tcp_t *)c, stall_conn_closed);
    }
}

static void stall_accept(uv_stream_t *srv, int status)
{
    struct stall *s = srv->data;
    assert_int_equal(status, 0);
    assert_true(s->nconns < NSTALL);
    uv_tcp_t *c = &s->conns[s->nconns++];
    uv_tcp_init(srv->loop, c);
    c->data = s;
    assert_int_equal(uv_accept(srv, (uv_stream_t *)c), 0);
    uv_read_start((uv_stream_t *)c, stall_alloc, stall_read);
}

static int stall_start(uv_loop_t *loop, struct stall *s, bool reset)
{
    memset(s, 0, sizeof *s);
    s->reset = reset;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &s->srv);
    s->srv.data = s;
    assert_int_equal(uv_tcp_bind(&s->srv, (struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->srv, 16, stall_accept), 0);
    int len = sizeof a;
    uv_tcp_getsockname(&s->srv, (struct sockaddr *)&a, &len);
    return ntohs(a.sin_port);
}

static void stall_stop(struct stall *s)
{
    for (int i = 0; i < s->nconns; i++)
        if (!uv_is_closing((uv_handle_t *)&s->conns[i]))
            uv_close((uv_handle_t *)&s->conns[i], stall_conn_closed);
    uv_close((uv_handle_t *)&s->srv, NULL);
}

/* A fresh glue and stall server, with n transfers to it started (timeout_ms 0: none). */
static void stall_setup(struct tc *t, struct stall *s, bool reset, int n, long timeout_ms)
{
    tc_init(t);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", stall_start(&t->loop, s, reset));
    for (int i = 0; i < n; i++)
        assert_int_equal(xfer_add(t, &t->x[i], url, timeout_ms), 0);
}

/* ---------------------------------------------------------------- tests */

static void echo_path(void *ud, const struct md_httpd_req *req, struct md_httpd_resp *resp)
{
    (void)ud;
    md_buf_puts(&resp->body, req->path);
}

/*
 * NXFER GETs, WIDTH at a time, each next one started from a done callback
 * as the forwarder does: every one ends once, with its own answer, and
 * every round that finished something is followed by an after call.
 */
static void test_many_concurrent(void **state)
{
    (void)state;
    static struct tc t;
    tc_init(&t);
    char err[128];
    struct md_httpd *h = md_httpd_new(&t.loop, "127.0.0.1", 0, echo_path, NULL, err, sizeof err);
    assert_non_null(h);
    httpd_port = md_httpd_port(h);
    t.refill = true;
    for (int i = 0; i < WIDTH; i++)
        start_next(&t);
    assert_true(run_until(&t.loop, &t.ndone, NXFER, 60));
    for (int i = 0; i < NXFER; i++) {
        char want[32];
        snprintf(want, sizeof want, "/r/%d", i);
        assert_int_equal(t.x[i].ndone, 1);
        assert_int_equal(t.x[i].rc, CURLE_OK);
        assert_int_equal(t.x[i].code, 200);
        assert_string_equal(t.x[i].body, want);
    }
    assert_false(t.round_open);
    assert_true(t.nafter > 0);
    md_httpd_free(h);
    tc_close(&t);
    assert_int_equal(t.ndone, NXFER); /* nothing left for the close to report */
}

/* A removed transfer gets no done callback and its connection is closed. */
static void test_remove_in_flight(void **state)
{
    (void)state;
    static struct tc t;
    struct stall s;
    stall_setup(&t, &s, false, NSTALL, 0);
    assert_true(run_until(&t.loop, &s.heads, NSTALL, 10));
    for (int i = 0; i < NSTALL; i++) {
        md_curl_uv_remove(t.cu, t.x[i].easy);
        md_curl_uv_remove(t.cu, t.x[i].easy); /* a second time: nothing */
        curl_easy_cleanup(t.x[i].easy);
    }
    assert_true(run_until(&t.loop, &s.eofs, NSTALL, 10));
    assert_int_equal(t.ndone, 0);
    stall_stop(&s);
    tc_close(&t);
    assert_int_equal(t.ndone, 0);
}

/*
 * Closing with transfers in flight reports each of them before close
 * returns, refuses new ones, and still releases every handle.
 */
static void test_close_with_transfers_open(void **state)
{
    (void)state;
    static struct tc t;
    struct stall s;
    stall_setup(&t, &s, false, NSTALL, 0);
    assert_true(run_until(&t.loop, &s.heads, NSTALL, 10));
    md_curl_uv_close(t.cu, on_closed);
    assert_int_equal(t.ndone, NSTALL);
    for (int i = 0; i < NSTALL; i++) {
        assert_int_equal(t.x[i].ndone, 1);
        assert_int_equal(t.x[i].rc, CURLE_ABORTED_BY_CALLBACK);
    }
    assert_int_equal(t.add_in_close, -ESHUTDOWN);
    assert_int_equal(t.closed, 0); /* only from the close callbacks */
    md_curl_uv_close(t.cu, on_closed); /* a second close: nothing */
    assert_true(run_until(&t.loop, &t.closed, 1, 5));
    assert_true(run_until(&t.loop, &s.eofs, NSTALL, 10)); /* the sockets really went */
    stall_stop(&s);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    assert_int_equal(t.closed, 1);
    assert_int_equal(uv_loop_close(&t.loop), 0);
}

/* curl's own timeout needs the uv timer: a silent server ends the transfer on time. */
static void test_timeout(void **state)
{
    (void)state;
    static struct tc t;
    struct stall s;
    double t0 = now_s();
    stall_setup(&t, &s, false, 1, 300);
    assert_true(run_until(&t.loop, &t.ndone, 1, 10));
    assert_int_equal(t.x[0].rc, CURLE_OPERATION_TIMEDOUT);
    assert_true(now_s() - t0 >= 0.29);
    stall_stop(&s);
    tc_close(&t);
}

/*
 * A reset connection ends the transfer with curl's error, not at its 20 s
 * timeout: the poll's error status reaches curl. (Were it dropped, curl's
 * own 200 ms re-check would still end the transfer, so the bound is loose.)
 */
static void test_reset(void **state)
{
    (void)state;
    static struct tc t;
    struct stall s;
    double t0 = now_s();
    stall_setup(&t, &s, true, 1, 20000);
    assert_true(run_until(&t.loop, &t.ndone, 1, 25));
    assert_int_not_equal(t.x[0].rc, CURLE_OK);
    assert_int_not_equal(t.x[0].rc, CURLE_OPERATION_TIMEDOUT);
    assert_true(now_s() - t0 < 5);
    stall_stop(&s);
    tc_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_concurrent),
        cmocka_unit_test(test_remove_in_flight),
        cmocka_unit_test(test_close_with_transfers_open),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
