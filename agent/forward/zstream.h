/*
 * zstream.h: a payload compressed as it is written, with the intake's two
 * size limits checked before every item.
 *
 * A sink writes its header, then items, then its footer; before each item
 * it asks whether the item still fits under both the compressed and the
 * uncompressed limit, and when it does not, finishes this payload and
 * starts the next. The uncompressed text of a payload never exists in
 * memory, only its compressed form: a zlib stream ("Content-Encoding:
 * deflate") or one zstd frame ("Content-Encoding: zstd"). The compressed
 * size is bounded with the library's worst case (deflateBound(),
 * ZSTD_compressBound()) of what the compressor still holds, and measured
 * exactly (a flush) only when that bound says the limit is near, so
 * payloads come out close to the limit without a flush per item.
 */
#ifndef METERD_ZSTREAM_H
#define METERD_ZSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <zlib.h>
#include <zstd.h>

#include "buf.h"
#include "compress.h"

struct md_zstream {
    enum md_comp_kind kind;
    z_stream z;          /* MD_COMP_ZLIB */
    ZSTD_CCtx *zc;       /* MD_COMP_ZSTD */
    struct md_buf out;   /* compressed bytes so far */
    size_t max_comp, max_unc;
    size_t unc;          /* uncompressed bytes written */
    size_t unflushed;    /* of those, written since the last flush */
    size_t footer_len;   /* reserved under both limits */
    bool open, failed;
};

/*
 * Start a payload of the given kind and level (zlib's -1..9 or zstd's
 * levels): header written, footer_len kept free. 0, -EINVAL or -ENOMEM.
 */
int md_zs_begin(struct md_zstream *s, enum md_comp_kind kind, int level, size_t max_comp,
                size_t max_unc, const void *header, size_t header_len, size_t footer_len);

/* Would n more bytes (then the footer) stay under both limits? */
bool md_zs_fits(struct md_zstream *s, size_t n);

/* Append n bytes (check md_zs_fits first). */
void md_zs_write(struct md_zstream *s, const void *p, size_t n);

/*
 * Write the footer and end the stream: *out (malloc'd, caller frees) and
 * *out_len get the compressed payload. 0, or -ENOMEM after any failure.
 */
int md_zs_finish(struct md_zstream *s, const void *footer, size_t footer_len, char **out,
                 size_t *out_len);

/* Drop a payload being written (also safe after md_zs_finish). */
void md_zs_abort(struct md_zstream *s);

#endif
