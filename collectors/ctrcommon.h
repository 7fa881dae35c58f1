/*
 * ctrcommon.h: what the container and docker collectors share: finding the
 * container table (the daemon's, or a private one when run without it),
 * reading every discovered container once per run, and emitting a
 * container's readings under its tags.
 */
#ifndef MD_CTRCOMMON_H
#define MD_CTRCOMMON_H

#include "containers.h"
#include "meterd/collector.h"

struct md_ctr_run {
    struct md_containers *store;
    bool own_store;
    struct md_ctr_snap snap;
    struct md_fbuf fb;
    unsigned host_cpus;
};

int md_ctr_run_init(struct md_ctr_run *r, const struct md_instance_conf *conf, char *err, size_t errlen);
void md_ctr_run_free(struct md_ctr_run *r);
/* Discovery when due, then a snapshot at high cardinality. */
int md_ctr_run_begin(struct md_ctr_run *r, int64_t now_ns);

/* The collector callbacks both share: the state is a struct md_ctr_run. */
int md_ctr_configure(const struct md_instance_conf *conf, void **state, char *err, size_t errlen);
void md_ctr_destroy(void *state);

/*
 * One run: md_ctr_run_begin, then fn for every container whose cgroups
 * could be read. 0 when it ran, -ENOENT when there is no container table
 * yet (nothing to report), another -errno on failure.
 */
typedef void (*md_ctr_emit_fn)(struct md_emitter *e, const struct md_ctr_view *c,
                               const struct md_cg_stats *st);
int md_ctr_run_each(struct md_ctr_run *r, struct md_emitter *e, md_ctr_emit_fn fn);

/* One reading of container c under its tags; NaN (not available on this host) is left out. */
void md_ctr_gauge(struct md_emitter *e, const char *name, double v, const struct md_ctr_view *c);
void md_ctr_rate(struct md_emitter *e, const char *name, double v, const struct md_ctr_view *c);

#endif
