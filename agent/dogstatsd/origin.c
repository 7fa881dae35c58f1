/*
 * origin.c: origin detection's per-thread cache and line rewriting (see
 * origin.h). Entries live ORIGIN_TTL seconds: long enough that a busy
 * sender costs one lookup per TTL, short enough that a container's name
 * arriving late from the Docker API, or a recycled pid, is picked up.
 * Unknown origins are cached too, so a process outside any container does
 * not read its cgroup file for every datagram; a container id the table
 * does not know yet (it started after the last discovery) is retried
 * sooner, and meanwhile its metrics carry at least container_id at high
 * cardinality.
 */
#include "origin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "containers.h"

#define ORIGIN_SETS 64
#define ORIGIN_WAYS 4
#define ORIGIN_TTL 10.0
#define ORIGIN_RETRY 1.0 /* a container the table does not know yet (just started) */
#define ORIGIN_TAGS_MAX 768

struct oentry {
    uint64_t key;      /* 0 = empty */
    double expires;
    uint16_t len[3];   /* per cardinality; 0 = no tags */
    char tags[3][ORIGIN_TAGS_MAX];
};

struct md_origin {
    struct md_containers *store;
    char *procfs;
    bool by_pid, by_field;
    int card;
    struct md_origin_stats *st;
    char *out;
    size_t outcap;
    struct oentry *e; /* ORIGIN_SETS * ORIGIN_WAYS */
};

struct md_origin *md_origin_new(struct md_containers *store, const char *procfs, bool by_pid,
                                bool by_field, int card, size_t maxline, struct md_origin_stats *st)
{
    struct md_origin *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->store = store;
    o->by_pid = by_pid;
    o->by_field = by_field;
    o->card = card < 0 || card > 2 ? 0 : card;
    o->st = st;
    o->outcap = maxline + ORIGIN_TAGS_MAX + 8;
    o->procfs = strdup(procfs && *procfs ? procfs : "/proc");
    o->out = malloc(o->outcap);
    o->e = calloc(ORIGIN_SETS * ORIGIN_WAYS, sizeof *o->e);
    if (!o->procfs || !o->out || !o->e) {
        md_origin_free(o);
        return NULL;
    }
    return o;
}

void md_origin_free(struct md_origin *o)
{
    if (!o)
        return;
    free(o->procfs);
    free(o->out);
    free(o->e);
    free(o);
}

static uint64_t hash(const char *p, size_t n, uint64_t seed)
{
    uint64_t h = XXH3_64bits_withSeed(p, n, seed);
    return h ? h : 1;
}

/* Fill an entry for container `id` (NULL: no container). Lock taken inside the table. */
static void fill(struct md_origin *o, struct oentry *e, const char *id, size_t idlen, double now)
{
    for (int c = 0; c < 3; c++) {
        int n = id ? md_containers_tags_text(o->store, id, idlen, (enum md_card)c, e->tags[c],
                                             sizeof e->tags[c])
                   : 0;
        e->len[c] = n > 0 ? (uint16_t)strlen(e->tags[c]) : 0;
    }
    if (id && !e->len[2] && idlen <= MD_CID_MAX) {
        e->len[2] = (uint16_t)snprintf(e->tags[2], sizeof e->tags[2], "container_id:%.*s",
                                       (int)idlen, id);
        e->expires = now + ORIGIN_RETRY;
        md_containers_request_rescan(o->store);
    }
    atomic_fetch_add_explicit(&o->st->lookups, 1, memory_order_relaxed);
}

static struct oentry *lookup(struct md_origin *o, uint64_t key, double now, bool *fresh)
{
    struct oentry *set = &o->e[(key % ORIGIN_SETS) * ORIGIN_WAYS];
    struct oentry *victim = &set[0];
    for (int i = 0; i < ORIGIN_WAYS; i++) {
        if (set[i].key == key && set[i].expires > now) {
            *fresh = false;
            return &set[i];
        }
        if (set[i].key == key || set[i].expires < victim->expires)
            victim = &set[i];
    }
    victim->key = key;
    victim->expires = now + ORIGIN_TTL;
    *fresh = true;
    return victim;
}

