/*
 * ident.c: the identity table (see ident.h).
 *
 * Chained hash table keyed by a hash of host and tags; an identity is one
 * allocation holding its key, the tag pointer array and the strings. A
 * lookup only happens when a context is created, so it is not on the
 * per-sample path.
 */
#include "ident.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"

static uint64_t ident_hash(const struct md_str *host, const struct md_str *tags, uint32_t ntags)
{
    uint64_t h = md_hash(host->p, host->len) ^ ntags;
    for (uint32_t i = 0; i < ntags; i++)
        h = (h ^ md_hash(tags[i].p, tags[i].len)) * 0x9E3779B97F4A7C15ull;
    return h;
}

static bool str_is(const char *stored, const struct md_str *s)
{
    return strncmp(stored, s->p, s->len) == 0 && stored[s->len] == '\0';
}

static bool ident_is(const struct md_ident *id, uint64_t h, const struct md_str *host,
                     const struct md_str *tags, uint32_t ntags)
{
    if (id->hash != h || id->k.ntags != ntags || !str_is(id->k.host, host))
        return false;
    for (uint32_t i = 0; i < ntags; i++)
        if (!str_is(id->k.tags[i], &tags[i]))
            return false;
    return true;
}

static int tab_grow(struct md_ident_tab *t)
{
    uint32_t cap = t->cap ? t->cap * 2 : 64;
    struct md_ident **b = calloc(cap, sizeof *b);
    if (!b)
        return -1;
    for (uint32_t i = 0; i < t->cap; i++) {
        while (t->b[i]) {
            struct md_ident *id = t->b[i];
            t->b[i] = id->next;
            id->next = b[id->hash & (cap - 1)];
            b[id->hash & (cap - 1)] = id;
        }
    }
    free(t->b);
    t->b = b;
    t->cap = cap;
    return 0;
}

static struct md_ident *ident_new(uint64_t h, const struct md_str *host, const struct md_str *tags,
                                  uint32_t ntags)
{
    size_t bytes = sizeof(struct md_ident) + ntags * sizeof(char *) + host->len + 1;
    for (uint32_t i = 0; i < ntags; i++)
        bytes += tags[i].len + 1;
    struct md_ident *id = malloc(bytes);
    if (!id)
        return NULL;
    char *p = (char *)(id->tagv + ntags);
    memcpy(p, host->p, host->len);
    p[host->len] = '\0';
    id->k.host = p;
    p += host->len + 1;
    for (uint32_t i = 0; i < ntags; i++) {
        memcpy(p, tags[i].p, tags[i].len);
        p[tags[i].len] = '\0';
        id->tagv[i] = p;
        p += tags[i].len + 1;
    }
    id->k.tags = id->tagv;
    id->k.ntags = ntags;
    id->hash = h;
    id->refs = 0;
    id->next = NULL;
    return id;
}

struct md_ident *md_ident_get(struct md_ident_tab *t, const struct md_str *host,
                              const struct md_str *tags, uint32_t ntags)
{
    if (!t->cap && tab_grow(t) != 0)
        return NULL;
    uint64_t h = ident_hash(host, tags, ntags);
    struct md_ident *id = t->b[h & (t->cap - 1)];
    while (id && !ident_is(id, h, host, tags, ntags))
        id = id->next;
    if (!id) {
        if (!(id = ident_new(h, host, tags, ntags)))
            return NULL;
        if (t->n >= t->cap)
            tab_grow(t); /* on failure the chains just get longer */
        id->next = t->b[h & (t->cap - 1)];
        t->b[h & (t->cap - 1)] = id;
        t->n++;
    }
    id->refs++;
    return id;
}

void md_ident_put(struct md_ident_tab *t, struct md_ident *id)
{
    if (!id || --id->refs)
        return;
    struct md_ident **pp = &t->b[id->hash & (t->cap - 1)];
    while (*pp != id)
        pp = &(*pp)->next;
    *pp = id->next;
    t->n--;
    free(id);
}

void md_ident_tab_free(struct md_ident_tab *t)
{
    for (uint32_t i = 0; i < t->cap; i++) {
        while (t->b[i]) {
            struct md_ident *id = t->b[i];
            t->b[i] = id->next;
            free(id);
        }
    }
    free(t->b);
    t->b = NULL;
    t->cap = t->n = 0;
}
