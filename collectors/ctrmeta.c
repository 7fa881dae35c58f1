/*
 * ctrmeta.c: what metadata clients tell about containers, and the copies
 * readers take of the table (see containers.h).
 *
 * Tags follow the Datadog agent's tagger: container_id and container_name
 * are high cardinality, pod_uid orchestrator, image and runtime tags low;
 * clients add their own (labels, ECS task, Kubernetes names) with a level
 * each. A reader gets everything at or below the cardinality it asks for.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containers.h"
#include "containers_int.h"

/* ---- clients -------------------------------------------------------------- */

void md_containers_begin(struct md_containers *s, enum md_ctr_src src)
{
    pthread_mutex_lock(&s->mu);
    s->src_gen[src]++;
    pthread_mutex_unlock(&s->mu);
}

static int srcinfo_fill(struct srcinfo *si, const struct md_ctr_info *in)
{
    if ((in->name && !(si->name = strdup(in->name))) || (in->image && !(si->image = strdup(in->image))))
        return -ENOMEM;
    si->running = in->running;
    si->started_at = in->started_at;
    if (!in->ntags)
        return 0;
    si->tags = calloc(in->ntags, sizeof *si->tags);
    si->cards = calloc(in->ntags, sizeof *si->cards);
    if (!si->tags || !si->cards)
        return -ENOMEM;
    for (size_t i = 0; i < in->ntags; i++) {
        if (!(si->tags[i] = strdup(in->tags[i].tag)))
            return -ENOMEM;
        si->cards[i] = in->tags[i].card;
        si->ntags++;
    }
    return 0;
}

int md_containers_set(struct md_containers *s, enum md_ctr_src src, const char *id,
                      const struct md_ctr_info *info)
{
    pthread_mutex_lock(&s->mu);
    struct ent *e = md_ctr_find_or_add(s, id);
    int rc = -ENOMEM;
    if (e) {
        struct srcinfo *si = &e->src[src];
        md_ctr_srcinfo_clear(si);
        si->set = true;
        si->gen = s->src_gen[src];
        if ((rc = srcinfo_fill(si, info)) < 0)
            md_ctr_srcinfo_clear(si);
        if (!e->runtime[0] && src == MD_SRC_DOCKER)
            e->runtime = "docker";
    }
    atomic_fetch_add(&s->version, 1);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void md_containers_end(struct md_containers *s, enum md_ctr_src src)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        struct srcinfo *si = &s->e[i]->src[src];
        if (si->set && si->gen != s->src_gen[src])
            md_ctr_srcinfo_clear(si);
    }
    md_ctr_compact(s);
    atomic_fetch_add(&s->version, 1);
    pthread_mutex_unlock(&s->mu);
}

void md_containers_remove(struct md_containers *s, enum md_ctr_src src, const char *id)
{
    pthread_mutex_lock(&s->mu);
    struct ent *e = md_ctr_find(s, id, strlen(id));
    if (e) {
        md_ctr_srcinfo_clear(&e->src[src]);
        md_ctr_compact(s);
    }
    atomic_fetch_add(&s->version, 1);
    pthread_mutex_unlock(&s->mu);
}

/* ---- tags ----------------------------------------------------------------- */

typedef int (*put_fn)(void *ud, const char *tag);

static const char *ent_name(const struct ent *e)
{
    for (int i = 0; i < MD_SRC_N; i++)
        if (e->src[i].name)
            return e->src[i].name;
    return NULL;
}

static const char *ent_image(const struct ent *e)
{
    for (int i = 0; i < MD_SRC_N; i++)
        if (e->src[i].image)
            return e->src[i].image;
    return NULL;
}

static const char *ent_tag_value(const struct ent *e, const char *key)
{
    size_t kn = strlen(key);
    for (int i = 0; i < MD_SRC_N; i++)
        for (size_t t = 0; t < e->src[i].ntags; t++)
            if (strncmp(e->src[i].tags[t], key, kn) == 0 && e->src[i].tags[t][kn] == ':')
                return e->src[i].tags[t] + kn + 1;
    return NULL;
}

