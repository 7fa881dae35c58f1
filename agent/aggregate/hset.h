/*
 * hset.h: a set of 64-bit member hashes, for statsd sets.
 * Open addressing; 0 is stored out of band.
 */
#ifndef METERD_HSET_H
#define METERD_HSET_H

#include <stdbool.h>
#include <stdint.h>

struct md_hset {
    uint64_t *slots;
    uint32_t cap, n;
    bool has_zero;
};

int md_hset_add(struct md_hset *s, uint64_t h); /* 1 new, 0 present, -ENOMEM */
uint32_t md_hset_count(const struct md_hset *s);
void md_hset_free(struct md_hset *s);

#endif
