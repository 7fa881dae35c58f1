/*
 * forwarder.c: what each answer means, dispatch, shutdown and the public
 * API (see forwarder.h for the contract).
 *
 * Failures are classified as the Datadog agent does, with two differences:
 * 404 is dropped, not retried, and 413 splits the payload instead of
 * dropping it. Each endpoint (a sink's URL path) has its own backoff
 * state, so neither a failing backend nor a failing path of one (host
 * metadata on /intake/) holds back another: after a retryable failure the
 * endpoint is blocked for uniform(d/2, d), d = base*2^n capped at max, and
 * when the block ends a single request goes first; its success reopens it
 * to full concurrency. When the failure was a backend that did not answer
 * at all (refused, reset, timed out), a HEAD probe every backoff_base ends
 * the block as soon as anything answers, so a restarted backend is used
 * within seconds however long the outage was. Waiting payloads are kept in
 * sending order (ordering matters to Prometheus-style receivers); the
 * memory queue (fwd_queue.c) and the disk spool behind it (fwd_spool.c)
 * make a crash or a SIGKILL lose only the payloads that were on their
 * first attempt.
 */
#include "forwarder.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fwd_int.h"
#include "log.h"

#define FWD_DEF_TIMEOUT_MS 20000u
#define FWD_DEF_CONCURRENT 4u
#define FWD_DEF_QUEUE_BYTES (15u * 1024 * 1024)
#define FWD_DEF_BACKOFF_BASE_MS 2000u
#define FWD_DEF_BACKOFF_MAX_MS 64000u
#define FWD_DEF_SPOOL_BYTES (100ull * 1024 * 1024)

static void fwd_teardown(struct md_forwarder *f);

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

/* ---------------------------------------------------------------- outcomes */

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

static bool fwd_code_retryable(long code)
{
    return code == 408 || code == 429 || code >= 500;
}

static void fwd_success(struct md_forwarder *f, struct fwd_item *it, long code)
{
    struct fwd_sink *sk = it->sink;
    FWD_COUNT(f, sk, payloads_sent, 1);
    FWD_COUNT(f, sk, bytes_sent, it->p->len);
    FWD_COUNT(f, sk, items_sent, it->p->nitems);
    struct fwd_ep *ep = it->ep;
    sk->st.last_success = f->total.last_success = (int64_t)time(NULL);
    if (ep->nerr)
        md_info("forwarder: %s: backend accepting again on %s (HTTP %ld)", sk->name, ep->path,
                code);
    ep->nerr = 0;
    ep->blocked_until = 0;
    ep->unreachable = false;
    fwd_unspool(f, it);
    fwd_item_free(it);
}

static void fwd_retry(struct md_forwarder *f, struct fwd_item *it, const char *why,
                      bool unreachable)
{
    struct fwd_sink *sk = it->sink;
    struct fwd_ep *ep = it->ep;
    uint64_t now = uv_now(f->loop);
    /* Answers to requests sent before the block began do not lengthen it. */
    if (now >= ep->blocked_until) {
        ep->nerr++;
        ep->blocked_until = now + fwd_backoff_ms(f, ep->nerr);
    }
    ep->unreachable = unreachable;
    if (unreachable) {
        free(ep->probe_url);
        ep->probe_url = strdup(it->p->url);
        ep->probe_at = now + f->o.backoff_base_ms;
    }
    char u[256];
    fwd_url_for_log(it->p->url, u, sizeof u);
    fwd_log(f, FWD_R_RETRY, MD_LOG_WARN,
            "forwarder: %s: POST %s failed (%s), attempt %u; retrying in %llu ms%s", sk->name, u,
            why, it->attempts, (unsigned long long)(ep->blocked_until - now),
            unreachable ? " or as soon as a probe gets an answer" : "");
    FWD_COUNT(f, sk, retries, 1);
    fwd_queue_push(f, it);
}

static void fwd_rejected(struct md_forwarder *f, struct fwd_item *it, CURLcode rc, long code,
                         const char *why)
{
    char u[256], body[FWD_LOG_BODY + 8];
    fwd_url_for_log(it->p->url, u, sizeof u);
    fwd_resp_for_log(it, body, sizeof body);
    if (rc != CURLE_OK) {
        fwd_log(f, FWD_R_INVALID, MD_LOG_ERROR, "forwarder: %s: payload dropped: POST %s: %s",
                it->sink->name, u, why);
        fwd_drop(f, it, FWD_R_INVALID);
        return;
    }
    fwd_log(f, FWD_R_REJECTED, MD_LOG_ERROR,
            "forwarder: %s: payload of %zu bytes (%zu items) dropped: POST %s: HTTP %ld: %s",
            it->sink->name, it->p->len, it->p->nitems, u, code, body);
    fwd_drop(f, it, FWD_R_REJECTED);
}