static int put_kv(put_fn put, void *ud, const char *k, const char *v, size_t vn)
{
    char t[512];
    snprintf(t, sizeof t, "%s:%.*s", k, (int)vn, v);
    return put(ud, t);
}

/*
 * docker_image is the reference as given; image_name drops the tag and any
 * digest, short_image is its last path part, image_tag defaults to latest.
 * An image given only as an id ("sha256:...") has no useful name.
 */
static int image_tags(const char *image, put_fn put, void *ud)
{
    if (!image || !*image || strncmp(image, "sha256:", 7) == 0)
        return 0;
    size_t n = strcspn(image, "@");
    const char *slash = NULL;
    for (size_t i = 0; i < n; i++)
        if (image[i] == '/')
            slash = image + i;
    const char *colon = NULL;
    for (const char *p = slash ? slash : image; p < image + n; p++)
        if (*p == ':')
            colon = p;
    size_t name_n = colon ? (size_t)(colon - image) : n;
    const char *shortp = slash ? slash + 1 : image;
    int rc = put_kv(put, ud, "docker_image", image, n);
    rc |= put_kv(put, ud, "image_name", image, name_n);
    rc |= put_kv(put, ud, "short_image", shortp, (size_t)(image + name_n - shortp));
    rc |= colon ? put_kv(put, ud, "image_tag", colon + 1, (size_t)(image + n - colon - 1))
                : put(ud, "image_tag:latest");
    return rc;
}

static int render(const struct ent *e, enum md_card card, put_fn put, void *ud)
{
    int rc = 0;
    if (card >= MD_CARD_HIGH) {
        rc |= put_kv(put, ud, "container_id", e->id, strlen(e->id));
        const char *name = ent_name(e);
        if (name)
            rc |= put_kv(put, ud, "container_name", name, strlen(name));
    }
    if (card >= MD_CARD_ORCHESTRATOR && e->pod_uid[0])
        rc |= put_kv(put, ud, "pod_uid", e->pod_uid, strlen(e->pod_uid));
    if (e->runtime[0])
        rc |= put_kv(put, ud, "runtime", e->runtime, strlen(e->runtime));
    rc |= image_tags(ent_image(e), put, ud);
    for (int i = 0; i < MD_SRC_N; i++)
        for (size_t t = 0; t < e->src[i].ntags; t++)
            if (e->src[i].cards[t] <= card)
                rc |= put(ud, e->src[i].tags[t]);
    return rc;
}

struct textbuf {
    char *p;
    size_t len, cap;
    int n;
    bool full;
};

static int put_text(void *ud, const char *tag)
{
    struct textbuf *b = ud;
    size_t tn = strlen(tag);
    if (b->len + tn + 2 > b->cap) {
        b->full = true;
        return -1;
    }
    if (b->n)
        b->p[b->len++] = ',';
    memcpy(b->p + b->len, tag, tn);
    b->len += tn;
    b->p[b->len] = '\0';
    b->n++;
    return 0;
}

int md_containers_tags_text(struct md_containers *s, const char *id, size_t idlen,
                            enum md_card card, char *buf, size_t len)
{
    struct textbuf b = {buf, 0, len, 0, false};
    if (len)
        buf[0] = '\0';
    pthread_mutex_lock(&s->mu);
    const struct ent *e = md_ctr_find(s, id, idlen);
    if (e)
        render(e, card, put_text, &b);
    pthread_mutex_unlock(&s->mu);
    return b.full ? -ENOSPC : b.n;
}

/* ---- snapshots -------------------------------------------------------------- */

/* While filling, pointers hold arena offsets + 1 (0 = NULL); fixed up at the end. */
struct filler {
    struct md_ctr_snap *sn;
    int err;
};

static uintptr_t arena_str(struct filler *f, const char *str)
{
    struct md_ctr_snap *sn = f->sn;
    if (!str)
        return 0;
    size_t n = strlen(str) + 1;
    if (sn->alen + n > sn->acap) {
        size_t nc = sn->acap ? sn->acap : 4096;
        while (nc < sn->alen + n)
            nc *= 2;
        char *na = realloc(sn->arena, nc);
        if (!na) {
            f->err = -ENOMEM;
            return 0;
        }
        sn->arena = na;
        sn->acap = nc;
    }
    memcpy(sn->arena + sn->alen, str, n);
    sn->alen += n;
    return sn->alen - n + 1;
}

