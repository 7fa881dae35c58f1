/*
 * mapper_match.c: the mapper's miss path: does one mapping match a name,
 * and what do its templates give (see mapper_int.h).
 *
 * The agent compiles a wildcard pattern into the regex ^a\.([^.]*)\.b$ and
 * runs Go's leftmost-first matcher. Since neither a literal nor a `*` can
 * match across a dot, a name matches only when it has exactly the pattern's
 * segments, and each segment matches on its own; inside a segment the
 * search tries the longest capture first, which is what the greedy Go
 * regex reports. Failed (position, star) pairs are remembered so a pattern
 * like `*a*a*a*b` cannot make a hostile name cost exponential time. regex
 * mappings use POSIX regcomp, the closest thing libc offers to RE2.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mapper_int.h"

/* ---- wildcard matching ---- */

struct mm_seg {
    struct md_mapper *m;
    const char *pat, *name;
    size_t pn, nn, nbase; /* nbase: offset of this name segment in the name */
    unsigned cbase;       /* index of this segment's first capture */
};

static bool mm_memo_get(const struct mm_seg *g, unsigned star, size_t ni)
{
    size_t bit = star * (g->nn + 1) + ni;
    return g->m->memo[bit / 8] & (1u << (bit % 8));
}

static void mm_memo_set(const struct mm_seg *g, unsigned star, size_t ni)
{
    size_t bit = star * (g->nn + 1) + ni;
    g->m->memo[bit / 8] |= (unsigned char)(1u << (bit % 8));
}

/*
 * Match pattern [pi..) against name [ni..) within one segment; star is the
 * index (within the segment) of the next `*`. Longest capture first.
 */
static bool mm_seg_rec(const struct mm_seg *g, size_t pi, size_t ni, unsigned star)
{
    while (pi < g->pn && g->pat[pi] != '*') {
        if (ni >= g->nn || g->name[ni] != g->pat[pi])
            return false;
        pi++;
        ni++;
    }
    if (pi == g->pn)
        return ni == g->nn;
    if (mm_memo_get(g, star, ni))
        return false;
    for (size_t end = g->nn;; end--) {
        struct mp_span *c = &g->m->caps[g->cbase + star];
        *c = (struct mp_span){g->nbase + ni, end - ni, true};
        if (mm_seg_rec(g, pi + 1, end, star + 1))
            return true;
        if (end == ni)
            break;
    }
    mm_memo_set(g, star, ni);
    return false;
}

static int mm_seg_match(struct mm_seg *g, unsigned nstars, bool *ok)
{
    size_t bits = (size_t)nstars * (g->nn + 1), bytes = (bits + 7) / 8;
    if (bytes > g->m->memo_cap) {
        unsigned char *p = realloc(g->m->memo, bytes);
        if (!p)
            return -ENOMEM;
        g->m->memo = p;
        g->m->memo_cap = bytes;
    }
    if (bytes)
        memset(g->m->memo, 0, bytes);
    *ok = mm_seg_rec(g, 0, 0, 0);
    return 0;
}

/* Segment by segment: dots must line up one to one. caps[1..] are filled. */
static int mm_wildcard(struct md_mapper *m, const struct mp_mapping *mp, const char *name,
                       size_t len, bool *ok)
{
    size_t pi = 0, ni = 0;
    unsigned cbase = 1;
    for (;;) {
        const char *pd = memchr(mp->match + pi, '.', mp->mlen - pi);
        const char *nd = memchr(name + ni, '.', len - ni);
        size_t pe = pd ? (size_t)(pd - mp->match) : mp->mlen;
        size_t ne = nd ? (size_t)(nd - name) : len;
        unsigned nstars = 0;
        for (size_t i = pi; i < pe; i++)
            nstars += mp->match[i] == '*';
        struct mm_seg g = {m, mp->match + pi, name + ni, pe - pi, ne - ni, ni, cbase};
        int rc = mm_seg_match(&g, nstars, ok);
        if (rc || !*ok)
            return rc;
        cbase += nstars;
        if (!pd || !nd) {
            *ok = !pd && !nd;
            return 0;
        }
        pi = pe + 1;
        ni = ne + 1;
    }
}

