/*
 * load.c: the `load` collector (system.load.1/5/15 and system.load.norm.*),
 * from <proc>/loadavg. The normalised values divide by the number of
 * logical CPUs, counted once at configure from the cpuN lines of <proc>/stat.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "meterd/collector.h"
#include "procfs.h"

struct load_state {
    struct md_procfs_src src; /* first: md_procfs_src_destroy frees the whole state */
    unsigned ncpu;
};

int md_load_parse(const char *text, struct md_loadavg *out)
{
    memset(out, 0, sizeof *out);
    unsigned long long run = 0, total = 0;
    if (sscanf(text, "%lf %lf %lf %llu/%llu", &out->l1, &out->l5, &out->l15, &run, &total) < 3)
        return -EINVAL;
    out->running = run;
    out->total = total;
    return 0;
}

static int load_configure(const struct md_instance_conf *conf, void **state, char *err, size_t errlen)
{
    struct load_state *s = md_procfs_src_new(conf, sizeof *s, err, errlen);
    if (!s)
        return -ENOMEM;
    struct md_cpu_times t;
    if (md_procfs_read(&s->src.fb, s->src.proc, "stat") >= 0 && md_cpu_parse_stat(s->src.fb.p, &t) == 0)
        s->ncpu = t.ncpu;
    *state = s;
    return 0;
}

static int load_collect(void *state, struct md_emitter *e)
{
    struct load_state *s = state;
    struct md_loadavg l;
    int rc = md_procfs_read(&s->src.fb, s->src.proc, "loadavg");
    if (rc < 0)
        return rc;
    if ((rc = md_load_parse(s->src.fb.p, &l)) < 0)
        return rc;
    md_gauge(e, "system.load.1", l.l1, NULL, 0);
    md_gauge(e, "system.load.5", l.l5, NULL, 0);
    md_gauge(e, "system.load.15", l.l15, NULL, 0);
    if (s->ncpu) {
        md_gauge(e, "system.load.norm.1", l.l1 / s->ncpu, NULL, 0);
        md_gauge(e, "system.load.norm.5", l.l5 / s->ncpu, NULL, 0);
        md_gauge(e, "system.load.norm.15", l.l15 / s->ncpu, NULL, 0);
    }
    return 0;
}

const struct md_collector_ops md_collector_load = {
    .name = "load",
    .default_on = true,
    .default_interval = 15,
    .configure = load_configure,
    .collect = load_collect,
    .destroy = md_procfs_src_destroy,
};
