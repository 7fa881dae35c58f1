/*
 * pb_read.h: a tiny protobuf reader (varints, length-delimited fields,
 * doubles, strings) for the tests that read an encoder's bytes back:
 * test_sketch_pb.c, test_prometheus_rw.c and, through sink_pb_read.h, the
 * Datadog v2 series tests. Written against the wire format, independent of
 * the agent's encoders. A reader past its end sets err instead of reading
 * on, so a test asserts err is false where the bytes must be whole. The
 * functions are static inline: a test binary that uses only some of them
 * gets no unused-function warning.
 */
#ifndef METERD_TEST_PB_READ_H
#define METERD_TEST_PB_READ_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

struct rd {
    const uint8_t *p, *end;
    bool err;
};

static inline uint64_t rd_varint(struct rd *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->err = true;
            return 0;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->err = true;
    return 0;
}

/* A length-delimited field's bytes as a reader of their own. */
static inline struct rd rd_sub(struct rd *r)
{
    uint64_t n = rd_varint(r);
    struct rd s = {r->p, r->p, false};
    if (r->err || n > (uint64_t)(r->end - r->p)) {
        r->err = true;
        return s;
    }
    s.end = r->p + n;
    r->p += n;
    return s;
}

static inline double rd_double(struct rd *r)
{
    uint64_t bits = 0;
    if (r->end - r->p < 8) {
        r->err = true;
        return 0;
    }
    for (int i = 0; i < 8; i++)
        bits |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* A length-delimited string into out (NUL-terminated); it must fit. */
static inline void rd_str(struct rd *r, char *out, size_t n)
{
    struct rd s = rd_sub(r);
    size_t len = (size_t)(s.end - s.p);
    assert_false(r->err);
    assert_true(len < n);
    memcpy(out, s.p, len);
    out[len] = '\0';
}

#endif
