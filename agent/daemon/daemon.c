/*
 * daemon.c: the agent's lifecycle (see daemon.h for the state machine).
 *
 * Start wires the parts on one libuv loop: statsd intake -> aggregator;
 * collectors -> aggregator; a timer at each window boundary asks the
 * aggregator to seal; sealed frames go to the flusher, whose payloads go to
 * the forwarder. The drain stops the collectors and the intake, seals every
 * open window, lets the flusher hand over its last frames and gives the
 * forwarder a bounded time to deliver; then the signal handles close and
 * uv_run returns.
 */
#include "daemon.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aggregator.h"
#include "collect.h"
#include "flush.h"
#include "forwarder.h"
#include "log.h"
#include "module_opts.h"
#include "pipeline.h"
#include "status.h"

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

const char *md_daemon_state_name(enum md_daemon_state s)
{
    static const char *const names[] = {"starting", "running", "reloading", "draining", "stopped"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

void md_daemon_hostname(const struct md_config *cfg, char *out, size_t len)
{
    if (cfg->hostname && cfg->hostname[0])
        snprintf(out, len, "%s", cfg->hostname);
    else if (gethostname(out, len - 1) != 0)
        snprintf(out, len, "localhost");
    out[len - 1] = '\0';
}

/* --- windows and self telemetry ------------------------------------------ */

/* Telemetry about ourselves, as meterd.* metrics in every window. */
static void self_telemetry(struct md_daemon *d, double now)
{
    struct md_pipeline_stats ps;
    md_pipeline_stats(d->pipe, &ps);
    uint64_t errors = 0;
    for (int i = 0; i < MD_PERR_COUNT; i++)
        errors += ps.statsd.errors[i];
    struct { const char *name; uint64_t v; } c[] = {
        {"meterd.dogstatsd.packets", ps.statsd.packets},
        {"meterd.dogstatsd.metrics", ps.statsd.metrics},
        {"meterd.dogstatsd.parse_errors", errors},
        {"meterd.dogstatsd.ring_full_drops", ps.ring_full_drops},
        {"meterd.dogstatsd.kernel_drops", ps.kernel_drops > 0 ? (uint64_t)ps.kernel_drops : 0},
        {"meterd.aggregator.context_limit_drops", ps.agg.context_limit_drops},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0] && i < 8; i++) {
        struct md_point p = {.name = {c[i].name, (uint32_t)strlen(c[i].name)},
                             .type = MD_MONOTONIC_COUNT,
                             .value = (double)(c[i].v - d->tel_prev[i]), .sample_rate = 1};
        d->tel_prev[i] = c[i].v;
        md_pipeline_point(d->pipe, &p, now);
    }
    struct md_point g = {.name = {"meterd.aggregator.contexts", 26}, .type = MD_GAUGE,
                         .value = (double)ps.agg.contexts_live, .sample_rate = 1};
    md_pipeline_point(d->pipe, &g, now);
}

static void arm_flush_timer(struct md_daemon *d);

static void on_flush_timer(uv_timer_t *t)
{
    struct md_daemon *d = t->data;
    self_telemetry(d, wall_now() - d->grace); /* lands in the window being sealed */
    md_pipeline_flush(d->pipe, false);
    arm_flush_timer(d);
}

/* Fire just after the current window's end plus the grace period. */
static void arm_flush_timer(struct md_daemon *d)
{
    double now = wall_now();
    double iv = d->cfg.flush_interval;
    double next = (floor((now - d->grace) / iv) + 1) * iv + d->grace;
    uint64_t ms = (uint64_t)((next - now) * 1000) + 1;
    uv_timer_start(&d->flush_timer, on_flush_timer, ms, 0);
}

static void collector_point(void *ud, const struct md_point *p)
{
    struct md_daemon *d = ud;
    md_pipeline_point(d->pipe, p, wall_now());
}

static void on_frame(void *ud, struct md_frame *f)
{
    struct md_daemon *d = ud;
    md_flusher_frame(d->flush, f);
}

/* --- transitions ---------------------------------------------------------- */

static void reload(struct md_daemon *d)
{
    struct md_reload r;
    char err[1024];
    struct md_point_sink ps = {collector_point, d};
    if (md_reload_prepare(&d->src, d->loop, &ps, &r, err, sizeof err) != 0) {
        md_error("reload rejected, keeping the running configuration: %s", err);
        d->reload_errors++;
        return;
    }
    md_collect_free(d->collect);
    d->collect = r.collect;
    md_reload_warn_restart_only(&d->cfg, &r.cfg);
    md_log_set_level(md_log_level_parse(r.cfg.log_level));
    d->reloads++;
    md_info("reloaded %s and conf.d (%s)", d->src.file ? d->src.file : "(defaults)",
            r.cfg.confd_path);
    /* The running config stays for the restart-only keys. */
    md_config_free(&r.cfg);
}

static void close_cb(uv_handle_t *h)
{
}

static void close_handles(struct md_daemon *d)
{
    if (d->handles_closed)
        return;
    d->handles_closed = true;
    uv_close((uv_handle_t *)&d->sigint, close_cb);
    uv_close((uv_handle_t *)&d->sigterm, close_cb);
    uv_close((uv_handle_t *)&d->sighup, close_cb);
}

static void on_forwarder_done(struct md_forwarder *f, void *ud)
{
    struct md_daemon *d = ud;
    d->fwd_done = true;
    md_daemon_request(d, MD_REQ_DRAINED);
}

/* How long the forwarder may keep sending after a stop request. */
static uint64_t drain_deadline_ms(const struct md_config *c)
{
    return (uint64_t)c->forwarder_timeout * 1000 / 4 + 2000;
}

/* Draining: once the pool has handed everything over, the forwarder gets its deadline. */
static bool drained(struct md_daemon *d)
{
    if (md_flusher_busy(d->flush) > 0)
        return false;
    if (d->fwd && !d->fwd_shutdown) {
        d->fwd_shutdown = true;
        md_forwarder_shutdown(d->fwd, drain_deadline_ms(&d->cfg), on_forwarder_done, d);
        return false;
    }
    return !d->fwd || d->fwd_done;
}

static void begin_drain(struct md_daemon *d)
{
    d->state = MD_DAEMON_DRAINING;
    md_collect_free(d->collect);
    d->collect = NULL;
    uv_timer_stop(&d->flush_timer);
    uv_close((uv_handle_t *)&d->flush_timer, close_cb);
    /* Drains the sockets, seals every open window and hands the frames to on_frame. */
    md_pipeline_stop(d->pipe);
    if (d->status)
        md_status_close(d->status);
    md_daemon_request(d, MD_REQ_DRAINED);
}

/* A second stop request: drop what is left and let the loop end now. */
static void abandon_drain(struct md_daemon *d)
{
    size_t left = d->fwd ? md_forwarder_pending(d->fwd) : 0;
    md_warn("second stop request: exiting without waiting for the drain (%zu payload(s) "
            "dropped, %d frame(s) still encoding)", left, md_flusher_busy(d->flush));
    d->forced = true;
    d->state = MD_DAEMON_STOPPED;
    md_flusher_detach(d->flush);
    md_forwarder_free(d->fwd); /* closes its handles with no grace */
    d->fwd = NULL;
    close_handles(d);
}

void md_daemon_request(struct md_daemon *d, enum md_daemon_request r)
{
    switch (d->state) {
    case MD_DAEMON_RUNNING:
        if (r == MD_REQ_RELOAD) {
            d->state = MD_DAEMON_RELOADING;
            reload(d);
            d->state = MD_DAEMON_RUNNING;
        } else if (r == MD_REQ_STOP) {
            md_info("stop requested: final flush, then exit");
            begin_drain(d);
        }
        break;
    case MD_DAEMON_DRAINING:
        if (r == MD_REQ_RELOAD) {
            md_info("SIGHUP ignored: the agent is draining to stop");
        } else if (r == MD_REQ_STOP) {
            abandon_drain(d);
        } else if (drained(d)) {
            d->state = MD_DAEMON_STOPPED;
            close_handles(d);
        }
        break;
    case MD_DAEMON_STARTING:
    case MD_DAEMON_RELOADING:
    case MD_DAEMON_STOPPED:
        md_debug("request %d ignored while %s", (int)r, md_daemon_state_name(d->state));
        break;
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct md_daemon *d = h->data;
    md_info("received %s", strsignal(signum));
    md_daemon_request(d, signum == SIGHUP ? MD_REQ_RELOAD : MD_REQ_STOP);
}

static void on_flush_idle(void *ud)
{
    md_daemon_request(ud, MD_REQ_DRAINED);
}

/* --- start and teardown --------------------------------------------------- */

static int start(struct md_daemon *d, char *err, size_t errlen)
{
    md_log_set_level(md_log_level_parse(d->cfg.log_level));
    md_daemon_hostname(&d->cfg, d->hostname, sizeof d->hostname);
    md_config_pipeline_opts(&d->cfg, d->hostname, &d->popts);
    d->grace = d->popts.agg.grace; /* the flush timer waits as long as the aggregator does */
    struct md_fwd_opts fo = {.timeout_ms = (uint64_t)d->cfg.forwarder_timeout * 1000,
                             .skip_ssl_validation = d->cfg.skip_ssl_validation};
    d->fwd = md_forwarder_new(d->loop, &fo);
    if (!d->fwd) {
        snprintf(err, errlen, "forwarder: cannot start (see log)");
        return -EINVAL;
    }
    struct md_flush_opts flo = {.hostname = d->hostname, .loop = d->loop, .fwd = d->fwd,
                                .idle = on_flush_idle, .idle_ud = d};
    if (md_flusher_new(&d->cfg, NULL, &flo, &d->flush, err, errlen) != 0)
        return -EINVAL;
    d->pipe = md_pipeline_new(&d->popts, err, errlen);
    if (!d->pipe || md_pipeline_start(d->pipe, d->loop, on_frame, d) != 0)
        return -EINVAL;
    struct md_point_sink ps = {collector_point, d};
    d->collect = md_collect_new(d->loop, d->cfg.confd_path, d->cfg.procfs_path,
                                d->cfg.sysfs_path, &ps, err, errlen);
    if (!d->collect || md_collect_start(d->collect) != 0)
        return -EINVAL;
    if (d->cfg.status_port > 0 && !(d->status = md_status_new(d, err, errlen)))
        return -EINVAL;
    uv_timer_init(d->loop, &d->flush_timer);
    d->flush_timer.data = d;
    arm_flush_timer(d);
    uv_signal_t *sigs[] = {&d->sigint, &d->sigterm, &d->sighup};
    int nums[] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(d->loop, sigs[i]);
        sigs[i]->data = d;
        uv_signal_start(sigs[i], on_signal, nums[i]);
    }
    d->started = wall_now();
    d->state = MD_DAEMON_RUNNING;
    md_info("meterd %s running as host '%s', window %d s", METERD_VERSION, d->hostname,
            d->cfg.flush_interval);
    return 0;
}

/* Release everything; after a failed start too (then the loop runs to close what was opened). */
static void teardown(struct md_daemon *d)
{
    if (d->flush)
        md_flusher_detach(d->flush); /* frames still encoding must not reach a freed forwarder */
    if (d->collect)
        md_collect_free(d->collect);
    if (d->fwd)
        md_forwarder_free(d->fwd);
    if (d->pipe)
        md_pipeline_stop(d->pipe); /* no-op after a drain; joins threads after a failed start */
    if (d->status)
        md_status_close(d->status);
    uv_run(d->loop, UV_RUN_DEFAULT); /* close callbacks of whatever was opened */
    md_pipeline_free(d->pipe);
    md_flusher_free(d->flush);
    md_status_free(d->status);
    md_config_free(&d->cfg);
    uv_loop_close(d->loop);
}

int md_daemon_run(const struct md_reload_source *src)
{
    struct md_daemon d = {.src = *src, .state = MD_DAEMON_STARTING};
    char err[1024] = "";
    if (md_reload_load(&d.src, &d.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "meterd: config error: %s\n", err);
        md_config_free(&d.cfg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    d.loop = uv_default_loop();
    if (start(&d, err, sizeof err) != 0) {
        md_error("cannot start: %s", err);
        fprintf(stderr, "meterd: %s\n", err);
        teardown(&d);
        return 1;
    }
    uv_run(d.loop, UV_RUN_DEFAULT);
    md_info("stopped%s", d.forced ? " (drain cut short)" : "");
    int rc = d.forced ? 1 : 0;
    teardown(&d);
    return rc;
}
