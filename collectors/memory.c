/*
 * memory.c: the `memory` collector (system.mem.*, system.swap.*), from
 * <proc>/meminfo and <proc>/vmstat.
 *
 * Units follow the Datadog agent so dashboards work unchanged: MiB for
 * sizes, fractions 0..1 for pct_*, MiB/s for swap traffic. Swap totals come
 * from meminfo rather than sysinfo(2) so a /host/proc root is honoured.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "meterd/collector.h"
#include "procfs.h"

int md_mem_parse_meminfo(const char *text, struct md_meminfo *out)
{
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {
        {"MemTotal", offsetof(struct md_meminfo, total)},
        {"MemFree", offsetof(struct md_meminfo, free)},
        {"MemAvailable", offsetof(struct md_meminfo, available)},
        {"Buffers", offsetof(struct md_meminfo, buffers)},
        {"Cached", offsetof(struct md_meminfo, cached)},
        {"SwapCached", offsetof(struct md_meminfo, swap_cached)},
        {"SwapTotal", offsetof(struct md_meminfo, swap_total)},
        {"SwapFree", offsetof(struct md_meminfo, swap_free)},
        {"Shmem", offsetof(struct md_meminfo, shmem)},
        {"Slab", offsetof(struct md_meminfo, slab)},
        {"SReclaimable", offsetof(struct md_meminfo, sreclaimable)},
        {"PageTables", offsetof(struct md_meminfo, page_tables)},
        {"CommitLimit", offsetof(struct md_meminfo, commit_limit)},
        {"Committed_AS", offsetof(struct md_meminfo, committed_as)},
    };
    memset(out, 0, sizeof *out);
    bool total = false;
    for (const char *line = text; line && *line;) {
        const char *colon = strchr(line, ':');
        const char *nl = strchr(line, '\n');
        if (colon && (!nl || colon < nl)) {
            size_t klen = (size_t)(colon - line);
            for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
                if (strlen(keys[i].key) != klen || strncmp(line, keys[i].key, klen) != 0)
                    continue;
                const char *p = colon + 1;
                uint64_t v;
                if (md_procfs_u64(&p, &v) < 0)
                    return -EINVAL;
                *(uint64_t *)((char *)out + keys[i].off) = v;
                if (i == 0)
                    total = true;
                if (i == 2)
                    out->has_available = true;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return total ? 0 : -EINVAL;
}

int md_mem_parse_vmstat_key(const char *text, const char *key, uint64_t *out)
{
    size_t n = strlen(key);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, key, n) == 0 && line[n] == ' ') {
            const char *p = line + n;
            return md_procfs_u64(&p, out);
        }
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    return -ENOENT;
}

#define MIB(kib) ((double)(kib) / 1024.0)

static void emit_mem(struct md_emitter *e, const struct md_meminfo *m)
{
    uint64_t usable = m->has_available ? m->available : m->free + m->buffers + m->cached;
    md_gauge(e, "system.mem.total", MIB(m->total), NULL, 0);
    md_gauge(e, "system.mem.free", MIB(m->free), NULL, 0);
    md_gauge(e, "system.mem.used", MIB(m->total - (m->free < m->total ? m->free : m->total)), NULL, 0);
    md_gauge(e, "system.mem.usable", MIB(usable), NULL, 0);
    if (m->total)
        md_gauge(e, "system.mem.pct_usable", (double)usable / (double)m->total, NULL, 0);
    /* gopsutil counts reclaimable slab as cache; Datadog dashboards expect that. */
    md_gauge(e, "system.mem.cached", MIB(m->cached + m->sreclaimable), NULL, 0);
    md_gauge(e, "system.mem.buffered", MIB(m->buffers), NULL, 0);
    md_gauge(e, "system.mem.shared", MIB(m->shmem), NULL, 0);
    md_gauge(e, "system.mem.slab", MIB(m->slab), NULL, 0);
    md_gauge(e, "system.mem.slab_reclaimable", MIB(m->sreclaimable), NULL, 0);
    md_gauge(e, "system.mem.page_tables", MIB(m->page_tables), NULL, 0);
    md_gauge(e, "system.mem.commit_limit", MIB(m->commit_limit), NULL, 0);
    md_gauge(e, "system.mem.committed_as", MIB(m->committed_as), NULL, 0);

    uint64_t sused = m->swap_total > m->swap_free ? m->swap_total - m->swap_free : 0;
    md_gauge(e, "system.swap.total", MIB(m->swap_total), NULL, 0);
    md_gauge(e, "system.swap.free", MIB(m->swap_free), NULL, 0);
    md_gauge(e, "system.swap.used", MIB(sused), NULL, 0);
    md_gauge(e, "system.swap.cached", MIB(m->swap_cached), NULL, 0);
    /* No swap: gopsutil's used% is 0, so the agent reports 1.0 free. */
    md_gauge(e, "system.swap.pct_free",
             m->swap_total ? 1.0 - (double)sused / (double)m->swap_total : 1.0, NULL, 0);
}

static int mem_collect(void *state, struct md_emitter *e)
{
    struct md_procfs_src *s = state;
    struct md_meminfo m;
    int rc = md_procfs_read(&s->fb, s->proc, "meminfo");
    if (rc < 0)
        return rc;
    if ((rc = md_mem_parse_meminfo(s->fb.p, &m)) < 0)
        return rc;
    emit_mem(e, &m);
    /* vmstat is optional (some container runtimes hide it): no swap rates then. */
    if (md_procfs_read(&s->fb, s->proc, "vmstat") >= 0) {
        uint64_t in, out;
        if (md_mem_parse_vmstat_key(s->fb.p, "pswpin", &in) == 0 &&
            md_mem_parse_vmstat_key(s->fb.p, "pswpout", &out) == 0) {
            /* pages are 4 KiB here, as in gopsutil; MiB/s after the runner's rate */
            md_rate(e, "system.swap.swap_in", (double)in * 4096.0 / 1048576.0, NULL, 0);
            md_rate(e, "system.swap.swap_out", (double)out * 4096.0 / 1048576.0, NULL, 0);
        }
    }
    return 0;
}

/* The agent's memory check key for /proc/vmstat pressure counters, not implemented here yet. */
static const struct md_key_decl mem_keys[] = {
    {"collect_memory_pressure", MD_KEY_IGNORED, "", 0, 0, NULL, 0},
    {NULL, 0, NULL, 0, 0, NULL, 0},
};

const struct md_collector_ops md_collector_memory = {
    .name = "memory",
    .default_on = true,
    .default_interval = 15,
    .needs_two_runs = true,
    .keys = mem_keys,
    .configure = md_procfs_src_configure,
    .collect = mem_collect,
    .destroy = md_procfs_src_destroy,
};
