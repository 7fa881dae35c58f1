/*
 * collect.h: the collector runner. It reads conf.d/<name>.d/ for every
 * registered collector, configures one state per instance, runs each
 * instance on its own libuv timer (collect itself on a worker thread, so a
 * hung file system cannot stall the loop), turns raw counters into rates
 * and counts, appends the instance tags and hands points to a sink.
 *
 * A runner owns everything it uses and there is no global state, so a
 * reload is: build a new runner, start it, free the old one.
 */
#ifndef METERD_COLLECT_H
#define METERD_COLLECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "meterd/collector.h"
#include "meterd/options.h"
#include "point.h"

struct md_collect_runner;

/*
 * Load conf.d and configure every instance. confd_path NULL or missing:
 * every default_on collector runs with its defaults. procfs/sysfs NULL:
 * "/proc", "/sys". `out` is copied; its callback runs on the loop thread
 * (or, for md_collect_run_once, on the caller's thread). On error returns
 * NULL with "FILE:LINE: KEY: reason" in err.
 */
struct md_collect_runner *md_collect_new(uv_loop_t *loop, const char *confd_path, const char *procfs,
                                         const char *sysfs, const struct md_point_sink *out,
                                         char *err, size_t errlen);

struct md_collect_opts {
    const struct md_collector_ops *const *registry; /* NULL: md_collectors */
    /* Load only this collector; without a conf.d file it gets one default instance even if not default_on. */
    const char *only;
    /* Sees every point with the kind its collector emitted (meterd check prints "rate"). */
    void (*observe)(void *ud, const struct md_point *p, enum md_emit_kind kind);
    void *observe_ud;
    /* Handed to container collectors (md_instance_conf.containers); not owned. */
    struct md_containers *containers;
};
struct md_collect_runner *md_collect_new_opts(uv_loop_t *loop, const char *confd_path,
                                              const char *procfs, const char *sysfs,
                                              const struct md_point_sink *out,
                                              const struct md_collect_opts *opts, char *err,
                                              size_t errlen);

/* Start one timer per enabled instance (first run within a second). Needs a loop. */
int md_collect_start(struct md_collect_runner *r);

/*
 * Run every enabled instance once, now, on the calling thread, with
 * `now_ns` as the run's monotonic time (tests and `meterd check` drive time
 * with it). Instances whose timer run is in flight are skipped and counted.
 * Returns the number of runs that failed.
 */
int md_collect_run_once(struct md_collect_runner *r, int64_t now_ns);

/*
 * Stop timers and free. With a loop, handles close and in-flight runs
 * finish asynchronously: the memory is released from their callbacks, so
 * the loop must run (uv_run) until they complete, as for any uv handle.
 * Points of a run that completes after this call are dropped.
 */
void md_collect_free(struct md_collect_runner *r);

/*
 * `meterd configcheck`: load and configure everything as md_collect_new
 * would with the same paths, then free. 0 or -EINVAL with err.
 */
int md_collect_validate(const char *confd_path, const char *procfs, const char *sysfs, char *err,
                        size_t errlen);

struct md_collect_stats {
    const char *collector;
    const char *source;       /* conf.d file, or "default" */
    int instance;             /* index in that file */
    double interval;          /* seconds */
    bool enabled;
    bool running;             /* a run is in flight */
    bool has_counters;        /* emitted rates or monotonic counts (first run shows less) */
    uint64_t runs, errors, skipped, samples;
    int last_error;           /* -errno of the last failed run, 0 */
    int64_t last_run_unix_ms; /* start of the last completed run, 0 = never */
    double last_duration_ms;
    uint64_t last_samples;
    uint64_t dropped;         /* negative deltas (counter resets) and buffer failures */
};
size_t md_collect_ninstances(const struct md_collect_runner *r);
/* Warnings of the conf.d load ("FILE:LINE: KEY: unknown key ..., ignored"), already logged. */
const struct md_strlist *md_collect_notes(const struct md_collect_runner *r);

/*
 * What conf.d holds that no collector reads: <check>.d folders and flat
 * <check>.yaml files of checks meterd does not have (postgres.d,
 * process_agent.yaml.default ...). cb gets the entry's name and why;
 * `skip` (the main config file's path, may be NULL) is not reported.
 * *.example and *.disabled are the agent's own "not loaded" and are not
 * reported either. Returns how many were reported.
 */
size_t md_collect_confd_unclaimed(const char *confd, const char *skip,
                                  void (*cb)(void *ud, const char *entry, const char *why),
                                  void *ud);
int md_collect_stats(const struct md_collect_runner *r, size_t i, struct md_collect_stats *out);

/* The status page's view: a JSON array with one object per instance. */
void md_collect_status_json(struct md_collect_runner *r, struct md_buf *b);

#endif