static struct oentry *by_pid(struct md_origin *o, int pid, double now)
{
    bool fresh;
    struct oentry *e = lookup(o, hash((const char *)&pid, sizeof pid, 0x70), now, &fresh);
    if (fresh) {
        char id[MD_CID_MAX + 1];
        bool found = md_containers_id_of_pid(o->procfs, pid, id) == 0;
        fill(o, e, found ? id : NULL, found ? strlen(id) : 0, now);
    }
    return e;
}

static struct oentry *by_id(struct md_origin *o, const char *id, size_t n, double now)
{
    bool fresh;
    struct oentry *e = lookup(o, hash(id, n, 0x63), now, &fresh);
    if (fresh)
        fill(o, e, n <= MD_CID_MAX ? id : NULL, n, now);
    return e;
}

/* The fields origin detection looks at, found in one pass over the line. */
struct fields {
    const char *tags, *cid, *card; /* values (after "#", "c:", "card:"); NULL = absent */
    size_t tags_n, cid_n, card_n;
};

static void scan(const char *line, size_t len, struct fields *f)
{
    memset(f, 0, sizeof *f);
    const char *end = line + len, *p = memchr(line, '|', len);
    while (p) {
        const char *v = p + 1, *e = memchr(v, '|', (size_t)(end - v));
        size_t n = (size_t)((e ? e : end) - v);
        if (n >= 1 && v[0] == '#' && !f->tags)
            f->tags = v + 1, f->tags_n = n - 1;
        else if (n >= 2 && v[0] == 'c' && v[1] == ':')
            f->cid = v + 2, f->cid_n = n - 2;
        else if (n >= 5 && memcmp(v, "card:", 5) == 0)
            f->card = v + 5, f->card_n = n - 5;
        p = e;
    }
}

/* Copy line into o->out with tags appended to its |# field (or a new one). */
static char *rewrite(struct md_origin *o, const char *line, size_t len, const struct fields *f,
                     const char *tags, size_t tlen, size_t *outlen)
{
    if (len + tlen + 2 > o->outcap) {
        atomic_fetch_add_explicit(&o->st->too_long, 1, memory_order_relaxed);
        return NULL;
    }
    const char *h = f->tags;
    size_t hl = f->tags_n;
    size_t at = h ? (size_t)(h - line) + hl : len; /* end of the tag field, or of the line */
    char *w = o->out;
    memcpy(w, line, at);
    w += at;
    if (h && hl)
        *w++ = ',';
    else if (!h) {
        *w++ = '|';
        *w++ = '#';
    }
    memcpy(w, tags, tlen);
    w += tlen;
    memcpy(w, line + at, len - at);
    w += len - at;
    *outlen = (size_t)(w - o->out);
    return o->out;
}

char *md_origin_apply(struct md_origin *o, int pid, char *line, size_t len, double now, size_t *outlen)
{
    *outlen = len;
    if (!o || (len >= 3 && memcmp(line, "_e{", 3) == 0) || (len >= 4 && memcmp(line, "_sc|", 4) == 0))
        return line;
    struct fields f;
    scan(line, len, &f);
    /* The kernel's word (the sender's pid) first; a client's |c: otherwise. */
    struct oentry *e = o->by_pid && pid > 0 ? by_pid(o, pid, now) : NULL;
    const char *cid = o->by_field && (!e || !e->len[2]) ? f.cid : NULL;
    size_t n = f.cid_n;
    if (cid && n > 3 && memcmp(cid, "ci-", 3) == 0)
        cid += 3, n -= 3;
    if (cid && n && !(n > 3 && memcmp(cid, "in-", 3) == 0)) /* cgroup inodes: not resolved */
        e = by_id(o, cid, n, now);
    if (!e)
        return line; /* nothing says where it came from */
    int card = o->card;
    if (f.card) {
        int c = md_card_parse(f.card, f.card_n);
        if (c >= 0)
            card = c;
    }
    if (!e->len[card]) {
        atomic_fetch_add_explicit(&o->st->no_container, 1, memory_order_relaxed);
        return line;
    }
    char *r = rewrite(o, line, len, &f, e->tags[card], e->len[card], outlen);
    if (!r) {
        *outlen = len;
        return line;
    }
    atomic_fetch_add_explicit(&o->st->tagged, 1, memory_order_relaxed);
    return r;
}
