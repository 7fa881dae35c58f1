/*
 * daemon.h: the running agent's state, shared by cmd_run.c (lifecycle,
 * flushing), reload.c (SIGHUP) and status.c (the HTTP status endpoints).
 * Everything here is owned and touched by the loop thread only.
 */
#ifndef METERD_DAEMON_H
#define METERD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "meterd/config.h"
#include "meterd/sink.h"
#include "pipeline.h"
#include "point.h"

#define MD_MAX_SINKS 8

struct md_agg;
struct md_forwarder;
struct md_collect_runner;
struct md_status;

#define MD_CLI_MAX_SETS 256

/* What the command line said about the config; kept so SIGHUP re-applies it. */
struct md_cli {
    const char *file;
    char *sets[MD_CLI_MAX_SETS];
    size_t nsets;
};
int md_cli_parse(int argc, char **argv, struct md_cli *cli);
int md_cli_load(const struct md_cli *cli, struct md_config *cfg, char *err, size_t errlen);

struct md_sink {
    const struct md_sink_ops *ops;
    void *state;
};

struct md_daemon {
    uv_loop_t *loop;
    struct md_cli cli;
    struct md_config cfg;
    char hostname[256];
    double grace;
    struct md_pipeline_opts popts; /* what pipe was built from; outlives it */
    struct md_pipeline *pipe;
    struct md_sink sinks[MD_MAX_SINKS];
    size_t nsinks;
    struct md_forwarder *fwd;
    struct md_collect_runner *collect;
    struct md_status *status;
    uv_timer_t flush_timer;
    uv_signal_t sigint, sigterm, sighup;
    int flushes_in_pool;
    bool stopping, fwd_shutdown, fwd_done, closed;
    double started, last_flush;
    uint64_t frames, series_flushed, reloads, reload_errors;
    uint64_t tel_prev[8];
};

void md_daemon_stop(struct md_daemon *d);
void md_daemon_maybe_done(struct md_daemon *d);
void md_daemon_reload(struct md_daemon *d);
struct md_point_sink md_daemon_point_sink(struct md_daemon *d);
int md_daemon_teardown(struct md_daemon *d);
/* -c FILE / --set parsing shared by commands; returns 0, or the exit code. */
int md_cmd_load_config(int argc, char **argv, struct md_config *cfg, int *first_arg);

#endif
