/*
 * self.c: the `self` collector: meterd's own footprint (meterd.cpu,
 * meterd.mem.rss, meterd.open_fds, meterd.threads), so an operator sees the
 * agent's cost on the same dashboards as everything else.
 *
 * It reads <proc>/self/..., which names this process in whatever PID
 * namespace that proc mount belongs to, so it also works with /host/proc.
 * meterd.cpu is percent of one core: cumulative CPU seconds × 100 sent as
 * a rate, so the runner's per-second delta is the percentage.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"
#include "meterd/collector.h"
#include "procfs.h"

struct self_state {
    struct md_procfs_src src; /* first: md_procfs_src_destroy frees the whole state */
    long hz, page;
};

int md_self_parse_stat(const char *text, struct md_self_stat *out)
{
    /* comm (field 2) may hold spaces and parentheses: fields restart after the last ')'. */
    const char *p = strrchr(text, ')');
    if (!p)
        return -EINVAL;
    p++;
    unsigned long long v[18];
    char state;
    /* fields 3..20: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime priority nice num_threads */
    if (sscanf(p, " %c %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
               &state, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10],
               &v[11], &v[12], &v[13], &v[14], &v[15], &v[16]) != 18)
        return -EINVAL;
    out->utime = v[10];
    out->stime = v[11];
    out->num_threads = v[16];
    return 0;
}

int md_self_parse_statm(const char *text, uint64_t *resident_pages)
{
    unsigned long long size, res;
    if (sscanf(text, "%llu %llu", &size, &res) != 2)
        return -EINVAL;
    *resident_pages = res;
    return 0;
}

static int self_configure(const struct md_instance_conf *conf, void **state, char *err, size_t errlen)
{
    struct self_state *s = md_procfs_src_new(conf, sizeof *s, err, errlen);
    if (!s)
        return -ENOMEM;
    s->hz = sysconf(_SC_CLK_TCK);
    s->page = sysconf(_SC_PAGESIZE);
    if (s->hz <= 0)
        s->hz = 100;
    if (s->page <= 0)
        s->page = 4096;
    *state = s;
    return 0;
}

static long count_fds(const char *proc)
{
    char path[4096];
    if (md_procfs_path(path, sizeof path, proc, "self/fd") < 0)
        return -ENAMETOOLONG;
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    long n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static int self_collect(void *state, struct md_emitter *e)
{
    struct self_state *s = state;
    struct md_self_stat st;
    uint64_t res;
    int rc = md_procfs_read(&s->src.fb, s->src.proc, "self/stat");
    if (rc < 0 || (rc = md_self_parse_stat(s->src.fb.p, &st)) < 0)
        return rc;
    md_rate(e, "meterd.cpu", (double)(st.utime + st.stime) * 100.0 / (double)s->hz, NULL, 0);
    md_gauge(e, "meterd.threads", (double)st.num_threads, NULL, 0);
    if ((rc = md_procfs_read(&s->src.fb, s->src.proc, "self/statm")) < 0 ||
        (rc = md_self_parse_statm(s->src.fb.p, &res)) < 0)
        return rc;
    md_gauge(e, "meterd.mem.rss", (double)res * (double)s->page, NULL, 0);
    long fds = count_fds(s->src.proc);
    if (fds < 0)
        return (int)fds;
    md_gauge(e, "meterd.open_fds", (double)fds, NULL, 0);
    return 0;
}

const struct md_collector_ops md_collector_self = {
    .name = "self",
    .default_on = true,
    .default_interval = 15,
    .needs_two_runs = true,
    .configure = self_configure,
    .collect = self_collect,
    .destroy = md_procfs_src_destroy,
};
