/*
 * hset.c: set of 64-bit hashes with linear probing (see hset.h). The
 * members are already XXH3 hashes, so the low bits index directly.
 */
#include "hset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int grow(struct md_hset *s)
{
    uint32_t cap = s->cap ? s->cap * 2 : 16;
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (uint32_t i = 0; i < s->cap; i++) {
        uint64_t h = s->slots[i];
        if (!h)
            continue;
        uint32_t j = (uint32_t)h & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = h;
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return 0;
}

int md_hset_add(struct md_hset *s, uint64_t h)
{
    if (h == 0) {
        int was = s->has_zero;
        s->has_zero = true;
        return !was;
    }
    if ((s->n + 1) * 4 > s->cap * 3 && grow(s) != 0)
        return -ENOMEM;
    uint32_t j = (uint32_t)h & (s->cap - 1);
    while (s->slots[j]) {
        if (s->slots[j] == h)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = h;
    s->n++;
    return 1;
}

uint32_t md_hset_count(const struct md_hset *s)
{
    return s->n + (s->has_zero ? 1 : 0);
}

void md_hset_free(struct md_hset *s)
{
    free(s->slots);
    memset(s, 0, sizeof *s);
}