/* 413: send the two halves; a payload that cannot be cut is dropped. */
static void fwd_too_large(struct md_forwarder *f, struct fwd_item *it)
{
    struct fwd_sink *sk = it->sink;
    size_t len = it->p->len, items = it->p->nitems;
    uint64_t low = it->seq & (~it->seq + 1); /* see FWD_SEQ_SPAN */
    struct md_payload *a = NULL, *b = NULL;
    struct fwd_item *ia = NULL, *ib = NULL;
    if (low >= 2 && fwd_split(it->p, &a, &b) == 0) {
        ia = fwd_item_new(f, a, it->seq - low / 2);
        ib = fwd_item_new(f, b, it->seq + low / 2);
    }
    if (ia && ib) {
        FWD_COUNT(f, sk, splits, 1);
        fwd_log(f, FWD_R_SPLIT, MD_LOG_INFO,
                "forwarder: %s: HTTP 413 for %zu bytes (%zu items): sending it as two halves",
                sk->name, len, items);
        if (it->spooled) { /* the halves take the original's place on disk */
            fwd_spool_item(f, ia);
            fwd_spool_item(f, ib);
        }
        fwd_unspool(f, it);
        fwd_item_free(it);
        fwd_queue_push(f, ia);
        fwd_queue_push(f, ib);
        return;
    }
    if (ia)
        fwd_item_free(ia);
    else
        md_payload_free(a);
    if (ib)
        fwd_item_free(ib);
    else
        md_payload_free(b);
    char u[256], body[FWD_LOG_BODY + 8];
    fwd_url_for_log(it->p->url, u, sizeof u);
    fwd_resp_for_log(it, body, sizeof body);
    fwd_log(f, FWD_R_TOO_BIG, MD_LOG_ERROR,
            "forwarder: %s: POST %s: HTTP 413 for a payload that cannot be cut (%zu bytes, %zu "
            "items): dropped: %s",
            sk->name, u, len, items, body);
    fwd_drop(f, it, FWD_R_TOO_BIG);
}

static void fwd_probe_done(struct md_forwarder *f, struct fwd_item *it, CURLcode rc, long code)
{
    struct fwd_ep *ep = it->ep;
    uint64_t now = uv_now(f->loop);
    ep->probing = false;
    if (rc == CURLE_OK && code > 0 && !fwd_code_retryable(code) && ep->nerr) {
        fwd_log(f, FWD_R_RECOVERED, MD_LOG_INFO,
                "forwarder: %s: backend answers again (HTTP %ld to a probe): resuming",
                it->sink->name, code);
        ep->blocked_until = now; /* one payload goes first, as after any block */
        ep->unreachable = false;
    } else {
        ep->probe_at = now + f->o.backoff_base_ms;
    }
    fwd_item_free(it);
}

void fwd_finish(struct md_forwarder *f, struct fwd_item *it, CURLcode rc)
{
    long code = 0;
    curl_easy_getinfo(it->easy, CURLINFO_RESPONSE_CODE, &code);
    fwd_abort(f, it);
    if (it->probe) {
        fwd_probe_done(f, it, rc, code);
        return;
    }
    struct fwd_sink *sk = it->sink;
    sk->st.last_attempt = f->total.last_attempt = (int64_t)time(NULL);
    sk->st.last_status = f->total.last_status = rc == CURLE_OK ? (int)code : 0;
    if (rc == CURLE_OK && code >= 200 && code < 300) {
        fwd_success(f, it, code);
        return;
    }
    FWD_COUNT(f, sk, errors, 1);
    char why[96];
    if (rc != CURLE_OK) {
        snprintf(why, sizeof why, "%s", curl_easy_strerror(rc));
        if (fwd_curl_retryable(rc))
            fwd_retry(f, it, why, true);
        else
            fwd_rejected(f, it, rc, code, why);
    } else if (code == 413) {
        fwd_too_large(f, it);
    } else if (fwd_code_retryable(code)) {
        snprintf(why, sizeof why, "HTTP %ld", code);
        fwd_retry(f, it, why, false);
    } else {
        fwd_rejected(f, it, rc, code, "");
    }
}

/* ------------------------------------------------------ dispatch, close */

static void fwd_retry_timer_cb(uv_timer_t *t)
{
    fwd_dispatch(t->data);
}

static void fwd_deadline_cb(uv_timer_t *t)
{
    fwd_teardown(t->data);
}

