/*
 * cgroup.h: reading container resource usage from cgroup files, v1 and v2.
 *
 * The layout is learned from the mount table (<proc>/mounts), keeping only
 * cgroup mounts under the configured root (a containerised agent sees the
 * host's tree at /host/sys/fs/cgroup and its own at /sys/fs/cgroup). As the
 * Datadog agent does, any v1 controller mounted means v1 (a hybrid host's
 * unified tree usually holds no controllers); otherwise v2. The parsers are
 * pure functions of file text so fixture tests can feed layouts this host
 * cannot make; md_cg_read assembles one container's numbers from its
 * per-controller directories.
 */
#ifndef MD_CGROUP_H
#define MD_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "procfs.h"

enum md_cg_mode { MD_CG_NONE = 0, MD_CG_V1, MD_CG_V2 };

/* The v1 controllers meterd reads; v2 uses slot MD_CGC_UNIFIED only. */
enum md_cg_ctrl { MD_CGC_CPU, MD_CGC_CPUACCT, MD_CGC_MEMORY, MD_CGC_BLKIO, MD_CGC_PIDS,
                  MD_CGC_CPUSET, MD_CGC_N, MD_CGC_UNIFIED = 0 };

struct md_cg_layout {
    enum md_cg_mode mode;
    char root[1024];                 /* the configured cgroup root */
    char mount[MD_CGC_N][1024];      /* v1: mount point of each controller ("" = absent) */
    char unified[1024];              /* cgroup2 mount point under root ("" = none) */
    char v2_controllers[256];        /* v2: root cgroup.controllers */
};

/*
 * Fill the layout from mounts text (the format of /proc/mounts), keeping
 * only cgroup mounts under cg_root. Without any (a fixture tree, a bind
 * mount that does not show as cgroup), the directories under cg_root are
 * probed instead. -ENOENT when neither finds a hierarchy.
 */
int md_cg_layout_parse(struct md_cg_layout *l, const char *mounts, const char *cg_root);
const char *md_cg_ctrl_name(enum md_cg_ctrl c);

/* NaN = not known (file missing, controller off, "max"/unlimited). */
struct md_cg_stats {
    double cpu_total, cpu_user, cpu_system;   /* ns, cumulative */
    double throttled_time, throttled_periods; /* ns, periods; cumulative */
    double cpu_limit;                         /* ns of CPU per second (1e9 = one core) */
    double mem_usage, mem_rss, mem_cache, mem_working_set, mem_limit, mem_oom_events;
    double mem_kernel;
    double io_read, io_write, io_read_ops, io_write_ops; /* bytes, ops; cumulative */
    double threads, thread_limit;             /* pids.current, pids.max */
    double procs;                             /* lines of cgroup.procs */
};
void md_cg_stats_clear(struct md_cg_stats *s);

/* ---- pure parsers (v1) ---- */
int md_cg_parse_cpuacct_stat(const char *text, double *user_ns, double *system_ns);
int md_cg_parse_v1_memstat(const char *text, struct md_cg_stats *s);
/* blkio.throttle.io_service_bytes / io_serviced: sums of the Read and Write rows. */
int md_cg_parse_blkio(const char *text, double *read, double *write);

/* ---- pure parsers (v2) ---- */
int md_cg_parse_v2_cpustat(const char *text, struct md_cg_stats *s);
int md_cg_parse_v2_memstat(const char *text, struct md_cg_stats *s);
int md_cg_parse_iostat(const char *text, struct md_cg_stats *s);
/* cpu.max "<quota|max> <period>" into ns/s of CPU; NaN for max. */
double md_cg_parse_cpumax(const char *text);

/* ---- shared ---- */
/* The "key value" lines of a flat-keyed file: value of `key`, or -ENOENT. */
int md_cg_kv(const char *text, const char *key, uint64_t *out);
/* A count of CPUs from a cpuset list ("0-3,6"); 0 on bad text. */
unsigned md_cg_cpuset_count(const char *text);

/*
 * One container's stats. paths[c] is the directory of controller c
 * relative to its mount (v2: paths[MD_CGC_UNIFIED]); NULL = not found.
 * host_cpus is used for the CPU limit when nothing limits the container.
 */
int md_cg_read(const struct md_cg_layout *l, const char *const *paths, unsigned host_cpus,
               struct md_fbuf *fb, struct md_cg_stats *out);

#endif
