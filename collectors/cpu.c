/*
 * cpu.c: the `cpu` collector (system.cpu.*), from <proc>/stat.
 *
 * CPU percentages are deltas the collector computes itself between its own
 * runs, as the Datadog agent does: percent of the whole machine's capacity
 * (all CPUs = 100), nothing on the first run, nothing when a counter went
 * backwards. Context switches go out raw as a monotonic count and the
 * runner turns them into per-run deltas. With report_total_percpu, each
 * CPU's cumulative times go out as gauges in seconds since boot
 * (system.cpu.<part>.total, tag core:cpuN), as the agent's cpu check does.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"
#include "meterd/collector.h"
#include "procfs.h"

enum { K_PERCPU };

static const struct md_key_decl cpu_keys[] = {
    {"report_total_percpu", MD_KEY_BOOL, "false", 0, 0, "per-CPU times since boot, system.cpu.*.total"},
    {NULL, 0, NULL, 0, 0, NULL, 0},
};

struct cpu_state {
    struct md_procfs_src src; /* first: md_procfs_src_destroy frees the whole state */
    bool percpu;
    double hz; /* USER_HZ: /proc/stat ticks per second */
    struct md_cpu_times prev;
    bool has_prev;
};

static int parse_cpu_line(const char *p, struct md_cpu_times *t)
{
    uint64_t *f[] = {&t->user, &t->nice, &t->system, &t->idle, &t->iowait,
                     &t->irq, &t->softirq, &t->steal, &t->guest, &t->guest_nice};
    size_t i;
    for (i = 0; i < sizeof f / sizeof f[0]; i++)
        if (md_procfs_u64(&p, f[i]) < 0)
            break;
    /* Kernels before 2.6.11 had fewer columns; the first four are always there. */
    return i >= 4 ? 0 : -EINVAL;
}

static int key_u64(const char *line, const char *key, uint64_t *out)
{
    size_t n = strlen(key);
    if (strncmp(line, key, n) != 0 || line[n] != ' ')
        return -ENOENT;
    const char *p = line + n;
    return md_procfs_u64(&p, out);
}

int md_cpu_parse_stat(const char *text, struct md_cpu_times *out)
{
    memset(out, 0, sizeof *out);
    bool seen_cpu = false;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        if (strncmp(line, "cpu ", 4) == 0) {
            if (parse_cpu_line(line + 4, out) < 0)
                return -EINVAL;
            seen_cpu = true;
        } else if (strncmp(line, "cpu", 3) == 0 && line[3] >= '0' && line[3] <= '9') {
            out->ncpu++;
        } else {
            key_u64(line, "ctxt", &out->ctxt);
            key_u64(line, "processes", &out->processes);
            key_u64(line, "procs_running", &out->procs_running);
            key_u64(line, "procs_blocked", &out->procs_blocked);
            key_u64(line, "btime", &out->btime);
        }
        line = nl ? nl + 1 : NULL;
    }
    return seen_cpu ? 0 : -EINVAL;
}

/* The parts of the aggregate line whose deltas make the percentages, in this order. */
enum { P_USER, P_NICE, P_SYSTEM, P_IDLE, P_IOWAIT, P_IRQ, P_SOFTIRQ, P_STEAL, P_GUEST, P_N };
static const size_t cpu_parts[P_N] = {
    offsetof(struct md_cpu_times, user),    offsetof(struct md_cpu_times, nice),
    offsetof(struct md_cpu_times, system),  offsetof(struct md_cpu_times, idle),
    offsetof(struct md_cpu_times, iowait),  offsetof(struct md_cpu_times, irq),
    offsetof(struct md_cpu_times, softirq), offsetof(struct md_cpu_times, steal),
    offsetof(struct md_cpu_times, guest),
};

int md_cpu_compute(const struct md_cpu_times *prev, const struct md_cpu_times *cur,
                   struct md_cpu_pct *out)
{
    double d[P_N];
    if (md_counters_delta(prev, cur, cpu_parts, P_N, d) < 0)
        return -EAGAIN;
    /* user already includes guest time, so guest is not added to the total. */
    double total = 0;
    for (size_t i = 0; i < P_GUEST; i++)
        total += d[i];
    if (total <= 0)
        return -EAGAIN;
    out->user = 100.0 * (d[P_USER] + d[P_NICE]) / total;
    out->system = 100.0 * (d[P_SYSTEM] + d[P_IRQ] + d[P_SOFTIRQ]) / total;
    out->interrupt = 100.0 * (d[P_IRQ] + d[P_SOFTIRQ]) / total;
    out->iowait = 100.0 * d[P_IOWAIT] / total;
    out->idle = 100.0 * d[P_IDLE] / total;
    out->stolen = 100.0 * d[P_STEAL] / total;
    out->guest = 100.0 * d[P_GUEST] / total;
    return 0;
}

