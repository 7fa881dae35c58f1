/*
 * sketch_pb.c: SketchPayload protobuf encoder (see sketch_pb.h for the schema).
 *
 * Protobuf prefixes every nested message with its length, so each message is
 * sized first (exactly, by the same rules that write it) and the payload is
 * then written straight into one reservation of the output buffer. Zero
 * scalars and empty strings are left out, as proto3 encoders do; the empty
 * CommonMetadata is still written once, as the agent (gogoproto,
 * non-nullable) does. Strings go out as valid UTF-8 (U+FFFD for bytes that
 * are not), as in the series payloads.
 */
#include "sketch_pb.h"

#include <errno.h>
#include <math.h>
#include <string.h>

enum { PB_VARINT = 0, PB_FIXED64 = 1, PB_LEN = 2 };

/* Field numbers (agent-payload proto/metrics/agent_payload.proto). */
enum { PAYLOAD_SKETCHES = 1, PAYLOAD_METADATA = 2 };
enum { SKETCH_METRIC = 1, SKETCH_HOST = 2, SKETCH_TAGS = 4, SKETCH_DOGSKETCHES = 7 };
enum { DOG_TS = 1, DOG_CNT = 2, DOG_MIN = 3, DOG_MAX = 4, DOG_AVG = 5, DOG_SUM = 6,
       DOG_K = 7, DOG_N = 8 };

static size_t pb_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint32_t pb_zigzag32(int32_t v)
{
    return ((uint32_t)v << 1) ^ (v < 0 ? UINT32_MAX : 0);
}

static uint8_t *pb_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* All our field numbers are below 16, so a tag is one byte. */
static uint8_t *pb_tag(uint8_t *p, unsigned field, unsigned wire)
{
    *p++ = (uint8_t)(field << 3 | wire);
    return p;
}

static uint8_t *pb_double(uint8_t *p, unsigned field, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    p = pb_tag(p, field, PB_FIXED64);
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(bits >> (8 * i)); /* little-endian on the wire */
    return p;
}

static size_t pb_len_field(size_t n)
{
    return 1 + pb_varint_len(n) + n;
}

/*
 * Bytes of s on the wire: valid UTF-8, each byte that does not start a
 * valid sequence written as U+FFFD, as in the series payloads (a proto3
 * parser refuses a message holding a string that is not UTF-8).
 */
static size_t pb_str_len(const char *s)
{
    size_t n = 0, len = s ? strlen(s) : 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : md_utf8_len((const unsigned char *)s + i, len - i);
        n += l ? l : 3;
        i += l ? l : 1;
    }
    return n;
}

static uint8_t *pb_str(uint8_t *p, unsigned field, const char *s)
{
    size_t len = strlen(s);
    p = pb_tag(p, field, PB_LEN);
    p = pb_varint(p, pb_str_len(s));
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : md_utf8_len((const unsigned char *)s + i, len - i);
        if (l) {
            memcpy(p, s + i, l);
            p += l;
            i += l;
        } else {
            memcpy(p, "\xef\xbf\xbd", 3);
            p += 3;
            i++;
        }
    }
    return p;
}

/* cnt is a double in the frame, an int64 on the wire. */
static int64_t sk_count(const struct md_sketch_series *s)
{
    if (!(s->count > 0))
        return 0;
    if (s->count >= 9.2e18)
        return INT64_MAX;
    return (int64_t)llround(s->count);
}

static size_t sk_keys_len(const struct md_sketch_series *s)
{
    size_t n = 0;
    for (uint32_t i = 0; i < s->nbins; i++)
        n += pb_varint_len(pb_zigzag32(s->bin_keys[i]));
    return n;
}

static size_t sk_counts_len(const struct md_sketch_series *s)
{
    size_t n = 0;
    for (uint32_t i = 0; i < s->nbins; i++)
        n += pb_varint_len(s->bin_counts[i]);
    return n;
}

static size_t sk_dog_len(const struct md_sketch_series *s)
{
    size_t n = 0;
    int64_t cnt = sk_count(s);
    if (s->timestamp != 0)
        n += 1 + pb_varint_len((uint64_t)s->timestamp);
    if (cnt != 0)
        n += 1 + pb_varint_len((uint64_t)cnt);
    const double d[] = {s->min, s->max, s->avg, s->sum};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
        if (d[i] != 0)
            n += 9;
    if (s->nbins) {
        n += pb_len_field(sk_keys_len(s));
        n += pb_len_field(sk_counts_len(s));
    }
    return n;
}

