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
#include <string.h>

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
