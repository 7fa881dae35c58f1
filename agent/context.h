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
 * Canonicalise `tags` (n views, in any order, duplicates allowed) into
 * sc->tags and return the hash of name + canonical tags + host.
 * Returns 0 on success, -E2BIG when there are more than MD_CTX_MAX_TAGS.
 */
int md_ctx_key(const struct md_str *name, const struct md_str *tags, uint32_t ntags,
               const struct md_str *host, struct md_ctx_scratch *sc, uint64_t *key);

/*
 * A keyer computes context keys the way the aggregator does: the point's
 * tags plus the global tags, and the agent's hostname when the point has
 * none. Intake threads each own one, so they can key samples before the
 * aggregator sees them.
 */
struct md_point;
struct md_keyer {
    struct md_str host;        /* owned copy */
    struct md_str *gtags;      /* owned copies */
    uint32_t ngtags;
    struct md_str tagv[MD_CTX_MAX_TAGS];
    struct md_ctx_scratch sc;  /* canonical tags of the last key computed */
};
int md_keyer_init(struct md_keyer *k, const char *hostname, const struct md_str *tags, uint32_t ntags);
void md_keyer_free(struct md_keyer *k);
/* Key of p; afterwards k->sc holds its canonical tags. -E2BIG on too many tags. */
int md_keyer_key(struct md_keyer *k, const struct md_point *p, uint64_t *key);
/* The host a point ends up with. */
const struct md_str *md_keyer_host(const struct md_keyer *k, const struct md_point *p);

/* Hash of one string (XXH3-64), exposed for sets and tests. */
uint64_t md_hash(const void *p, size_t n);

#endif
