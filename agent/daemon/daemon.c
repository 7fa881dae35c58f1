/*
 * daemon.c: the agent's lifecycle (see daemon.h for the state machine).
 *
 * Start wires the parts on one libuv loop: statsd intake -> aggregator;
 * collectors -> aggregator; a timer at each window boundary asks the
 * aggregator to seal; sealed frames go to the flusher, whose payloads go to
 * the forwarder. The drain stops the collectors and the intake, seals every
 * open window (in parts, the loop running meanwhile as in any flush), lets
 * the flusher hand over its last frames and gives the forwarder a bounded
 * time to deliver; then the signal handles close and uv_run returns.
 */
#include "daemon.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "aggregator.h"
#include "collect.h"
#include "containers.h"
#include "ctrsvc.h"
#include "datadog.h"
#include "flush.h"
#include "forwarder.h"
#include "hostname.h"
#include "ledger.h"
#include "log.h"
#include "module_opts.h"
#include "pipeline.h"
#include "probe.h"
#include "prometheus_rw.h"
#include "status.h"
#include "wallclock.h"

const char *md_daemon_state_name(enum md_daemon_state s)
{
    static const char *const names[] = {"starting", "running", "reloading", "draining", "stopped"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
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
        {"meterd.aggregator.collector_context_limit_drops", ps.agg.collector_limit_drops},
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
    md_ledger_telemetry(d, now);
}

static void arm_flush_timer(struct md_daemon *d);

static void on_flush_timer(uv_timer_t *t)
{
    struct md_daemon *d = t->data;
    self_telemetry(d, md_wall_now() - d->grace); /* lands in the window being sealed */
    md_pipeline_flush(d->pipe, false);
    arm_flush_timer(d);
}

/* Fire just after the current window's end plus the grace period. */
static void arm_flush_timer(struct md_daemon *d)
{
    double now = md_wall_now();
    double iv = d->cfg.flush_interval;
    double next = (floor((now - d->grace) / iv) + 1) * iv + d->grace;
    uint64_t ms = (uint64_t)((next - now) * 1000) + 1;
    uv_timer_start(&d->flush_timer, on_flush_timer, ms, 0);
}

static void collector_point(void *ud, const struct md_point *p)
{
    struct md_daemon *d = ud;
    md_pipeline_point(d->pipe, p, md_wall_now());
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
    /* The container table and its clients stay: their keys change on restart. */
    struct md_collect_opts co = {.containers = md_ctrsvc_containers(d->ctr)};
    if (md_reload_prepare(&d->src, d->loop, &ps, &co, &r, err, sizeof err) != 0) {
        md_error("reload rejected, keeping the running configuration: %s", err);
        d->reload_errors++;
        return;
    }
    md_collect_free(d->collect);
    d->collect = r.collect;
    md_config_log_notes(&r.cfg);
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
    md_probe_free(d->probe); /* it said "stopping" on /ready until now */
    d->probe = NULL;
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

/* Draining: once the pool has handed everything over, the forwarder gets its deadline. */
static bool drained(struct md_daemon *d)
{
    if (!d->pipe_stopped || md_flusher_busy(d->flush) > 0)
        return false;
    if (d->fwd && !d->fwd_shutdown) {
        d->fwd_shutdown = true;
        md_forwarder_shutdown(d->fwd, (uint64_t)d->cfg.shutdown_timeout * 1000, on_forwarder_done,
                              d);
        return false;
    }
    return !d->fwd || d->fwd_done;
}

/* The pipeline's last frame has reached on_frame (loop thread). */
static void on_pipeline_stopped(void *ud)
{
    struct md_daemon *d = ud;
    d->pipe_stopped = true;
    if (d->status)
        md_status_close(d->status);
    md_daemon_request(d, MD_REQ_DRAINED);
}

static void begin_drain(struct md_daemon *d)
{
    d->state = MD_DAEMON_DRAINING;
    md_collect_free(d->collect);
    d->collect = NULL;
    md_ctrsvc_stop(d->ctr);
    uv_timer_stop(&d->flush_timer);
    uv_close((uv_handle_t *)&d->flush_timer, close_cb);
    /* Drains the sockets, seals every open window and hands the frames to on_frame. */
    md_pipeline_stop_start(d->pipe, on_pipeline_stopped, d);
}

/*
 * A second stop request: no more waiting for the backends. What is unsent
 * still goes to the spool (the forwarder's teardown writes it and says how
 * much); frames still encoding are lost.
 */
static void abandon_drain(struct md_daemon *d)
{
    size_t left = d->fwd ? md_forwarder_pending(d->fwd) : 0;
    md_warn("second stop request: exiting without waiting for the drain (%zu unsent payload(s) "
            "to the spool, %d frame(s) still encoding lost)", left, md_flusher_busy(d->flush));
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

/* The host name every metric carries, decided once (agent/util/hostname.c). */
static int resolve_hostname(struct md_daemon *d, char *err, size_t errlen)
{
    struct md_hostname h;
    if (md_hostname_resolve(&d->cfg, &h) != 0) {
        snprintf(err, errlen, "cannot tell the host's name (%s): set hostname (DD_HOSTNAME) or "
                 "hostname_file, or mount the Docker socket", h.detail);
        return -ENOENT;
    }
    if (h.detail[0])
        md_info("host name: skipped %s", h.detail);
    snprintf(d->hostname, sizeof d->hostname, "%s", h.name);
    d->hostname_source = h.source;
    return 0;
}

/* The user:password of a URL ("" when it has none): kept off the spool's disk. */
static void url_userinfo(const char *url, char *out, size_t len)
{
    out[0] = '\0';
    const char *h = url ? strstr(url, "://") : NULL;
    if (!h)
        return;
    h += 3;
    const char *at = memchr(h, '@', strcspn(h, "/?#"));
    if (at)
        snprintf(out, len, "%.*s", (int)(at - h), h);
}

/*
 * The spool folder of the backends configured now: <base>/<16 hex digits>
 * named after their URLs (the Datadog agent keeps one folder per domain
 * too). Payloads spooled for a backend that is no longer configured stay in
 * their own folder instead of being replayed first, where they would hold
 * up every new payload behind an address that may never answer again.
 */
static void spool_folder(const struct md_datadog_conf *dd, const struct md_prw_conf *prw,
                         const char *base, char *out, size_t len)
{
    char ends[2048];
    snprintf(ends, sizeof ends, "datadog:%s|%s|prometheus_rw:%s",
             dd && dd->dd_url ? dd->dd_url : "", dd && dd->site ? dd->site : "",
             prw && prw->prometheus_remote_write_url ? prw->prometheus_remote_write_url : "");
    snprintf(out, len, "%s/%016llx", base, (unsigned long long)XXH3_64bits(ends, strlen(ends)));
    explicit_bzero(ends, sizeof ends); /* a URL may hold a password */
}

/* Where the configured HTTP sinks send: a spooled payload for any other place is not replayed. */
static void fwd_endpoints(const struct md_datadog_conf *dd, const struct md_prw_conf *prw,
                          struct md_fwd_opts *fo, struct md_fwd_strings *s)
{
    size_t n = 0;
    char *ddbase = dd ? md_sink_datadog_base_url(dd) : NULL;
    if (ddbase) {
        snprintf(s->endpoint[n], sizeof s->endpoint[n], "%s/", ddbase);
        fo->endpoints[n] = s->endpoint[n];
        n++;
        explicit_bzero(ddbase, strlen(ddbase));
        free(ddbase);
    }
    if (prw && prw->prometheus_remote_write_url) {
        snprintf(s->endpoint[n], sizeof s->endpoint[n], "%s", prw->prometheus_remote_write_url);
        fo->endpoints[n] = s->endpoint[n];
    }
}

/*
 * Secrets the spool must keep off the disk: the API key, the remote write
 * Authorization value and credentials inside either URL.
 */
void md_daemon_fwd_opts(const struct md_daemon *d, struct md_fwd_opts *fo, struct md_fwd_strings *s)
{
    const struct md_config *c = &d->cfg;
    const struct md_sink_ops *ops[MD_FLUSH_MAX_SINKS];
    size_t n = md_config_sinks(c, ops, MD_FLUSH_MAX_SINKS);
    const struct md_prw_conf *prw = NULL;
    const struct md_datadog_conf *dd = NULL;
    bool http = false;
    for (size_t i = 0; i < n; i++) { /* only the sinks in use: a sink's URL key alone is not one */
        http = http || ops[i]->transport == MD_TRANSPORT_HTTP;
        if (ops[i] == md_sink_lookup("prometheus_rw"))
            prw = md_config_sink_conf(c, ops[i]);
        else if (ops[i] == md_sink_lookup("datadog"))
            dd = md_config_sink_conf(c, ops[i]);
    }
    if (md_prw_auth_header(prw, s->auth, sizeof s->auth) != 0)
        s->auth[0] = '\0';
    url_userinfo(dd ? dd->dd_url : NULL, s->userinfo[0], sizeof s->userinfo[0]);
    url_userinfo(prw ? prw->prometheus_remote_write_url : NULL, s->userinfo[1],
                 sizeof s->userinfo[1]);
    char base[2048];
    if (c->forwarder_storage_path && c->forwarder_storage_path[0])
        snprintf(base, sizeof base, "%s", c->forwarder_storage_path);
    else
        snprintf(base, sizeof base, "%s/transactions_to_retry", c->run_path ? c->run_path : ".");
    spool_folder(dd, prw, base, s->spool, sizeof s->spool);
    *fo = (struct md_fwd_opts){
        .timeout_ms = (uint64_t)c->forwarder_timeout * 1000,
        .max_concurrent = (unsigned)c->forwarder_num_workers,
        .skip_ssl_validation = c->skip_ssl_validation,
        .retry_queue_max_bytes = (size_t)c->forwarder_retry_queue_payloads_max_size,
        .backoff_base_ms = (uint64_t)c->forwarder_backoff_base * 1000,
        .backoff_max_ms = (uint64_t)c->forwarder_backoff_max * 1000,
        .spool_path = http && c->forwarder_storage_max_size_in_bytes > 0 ? s->spool : NULL,
        .spool_max_bytes = (uint64_t)c->forwarder_storage_max_size_in_bytes,
        .secrets = {dd ? dd->api_key : NULL, s->auth, s->userinfo[0], s->userinfo[1]},
    };
    fwd_endpoints(dd, prw, fo, s);
}

/* proxy.no_proxy as libcurl's NOPROXY text: "a,b,c". */
static const char *join_no_proxy(const struct md_strlist *l, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < l->n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", l->v[i]);
    return buf;
}

/* A check folder of the Datadog agent's conf.d that meterd has no collector for. */
static void log_unclaimed(void *ud, const char *entry, const char *why)
{
    md_info("conf.d: %s: not loaded, %s", entry, why);
}

static int start_forwarder(struct md_daemon *d, char *err, size_t errlen)
{
    struct md_fwd_opts fo;
    struct md_fwd_strings fs;
    char no_proxy[2048];
    md_daemon_fwd_opts(d, &fo, &fs);
    fo.proxy_http = d->cfg.proxy_http;
    fo.proxy_https = d->cfg.proxy_https;
    fo.no_proxy = join_no_proxy(&d->cfg.proxy_no_proxy, no_proxy, sizeof no_proxy);
    d->fwd = md_forwarder_new(d->loop, &fo);
    explicit_bzero(&fs, sizeof fs);
    if (!d->fwd) {
        snprintf(err, errlen, "forwarder: cannot start (see log)");
        return -EINVAL;
    }
    return 0;
}

/* The intake pipeline, with origin detection when the config asks for it. */
static int start_pipeline(struct md_daemon *d, char *err, size_t errlen)
{
    const struct md_config *c = &d->cfg;
    d->pipe = md_pipeline_new(&d->popts, err, errlen);
    if (!d->pipe)
        return -EINVAL;
    if ((c->dogstatsd_origin_detection || c->dogstatsd_origin_detection_client) &&
        md_pipeline_set_origin(d->pipe, md_ctrsvc_containers(d->ctr), c->procfs_path,
                               c->dogstatsd_origin_detection,
                               c->dogstatsd_origin_detection || c->dogstatsd_origin_detection_client,
                               md_card_parse(c->dogstatsd_tag_cardinality,
                                             strlen(c->dogstatsd_tag_cardinality))) != 0) {
        snprintf(err, errlen, "dogstatsd: cannot set up origin detection");
        return -EINVAL;
    }
    return md_pipeline_start(d->pipe, d->loop, on_frame, d) != 0 ? -EINVAL : 0;
}

static int start(struct md_daemon *d, char *err, size_t errlen)
{
    md_log_set_level(md_log_level_parse(d->cfg.log_level));
    md_config_log_notes(&d->cfg);
    md_collect_confd_unclaimed(d->cfg.confd_path, d->cfg.config_file, log_unclaimed, NULL);
    if (resolve_hostname(d, err, errlen) != 0)
        return -ENOENT;
    md_config_pipeline_opts(&d->cfg, d->hostname, &d->popts);
    d->grace = d->popts.agg.grace; /* the flush timer waits as long as the aggregator does */
    if (start_forwarder(d, err, errlen) != 0)
        return -EINVAL;
    struct md_flush_opts flo = {.hostname = d->hostname, .loop = d->loop, .fwd = d->fwd,
                                .idle = on_flush_idle, .idle_ud = d};
    if (md_flusher_new(&d->cfg, NULL, &flo, &d->flush, err, errlen) != 0)
        return -EINVAL;
    if (!(d->ctr = md_ctrsvc_new(d->loop, &d->cfg, err, errlen)))
        return -EINVAL;
    md_ctrsvc_start(d->ctr);
    if (start_pipeline(d, err, errlen) != 0)
        return -EINVAL;
    struct md_point_sink ps = {collector_point, d};
    struct md_collect_opts co = {.containers = md_ctrsvc_containers(d->ctr)};
    d->collect = md_collect_new_opts(d->loop, d->cfg.confd_path, d->cfg.procfs_path,
                                     d->cfg.sysfs_path, &ps, &co, err, errlen);
    if (!d->collect || md_collect_start(d->collect) != 0)
        return -EINVAL;
    if (d->cfg.status_port > 0 && !(d->status = md_status_new(d, err, errlen)))
        return -EINVAL;
    if (d->cfg.health_port > 0 && !(d->probe = md_probe_new(d, err, errlen)))
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
    d->started = md_wall_now();
    d->state = MD_DAEMON_RUNNING;
    md_info("meterd %s running as host '%s' (from %s), window %d s", METERD_VERSION, d->hostname,
            d->hostname_source, d->cfg.flush_interval);
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
    if (d->ctr)
        md_ctrsvc_stop(d->ctr);
    md_probe_free(d->probe); /* after a failed start */
    d->probe = NULL;
    uv_run(d->loop, UV_RUN_DEFAULT); /* close callbacks of whatever was opened */
    md_pipeline_free(d->pipe);
    md_flusher_free(d->flush);
    md_ctrsvc_free(d->ctr); /* after the loop: no collector run can still use the table */
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
    /* A flush encodes and compresses megabytes in pool threads and frees them
     * at once. glibc would raise its mmap threshold after the first such free
     * and serve the next ones from heaps whose touched pages stay resident; a
     * fixed threshold keeps big buffers in mmaps that go back on free. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
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
