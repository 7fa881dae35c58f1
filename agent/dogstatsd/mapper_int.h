/*
 * mapper_int.h: what the mapper's two files share: the compiled profiles
 * and mappings, and the mapper itself with the scratch space of the miss
 * path. mapper.c builds the mapper, picks the profile and keeps the cache;
 * mapper_match.c matches one mapping against a name and expands its
 * templates. Internal to agent/dogstatsd/mapper*.c.
 */
#ifndef METERD_MAPPER_INT_H
#define METERD_MAPPER_INT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mapper.h"

struct mp_entry; /* a cache entry (mapper.c) */

struct mp_tag {
    char *key;  /* text before the first ':', kept as is; NULL when there is no ':' */
    char *tmpl; /* the value, or the whole tag when there is no ':' */
};

struct mp_mapping {
    char *match;
    size_t mlen;
    bool is_regex;
    regex_t re;
    unsigned ncaps;
    char *name; /* template */
    struct mp_tag *tags;
    size_t ntags;
};

struct mp_profile {
    char *prefix;
    size_t plen;
    bool any; /* prefix "*" */
    struct mp_mapping *maps;
    size_t nmaps;
};

struct mp_span {
    size_t off, len;
    bool set;
};

struct md_mapper {
    struct mp_profile *profiles;
    size_t nprofiles;
    struct md_mapper_stats st;

    struct mp_entry *ents;
    uint32_t cap, nents, ents_alloc;
    int32_t *buckets;
    uint32_t nbuckets;
    int32_t head, tail; /* most / least recently used */

    /* scratch for the miss path */
    struct mp_span *caps; /* 1 + most captures of any mapping */
    unsigned maxcaps;
    regmatch_t *rm;
    size_t maxtags;
    size_t *tag_off, *tag_len;
    struct md_buf text; /* new name at [0, name_len), then the tags */
    size_t name_len;
    char *cname; /* NUL-terminated copy of the name for regexec */
    size_t cname_cap;
    unsigned char *memo;
    size_t memo_cap;
};

/*
 * Whether mapping mp matches the whole name; on a match the captures are in
 * m->caps[1..mp->ncaps] (those not set stay unset). 0, or -ENOMEM.
 */
int md_mapper_match(struct md_mapper *m, const struct mp_mapping *mp, const char *name,
                    size_t len, bool *ok);

/*
 * Expand the new name and the tags of mp, after a match of name, into
 * m->text (the name at [0, m->name_len), then tag i at tag_off[i],
 * tag_len[i]). 0, or -ENOMEM.
 */
int md_mapper_expand(struct md_mapper *m, const struct mp_mapping *mp, const char *name,
                     size_t len);

#endif
