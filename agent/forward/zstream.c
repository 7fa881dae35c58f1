/*
 * zstream.c: compress-as-you-write payloads under two size limits (see
 * zstream.h). The limit check follows the Datadog agent's stream
 * compressor: compressed-so-far plus the library's bound on what is not
 * flushed yet plus the new item is a safe upper bound; only when it crosses
 * the limit is the stream flushed to learn the true size and asked again.
 * zlib and zstd differ only in the calls that feed, flush and bound them.
 */
#include "zstream.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#define ZS_CHUNK 65536

enum zs_mode { ZS_MORE, ZS_FLUSH, ZS_END };

/* Room for ZS_CHUNK more compressed bytes; false (and failed) when out of memory. */
static bool zs_room(struct md_zstream *s, size_t *room)
{
    if (md_buf_reserve(&s->out, ZS_CHUNK) != 0) {
        s->failed = true;
        return false;
    }
    *room = s->out.cap - s->out.len - 1; /* md_buf keeps a terminator byte */
    return true;
}

static void zs_zlib(struct md_zstream *s, const void *p, size_t n, enum zs_mode mode)
{
    static const int flush[] = {Z_NO_FLUSH, Z_SYNC_FLUSH, Z_FINISH};
    s->z.next_in = (Bytef *)(uintptr_t)p;
    s->z.avail_in = (uInt)n;
    for (size_t room; zs_room(s, &room);) {
        s->z.next_out = (Bytef *)s->out.p + s->out.len;
        s->z.avail_out = (uInt)(room > UINT_MAX ? UINT_MAX : room);
        uInt before = s->z.avail_out;
        int rc = deflate(&s->z, flush[mode]);
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

static void zs_zstd(struct md_zstream *s, const void *p, size_t n, enum zs_mode mode)
{
    static const ZSTD_EndDirective dir[] = {ZSTD_e_continue, ZSTD_e_flush, ZSTD_e_end};
    ZSTD_inBuffer in = {p ? p : "", n, 0};
    for (size_t room; zs_room(s, &room);) {
        ZSTD_outBuffer out = {s->out.p + s->out.len, room, 0};
        size_t left = ZSTD_compressStream2(s->zc, &out, &in, dir[mode]);
        s->out.len += out.pos;
        if (ZSTD_isError(left)) {
            s->failed = true;
            return;
        }
        /* continue: done once the input is taken; flush and end: once nothing is left */
        if (mode == ZS_MORE ? in.pos == in.size : left == 0)
            return;
    }
}

/* Feed n bytes in the given mode, growing the output as the library asks. */
static void zs_feed(struct md_zstream *s, const void *p, size_t n, enum zs_mode mode)
{
    if (s->failed)
        return;
    if (s->kind == MD_COMP_ZSTD)
        zs_zstd(s, p, n, mode);
    else
        zs_zlib(s, p, n, mode);
}

static size_t zs_bound(struct md_zstream *s, size_t n)
{
    /* ZSTD_compressBound counts a frame header; one more block header per flush is 3 bytes. */
    return s->kind == MD_COMP_ZSTD ? ZSTD_compressBound(n) + 3 : deflateBound(&s->z, (uLong)n);
}

static int zs_open(struct md_zstream *s, enum md_comp_kind kind, int level)
{
    if (kind == MD_COMP_ZLIB)
        return level < -1 || level > 9 ||
                       deflateInit2(&s->z, level, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY) != Z_OK
                   ? -ENOMEM
                   : 0;
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
        return -EINVAL;
    s->zc = ZSTD_createCCtx();
    if (!s->zc || ZSTD_isError(ZSTD_CCtx_setParameter(s->zc, ZSTD_c_compressionLevel, level)))
        return -ENOMEM;
    return 0;
}

static void zs_close(struct md_zstream *s)
{
    if (!s->open)
        return;
    if (s->kind == MD_COMP_ZSTD)
        ZSTD_freeCCtx(s->zc);
    else
        deflateEnd(&s->z);
    s->zc = NULL;
    s->open = false;
}

int md_zs_begin(struct md_zstream *s, enum md_comp_kind kind, int level, size_t max_comp,
                size_t max_unc, const void *header, size_t header_len, size_t footer_len)
{
    memset(s, 0, sizeof *s);
    md_buf_init(&s->out);
    s->kind = kind;
    int rc = zs_open(s, kind, level);
    s->open = true;
    if (rc != 0) {
        zs_close(s);
        return rc;
    }
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
    if (s->out.len + zs_bound(s, s->unflushed + n + s->footer_len) <= s->max_comp)
        return true;
    if (s->unflushed) { /* the bound is loose: measure, then ask again */
        zs_feed(s, NULL, 0, ZS_FLUSH);
        s->unflushed = 0;
    }
    return s->out.len + zs_bound(s, n + s->footer_len) <= s->max_comp;
}

void md_zs_write(struct md_zstream *s, const void *p, size_t n)
{
    zs_feed(s, p, n, ZS_MORE);
    s->unc += n;
    s->unflushed += n;
}

int md_zs_finish(struct md_zstream *s, const void *footer, size_t footer_len, char **out,
                 size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    zs_feed(s, footer, footer_len, ZS_END);
    s->unc += footer_len;
    zs_close(s);
    if (s->failed || s->out.oom) {
        md_buf_free(&s->out);
        return -ENOMEM;
    }
    *out = md_buf_steal(&s->out, out_len);
    return *out ? 0 : -ENOMEM;
}

void md_zs_abort(struct md_zstream *s)
{
    zs_close(s);
    md_buf_free(&s->out);
}
