/*
 * buf.h: a growable byte buffer and a small streaming JSON writer on it.
 *
 * Everything meterd writes as JSON (series payloads, `meterd parse` output,
 * /status) goes through these few functions, so string escaping and number
 * formatting are right in one place. Numbers are written with %.17g so they
 * round-trip exactly; non-finite numbers are the caller's job (JSON has no
 * NaN), md_json_num writes them as null.
 */
#ifndef METERD_BUF_H
#define METERD_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct md_buf {
    char *p;
    size_t len, cap;
    bool oom; /* a grow failed; the content is truncated */
};

void md_buf_init(struct md_buf *b);
void md_buf_free(struct md_buf *b);
void md_buf_reset(struct md_buf *b);
int md_buf_reserve(struct md_buf *b, size_t extra);
void md_buf_add(struct md_buf *b, const void *p, size_t n);
void md_buf_puts(struct md_buf *b, const char *s);
void md_buf_putc(struct md_buf *b, char c);
void md_buf_printf(struct md_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand the bytes to the caller (NUL-terminated); the buffer is left empty. */
char *md_buf_steal(struct md_buf *b, size_t *len);

/* JSON pieces. */
/*
 * Quoted and escaped; always valid UTF-8 (a strict parser refuses the
 * whole document otherwise): each byte that does not start a valid
 * sequence becomes U+FFFD. Returns how many were replaced.
 */
size_t md_json_str(struct md_buf *b, const char *s, size_t n);
size_t md_json_cstr(struct md_buf *b, const char *s);
/* Length of the valid UTF-8 sequence starting at s (n bytes left), 0 when there is none. */
size_t md_utf8_len(const unsigned char *s, size_t n);
/* s then t (or NULL) as one string; returns the bytes replaced, as md_json_str. */
size_t md_json_cat(struct md_buf *b, const char *s, const char *t);
void md_json_num(struct md_buf *b, double v); /* %.17g trimmed; null when not finite */
void md_json_int(struct md_buf *b, int64_t v);

#endif
