/*
 * fwd_curl.c: libcurl's multi interface on the agent's libuv loop, and the
 * setup of each request.
 *
 * The socket/timer wiring follows curl's multi-uv example, with the traps
 * reported against it handled: a negative poll status is passed to curl as
 * CURL_CSELECT_ERR (an RST otherwise spins or stalls the transfer), a real
 * running_handles pointer is always given, and a poll handle is stopped as
 * soon as curl says CURL_POLL_REMOVE and freed only in its close callback.
 * A probe is a HEAD to the URL of the payload that failed, with a short
 * timeout: any HTTP answer shows the backend is reachable again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fwd_int.h"

#define FWD_PROBE_TIMEOUT_MS 5000u

static void fwd_check_info(struct md_forwarder *f);

static void fwd_sock_closed(uv_handle_t *h)
{
    struct fwd_sock *s = h->data;
    struct md_forwarder *f = s->f;
    free(s);
    fwd_closed_one(f);
}

static void fwd_sock_close(struct fwd_sock *s)
{
    uv_poll_stop(&s->poll);
    if (s->next)
        s->next->pprev = s->pprev;
    *s->pprev = s->next;
    s->next = NULL;
    s->pprev = &s->next;
    uv_close((uv_handle_t *)&s->poll, fwd_sock_closed);
}

static void fwd_poll_cb(uv_poll_t *h, int status, int events)
{
    struct fwd_sock *s = h->data;
    struct md_forwarder *f = s->f;
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
    curl_multi_socket_action(f->multi, s->fd, flags, &running);
    fwd_check_info(f);
}

static int fwd_socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct md_forwarder *f = userp;
    struct fwd_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(f->multi, fd, NULL);
            fwd_sock_close(s);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        if (uv_poll_init_socket(f->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->f = f;
        s->poll.data = s;
        s->next = f->socks;
        if (f->socks)
            f->socks->pprev = &s->next;
        s->pprev = &f->socks;
        f->socks = s;
        f->open_handles++;
        curl_multi_assign(f->multi, fd, s);
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    return uv_poll_start(&s->poll, ev, fwd_poll_cb) == 0 ? 0 : -1;
}

static void fwd_curl_timer_cb(uv_timer_t *t)
{
    struct md_forwarder *f = t->data;
    int running = 0;
    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    fwd_check_info(f);
}

static int fwd_timer_fn(CURLM *m, long timeout_ms, void *userp)
{
    struct md_forwarder *f = userp;
    if (f->state >= FWD_CLOSING)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&f->curl_timer);
    else /* 0 runs on the next loop turn: never call back into curl from here */
        uv_timer_start(&f->curl_timer, fwd_curl_timer_cb, (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t fwd_write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct fwd_item *it = ud;
    size_t n = size * nmemb;
    size_t room = sizeof it->resp - it->resp_len;
    size_t take = n < room ? n : room;
    memcpy(it->resp + it->resp_len, ptr, take);
    it->resp_len += take;
    return n; /* read and discard the rest */
}


void fwd_inflight_unlink(struct md_forwarder *f, struct fwd_item *it)
{
    for (struct fwd_item **pp = &f->inflight; *pp; pp = &(*pp)->next) {
        if (*pp == it) {
            *pp = it->next;
            it->next = NULL;
            f->ninflight--;
            it->ep->inflight--;
            return;
        }
    }
}

/* ------------------------------------------------------------- requests */

/*
 * The proxy for url, as the Datadog agent picks it: proxy.https for https://
 * backends, proxy.http for http:// ones; none configured leaves libcurl's
 * environment proxies in force. libcurl's proxy errors name the proxy host
 * only, so the password in the URL never reaches a log line.
 */
void fwd_set_proxy(struct md_forwarder *f, CURL *e, const char *url)
{
    const char *proxy = strncasecmp(url, "https:", 6) == 0 ? f->proxy_https : f->proxy_http;
    if (proxy && *proxy)
        curl_easy_setopt(e, CURLOPT_PROXY, proxy);
    if (f->no_proxy && *f->no_proxy)
        curl_easy_setopt(e, CURLOPT_NOPROXY, f->no_proxy);
}

int fwd_start(struct md_forwarder *f, struct fwd_item *it)
{
    struct md_payload *p = it->p;
    CURL *e = curl_easy_init();
    if (!e)
        return -ENOMEM;
    struct curl_slist *h = NULL;
    bool has_ct = false;
    for (unsigned i = 0; i < p->nheaders; i++) {
        if (!p->headers[i])
            continue;
        has_ct = has_ct || strncasecmp(p->headers[i], "Content-Type:", 13) == 0;
        struct curl_slist *n = curl_slist_append(h, p->headers[i]);
        if (!n)
            goto fail;
        h = n;
    }
    char ct[128];
    const char *extra[2] = {"Expect:", NULL}; /* no 100-continue round trip */
    if (!has_ct && p->content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", p->content_type);
        extra[1] = ct;
    }
    for (int i = 0; i < 2; i++) {
        if (!extra[i])
            continue;
        struct curl_slist *n = curl_slist_append(h, extra[i]);
        if (!n)
            goto fail;
        h = n;
    }
    it->hdrs = h;
    it->easy = e;
    it->resp_len = 0;
    curl_easy_setopt(e, CURLOPT_URL, p->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    fwd_set_proxy(f, e, p->url);
    if (it->probe) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body ? p->body : "");
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fwd_write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, it);
    curl_easy_setopt(e, CURLOPT_PRIVATE, it);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    uint64_t tmo = f->o.timeout_ms;
    if (it->probe && tmo > FWD_PROBE_TIMEOUT_MS)
        tmo = FWD_PROBE_TIMEOUT_MS;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)tmo);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, f->o.skip_ssl_validation ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, f->o.skip_ssl_validation ? 0L : 2L);
    if (curl_multi_add_handle(f->multi, e) != CURLM_OK)
        goto fail;
    it->attempts++;
    it->next = f->inflight;
    f->inflight = it;
    f->ninflight++;
    it->ep->inflight++;
    return 0;
fail:
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    it->hdrs = NULL;
    it->easy = NULL;
    return -ENOMEM;
}

/* Stop a transfer in flight; the item (and its payload) stays with the caller. */
void fwd_abort(struct md_forwarder *f, struct fwd_item *it)
{
    if (it->easy) {
        curl_multi_remove_handle(f->multi, it->easy);
        curl_easy_cleanup(it->easy);
    }
    curl_slist_free_all(it->hdrs);
    it->easy = NULL;
    it->hdrs = NULL;
    fwd_inflight_unlink(f, it);
}

static void fwd_check_info(struct md_forwarder *f)
{
    CURLMsg *m;
    int left;
    while (f->multi && (m = curl_multi_info_read(f->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct fwd_item *it = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&it);
        CURLcode rc = m->data.result; /* m is invalid once the handle is removed */
        if (it)
            fwd_finish(f, it, rc);
    }
    fwd_dispatch(f);
}

int fwd_curl_setup(struct md_forwarder *f)
{
    f->multi = curl_multi_init();
    if (!f->multi)
        return -ENOMEM;
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, fwd_socket_cb);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, fwd_timer_fn);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    return 0;
}

/* Release curl and close the poll handles it left; every transfer must be gone. */
void fwd_curl_close(struct md_forwarder *f)
{
    curl_multi_cleanup(f->multi); /* may still report sockets as removed */
    f->multi = NULL;
    while (f->socks)
        fwd_sock_close(f->socks);
}
