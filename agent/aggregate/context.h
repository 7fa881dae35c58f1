/*
 * context.h: context keys.
 *
 * A context is name + sorted, de-duplicated tags + host. Its identity is a
 * 64-bit hash of the canonical form (as the Datadog agent's ckey: no string
 * comparison on the hot path). Computing it must be cheap because it runs
 * for every metric: when a client already sends its tags sorted and unique
 * (the usual case), the canonical tag text is the raw text and is hashed in
 * one call; otherwise the tags are sorted into a caller-provided scratch.
 */
#ifndef METERD_CONTEXT_H
#define METERD_CONTEXT_H

#include <stdint.h>

#include "meterd/sample.h"

#define MD_CTX_MAX_TAGS 256

struct md_ctx_scratch {
    struct md_str tags[MD_CTX_MAX_TAGS]; /* canonical (sorted, unique) tag list */
    uint32_t ntags;
};

/*
 * The key of name + tag set + host (tags in any order, duplicates allowed).
 * With sc, also the sorted, de-duplicated tag list. 0, or -E2BIG when there
 * are more than MD_CTX_MAX_TAGS.
 */
int md_ctx_key(const struct md_str *name, const struct md_str *tags, uint32_t ntags,
               const struct md_str *host, struct md_ctx_scratch *sc, uint64_t *key);

/*
 * A keyer computes context keys the way the aggregator does: the point's
 * tags plus the global tags, and the agent's hostname when the point has
 * none. Intake threads each own one, so they can key samples before the
 * aggregator sees them.
 */
/* Building a key piece by piece (the intake's fused tag loop). */
struct md_tagsum {
    uint64_t h[MD_CTX_MAX_TAGS];
    uint32_t n;
    uint64_t sum;
};
static inline void md_tagsum_init(struct md_tagsum *t)
{
    t->n = 0;
    t->sum = 0;
}
/* Add a tag (skipped when already present). -E2BIG past MD_CTX_MAX_TAGS. */
int md_tagsum_add(struct md_tagsum *t, const char *p, size_t n);
int md_tagsum_add_hash(struct md_tagsum *t, uint64_t h);
uint64_t md_host_hash(const char *p, size_t n);
uint64_t md_ctx_key_final(const struct md_str *name, uint64_t host_hash, const struct md_tagsum *t);
/* Hash of a line's name and tags field as sent (not canonical): the key of
 * the intake's key cache. Never 0. */
uint64_t md_raw_hash(struct md_str name, struct md_str tags);

struct md_point;
struct md_keyer {
    struct md_str host;        /* owned copy */
    uint64_t host_hash;
    struct md_str *gtags;      /* owned copies */
    uint64_t *ghash;           /* their hashes */
    uint32_t ngtags;
    struct md_ctx_scratch sc;  /* canonical tags of the last key computed */
};
int md_keyer_init(struct md_keyer *k, const char *hostname, const struct md_str *tags, uint32_t ntags);
void md_keyer_free(struct md_keyer *k);
/* Key of p. -E2BIG on too many tags. */
int md_keyer_key(struct md_keyer *k, const struct md_point *p, uint64_t *key);
/* The sorted, de-duplicated tags of p (global tags included) into k->sc. */
int md_keyer_canonical(struct md_keyer *k, const struct md_point *p);
/* The host a point ends up with. */
const struct md_str *md_keyer_host(const struct md_keyer *k, const struct md_point *p);

/* Hash of one string (XXH3-64), exposed for sets and tests. */
uint64_t md_hash(const void *p, size_t n);

#endif
