/*
 * parse_num.c: the numbers of the DogStatsD grammar.
 *
 * The slow path of values (exponents past the fast path, hex, long
 * mantissas, Go's inf/nan spellings), checked against the grammar before
 * strtod sees them, and the exact integers (timestamps, container inodes),
 * with no sign where none is allowed. The fast path for the short decimals
 * clients send stays in parse.c, next to its caller. Called on the intake
 * threads: no allocation, no lock.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "parse_int.h"

/* --- numbers ------------------------------------------------------------ */

/* Longest number text handed to strtod; longer ones are refused, since the
 * copy lives on the stack of an intake thread. */
#define MD_NUM_MAX 255

/* Go's special values: inf/infinity with an optional sign, nan without. */
static int parse_special(const char *p, size_t len, double *out)
{
    bool neg = false;
    size_t i = 0;
    if (len && (p[0] == '+' || p[0] == '-')) {
        neg = p[0] == '-';
        i = 1;
    }
    size_t n = len - i;
    if ((n == 3 && strncasecmp(p + i, "inf", 3) == 0) ||
        (n == 8 && strncasecmp(p + i, "infinity", 8) == 0)) {
        *out = neg ? -INFINITY : INFINITY;
        return 0;
    }
    if (i == 0 && n == 3 && strncasecmp(p, "nan", 3) == 0) {
        *out = NAN;
        return 0;
    }
    return -EINVAL;
}

/* digits[.digits] of one base at *s; how many digits (both sides of the point). */
static size_t syntax_mantissa(const char **sp, const char *e, bool (*digit)(char))
{
    const char *s = *sp;
    size_t nd = 0;
    while (s < e && digit(*s))
        s++, nd++;
    if (s < e && *s == '.')
        for (s++; s < e && digit(*s); s++)
            nd++;
    *sp = s;
    return nd;
}

/* [sign]digits (decimal, whatever the mantissa's base), to the end e. */
static bool syntax_exponent(const char *s, const char *e)
{
    if (s < e && (*s == '+' || *s == '-'))
        s++;
    size_t ne = 0;
    while (s < e && is_digit(*s))
        s++, ne++;
    return ne > 0 && s == e;
}

/* digits[.digits][e[sign]digits], at least one mantissa digit. No '_':
 * Go allows it, the corpus recommends refusing it (quirk val-underscore). */
static bool syntax_decimal(const char *s, const char *e)
{
    if (syntax_mantissa(&s, e, is_digit) == 0)
        return false;
    if (s < e && (*s | 0x20) == 'e')
        return syntax_exponent(s + 1, e);
    return s == e;
}

/* After "0x": hex mantissa with optional point, then a mandatory p exponent
 * (Go refuses "0x10"; strtod would read it as 16). */
static bool syntax_hex(const char *s, const char *e)
{
    if (syntax_mantissa(&s, e, is_xdigit) == 0 || s == e || (*s | 0x20) != 'p')
        return false;
    return syntax_exponent(s + 1, e);
}

int md_parse_double_slow(const char *p, size_t len, double *out)
{
    if (parse_special(p, len, out) == 0)
        return 0;
    const char *s = p, *e = p + len;
    if (s < e && (*s == '+' || *s == '-'))
        s++;
    bool ok;
    if (e - s >= 2 && s[0] == '0' && (s[1] | 0x20) == 'x')
        ok = syntax_hex(s + 2, e);
    else
        ok = syntax_decimal(s, e);
    if (!ok || len > MD_NUM_MAX)
        return -EINVAL;
    /* The syntax is now known to be one strtod reads whole; it only needs
     * the NUL terminator the receive buffer does not have. */
    char tmp[MD_NUM_MAX + 1];
    memcpy(tmp, p, len);
    tmp[len] = 0;
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + len)
        return -EINVAL;
    if (isinf(v)) /* specials were handled above: this is an overflow */
        return -ERANGE;
    *out = v; /* underflow gives 0 or a subnormal, as Go does */
    return 0;
}

/* Go strconv.ParseInt(s, 10, 64): optional sign, decimal digits, no overflow. */
bool md_parse_i64(const char *p, size_t len, int64_t *out)
{
    const char *s = p, *e = p + len;
    bool neg = false;
    if (s < e && (*s == '+' || *s == '-')) {
        neg = *s == '-';
        s++;
    }
    if (s == e)
        return false;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; s < e; s++) {
        if (!is_digit(*s))
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (lim - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* strconv.ParseUint(s, 10, 64): digits only. */
bool md_parse_u64(const char *p, size_t len, uint64_t *out)
{
    if (len == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(p[i]))
            return false;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}
