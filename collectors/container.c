/*
 * container.c: the `container` collector: CPU, memory, I/O and process
 * counts of every container on the host, read from its cgroups, under the
 * Datadog container check's names and units (CPU in ns of CPU per second,
 * so 1e9 is one full core; memory in bytes; I/O in bytes and operations
 * per second), tagged with what the container is known by.
 *
 * Cumulative counters go out as rates, so the first run after a container
 * appears shows only its gauges. Containers excluded by container_include /
 * container_exclude, and those gone since discovery, are skipped.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctrcommon.h"

int md_ctr_run_init(struct md_ctr_run *r, const struct md_instance_conf *conf, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    r->host_cpus = n > 0 ? (unsigned)n : 1;
    if (conf->containers) {
        r->store = conf->containers;
        return 0;
    }
    struct md_containers_opts o = {.procfs = conf->procfs_path};
    if (!(r->store = md_containers_new(&o, err, errlen)))
        return -EINVAL;
    r->own_store = true;
    return 0;
}

void md_ctr_run_free(struct md_ctr_run *r)
{
    if (r->own_store)
        md_containers_free(r->store);
    md_ctr_snap_free(&r->snap);
    md_procfs_free(&r->fb);
}

int md_ctr_run_begin(struct md_ctr_run *r, int64_t now_ns)
{
    int rc = md_containers_discover(r->store, now_ns);
    if (rc == -ENOENT)
        return rc; /* no cgroup hierarchy under the root: nothing to report */
    return md_containers_snapshot(r->store, MD_CARD_HIGH, &r->snap);
}

void md_ctr_gauge(struct md_emitter *e, const char *name, double v, const struct md_ctr_view *c)
{
    if (isfinite(v))
        md_gauge(e, name, v, c->tags, c->ntags);
}

void md_ctr_rate(struct md_emitter *e, const char *name, double v, const struct md_ctr_view *c)
{
    if (isfinite(v))
        md_rate(e, name, v, c->tags, c->ntags);
}

static void emit_one(struct md_emitter *e, const struct md_ctr_view *c, const struct md_cg_stats *s)
{
    md_ctr_rate(e, "container.cpu.usage", s->cpu_total, c);
    md_ctr_rate(e, "container.cpu.user", s->cpu_user, c);
    md_ctr_rate(e, "container.cpu.system", s->cpu_system, c);
    md_ctr_rate(e, "container.cpu.throttled", s->throttled_time, c);
    md_ctr_rate(e, "container.cpu.throttled.periods", s->throttled_periods, c);
    md_ctr_gauge(e, "container.cpu.limit", s->cpu_limit, c);
    md_ctr_gauge(e, "container.memory.usage", s->mem_usage, c);
    md_ctr_gauge(e, "container.memory.rss", s->mem_rss, c);
    md_ctr_gauge(e, "container.memory.cache", s->mem_cache, c);
    md_ctr_gauge(e, "container.memory.working_set", s->mem_working_set, c);
    md_ctr_gauge(e, "container.memory.limit", s->mem_limit, c);
    md_ctr_gauge(e, "container.memory.kernel", s->mem_kernel, c);
    md_ctr_gauge(e, "container.memory.oom_events", s->mem_oom_events, c);
    md_ctr_rate(e, "container.io.read", s->io_read, c);
    md_ctr_rate(e, "container.io.write", s->io_write, c);
    md_ctr_rate(e, "container.io.read.operations", s->io_read_ops, c);
    md_ctr_rate(e, "container.io.write.operations", s->io_write_ops, c);
    md_ctr_gauge(e, "container.pid.count", s->procs, c);
    md_ctr_gauge(e, "container.pid.thread_count", s->threads, c);
    md_ctr_gauge(e, "container.pid.thread_limit", s->thread_limit, c);
    if (c->started_at > 0)
        md_ctr_gauge(e, "container.uptime", (double)(time(NULL) - c->started_at), c);
}

int md_ctr_configure(const struct md_instance_conf *conf, void **state, char *err, size_t errlen)
{
    struct md_ctr_run *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = md_ctr_run_init(r, conf, err, errlen);
    if (rc < 0) {
        free(r);
        return rc;
    }
    *state = r;
    return 0;
}

void md_ctr_destroy(void *state)
{
    if (!state)
        return;
    md_ctr_run_free(state);
    free(state);
}

int md_ctr_run_each(struct md_ctr_run *r, struct md_emitter *e, md_ctr_emit_fn fn)
{
    int rc = md_ctr_run_begin(r, e->now_ns);
    if (rc < 0)
        return rc;
    const struct md_cg_layout *l = md_containers_layout(r->store);
    for (size_t i = 0; i < r->snap.n; i++) {
        const struct md_ctr_view *c = &r->snap.v[i];
        struct md_cg_stats st;
        if (!c->in_cgroups || c->excluded || md_cg_read(l, c->paths, r->host_cpus, &r->fb, &st) < 0)
            continue;
        fn(e, c, &st);
    }
    return 0;
}

static int container_collect(void *state, struct md_emitter *e)
{
    int rc = md_ctr_run_each(state, e, emit_one);
    return rc == -ENOENT ? 0 : rc;
}

const struct md_collector_ops md_collector_container = {
    .name = "container",
    .default_on = true,
    .default_interval = 15,
    .needs_two_runs = true,
    .configure = md_ctr_configure,
    .collect = container_collect,
    .destroy = md_ctr_destroy,
};
