/*
 * pb_wire.c: protobuf wire helpers and the split along a repeated field
 * (see pb_wire.h). The split walks the top-level fields only: it needs to
 * know where each one ends, never what is inside, so one function serves
 * every payload whose items are one repeated message (series, sketches,
 * remote write time series).
 */
#include "pb_wire.h"

#include <errno.h>
#include <string.h>

void md_pb_varint(struct md_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    md_buf_add(b, tmp, n);
}

size_t md_pb_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

void md_pb_tag(struct md_buf *b, unsigned field, unsigned wire)
{
    md_pb_varint(b, (uint64_t)field << 3 | wire);
}

void md_pb_bytes(struct md_buf *b, unsigned field, const void *p, size_t n)
{
    md_pb_tag(b, field, MD_PB_LEN);
    md_pb_varint(b, n);
    md_buf_add(b, p, n);
}

void md_pb_double(struct md_buf *b, unsigned field, double v)
{
    uint64_t bits;
    uint8_t le[8];
    memcpy(&bits, &v, sizeof bits);
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(bits >> (8 * i));
    md_pb_tag(b, field, MD_PB_FIXED64);
    md_buf_add(b, le, sizeof le);
}

void md_pb_int64(struct md_buf *b, unsigned field, int64_t v)
{
    md_pb_tag(b, field, MD_PB_VARINT);
    md_pb_varint(b, (uint64_t)v);
}

size_t md_pb_utf8(struct md_buf *b, const char *s)
{
    if (!s)
        return 0;
    size_t bad = 0, n = strlen(s), i = 0, run = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : md_utf8_len((const unsigned char *)s + i, n - i);
        if (l) {
            i += l;
            continue;
        }
        md_buf_add(b, s + run, i - run);
        md_buf_add(b, "\xef\xbf\xbd", 3);
        bad++;
        run = ++i;
    }
    md_buf_add(b, s + run, n - run);
    return bad;
}

size_t md_pb_string(struct md_buf *b, struct md_buf *tmp, unsigned field, const char *s,
                    const char *t)
{
    md_buf_reset(tmp);
    size_t bad = md_pb_utf8(tmp, s) + md_pb_utf8(tmp, t);
    md_pb_bytes(b, field, tmp->p ? tmp->p : "", tmp->len);
    b->oom = b->oom || tmp->oom;
    return bad;
}

/* Read a varint at *off; false past the end or over 10 bytes. */
static bool pb_read_varint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 70 && *off < len; shift += 7) {
        uint8_t c = p[(*off)++];
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return true;
    }
    return false;
}

/* Skip the field at *off; *field gets its number. false when it does not parse. */
static bool pb_next(const uint8_t *p, size_t len, size_t *off, unsigned *field, unsigned *wire)
{
    uint64_t tag, v;
    if (!pb_read_varint(p, len, off, &tag) || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX)
        return false;
    *field = (unsigned)(tag >> 3);
    *wire = (unsigned)(tag & 7);
    switch (*wire) {
    case MD_PB_VARINT:
        return pb_read_varint(p, len, off, &v);
    case MD_PB_FIXED64:
        v = 8;
        break;
    case MD_PB_FIXED32:
        v = 4;
        break;
    case MD_PB_LEN:
        if (!pb_read_varint(p, len, off, &v))
            return false;
        break;
    default:
        return false; /* groups: no payload of ours has them */
    }
    if (v > len - *off)
        return false;
    *off += (size_t)v;
    return true;
}

int md_pb_split(const char *body, size_t len, unsigned field, struct md_buf *a, size_t *na,
                struct md_buf *b, size_t *nb)
{
    const uint8_t *p = (const uint8_t *)body;
    size_t off = 0, items = 0;
    unsigned f, w;
    while (off < len) {
        if (!pb_next(p, len, &off, &f, &w))
            return -EINVAL;
        items += f == field && w == MD_PB_LEN;
    }
    if (items < 2)
        return -EINVAL;
    size_t half = items / 2, seen = 0;
    off = 0;
    while (off < len) {
        size_t start = off;
        pb_next(p, len, &off, &f, &w);
        bool item = f == field && w == MD_PB_LEN;
        if (!item || seen < half)
            md_buf_add(a, body + start, off - start);
        if (!item || seen >= half)
            md_buf_add(b, body + start, off - start);
        seen += item;
    }
    *na = half;
    *nb = items - half;
    return a->oom || b->oom ? -ENOMEM : 0;
}
