/*
 * uvfetch.c: small GETs on the agent's loop (see uvfetch.h): what a
 * request sets on its easy handle, and its body, collected or streamed.
 * Driving curl on the loop is curl_uv.c's job.
 */
#include "uvfetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "curl_uv.h"

#define FETCH_MAX_BODY (8u << 20)

struct md_fetch {
    struct md_fetcher *f;
    CURL *easy;
    struct md_fetch_req req;
    char *body;
    size_t len, cap;
    bool too_big, stopped;
};

struct md_fetcher {
    struct md_curl_uv *cu;
};

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
    case CURLE_ABORTED_BY_CALLBACK: /* the fetcher closed with it in flight */
        return -ECANCELED;
    default:
        return -EIO;
    }
}

/* x's transfer is over (its handle is out of the multi): report it and free it. */
static void finish(struct md_fetch *x, int rc)
{
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(x->easy);
    x->req.done(x->req.ud, rc, status, x->body ? x->body : "", x->len);
    free(x->body);
    free(x);
}

static void on_done(void *arg, CURL *e, CURLcode c, void *ud)
{
    struct md_fetch *x = ud;
    (void)arg, (void)e;
    finish(x, errno_of(c, x));
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
    struct md_fetcher *f = calloc(1, sizeof *f);
    if (!f || !(f->cu = md_curl_uv_new(loop, on_done, NULL, f))) {
        free(f);
        return NULL;
    }
    return f;
}

int md_fetch_start(struct md_fetcher *f, const struct md_fetch_req *req, struct md_fetch **out)
{
    if (!f || !req->url || !req->done)
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
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    if (req->timeout_ms)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    int rc = md_curl_uv_add(f->cu, e, x);
    if (rc != 0) {
        curl_easy_cleanup(e);
        free(x);
        return rc == -ESHUTDOWN ? -EINVAL : rc;
    }
    if (out)
        *out = x;
    return 0;
}

void md_fetch_cancel(struct md_fetch *x)
{
    if (!x)
        return;
    md_curl_uv_remove(x->f->cu, x->easy);
    finish(x, -ECANCELED);
}

static void fetcher_closed(void *arg)
{
    free(arg);
}

/*
 * The glue reports each fetch still open (-ECANCELED, newest first) before
 * it lets go of curl; fetches started from those callbacks fail.
 */
void md_fetcher_free(struct md_fetcher *f)
{
    if (f)
        md_curl_uv_close(f->cu, fetcher_closed);
}
