/*
 * context.c: canonical tag sets and the 64-bit context key (see context.h).
 *
 * The key is XXH3 of the name (seeded) plus the mixed XXH3 of the host
 * (another seed) plus the sum of the mixed XXH3 of each distinct tag: no
 * sort and no copy per sample, and the name and tags never run together.
 * The sorted tag list a context stores is built only when it is created
 * (md_keyer_canonical); that sort is an insertion sort because tag lists
 * are short and usually already in order.
 */
#include "context.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "point.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t md_hash(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

static int str_cmp(const struct md_str *a, const struct md_str *b)
{
    uint32_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->p, b->p, n);
    if (c)
        return c;
    return (a->len > b->len) - (a->len < b->len);
}

/* Insert one tag into sc->tags keeping it sorted and unique. */
static int canonical_add(struct md_ctx_scratch *sc, struct md_str t)
{
    uint32_t j = sc->ntags;
    int c = 1;
    while (j > 0 && (c = str_cmp(&sc->tags[j - 1], &t)) > 0)
        j--;
    if (j > 0 && c == 0)
        return 0; /* duplicate */
    if (sc->ntags == MD_CTX_MAX_TAGS)
        return -E2BIG;
    memmove(&sc->tags[j + 1], &sc->tags[j], (sc->ntags - j) * sizeof t);
    sc->tags[j] = t;
    sc->ntags++;
    return 0;
}

/* The sorted, unique union of two tag lists; more than MD_CTX_MAX_TAGS
 * distinct tags is refused, however often each repeats. */
static int canonicalise(const struct md_str *a, uint32_t na, const struct md_str *b, uint32_t nb,
                        struct md_ctx_scratch *sc)
{
    sc->ntags = 0;
    for (uint32_t i = 0; i < na; i++)
        if (canonical_add(sc, a[i]) != 0)
            return -E2BIG;
    for (uint32_t i = 0; i < nb; i++)
        if (canonical_add(sc, b[i]) != 0)
            return -E2BIG;
    return 0;
}

/* Finaliser of murmur3: spreads a tag hash before it is summed. */
static inline uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

#define SEED_NAME 0x6d65746572640001ULL
#define SEED_HOST 0x6d65746572640002ULL

/*
 * The tag set's part of the key: the sum of the mixed hashes of its
 * distinct tags. A sum does not depend on order, so the hot path never
 * sorts; duplicates are skipped by comparing hashes (tag lists are short).
 */
#define tagsum md_tagsum

static inline int tagsum_add(struct tagsum *t, uint64_t h)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (t->h[i] == h)
            return 0;
    if (t->n == MD_CTX_MAX_TAGS)
        return -E2BIG;
    t->h[t->n++] = h;
    t->sum += mix(h);
    return 0;
}

uint64_t md_host_hash(const char *p, size_t n)
{
    return mix(XXH3_64bits_withSeed(p, n, SEED_HOST));
}

static uint64_t key_of(const struct md_str *name, const struct md_str *host, uint64_t tagsum)
{
    return XXH3_64bits_withSeed(name->p, name->len, SEED_NAME) + md_host_hash(host->p, host->len) +
           tagsum;
}

int md_tagsum_add(struct md_tagsum *t, const char *p, size_t n)
{
    return tagsum_add(t, XXH3_64bits(p, n));
}

int md_tagsum_add_hash(struct md_tagsum *t, uint64_t h)
{
    return tagsum_add(t, h);
}

uint64_t md_ctx_key_final(const struct md_str *name, uint64_t host_hash, const struct md_tagsum *t)
{
    return XXH3_64bits_withSeed(name->p, name->len, SEED_NAME) + host_hash + t->sum;
}

uint64_t md_raw_hash(struct md_str name, struct md_str tags)
{
    uint64_t h = XXH3_64bits_withSeed(tags.p, tags.len, XXH3_64bits(name.p, name.len));
    return h ? h : 1;
}

int md_ctx_key(const struct md_str *name, const struct md_str *tags, uint32_t ntags,
               const struct md_str *host, struct md_ctx_scratch *sc, uint64_t *key)
{
    struct tagsum ts;
    ts.n = 0;
    ts.sum = 0;
    for (uint32_t i = 0; i < ntags; i++)
        if (tagsum_add(&ts, XXH3_64bits(tags[i].p, tags[i].len)) != 0)
            return -E2BIG;
    if (sc && canonicalise(tags, ntags, NULL, 0, sc) != 0)
        return -E2BIG;
    *key = key_of(name, host, ts.sum);
    return 0;
}

int md_keyer_init(struct md_keyer *k, const char *hostname, const struct md_str *tags, uint32_t ntags)
{
    memset(k, 0, sizeof *k);
    const char *h = hostname ? hostname : "";
    k->host = (struct md_str){strdup(h), (uint32_t)strlen(h)};
    k->host_hash = md_host_hash(h, strlen(h));
    k->gtags = calloc(ntags ? ntags : 1, sizeof *k->gtags);
    k->ghash = calloc(ntags ? ntags : 1, sizeof *k->ghash);
    if (!k->host.p || !k->gtags || !k->ghash) {
        md_keyer_free(k);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < ntags; i++) {
        k->gtags[i] = (struct md_str){strndup(tags[i].p, tags[i].len), tags[i].len};
        if (!k->gtags[i].p) {
            md_keyer_free(k);
            return -ENOMEM;
        }
        k->ghash[i] = XXH3_64bits(tags[i].p, tags[i].len);
        k->ngtags = i + 1;
    }
    return 0;
}

void md_keyer_free(struct md_keyer *k)
{
    for (uint32_t i = 0; i < k->ngtags; i++)
        free((char *)k->gtags[i].p);
    free(k->gtags);
    free(k->ghash);
    free((char *)k->host.p);
    memset(k, 0, sizeof *k);
}

const struct md_str *md_keyer_host(const struct md_keyer *k, const struct md_point *p)
{
    return p->has_host ? &p->host : &k->host;
}

int md_keyer_key(struct md_keyer *k, const struct md_point *p, uint64_t *key)
{
    struct tagsum ts;
    ts.n = 0;
    ts.sum = 0;
    for (uint32_t i = 0; i < p->ntags; i++)
        if (tagsum_add(&ts, XXH3_64bits(p->tags[i].p, p->tags[i].len)) != 0)
            return -E2BIG;
    for (uint32_t i = 0; i < k->ngtags; i++)
        if (tagsum_add(&ts, k->ghash[i]) != 0)
            return -E2BIG;
    uint64_t hh = p->has_host ? md_host_hash(p->host.p, p->host.len) : k->host_hash;
    *key = md_ctx_key_final(&p->name, hh, &ts);
    return 0;
}

int md_keyer_canonical(struct md_keyer *k, const struct md_point *p)
{
    return canonicalise(p->tags, p->ntags, k->gtags, k->ngtags, &k->sc);
}
