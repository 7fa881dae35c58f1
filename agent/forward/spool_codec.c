/*
 * spool_codec.c: a spool file's name and bytes (see spool.h).
 *
 * A file is named by its sequence number, sink and item count
 * ("00000000000001048576-datadog-812.spl"), so the index (and the item
 * counts the delivery ledger needs) is rebuilt at start from the directory
 * listing alone, and "oldest first" is the name order. It holds a small
 * header (magic, sink, URL, headers with secrets replaced by placeholders,
 * item count), the body as sent (compressed) and a CRC-32 of all that,
 * which the writer thread computes and appends.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "spool_int.h"

#define SPOOL_SECRET_FMT "@@meterd-secret-%zu@@"

void spool_name(const struct md_spool_entry *e, char *out, size_t len)
{
    snprintf(out, len, "%020" PRIu64 "-%s-%" PRIu64 ".spl", e->seq, e->sink, e->items);
}

/* "<seq: 20 digits>-<sink>-<items>.spl" */
bool spool_parse_name(const char *name, struct md_spool_entry *e)
{
    char *end;
    errno = 0;
    unsigned long long seq = strtoull(name, &end, 10);
    if (errno || end != name + 20 || *end != '-')
        return false;
    const char *sink = end + 1, *dash = strrchr(sink, '-');
    if (!dash || (size_t)(dash - sink) >= sizeof e->sink || dash == sink)
        return false;
    unsigned long long items = strtoull(dash + 1, &end, 10);
    if (errno || end == dash + 1 || strcmp(end, ".spl") != 0)
        return false;
    memset(e, 0, sizeof *e);
    e->seq = seq;
    e->items = items;
    memcpy(e->sink, sink, (size_t)(dash - sink));
    return true;
}

static void spool_put_str(struct md_buf *b, const char *v)
{
    uint32_t n = v ? (uint32_t)strlen(v) : 0;
    md_buf_add(b, &n, sizeof n);
    md_buf_add(b, v ? v : "", n);
}

/* A header (or URL) with every secret replaced by its placeholder. */
static void spool_put_header(const struct md_spool *s, struct md_buf *b, const char *h)
{
    struct md_buf t;
    md_buf_init(&t);
    const char *p = h;
    while (*p) {
        size_t best = 0, which = 0;
        for (size_t i = 0; i < s->nsecrets; i++) {
            size_t l = s->secrets[i] ? strlen(s->secrets[i]) : 0;
            if (l >= 4 && l > best && strncmp(p, s->secrets[i], l) == 0) {
                best = l;
                which = i;
            }
        }
        if (best) {
            md_buf_printf(&t, SPOOL_SECRET_FMT, which);
            p += best;
        } else {
            md_buf_putc(&t, *p++);
        }
    }
    md_buf_putc(&t, '\0');
    spool_put_str(b, t.p);
    explicit_bzero(t.p, t.len);
    md_buf_free(&t);
}

void spool_encode(const struct md_spool *s, const struct md_payload *p, struct md_buf *b)
{
    md_buf_add(b, SPOOL_MAGIC, 8);
    spool_put_str(b, p->sink);
    spool_put_header(s, b, p->url ? p->url : ""); /* a URL may hold user:password */
    bool has_ct = false;
    for (unsigned i = 0; i < p->nheaders; i++)
        has_ct = has_ct || (p->headers[i] && strncasecmp(p->headers[i], "Content-Type:", 13) == 0);
    uint32_t nh = 0;
    for (unsigned i = 0; i < p->nheaders; i++)
        nh += p->headers[i] != NULL;
    nh += !has_ct && p->content_type;
    md_buf_add(b, &nh, sizeof nh);
    for (unsigned i = 0; i < p->nheaders; i++)
        if (p->headers[i])
            spool_put_header(s, b, p->headers[i]);
    if (!has_ct && p->content_type) {
        char ct[160];
        snprintf(ct, sizeof ct, "Content-Type: %s", p->content_type);
        spool_put_str(b, ct);
    }
    uint64_t items = p->nitems, len = p->len;
    md_buf_add(b, &items, sizeof items);
    md_buf_add(b, &len, sizeof len);
    md_buf_add(b, p->body, p->len);
}

struct spool_rd {
    const char *p, *end;
    bool bad;
};

static const void *spool_get_raw(struct spool_rd *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const void *v = r->p;
    r->p += n;
    return v;
}

/* A malloc'd copy of the next string, secrets put back; NULL when bad. */
static char *spool_get_str(const struct md_spool *s, struct spool_rd *r)
{
    uint32_t n = 0;
    const void *np = spool_get_raw(r, sizeof n);
    if (np)
        memcpy(&n, np, sizeof n);
    const char *v = spool_get_raw(r, n);
    if (!v)
        return NULL;
    struct md_buf t;
    md_buf_init(&t);
    for (size_t i = 0; i < n;) {
        size_t which;
        int used = 0;
        if (v[i] == '@' && sscanf(v + i, SPOOL_SECRET_FMT "%n", &which, &used) == 1 && used > 0 &&
            (size_t)used <= n - i && which < s->nsecrets) {
            md_buf_puts(&t, s->secrets[which] ? s->secrets[which] : "");
            i += (size_t)used;
        } else {
            md_buf_putc(&t, v[i++]);
        }
    }
    md_buf_putc(&t, '\0');
    return md_buf_steal(&t, NULL);
}

static const char *spool_sink_name(const char *name)
{
    const struct md_sink_ops *ops = md_sink_lookup(name);
    return ops ? ops->name : "spooled";
}

int spool_decode(const struct md_spool *s, const char *buf, size_t len, bool has_crc,
                 struct md_payload **out)
{
    uint32_t crc;
    size_t tail = has_crc ? sizeof crc : 0;
    if (len < 8 + tail || memcmp(buf, SPOOL_MAGIC, 8) != 0)
        return -EBADMSG;
    if (has_crc) {
        memcpy(&crc, buf + len - sizeof crc, sizeof crc);
        if (crc != (uint32_t)crc32(0, (const Bytef *)buf, (uInt)(len - sizeof crc)))
            return -EBADMSG;
    }
    struct spool_rd r = {buf + 8, buf + len - tail, false};
    struct md_payload *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    char *sink = spool_get_str(s, &r);
    p->sink = spool_sink_name(sink ? sink : "");
    free(sink);
    p->url = spool_get_str(s, &r);
    uint32_t nh = 0;
    const void *nhp = spool_get_raw(&r, sizeof nh);
    if (nhp)
        memcpy(&nh, nhp, sizeof nh);
    for (uint32_t i = 0; i < nh && !r.bad; i++) {
        char *h = spool_get_str(s, &r);
        if (h && p->nheaders < MD_PAYLOAD_MAX_HEADERS)
            p->headers[p->nheaders++] = h;
        else
            free(h);
    }
    uint64_t items = 0, blen = 0;
    const void *ip = spool_get_raw(&r, sizeof items), *lp = spool_get_raw(&r, sizeof blen);
    if (ip && lp) {
        memcpy(&items, ip, sizeof items);
        memcpy(&blen, lp, sizeof blen);
    }
    const void *body = spool_get_raw(&r, (size_t)blen);
    if (r.bad || !p->url || r.p != r.end || !(p->body = malloc(blen ? blen : 1))) {
        md_payload_free(p);
        return -EBADMSG;
    }
    memcpy(p->body, body, blen);
    p->len = (size_t)blen;
    p->nitems = (size_t)items;
    *out = p;
    return 0;
}
