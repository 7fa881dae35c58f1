/*
 * forwarder.c: libcurl multi on libuv, retries and bounded queueing (see
 * forwarder.h for the contract).
 *
 * The socket/timer wiring follows curl's multi-uv example, with the traps
 * reported against it handled: a negative poll status is passed to curl as
 * CURL_CSELECT_ERR (an RST otherwise spins or stalls the transfer), a real
 * running_handles pointer is always given, and a poll handle is stopped as
 * soon as curl says CURL_POLL_REMOVE and freed only in its close callback.
 *
 * Failures are classified as the Datadog agent does, with one difference:
 * a 404 is dropped, not retried, since a wrong URL does not heal by
 * itself and retrying it would only fill the queue. Each sink has its own
 * backoff state, so one failing backend does not hold back another: after a
 * retryable failure the sink is blocked for uniform(d/2, d), d = base*2^n
 * capped at max, and when the block ends a single probe request goes first;
 * its success reopens the sink to full concurrency. Waiting payloads are
 * sent oldest first (ordering matters to Prometheus-style receivers) and,
 * when the queue's byte bound is hit, the oldest are dropped and counted.
 */
#include "forwarder.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

#define FWD_DEF_TIMEOUT_MS 20000u
#define FWD_DEF_CONCURRENT 4u
#define FWD_DEF_QUEUE_BYTES (15u * 1024 * 1024)
#define FWD_DEF_BACKOFF_BASE_MS 2000u
#define FWD_DEF_BACKOFF_MAX_MS 64000u
#define FWD_RESP_KEEP 1024 /* response bytes kept for the log */
#define FWD_LOG_BODY 500   /* response bytes written to the log */
#define FWD_MAX_SINKS 16

enum fwd_state { FWD_RUNNING, FWD_DRAINING, FWD_CLOSING, FWD_CLOSED };

struct fwd_sink {
    char name[32];
    struct md_fwd_stats st;
    unsigned nerr;          /* consecutive failed attempts, 0 = healthy */
    uint64_t blocked_until; /* loop time (ms) before which nothing is sent */
    unsigned inflight;
};

struct fwd_item {
    struct fwd_item *next;
    struct md_payload *p;
    struct fwd_sink *sink;
    CURL *easy;
    struct curl_slist *hdrs;
    unsigned attempts;
    uint64_t seq; /* arrival order, kept when a payload is re-queued */
    size_t resp_len;
    char resp[FWD_RESP_KEEP];
};

struct fwd_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct md_forwarder *f;
    struct fwd_sock *next, **pprev;
};

struct md_forwarder {
    uv_loop_t *loop;
    CURLM *multi;
    struct md_fwd_opts o;
    enum fwd_state state;
    uv_timer_t curl_timer, retry_timer, deadline_timer;
    unsigned open_handles; /* libuv handles not yet closed */
    struct fwd_item *qhead, *qtail, *inflight;
    size_t qbytes, qcount;
    unsigned ninflight;
    struct fwd_sock *socks;
    struct fwd_sink sinks[FWD_MAX_SINKS];
    size_t nsinks;
    struct md_fwd_stats total;
    uint64_t rng, seq;
    md_forwarder_done_cb done;
    void *done_ud;
    bool in_done, free_when_closed;
};

/* Count on both the sink and the totals. */
#define FWD_COUNT(f, sk, field, n)       \
    do {                                 \
        (f)->total.field += (n);         \
        (sk)->st.field += (n);           \
    } while (0)

static void fwd_dispatch(struct md_forwarder *f);
static void fwd_check_info(struct md_forwarder *f);

/* ---------------------------------------------------------------- helpers */

static uint64_t fwd_rand(struct md_forwarder *f)
{
    uint64_t x = f->rng; /* xorshift64: jitter only, not security */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return f->rng = x;
}

/* Datadog's formula: d = base*2^n; max when above it, else uniform(d/2, d). */
static uint64_t fwd_backoff_ms(struct md_forwarder *f, unsigned n)
{
    uint64_t d = f->o.backoff_base_ms << (n > 30 ? 30 : n);
    if (d >= f->o.backoff_max_ms || d == 0)
        return f->o.backoff_max_ms;
    return d / 2 + fwd_rand(f) % (d - d / 2 + 1);
}

