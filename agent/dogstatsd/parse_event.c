/*
 * parse_event.c: DogStatsD events (`_e{title,text}:...`) and service checks
 * (`_sc|name|status|...`).
 *
 * Rare next to metrics, and with a grammar of their own (length-prefixed
 * title and text, escaped newlines, their own fields), so they live apart
 * from the metric path. Both parse the receive buffer in place.
 */
#include <stdlib.h>
#include <string.h>

#include "parse_int.h"

/* --- events ------------------------------------------------------------- */

/* A header length: 1..9 decimal digits then `term`. */
static bool read_len(const char **pp, const char *end, char term, size_t *out)
{
    const char *p = *pp;
    size_t v = 0, nd = 0;
    while (p < end && is_digit(*p) && nd < 9)
        v = v * 10 + (size_t)(*p++ - '0'), nd++;
    if (nd == 0 || p >= end || *p != term)
        return false;
    *pp = p + 1;
    *out = v;
    return true;
}

/* Turn the two bytes `\n` into a newline, in place; returns the new length. */
static uint32_t unescape_nl(char *p, size_t n)
{
    char *w = p;
    const char *r = p, *e = p + n;
    while (r < e) {
        const char *b = memchr(r, '\\', (size_t)(e - r));
        if (!b)
            b = e;
        if (w != r)
            memmove(w, r, (size_t)(b - r));
        w += b - r;
        if (b == e)
            break;
        if (b + 1 < e && b[1] == 'n') {
            *w++ = '\n';
            r = b + 2;
        } else {
            *w++ = '\\';
            r = b + 1;
        }
    }
    return (uint32_t)(w - p);
}

static void event_field(struct md_event *ev, const char *f, const char *fe)
{
    size_t n = (size_t)(fe - f);
    if (f[0] == '#') {
        ev->tags = mkstr(f + 1, fe);
        return;
    }
    if (n < 2 || f[1] != ':')
        return;
    struct md_str v = mkstr(f + 2, fe);
    switch (f[0]) {
    case 'd': {
        int64_t ts;
        if (md_parse_i64(v.p, v.len, &ts)) /* a bad d: is ignored, never fatal */
            ev->timestamp = ts;
        break;
    }
    case 'h': ev->host = v; break;
    case 'k': ev->aggregation_key = v; break;
    case 's': ev->source_type_name = v; break;
    case 'p':
        if (v.len == 6 && memcmp(v.p, "normal", 6) == 0)
            ev->priority = MD_PRIORITY_NORMAL;
        else if (v.len == 3 && memcmp(v.p, "low", 3) == 0)
            ev->priority = MD_PRIORITY_LOW;
        break;
    case 't':
        if (v.len == 4 && memcmp(v.p, "info", 4) == 0)
            ev->alert_type = MD_ALERT_INFO;
        else if (v.len == 7 && memcmp(v.p, "success", 7) == 0)
            ev->alert_type = MD_ALERT_SUCCESS;
        else if (v.len == 7 && memcmp(v.p, "warning", 7) == 0)
            ev->alert_type = MD_ALERT_WARNING;
        else if (v.len == 5 && memcmp(v.p, "error", 5) == 0)
            ev->alert_type = MD_ALERT_ERROR;
        break;
    }
}

/*
 * _e{<title bytes>,<text bytes>}:<title>|<text>[|field]...
 * Deviation from the Agent (corpus quirks event-missing-separator and
 * event-text-shorter-than-declared-extra, recommended fix): the byte after
 * the title must be '|' and the byte after the text must be '|' or the end,
 * so a wrong length is an error instead of a silently cut event.
 */
enum md_msg_kind md_parse_event(char *line, size_t len, struct md_msg *out)
{
    const char *end = line + len;
    const char *p = line + 3;
    size_t tl, xl;
    if (!read_len(&p, end, ',', &tl) || !read_len(&p, end, '}', &xl) || p >= end || *p != ':')
        return md_parse_fail(out, MD_PERR_EVENT_HEADER);
    p++;
    size_t rem = (size_t)(end - p);
    if (tl == 0 || tl + 1 + xl > rem || p[tl] != '|')
        return md_parse_fail(out, MD_PERR_EVENT_LENGTH);
    char *title = line + (p - line);
    char *text = title + tl + 1;
    const char *te = text + xl;
    if (te < end && *te != '|')
        return md_parse_fail(out, MD_PERR_EVENT_LENGTH);

    struct md_event *ev = &out->u.event;
    *ev = (struct md_event){0};
    ev->title = (struct md_str){title, unescape_nl(title, tl)};
    ev->text = (struct md_str){text, unescape_nl(text, xl)};
    for (const char *f = te; f < end;) {
        f++;
        const char *fe = f < end ? memchr(f, '|', (size_t)(end - f)) : NULL;
        if (!fe)
            fe = end;
        if (fe > f)
            event_field(ev, f, fe);
        f = fe;
    }
    /* h: beats a host: tag; an empty h: does not count as given. */
    struct md_parse_tag_scan ts;
    md_parse_tag_scan(ev->tags, &ts);
    if (ev->host.len)
        ev->has_host = true;
    else if (ts.has_host) {
        ev->host = ts.host;
        ev->has_host = true;
    }
    out->kind = MD_MSG_EVENT;
    out->error = MD_PERR_NONE;
    return MD_MSG_EVENT;
}

/* --- service checks ----------------------------------------------------- */

/* _sc|<name>|<status>[|d:ts][|h:host][|#tags][|m:message] */
enum md_msg_kind md_parse_check(char *line, size_t len, struct md_msg *out)
{
    const char *end = line + len;
    if (len < 4 || line[3] != '|')
        return md_parse_fail(out, MD_PERR_SC_FORMAT);
    const char *name = line + 4;
    const char *ne = memchr(name, '|', (size_t)(end - name));
    if (!ne || ne == name)
        return md_parse_fail(out, MD_PERR_SC_FORMAT);
    const char *st = ne + 1;
    const char *se = st < end ? memchr(st, '|', (size_t)(end - st)) : NULL;
    if (!se)
        se = end;
    if (se - st != 1 || st[0] < '0' || st[0] > '3')
        return md_parse_fail(out, MD_PERR_SC_STATUS);

    struct md_service_check *sc = &out->u.check;
    *sc = (struct md_service_check){0};
    sc->name = mkstr(name, ne);
    sc->status = st[0] - '0';
    for (const char *f = se; f < end;) {
        f++;
        const char *fe = f < end ? memchr(f, '|', (size_t)(end - f)) : NULL;
        if (!fe)
            fe = end;
        size_t n = (size_t)(fe - f);
        if (n >= 1 && f[0] == '#')
            sc->tags = mkstr(f + 1, fe);
        else if (n >= 2 && f[1] == ':') {
            int64_t ts;
            if (f[0] == 'd' && md_parse_i64(f + 2, n - 2, &ts))
                sc->timestamp = ts;
            else if (f[0] == 'h')
                sc->host = mkstr(f + 2, fe);
            else if (f[0] == 'm')
                sc->message = mkstr(f + 2, fe);
        }
        f = fe;
    }
    struct md_parse_tag_scan ts;
    md_parse_tag_scan(sc->tags, &ts);
    if (sc->host.len)
        sc->has_host = true;
    else if (ts.has_host) {
        sc->host = ts.host;
        sc->has_host = true;
    }
    out->kind = MD_MSG_SERVICE_CHECK;
    out->error = MD_PERR_NONE;
    return MD_MSG_SERVICE_CHECK;
}

