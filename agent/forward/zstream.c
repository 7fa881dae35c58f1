/*
 * zstream.c: compress-as-you-write payloads under two size limits (see
 * zstream.h). The limit check follows the Datadog agent's stream
 * compressor: compressed-so-far plus deflateBound() of what is not flushed
 * yet plus the new item is a safe upper bound; only when it crosses the
 * limit is the stream sync-flushed to learn the true size and asked again.
 */
#include "zstream.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#define ZS_CHUNK 65536

/* Feed n bytes with the given flush mode, growing the output as zlib asks. */
static void zs_deflate(struct md_zstream *s, const void *p, size_t n, int flush)
{
    if (s->failed)
        return;
    s->z.next_in = (Bytef *)(uintptr_t)p;
    s->z.avail_in = (uInt)n;
    for (;;) {
        if (md_buf_reserve(&s->out, ZS_CHUNK) != 0) {
            s->failed = true;
            return;
        }
        size_t room = s->out.cap - s->out.len - 1; /* md_buf keeps a terminator byte */
        s->z.next_out = (Bytef *)s->out.p + s->out.len;
        s->z.avail_out = (uInt)(room > UINT_MAX ? UINT_MAX : room);
        uInt before = s->z.avail_out;
        int rc = deflate(&s->z, flush);
        s->out.len += before - s->z.avail_out;
        if (rc == Z_STREAM_END)
            return;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            s->failed = true;
            return;
        }
        if (s->z.avail_in == 0 && s->z.avail_out != 0)
            return; /* all taken, and zlib had room to spare: done for this mode */
    }
}

int md_zs_begin(struct md_zstream *s, size_t max_comp, size_t max_unc, const void *header,
                size_t header_len, size_t footer_len)
{
    memset(s, 0, sizeof *s);
    md_buf_init(&s->out);
    if (deflateInit2(&s->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    s->open = true;
    s->max_comp = max_comp;
    s->max_unc = max_unc;
    s->footer_len = footer_len;
    md_zs_write(s, header, header_len);
    return s->failed ? -ENOMEM : 0;
}

bool md_zs_fits(struct md_zstream *s, size_t n)
{
    if (s->unc + n + s->footer_len > s->max_unc)
        return false;
    size_t bound = deflateBound(&s->z, (uLong)(s->unflushed + n + s->footer_len));
    if (s->out.len + bound <= s->max_comp)
        return true;
    if (s->unflushed) { /* the bound is loose: measure, then ask again */
        zs_deflate(s, NULL, 0, Z_SYNC_FLUSH);
        s->unflushed = 0;
        bound = deflateBound(&s->z, (uLong)(n + s->footer_len));
    }
    return s->out.len + bound <= s->max_comp;
}

void md_zs_write(struct md_zstream *s, const void *p, size_t n)
{
    zs_deflate(s, p, n, Z_NO_FLUSH);
    s->unc += n;
    s->unflushed += n;
}

int md_zs_finish(struct md_zstream *s, const void *footer, size_t footer_len, char **out,
                 size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    zs_deflate(s, footer, footer_len, Z_FINISH);
    s->unc += footer_len;
    deflateEnd(&s->z);
    s->open = false;
    if (s->failed || s->out.oom) {
        md_buf_free(&s->out);
        return -ENOMEM;
    }
    *out = md_buf_steal(&s->out, out_len);
    return *out ? 0 : -ENOMEM;
}

void md_zs_abort(struct md_zstream *s)
{
    if (s->open)
        deflateEnd(&s->z);
    s->open = false;
    md_buf_free(&s->out);
}
