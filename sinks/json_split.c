/*
 * json_split.c: cut a JSON document of items in two halves (see
 * json_split.h): one array (series, service checks), or the Datadog events
 * envelope, an object of arrays by source type.
 *
 * The forwarder keeps only the encoded, compressed payload (which may have
 * come back from the disk spool after a restart), so a 413 is answered by
 * re-cutting that text rather than re-encoding a frame that no longer
 * exists. The scan needs only to know where items end: it tracks strings
 * (with escapes) and bracket depth, nothing else.
 */
#include "json_split.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/*
 * Scan the array opened at `open`: returns the number of top-level commas
 * (items - 1) or -1 when the array never closes; *close gets the offset of
 * its ']' and *cut that of comma number `want` (1-based; 0 = none).
 */
static long json_scan(const char *s, size_t len, size_t open, size_t want, size_t *cut,
                      size_t *close)
{
    int depth = 0;
    bool in_str = false, esc = false;
    size_t n = 0;
    for (size_t i = open; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            depth++;
        } else if ((c == ']' || c == '}') && --depth == 0) {
            *close = i;
            return (long)n;
        } else if (c == ',' && depth == 1 && ++n == want) {
            *cut = i;
        }
    }
    return -1;
}

int md_json_split_array(const char *body, size_t len, struct md_buf *a, size_t *na,
                        struct md_buf *b, size_t *nb)
{
    const char *open = memchr(body, '[', len);
    if (!open)
        return -EINVAL;
    size_t o = (size_t)(open - body), close = 0, cut = 0;
    long commas = json_scan(body, len, o, 0, &cut, &close);
    if (commas < 1)
        return -EINVAL;
    size_t items = (size_t)commas + 1, half = items / 2;
    json_scan(body, len, o, half, &cut, &close);
    md_buf_add(a, body, o + 1);
    md_buf_add(a, body + o + 1, cut - o - 1);
    md_buf_add(a, body + close, len - close);
    md_buf_add(b, body, o + 1);
    md_buf_add(b, body + cut + 1, close - cut - 1);
    md_buf_add(b, body + close, len - close);
    *na = half;
    *nb = items - half;
    return a->oom || b->oom ? -ENOMEM : 0;
}

/* Items of the array opened at `open`: 0 for "[]", else commas + 1; -1 when it never closes. */
static long json_items(const char *s, size_t len, size_t open, size_t *close)
{
    size_t cut = 0;
    long commas = json_scan(s, len, open, 0, &cut, close);
    if (commas < 0)
        return -1;
    return commas == 0 && *close == open + 1 ? 0 : commas + 1;
}

/* One "group":[...] of an events object: offsets of its key, its '[' and its ']'. */
struct json_group {
    size_t key, open, close;
    size_t n;
};

/*
 * The group that starts at *i inside the object (after its '{' or a
 * group): 1 with *g filled and *i past it, 0 at the object's '}' (*i on
 * it), -1 when it does not parse. Walking the groups again rather than
 * keeping them leaves no limit on how many source types one body holds.
 */
static int json_group_next(const char *s, size_t len, size_t *i, struct json_group *g)
{
    size_t p = *i;
    if (p < len && s[p] == '}')
        return 0;
    if (p >= len || s[p] != '"')
        return -1;
    g->key = p;
    for (p++; p < len && s[p] != '"'; p++)
        p += s[p] == '\\';
    if (p + 2 >= len || s[p + 1] != ':' || s[p + 2] != '[')
        return -1;
    g->open = p + 2;
    long items = json_items(s, len, g->open, &g->close);
    if (items < 0)
        return -1;
    g->n = (size_t)items;
    p = g->close + 1;
    if (p < len && s[p] == ',')
        p++;
    *i = p;
    return 1;
}

/* Group `g` with items [from, to) of its array, after a ',' unless first. */
static void json_group_part(struct md_buf *out, const char *s, size_t len,
                            const struct json_group *g, size_t from, size_t to, bool first)
{
    size_t cut = 0, close = 0, start = g->open + 1, end = g->close;
    if (from > 0) {
        json_scan(s, len, g->open, from, &cut, &close);
        start = cut + 1;
    }
    if (to < g->n) {
        json_scan(s, len, g->open, to, &cut, &close);
        end = cut;
    }
    if (!first)
        md_buf_putc(out, ',');
    md_buf_add(out, s + g->key, g->open + 1 - g->key);
    md_buf_add(out, s + start, end - start);
    md_buf_putc(out, ']');
}

/* Items in all groups of the object opened at `open`, *close its '}'; -1 when it does not parse. */
static long json_group_total(const char *s, size_t len, size_t open, size_t *close)
{
    struct json_group g;
    size_t i = open + 1, total = 0;
    int rc;
    while ((rc = json_group_next(s, len, &i, &g)) == 1)
        total += g.n;
    if (rc < 0)
        return -1;
    *close = i;
    return (long)total;
}

int md_json_split_events(const char *body, size_t len, struct md_buf *a, size_t *na,
                         struct md_buf *b, size_t *nb)
{
    static const char key[] = "\"events\":{";
    const char *k = memmem(body, len, key, sizeof key - 1);
    size_t open = k ? (size_t)(k - body) + sizeof key - 2 : 0 /* its '{' */, close = 0;
    long total = k ? json_group_total(body, len, open, &close) : -1;
    if (total < 2)
        return -EINVAL;
    size_t half = (size_t)total / 2, seen = 0, i = open + 1;
    bool afirst = true, bfirst = true;
    struct json_group g;
    md_buf_add(a, body, open + 1);
    md_buf_add(b, body, open + 1);
    while (json_group_next(body, len, &i, &g) == 1) {
        size_t in_a = seen >= half ? 0 : half - seen < g.n ? half - seen : g.n;
        if (in_a) {
            json_group_part(a, body, len, &g, 0, in_a, afirst);
            afirst = false;
        }
        if (in_a < g.n) {
            json_group_part(b, body, len, &g, in_a, g.n, bfirst);
            bfirst = false;
        }
        seen += g.n;
    }
    md_buf_add(a, body + close, len - close);
    md_buf_add(b, body + close, len - close);
    *na = half;
    *nb = (size_t)total - half;
    return a->oom || b->oom ? -ENOMEM : 0;
}