static struct fwd_sink *fwd_sink_get(struct md_forwarder *f, const char *name)
{
    if (!name || !name[0])
        name = "unknown";
    for (size_t i = 0; i < f->nsinks; i++)
        if (strcmp(f->sinks[i].name, name) == 0)
            return &f->sinks[i];
    if (f->nsinks == FWD_MAX_SINKS)
        return &f->sinks[FWD_MAX_SINKS - 1]; /* more sinks than anyone configures: share a slot */
    struct fwd_sink *s = &f->sinks[f->nsinks++];
    snprintf(s->name, sizeof s->name, "%s", name);
    return s;
}

/* scheme://host[:port]/path only: no userinfo, no query (either may carry a secret). */
static void fwd_url_for_log(const char *url, char *out, size_t len)
{
    const char *p = url ? url : "";
    const char *host = strstr(p, "://");
    host = host ? host + 3 : p;
    const char *slash = host + strcspn(host, "/?#");
    const char *at = memchr(host, '@', (size_t)(slash - host));
    const char *end = p + strcspn(p, "?#");
    if (at)
        snprintf(out, len, "%.*s%.*s", (int)(host - p), p, (int)(end - at - 1), at + 1);
    else
        snprintf(out, len, "%.*s", (int)(end - p), p);
}

static bool fwd_header_is_secret(const char *h, size_t namelen)
{
    static const char *const words[] = {"key", "auth", "token", "secret", "cookie"};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        size_t wl = strlen(words[w]);
        for (size_t i = 0; i + wl <= namelen; i++)
            if (strncasecmp(h + i, words[w], wl) == 0)
                return true;
    }
    return false;
}

/* Blank out any secret header value a backend echoes back in its error text. */
static void fwd_scrub(const struct md_payload *p, char *s, size_t n)
{
    for (unsigned i = 0; i < p->nheaders; i++) {
        const char *h = p->headers[i];
        const char *colon = h ? strchr(h, ':') : NULL;
        if (!colon || !fwd_header_is_secret(h, (size_t)(colon - h)))
            continue;
        const char *v = colon + 1 + strspn(colon + 1, " \t");
        size_t vl = strlen(v);
        if (vl < 4)
            continue;
        for (char *q = memmem(s, n, v, vl); q; q = memmem(q, n - (size_t)(q - s), v, vl))
            memset(q, '*', vl);
    }
}

