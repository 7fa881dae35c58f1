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
 * in an instance; device_blacklist_re is its old name.
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "meterd/collector.h"
#include "procfs.h"

enum { K_DEVICE_EXCLUDE_RE, K_DEVICE_BLACKLIST_RE };

static const struct md_key_decl io_keys[] = {
    {"device_exclude_re", MD_KEY_REGEX, "", 0, 0, "POSIX extended regex of device names to skip", MD_KEY_F_INIT},
    {"device_blacklist_re", MD_KEY_REGEX, "", 0, 0, "old name of device_exclude_re", MD_KEY_F_INIT},
    {"lowercase_device_tag", MD_KEY_IGNORED, "", 0, 0, NULL, MD_KEY_F_INIT},
    {NULL, 0, NULL, 0, 0, NULL, 0},
};

struct io_prev {
    struct md_diskstat d;
    int64_t t_ns;
    uint64_t gen; /* last run that saw the device */
};

struct io_state {
    char *proc;
    struct md_fbuf fb, vmbuf;
    regex_t re;
    bool has_re;
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

static int d64(uint64_t a, uint64_t b, double *out)
{
    if (b < a)
        return -1;
    *out = (double)(b - a);
    return 0;
}

int md_io_compute(const struct md_diskstat *prev, const struct md_diskstat *cur, double dt,
                  struct md_io_derived *out)
{
    double r, w, rs, ws, rt, wt, io, wq;
    if (dt <= 0 || d64(prev->reads, cur->reads, &r) || d64(prev->writes, cur->writes, &w) ||
        d64(prev->rsect, cur->rsect, &rs) || d64(prev->wsect, cur->wsect, &ws) ||
        d64(prev->rticks, cur->rticks, &rt) || d64(prev->wticks, cur->wticks, &wt) ||
        d64(prev->io_ticks, cur->io_ticks, &io) || d64(prev->weighted, cur->weighted, &wq))
        return -EAGAIN;
    double ios = r + w;
    memset(out, 0, sizeof *out);
    /* diskstats sectors are always 512 bytes, whatever the device's block size */
    out->rkb_s = rs * 512.0 / 1024.0 / dt;
    out->wkb_s = ws * 512.0 / 1024.0 / dt;
    if (ios > 0) {
        out->avg_rq_sz = (rs + ws) / ios;
        out->await = (rt + wt) / ios;
        out->svctm = io / ios;
    }
    if (r > 0)
        out->r_await = rt / r;
    if (w > 0)
        out->w_await = wt / w;
    out->avg_q_sz = wq / 1000.0 / dt;
    out->util = io / (dt * 1000.0) * 100.0;
    if (out->util > 100.0)
        out->util = 100.0;
    return 0;
}

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
    if (s->has_re && regexec(&s->re, d->name, 0, NULL, 0) == 0)
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
    if (p->gen && md_io_compute(&p->d, d, (double)(e->now_ns - p->t_ns) / 1e9, &x) == 0) {
        md_gauge(e, "system.io.rkb_s", x.rkb_s, tags, 2);
        md_gauge(e, "system.io.wkb_s", x.wkb_s, tags, 2);
        md_gauge(e, "system.io.avg_rq_sz", x.avg_rq_sz, tags, 2);
        md_gauge(e, "system.io.await", x.await, tags, 2);
        md_gauge(e, "system.io.r_await", x.r_await, tags, 2);
        md_gauge(e, "system.io.w_await", x.w_await, tags, 2);
        md_gauge(e, "system.io.avg_q_sz", x.avg_q_sz, tags, 2);
        md_gauge(e, "system.io.util", x.util, tags, 2);
        md_gauge(e, "system.io.svctm", x.svctm, tags, 2);
    }
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
    if (s->has_re)
        regfree(&s->re);
    free(s->prev);
    md_procfs_free(&s->fb);
    md_procfs_free(&s->vmbuf);
    free(s->proc);
    free(s);
}

static int io_configure(const struct md_instance_conf *conf, void **state, char *err, size_t errlen)
{
    struct io_state *s = calloc(1, sizeof *s);
    if (!s || !(s->proc = md_procfs_dup_root(conf->procfs_path, "/proc"))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    const char *re = conf->values[K_DEVICE_EXCLUDE_RE].s;
    if (!re || !*re)
        re = conf->values[K_DEVICE_BLACKLIST_RE].s;
    if (re && *re) {
        if (regcomp(&s->re, re, REG_EXTENDED | REG_NOSUB) != 0) {
            snprintf(err, errlen, "device_exclude_re: invalid regular expression");
            io_destroy(s);
            return -EINVAL;
        }
        s->has_re = true;
    }
    *state = s;
    return 0;
}

static int io_collect(void *state, struct md_emitter *e)
{
    struct io_state *s = state;
    int rc = md_procfs_read(&s->fb, s->proc, "diskstats");
    if (rc < 0)
        return rc;
    s->gen++;
    s->e = e;
    rc = md_io_parse_diskstats(s->fb.p, io_emit, s);
    s->e = NULL;
    io_sweep(s);
    uint64_t in, out;
    if (md_procfs_read(&s->vmbuf, s->proc, "vmstat") >= 0 &&
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
