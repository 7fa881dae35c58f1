/*
 * fwd_curl.c: the forwarder's requests: what is set on each easy handle
 * (body, headers, proxy, timeouts, TLS), starting and stopping them on the
 * curl_uv.c glue that drives libcurl on the loop, and the glue's callbacks
 * back into the forwarder. A probe is a HEAD to the URL of the payload
 * that failed, with a short timeout: any HTTP answer shows the backend is
 * reachable again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fwd_int.h"

#define FWD_PROBE_TIMEOUT_MS 5000u

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
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    uint64_t tmo = f->o.timeout_ms;
    if (it->probe && tmo > FWD_PROBE_TIMEOUT_MS)
        tmo = FWD_PROBE_TIMEOUT_MS;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)tmo);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, f->o.skip_ssl_validation ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, f->o.skip_ssl_validation ? 0L : 2L);
    if (md_curl_uv_add(f->curl, e, it) != 0)
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
        md_curl_uv_remove(f->curl, it->easy); /* nothing to do once the transfer finished */
        curl_easy_cleanup(it->easy);
    }
    curl_slist_free_all(it->hdrs);
    it->easy = NULL;
    it->hdrs = NULL;
    fwd_inflight_unlink(f, it);
}

/* ------------------------------------------------------ the glue's calls */

static void fwd_curl_done(void *arg, CURL *e, CURLcode rc, void *ud)
{
    (void)e;
    fwd_finish(arg, ud, rc);
}

/* Each round of curl activity: a finished transfer may have freed a slot. */
static void fwd_curl_after(void *arg)
{
    fwd_dispatch(arg);
}

static void fwd_curl_closed(void *arg)
{
    fwd_closed_one(arg);
}

int fwd_curl_setup(struct md_forwarder *f)
{
    f->curl = md_curl_uv_new(f->loop, fwd_curl_done, fwd_curl_after, f);
    if (!f->curl)
        return -ENOMEM;
    f->open_handles++; /* the glue's, closed as one */
    return 0;
}

/* Every transfer must be gone: a done callback now would count as a failure. */
void fwd_curl_close(struct md_forwarder *f)
{
    md_curl_uv_close(f->curl, fwd_curl_closed);
}