/* The response text, printable and on one line, for a log message. */
static void fwd_resp_for_log(const struct fwd_item *it, char *out, size_t len)
{
    char tmp[FWD_RESP_KEEP];
    size_t n = it->resp_len;
    memcpy(tmp, it->resp, n);
    fwd_scrub(it->p, tmp, n);
    size_t show = n < FWD_LOG_BODY ? n : FWD_LOG_BODY;
    size_t j = 0;
    for (size_t i = 0; i < show && j + 1 < len; i++) {
        unsigned char c = (unsigned char)tmp[i];
        out[j++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    out[j] = '\0';
    if (n > show && j + 4 < len)
        strcpy(out + j, "...");
}

static void fwd_item_free(struct fwd_item *it)
{
    if (!it)
        return;
    curl_slist_free_all(it->hdrs);
    md_payload_free(it->p);
    free(it);
}

/* ------------------------------------------------------------------ queue */

static void fwd_drop(struct md_forwarder *f, struct fwd_item *it, const char *reason)
{
    struct fwd_sink *sk = it->sink;
    if (strcmp(reason, "queue_full") == 0)
        FWD_COUNT(f, sk, dropped_queue_full, 1);
    else if (strcmp(reason, "shutdown") == 0)
        FWD_COUNT(f, sk, dropped_shutdown, 1);
    else if (strcmp(reason, "invalid") == 0)
        FWD_COUNT(f, sk, dropped_invalid, 1);
    else
        FWD_COUNT(f, sk, dropped_rejected, 1);
    fwd_item_free(it);
}

static struct fwd_item *fwd_queue_pop(struct md_forwarder *f)
{
    struct fwd_item *it = f->qhead;
    if (!it)
        return NULL;
    f->qhead = it->next;
    if (!f->qhead)
        f->qtail = NULL;
    it->next = NULL;
    f->qbytes -= it->p->len;
    f->qcount--;
    return it;
}

/* retried: the payload goes back where its arrival order puts it, ahead of newer ones. */
static void fwd_queue_push(struct md_forwarder *f, struct fwd_item *it, bool retried)
{
    if (it->p->len > f->o.retry_queue_max_bytes) {
        md_warn("forwarder: %s payload of %zu bytes dropped: larger than the %zu-byte retry queue",
                it->sink->name, it->p->len, f->o.retry_queue_max_bytes);
        fwd_drop(f, it, "queue_full");
        return;
    }
    if (retried) {
        struct fwd_item **pp = &f->qhead;
        while (*pp && (*pp)->seq < it->seq)
            pp = &(*pp)->next;
        it->next = *pp;
        *pp = it;
        if (!it->next)
            f->qtail = it;
    } else {
        it->next = NULL;
        if (f->qtail)
            f->qtail->next = it;
        else
            f->qhead = it;
        f->qtail = it;
    }
    f->qbytes += it->p->len;
    f->qcount++;
    while (f->qbytes > f->o.retry_queue_max_bytes) {
        struct fwd_item *old = fwd_queue_pop(f);
        md_warn("forwarder: retry queue full (%zu bytes max): dropping the oldest %s payload (%zu bytes)",
                f->o.retry_queue_max_bytes, old->sink->name, old->p->len);
        fwd_drop(f, old, "queue_full");
    }
}

static void fwd_inflight_unlink(struct md_forwarder *f, struct fwd_item *it)
{
    for (struct fwd_item **pp = &f->inflight; *pp; pp = &(*pp)->next) {
        if (*pp == it) {
            *pp = it->next;
            it->next = NULL;
            f->ninflight--;
            it->sink->inflight--;
            return;
        }
    }
}

/* ------------------------------------------------------- libuv <-> curl */

static void fwd_closed_one(struct md_forwarder *f);

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

/* ------------------------------------------------------------- requests */

static int fwd_start(struct md_forwarder *f, struct fwd_item *it)
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
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body ? p->body : "");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fwd_write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, it);
    curl_easy_setopt(e, CURLOPT_PRIVATE, it);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)f->o.timeout_ms);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, f->o.skip_ssl_validation ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, f->o.skip_ssl_validation ? 0L : 2L);
    if (curl_multi_add_handle(f->multi, e) != CURLM_OK)
        goto fail;
    it->attempts++;
    it->next = f->inflight;
    f->inflight = it;
    f->ninflight++;
    it->sink->inflight++;
    return 0;
fail:
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    it->hdrs = NULL;
    it->easy = NULL;
    return -ENOMEM;
}

static bool fwd_curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_NOT_BUILT_IN:
        return false; /* a configuration error: trying again cannot help */
    default:
        return true;
    }
}

static void fwd_success(struct md_forwarder *f, struct fwd_item *it, long code)
{
    struct fwd_sink *sk = it->sink;
    FWD_COUNT(f, sk, payloads_sent, 1);
    FWD_COUNT(f, sk, bytes_sent, it->p->len);
    sk->st.last_success = f->total.last_success = (int64_t)time(NULL);
    if (sk->nerr)
        md_info("forwarder: %s: backend accepting again (HTTP %ld)", sk->name, code);
    sk->nerr = 0;
    sk->blocked_until = 0;
    fwd_item_free(it);
}

