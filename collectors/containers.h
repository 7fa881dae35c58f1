/*
 * containers.h: the host's containers, shared by everything that needs
 * them: the container and docker collectors, the metadata clients (Docker
 * Engine API, ECS task metadata) and statsd origin detection.
 *
 * Two kinds of knowledge meet here. Discovery walks the cgroup tree and
 * finds containers by the name of their cgroup directory (docker, systemd
 * scopes, containerd, cri-o, Kubernetes pods, ECS tasks); it runs on its
 * own, slower cadence, or sooner when a client asks for a rescan (a Docker
 * `start` event). Metadata clients, on the loop thread, tell what they know
 * about a container id: name, image, state, start time, extra tags. A
 * container that disappears from the cgroup tree is forgotten, so its
 * series stop.
 *
 * Threads: collectors run on worker threads, metadata clients on the loop,
 * intake threads resolve origins. One mutex guards the table and is held
 * only to copy or merge; nothing slow (walking, parsing) happens under it.
 * Origin lookups are cached by the intake threads, so the lock is taken per
 * new client, not per metric.
 */
#ifndef MD_CONTAINERS_H
#define MD_CONTAINERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroup.h"

#define MD_CID_MAX 64

/* Tag cardinality, as dogstatsd_tag_cardinality and |card: name them. */
enum md_card { MD_CARD_LOW = 0, MD_CARD_ORCHESTRATOR, MD_CARD_HIGH };
/* "low", "orchestrator", "high" (case-insensitive); -1 otherwise. */
int md_card_parse(const char *s, size_t n);

/* Who said it: each source's view of a container is replaced as a whole. */
enum md_ctr_src { MD_SRC_DOCKER = 0, MD_SRC_ECS, MD_SRC_N };

struct md_ctr_tag {
    const char *tag;      /* "key:value" */
    enum md_card card;
};

struct md_ctr_info {
    const char *name;     /* without Docker's leading '/'; NULL = unknown */
    const char *image;    /* as the runtime gives it ("nginx:1.25"); NULL = unknown */
    int running;          /* 1, 0, or -1 = unknown */
    int64_t started_at;   /* unix seconds, 0 = unknown */
    const struct md_ctr_tag *tags;
    size_t ntags;
};

struct md_containers_opts {
    const char *cgroup_root;       /* "" or NULL: /host/sys/fs/cgroup when it exists, else /sys/fs/cgroup */
    const char *procfs;            /* host /proc (mounts, /proc/<pid>/cgroup) */
    const char *const *include;    /* "name:re", "image:re", "kube_namespace:re" */
    size_t ninclude;
    const char *const *exclude;
    size_t nexclude;
    unsigned discovery_interval_s; /* 0 = 30 */
};

struct md_containers;

/* NULL with err on a bad filter ("container_exclude[1]: reason") or no memory. */
struct md_containers *md_containers_new(const struct md_containers_opts *o, char *err, size_t errlen);
void md_containers_free(struct md_containers *s);

/* Check one filter string ("name:regex"); NULL when fine, else the reason. */
const char *md_containers_check_filter(const char *f, char *buf, size_t len);

/* ---- discovery ---- */
/* Walk the cgroup tree when due (or asked). 1 = walked, 0 = not due, -errno. */
int md_containers_discover(struct md_containers *s, int64_t now_ns);
/* Make the next md_containers_discover walk (any thread). */
void md_containers_request_rescan(struct md_containers *s);
const struct md_cg_layout *md_containers_layout(const struct md_containers *s);

/*
 * The id in one cgroup directory name (docker-<id>.scope, crio-<id>.scope,
 * cri-containerd-<id>.scope, <64 hex>, ECS <32 hex>-<digits>); 0 when it is
 * not a container. out has room for MD_CID_MAX + 1.
 */
int md_containers_match(const char *name, char *out);
/* The Kubernetes pod uid in a cgroup path (pod<uid> or ...-pod<uid_with_underscores>.slice). */
bool md_containers_pod_uid(const char *path, char *out, size_t len);
/* The container id of a process from <procfs>/<pid>/cgroup: 0 and id in out, or -errno. */
int md_containers_id_of_pid(const char *procfs, int pid, char *out);
/* The same from the text of a /proc/<pid>/cgroup file. */
int md_containers_id_of_cgroup_text(const char *text, char *out);

/* ---- metadata clients ---- */
/* A full refresh: begin, set each container, end (forgets those not set). */
void md_containers_begin(struct md_containers *s, enum md_ctr_src src);
int md_containers_set(struct md_containers *s, enum md_ctr_src src, const char *id,
                      const struct md_ctr_info *info);
void md_containers_end(struct md_containers *s, enum md_ctr_src src);
void md_containers_remove(struct md_containers *s, enum md_ctr_src src, const char *id);

/* ---- readers ---- */
struct md_ctr_view {
    const char *id;
    const char *paths[MD_CGC_N]; /* relative cgroup dirs; NULL = none */
    bool in_cgroups;             /* discovered (running with a cgroup) */
    bool excluded;               /* by container_include / container_exclude */
    int running;                 /* runtime's word, -1 unknown */
    int64_t started_at;
    const char *image;           /* NULL = unknown */
    const char *const *tags;     /* at the snapshot's cardinality */
    size_t ntags;
    const char *const *image_tags; /* the low-cardinality image tags only */
    size_t nimage_tags;
};

/* A copy of the table a reader can use without the lock; reused across runs. */
struct md_ctr_snap {
    struct md_ctr_view *v;
    size_t n, cap;
    char *arena;
    size_t alen, acap;
    const char **ptrs;
    size_t nptrs, capptrs;
};
int md_containers_snapshot(struct md_containers *s, enum md_card card, struct md_ctr_snap *snap);
void md_ctr_snap_free(struct md_ctr_snap *snap);

/*
 * The tags of container `id` at `card` as "t1,t2,..." into buf (origin
 * detection). Returns the number of tags (0 when unknown), or -ENOSPC.
 */
int md_containers_tags_text(struct md_containers *s, const char *id, size_t idlen,
                            enum md_card card, char *buf, size_t len);
/* Bumped whenever any container's tags change (caches compare it). */
uint64_t md_containers_version(const struct md_containers *s);

#endif