static int put_ptr(void *ud, const char *tag)
{
    struct filler *f = ud;
    struct md_ctr_snap *sn = f->sn;
    if (sn->nptrs == sn->capptrs) {
        size_t nc = sn->capptrs ? sn->capptrs * 2 : 256;
        const char **np = realloc(sn->ptrs, nc * sizeof *np);
        if (!np)
            return f->err = -ENOMEM;
        sn->ptrs = np;
        sn->capptrs = nc;
    }
    sn->ptrs[sn->nptrs++] = (const char *)arena_str(f, tag);
    return f->err;
}

static const char *fix(const struct md_ctr_snap *sn, const char *p)
{
    uintptr_t o = (uintptr_t)p;
    return o ? sn->arena + o - 1 : NULL;
}

static void fill_view(struct md_containers *s, struct filler *f, const struct ent *e,
                      enum md_card card, struct md_ctr_view *v)
{
    struct md_ctr_snap *sn = f->sn;
    const struct srcinfo *d = &e->src[MD_SRC_DOCKER];
    memset(v, 0, sizeof *v);
    v->id = (const char *)arena_str(f, e->id);
    for (int c = 0; c < MD_CGC_N; c++)
        v->paths[c] = (const char *)arena_str(f, e->paths[c]);
    v->in_cgroups = e->in_cg;
    v->running = d->set ? d->running : (e->in_cg ? 1 : -1);
    v->started_at = d->set ? d->started_at : 0;
    v->image = (const char *)arena_str(f, ent_image(e));
    const char *name = ent_name(e);
    const char *image = ent_image(e);
    const char *ns = ent_tag_value(e, "kube_namespace");
    v->excluded = md_ctr_filters_match(s->exc, s->nexc, name, image, ns) &&
                  !md_ctr_filters_match(s->inc, s->ninc, name, image, ns);
    size_t first = sn->nptrs;
    render(e, card, put_ptr, f);
    v->tags = (const char *const *)(uintptr_t)first;
    v->ntags = sn->nptrs - first;
    first = sn->nptrs;
    image_tags(image, put_ptr, f);
    v->image_tags = (const char *const *)(uintptr_t)first;
    v->nimage_tags = sn->nptrs - first;
}

int md_containers_snapshot(struct md_containers *s, enum md_card card, struct md_ctr_snap *sn)
{
    struct filler f = {sn, 0};
    sn->n = sn->alen = sn->nptrs = 0;
    pthread_mutex_lock(&s->mu);
    if (s->n > sn->cap) {
        struct md_ctr_view *nv = realloc(sn->v, s->n * sizeof *nv);
        if (!nv) {
            pthread_mutex_unlock(&s->mu);
            return -ENOMEM;
        }
        sn->v = nv;
        sn->cap = s->n;
    }
    for (size_t i = 0; i < s->n && !f.err; i++)
        fill_view(s, &f, s->e[i], card, &sn->v[sn->n++]);
    pthread_mutex_unlock(&s->mu);
    if (f.err) {
        sn->n = 0;
        return f.err;
    }
    for (size_t i = 0; i < sn->nptrs; i++)
        sn->ptrs[i] = fix(sn, sn->ptrs[i]);
    for (size_t i = 0; i < sn->n; i++) {
        struct md_ctr_view *v = &sn->v[i];
        v->id = fix(sn, v->id);
        v->image = fix(sn, v->image);
        for (int c = 0; c < MD_CGC_N; c++)
            v->paths[c] = fix(sn, v->paths[c]);
        v->tags = sn->ptrs + (uintptr_t)v->tags;
        v->image_tags = sn->ptrs + (uintptr_t)v->image_tags;
    }
    return 0;
}

void md_ctr_snap_free(struct md_ctr_snap *sn)
{
    free(sn->v);
    free(sn->arena);
    free(sn->ptrs);
    memset(sn, 0, sizeof *sn);
}