static void fwd_probe_start(struct md_forwarder *f, struct fwd_sink *sk, struct fwd_ep *ep)
{
    struct md_payload *p = calloc(1, sizeof *p);
    struct fwd_item *it = NULL;
    if (p && (p->url = strdup(ep->probe_url))) {
        p->sink = sk->name;
        it = fwd_item_new(f, p, 0);
    }
    if (!it) {
        md_payload_free(p);
        return;
    }
    it->probe = true;
    if (fwd_start(f, it) != 0) {
        fwd_item_free(it);
        return;
    }
    ep->probing = true;
    FWD_COUNT(f, sk, probes, 1);
}

/* Probe unreachable sinks that are due; returns the earliest time one is due later (0 = none). */
static uint64_t fwd_probes(struct md_forwarder *f, uint64_t now)
{
    uint64_t wake = 0;
    for (size_t i = 0; i < f->nsinks && f->state == FWD_RUNNING; i++) {
        struct fwd_sink *sk = &f->sinks[i];
        for (size_t j = 0; j < sk->neps; j++) {
            struct fwd_ep *ep = &sk->eps[j];
            if (!ep->nerr || !ep->unreachable || now >= ep->blocked_until || ep->probing ||
                ep->inflight || !ep->probe_url)
                continue;
            if (now >= ep->probe_at)
                fwd_probe_start(f, sk, ep);
            else if (!wake || ep->probe_at < wake)
                wake = ep->probe_at;
        }
    }
    return wake;
}

void fwd_dispatch(struct md_forwarder *f)
{
    if (f->state >= FWD_CLOSING)
        return;
    fwd_refill(f);
    uint64_t now = uv_now(f->loop), wake = 0;
    bool sendable_left = false;
    struct fwd_item **pp = &f->qhead, *prev = NULL;
    while (*pp) {
        struct fwd_item *it = *pp;
        struct fwd_ep *ep = it->ep;
        if (!fwd_ep_ready(ep, now) || f->ninflight >= f->o.max_concurrent) {
            if (ep->nerr && now < ep->blocked_until && (!wake || ep->blocked_until < wake))
                wake = ep->blocked_until;
            sendable_left = sendable_left || fwd_ep_ready(ep, now) || ep->inflight;
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
            fwd_log(f, FWD_R_INVALID, MD_LOG_ERROR,
                    "forwarder: %s: cannot start a request; payload dropped", it->sink->name);
            fwd_drop(f, it, FWD_R_INVALID);
        }
    }
    uint64_t pw = fwd_probes(f, now);
    if (pw && (!wake || pw < wake))
        wake = pw;
    fwd_spool_waiting(f);
    if (wake)
        uv_timer_start(&f->retry_timer, fwd_retry_timer_cb, wake - now, 0);
    /* Draining ends when nothing is out and what is left waits for a failing backend. */
    if (f->state == FWD_DRAINING && !f->ninflight && !sendable_left)
        uv_timer_start(&f->deadline_timer, fwd_deadline_cb, 0, 0); /* outside curl's stack */
}

static char *fwd_dup(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static void fwd_release(struct md_forwarder *f)
{
    md_spool_close(f->spool);
    for (size_t i = 0; i < f->nsinks; i++)
        for (size_t j = 0; j < f->sinks[i].neps; j++)
            free(f->sinks[i].eps[j].probe_url);
    for (size_t i = 0; i < f->nsecrets; i++) {
        explicit_bzero(f->secrets[i], strlen(f->secrets[i]));
        free(f->secrets[i]);
    }
    for (size_t i = 0; i < f->nendpoints; i++) {
        explicit_bzero(f->endpoints[i], strlen(f->endpoints[i])); /* may hold user:password */
        free(f->endpoints[i]);
    }
    free(f->proxy_http);
    free(f->proxy_https);
    free(f->no_proxy);
    free(f);
}

void fwd_closed_one(struct md_forwarder *f)
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
    md_forwarder_spool_pending(f);
    f->state = FWD_CLOSING;
    fwd_curl_close(f);
    if (f->spool_async.data) { /* the spool's wake-up handle was opened */
        if (f->spool)
            md_spool_stop_waking(f->spool);
        uv_close((uv_handle_t *)&f->spool_async, fwd_handle_closed);
    }
    uv_close((uv_handle_t *)&f->retry_timer, fwd_handle_closed);
    uv_close((uv_handle_t *)&f->deadline_timer, fwd_handle_closed);
}

/* ------------------------------------------------------------ public API */

