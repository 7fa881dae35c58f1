/*
 * collect_int.h: what the runner (collect.c) and conf.d loading
 * (collect_files.c, collect_conf.c) share: one instance of a collector
 * with its parsed keys, run state and counters, and the runner that owns
 * the instances.
 */
#ifndef METERD_COLLECT_INT_H
#define METERD_COLLECT_INT_H

#include <stdbool.h>

#include "buf.h"
#include "collect.h"

/* One emitted sample, recorded by the worker: arena bytes "name\0tag\0tag\0". */
struct rec {
    uint32_t off, len;
    uint32_t ntags;
    enum md_emit_kind kind;
    double value;
};

/* Previous value of one counter series of an instance. */
struct series {
    uint64_t hash;
    char *key;
    uint32_t klen;
    double value;
    int64_t t_ns;
    uint64_t gen;
};

struct inst {
    struct md_collect_runner *r;
    const struct md_collector_ops *ops;
    char *source;
    int index, line;
    unsigned interval_ms;
    bool enabled;
    char **tags;
    size_t ntags;
    union md_key_value *values;
    size_t nvalues;
    void *state;
    bool configured;

    uv_timer_t timer;
    bool timer_init;
    uv_work_t work;
    bool busy;
    int run_rc;
    int64_t run_ns, run_end_ns, run_unix_ms;

    struct rec *recs;
    size_t nrecs, caprecs;
    struct md_buf arena; /* the run's names and tags, "name\0tag\0tag\0" per record */
    bool overflow;

    struct series *tab;
    size_t tabcap, tabn;
    uint64_t gen;

    struct md_collect_stats st;
};

struct md_collect_runner {
    uv_loop_t *loop;
    struct md_point_sink out;
    bool has_out;
    void (*observe)(void *ud, const struct md_point *p, enum md_emit_kind kind);
    void *observe_ud;
    char *procfs, *sysfs;
    struct md_containers *containers;
    struct inst **inst;
    size_t ninst;
    struct md_str *scratch; /* tag views of one point */
    size_t scratch_cap;
    char *warned; /* "collector.key\n" of keys already warned about in this load */
    bool closing;
    size_t pending; /* handles closing + runs in flight after md_collect_free */
    struct md_strlist notes; /* warnings of the conf.d load, logged once by md_collect_new */
};


/* A new instance of ops with every key at its default; NULL when out of memory. */
struct inst *md_collect_conf_inst(struct md_collect_runner *r, const struct md_collector_ops *ops,
                                  const char *source, int index, int line);
void md_collect_conf_inst_free(struct inst *in);
int md_collect_conf_add(struct md_collect_runner *r, struct inst *in);
/*
 * The instances of one check file of ops into r (collect_conf.c). 0, or a
 * negative errno with "FILE:LINE: KEY: reason".
 */
int md_collect_conf_file(struct md_collect_runner *r, const struct md_collector_ops *ops,
                         const char *path, char *err, size_t errlen);
/*
 * Load <confd>/<name>.d/ for ops into r; *found tells whether any instance
 * came from a file. 0, or a negative errno with "FILE:LINE: KEY: reason".
 */
int md_collect_conf_load(struct md_collect_runner *r, const char *confd,
                         const struct md_collector_ops *ops, bool *found, char *err,
                         size_t errlen);

#endif
