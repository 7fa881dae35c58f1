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

struct uptime_state {
    char *proc;
    struct md_fbuf fb;
};

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

static int uptime_configure(const struct md_instance_conf *conf, void **state, char *err, size_t errlen)
{
    struct uptime_state *s = calloc(1, sizeof *s);
    if (!s || !(s->proc = md_procfs_dup_root(conf->procfs_path, "/proc"))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *state = s;
    return 0;
}

static int uptime_collect(void *state, struct md_emitter *e)
{
    struct uptime_state *s = state;
    double up;
    int rc = md_procfs_read(&s->fb, s->proc, "uptime");
    if (rc < 0)
        return rc;
    if ((rc = md_uptime_parse(s->fb.p, &up, NULL)) < 0)
        return rc;
    md_gauge(e, "system.uptime", up, NULL, 0);
    return 0;
}

static void uptime_destroy(void *state)
{
    struct uptime_state *s = state;
    if (!s)
        return;
    md_procfs_free(&s->fb);
    free(s->proc);
    free(s);
}

const struct md_collector_ops md_collector_uptime = {
    .name = "uptime",
    .default_on = true,
    .default_interval = 15,
    .configure = uptime_configure,
    .collect = uptime_collect,
    .destroy = uptime_destroy,
};
