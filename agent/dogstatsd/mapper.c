/*
 * mapper.c: dogstatsd_mapper_profiles (see mapper.h).
 *
 * The agent compiles a wildcard pattern into the regex ^a\.([^.]*)\.b$ and
 * runs Go's leftmost-first matcher. Since neither a literal nor a `*` can
 * match across a dot, a name matches only when it has exactly the pattern's
 * segments, and each segment matches on its own; inside a segment the
 * search tries the longest capture first, which is what the greedy Go
 * regex reports. Failed (position, star) pairs are remembered so a pattern
 * like `*a*a*a*b` cannot make a hostile name cost exponential time. regex
 * mappings use POSIX regcomp, the closest thing libc offers to RE2.
 * Results live in an LRU cache of malloc'd blobs: a hit only relinks a list.
 */
#include "mapper.h"

#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define MP_CACHE_MAX (1u << 20)

struct mp_tag {
    char *key;  /* text before the first ':', kept as is; NULL when there is no ':' */
    char *tmpl; /* the value, or the whole tag when there is no ':' */
};

struct mp_mapping {
    char *match;
    size_t mlen;
    bool is_regex;
    regex_t re;
    unsigned ncaps;
    char *name; /* template */
    struct mp_tag *tags;
    size_t ntags;
};

struct mp_profile {
    char *prefix;
    size_t plen;
    bool any; /* prefix "*" */
    struct mp_mapping *maps;
    size_t nmaps;
};

struct mp_span {
    size_t off, len;
    bool set;
};

struct mp_entry {
    uint64_t hash;
    char *blob; /* [md_str tags[]][key][name][tag texts] */
    const char *key;
    uint32_t keylen;
    bool mapped;
    struct md_mapper_result res;
    int32_t prev, next, chain;
};

struct md_mapper {
    struct mp_profile *profiles;
    size_t nprofiles;
    struct md_mapper_stats st;

    struct mp_entry *ents;
    uint32_t cap, nents, ents_alloc;
    int32_t *buckets;
    uint32_t nbuckets;
    int32_t head, tail; /* most / least recently used */

    /* scratch for the miss path */
    struct mp_span *caps; /* 1 + most captures of any mapping */
    unsigned maxcaps;
    regmatch_t *rm;
    size_t maxtags;
    size_t *tag_off, *tag_len;
    char *text; /* new name at [0, name_len), then the tags */
    size_t text_len, text_cap, name_len;
    char *cname; /* NUL-terminated copy of the name for regexec */
    size_t cname_cap;
    unsigned char *memo;
    size_t memo_cap;
};

/* ---- building ---- */

static int mp_mapping_init(struct mp_mapping *mp, const struct md_mapper_mapping *c,
                           const char *path, char *err, size_t errlen)
{
    if (!c->name || !c->match) { /* the config refuses these; a direct caller may not */
        snprintf(err, errlen, "%s: match and name are required", path);
        return -EINVAL;
    }
    mp->is_regex = c->match_type == MD_MATCH_REGEX;
    if (!mp->is_regex)
        for (const char *s = c->match; *s; s++)
            mp->ncaps += *s == '*';
    mp->match = strdup(c->match);
    mp->name = strdup(c->name);
    mp->tags = calloc(c->tags.n ? c->tags.n : 1, sizeof *mp->tags);
    if (!mp->match || !mp->name || !mp->tags)
        goto oom;
    mp->mlen = strlen(mp->match);
    for (size_t i = 0; i < c->tags.n; i++, mp->ntags++) {
        const char *t = c->tags.v[i], *colon = strchr(t, ':');
        struct mp_tag *tg = &mp->tags[i];
        tg->key = colon ? strndup(t, (size_t)(colon - t)) : NULL;
        tg->tmpl = strdup(colon ? colon + 1 : t);
        if ((colon && !tg->key) || !tg->tmpl) {
            mp->ntags++;
            goto oom;
        }
    }
    if (mp->is_regex) {
        char *re = NULL;
        if (asprintf(&re, "^%s$", c->match) < 0)
            goto oom;
        int rc = regcomp(&mp->re, re, REG_EXTENDED);
        free(re);
        if (rc) {
            char why[128];
            regerror(rc, &mp->re, why, sizeof why);
            snprintf(err, errlen, "%s.match: invalid match `%.128s`, cannot compile regex: %s",
                     path, c->match, why);
            mp->is_regex = false; /* nothing to regfree */
            return -EINVAL;
        }
        mp->ncaps = (unsigned)mp->re.re_nsub;
    }
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
    return -ENOMEM;
}