static void fwd_retry(struct md_forwarder *f, struct fwd_item *it, const char *why)
{
    struct fwd_sink *sk = it->sink;
    uint64_t now = uv_now(f->loop);
    /* Answers to requests sent before the block began do not lengthen it. */
    if (now >= sk->blocked_until) {
        sk->nerr++;
        sk->blocked_until = now + fwd_backoff_ms(f, sk->nerr);
    }
    char u[256];
    fwd_url_for_log(it->p->url, u, sizeof u);
    md_warn("forwarder: %s: POST %s failed (%s), attempt %u; retrying in %llu ms", sk->name, u, why,
            it->attempts, (unsigned long long)(sk->blocked_until - now));
    FWD_COUNT(f, sk, retries, 1);
    fwd_queue_push(f, it, true);
}

static void fwd_finish(struct md_forwarder *f, struct fwd_item *it, CURLcode rc)
{
    long code = 0;
    curl_easy_getinfo(it->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_multi_remove_handle(f->multi, it->easy);
    curl_easy_cleanup(it->easy);
    curl_slist_free_all(it->hdrs);
    it->easy = NULL;
    it->hdrs = NULL;
    fwd_inflight_unlink(f, it);
    struct fwd_sink *sk = it->sink;
    int64_t now = (int64_t)time(NULL);
    sk->st.last_attempt = f->total.last_attempt = now;
    sk->st.last_status = f->total.last_status = rc == CURLE_OK ? (int)code : 0;
    if (rc == CURLE_OK && code >= 200 && code < 300) {
        fwd_success(f, it, code);
        return;
    }
    FWD_COUNT(f, sk, errors, 1);
    char why[96];
    if (rc != CURLE_OK) {
        snprintf(why, sizeof why, "%s", curl_easy_strerror(rc));
        if (fwd_curl_retryable(rc)) {
            fwd_retry(f, it, why);
            return;
        }
    } else if (code == 408 || code == 429 || code >= 500) {
        snprintf(why, sizeof why, "HTTP %ld", code);
        fwd_retry(f, it, why);
        return;
    }
    char u[256], body[FWD_LOG_BODY + 8];
    fwd_url_for_log(it->p->url, u, sizeof u);
    fwd_resp_for_log(it, body, sizeof body);
    if (rc != CURLE_OK)
        md_error("forwarder: %s: payload dropped: POST %s: %s", sk->name, u, why);
    else
        md_error("forwarder: %s: payload of %zu bytes (%zu items) dropped: POST %s: HTTP %ld: %s",
                 sk->name, it->p->len, it->p->nitems, u, code, body);
    fwd_drop(f, it, rc != CURLE_OK ? "invalid" : "rejected");
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

/* ------------------------------------------------------ dispatch, close */

static void fwd_retry_timer_cb(uv_timer_t *t)
{
    fwd_dispatch(t->data);
}

static void fwd_teardown(struct md_forwarder *f);

static void fwd_deadline_cb(uv_timer_t *t)
{
    fwd_teardown(t->data);
}

static void fwd_dispatch(struct md_forwarder *f)
{
    if (f->state >= FWD_CLOSING)
        return;
    uint64_t now = uv_now(f->loop), wake = 0;
    struct fwd_item **pp = &f->qhead, *prev = NULL;
    while (*pp && f->ninflight < f->o.max_concurrent) {
        struct fwd_item *it = *pp;
        struct fwd_sink *sk = it->sink;
        bool blocked = sk->nerr && now < sk->blocked_until;
        bool probing = sk->nerr && !blocked && sk->inflight > 0; /* one probe at a time */
        if (blocked || probing) {
            if (blocked && (!wake || sk->blocked_until < wake))
                wake = sk->blocked_until;
            prev = it;
            pp = &it->next;
            continue;
        }
        *pp = it->next; /* unlink from the middle of the queue */
        if (f->qtail == it)
            f->qtail = prev;
        it->next = NULL;
        f->qbytes -= it->p->len;
        f->qcount--;
        if (fwd_start(f, it) != 0) {
            md_error("forwarder: %s: cannot start a request; payload dropped", sk->name);
            fwd_drop(f, it, "invalid");
        }
    }
    if (wake)
        uv_timer_start(&f->retry_timer, fwd_retry_timer_cb, wake - now, 0);
    if (f->state == FWD_DRAINING && !f->ninflight && !f->qhead)
        uv_timer_start(&f->deadline_timer, fwd_deadline_cb, 0, 0); /* tear down outside curl's stack */
}

static void fwd_release(struct md_forwarder *f)
{
    free(f);
    curl_global_cleanup();
}

static void fwd_closed_one(struct md_forwarder *f)
{
    if (--f->open_handles)
        return;
    f->state = FWD_CLOSED;
    if (f->done) {
        f->in_done = true;
        f->done(f, f->done_ud);
        f->in_done = false;
    }
    if (f->free_when_closed)
        fwd_release(f);
}

static void fwd_handle_closed(uv_handle_t *h)
{
    fwd_closed_one(h->data);
}

static void fwd_teardown(struct md_forwarder *f)
{
    if (f->state >= FWD_CLOSING)
        return;
    f->state = FWD_CLOSING;
    size_t lost = f->ninflight + f->qcount;
    if (lost)
        md_warn("forwarder: stopping with %zu payload(s) unsent (%u in flight, %zu queued): dropped",
                lost, f->ninflight, f->qcount);
    while (f->inflight) {
        struct fwd_item *it = f->inflight;
        curl_multi_remove_handle(f->multi, it->easy);
        curl_easy_cleanup(it->easy);
        it->easy = NULL;
        fwd_inflight_unlink(f, it);
        fwd_drop(f, it, "shutdown");
    }
    struct fwd_item *it;
    while ((it = fwd_queue_pop(f)))
        fwd_drop(f, it, "shutdown");
    curl_multi_cleanup(f->multi); /* may still report sockets as removed */
    f->multi = NULL;
    while (f->socks)
        fwd_sock_close(f->socks);
    uv_close((uv_handle_t *)&f->curl_timer, fwd_handle_closed);
    uv_close((uv_handle_t *)&f->retry_timer, fwd_handle_closed);
    uv_close((uv_handle_t *)&f->deadline_timer, fwd_handle_closed);
}

/* ------------------------------------------------------------ public API */

struct md_forwarder *md_forwarder_new(uv_loop_t *loop, const struct md_fwd_opts *o)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        md_error("forwarder: curl_global_init failed");
        return NULL;
    }
    struct md_forwarder *f = calloc(1, sizeof *f);
    if (!f) {
        curl_global_cleanup();
        return NULL;
    }
    f->loop = loop;
    if (o)
        f->o = *o;
    if (!f->o.timeout_ms)
        f->o.timeout_ms = FWD_DEF_TIMEOUT_MS;
    if (!f->o.max_concurrent)
        f->o.max_concurrent = FWD_DEF_CONCURRENT;
    if (!f->o.retry_queue_max_bytes)
        f->o.retry_queue_max_bytes = FWD_DEF_QUEUE_BYTES;
    if (!f->o.backoff_base_ms)
        f->o.backoff_base_ms = FWD_DEF_BACKOFF_BASE_MS;
    if (!f->o.backoff_max_ms)
        f->o.backoff_max_ms = FWD_DEF_BACKOFF_MAX_MS;
    if (f->o.backoff_max_ms < f->o.backoff_base_ms)
        f->o.backoff_max_ms = f->o.backoff_base_ms;
    f->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)f ^ 0x9e3779b97f4a7c15ull;
    if (!f->rng)
        f->rng = 1;
    f->multi = curl_multi_init();
    if (!f->multi) {
        md_error("forwarder: curl_multi_init failed");
        fwd_release(f);
        return NULL;
    }
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, fwd_socket_cb);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, fwd_timer_fn);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    uv_timer_t *timers[] = {&f->curl_timer, &f->retry_timer, &f->deadline_timer};
    for (int i = 0; i < 3; i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = f;
        f->open_handles++;
    }
    f->state = FWD_RUNNING;
    return f;
}

