/*
 * cgroup.c: the cgroup reader (see cgroup.h). File → field mapping follows
 * the Datadog agent's pkg/util/cgroups so values line up with its
 * dashboards: v1 CPU user/system come in USER_HZ ticks (× 1e7 ns), v1
 * throttled_time is already ns, v2 is µs; v1 "unlimited" memory is any
 * value ≥ 2^62 (the kernel writes 2^63−1 rounded down to a page), v2 says
 * "max". OOM events are memory.failcnt on v1 and memory.events `oom` on v2,
 * as upstream reports them. A missing file leaves its fields NaN and never
 * fails the container.
 */
#include "cgroup.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const ctrl_names[MD_CGC_N] = {"cpu", "cpuacct", "memory", "blkio", "pids",
                                                 "cpuset"};

const char *md_cg_ctrl_name(enum md_cg_ctrl c)
{
    return (unsigned)c < MD_CGC_N ? ctrl_names[c] : "?";
}

void md_cg_stats_clear(struct md_cg_stats *s)
{
    double *d = (double *)s;
    for (size_t i = 0; i < sizeof *s / sizeof(double); i++)
        d[i] = NAN;
}

/* ---- layout ------------------------------------------------------------- */

static bool under(const char *path, const char *root)
{
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static bool has_opt(const char *opts, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = opts; *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p += len + (c ? 1 : 0);
    }
    return false;
}

/* Paths that do not fit are left out (never truncated into a wrong path). */
static void set_path(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);
    if (n >= len)
        return;
    memcpy(dst, src, n + 1);
}

static bool is_file(const char *dir, const char *name)
{
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, R_OK) == 0;
}

/* Without a usable mount table (fixture trees, unusual bind mounts): look at the files. */
static void layout_probe(struct md_cg_layout *l)
{
    char p[1200];
    for (int c = 0; c < MD_CGC_N; c++) {
        snprintf(p, sizeof p, "%s/%s", l->root, ctrl_names[c]);
        if (access(p, R_OK) == 0)
            set_path(l->mount[c], sizeof l->mount[c], p);
    }
    if (is_file(l->root, "cgroup.controllers"))
        set_path(l->unified, sizeof l->unified, l->root);
    else if (snprintf(p, sizeof p, "%s/unified", l->root) > 0 && is_file(p, "cgroup.controllers"))
        set_path(l->unified, sizeof l->unified, p);
}

static void read_small(const char *dir, const char *name, char *out, size_t len)
{
    char p[1400];
    out[0] = '\0';
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "re");
    if (!f)
        return;
    if (!fgets(out, (int)len, f))
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

