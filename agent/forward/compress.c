/*
 * compress.c: zlib-format deflate of a whole payload (see compress.h).
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
