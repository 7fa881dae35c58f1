/*
 * uptime.c: the `uptime` collector (system.uptime, seconds), from the first
 * field of <proc>/uptime, which equals gopsutil's now − btime.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "host.h"
#include "meterd/collector.h"
#include "procfs.h"

int md_uptime_parse(const char *text, double *uptime, double *idle)
{
    double u, i = 0;
    if (sscanf(text, "%lf %lf", &u, &i) < 1 || u < 0)
        return -EINVAL;
    *uptime = u;
    if (idle)
        *idle = i;
    return 0;
}

static int uptime_collect(void *state, struct md_emitter *e)
{
    struct md_procfs_src *s = state;
    double up;
    int rc = md_procfs_read(&s->fb, s->proc, "uptime");
    if (rc < 0)
        return rc;
    if ((rc = md_uptime_parse(s->fb.p, &up, NULL)) < 0)
        return rc;
    md_gauge(e, "system.uptime", up, NULL, 0);
    return 0;
}

const struct md_collector_ops md_collector_uptime = {
    .name = "uptime",
    .default_on = true,
    .default_interval = 15,
    .configure = md_procfs_src_configure,
    .collect = uptime_collect,
    .destroy = md_procfs_src_destroy,
};
