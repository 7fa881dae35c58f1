/*
 * docker.c: the `docker` collector: the same cgroup readings as the
 * container collector, under the docker.* names and units that
 * docker-dd-agent dashboards use (CPU in percent of one core, docker.mem.*
 * in bytes, docker.mem.in_use a fraction of the limit), plus how many
 * containers each image has running and stopped, from the Docker Engine
 * API. Off by default: enable it with conf.d/docker.d/conf.yaml.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrcommon.h"

static void emit_one(struct md_emitter *e, const struct md_ctr_view *c, const struct md_cg_stats *s)
{
    /* ns of CPU per second / 1e7 = percent of one core */
    md_ctr_rate(e, "docker.cpu.usage", s->cpu_total / 1e7, c);
    md_ctr_rate(e, "docker.cpu.user", s->cpu_user / 1e7, c);
    md_ctr_rate(e, "docker.cpu.system", s->cpu_system / 1e7, c);
    md_ctr_rate(e, "docker.cpu.throttled", s->throttled_periods, c);
    md_ctr_gauge(e, "docker.cpu.limit", s->cpu_limit / 1e7, c);
    md_ctr_gauge(e, "docker.mem.rss", s->mem_rss, c);
    md_ctr_gauge(e, "docker.mem.cache", s->mem_cache, c);
    md_ctr_gauge(e, "docker.mem.limit", s->mem_limit, c);
    md_ctr_gauge(e, "docker.mem.working_set", s->mem_working_set, c);
    md_ctr_gauge(e, "docker.mem.failed_count", s->mem_oom_events, c);
    if (isfinite(s->mem_limit) && s->mem_limit > 0)
        md_ctr_gauge(e, "docker.mem.in_use", s->mem_usage / s->mem_limit, c);
    md_ctr_rate(e, "docker.io.read_bytes", s->io_read, c);
    md_ctr_rate(e, "docker.io.write_bytes", s->io_write, c);
    md_ctr_rate(e, "docker.io.read_operations", s->io_read_ops, c);
    md_ctr_rate(e, "docker.io.write_operations", s->io_write_ops, c);
    md_ctr_gauge(e, "docker.thread.count", s->threads, c);
    md_ctr_gauge(e, "docker.thread.limit", s->thread_limit, c);
}

/* docker.containers.running / .stopped: one series per image, counted over the table. */
static void emit_counts(struct md_emitter *e, const struct md_ctr_snap *sn)
{
    for (size_t i = 0; i < sn->n; i++) {
        const struct md_ctr_view *a = &sn->v[i];
        if (a->running < 0 || a->excluded)
            continue;
        bool first = true;
        for (size_t j = 0; j < i && first; j++) {
            const struct md_ctr_view *b = &sn->v[j];
            first = !(b->running >= 0 && !b->excluded && b->image && a->image &&
                      strcmp(a->image, b->image) == 0);
        }
        if (!first || !a->image)
            continue;
        double run = 0, stop = 0;
        for (size_t j = i; j < sn->n; j++) {
            const struct md_ctr_view *b = &sn->v[j];
            if (b->running < 0 || b->excluded || !b->image || strcmp(a->image, b->image) != 0)
                continue;
            *(b->running ? &run : &stop) += 1;
        }
        md_gauge(e, "docker.containers.running", run, a->image_tags, a->nimage_tags);
        md_gauge(e, "docker.containers.stopped", stop, a->image_tags, a->nimage_tags);
    }
}

static int docker_collect(void *state, struct md_emitter *e)
{
    struct md_ctr_run *r = state;
    int rc = md_ctr_run_each(r, e, emit_one);
    if (rc < 0)
        return rc == -ENOENT ? 0 : rc;
    emit_counts(e, &r->snap);
    return 0;
}

const struct md_collector_ops md_collector_docker = {
    .name = "docker",
    .default_on = false,
    .default_interval = 15,
    .needs_two_runs = true,
    .configure = md_ctr_configure,
    .collect = docker_collect,
    .destroy = md_ctr_destroy,
};
