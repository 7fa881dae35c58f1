/*
 * curl_uv.c: libcurl's multi-socket interface on a libuv loop (see
 * curl_uv.h), written once for the forwarder and the metadata fetches.
 *
 * The wiring follows curl's multi-uv example, with the traps reported
 * against it handled: a negative poll status is passed to curl as
 * CURL_CSELECT_ERR (an RST otherwise spins or stalls the transfer), a real
 * running_handles pointer is always given, a poll handle is stopped as soon
 * as curl says CURL_POLL_REMOVE and freed only in its close callback, and
 * finished transfers are read after every action, because curl reports
 * them nowhere else. Each added transfer carries a small record, so that a
 * close can still report the ones left (curl 7.88 cannot list them).
 */
#include "curl_uv.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

struct cuv_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct md_curl_uv *c;
    struct cuv_sock *next, **pprev;
};

/* An added transfer; CURLOPT_PRIVATE of its easy handle points here. */
struct cuv_xfer {
    CURL *easy;
    void *ud;
    struct cuv_xfer *next, **pprev;
};

struct md_curl_uv {
    uv_loop_t *loop;
    CURLM *multi; /* NULL once closing has released it */
    uv_timer_t timer;
    struct cuv_sock *socks;
    struct cuv_xfer *xfers;
    unsigned handles; /* uv handles not yet closed */
    bool closing;
    md_curl_uv_done_fn done;
    md_curl_uv_after_fn after;
    md_curl_uv_closed_fn closed;
    void *arg;
};

/* ------------------------------------------------------------- lifetime */

static void cuv_handle_closed(struct md_curl_uv *c)
{
    if (--c->handles)
        return;
    md_curl_uv_closed_fn closed = c->closed;
    void *arg = c->arg;
    free(c);
    curl_global_cleanup();
    if (closed)
        closed(arg);
}

static void cuv_sock_closed(uv_handle_t *h)
{
    struct cuv_sock *s = h->data;
    struct md_curl_uv *c = s->c;
    free(s);
    cuv_handle_closed(c);
}

static void cuv_timer_closed(uv_handle_t *h)
{
    cuv_handle_closed(h->data);
}

static void cuv_sock_close(struct cuv_sock *s)
{
    uv_poll_stop(&s->poll);
    if (s->next)
        s->next->pprev = s->pprev;
    *s->pprev = s->next;
    uv_close((uv_handle_t *)&s->poll, cuv_sock_closed);
}

/* ---------------------------------------------------------- transfers */

/* Take x's easy handle out of the multi and forget x; returns its user pointer. */
static void *cuv_take(struct md_curl_uv *c, struct cuv_xfer *x)
{
    void *ud = x->ud;
    if (c->multi)
        curl_multi_remove_handle(c->multi, x->easy);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, NULL);
    if (x->next)
        x->next->pprev = x->pprev;
    *x->pprev = x->next;
    free(x);
    return ud;
}

static void cuv_check_done(struct md_curl_uv *c)
{
    CURLMsg *m;
    int left;
    while (c->multi && (m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result; /* m is invalid once the handle is removed */
        struct cuv_xfer *x = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
        if (x)
            c->done(c->arg, e, rc, cuv_take(c, x));
    }
}

/* One round of curl activity is over: report what finished, then the owner's turn. */
static void cuv_round_end(struct md_curl_uv *c)
{
    cuv_check_done(c);
    if (c->after && !c->closing)
        c->after(c->arg);
}

/* ------------------------------------------------------ sockets, timer */

static void cuv_poll_cb(uv_poll_t *h, int status, int events)
{
    struct cuv_sock *s = h->data;
    struct md_curl_uv *c = s->c; /* s may be closed by the action */
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR; /* EPOLLERR/HUP: let curl see the error now */
    } else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    int running = 0;
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    cuv_round_end(c);
}

static struct cuv_sock *cuv_sock_open(struct md_curl_uv *c, curl_socket_t fd)
{
    struct cuv_sock *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
        free(s);
        return NULL;
    }
    s->fd = fd;
    s->c = c;
    s->poll.data = s;
    s->next = c->socks;
    if (c->socks)
        c->socks->pprev = &s->next;
    s->pprev = &c->socks;
    c->socks = s;
    c->handles++;
    curl_multi_assign(c->multi, fd, s);
    return s;
}

static int cuv_socket_fn(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct md_curl_uv *c = userp;
    struct cuv_sock *s = socketp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(c->multi, fd, NULL);
            cuv_sock_close(s);
        }
        return 0;
    }
    if (!s && !(s = cuv_sock_open(c, fd)))
        return -1;
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    return uv_poll_start(&s->poll, ev, cuv_poll_cb) == 0 ? 0 : -1;
}

static void cuv_timer_cb(uv_timer_t *t)
{
    struct md_curl_uv *c = t->data;
    int running = 0;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    cuv_round_end(c);
}

static int cuv_timer_fn(CURLM *m, long timeout_ms, void *userp)
{
    struct md_curl_uv *c = userp;
    (void)m;
    if (c->closing)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else /* 0 runs on the next loop turn: never call back into curl from here */
        uv_timer_start(&c->timer, cuv_timer_cb, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ------------------------------------------------------------ public API */

struct md_curl_uv *md_curl_uv_new(uv_loop_t *loop, md_curl_uv_done_fn done,
                                  md_curl_uv_after_fn after, void *arg)
{
    if (!done || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    struct md_curl_uv *c = calloc(1, sizeof *c);
    if (!c || !(c->multi = curl_multi_init())) {
        free(c);
        curl_global_cleanup();
        return NULL;
    }
    c->loop = loop;
    c->done = done;
    c->after = after;
    c->arg = arg;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, cuv_socket_fn);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, cuv_timer_fn);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles = 1;
    return c;
}

int md_curl_uv_add(struct md_curl_uv *c, CURL *easy, void *ud)
{
    if (c->closing)
        return -ESHUTDOWN;
    struct cuv_xfer *x = calloc(1, sizeof *x);
    if (!x)
        return -ENOMEM;
    x->easy = easy;
    x->ud = ud;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(c->multi, easy) != CURLM_OK) {
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(x);
        return -EIO;
    }
    x->next = c->xfers;
    if (c->xfers)
        c->xfers->pprev = &x->next;
    x->pprev = &c->xfers;
    c->xfers = x;
    return 0;
}

void md_curl_uv_remove(struct md_curl_uv *c, CURL *easy)
{
    struct cuv_xfer *x = NULL;
    if (easy)
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (x)
        cuv_take(c, x);
}

void md_curl_uv_close(struct md_curl_uv *c, md_curl_uv_closed_fn closed)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    c->closed = closed;
    while (c->xfers) {
        CURL *e = c->xfers->easy;
        c->done(c->arg, e, CURLE_ABORTED_BY_CALLBACK, cuv_take(c, c->xfers));
    }
    curl_multi_cleanup(c->multi); /* may still report sockets as removed */
    c->multi = NULL;
    while (c->socks)
        cuv_sock_close(c->socks);
    uv_close((uv_handle_t *)&c->timer, cuv_timer_closed);
}
