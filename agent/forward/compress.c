/*
 * compress.c: zlib-format deflate and zstd of a whole payload (see
 * compress.h).
 *
 * Payloads are at most a few MiB and already fully built by the sink, so a
 * one-shot deflate into a buffer sized by deflateBound() is both the
 * simplest and the fastest form: one allocation, one pass, no streaming
 * state to carry across loop iterations.
 */
#include "compress.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

int md_deflate(const void *in, size_t len, int level, void **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if ((!in && len) || level < -1 || level > 9 || len > UINT_MAX)
        return -EINVAL;
    z_stream z = {0};
    /* windowBits 15 (not -15, not 31): zlib header and trailer, as HTTP "deflate" means. */
    if (deflateInit2(&z, level, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    uLong cap = deflateBound(&z, (uLong)len);
    unsigned char *buf = malloc(cap ? cap : 1);
    if (!buf) {
        deflateEnd(&z);
        return -ENOMEM;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    size_t n = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        /* deflateBound() guarantees room for one Z_FINISH call; anything else is a zlib bug. */
        free(buf);
        return -ENOMEM;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

int md_inflate(const void *in, size_t len, size_t max_out, void **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if ((!in && len) || len > UINT_MAX)
        return -EINVAL;
    z_stream z = {0};
    if (inflateInit2(&z, 15) != Z_OK)
        return -ENOMEM;
    size_t cap = len * 4 + 1024, n = 0;
    unsigned char *buf = NULL;
    int rc = Z_OK;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    while (rc == Z_OK) {
        if (!buf || n == cap) {
            if (buf && cap > max_out) {
                rc = Z_DATA_ERROR; /* larger than the caller allows */
                break;
            }
            cap = buf ? cap * 2 : cap;
            if (cap > max_out + 1)
                cap = max_out + 1;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                rc = Z_MEM_ERROR;
                break;
            }
            buf = nb;
        }
        z.next_out = buf + n;
        z.avail_out = (uInt)(cap - n > UINT_MAX ? UINT_MAX : cap - n);
        rc = inflate(&z, Z_NO_FLUSH);
        n = z.total_out;
        if (rc == Z_BUF_ERROR && z.avail_out)
            rc = Z_DATA_ERROR; /* input ended before the stream did */
        if (rc == Z_BUF_ERROR)
            rc = Z_OK;
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END || n > max_out) {
        free(buf);
        return rc == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

const char *md_comp_encoding(enum md_comp_kind k)
{
    return k == MD_COMP_ZSTD ? "zstd" : "deflate";
}

size_t md_comp_bound(enum md_comp_kind k, size_t n)
{
    return k == MD_COMP_ZSTD ? ZSTD_compressBound(n) : compressBound((uLong)n);
}

int md_zstd(const void *in, size_t len, int level, void **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if ((!in && len) || level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
        return -EINVAL;
    size_t cap = ZSTD_compressBound(len);
    void *buf = malloc(cap ? cap : 1);
    if (!buf)
        return -ENOMEM;
    size_t n = ZSTD_compress(buf, cap, in ? in : "", len, level);
    if (ZSTD_isError(n)) { /* compressBound leaves room: only memory can fail */
        free(buf);
        return -ENOMEM;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

/* A frame without its size in the header (a streamed one): decompress as a stream. */
static int zstd_stream_out(const void *in, size_t len, size_t max_out, unsigned char **buf,
                           size_t *n)
{
    ZSTD_DStream *d = ZSTD_createDStream();
    if (!d)
        return -ENOMEM;
    size_t cap = len * 4 + 1024, rc = 1;
    ZSTD_inBuffer ib = {in, len, 0};
    *n = 0;
    while (rc != 0) {
        if (!*buf || *n == cap) {
            if (*buf && cap > max_out)
                break; /* larger than the caller allows */
            cap = *buf ? cap * 2 : cap;
            cap = cap > max_out + 1 ? max_out + 1 : cap;
            unsigned char *nb = realloc(*buf, cap);
            if (!nb) {
                ZSTD_freeDStream(d);
                return -ENOMEM;
            }
            *buf = nb;
        }
        ZSTD_outBuffer ob = {*buf, cap, *n};
        size_t in_before = ib.pos, out_before = ob.pos;
        rc = ZSTD_decompressStream(d, &ob, &ib);
        *n = ob.pos;
        if (ZSTD_isError(rc) || (ib.pos == in_before && ob.pos == out_before))
            break; /* corrupt, or the input ended before the frame did */
    }
    ZSTD_freeDStream(d);
    return rc == 0 && ib.pos == len && *n <= max_out ? 0 : -EBADMSG;
}

int md_unzstd(const void *in, size_t len, size_t max_out, void **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!in || !len)
        return -EBADMSG;
    unsigned long long size = ZSTD_getFrameContentSize(in, len);
    if (size == ZSTD_CONTENTSIZE_ERROR || (size != ZSTD_CONTENTSIZE_UNKNOWN && size > max_out))
        return -EBADMSG;
    unsigned char *buf = NULL;
    size_t n = 0;
    int rc;
    if (size == ZSTD_CONTENTSIZE_UNKNOWN) {
        rc = zstd_stream_out(in, len, max_out, &buf, &n);
    } else {
        buf = malloc(size ? size : 1);
        if (!buf)
            return -ENOMEM;
        n = ZSTD_decompress(buf, size ? size : 1, in, len);
        rc = ZSTD_isError(n) || n != size ? -EBADMSG : 0;
    }
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = n;
    return 0;
}
