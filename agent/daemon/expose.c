/*
 * expose.c: the last window's series as OpenMetrics text (see expose.h).
 *
 * A part keeps its lines in one text buffer and an index of them sorted
 * by (metric name, name and labels), so writing /metrics is one pass that
 * puts a TYPE line before each family and skips a second sample of the
 * same series (two names that sanitise alike), which a scraper would
 * otherwise reject as a duplicate. Merging the parts of one window is a
 * linear merge of two sorted indexes.
 */
#include "expose.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "prometheus_rw.h"

struct expose_line {
    uint32_t off;      /* into the part's text */
    uint32_t name_len; /* metric name */
    uint32_t key_len;  /* name and labels */
    uint32_t len;      /* the whole line, '\n' included */
};

struct md_expose_part {
    int64_t start; /* the window's */
    struct md_buf text;
    struct expose_line *lines;
    size_t n;
};

struct md_expose {
    struct md_expose_part *cur;
};

static int expose_cmp(const struct expose_line *a, const struct expose_line *b, const char *ta,
                      const char *tb)
{
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(ta + a->off, tb + b->off, n);
    if (c || a->name_len != b->name_len)
        return c ? c : a->name_len < b->name_len ? -1 : 1;
    n = a->key_len < b->key_len ? a->key_len : b->key_len;
    c = memcmp(ta + a->off, tb + b->off, n);
    return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

static int expose_qcmp(const void *a, const void *b, void *text)
{
    return expose_cmp(a, b, text, text);
}

void md_expose_part_free(struct md_expose_part *p)
{
    if (!p)
        return;
    md_buf_free(&p->text);
    free(p->lines);
    free(p);
}

/* One series' line; false when it is left out (the agent's own meterd.* telemetry). */
static bool expose_line(struct md_expose_part *p, const struct md_series *s, struct expose_line *l)
{
    struct md_buf *t = &p->text;
    l->off = (uint32_t)t->len;
    md_prw_series_text(s, t);
    const char *name = t->p ? t->p + l->off : "";
    l->name_len = (uint32_t)strcspn(name, "{");
    l->key_len = (uint32_t)(t->len - l->off);
    if (l->name_len >= 7 && strncmp(name, "meterd_", 7) == 0) {
        t->len = l->off;
        return false;
    }
    md_buf_putc(t, ' ');
    md_json_num(t, s->value);
    md_buf_printf(t, " %" PRId64 "\n", s->timestamp);
    l->len = (uint32_t)(t->len - l->off);
    return true;
}

struct md_expose_part *md_expose_render(const struct md_frame *f)
{
    struct md_expose_part *p = calloc(1, sizeof *p);
    if (!p || !(p->lines = malloc((f->nseries ? f->nseries : 1) * sizeof *p->lines))) {
        free(p);
        return NULL;
    }
    p->start = f->start;
    md_buf_init(&p->text);
    for (size_t i = 0; i < f->nseries; i++)
        p->n += expose_line(p, &f->series[i], &p->lines[p->n]);
    if (p->text.oom) {
        md_expose_part_free(p);
        return NULL;
    }
    qsort_r(p->lines, p->n, sizeof *p->lines, expose_qcmp, p->text.p);
    return p;
}

struct md_expose *md_expose_new(void)
{
    return calloc(1, sizeof(struct md_expose));
}

void md_expose_free(struct md_expose *e)
{
    if (!e)
        return;
    md_expose_part_free(e->cur);
    free(e);
}

/* b's lines into a (same window): texts appended, indexes merged. b is freed. */
static void expose_merge(struct md_expose_part *a, struct md_expose_part *b)
{
    size_t shift = a->text.len, n = a->n + b->n;
    struct expose_line *v = malloc((n ? n : 1) * sizeof *v);
    md_buf_add(&a->text, b->text.p, b->text.len);
    if (!v || a->text.oom) { /* keep a as it was */
        free(v);
        a->text.len = shift;
        md_expose_part_free(b);
        return;
    }
    size_t i = 0, j = 0, k = 0;
    while (i < a->n || j < b->n) {
        if (j == b->n || (i < a->n && expose_cmp(&a->lines[i], &b->lines[j], a->text.p,
                                                 b->text.p) <= 0)) {
            v[k++] = a->lines[i++];
        } else {
            v[k] = b->lines[j++];
            v[k++].off += (uint32_t)shift;
        }
    }
    free(a->lines);
    a->lines = v;
    a->n = n;
    md_expose_part_free(b);
}

void md_expose_add(struct md_expose *e, struct md_expose_part *part)
{
    if (!part)
        return;
    if (!e->cur || part->start > e->cur->start) {
        md_expose_part_free(e->cur);
        e->cur = part;
    } else if (part->start == e->cur->start) {
        expose_merge(e->cur, part);
    } else {
        md_expose_part_free(part); /* a late part of an older window */
    }
}

void md_expose_write(const struct md_expose *e, struct md_buf *b)
{
    const struct md_expose_part *p = e->cur;
    const struct expose_line *prev = NULL;
    for (size_t i = 0; p && i < p->n; i++) {
        const struct expose_line *l = &p->lines[i];
        const char *t = p->text.p + l->off;
        if (prev && prev->key_len == l->key_len &&
            memcmp(p->text.p + prev->off, t, l->key_len) == 0)
            continue; /* the same series twice: the first one stays */
        if (!prev || prev->name_len != l->name_len ||
            memcmp(p->text.p + prev->off, t, l->name_len) != 0)
            md_buf_printf(b, "# TYPE %.*s gauge\n", (int)l->name_len, t);
        md_buf_add(b, t, l->len);
        prev = l;
    }
}