static void mp_mapping_free(struct mp_mapping *mp)
{
    if (mp->is_regex)
        regfree(&mp->re);
    free(mp->match);
    free(mp->name);
    for (size_t i = 0; i < mp->ntags; i++) {
        free(mp->tags[i].key);
        free(mp->tags[i].tmpl);
    }
    free(mp->tags);
}

static int mp_profile_init(struct md_mapper *m, struct mp_profile *p,
                           const struct md_mapper_profile *c, size_t idx, char *err, size_t errlen)
{
    char path[96];
    snprintf(path, sizeof path, "dogstatsd_mapper_profiles[%zu]", idx);
    if (!c->prefix) {
        snprintf(err, errlen, "%s: prefix is required", path);
        return -EINVAL;
    }
    p->prefix = strdup(c->prefix);
    p->maps = calloc(c->nmappings ? c->nmappings : 1, sizeof *p->maps);
    if (!p->prefix || !p->maps) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    p->plen = strlen(p->prefix);
    p->any = strcmp(p->prefix, "*") == 0;
    for (size_t j = 0; j < c->nmappings; j++) {
        char mpath[128];
        snprintf(mpath, sizeof mpath, "%s.mappings[%zu]", path, j);
        p->nmaps++; /* counted first so a half-built mapping is freed too */
        struct mp_mapping *mp = &p->maps[j];
        int rc = mp_mapping_init(mp, &c->mappings[j], mpath, err, errlen);
        if (rc)
            return rc;
        if (mp->ncaps > m->maxcaps)
            m->maxcaps = mp->ncaps;
        if (mp->ntags > m->maxtags)
            m->maxtags = mp->ntags;
    }
    return 0;
}

static uint32_t mp_pow2(uint32_t n)
{
    uint32_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

struct md_mapper *md_mapper_new(const struct md_mapper_profile *profiles, size_t n,
                                size_t cache_size, char *err, size_t errlen)
{
    struct md_mapper *m = calloc(1, sizeof *m);
    if (!m || !(m->profiles = calloc(n ? n : 1, sizeof *m->profiles)))
        goto oom;
    for (size_t i = 0; i < n; i++) {
        m->nprofiles++;
        if (mp_profile_init(m, &m->profiles[i], &profiles[i], i, err, errlen)) {
            md_mapper_free(m);
            return NULL;
        }
    }
    if (cache_size == 0)
        cache_size = MD_MAPPER_CACHE_DEFAULT;
    m->cap = cache_size > MP_CACHE_MAX ? MP_CACHE_MAX : (uint32_t)cache_size;
    m->nbuckets = mp_pow2(m->cap);
    m->buckets = malloc(m->nbuckets * sizeof *m->buckets);
    m->caps = calloc(m->maxcaps + 1, sizeof *m->caps);
    m->rm = calloc(m->maxcaps + 1, sizeof *m->rm);
    m->tag_off = calloc(m->maxtags + 1, sizeof *m->tag_off);
    m->tag_len = calloc(m->maxtags + 1, sizeof *m->tag_len);
    if (!m->buckets || !m->caps || !m->rm || !m->tag_off || !m->tag_len)
        goto oom;
    for (uint32_t i = 0; i < m->nbuckets; i++)
        m->buckets[i] = -1;
    m->head = m->tail = -1;
    return m;
oom:
    snprintf(err, errlen, "dogstatsd_mapper_profiles: out of memory");
    md_mapper_free(m);
    return NULL;
}

void md_mapper_free(struct md_mapper *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nprofiles; i++) {
        struct mp_profile *p = &m->profiles[i];
        for (size_t j = 0; j < p->nmaps; j++)
            mp_mapping_free(&p->maps[j]);
        free(p->maps);
        free(p->prefix);
    }
    free(m->profiles);
    for (uint32_t i = 0; i < m->nents; i++)
        free(m->ents[i].blob);
    free(m->ents);
    free(m->buckets);
    free(m->caps);
    free(m->rm);
    free(m->tag_off);
    free(m->tag_len);
    free(m->text);
    free(m->cname);
    free(m->memo);
    free(m);
}

