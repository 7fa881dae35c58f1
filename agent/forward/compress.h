/*
 * compress.h: the one compression every HTTP sink uses before shipping.
 *
 * Payloads go out with "Content-Encoding: deflate", which in HTTP means a
 * zlib stream (RFC 1950: 2-byte header, deflate data, Adler-32 trailer).
 * Receivers built on zlib's inflate (VictoriaMetrics, the Datadog intake)
 * reject raw deflate, so this module only produces the zlib form.
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

#endif
