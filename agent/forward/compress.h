/*
 * compress.h: the compressions HTTP sinks use before shipping.
 *
 * "Content-Encoding: deflate" in HTTP means a zlib stream (RFC 1950:
 * 2-byte header, deflate data, Adler-32 trailer). Receivers built on
 * zlib's inflate (VictoriaMetrics, the Datadog intake) reject raw deflate,
 * so this module only produces the zlib form. "Content-Encoding: zstd" is
 * one zstd frame (RFC 8878), what the Datadog agent sends its intake by
 * default (serializer_compressor_kind: zstd).
 */
#ifndef METERD_COMPRESS_H
#define METERD_COMPRESS_H

#include <stddef.h>

/*
 * Compress `len` bytes at `in` into a malloc'd zlib stream; level is zlib's
 * (-1 = default, 1 = fast ... 9 = small). On success *out (caller frees) and
 * *out_len are set and 0 is returned; otherwise -EINVAL or -ENOMEM and *out
 * is NULL.
 */
int md_deflate(const void *in, size_t len, int level, void **out, size_t *out_len);

/*
 * The reverse, for the forwarder's 413 split: inflate a zlib stream into a
 * malloc'd buffer of at most max_out bytes. Returns 0, -EBADMSG for a
 * corrupt or truncated stream or one larger than max_out, or -ENOMEM.
 */
int md_inflate(const void *in, size_t len, size_t max_out, void **out, size_t *out_len);

/* The two kinds a body can be compressed with, and their Content-Encoding. */
enum md_comp_kind { MD_COMP_ZLIB, MD_COMP_ZSTD };
const char *md_comp_encoding(enum md_comp_kind k);
/* The most bytes n bytes can take compressed with kind k in one piece. */
size_t md_comp_bound(enum md_comp_kind k, size_t n);

/* The Datadog agent's serializer_zstd_compressor_level default. */
#define MD_ZSTD_LEVEL_DEFAULT 1

/*
 * One zstd frame of `len` bytes at `in`, at zstd's level (1 fast ... 22
 * small), with the content size in its header. Same contract as md_deflate.
 */
int md_zstd(const void *in, size_t len, int level, void **out, size_t *out_len);

/* The reverse of md_zstd, same contract as md_inflate. */
int md_unzstd(const void *in, size_t len, size_t max_out, void **out, size_t *out_len);

#endif
