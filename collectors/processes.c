/*
 * processes.c: the `processes` collector (system.processes.*): how many
 * processes the host has and what they are doing.
 *
 * total counts the numeric directories of the proc root (processes, not
 * threads); running and blocked are the scheduler's own counts from
 * <proc>/stat (they count threads, as the kernel does); created is the
 * fork counter of <proc>/stat, sent as a monotonic count.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "host.h"
#include "meterd/collector.h"
#include "procfs.h"

static long count_pids(const char *proc)
{
    DIR *d = opendir(proc);
    if (!d)
        return -errno;
    long n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *p = de->d_name;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p == '\0' && p != de->d_name)
            n++;
    }
    closedir(d);
    return n;
}

static int procs_collect(void *state, struct md_emitter *e)
{
    struct md_procfs_src *s = state;
    struct md_cpu_times t;
    int rc = md_procfs_read(&s->fb, s->proc, "stat");
    if (rc < 0)
        return rc;
    if ((rc = md_cpu_parse_stat(s->fb.p, &t)) < 0)
        return rc;
    long total = count_pids(s->proc);
    if (total >= 0)
        md_gauge(e, "system.processes.total", (double)total, NULL, 0);
    md_gauge(e, "system.processes.running", (double)t.procs_running, NULL, 0);
    md_gauge(e, "system.processes.blocked", (double)t.procs_blocked, NULL, 0);
    md_monotonic(e, "system.processes.created", (double)t.processes, NULL, 0);
    return total < 0 ? (int)total : 0;
}

const struct md_collector_ops md_collector_processes = {
    .name = "processes",
    .default_on = true,
    .default_interval = 15,
    .needs_two_runs = true,
    .configure = md_procfs_src_configure,
    .collect = procs_collect,
    .destroy = md_procfs_src_destroy,
};
