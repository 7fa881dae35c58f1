/*
 * ident.h: interned context identities (host + sorted tag set).
 *
 * Services send the same tag set on many names, and most points carry the
 * agent's own host, so a context keeps a pointer to a shared, refcounted
 * identity instead of its own copy of host and tags. The identity embeds
 * the md_series_key that frames point to: a flush copies no strings.
 * One table per aggregator, touched by its thread only.
 */
#ifndef METERD_IDENT_H
#define METERD_IDENT_H

#include <stdint.h>

#include "meterd/frame.h"

struct md_ident {
    struct md_series_key k; /* host and tags, NUL-terminated, in this block */
    uint64_t hash;
    uint32_t refs;
    struct md_ident *next;  /* hash chain */
    const char *tagv[];     /* k.tags points here; then the strings */
};

struct md_ident_tab {
    struct md_ident **b;
    uint32_t cap, n;
};

void md_ident_tab_free(struct md_ident_tab *t);
/* The identity of host + tags (sorted, unique), with one more reference; NULL on ENOMEM. */
struct md_ident *md_ident_get(struct md_ident_tab *t, const struct md_str *host,
                              const struct md_str *tags, uint32_t ntags);
/* Drop a reference; the last one frees it. */
void md_ident_put(struct md_ident_tab *t, struct md_ident *id);

#endif
