/*
 * context.c: canonical tag sets and the 64-bit context key (see context.h).
 *
 * The key is XXH3 over name, host and each canonical tag, each hashed with
 * the previous result as seed, so different splits of the same bytes (name
 * "a" + tag "bc" vs name "ab" + tag "c") give different keys. Tags are
 * compared bytewise; the sort is an insertion sort because tag lists are
 * short and usually already in order, where it does one comparison per tag.
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

/* Insert tags into sc->tags keeping it sorted and unique. */
static int canonicalise(const struct md_str *tags, uint32_t ntags, struct md_ctx_scratch *sc)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < ntags; i++) {
        struct md_str t = tags[i];
        uint32_t j = n;
        int c = 1;
        while (j > 0 && (c = str_cmp(&sc->tags[j - 1], &t)) > 0)
            j--;
        if (j > 0 && c == 0)
            continue; /* duplicate */
        if (n == MD_CTX_MAX_TAGS)
            return -E2BIG;
        memmove(&sc->tags[j + 1], &sc->tags[j], (n - j) * sizeof t);
        sc->tags[j] = t;
        n++;
    }
    sc->ntags = n;
    return 0;
}

int md_ctx_key(const struct md_str *name, const struct md_str *tags, uint32_t ntags,
               const struct md_str *host, struct md_ctx_scratch *sc, uint64_t *key)
{
    int rc = canonicalise(tags, ntags, sc);
    if (rc)
        return rc;
    uint64_t h = XXH3_64bits_withSeed(name->p, name->len, 0x6d65746572640001ULL);
    h = XXH3_64bits_withSeed(host->p, host->len, h ^ host->len);
    for (uint32_t i = 0; i < sc->ntags; i++)
        h = XXH3_64bits_withSeed(sc->tags[i].p, sc->tags[i].len, h + i + 1);
    *key = h;
    return 0;
}

int md_keyer_init(struct md_keyer *k, const char *hostname, const struct md_str *tags, uint32_t ntags)
{
    memset(k, 0, sizeof *k);
    const char *h = hostname ? hostname : "";
    k->host = (struct md_str){strdup(h), (uint32_t)strlen(h)};
    k->gtags = calloc(ntags ? ntags : 1, sizeof *k->gtags);
    if (!k->host.p || !k->gtags) {
        md_keyer_free(k);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < ntags; i++) {
        k->gtags[i] = (struct md_str){strndup(tags[i].p, tags[i].len), tags[i].len};
        if (!k->gtags[i].p) {
            md_keyer_free(k);
            return -ENOMEM;
        }
        k->ngtags = i + 1;
    }
    return 0;
}

void md_keyer_free(struct md_keyer *k)
{
    for (uint32_t i = 0; i < k->ngtags; i++)
        free((char *)k->gtags[i].p);
    free(k->gtags);
    free((char *)k->host.p);
    memset(k, 0, sizeof *k);
}

const struct md_str *md_keyer_host(const struct md_keyer *k, const struct md_point *p)
{
    return p->has_host ? &p->host : &k->host;
}

int md_keyer_key(struct md_keyer *k, const struct md_point *p, uint64_t *key)
{
    uint32_t n = p->ntags + k->ngtags;
    if (n > MD_CTX_MAX_TAGS)
        return -E2BIG;
    if (p->ntags)
        memcpy(k->tagv, p->tags, p->ntags * sizeof *p->tags);
    memcpy(k->tagv + p->ntags, k->gtags, k->ngtags * sizeof *k->gtags);
    return md_ctx_key(&p->name, k->tagv, n, md_keyer_host(k, p), &k->sc, key);
}