static const struct md_counter_gauge cpu_gauges[] = {
    {"system.cpu.user", offsetof(struct md_cpu_pct, user)},
    {"system.cpu.system", offsetof(struct md_cpu_pct, system)},
    {"system.cpu.interrupt", offsetof(struct md_cpu_pct, interrupt)},
    {"system.cpu.iowait", offsetof(struct md_cpu_pct, iowait)},
    {"system.cpu.idle", offsetof(struct md_cpu_pct, idle)},
    {"system.cpu.stolen", offsetof(struct md_cpu_pct, stolen)},
    {"system.cpu.guest", offsetof(struct md_cpu_pct, guest)},
};

static int cpu_configure(const struct md_instance_conf *conf, void **state, char *err, size_t errlen)
{
    struct cpu_state *s = md_procfs_src_new(conf, sizeof *s, err, errlen);
    if (!s)
        return -ENOMEM;
    s->percpu = conf->values[K_PERCPU].b;
    long hz = sysconf(_SC_CLK_TCK);
    s->hz = hz > 0 ? (double)hz : 100.0;
    *state = s;
    return 0;
}

/* One gauge per part of each "cpuN ..." line. */
static void cpu_percpu(struct cpu_state *s, struct md_emitter *e)
{
    static const char *const names[] = {
        "system.cpu.user.total", "system.cpu.nice.total", "system.cpu.system.total",
        "system.cpu.idle.total", "system.cpu.iowait.total", "system.cpu.irq.total",
        "system.cpu.softirq.total", "system.cpu.steal.total", "system.cpu.guest.total",
        "system.cpu.guestnice.total"};
    for (const char *line = s->src.fb.p; line && *line;) {
        const char *nl = strchr(line, '\n');
        struct md_cpu_times t;
        if (strncmp(line, "cpu", 3) == 0 && line[3] >= '0' && line[3] <= '9') {
            char tag[32];
            size_t n = strcspn(line, " ");
            snprintf(tag, sizeof tag, "core:%.*s", (int)(n < 20 ? n : 20), line);
            const char *tags[] = {tag};
            memset(&t, 0, sizeof t);
            if (parse_cpu_line(line + n, &t) == 0) {
                const uint64_t v[] = {t.user, t.nice, t.system, t.idle, t.iowait,
                                      t.irq, t.softirq, t.steal, t.guest, t.guest_nice};
                for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
                    md_gauge(e, names[i], (double)v[i] / s->hz, tags, 1);
            }
        }
        line = nl ? nl + 1 : NULL;
    }
}

static int cpu_collect(void *state, struct md_emitter *e)
{
    struct cpu_state *s = state;
    struct md_cpu_times cur;
    int rc = md_procfs_read(&s->src.fb, s->src.proc, "stat");
    if (rc < 0)
        return rc;
    if ((rc = md_cpu_parse_stat(s->src.fb.p, &cur)) < 0)
        return rc;
    struct md_cpu_pct pct;
    if (s->has_prev && md_cpu_compute(&s->prev, &cur, &pct) == 0)
        md_counters_emit(e, cpu_gauges, sizeof cpu_gauges / sizeof cpu_gauges[0], &pct, NULL, 0);
    s->prev = cur;
    s->has_prev = true;
    md_gauge(e, "system.cpu.num_cores", cur.ncpu, NULL, 0);
    md_monotonic(e, "system.cpu.context_switches", (double)cur.ctxt, NULL, 0);
    if (s->percpu)
        cpu_percpu(s, e);
    return 0;
}

const struct md_collector_ops md_collector_cpu = {
    .name = "cpu",
    .default_on = true,
    .default_interval = 15,
    .needs_two_runs = true,
    .keys = cpu_keys,
    .configure = cpu_configure,
    .collect = cpu_collect,
    .destroy = md_procfs_src_destroy,
};