static size_t sk_sketch_len(const struct md_sketch_series *s, size_t dog)
{
    size_t n = 0, l;
    if ((l = pb_str_len(s->name)) != 0)
        n += pb_len_field(l);
    if (s->key && (l = pb_str_len(s->key->host)) != 0)
        n += pb_len_field(l);
    for (uint32_t i = 0; s->key && i < s->key->ntags; i++)
        n += pb_len_field(pb_str_len(s->key->tags[i]));
    return n + pb_len_field(dog);
}

size_t md_sketch_pb_item_size(const struct md_sketch_series *s)
{
    return pb_len_field(sk_sketch_len(s, sk_dog_len(s)));
}

static uint8_t *sk_write_dog(uint8_t *p, const struct md_sketch_series *s, size_t dog)
{
    p = pb_tag(p, SKETCH_DOGSKETCHES, PB_LEN);
    p = pb_varint(p, dog);
    int64_t cnt = sk_count(s);
    if (s->timestamp != 0) {
        p = pb_tag(p, DOG_TS, PB_VARINT);
        p = pb_varint(p, (uint64_t)s->timestamp);
    }
    if (cnt != 0) {
        p = pb_tag(p, DOG_CNT, PB_VARINT);
        p = pb_varint(p, (uint64_t)cnt);
    }
    const double d[] = {s->min, s->max, s->avg, s->sum};
    const unsigned fields[] = {DOG_MIN, DOG_MAX, DOG_AVG, DOG_SUM};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
        if (d[i] != 0)
            p = pb_double(p, fields[i], d[i]);
    if (s->nbins) {
        p = pb_tag(p, DOG_K, PB_LEN);
        p = pb_varint(p, sk_keys_len(s));
        for (uint32_t i = 0; i < s->nbins; i++)
            p = pb_varint(p, pb_zigzag32(s->bin_keys[i]));
        p = pb_tag(p, DOG_N, PB_LEN);
        p = pb_varint(p, sk_counts_len(s));
        for (uint32_t i = 0; i < s->nbins; i++)
            p = pb_varint(p, s->bin_counts[i]);
    }
    return p;
}

static uint8_t *sk_write(uint8_t *p, const struct md_sketch_series *s)
{
    size_t dog = sk_dog_len(s);
    p = pb_tag(p, PAYLOAD_SKETCHES, PB_LEN);
    p = pb_varint(p, sk_sketch_len(s, dog));
    if (pb_str_len(s->name) != 0)
        p = pb_str(p, SKETCH_METRIC, s->name);
    if (s->key && pb_str_len(s->key->host) != 0)
        p = pb_str(p, SKETCH_HOST, s->key->host);
    for (uint32_t i = 0; s->key && i < s->key->ntags; i++)
        p = pb_str(p, SKETCH_TAGS, s->key->tags[i]);
    return sk_write_dog(p, s, dog);
}

int md_sketch_pb_encode(const struct md_frame *f, size_t first, size_t max_items,
                        struct md_buf *out, size_t *encoded)
{
    if (encoded)
        *encoded = 0;
    if (first >= f->nsketches || max_items == 0)
        return -EINVAL;
    size_t n = f->nsketches - first;
    if (n > max_items)
        n = max_items;
    size_t total = MD_SKETCH_PB_OVERHEAD;
    for (size_t i = 0; i < n; i++)
        total += md_sketch_pb_item_size(&f->sketches[first + i]);
    if (md_buf_reserve(out, total) != 0)
        return -ENOMEM;
    uint8_t *start = (uint8_t *)out->p + out->len, *p = start;
    for (size_t i = 0; i < n; i++)
        p = sk_write(p, &f->sketches[first + i]);
    p = pb_tag(p, PAYLOAD_METADATA, PB_LEN);
    p = pb_varint(p, 0);
    if ((size_t)(p - start) != total)
        return -EINVAL; /* sizing and writing disagree: a bug, never ship it */
    out->len += total;
    out->p[out->len] = '\0';
    if (encoded)
        *encoded = n;
    return 0;
}