int md_forwarder_send(struct md_forwarder *f, struct md_payload *p)
{
    if (!f || !p) {
        md_payload_free(p);
        return -EINVAL;
    }
    p->next = NULL;
    struct fwd_item *it = calloc(1, sizeof *it);
    if (!it) {
        md_payload_free(p);
        return -ENOMEM;
    }
    it->p = p;
    it->seq = ++f->seq;
    it->sink = fwd_sink_get(f, p->sink);
    if (f->state != FWD_RUNNING) {
        fwd_drop(f, it, "shutdown");
        return -ESHUTDOWN;
    }
    if (!p->url || !p->url[0]) {
        md_error("forwarder: %s: payload without a URL dropped", it->sink->name);
        fwd_drop(f, it, "invalid");
        return -EINVAL;
    }
    fwd_queue_push(f, it, false);
    fwd_dispatch(f);
    return 0;
}

int md_forwarder_shutdown(struct md_forwarder *f, uint64_t timeout_ms, md_forwarder_done_cb done,
                          void *ud)
{
    if (f->state != FWD_RUNNING)
        return -EALREADY;
    f->state = FWD_DRAINING;
    f->done = done;
    f->done_ud = ud;
    uv_timer_start(&f->deadline_timer, fwd_deadline_cb, timeout_ms, 0);
    fwd_dispatch(f); /* also notices an already idle forwarder */
    return 0;
}

