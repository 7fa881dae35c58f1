/*
 * fwd_split.c: the forwarder's answer to a 413, cutting a payload in two.
 *
 * The forwarder only holds the encoded, compressed body (possibly read
 * back from the spool by a later run, when the frame it came from is long
 * gone), so it inflates the body, asks the payload's sink to cut it along
 * item boundaries (sink.h, split) and deflates each half again. The
 * alternative, keeping every frame until its payloads are delivered,
 * would hold whole windows in memory during an outage and could not
 * survive a restart.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compress.h"
#include "fwd_int.h"

#define FWD_SPLIT_MAX_PLAIN (256u * 1024 * 1024) /* an inflated body larger than this is refused */

static bool fwd_is_deflated(const struct md_payload *p)
{
    static const char h[] = "Content-Encoding:";
    for (unsigned i = 0; i < p->nheaders; i++) {
        const char *v = p->headers[i];
        if (v && strncasecmp(v, h, sizeof h - 1) == 0) {
            v += sizeof h - 1;
            v += strspn(v, " \t");
            return strncasecmp(v, "deflate", 7) == 0;
        }
    }
    return false;
}

/* A copy of p's envelope (URL, headers, sink) around a new body; body is taken. */
static struct md_payload *fwd_half(const struct md_payload *p, struct md_buf *body, size_t n,
                                   bool deflated)
{
    struct md_payload *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->url = strdup(p->url);
    h->content_type = p->content_type;
    h->sink = p->sink;
    h->nitems = n;
    for (unsigned i = 0; i < p->nheaders; i++)
        if (p->headers[i])
            h->headers[h->nheaders++] = strdup(p->headers[i]);
    bool ok = h->url != NULL;
    for (unsigned i = 0; i < h->nheaders; i++)
        ok = ok && h->headers[i];
    size_t len = 0;
    char *plain = md_buf_steal(body, &len);
    if (ok && plain && deflated) {
        void *z = NULL;
        ok = md_deflate(plain, len, 6, &z, &h->len) == 0;
        h->body = z;
        free(plain);
    } else {
        h->body = plain;
        h->len = len;
        ok = ok && plain;
    }
    if (!ok) {
        md_payload_free(h);
        return NULL;
    }
    return h;
}

int fwd_split(const struct md_payload *p, struct md_payload **a, struct md_payload **b)
{
    const struct md_sink_ops *ops = md_sink_lookup(p->sink);
    if (p->nitems < 2 || !ops || !ops->split || !p->url)
        return -EINVAL;
    bool deflated = fwd_is_deflated(p);
    void *plain = p->body;
    size_t plen = p->len;
    if (deflated && md_inflate(p->body, p->len, FWD_SPLIT_MAX_PLAIN, &plain, &plen) != 0)
        return -EINVAL;
    struct md_buf ba, bb;
    md_buf_init(&ba);
    md_buf_init(&bb);
    size_t na = 0, nb = 0;
    int rc = ops->split(plain, plen, p->nitems, &ba, &na, &bb, &nb);
    if (deflated)
        free(plain);
    *a = *b = NULL;
    if (rc == 0) {
        *a = fwd_half(p, &ba, na, deflated);
        *b = fwd_half(p, &bb, nb, deflated);
    }
    md_buf_free(&ba);
    md_buf_free(&bb);
    if (rc == 0 && (!*a || !*b)) {
        md_payload_free(*a);
        md_payload_free(*b);
        *a = *b = NULL;
        rc = -ENOMEM;
    }
    return rc;
}
