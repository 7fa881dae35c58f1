/*
 * mapper.c: dogstatsd_mapper_profiles (see mapper.h): building the mapper
 * from the checked config, choosing the one profile a name falls under,
 * and the cache in front of the miss path (mapper_match.c).
 *
 * Results, mapped or not, live in an LRU cache of malloc'd blobs, one per
 * name (at most cache_size of them, found through a chained hash table): a
 * hit only relinks the recency list, so the names that arrive over and
 * over cost no allocation.
 */
#include "mapper.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "mapper_int.h"

#define MP_CACHE_MAX (1u << 20)

struct mp_entry {
    uint64_t hash;
    char *blob; /* [md_str tags[]][key][name][tag texts] */
    const char *key;
    uint32_t keylen;
    bool mapped;
    struct md_mapper_result res;
    int32_t prev, next, chain;
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
    md_buf_free(&m->text);
    free(m->cname);
    free(m->memo);
    free(m);
}

const struct md_mapper_stats *md_mapper_stats(const struct md_mapper *m)
{
    return &m->st;
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
    size_t ntags = mp ? mp->ntags : 0, text = mp ? m->text.len : 0;
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
        memcpy(txt, m->text.p, text);
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
        int rc = md_mapper_match(m, mp, name, len, &ok);
        if (rc)
            return rc;
        if (ok) {
            *hit = mp;
            return md_mapper_expand(m, mp, name, len);
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
