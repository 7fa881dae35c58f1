/*
 * io.c: the `io` collector (system.io.*), iostat-style figures per block
 * device from <proc>/diskstats.
 *
 * Operation counts go out raw as rates (the runner divides by time); the
 * derived gauges (throughput, await, queue size, utilisation) need the
 * previous sample of the same device, which this file keeps: a device gets
 * them from its second sample on, and a counter that went backwards
 * re-bases without a point. The time between samples is the runner's
 * monotonic run time (emitter now_ns), never a clock read here.
 * avg_q_sz divides the weighted milliseconds by 1000 (the Datadog agent
 * divides by 1024, ~2 % low; we prefer the correct figure).
 * system.io.block_in / block_out are /proc/vmstat pgpgin / pgpgout as
 * bytes per second; the kernel counts those in KiB, so they are multiplied
 * by 1024 (the agent multiplies by the page size and reports 4x too much).
 * device_exclude_re is read in init_config, where the agent reads it, or
 * in an instance; device_blacklist_re is its old name. Like the agent's Go
 * regexp, it matches anywhere in the name (devfilter.c).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devfilter.h"
#include "host.h"
#include "meterd/collector.h"
#include "procfs.h"

enum { K_DEVICE_EXCLUDE_RE, K_DEVICE_BLACKLIST_RE };

static const struct md_key_decl io_keys[] = {
    {"device_exclude_re", MD_KEY_REGEX, "", 0, 0, "regex of device names to skip", MD_KEY_F_INIT},
    {"device_blacklist_re", MD_KEY_REGEX, "", 0, 0, "old name of device_exclude_re", MD_KEY_F_INIT},
    {"lowercase_device_tag", MD_KEY_IGNORED, "", 0, 0, NULL, MD_KEY_F_INIT},
    {NULL, 0, NULL, 0, 0, NULL, 0},
};

struct io_prev {
    struct md_diskstat d;
    int64_t t_ns;
    uint64_t gen; /* last run that saw the device */
};

/* Both names feed the one exclude list; an empty value adds nothing. */
static const struct md_devfilter_rule io_rules[] = {
    {K_DEVICE_EXCLUDE_RE, 0, false, MD_DEVFILTER_ANYWHERE},
    {K_DEVICE_BLACKLIST_RE, 0, false, MD_DEVFILTER_ANYWHERE},
};

struct io_state {
    struct md_procfs_src src; /* first: md_procfs_src_destroy frees the whole state */
    struct md_fbuf vmbuf;
    struct md_devfilter filter;
    struct io_prev *prev;
    size_t nprev, capprev;
    uint64_t gen;
    struct md_emitter *e;
};

int md_io_parse_diskstats(const char *text,
                          void (*fn)(void *ud, const struct md_diskstat *d), void *ud)
{
    int n = 0;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        struct md_diskstat d;
        memset(&d, 0, sizeof d);
        unsigned long long f[11];
        int consumed = 0;
        int got = sscanf(line, " %u %u %63s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu%n",
                         &d.major, &d.minor, d.name, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5],
                         &f[6], &f[7], &f[8], &f[9], &f[10], &consumed);
        if (got == 14) {
            d.reads = f[0], d.reads_merged = f[1], d.rsect = f[2], d.rticks = f[3];
            d.writes = f[4], d.writes_merged = f[5], d.wsect = f[6], d.wticks = f[7];
            d.in_flight = f[8], d.io_ticks = f[9], d.weighted = f[10];
            fn(ud, &d);
            n++;
        } else if (got > 0 && !(nl && line[strspn(line, " \t")] == '\n')) {
            return -EINVAL;
        }
        line = nl ? nl + 1 : NULL;
    }
    return n;
}

/* The counters whose deltas make the derived gauges, in this order. */
enum { C_READS, C_WRITES, C_RSECT, C_WSECT, C_RTICKS, C_WTICKS, C_IO_TICKS, C_WEIGHTED, C_N };
static const size_t io_counters[C_N] = {
    offsetof(struct md_diskstat, reads),  offsetof(struct md_diskstat, writes),
    offsetof(struct md_diskstat, rsect),  offsetof(struct md_diskstat, wsect),
    offsetof(struct md_diskstat, rticks), offsetof(struct md_diskstat, wticks),
    offsetof(struct md_diskstat, io_ticks), offsetof(struct md_diskstat, weighted),
};

int md_io_compute(const struct md_diskstat *prev, const struct md_diskstat *cur, double dt,
                  struct md_io_derived *out)
{
    double d[C_N];
    if (dt <= 0 || md_counters_delta(prev, cur, io_counters, C_N, d) < 0)
        return -EAGAIN;
    double r = d[C_READS], w = d[C_WRITES], ios = r + w, io = d[C_IO_TICKS];
    memset(out, 0, sizeof *out);
    /* diskstats sectors are always 512 bytes, whatever the device's block size */
    out->rkb_s = d[C_RSECT] * 512.0 / 1024.0 / dt;
    out->wkb_s = d[C_WSECT] * 512.0 / 1024.0 / dt;
    if (ios > 0) {
        out->avg_rq_sz = (d[C_RSECT] + d[C_WSECT]) / ios;
        out->await = (d[C_RTICKS] + d[C_WTICKS]) / ios;
        out->svctm = io / ios;
    }
    if (r > 0)
        out->r_await = d[C_RTICKS] / r;
    if (w > 0)
        out->w_await = d[C_WTICKS] / w;
    out->avg_q_sz = d[C_WEIGHTED] / 1000.0 / dt;
    out->util = io / (dt * 1000.0) * 100.0;
    if (out->util > 100.0)
        out->util = 100.0;
    return 0;
}

