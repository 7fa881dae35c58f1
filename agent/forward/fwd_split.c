/*
 * fwd_split.c: the forwarder's answer to a 413, cutting a payload in two.
 *
 * The forwarder only holds the encoded, compressed body (possibly read
 * back from the spool by a later run, when the frame it came from is long
 * gone), so it decompresses the body (zlib "deflate", "zstd", or snappy for
 * remote write), asks the payload's sink to cut it along item boundaries (sink.h,
 * split) and compresses each half the same way again. Every kind of
 * payload is a list of items (JSON arrays, the events envelope, repeated
 * protobuf messages), so the sink's cut needs no state. The alternative,
 * the sink re-encoding halves from a kept list of items, means keeping
 * every frame until its payloads are delivered: whole windows in memory
 * during an outage, and nothing to re-encode from after a restart.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <snappy-c.h>

#include "compress.h"
#include "fwd_int.h"

#define FWD_SPLIT_MAX_PLAIN (256u * 1024 * 1024) /* an inflated body larger than this is refused */

enum fwd_enc { FWD_ENC_NONE, FWD_ENC_DEFLATE, FWD_ENC_ZSTD, FWD_ENC_SNAPPY, FWD_ENC_OTHER };

static enum fwd_enc fwd_encoding(const struct md_payload *p)
{
    static const char h[] = "Content-Encoding:";
    for (unsigned i = 0; i < p->nheaders; i++) {
        const char *v = p->headers[i];
        if (v && strncasecmp(v, h, sizeof h - 1) == 0) {
            v += sizeof h - 1;
            v += strspn(v, " \t");
            if (strncasecmp(v, "deflate", 7) == 0)
                return FWD_ENC_DEFLATE;
            if (strncasecmp(v, "zstd", 4) == 0)
                return FWD_ENC_ZSTD;
            return strncasecmp(v, "snappy", 6) == 0 ? FWD_ENC_SNAPPY : FWD_ENC_OTHER;
        }
    }
    return FWD_ENC_NONE;
}

/* The body as the sink wrote it (malloc'd), or -EINVAL. */
static int fwd_decode(const struct md_payload *p, enum fwd_enc enc, char **plain, size_t *plen)
{
    if (enc == FWD_ENC_DEFLATE || enc == FWD_ENC_ZSTD) {
        void *out = NULL;
        int rc = enc == FWD_ENC_ZSTD ? md_unzstd(p->body, p->len, FWD_SPLIT_MAX_PLAIN, &out, plen)
                                     : md_inflate(p->body, p->len, FWD_SPLIT_MAX_PLAIN, &out, plen);
        *plain = out;
        return rc == 0 ? 0 : -EINVAL;
    }
    if (enc == FWD_ENC_SNAPPY) {
        size_t n = 0;
        if (snappy_uncompressed_length(p->body, p->len, &n) != SNAPPY_OK ||
            n > FWD_SPLIT_MAX_PLAIN || !(*plain = malloc(n ? n : 1)))
            return -EINVAL;
        *plen = n;
        if (snappy_uncompress(p->body, p->len, *plain, plen) == SNAPPY_OK)
            return 0;
        free(*plain);
        return -EINVAL;
    }
    if (enc != FWD_ENC_NONE || !(*plain = malloc(p->len ? p->len : 1)))
        return -EINVAL;
    memcpy(*plain, p->body, p->len);
    *plen = p->len;
    return 0;
}

/* A half's body compressed as the original was; plain is taken. */
static bool fwd_encode(char *plain, size_t len, enum fwd_enc enc, struct md_payload *h)
{
    if (enc == FWD_ENC_NONE) {
        h->body = plain;
        h->len = len;
        return true;
    }
    bool ok;
    if (enc == FWD_ENC_DEFLATE) {
        void *z = NULL;
        ok = md_deflate(plain, len, 6, &z, &h->len) == 0;
        h->body = z;
    } else if (enc == FWD_ENC_ZSTD) {
        /* The configured level is the sink's; a half of a rare 413 takes the agent's default. */
        void *z = NULL;
        ok = md_zstd(plain, len, MD_ZSTD_LEVEL_DEFAULT, &z, &h->len) == 0;
        h->body = z;
    } else {
        size_t zlen = snappy_max_compressed_length(len);
        ok = (h->body = malloc(zlen ? zlen : 1)) != NULL &&
             snappy_compress(plain, len, h->body, &zlen) == SNAPPY_OK;
        h->len = zlen;
    }
    free(plain);
    return ok;
}

/* A copy of p's envelope (URL, headers, sink) around a new body; body is taken. */
static struct md_payload *fwd_half(const struct md_payload *p, struct md_buf *body, size_t n,
                                   enum fwd_enc enc)
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
    if (!ok || !plain || !fwd_encode(plain, len, enc, h)) {
        if (!ok)
            free(plain);
        md_payload_free(h);
        return NULL;
    }
    return h;
}

int fwd_split(const struct md_payload *p, struct md_payload **a, struct md_payload **b)
{
    const struct md_sink_ops *ops = md_sink_lookup(p->sink);
    *a = *b = NULL;
    if (p->nitems < 2 || !ops || !ops->split || !p->url || !p->body)
        return -EINVAL;
    enum fwd_enc enc = fwd_encoding(p);
    char *plain = NULL;
    size_t plen = 0;
    if (fwd_decode(p, enc, &plain, &plen) != 0)
        return -EINVAL;
    struct md_buf ba, bb;
    md_buf_init(&ba);
    md_buf_init(&bb);
    size_t na = 0, nb = 0;
    int rc = ops->split(plain, plen, p->nitems, &ba, &na, &bb, &nb);
    free(plain);
    if (rc == 0) {
        *a = fwd_half(p, &ba, na, enc);
        *b = fwd_half(p, &bb, nb, enc);
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
