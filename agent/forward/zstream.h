/*
 * zstream.h: a payload compressed as it is written, with the intake's two
 * size limits checked before every item.
 *
 * A sink writes its header, then items, then its footer; before each item
 * it asks whether the item still fits under both the compressed and the
 * uncompressed limit, and when it does not, finishes this payload and
 * starts the next. The uncompressed text of a payload never exists in
 * memory, only its zlib stream (what "Content-Encoding: deflate" means in
 * HTTP). The compressed size is bounded with deflateBound() on what zlib
 * still holds, and measured exactly (a sync flush) only when that bound
 * says the limit is near, so payloads come out close to the limit without
 * a flush per item.
 */
#ifndef METERD_ZSTREAM_H
#define METERD_ZSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <zlib.h>

#include "buf.h"

struct md_zstream {
    z_stream z;
    struct md_buf out;   /* compressed bytes so far */
    size_t max_comp, max_unc;
    size_t unc;          /* uncompressed bytes written */
    size_t unflushed;    /* of those, written since the last flush */
    size_t footer_len;   /* reserved under both limits */
    bool open, failed;
};

/* Start a payload: header written, footer_len kept free. 0 or -ENOMEM. */
int md_zs_begin(struct md_zstream *s, size_t max_comp, size_t max_unc, const void *header,
                size_t header_len, size_t footer_len);

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
