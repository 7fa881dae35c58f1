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
struct md_ctrsvc;
struct md_status;
struct md_probe;

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
    struct md_ctrsvc *ctr; /* container table + metadata clients; lives until teardown */
    struct md_status *status;
    struct md_probe *probe;     /* health_port: /live, /ready */
    const char *hostname_source; /* which resolver step named the host */
    uv_timer_t flush_timer;
    uv_signal_t sigint, sigterm, sighup;
    int flushes_in_pool;
    bool ready; /* config loaded and intake listening: what /ready reports */
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
struct md_fwd_opts;
/* Where md_daemon_fwd_opts writes the forwarder's strings; must outlive md_forwarder_new. */
struct md_fwd_strings {
    char spool[4096];
    char auth[2048];       /* the remote write Authorization value */
    char userinfo[2][512]; /* user:password inside dd_url and the remote write URL */
};
/* Forwarder settings from d->cfg (the daemon calls it, then md_forwarder_new). */
void md_daemon_fwd_opts(const struct md_daemon *d, struct md_fwd_opts *fo, struct md_fwd_strings *s);
/* -c FILE / --set parsing shared by commands; returns 0, or the exit code. */
int md_cmd_load_config(int argc, char **argv, struct md_config *cfg, int *first_arg);

#endif
