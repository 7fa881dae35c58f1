/*
 * daemon.h: the running agent and its lifecycle.
 *
 * One state machine owns the process:
 *
 *   STARTING ──► RUNNING ──SIGHUP──► RELOADING ──► RUNNING
 *                   │
 *                   └─SIGTERM/SIGINT──► DRAINING ──drained──► STOPPED
 *                                          │
 *                                          └─SIGTERM/SIGINT again──► STOPPED at once
 *
 * Signals only request a transition (md_daemon_request); the table in
 * daemon.c decides. While draining, a SIGHUP is ignored with a log line (a
 * reload would start collectors again and the loop would never end), and a
 * second SIGTERM/SIGINT gives up on the drain: what the forwarder still
 * holds is dropped and the process exits non-zero at once, as the Datadog
 * agent does. Everything here is owned and touched by the loop thread only.
 */
#ifndef METERD_DAEMON_H
#define METERD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "meterd/config.h"
#include "pipeline.h"
#include "reload.h"

struct md_forwarder;
struct md_fwd_opts;
struct md_flusher;
struct md_collect_runner;
struct md_ctrsvc;
struct md_status;
struct md_probe;

enum md_daemon_state {
    MD_DAEMON_STARTING,
    MD_DAEMON_RUNNING,
    MD_DAEMON_RELOADING,
    MD_DAEMON_DRAINING,
    MD_DAEMON_STOPPED,
};

enum md_daemon_request {
    MD_REQ_RELOAD, /* SIGHUP */
    MD_REQ_STOP,   /* SIGTERM, SIGINT */
    MD_REQ_DRAINED, /* the flusher and the forwarder hold nothing more */
};

#define MD_LEDGER_TEL_MAX 48 /* meterd.ledger.* series (ledger.c) */

struct md_daemon {
    uv_loop_t *loop;
    struct md_reload_source src;
    struct md_config cfg;
    char hostname[256];
    double grace; /* seconds after a window's end before it is sealed */
    struct md_pipeline_opts popts; /* what pipe is built from; outlives it */
    enum md_daemon_state state;
    bool forced;  /* the drain was cut short */
    struct md_pipeline *pipe;
    struct md_flusher *flush;
    struct md_forwarder *fwd;
    struct md_collect_runner *collect;
    struct md_ctrsvc *ctr;       /* container table + metadata clients; lives until teardown */
    struct md_status *status;
    struct md_probe *probe;      /* health_port: /live, /ready */
    const char *hostname_source; /* which resolver step named the host */
    uv_timer_t flush_timer;
    uv_signal_t sigint, sigterm, sighup;
    bool fwd_shutdown, fwd_done, handles_closed;
    bool pipe_stopped; /* the drain's last seal is in the flusher's hands */
    double started;
    uint64_t reloads, reload_errors;
    uint64_t tel_prev[8];
    uint64_t ledger_prev[MD_LEDGER_TEL_MAX]; /* ledger.c: the last window's counts */
};

/* Load the config from src, run until stopped; returns the exit code. */
int md_daemon_run(const struct md_reload_source *src);

/* Ask for a transition; the state machine may refuse it (with a log line). */
void md_daemon_request(struct md_daemon *d, enum md_daemon_request r);

const char *md_daemon_state_name(enum md_daemon_state s);

/* Where md_daemon_fwd_opts writes the forwarder's strings; must outlive md_forwarder_new. */
struct md_fwd_strings {
    char spool[4096];
    char auth[2048];       /* the remote write Authorization value */
    char userinfo[2][512]; /* user:password inside dd_url and the remote write URL */
    char endpoint[2][2048]; /* the configured HTTP sinks' base URLs */
};
/* The forwarder's settings from d's config (the spool only when a sink ships over HTTP). */
void md_daemon_fwd_opts(const struct md_daemon *d, struct md_fwd_opts *fo,
                        struct md_fwd_strings *s);

#endif
