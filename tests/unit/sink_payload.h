/*
 * sink_payload.h: what the sink tests share around a payload, whatever its
 * encoding: a request header's value, the body decompressed by its
 * Content-Encoding (with zlib's and libzstd's own calls, not meterd's), and
 * a frame series key built from C strings. Included by test_datadog.c, test_prometheus_rw.c and
 * sink_pb_read.h. Static inline, so each test binary takes what it uses.
 */
#ifndef METERD_TEST_SINK_PAYLOAD_H
#define METERD_TEST_SINK_PAYLOAD_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <cmocka.h>

#include "meterd/frame.h"
#include "meterd/sink.h"

#define T0 1700000000

/* The value of header name in p ("Name: value"), or NULL. */
static inline const char *header(const struct md_payload *p, const char *name)
{
    size_t n = strlen(name);
    for (unsigned i = 0; i < p->nheaders; i++)
        if (strncmp(p->headers[i], name, n) == 0 && p->headers[i][n] == ':')
            return p->headers[i] + n + 2;
    return NULL;
}

/*
 * p's body as the sink wrote it (malloc'd, caller frees): inflated for
 * "deflate", one whole zstd frame for "zstd", a copy when there is no
 * Content-Encoding. Any other encoding, or a corrupt body, fails the test.
 */
static inline char *body_plain(const struct md_payload *p, size_t *len)
{
    const char *ce = header(p, "Content-Encoding");
    size_t cap = p->len * 8 + 4096, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    if (!ce) {
        memcpy(out, p->body, p->len);
        *len = p->len;
        return out;
    }
    if (strcmp(ce, "zstd") == 0) {
        ZSTD_DCtx *d = ZSTD_createDCtx();
        ZSTD_inBuffer in = {p->body, p->len, 0};
        size_t rc = 1;
        while (rc != 0) { /* streamed frames carry no content size: decode as a stream */
            if (n == cap)
                assert_non_null(out = realloc(out, cap *= 2));
            ZSTD_outBuffer o = {out, cap, n};
            rc = ZSTD_decompressStream(d, &o, &in);
            assert_false(ZSTD_isError(rc));
            assert_true(o.pos > n || in.pos < in.size || rc == 0); /* no truncated frame */
            n = o.pos;
        }
        assert_int_equal(in.pos, in.size); /* exactly one frame */
        ZSTD_freeDCtx(d);
    } else {
        assert_string_equal(ce, "deflate");
        z_stream z = {0};
        assert_int_equal(inflateInit(&z), Z_OK);
        z.next_in = (Bytef *)p->body;
        z.avail_in = (uInt)p->len;
        int rc = Z_OK;
        while (rc == Z_OK) {
            if (n == cap)
                assert_non_null(out = realloc(out, cap *= 2));
            z.next_out = (Bytef *)out + n;
            z.avail_out = (uInt)(cap - n);
            rc = inflate(&z, Z_NO_FLUSH);
            n = z.total_out;
        }
        assert_int_equal(rc, Z_STREAM_END);
        inflateEnd(&z);
    }
    *len = n;
    return out;
}

/* The frame's key for host and up to 16 tags; it must be accepted. */
static inline const struct md_series_key *key(struct md_frame *f, const char *host,
                                              const char **tags, uint32_t n)
{
    struct md_str t[16];
    assert_true(n <= 16);
    for (uint32_t i = 0; i < n; i++)
        t[i] = (struct md_str){tags[i], (uint32_t)strlen(tags[i])};
    const struct md_series_key *k = md_frame_key(f, host, host ? strlen(host) : 0, t, n);
    assert_non_null(k);
    return k;
}

#endif