const struct md_mapper_stats *md_mapper_stats(const struct md_mapper *m)
{
    return &m->st;
}

/* ---- wildcard matching ---- */

struct mp_seg {
    struct md_mapper *m;
    const char *pat, *name;
    size_t pn, nn, nbase; /* nbase: offset of this name segment in the name */
    unsigned cbase;       /* index of this segment's first capture */
};

static bool mp_memo_get(const struct mp_seg *g, unsigned star, size_t ni)
{
    size_t bit = star * (g->nn + 1) + ni;
    return g->m->memo[bit / 8] & (1u << (bit % 8));
}

static void mp_memo_set(const struct mp_seg *g, unsigned star, size_t ni)
{
    size_t bit = star * (g->nn + 1) + ni;
    g->m->memo[bit / 8] |= (unsigned char)(1u << (bit % 8));
}

/*
 * Match pattern [pi..) against name [ni..) within one segment; star is the
 * index (within the segment) of the next `*`. Longest capture first.
 */
static bool mp_seg_rec(const struct mp_seg *g, size_t pi, size_t ni, unsigned star)
{
    while (pi < g->pn && g->pat[pi] != '*') {
        if (ni >= g->nn || g->name[ni] != g->pat[pi])
            return false;
        pi++;
        ni++;
    }
    if (pi == g->pn)
        return ni == g->nn;
    if (mp_memo_get(g, star, ni))
        return false;
    for (size_t end = g->nn;; end--) {
        struct mp_span *c = &g->m->caps[g->cbase + star];
        *c = (struct mp_span){g->nbase + ni, end - ni, true};
        if (mp_seg_rec(g, pi + 1, end, star + 1))
            return true;
        if (end == ni)
            break;
    }
    mp_memo_set(g, star, ni);
    return false;
}

static int mp_seg_match(struct mp_seg *g, unsigned nstars, bool *ok)
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
    *ok = mp_seg_rec(g, 0, 0, 0);
    return 0;
}