static int mm_regex(struct md_mapper *m, const struct mp_mapping *mp, const char *name,
                    size_t len, bool *ok)
{
    *ok = false;
    if (memchr(name, '\0', len))
        return 0; /* regexec cannot see past a NUL */
    if (len + 1 > m->cname_cap) {
        char *p = realloc(m->cname, len + 1);
        if (!p)
            return -ENOMEM;
        m->cname = p;
        m->cname_cap = len + 1;
    }
    memcpy(m->cname, name, len);
    m->cname[len] = '\0';
    if (regexec(&mp->re, m->cname, mp->ncaps + 1, m->rm, 0) != 0)
        return 0;
    for (unsigned i = 1; i <= mp->ncaps; i++) {
        bool set = m->rm[i].rm_so >= 0;
        m->caps[i] = (struct mp_span){set ? (size_t)m->rm[i].rm_so : 0,
                                      set ? (size_t)(m->rm[i].rm_eo - m->rm[i].rm_so) : 0, set};
    }
    *ok = true;
    return 0;
}


int md_mapper_match(struct md_mapper *m, const struct mp_mapping *mp, const char *name,
                    size_t len, bool *ok)
{
    return mp->is_regex ? mm_regex(m, mp, name, len, ok) : mm_wildcard(m, mp, name, len, ok);
}

/* ---- template expansion (Go regexp.Expand) ---- */

static int mm_put(struct md_mapper *m, const char *s, size_t n)
{
    md_buf_add(&m->text, s, n);
    return m->text.oom ? -ENOMEM : 0;
}

static bool mm_is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Group number of a $name, or -1 for a name that is not a plain index. */
static long mm_group(const char *s, size_t n)
{
    long num = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || num >= 100000000)
            return -1;
        num = num * 10 + (s[i] - '0');
    }
    return s[0] == '0' && n > 1 ? -1 : num;
}

/*
 * `$n` / `${n}` -> capture n ($0 the whole name), `$$` -> `$`; a name is
 * the longest run of [A-Za-z0-9_], so `$1_x` asks for group "1_x" and
 * gives "" (write `${1}_x`). Unknown groups give "", a malformed `$` stays.
 */
static int mm_expand(struct md_mapper *m, const char *t, const char *name, size_t len,
                     unsigned ncaps)
{
    int rc = 0;
    while (*t && !rc) {
        const char *dollar = strchr(t, '$');
        if (!dollar)
            return mm_put(m, t, strlen(t));
        rc = mm_put(m, t, (size_t)(dollar - t));
        if (rc)
            break;
        if (dollar[1] == '$') {
            rc = mm_put(m, "$", 1);
            t = dollar + 2;
            continue;
        }
        bool brace = dollar[1] == '{';
        const char *s = dollar + 1 + brace, *e = s;
        while (mm_is_word(*e))
            e++;
        if (e == s || (brace && *e != '}')) {
            rc = mm_put(m, "$", 1);
            t = dollar + 1;
            continue;
        }
        long g = mm_group(s, (size_t)(e - s));
        if (g == 0)
            rc = mm_put(m, name, len);
        else if (g > 0 && (unsigned long)g <= ncaps && m->caps[g].set)
            rc = mm_put(m, name + m->caps[g].off, m->caps[g].len);
        t = e + brace;
    }
    return rc;
}

int md_mapper_expand(struct md_mapper *m, const struct mp_mapping *mp, const char *name,
                     size_t len)
{
    md_buf_reset(&m->text);
    int rc = mm_expand(m, mp->name, name, len, mp->ncaps);
    m->name_len = m->text.len;
    for (size_t i = 0; i < mp->ntags && !rc; i++) {
        size_t start = m->text.len;
        const struct mp_tag *tg = &mp->tags[i];
        if (tg->key) {
            rc = mm_put(m, tg->key, strlen(tg->key));
            if (!rc)
                rc = mm_put(m, ":", 1);
        }
        if (!rc)
            rc = mm_expand(m, tg->tmpl, name, len, mp->ncaps);
        m->tag_off[i] = start;
        m->tag_len[i] = m->text.len - start;
    }
    return rc;
}
