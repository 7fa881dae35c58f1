/*
 * parse_int.h: what the parser's files share: the separator search (SWAR),
 * small character tests, the integer parsers and the tag scan, all inline
 * or internal to agent/dogstatsd/parse*.c.
 */
#ifndef METERD_PARSE_INT_H
#define METERD_PARSE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "meterd/parse.h"

static inline struct md_str mkstr(const char *p, const char *e)
{
    return (struct md_str){p, (uint32_t)(e - p)};
}

static inline bool is_digit(char c)
{
    return (unsigned)(c - '0') < 10;
}

static inline bool is_xdigit(char c)
{
    return is_digit(c) || (unsigned)((c | 0x20) - 'a') < 6;
}

static inline bool has_prefix(const char *p, size_t n, const char *pre, size_t pn)
{
    return n >= pn && memcmp(p, pre, pn) == 0;
}

/*
 * memchr for the short spans of a statsd line: names, values and tags are
 * mostly under 32 bytes, where a libc call costs more than the search.
 * Eight bytes a step (SWAR). swar_match has the high bit of a byte set
 * exactly where that byte of w equals c (no borrow runs between bytes, so
 * '-' is never taken for ','). A tail shorter than eight bytes is one more
 * load that ends at e, reaching back no further than lo (the start of the
 * buffer the span lies in), with the bytes before p masked off; so no load
 * leaves [lo, e).
 */
#define SWAR_LOW7 UINT64_C(0x7f7f7f7f7f7f7f7f)

static inline uint64_t swar_match(const char *p, uint64_t pat)
{
    uint64_t x;
    memcpy(&x, p, 8);
    x ^= pat;
    return ~(((x & SWAR_LOW7) + SWAR_LOW7) | x | SWAR_LOW7);
}

static inline const char *find_lo(const char *lo, const char *p, const char *e, char c)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t pat = UINT64_C(0x0101010101010101) * (uint8_t)c;
    for (; e - p >= 8; p += 8) {
        uint64_t z = swar_match(p, pat);
        if (z)
            return p + (__builtin_ctzll(z) >> 3);
    }
    if (p == e)
        return NULL;
    if (e - lo >= 8) {
        uint64_t z = swar_match(e - 8, pat) & (~UINT64_C(0) << (8 * (8 - (e - p))));
        return z ? e - 8 + (__builtin_ctzll(z) >> 3) : NULL;
    }
#else
    (void)lo;
#endif
    for (; p < e; p++)
        if (*p == c)
            return p;
    return NULL;
}

static inline const char *find(const char *p, const char *e, char c)
{
    return find_lo(p, p, e, c);
}

struct md_parse_tag_scan {
    uint32_t ntags;
    bool has_host, has_card;
    struct md_str host, pod_uid, card;
};

/* One walk over a tag list: what is forwarded, host:, entity id and card (parse.c). */
void md_parse_tag_scan(struct md_str tags, struct md_parse_tag_scan *ts);
/* Values the fast path of md_parse_double (parse.c) does not take (parse_num.c). */
int md_parse_double_slow(const char *p, size_t len, double *out);
/* Exact integers of the grammar: no sign for u64, no spaces, no junk (parse_num.c). */
bool md_parse_i64(const char *p, size_t len, int64_t *out);
bool md_parse_u64(const char *p, size_t len, uint64_t *out);
/* An error result for out (parse.c). */
enum md_msg_kind md_parse_fail(struct md_msg *out, enum md_parse_error e);
/* `_e{...}` and `_sc|...` lines (parse_event.c). */
enum md_msg_kind md_parse_event(char *line, size_t len, struct md_msg *out);
enum md_msg_kind md_parse_check(char *line, size_t len, struct md_msg *out);

#endif
