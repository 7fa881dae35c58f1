/*
 * frame.c: the arena and the sealed-window frame (see frame.h).
 *
 * Frames are built once per window by the aggregator and then only read, so
 * a bump allocator with chunk-sized blocks fits the few strings a frame
 * owns; most series borrow theirs from the contexts (md_frame_add_ref).
 */
#include "meterd/frame.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK (64 * 1024)

struct md_arena_chunk {
    struct md_arena_chunk *next;
    size_t used, cap;
    _Alignas(16) char data[];
};

void *md_arena_alloc(struct md_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct md_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->bytes += n;
    return p;
}

char *md_arena_strndup(struct md_arena *a, const char *s, size_t n)
{
    char *p = md_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void md_arena_free(struct md_arena *a)
{
    struct md_arena_chunk *c = a->head;
    while (c) {
        struct md_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->bytes = 0;
}

const char *md_series_type_name(enum md_series_type t)
{
    switch (t) {
    case MD_SERIES_RATE: return "rate";
    case MD_SERIES_COUNT: return "count";
    default: return "gauge";
    }
}

void md_frame_init(struct md_frame *f, int64_t start, uint32_t interval)
{
    memset(f, 0, sizeof *f);
    f->start = start;
    f->interval = interval;
}

void md_frame_free(struct md_frame *f)
{
    if (f->release)
        f->release(f->release_ud);
    free(f->series);
    free(f->sketches);
    free(f->events);
    free(f->checks);
    md_arena_free(&f->arena);
    memset(f, 0, sizeof *f);
}

/* Grow one of the frame's arrays; elem is the element size. */
static void *grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return (char *)*arr + n * elem;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return NULL;
    *arr = p;
    *cap = ncap;
    return (char *)p + n * elem;
}

int md_frame_reserve(struct md_frame *f, size_t n)
{
    if (n <= f->series_cap)
        return 0;
    void *p = realloc(f->series, n * sizeof *f->series);
    if (!p)
        return -ENOMEM;
    f->series = p;
    f->series_cap = n;
    return 0;
}

const struct md_series_key *md_frame_key(struct md_frame *f, const char *host, size_t host_len,
                                         const struct md_str *tags, uint32_t ntags)
{
    struct md_series_key *k = md_arena_alloc(&f->arena, sizeof *k);
    const char **tv = md_arena_alloc(&f->arena, sizeof(char *) * (ntags ? ntags : 1));
    if (!k || !tv)
        return NULL;
    k->host = md_arena_strndup(&f->arena, host ? host : "", host ? host_len : 0);
    for (uint32_t i = 0; i < ntags; i++) {
        tv[i] = md_arena_strndup(&f->arena, tags[i].p, tags[i].len);
        if (!tv[i])
            return NULL;
    }
    k->tags = tv;
    k->ntags = ntags;
    return k->host ? k : NULL;
}

int md_frame_add(struct md_frame *f, const char *name, size_t name_len, const char *suffix,
                 const struct md_series_key *key, enum md_series_type type, uint32_t interval,
                 int64_t timestamp, double value)
{
    if (!isfinite(value))
        return -EINVAL;
    size_t slen = suffix ? strlen(suffix) : 0;
    char *full = md_arena_alloc(&f->arena, name_len + slen + 1);
    struct md_series *s = grow((void **)&f->series, &f->series_cap, f->nseries, sizeof *s);
    if (!full || !s)
        return -ENOMEM;
    memcpy(full, name, name_len);
    if (slen)
        memcpy(full + name_len, suffix, slen);
    full[name_len + slen] = '\0';
    *s = (struct md_series){.name = full, .key = key, .type = type, .interval = interval,
                            .timestamp = timestamp, .value = value};
    f->nseries++;
    return 0;
}

int md_frame_add_ref(struct md_frame *f, const char *name, const char *suffix,
                     const struct md_series_key *key, enum md_series_type type, uint32_t interval,
                     int64_t timestamp, double value)
{
    if (!isfinite(value))
        return -EINVAL;
    struct md_series *s = grow((void **)&f->series, &f->series_cap, f->nseries, sizeof *s);
    if (!s)
        return -ENOMEM;
    *s = (struct md_series){.name = name, .suffix = suffix, .key = key, .type = type,
                            .interval = interval, .timestamp = timestamp, .value = value};
    f->nseries++;
    return 0;
}

const char *md_series_full_name(const struct md_series *s, char *buf, size_t n)
{
    if (!s->suffix)
        return s->name ? s->name : "";
    snprintf(buf, n, "%s%s", s->name ? s->name : "", s->suffix);
    return buf;
}

struct md_sketch_series *md_frame_add_sketch(struct md_frame *f)
{
    struct md_sketch_series *s = grow((void **)&f->sketches, &f->sketches_cap, f->nsketches, sizeof *s);
    if (s) {
        memset(s, 0, sizeof *s);
        f->nsketches++;
    }
    return s;
}

struct md_event_out *md_frame_add_event(struct md_frame *f)
{
    struct md_event_out *e = grow((void **)&f->events, &f->events_cap, f->nevents, sizeof *e);
    if (e) {
        memset(e, 0, sizeof *e);
        f->nevents++;
    }
    return e;
}

struct md_check_out *md_frame_add_check(struct md_frame *f)
{
    struct md_check_out *c = grow((void **)&f->checks, &f->checks_cap, f->nchecks, sizeof *c);
    if (c) {
        memset(c, 0, sizeof *c);
        f->nchecks++;
    }
    return c;
}
