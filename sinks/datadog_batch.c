/*
 * datadog_batch.c: the Datadog sink's payloads, filled under an intake's
 * limits while they are compressed.
 *
 * Items are streamed into the compressor (zstream.h: zstd or zlib, by
 * serializer_compressor_kind) as they are written,
 * and a new payload starts before the next item would pass a limit of the
 * endpoint (bytes compressed and uncompressed, and for v2 series a count),
 * so the uncompressed body of a window never sits in memory and no payload
 * earns a 413. An item too large to fit a payload on its own cannot be
 * sent at all: it is handed to the forwarder as a bodiless too_big marker
 * (sink.h), so the drop is counted in the forwarder's ledger by reason
 * and logged there at most once a minute, rather than a line per item.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "datadog_int.h"
#include "log.h"

static char *dd_header(const char *name, const char *value)
{
    struct md_buf b;
    md_buf_init(&b);
    md_buf_printf(&b, "%s: %s", name, value);
    return md_buf_steal(&b, NULL);
}

struct md_payload *md_dd_payload_new(struct dd_state *st, const char *path,
                                     const char *content_type)
{
    struct md_payload *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    struct md_buf u;
    md_buf_init(&u);
    md_buf_puts(&u, st->base);
    md_buf_puts(&u, path);
    p->url = md_buf_steal(&u, NULL);
    p->content_type = content_type;
    p->compress = true;
    p->sink = "datadog";
    if (st->api_key[0])
        p->headers[p->nheaders++] = dd_header("DD-API-KEY", st->api_key);
    p->headers[p->nheaders++] = dd_header("Content-Type", content_type);
    p->headers[p->nheaders++] = dd_header("User-Agent", "meterd/" METERD_VERSION);
    bool ok = p->url != NULL;
    for (unsigned i = 0; i < p->nheaders; i++)
        ok = ok && p->headers[i];
    if (!ok) {
        md_payload_free(p);
        return NULL;
    }
    return p;
}

void md_dd_list_append(struct md_payload **out, struct md_payload *p)
{
    while (*out)
        out = &(*out)->next;
    *out = p;
}

void md_dd_batch_json(struct dd_batch *b, struct dd_state *st, const char *path,
                      const char *tail, struct md_payload **out)
{
    *b = (struct dd_batch){.st = st, .path = path, .content_type = "application/json",
                           .limit = st->limit, .climit = st->climit, .tail = tail, .out = out};
}

/* Close the current body and queue it as a payload. */
static void dd_batch_emit(struct dd_batch *b)
{
    if (!b->nitems)
        return;
    struct md_payload *p = md_dd_payload_new(b->st, b->path, b->content_type);
    char *z = NULL;
    size_t zlen = 0;
    int rc = md_zs_finish(&b->zs, b->tail, strlen(b->tail), &z, &zlen);
    size_t n = b->nitems;
    b->nitems = 0;
    if (rc != 0 || !p || md_dd_set_body(b->st, p, z, zlen) != 0) {
        free(z);
        md_payload_free(p);
        b->rc = -ENOMEM;
        return;
    }
    p->nitems = n;
    md_dd_list_append(b->out, p);
}

int md_dd_set_body(struct dd_state *st, struct md_payload *p, char *z, size_t zlen)
{
    if (p->nheaders >= MD_PAYLOAD_MAX_HEADERS ||
        !(p->headers[p->nheaders] = dd_header("Content-Encoding", md_comp_encoding(st->comp))))
        return -ENOMEM;
    p->nheaders++;
    p->body = z;
    p->len = zlen;
    p->compress = false; /* already: the flusher leaves it alone */
    return 0;
}

int md_dd_compress_body(struct dd_state *st, struct md_payload *p, const void *plain, size_t len)
{
    void *z = NULL;
    size_t zlen = 0;
    int rc = st->comp == MD_COMP_ZSTD ? md_zstd(plain, len, st->comp_level, &z, &zlen)
                                      : md_deflate(plain, len, st->comp_level, &z, &zlen);
    if (rc == 0 && (rc = md_dd_set_body(st, p, z, zlen)) != 0)
        free(z);
    return rc;
}

void md_dd_batch_add(struct dd_batch *b, const struct md_buf *fresh, const struct md_buf *cont,
                     const struct md_buf *item)
{
    size_t tail = strlen(b->tail);
    if (item->oom || fresh->oom || cont->oom) {
        b->rc = -ENOMEM;
        return;
    }
    size_t alone = fresh->len + item->len + tail;
    if (alone > b->limit || md_comp_bound(b->st->comp, alone) > b->climit) {
        b->too_big++;
        return;
    }
    if (b->nitems && (!md_zs_fits(&b->zs, cont->len + item->len) ||
                      (b->max_items && b->nitems >= b->max_items)))
        dd_batch_emit(b);
    if (b->nitems) {
        md_zs_write(&b->zs, cont->p, cont->len);
        md_zs_write(&b->zs, item->p, item->len);
        b->nitems++;
        return;
    }
    if (md_zs_begin(&b->zs, b->st->comp, b->st->comp_level, b->climit, b->limit,
                    fresh->p ? fresh->p : "", fresh->len, tail) != 0) {
        md_zs_abort(&b->zs);
        b->rc = -ENOMEM;
        return;
    }
    if (!md_zs_fits(&b->zs, item->len)) {
        b->too_big++;
        md_zs_abort(&b->zs);
        return;
    }
    md_zs_write(&b->zs, item->p, item->len);
    b->nitems = 1;
}

/* The items no payload could hold, as one marker for the forwarder's ledger. */
static void dd_batch_too_big(struct dd_batch *b)
{
    if (!b->too_big)
        return;
    struct md_payload *p = md_dd_payload_new(b->st, b->path, b->content_type);
    if (!p) {
        b->rc = -ENOMEM;
        return;
    }
    p->too_big = true;
    p->compress = false;
    p->nitems = b->too_big;
    b->too_big = 0;
    md_dd_list_append(b->out, p);
}

void md_dd_batch_end(struct dd_batch *b)
{
    dd_batch_emit(b);
    md_zs_abort(&b->zs);
    dd_batch_too_big(b);
}

void md_dd_note_utf8(struct dd_state *st, size_t bad)
{
    if (!bad)
        return;
    unsigned long long n = atomic_fetch_add(&st->utf8_fixed, bad) + bad;
    long long now = (long long)time(NULL), last = atomic_load(&st->utf8_logged);
    if (now - last < 60 || !atomic_compare_exchange_strong(&st->utf8_logged, &last, now))
        return;
    atomic_fetch_sub(&st->utf8_fixed, n);
    md_warn("datadog: %llu byte(s) of invalid UTF-8 in metric names, tags or hosts replaced by "
            "U+FFFD since the last such line",
            n);
}

size_t md_dd_json_tags(struct md_buf *b, const struct md_series_key *k, const char **device)
{
    md_buf_putc(b, '[');
    bool first = true;
    size_t bad = 0;
    for (uint32_t i = 0; k && i < k->ntags; i++) {
        const char *t = k->tags[i];
        /* The Datadog agent moves device:<x> into its own field; the last one wins. */
        if (device && strncmp(t, "device:", 7) == 0) {
            *device = t + 7;
            continue;
        }
        if (!first)
            md_buf_putc(b, ',');
        bad += md_json_cstr(b, t);
        first = false;
    }
    md_buf_putc(b, ']');
    return bad;
}
