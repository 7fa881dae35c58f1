/*
 * uvfetch.c: libcurl multi on libuv for small GETs (see uvfetch.h). The
 * socket/timer glue mirrors the forwarder's: uv_poll per curl socket, one
 * uv_timer for curl's timeouts, completion checked after every action.
 */
#include "uvfetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_MAX_BODY (8u << 20)

struct md_fetch {
    struct md_fetcher *f;
    CURL *easy;
    struct md_fetch_req req;
    char *body;
    size_t len, cap;
    bool too_big, stopped;
    struct md_fetch *next, **pprev;
};

struct fsock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct md_fetcher *f;
    struct fsock *next, **pprev;
};

struct md_fetcher {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct md_fetch *active;
    struct fsock *socks;
    int handles; /* open uv handles */
    bool closing;
};

static void fetcher_maybe_release(struct md_fetcher *f)
{
    if (f->closing && f->handles == 0)
        free(f);
}

static void fsock_closed(uv_handle_t *h)
{
    struct fsock *s = (struct fsock *)h;
    struct md_fetcher *f = s->f;
    free(s);
    f->handles--;
    fetcher_maybe_release(f);
}

static void fsock_close(struct fsock *s)
{
    uv_poll_stop(&s->poll);
    if (s->next)
        s->next->pprev = s->pprev;
    *s->pprev = s->next;
    uv_close((uv_handle_t *)&s->poll, fsock_closed);
}

static int errno_of(CURLcode c, const struct md_fetch *x)
{
    switch (c) {
    case CURLE_OK:
        return x->too_big ? -EFBIG : 0;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_WRITE_ERROR:
        return x->too_big ? -EFBIG : x->stopped ? -ECANCELED : -EIO;
    case CURLE_COULDNT_RESOLVE_HOST:
        return -EHOSTUNREACH;
    default:
        return -EIO;
    }
}

static void finish(struct md_fetch *x, int rc)
{
    struct md_fetcher *f = x->f;
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(f->multi, x->easy);
    curl_easy_cleanup(x->easy);
    if (x->next)
        x->next->pprev = x->pprev;
    *x->pprev = x->next;
    x->req.done(x->req.ud, rc, status, x->body ? x->body : "", x->len);
    free(x->body);
    free(x);
}

static void check_done(struct md_fetcher *f)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(f->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct md_fetch *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (x)
            finish(x, errno_of(m->data.result, x));
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct fsock *s = (struct fsock *)h;
    int flags = status < 0 ? CURL_CSELECT_ERR
                           : ((events & UV_READABLE) ? CURL_CSELECT_IN : 0) |
                                 ((events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(s->f->multi, s->fd, flags, &running);
    check_done(s->f);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct md_fetcher *f = userp;
    struct fsock *s = socketp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(f->multi, fd, NULL);
            fsock_close(s);
        }
        return 0;
    }
    if (!s) {
        if (!(s = calloc(1, sizeof *s)))
            return -1;
        if (uv_poll_init_socket(f->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->f = f;
        s->next = f->socks;
        if (f->socks)
            f->socks->pprev = &s->next;
        s->pprev = &f->socks;
        f->socks = s;
        f->handles++;
        curl_multi_assign(f->multi, fd, s);
    }
    int ev = ((what & CURL_POLL_IN) ? UV_READABLE : 0) | ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0);
    return uv_poll_start(&s->poll, ev, on_poll) == 0 ? 0 : -1;
}

static void on_timer(uv_timer_t *t)
{
    struct md_fetcher *f = t->data;
    int running;
    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(f);
}

static int on_timer_change(CURLM *m, long timeout_ms, void *userp)
{
    struct md_fetcher *f = userp;
    (void)m;
    if (f->closing)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&f->timer);
    else /* 0 runs on the next loop turn: never re-enter curl from its own callback */
        uv_timer_start(&f->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t on_write(char *p, size_t sz, size_t nm, void *ud)
{
    struct md_fetch *x = ud;
    size_t n = sz * nm;
    if (x->req.chunk) {
        if (x->req.chunk(x->req.ud, p, n) != 0) {
            x->stopped = true;
            return 0;
        }
        return n;
    }
    size_t max = x->req.max_body ? x->req.max_body : FETCH_MAX_BODY;
    if (x->len + n > max) {
        x->too_big = true;
        return 0;
    }
    if (x->len + n + 1 > x->cap) {
        size_t nc = x->cap ? x->cap : 4096;
        while (nc < x->len + n + 1)
            nc *= 2;
        char *nb = realloc(x->body, nc);
        if (!nb)
            return 0;
        x->body = nb;
        x->cap = nc;
    }
    memcpy(x->body + x->len, p, n);
    x->len += n;
    x->body[x->len] = '\0';
    return n;
}

struct md_fetcher *md_fetcher_new(uv_loop_t *loop)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    struct md_fetcher *f = calloc(1, sizeof *f);
    if (!f || !(f->multi = curl_multi_init())) {
        free(f);
        return NULL;
    }
    f->loop = loop;
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    uv_timer_init(loop, &f->timer);
    f->timer.data = f;
    f->handles = 1;
    return f;
}

int md_fetch_start(struct md_fetcher *f, const struct md_fetch_req *req, struct md_fetch **out)
{
    if (!f || f->closing || !req->url || !req->done)
        return -EINVAL;
    struct md_fetch *x = calloc(1, sizeof *x);
    if (!x || !(x->easy = curl_easy_init())) {
        free(x);
        return -ENOMEM;
    }
    x->f = f;
    x->req = *req;
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    if (req->unix_socket)
        curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, req->unix_socket);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    if (req->timeout_ms)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (curl_multi_add_handle(f->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        free(x);
        return -EIO;
    }
    x->next = f->active;
    if (f->active)
        f->active->pprev = &x->next;
    x->pprev = &f->active;
    f->active = x;
    if (out)
        *out = x;
    return 0;
}

void md_fetch_cancel(struct md_fetch *x)
{
    if (x)
        finish(x, -ECANCELED);
}

static void timer_closed(uv_handle_t *h)
{
    struct md_fetcher *f = h->data;
    f->handles--;
    fetcher_maybe_release(f);
}

void md_fetcher_free(struct md_fetcher *f)
{
    if (!f || f->closing)
        return;
    while (f->active)
        md_fetch_cancel(f->active);
    f->closing = true;
    curl_multi_cleanup(f->multi); /* may report sockets as removed */
    f->multi = NULL;
    while (f->socks)
        fsock_close(f->socks);
    uv_close((uv_handle_t *)&f->timer, timer_closed);
}