size_t md_forwarder_pending(const struct md_forwarder *f)
{
    return f->ninflight + f->qcount;
}

int md_forwarder_stats(const struct md_forwarder *f, const char *sink, struct md_fwd_stats *out)
{
    if (!sink) {
        *out = f->total;
        return 0;
    }
    for (size_t i = 0; i < f->nsinks; i++) {
        if (strcmp(f->sinks[i].name, sink) == 0) {
            *out = f->sinks[i].st;
            return 0;
        }
    }
    memset(out, 0, sizeof *out);
    return -ENOENT;
}

static void fwd_stats_json(struct md_buf *b, const struct md_fwd_stats *s)
{
    md_buf_printf(b,
                  "\"payloads_sent\":%llu,\"bytes_sent\":%llu,\"errors\":%llu,\"retries\":%llu,"
                  "\"dropped\":{\"rejected\":%llu,\"queue_full\":%llu,\"shutdown\":%llu,\"invalid\":%llu},"
                  "\"last_status\":%d,\"last_success\":%lld,\"last_attempt\":%lld",
                  (unsigned long long)s->payloads_sent, (unsigned long long)s->bytes_sent,
                  (unsigned long long)s->errors, (unsigned long long)s->retries,
                  (unsigned long long)s->dropped_rejected, (unsigned long long)s->dropped_queue_full,
                  (unsigned long long)s->dropped_shutdown, (unsigned long long)s->dropped_invalid,
                  s->last_status, (long long)s->last_success, (long long)s->last_attempt);
}

void md_forwarder_status_json(const struct md_forwarder *f, struct md_buf *b)
{
    static const char *const states[] = {"running", "draining", "closing", "closed"};
    md_buf_putc(b, '{');
    fwd_stats_json(b, &f->total);
    md_buf_printf(b, ",\"queue_bytes\":%zu,\"queue_max_bytes\":%zu,\"queue_payloads\":%zu,"
                  "\"inflight\":%u,\"state\":\"%s\",\"sinks\":{",
                  f->qbytes, f->o.retry_queue_max_bytes, f->qcount, f->ninflight, states[f->state]);
    for (size_t i = 0; i < f->nsinks; i++) {
        const struct fwd_sink *sk = &f->sinks[i];
        if (i)
            md_buf_putc(b, ',');
        md_json_cstr(b, sk->name);
        md_buf_puts(b, ":{");
        fwd_stats_json(b, &sk->st);
        md_buf_printf(b, ",\"consecutive_errors\":%u,\"inflight\":%u}", sk->nerr, sk->inflight);
    }
    md_buf_puts(b, "}}");
}

void md_forwarder_free(struct md_forwarder *f)
{
    if (!f)
        return;
    if (f->state == FWD_CLOSED && !f->in_done) {
        fwd_release(f);
        return;
    }
    f->free_when_closed = true;
    if (f->state < FWD_CLOSING) {
        f->done = NULL;
        fwd_teardown(f);
    }
}
