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

/* Hash of one string (XXH3-64), exposed for sets and tests. */
uint64_t md_hash(const void *p, size_t n);

#endif