static void fwd_defaults(struct md_fwd_opts *o)
{
    if (!o->timeout_ms)
        o->timeout_ms = FWD_DEF_TIMEOUT_MS;
    if (!o->max_concurrent)
        o->max_concurrent = FWD_DEF_CONCURRENT;
    if (!o->retry_queue_max_bytes)
        o->retry_queue_max_bytes = FWD_DEF_QUEUE_BYTES;
    if (!o->backoff_base_ms)
        o->backoff_base_ms = FWD_DEF_BACKOFF_BASE_MS;
    if (!o->backoff_max_ms)
        o->backoff_max_ms = FWD_DEF_BACKOFF_MAX_MS;
    if (o->backoff_max_ms < o->backoff_base_ms)
        o->backoff_max_ms = o->backoff_base_ms;
    if (!o->spool_max_bytes)
        o->spool_max_bytes = FWD_DEF_SPOOL_BYTES;
}

struct md_forwarder *md_forwarder_new(uv_loop_t *loop, const struct md_fwd_opts *o)
{
    struct md_forwarder *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->loop = loop;
    if (o)
        f->o = *o;
    fwd_defaults(&f->o);
    for (size_t i = 0; o && i < MD_FWD_MAX_SECRETS; i++) {
        if (o->secrets[i] && o->secrets[i][0] && (f->secrets[f->nsecrets] = strdup(o->secrets[i])))
            f->nsecrets++;
        f->o.secrets[i] = NULL; /* the caller's copies may not outlive us */
    }
    for (size_t i = 0; o && i < MD_FWD_MAX_ENDPOINTS; i++) {
        if (o->endpoints[i] && o->endpoints[i][0] &&
            (f->endpoints[f->nendpoints] = strdup(o->endpoints[i])))
            f->nendpoints++;
        f->o.endpoints[i] = NULL;
    }
    f->o.spool_path = NULL;
    f->proxy_http = fwd_dup(f->o.proxy_http);
    f->proxy_https = fwd_dup(f->o.proxy_https);
    f->no_proxy = fwd_dup(f->o.no_proxy);
    f->o.proxy_http = f->o.proxy_https = f->o.no_proxy = NULL; /* the caller's may go */
    if (o && ((o->proxy_http && *o->proxy_http && !f->proxy_http) ||
              (o->proxy_https && *o->proxy_https && !f->proxy_https) ||
              (o->no_proxy && *o->no_proxy && !f->no_proxy))) {
        md_error("forwarder: out of memory");
        fwd_release(f);
        return NULL;
    }
    f->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)f ^ 0x9e3779b97f4a7c15ull;
    if (!f->rng)
        f->rng = 1;
    if (fwd_curl_setup(f) != 0) {
        md_error("forwarder: cannot start libcurl");
        fwd_release(f);
        return NULL;
    }
    uv_timer_t *timers[] = {&f->retry_timer, &f->deadline_timer};
    for (int i = 0; i < 2; i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = f;
        f->open_handles++;
    }
    if (o) {
        f->o.spool_path = o->spool_path;
        fwd_spool_open(f);
        f->o.spool_path = NULL;
    }
    f->state = FWD_RUNNING;
    fwd_dispatch(f); /* a spool left by the last run starts draining now */
    return f;
}

int md_forwarder_send(struct md_forwarder *f, struct md_payload *p)
{
    if (!f || !p) {
        md_payload_free(p);
        return -EINVAL;
    }
    f->seq += FWD_SEQ_SPAN;
    struct fwd_item *it = fwd_item_new(f, p, f->seq);
    if (!it) {
        md_payload_free(p);
        return -ENOMEM;
    }
    FWD_COUNT(f, it->sink, payloads_in, 1);
    FWD_COUNT(f, it->sink, items_in, p->nitems);
    if (p->too_big) { /* items the sink could fit in no payload (sink.h) */
        fwd_log(f, FWD_R_TOO_BIG, MD_LOG_ERROR,
                "forwarder: %s: %zu item(s) larger than a payload may be: dropped", it->sink->name,
                p->nitems);
        fwd_drop(f, it, FWD_R_TOO_BIG);
        return 0;
    }
    if (f->state != FWD_RUNNING) {
        if (fwd_spool_item(f, it) == 0) {
            fwd_release_to_spool(f, it);
            return 0;
        }
        fwd_drop(f, it, FWD_R_SHUTDOWN);
        return -ESHUTDOWN;
    }
    if (!p->url || !p->url[0]) {
        fwd_log(f, FWD_R_INVALID, MD_LOG_ERROR, "forwarder: %s: payload without a URL dropped",
                it->sink->name);
        fwd_drop(f, it, FWD_R_INVALID);
        return -EINVAL;
    }
    if (fwd_sink_backlogged(f, it->sink) && fwd_spool_item(f, it) == 0)
        fwd_release_to_spool(f, it); /* behind the older ones on disk */
    else
        fwd_queue_push(f, it);
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
