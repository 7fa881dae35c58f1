/*
 * host.h: the pure parsers and delta arithmetic behind the host collectors.
 *
 * Each collector file keeps reading (procfs.c) apart from parsing, so the
 * unit tests feed these functions the real fixture text captured on the dev
 * VM and compare with numbers computed from the same text. All functions
 * return 0 or -EINVAL on text they cannot use; none allocates.
 */
#ifndef MD_HOST_H
#define MD_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- in-check deltas (counters.c), shared by cpu and io ---------------- */
/*
 * cur - prev of the uint64_t fields at offs (offsetof in both structs), into
 * out[0..n); -EAGAIN when any of them went backwards.
 */
int md_counters_delta(const void *prev, const void *cur, const size_t *offs, size_t n, double *out);
/* A derived figure: the double at offset off of a result struct, sent as gauge name. */
struct md_counter_gauge {
    const char *name;
    size_t off;
};
struct md_emitter;
void md_counters_emit(struct md_emitter *e, const struct md_counter_gauge *g, size_t n,
                      const void *base, const char *const *tags, size_t ntags);

/* ---- cpu: /proc/stat ---------------------------------------------------- */
struct md_cpu_times {
    uint64_t user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice;
    uint64_t ctxt;           /* context switches since boot */
    uint64_t processes;      /* forks since boot */
    uint64_t procs_running, procs_blocked;
    uint64_t btime;
    unsigned ncpu;           /* number of cpuN lines */
};
int md_cpu_parse_stat(const char *text, struct md_cpu_times *out);

struct md_cpu_pct {
    double user, system, interrupt, iowait, idle, stolen, guest;
};
/* Percent of total capacity between two samples; -EAGAIN when there is no usable delta. */
int md_cpu_compute(const struct md_cpu_times *prev, const struct md_cpu_times *cur,
                   struct md_cpu_pct *out);

/* ---- memory: /proc/meminfo (kB) and /proc/vmstat ----------------------- */
struct md_meminfo {
    uint64_t total, free, available, buffers, cached, swap_cached, swap_total, swap_free,
        shmem, slab, sreclaimable, page_tables, commit_limit, committed_as; /* KiB */
    bool has_available;
};
int md_mem_parse_meminfo(const char *text, struct md_meminfo *out);
/* Value of one "key value" line of /proc/vmstat. -ENOENT when absent. */
int md_mem_parse_vmstat_key(const char *text, const char *key, uint64_t *out);

/* ---- load: /proc/loadavg ------------------------------------------------ */
struct md_loadavg {
    double l1, l5, l15;
    uint64_t running, total;
};
int md_load_parse(const char *text, struct md_loadavg *out);

/* ---- uptime: /proc/uptime ----------------------------------------------- */
int md_uptime_parse(const char *text, double *uptime, double *idle);

/* ---- file handles: /proc/sys/fs/file-nr --------------------------------- */
struct md_file_nr {
    uint64_t allocated, unused, max;
};
int md_fh_parse_file_nr(const char *text, struct md_file_nr *out);

/* ---- network: /proc/net/dev --------------------------------------------- */
struct md_netdev {
    char name[32];
    uint64_t rx_bytes, rx_packets, rx_errs, rx_drop;
    uint64_t tx_bytes, tx_packets, tx_errs, tx_drop;
};
/* Calls fn for each interface line; returns the number of interfaces or -EINVAL. */
int md_net_parse_dev(const char *text, void (*fn)(void *ud, const struct md_netdev *d), void *ud);

/* ---- network protocols: /proc/net/{snmp,netstat,tcp,udp} (netstat.c) ---- */
typedef void (*md_nstat_fn)(void *ud, const char *group, size_t glen, const char *field,
                            size_t flen, uint64_t value);
/* Calls fn for each non-negative field of each "Group: ..." line pair; returns pairs or -EINVAL. */
int md_net_parse_nstat(const char *text, md_nstat_fn fn, void *ud);
/* The Datadog network check's metric for a field, NULL when it has none; *gauge for CurrEstab. */
const char *md_nstat_metric(const char *group, size_t glen, const char *field, size_t flen,
                            bool *gauge);

enum { MD_TCP_NSTATES = 13 }; /* kernel TCP states 1..12; 0 collects unknown ones */
/* Sockets of a /proc/net/{tcp,udp}{,6} table by state; returns how many, or -EINVAL. */
int md_net_count_conns(const char *text, uint64_t counts[MD_TCP_NSTATES]);
/* The check's name for a kernel TCP state, combined into 5 states or not; NULL: none. */
const char *md_tcp_state_name(unsigned st, bool combine);

/* ---- io: /proc/diskstats ----------------------------------------------- */
struct md_diskstat {
    unsigned major, minor;
    char name[64];
    uint64_t reads, reads_merged, rsect, rticks;
    uint64_t writes, writes_merged, wsect, wticks;
    uint64_t in_flight, io_ticks, weighted;
};
int md_io_parse_diskstats(const char *text,
                          void (*fn)(void *ud, const struct md_diskstat *d), void *ud);

struct md_io_derived {
    double rkb_s, wkb_s, avg_rq_sz, await, r_await, w_await, avg_q_sz, util, svctm;
};
/* iostat-style gauges from two samples dt seconds apart; -EAGAIN on a counter reset or dt <= 0. */
int md_io_compute(const struct md_diskstat *prev, const struct md_diskstat *cur, double dt,
                  struct md_io_derived *out);

/* ---- disk: <proc>/mounts and <proc>/filesystems ------------------------- */
struct md_mount {
    char device[256];
    char mountpoint[1024]; /* octal escapes (\040) decoded */
    char fstype[64];
};
int md_disk_parse_mounts(const char *text, void (*fn)(void *ud, const struct md_mount *m), void *ud);
/*
 * Whether fstype is a pseudo file system: marked "nodev" in the given
 * /proc/filesystems text (NULL: a built-in list), as psutil decides.
 */
bool md_disk_is_pseudo(const char *filesystems, const char *fstype);

struct md_disk_usage {
    double total_kib, used_kib, free_kib, in_use; /* in_use: fraction 0..1 */
    double inodes_total, inodes_free, inodes_used, inodes_in_use;
};
/* From statvfs numbers (psutil's formula: free is what non-root can use). */
void md_disk_compute(uint64_t frsize, uint64_t blocks, uint64_t bfree, uint64_t bavail,
                     uint64_t files, uint64_t ffree, struct md_disk_usage *out);

/* ---- self: /proc/self/stat and statm ------------------------------------ */
struct md_self_stat {
    uint64_t utime, stime; /* ticks */
    uint64_t num_threads;
};
int md_self_parse_stat(const char *text, struct md_self_stat *out);
/* Resident pages from /proc/<pid>/statm. */
int md_self_parse_statm(const char *text, uint64_t *resident_pages);

#endif