int md_cg_layout_parse(struct md_cg_layout *l, const char *mounts, const char *cg_root)
{
    memset(l, 0, sizeof *l);
    snprintf(l->root, sizeof l->root, "%s", cg_root && *cg_root ? cg_root : "/sys/fs/cgroup");
    size_t rn = strlen(l->root);
    while (rn > 1 && l->root[rn - 1] == '/')
        l->root[--rn] = '\0';
    bool any = false;
    for (const char *line = mounts; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        char buf[2048], dev[256], mnt[1024], type[64], opts[1024];
        if (n < sizeof buf) {
            memcpy(buf, line, n);
            buf[n] = '\0';
            if (sscanf(buf, "%255s %1023s %63s %1023s", dev, mnt, type, opts) == 4 &&
                under(mnt, l->root)) {
                if (strcmp(type, "cgroup2") == 0) {
                    if (!l->unified[0] || strlen(mnt) < strlen(l->unified))
                        set_path(l->unified, sizeof l->unified, mnt);
                    any = true;
                } else if (strcmp(type, "cgroup") == 0) {
                    for (int c = 0; c < MD_CGC_N; c++)
                        if (has_opt(opts, ctrl_names[c]) &&
                            (!l->mount[c][0] || strlen(mnt) < strlen(l->mount[c])))
                            set_path(l->mount[c], sizeof l->mount[c], mnt);
                    any = true;
                }
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    if (!any)
        layout_probe(l);
    bool v1 = false;
    for (int c = 0; c < MD_CGC_N; c++)
        v1 |= l->mount[c][0] != '\0';
    l->mode = v1 ? MD_CG_V1 : l->unified[0] ? MD_CG_V2 : MD_CG_NONE;
    if (l->mode == MD_CG_V2)
        read_small(l->unified, "cgroup.controllers", l->v2_controllers, sizeof l->v2_controllers);
    return l->mode == MD_CG_NONE ? -ENOENT : 0;
}

/* ---- parsers ------------------------------------------------------------ */

int md_cg_kv(const char *text, const char *key, uint64_t *out)
{
    size_t kn = strlen(key);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, key, kn) == 0 && (p[kn] == ' ' || p[kn] == '\t')) {
            const char *v = p + kn;
            return md_procfs_u64(&v, out);
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return -ENOENT;
}

static double kvd(const char *text, const char *key, double scale)
{
    uint64_t v;
    return md_cg_kv(text, key, &v) == 0 ? (double)v * scale : NAN;
}

int md_cg_parse_cpuacct_stat(const char *text, double *user_ns, double *system_ns)
{
    /* USER_HZ is 100 on every mainstream kernel (what upstream assumes too). */
    *user_ns = kvd(text, "user", 1e7);
    *system_ns = kvd(text, "system", 1e7);
    return isnan(*user_ns) && isnan(*system_ns) ? -EINVAL : 0;
}

#define V1_UNLIMITED 4611686018427387904.0 /* 2^62: anything above is "no limit" */

int md_cg_parse_v1_memstat(const char *text, struct md_cg_stats *s)
{
    s->mem_rss = kvd(text, "total_rss", 1);
    s->mem_cache = kvd(text, "total_cache", 1);
    double lim = kvd(text, "hierarchical_memory_limit", 1);
    s->mem_limit = lim >= V1_UNLIMITED ? NAN : lim;
    double inactive = kvd(text, "total_inactive_file", 1);
    if (!isnan(s->mem_usage) && !isnan(inactive))
        s->mem_working_set = s->mem_usage > inactive ? s->mem_usage - inactive : 0;
    return isnan(s->mem_rss) ? -EINVAL : 0;
}

int md_cg_parse_blkio(const char *text, double *read, double *write)
{
    /* Rows are "<maj:min> Read <n>" ...; the "Total" rows are skipped. */
    double r = 0, w = 0;
    bool any = false;
    for (const char *p = text; p && *p;) {
        char dev[64], op[32];
        unsigned long long v;
        if (sscanf(p, "%63s %31s %llu", dev, op, &v) == 3) {
            if (strcmp(op, "Read") == 0)
                r += (double)v, any = true;
            else if (strcmp(op, "Write") == 0)
                w += (double)v, any = true;
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    *read = any ? r : 0;
    *write = any ? w : 0;
    return 0;
}

int md_cg_parse_v2_cpustat(const char *text, struct md_cg_stats *s)
{
    s->cpu_total = kvd(text, "usage_usec", 1e3);
    s->cpu_user = kvd(text, "user_usec", 1e3);
    s->cpu_system = kvd(text, "system_usec", 1e3);
    s->throttled_periods = kvd(text, "nr_throttled", 1);
    s->throttled_time = kvd(text, "throttled_usec", 1e3);
    return isnan(s->cpu_total) ? -EINVAL : 0;
}

int md_cg_parse_v2_memstat(const char *text, struct md_cg_stats *s)
{
    s->mem_rss = kvd(text, "anon", 1);
    s->mem_cache = kvd(text, "file", 1);
    s->mem_kernel = kvd(text, "kernel", 1);
    if (isnan(s->mem_kernel)) {
        double ks = kvd(text, "kernel_stack", 1), sl = kvd(text, "slab", 1);
        s->mem_kernel = isnan(ks) || isnan(sl) ? NAN : ks + sl;
    }
    double inactive = kvd(text, "inactive_file", 1);
    if (!isnan(s->mem_usage) && !isnan(inactive))
        s->mem_working_set = s->mem_usage > inactive ? s->mem_usage - inactive : 0;
    return isnan(s->mem_rss) ? -EINVAL : 0;
}

int md_cg_parse_iostat(const char *text, struct md_cg_stats *s)
{
    /* "maj:min rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=.." per device */
    double rb = 0, wb = 0, ro = 0, wo = 0;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        const char *e = nl ? nl : p + strlen(p);
        for (const char *q = p; q < e; q++) {
            if (q != p && q[-1] != ' ')
                continue;
            unsigned long long v;
            if (sscanf(q, "rbytes=%llu", &v) == 1)
                rb += (double)v;
            else if (sscanf(q, "wbytes=%llu", &v) == 1)
                wb += (double)v;
            else if (sscanf(q, "rios=%llu", &v) == 1)
                ro += (double)v;
            else if (sscanf(q, "wios=%llu", &v) == 1)
                wo += (double)v;
        }
        p = nl ? nl + 1 : NULL;
    }
    s->io_read = rb;
    s->io_write = wb;
    s->io_read_ops = ro;
    s->io_write_ops = wo;
    return 0;
}

double md_cg_parse_cpumax(const char *text)
{
    char q[32];
    unsigned long long period;
    if (sscanf(text, "%31s %llu", q, &period) != 2 || strcmp(q, "max") == 0 || period == 0)
        return NAN;
    char *e;
    double quota = strtod(q, &e);
    return *e || quota <= 0 ? NAN : quota / (double)period * 1e9;
}

unsigned md_cg_cpuset_count(const char *text)
{
    unsigned n = 0;
    for (const char *p = text; *p && *p != '\n';) {
        char *e;
        unsigned long a = strtoul(p, &e, 10), b = a;
        if (e == p)
            return 0;
        if (*e == '-') {
            p = e + 1;
            b = strtoul(p, &e, 10);
            if (e == p || b < a)
                return 0;
        }
        n += (unsigned)(b - a + 1);
        p = e;
        if (*p == ',')
            p++;
    }
    return n;
}

/* ---- one container ------------------------------------------------------- */

struct rd {
    const struct md_cg_layout *l;
    const char *const *paths;
    struct md_fbuf *fb;
};

/* Read <mount of c>/<path of c>/<file>; the text in fb, or NULL. */
static const char *rd_file(struct rd *r, int c, const char *file)
{
    const char *mnt = r->l->mode == MD_CG_V2 ? r->l->unified : r->l->mount[c];
    const char *rel = r->paths[r->l->mode == MD_CG_V2 ? MD_CGC_UNIFIED : c];
    if (!mnt[0] || !rel)
        return NULL;
    char dir[2400];
    snprintf(dir, sizeof dir, "%s%s%s", mnt, rel[0] == '/' ? "" : "/", rel);
    return md_procfs_read(r->fb, dir, file) >= 0 ? r->fb->p : NULL;
}

static double rd_u64(struct rd *r, int c, const char *file)
{
    const char *t = rd_file(r, c, file);
    if (!t)
        return NAN;
    uint64_t v;
    const char *p = t;
    return md_procfs_u64(&p, &v) == 0 ? (double)v : NAN;
}

static double count_lines(const char *t)
{
    if (!t)
        return NAN;
    double n = 0;
    for (const char *p = t; *p; p++)
        n += *p == '\n';
    return n;
}

static void read_v1(struct rd *r, unsigned host_cpus, struct md_cg_stats *s)
{
    const char *t;
    s->cpu_total = rd_u64(r, MD_CGC_CPUACCT, "cpuacct.usage");
    if ((t = rd_file(r, MD_CGC_CPUACCT, "cpuacct.stat")))
        md_cg_parse_cpuacct_stat(t, &s->cpu_user, &s->cpu_system);
    if ((t = rd_file(r, MD_CGC_CPU, "cpu.stat"))) {
        s->throttled_periods = kvd(t, "nr_throttled", 1);
        s->throttled_time = kvd(t, "throttled_time", 1);
    }
    double quota = NAN, period = rd_u64(r, MD_CGC_CPU, "cpu.cfs_period_us");
    if ((t = rd_file(r, MD_CGC_CPU, "cpu.cfs_quota_us")))
        quota = strtod(t, NULL);
    if (quota > 0 && period > 0)
        s->cpu_limit = quota / period * 1e9;
    else if ((t = rd_file(r, MD_CGC_CPUSET, "cpuset.cpus"))) {
        unsigned n = md_cg_cpuset_count(t);
        if (n && n != host_cpus)
            s->cpu_limit = n * 1e9;
    }
    s->mem_usage = rd_u64(r, MD_CGC_MEMORY, "memory.usage_in_bytes");
    if ((t = rd_file(r, MD_CGC_MEMORY, "memory.stat")))
        md_cg_parse_v1_memstat(t, s);
    s->mem_oom_events = rd_u64(r, MD_CGC_MEMORY, "memory.failcnt");
    s->mem_kernel = rd_u64(r, MD_CGC_MEMORY, "memory.kmem.usage_in_bytes");
    if ((t = rd_file(r, MD_CGC_BLKIO, "blkio.throttle.io_service_bytes")))
        md_cg_parse_blkio(t, &s->io_read, &s->io_write);
    if ((t = rd_file(r, MD_CGC_BLKIO, "blkio.throttle.io_serviced")))
        md_cg_parse_blkio(t, &s->io_read_ops, &s->io_write_ops);
    s->threads = rd_u64(r, MD_CGC_PIDS, "pids.current");
    s->thread_limit = rd_u64(r, MD_CGC_PIDS, "pids.max"); /* "max" parses as NaN */
    /* cgroup.procs of any controller that has the container: memory first */
    static const int order[] = {MD_CGC_MEMORY, MD_CGC_CPUACCT, MD_CGC_PIDS, MD_CGC_CPU};
    for (size_t i = 0; i < sizeof order / sizeof order[0] && isnan(s->procs); i++)
        s->procs = count_lines(rd_file(r, order[i], "cgroup.procs"));
}

/* A controller enabled in the v2 root: cgroup.controllers is space separated. */
static bool v2_has(const struct md_cg_layout *l, const char *ctrl)
{
    size_t n = strlen(ctrl);
    for (const char *p = l->v2_controllers; (p = strstr(p, ctrl)); p += n)
        if ((p == l->v2_controllers || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

static void read_v2(struct rd *r, struct md_cg_stats *s)
{
    const char *t;
    int u = MD_CGC_UNIFIED;
    if ((t = rd_file(r, u, "cpu.stat")))
        md_cg_parse_v2_cpustat(t, s);
    if (v2_has(r->l, "cpu") && (t = rd_file(r, u, "cpu.max")))
        s->cpu_limit = md_cg_parse_cpumax(t);
    if (v2_has(r->l, "memory")) {
        s->mem_usage = rd_u64(r, u, "memory.current");
        if ((t = rd_file(r, u, "memory.stat")))
            md_cg_parse_v2_memstat(t, s);
        s->mem_limit = rd_u64(r, u, "memory.max");
        if ((t = rd_file(r, u, "memory.events")))
            s->mem_oom_events = kvd(t, "oom", 1);
    }
    if (v2_has(r->l, "io") && (t = rd_file(r, u, "io.stat")))
        md_cg_parse_iostat(t, s);
    if (v2_has(r->l, "pids")) {
        s->threads = rd_u64(r, u, "pids.current");
        s->thread_limit = rd_u64(r, u, "pids.max");
    }
    s->procs = count_lines(rd_file(r, u, "cgroup.procs"));
}

int md_cg_read(const struct md_cg_layout *l, const char *const *paths, unsigned host_cpus,
               struct md_fbuf *fb, struct md_cg_stats *out)
{
    struct rd r = {l, paths, fb};
    md_cg_stats_clear(out);
    if (l->mode == MD_CG_V1)
        read_v1(&r, host_cpus, out);
    else if (l->mode == MD_CG_V2)
        read_v2(&r, out);
    else
        return -ENOENT;
    if (isnan(out->cpu_limit) && host_cpus)
        out->cpu_limit = host_cpus * 1e9; /* nothing limits it: the whole host */
    if (isnan(out->cpu_total) && isnan(out->mem_usage) && isnan(out->procs))
        return -ENOENT; /* gone since discovery */
    return 0;
}
