/*
 * buf.c: growable buffer and JSON writer (see buf.h for why they exist).
 */
#include "buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void md_buf_init(struct md_buf *b)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

void md_buf_free(struct md_buf *b)
{
    free(b->p);
    md_buf_init(b);
}

void md_buf_reset(struct md_buf *b)
{
    b->len = 0;
    b->oom = false;
}

int md_buf_reserve(struct md_buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    size_t need = b->len + extra + 1; /* room for a NUL */
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void md_buf_add(struct md_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (md_buf_reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void md_buf_puts(struct md_buf *b, const char *s)
{
    md_buf_add(b, s, strlen(s));
}

void md_buf_putc(struct md_buf *b, char c)
{
    md_buf_add(b, &c, 1);
}

void md_buf_printf(struct md_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        md_buf_add(b, tmp, (size_t)n);
        return;
    }
    if (md_buf_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *md_buf_steal(struct md_buf *b, size_t *len)
{
    if (md_buf_reserve(b, 0) != 0) {
        md_buf_free(b);
        if (len)
            *len = 0;
        return NULL;
    }
    char *p = b->p;
    if (len)
        *len = b->len;
    md_buf_init(b);
    return p;
}

size_t md_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* The escaped bytes of s, without quotes; returns the bytes replaced by U+FFFD. */
static size_t json_body(struct md_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t bad = 0;
    size_t run = 0; /* bytes copied in one go between escapes */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t l = md_utf8_len((const unsigned char *)s + i, n - i);
            if (l) {
                i += l - 1;
                continue;
            }
            md_buf_add(b, s + run, i - run); /* not UTF-8: U+FFFD in its place */
            md_buf_add(b, "\\ufffd", 6);
            run = i + 1;
            bad++;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        md_buf_add(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': md_buf_add(b, "\\\"", 2); break;
        case '\\': md_buf_add(b, "\\\\", 2); break;
        case '\n': md_buf_add(b, "\\n", 2); break;
        case '\r': md_buf_add(b, "\\r", 2); break;
        case '\t': md_buf_add(b, "\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            md_buf_add(b, u, 6);
        }
        }
    }
    md_buf_add(b, s + run, n - run);
    return bad;
}

size_t md_json_str(struct md_buf *b, const char *s, size_t n)
{
    if (md_buf_reserve(b, n + 2) != 0)
        return 0;
    md_buf_putc(b, '"');
    size_t bad = json_body(b, s, n);
    md_buf_putc(b, '"');
    return bad;
}

size_t md_json_cat(struct md_buf *b, const char *s, const char *t)
{
    md_buf_putc(b, '"');
    size_t bad = json_body(b, s ? s : "", s ? strlen(s) : 0);
    if (t)
        bad += json_body(b, t, strlen(t));
    md_buf_putc(b, '"');
    return bad;
}

size_t md_json_cstr(struct md_buf *b, const char *s)
{
    return md_json_str(b, s, strlen(s));
}

void md_json_num(struct md_buf *b, double v)
{
    if (!isfinite(v)) {
        md_buf_add(b, "null", 4);
        return;
    }
    char tmp[40];
    /* Shortest of %.15g / %.17g that round-trips, so 0.1 prints as 0.1. */
    int n = snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v)
        n = snprintf(tmp, sizeof tmp, "%.17g", v);
    md_buf_add(b, tmp, (size_t)n);
}

void md_json_int(struct md_buf *b, int64_t v)
{
    md_buf_printf(b, "%lld", (long long)v);
}
