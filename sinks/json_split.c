/*
 * json_split.c: cut a JSON array document in two halves (see json_split.h).
 *
 * The forwarder keeps only the encoded, compressed payload (which may have
 * come back from the disk spool after a restart), so a 413 is answered by
 * re-cutting that text rather than re-encoding a frame that no longer
 * exists. The scan needs only to know where top-level items end: it
 * tracks strings (with escapes) and bracket depth, nothing else.
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

/*
 * The Datadog sink's bodies: series ({"series":[...]}) and service checks
 * ([...]) are one JSON array and are cut in two; event envelopes and
 * sketch protobufs are not (both are small next to the limits), so such a
 * payload is dropped by the forwarder and counted as too_big.
 */
int md_json_split_datadog(const char *body, size_t len, size_t nitems, struct md_buf *a,
                          size_t *na, struct md_buf *b, size_t *nb)
{
    static const char series[] = "{\"series\":[";
    bool is_series = len > sizeof series && memcmp(body, series, sizeof series - 1) == 0;
    if (nitems < 2 || (!is_series && !(len && body[0] == '[')))
        return -EINVAL;
    return md_json_split_array(body, len, a, na, b, nb);
}
