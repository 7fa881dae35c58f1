/*
 * containers_int.h: the table behind containers.h, shared by the two files
 * that implement it (containers.c: discovery and the table; ctrmeta.c:
 * metadata, snapshots and tags). Not for other users.
 */
#ifndef MD_CONTAINERS_INT_H
#define MD_CONTAINERS_INT_H

#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>

#include "containers.h"

struct srcinfo {
    bool set;
    uint64_t gen;
    char *name, *image;
    int running;
    int64_t started_at;
    char **tags;
    enum md_card *cards;
    size_t ntags;
};

struct ent {
    char id[MD_CID_MAX + 1];
    char *paths[MD_CGC_N];
    bool in_cg;
    char pod_uid[64];
    const char *runtime;
    struct srcinfo src[MD_SRC_N];
};

struct filter {
    enum { F_NAME, F_IMAGE, F_KUBE_NS } what;
    regex_t re;
};

struct md_containers {
    pthread_mutex_t mu;
    struct ent **e;
    size_t n, cap;
    uint64_t src_gen[MD_SRC_N];
    _Atomic uint64_t version;
    struct md_cg_layout layout;
    char *procfs;
    struct filter *inc, *exc;
    size_t ninc, nexc;
    /* discovery: one walk at a time */
    pthread_mutex_t walk_mu;
    int64_t last_walk_ns;
    int64_t interval_ns;
    _Atomic int rescan;
};


/* All with s->mu held. */
struct ent *md_ctr_find(struct md_containers *s, const char *id, size_t idlen);
struct ent *md_ctr_find_or_add(struct md_containers *s, const char *id);
void md_ctr_compact(struct md_containers *s);
void md_ctr_srcinfo_clear(struct srcinfo *si);
bool md_ctr_filters_match(const struct filter *f, size_t n, const char *name, const char *image,
                          const char *kube_ns);

#endif