/* Segment by segment: dots must line up one to one. caps[1..] are filled. */
static int mp_wildcard(struct md_mapper *m, const struct mp_mapping *mp, const char *name,
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
        struct mp_seg g = {m, mp->match + pi, name + ni, pe - pi, ne - ni, ni, cbase};
        int rc = mp_seg_match(&g, nstars, ok);
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

static int mp_regex(struct md_mapper *m, const struct mp_mapping *mp, const char *name,
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

/* ---- template expansion (Go regexp.Expand) ---- */

static int mp_put(struct md_mapper *m, const char *s, size_t n)
{
    if (m->text_len + n > m->text_cap) {
        size_t cap = m->text_cap ? m->text_cap : 256;
        while (cap < m->text_len + n)
            cap *= 2;
        char *p = realloc(m->text, cap);
        if (!p)
            return -ENOMEM;
        m->text = p;
        m->text_cap = cap;
    }
    memcpy(m->text + m->text_len, s, n);
    m->text_len += n;
    return 0;
}

static bool mp_is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Group number of a $name, or -1 for a name that is not a plain index. */
static long mp_group(const char *s, size_t n)
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
static int mp_expand(struct md_mapper *m, const char *t, const char *name, size_t len,
                     unsigned ncaps)
{
    int rc = 0;
    while (*t && !rc) {
        const char *dollar = strchr(t, '$');
        if (!dollar)
            return mp_put(m, t, strlen(t));
        rc = mp_put(m, t, (size_t)(dollar - t));
        if (rc)
            break;
        if (dollar[1] == '$') {
            rc = mp_put(m, "$", 1);
            t = dollar + 2;
            continue;
        }
        bool brace = dollar[1] == '{';
        const char *s = dollar + 1 + brace, *e = s;
        while (mp_is_word(*e))
            e++;
        if (e == s || (brace && *e != '}')) {
            rc = mp_put(m, "$", 1);
            t = dollar + 1;
            continue;
        }
        long g = mp_group(s, (size_t)(e - s));
        if (g == 0)
            rc = mp_put(m, name, len);
        else if (g > 0 && (unsigned long)g <= ncaps && m->caps[g].set)
            rc = mp_put(m, name + m->caps[g].off, m->caps[g].len);
        t = e + brace;
    }
    return rc;
}

/* Expand the new name and tags of mp into m->text / tag_off / tag_len. */
static int mp_build(struct md_mapper *m, const struct mp_mapping *mp, const char *name,
                    size_t len)
{
    m->text_len = 0;
    int rc = mp_expand(m, mp->name, name, len, mp->ncaps);
    m->name_len = m->text_len;
    for (size_t i = 0; i < mp->ntags && !rc; i++) {
        size_t start = m->text_len;
        const struct mp_tag *tg = &mp->tags[i];
        if (tg->key) {
            rc = mp_put(m, tg->key, strlen(tg->key));
            if (!rc)
                rc = mp_put(m, ":", 1);
        }
        if (!rc)
            rc = mp_expand(m, tg->tmpl, name, len, mp->ncaps);
        m->tag_off[i] = start;
        m->tag_len[i] = m->text_len - start;
    }
    return rc;
}

/* ---- cache ---- */

static void mp_lru_unlink(struct md_mapper *m, int32_t i)
{
    struct mp_entry *e = &m->ents[i];
    if (e->prev >= 0)
        m->ents[e->prev].next = e->next;
    else
        m->head = e->next;
    if (e->next >= 0)
        m->ents[e->next].prev = e->prev;
    else
        m->tail = e->prev;
}

static void mp_lru_front(struct md_mapper *m, int32_t i)
{
    struct mp_entry *e = &m->ents[i];
    e->prev = -1;
    e->next = m->head;
    if (m->head >= 0)
        m->ents[m->head].prev = i;
    m->head = i;
    if (m->tail < 0)
        m->tail = i;
}

static int32_t mp_lookup(struct md_mapper *m, uint64_t h, const char *name, size_t len)
{
    for (int32_t i = m->buckets[h & (m->nbuckets - 1)]; i >= 0; i = m->ents[i].chain) {
        const struct mp_entry *e = &m->ents[i];
        if (e->hash == h && e->keylen == len && memcmp(e->key, name, len) == 0)
            return i;
    }
    return -1;
}

/* A free slot: a new one while under capacity, else the least recently used. */
static int32_t mp_slot(struct md_mapper *m)
{
    if (m->nents < m->cap) {
        if (m->nents == m->ents_alloc) {
            uint32_t n = m->ents_alloc ? m->ents_alloc * 2 : 64;
            if (n > m->cap)
                n = m->cap;
            struct mp_entry *p = realloc(m->ents, n * sizeof *p);
            if (!p)
                return -1;
            m->ents = p;
            m->ents_alloc = n;
        }
        m->st.entries++;
        return (int32_t)m->nents++;
    }
    int32_t i = m->tail;
    struct mp_entry *e = &m->ents[i];
    mp_lru_unlink(m, i);
    int32_t *pp = &m->buckets[e->hash & (m->nbuckets - 1)];
    while (*pp != i)
        pp = &m->ents[*pp].chain;
    *pp = e->chain;
    free(e->blob);
    e->blob = NULL;
    m->st.evictions++;
    return i;
}

/* Store the result now in m->text (mp NULL = not mapped) under name. */
static int32_t mp_insert(struct md_mapper *m, uint64_t h, const char *name, size_t len,
                         const struct mp_mapping *mp)
{
    size_t ntags = mp ? mp->ntags : 0, text = mp ? m->text_len : 0;
    size_t head = ntags * sizeof(struct md_str);
    if (len > UINT32_MAX || text > UINT32_MAX)
        return -1;
    char *blob = malloc(head + len + text + 1);
    if (!blob)
        return -1;
    int32_t i = mp_slot(m);
    if (i < 0) {
        free(blob);
        return -1;
    }
    struct mp_entry *e = &m->ents[i];
    *e = (struct mp_entry){.hash = h, .blob = blob, .keylen = (uint32_t)len, .mapped = mp != NULL};
    char *key = blob + head, *txt = key + len;
    memcpy(key, name, len);
    e->key = key;
    if (mp) {
        memcpy(txt, m->text, text);
        struct md_str *tags = (struct md_str *)(void *)blob;
        for (size_t t = 0; t < ntags; t++)
            tags[t] = (struct md_str){txt + m->tag_off[t], (uint32_t)m->tag_len[t]};
        e->res = (struct md_mapper_result){{txt, (uint32_t)m->name_len},
                                           ntags ? tags : NULL, (uint32_t)ntags};
    }
    uint32_t b = (uint32_t)(h & (m->nbuckets - 1));
    e->chain = m->buckets[b];
    m->buckets[b] = i;
    mp_lru_front(m, i);
    return i;
}

/* ---- mapping ---- */

static const struct mp_profile *mp_profile_for(const struct md_mapper *m, const char *name,
                                               size_t len)
{
    for (size_t i = 0; i < m->nprofiles; i++) {
        const struct mp_profile *p = &m->profiles[i];
        if (p->any || (len >= p->plen && memcmp(name, p->prefix, p->plen) == 0))
            return p;
    }
    return NULL;
}

/* The first mapping of p that matches, with its result built; NULL if none. */
static int mp_compute(struct md_mapper *m, const struct mp_profile *p, const char *name,
                      size_t len, const struct mp_mapping **hit)
{
    *hit = NULL;
    for (size_t j = 0; j < p->nmaps; j++) {
        const struct mp_mapping *mp = &p->maps[j];
        bool ok = false;
        for (unsigned c = 0; c <= mp->ncaps; c++)
            m->caps[c].set = false;
        int rc = mp->is_regex ? mp_regex(m, mp, name, len, &ok)
                              : mp_wildcard(m, mp, name, len, &ok);
        if (rc)
            return rc;
        if (ok) {
            *hit = mp;
            return mp_build(m, mp, name, len);
        }
    }
    return 0;
}

int md_mapper_map(struct md_mapper *m, const char *name, size_t len,
                  struct md_mapper_result *out)
{
    const struct mp_profile *p = mp_profile_for(m, name, len);
    if (!p)
        return 0; /* like the agent: only names a profile covers are cached */
    uint64_t h = XXH3_64bits(name, len);
    int32_t i = mp_lookup(m, h, name, len);
    if (i >= 0) {
        m->st.hits++;
        if (m->head != i) {
            mp_lru_unlink(m, i);
            mp_lru_front(m, i);
        }
    } else {
        m->st.misses++;
        const struct mp_mapping *hit;
        int rc = mp_compute(m, p, name, len, &hit);
        if (rc)
            return rc;
        i = mp_insert(m, h, name, len, hit);
        if (i < 0)
            return -ENOMEM;
    }
    if (!m->ents[i].mapped)
        return 0;
    *out = m->ents[i].res;
    return 1;
}