static const struct md_counter_gauge io_gauges[] = {
    {"system.io.rkb_s", offsetof(struct md_io_derived, rkb_s)},
    {"system.io.wkb_s", offsetof(struct md_io_derived, wkb_s)},
    {"system.io.avg_rq_sz", offsetof(struct md_io_derived, avg_rq_sz)},
    {"system.io.await", offsetof(struct md_io_derived, await)},
    {"system.io.r_await", offsetof(struct md_io_derived, r_await)},
    {"system.io.w_await", offsetof(struct md_io_derived, w_await)},
    {"system.io.avg_q_sz", offsetof(struct md_io_derived, avg_q_sz)},
    {"system.io.util", offsetof(struct md_io_derived, util)},
    {"system.io.svctm", offsetof(struct md_io_derived, svctm)},
};

static struct io_prev *io_find(struct io_state *s, const char *name)
{
    for (size_t i = 0; i < s->nprev; i++)
        if (strcmp(s->prev[i].d.name, name) == 0)
            return &s->prev[i];
    if (s->nprev == s->capprev) {
        size_t ncap = s->capprev ? s->capprev * 2 : 16;
        struct io_prev *np = realloc(s->prev, ncap * sizeof *np);
        if (!np)
            return NULL;
        s->prev = np;
        s->capprev = ncap;
    }
    struct io_prev *p = &s->prev[s->nprev++];
    memset(p, 0, sizeof *p);
    return p;
}

static void io_emit(void *ud, const struct md_diskstat *d)
{
    struct io_state *s = ud;
    struct md_emitter *e = s->e;
    if (!md_devfilter_keep(&s->filter, d->name))
        return;
    char t1[80], t2[80];
    snprintf(t1, sizeof t1, "device:%s", d->name);
    snprintf(t2, sizeof t2, "device_name:%s", d->name);
    const char *tags[] = {t1, t2};
    md_rate(e, "system.io.r_s", (double)d->reads, tags, 2);
    md_rate(e, "system.io.w_s", (double)d->writes, tags, 2);
    md_rate(e, "system.io.rrqm_s", (double)d->reads_merged, tags, 2);
    md_rate(e, "system.io.wrqm_s", (double)d->writes_merged, tags, 2);

    struct io_prev *p = io_find(s, d->name);
    if (!p)
        return;
    struct md_io_derived x;
    if (p->gen && md_io_compute(&p->d, d, (double)(e->now_ns - p->t_ns) / 1e9, &x) == 0)
        md_counters_emit(e, io_gauges, sizeof io_gauges / sizeof io_gauges[0], &x, tags, 2);
    p->d = *d;
    p->t_ns = e->now_ns;
    p->gen = s->gen;
}

/* Forget devices that went away, so a re-plugged one starts fresh. */
static void io_sweep(struct io_state *s)
{
    size_t j = 0;
    for (size_t i = 0; i < s->nprev; i++)
        if (s->prev[i].gen == s->gen)
            s->prev[j++] = s->prev[i];
    s->nprev = j;
}

static void io_destroy(void *state)
{
    struct io_state *s = state;
    if (!s)
        return;
    md_devfilter_free(&s->filter);
    free(s->prev);
    md_procfs_free(&s->vmbuf);
    md_procfs_src_destroy(s);
}

static int io_configure(const struct md_instance_conf *conf, void **state, char *err, size_t errlen)
{
    struct io_state *s = md_procfs_src_new(conf, sizeof *s, err, errlen);
    if (!s)
        return -ENOMEM;
    int rc = md_devfilter_load(&s->filter, io_rules, sizeof io_rules / sizeof io_rules[0], io_keys,
                               conf->values, err, errlen);
    if (rc < 0) {
        io_destroy(s);
        return rc;
    }
    *state = s;
    return 0;
}

static int io_collect(void *state, struct md_emitter *e)
{
    struct io_state *s = state;
    int rc = md_procfs_read(&s->src.fb, s->src.proc, "diskstats");
    if (rc < 0)
        return rc;
    s->gen++;
    s->e = e;
    rc = md_io_parse_diskstats(s->src.fb.p, io_emit, s);
    s->e = NULL;
    io_sweep(s);
    uint64_t in, out;
    if (md_procfs_read(&s->vmbuf, s->src.proc, "vmstat") >= 0 &&
        md_mem_parse_vmstat_key(s->vmbuf.p, "pgpgin", &in) == 0 &&
        md_mem_parse_vmstat_key(s->vmbuf.p, "pgpgout", &out) == 0) {
        md_rate(e, "system.io.block_in", (double)in * 1024.0, NULL, 0);
        md_rate(e, "system.io.block_out", (double)out * 1024.0, NULL, 0);
    }
    return rc < 0 ? rc : 0;
}

const struct md_collector_ops md_collector_io = {
    .name = "io",
    .default_on = true,
    .default_interval = 15,
    .needs_two_runs = true,
    .keys = io_keys,
    .configure = io_configure,
    .collect = io_collect,
    .destroy = io_destroy,
};
