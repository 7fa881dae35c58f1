/*
 * cmd_run.c: `meterd run`, the daemon.
 *
 * Wires the parts on one libuv loop: statsd intake -> aggregator; collectors
 * -> aggregator; a timer at each window boundary seals windows into a frame;
 * sinks encode the frame and zlib compresses the payloads on the libuv
 * thread pool (off the loop, so intake never waits for a flush); the
 * forwarder sends. SIGINT/SIGTERM drain the socket, seal every open window,
 * and give the forwarder a bounded time to deliver before exiting. SIGHUP
 * reloads the configuration (see daemon_reload).
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "aggregator.h"
#include "cmd.h"
#include "collect.h"
#include "containers.h"
#include "ctrsvc.h"
#include "compress.h"
#include "daemon.h"
#include "forwarder.h"
#include "pipeline.h"
#include "datadog.h"
#include "prometheus_rw.h"
#include "log.h"
#include "module_opts.h"
#include "status.h"
#include "probe.h"
#include "hostname.h"


static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- sinks and flushing ------------------------------------------------- */

static int sinks_create(struct md_daemon *d, char *err, size_t errlen)
{
    const struct md_sink_ops *ops[MD_MAX_SINKS];
    const struct md_sink_env env = {.hostname = d->hostname,
                                    .tags = (const char *const *)d->cfg.tags.v,
                                    .ntags = d->cfg.tags.n};
    size_t n = md_config_sinks(&d->cfg, ops, MD_MAX_SINKS);
    for (size_t i = 0; i < n; i++) {
        char why[256] = "cannot start";
        int rc = ops[i]->create(md_config_sink_conf(&d->cfg, ops[i]), &env,
                                &d->sinks[d->nsinks].state, why, sizeof why);
        if (rc < 0) {
            snprintf(err, errlen, "sinks: %s: %s", ops[i]->name, why);
            return rc;
        }
        d->sinks[d->nsinks++].ops = ops[i];
        md_info("sink %s ready", ops[i]->name);
    }
    return 0;
}

static void sinks_destroy(struct md_daemon *d)
{
    for (size_t i = 0; i < d->nsinks; i++)
        d->sinks[i].ops->destroy(d->sinks[i].state);
    d->nsinks = 0;
}

/* A frame on its way through the thread pool. */
struct flush_job {
    uv_work_t work;
    struct md_daemon *d;
    struct md_frame frame;
    struct md_payload *payloads;
};

static void add_header(struct md_payload *p, const char *h)
{
    if (p->nheaders < MD_PAYLOAD_MAX_HEADERS)
        p->headers[p->nheaders++] = strdup(h);
}

static void compress_payload(struct md_payload *p)
{
    void *z;
    size_t zlen;
    if (!p->compress || !p->url || md_deflate(p->body, p->len, 6, &z, &zlen) != 0)
        return;
    free(p->body);
    p->body = z;
    p->len = zlen;
    add_header(p, "Content-Encoding: deflate");
}

/* Encode one slice of the frame with every sink and compress what it gave. */
static struct md_payload **encode_slice(struct flush_job *j, const struct md_frame *view,
                                        struct md_payload **tail)
{
    for (size_t i = 0; i < j->d->nsinks; i++) {
        struct md_sink *s = &j->d->sinks[i];
        if (s->ops->encode(s->state, view, tail) != 0)
            md_warn("sink %s: could not encode the frame", s->ops->name);
        for (; *tail; tail = &(*tail)->next) {
            (*tail)->sink = s->ops->name;
            if (s->ops->transport == MD_TRANSPORT_STDOUT)
                (*tail)->url = NULL;
            compress_payload(*tail);
        }
    }
    return tail;
}

/*
 * Thread pool: encode with every sink, then compress. Touches only the job.
 * The series go through the sinks ENCODE_SLICE at a time, each slice's
 * payloads compressed before the next is encoded, so the uncompressed text
 * of a big window never exists all at once (100k series are ~19 MB of
 * JSON). Events, checks and sketches go with the first slice.
 */
#define ENCODE_SLICE 8192

static void flush_work(uv_work_t *w)
{
    struct flush_job *j = w->data;
    /* Encoding 100k contexts must not take the core from the intake threads. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    struct md_payload **tail = &j->payloads;
    const struct md_frame *f = &j->frame;
    size_t off = 0;
    do {
        struct md_frame view = *f;
        view.series = f->series + off;
        view.nseries = f->nseries - off < ENCODE_SLICE ? f->nseries - off : ENCODE_SLICE;
        view.window_series = f->nseries;
        if (off) {
            view.nevents = view.nchecks = view.nsketches = 0;
            view.continued = true;
        }
        tail = encode_slice(j, &view, tail);
        off += view.nseries;
    } while (off < f->nseries);
    md_frame_free(&j->frame);
}

/* Loop thread: hand payloads to stdout or the forwarder. */
static void flush_done(uv_work_t *w, int status)
{
    struct flush_job *j = w->data;
    struct md_daemon *d = j->d;
    struct md_payload *p = j->payloads;
    while (p) {
        struct md_payload *next = p->next;
        p->next = NULL;
        if (!p->url) {
            fwrite(p->body, 1, p->len, stdout);
            fflush(stdout);
            md_payload_free(p);
        } else if (d->fwd) {
            md_forwarder_send(d->fwd, p);
        } else {
            md_payload_free(p);
        }
        p = next;
    }
    md_frame_free(&j->frame);
    free(j);
    d->flushes_in_pool--;
    md_daemon_maybe_done(d);
}

/* A sealed frame arrived from the aggregator thread: send it through the pool. */
static void on_frame(void *ud, struct md_frame *f)
{
    struct md_daemon *d = ud;
    size_t items = f->nseries + f->nevents + f->nchecks + f->nsketches;
    if (items == 0) {
        md_frame_free(f);
        free(f);
        return;
    }
    struct flush_job *j = calloc(1, sizeof *j);
    if (!j) {
        md_frame_free(f);
        free(f);
        return;
    }
    d->last_flush = wall_now();
    d->frames += !f->continued; /* a big window comes in parts */
    d->series_flushed += f->nseries;
    md_debug("flush: %zu series, %zu events, %zu checks", f->nseries, f->nevents, f->nchecks);
    j->frame = *f;
    free(f);
    j->d = d;
    j->work.data = j;
    d->flushes_in_pool++;
    if (uv_queue_work(d->loop, &j->work, flush_work, flush_done) != 0) {
        flush_work(&j->work);
        flush_done(&j->work, 0);
    }
}

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

/* --- points from collectors --------------------------------------------- */

static void collector_point(void *ud, const struct md_point *p)
{
    struct md_daemon *d = ud;
    md_pipeline_point(d->pipe, p, wall_now());
}

struct md_point_sink md_daemon_point_sink(struct md_daemon *d)
{
    return (struct md_point_sink){collector_point, d};
}

/* --- lifecycle ---------------------------------------------------------- */

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

static void on_signal(uv_signal_t *h, int signum)
{
    struct md_daemon *d = h->data;
    if (signum == SIGHUP) {
        md_daemon_reload(d);
        return;
    }
    md_info("received %s: final flush and exit", strsignal(signum));
    md_daemon_stop(d);
}

static void close_cb(uv_handle_t *h)
{
}

static void on_forwarder_done(struct md_forwarder *f, void *ud)
{
    struct md_daemon *d = ud;
    d->fwd_done = true;
    md_daemon_maybe_done(d);
}

/* Once the pool has handed everything over and the forwarder is drained, close the rest. */
void md_daemon_maybe_done(struct md_daemon *d)
{
    if (!d->stopping || d->flushes_in_pool > 0)
        return;
    if (d->fwd && !d->fwd_shutdown) {
        d->fwd_shutdown = true;
        md_forwarder_shutdown(d->fwd, (uint64_t)d->cfg.forwarder_timeout * 1000 / 4 + 2000,
                              on_forwarder_done, d);
        return;
    }
    if (d->fwd && !d->fwd_done)
        return;
    if (d->closed)
        return;
    d->closed = true;
    md_probe_free(d->probe); /* it said "stopping" on /ready until now */
    d->probe = NULL;
    uv_close((uv_handle_t *)&d->sigint, close_cb);
    uv_close((uv_handle_t *)&d->sigterm, close_cb);
    uv_close((uv_handle_t *)&d->sighup, close_cb);
}

void md_daemon_stop(struct md_daemon *d)
{
    if (d->stopping)
        return;
    d->stopping = true;
    if (d->collect)
        md_collect_free(d->collect);
    d->collect = NULL;
    md_ctrsvc_stop(d->ctr);
    uv_timer_stop(&d->flush_timer);
    uv_close((uv_handle_t *)&d->flush_timer, close_cb);
    /* Drains the sockets, seals every open window and hands the frames to on_frame. */
    md_pipeline_stop(d->pipe);
    if (d->status)
        md_status_close(d->status);
    md_daemon_maybe_done(d);
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
 * The forwarder's settings from the config; the spool only when some sink
 * ships over HTTP. Secrets the spool must keep off the disk: the API key,
 * the remote write Authorization value and credentials inside either URL.
 */
void md_daemon_fwd_opts(const struct md_daemon *d, struct md_fwd_opts *fo, struct md_fwd_strings *s)
{
    const struct md_config *c = &d->cfg;
    const struct md_prw_conf *prw = md_config_sink_conf(c, md_sink_lookup("prometheus_rw"));
    const struct md_datadog_conf *dd = md_config_sink_conf(c, md_sink_lookup("datadog"));
    if (md_prw_auth_header(prw, s->auth, sizeof s->auth) != 0)
        s->auth[0] = '\0';
    url_userinfo(dd ? dd->dd_url : NULL, s->userinfo[0], sizeof s->userinfo[0]);
    url_userinfo(prw ? prw->prometheus_remote_write_url : NULL, s->userinfo[1],
                 sizeof s->userinfo[1]);
    bool http = false;
    for (size_t i = 0; i < d->nsinks; i++)
        http = http || d->sinks[i].ops->transport == MD_TRANSPORT_HTTP;
    if (c->forwarder_storage_path && c->forwarder_storage_path[0])
        snprintf(s->spool, sizeof s->spool, "%s", c->forwarder_storage_path);
    else
        snprintf(s->spool, sizeof s->spool, "%s/transactions_to_retry",
                 c->run_path ? c->run_path : ".");
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
    (void)ud;
    md_info("conf.d: %s: not loaded, %s", entry, why);
}

static int daemon_start(struct md_daemon *d, char *err, size_t errlen)
{
    md_log_set_level(md_log_level_parse(d->cfg.log_level));
    md_config_log_notes(&d->cfg);
    md_collect_confd_unclaimed(d->cfg.confd_path, d->cfg.config_file, log_unclaimed, NULL);
    if (resolve_hostname(d, err, errlen) != 0)
        return -ENOENT;
    md_config_pipeline_opts(&d->cfg, d->hostname, &d->popts);
    d->grace = d->popts.agg.grace; /* the flush timer waits as long as the aggregator does */
    if (sinks_create(d, err, errlen) != 0)
        return -EINVAL;
    struct md_fwd_opts fo;
    struct md_fwd_strings fs;
    md_daemon_fwd_opts(d, &fo, &fs);
    char no_proxy[2048];
    fo.proxy_http = d->cfg.proxy_http;
    fo.proxy_https = d->cfg.proxy_https;
    fo.no_proxy = join_no_proxy(&d->cfg.proxy_no_proxy, no_proxy, sizeof no_proxy);
    d->fwd = md_forwarder_new(d->loop, &fo);
    explicit_bzero(&fs, sizeof fs);
    if (!d->fwd) {
        snprintf(err, errlen, "forwarder: cannot start (see log)");
        return -EINVAL;
    }
    if (!(d->ctr = md_ctrsvc_new(d->loop, &d->cfg, err, errlen)))
        return -EINVAL;
    md_ctrsvc_start(d->ctr);
    d->pipe = md_pipeline_new(&d->popts, err, errlen);
    if (!d->pipe)
        return -EINVAL;
    const struct md_config *c = &d->cfg;
    if ((c->dogstatsd_origin_detection || c->dogstatsd_origin_detection_client) &&
        md_pipeline_set_origin(d->pipe, md_ctrsvc_containers(d->ctr), c->procfs_path,
                               c->dogstatsd_origin_detection,
                               c->dogstatsd_origin_detection || c->dogstatsd_origin_detection_client,
                               md_card_parse(c->dogstatsd_tag_cardinality,
                                             strlen(c->dogstatsd_tag_cardinality))) != 0) {
        snprintf(err, errlen, "dogstatsd: cannot set up origin detection");
        return -EINVAL;
    }
    if (md_pipeline_start(d->pipe, d->loop, on_frame, d) != 0)
        return -EINVAL;
    struct md_point_sink ps = md_daemon_point_sink(d);
    struct md_collect_opts co = {.containers = md_ctrsvc_containers(d->ctr)};
    d->collect = md_collect_new_opts(d->loop, d->cfg.confd_path, d->cfg.procfs_path,
                                     d->cfg.sysfs_path, &ps, &co, err, errlen);
    if (!d->collect || md_collect_start(d->collect) != 0)
        return -EINVAL;
    if (d->cfg.status_port > 0) {
        d->status = md_status_new(d, err, errlen);
        if (!d->status)
            return -EINVAL;
    }
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
    d->started = wall_now();
    d->ready = true;
    md_info("meterd %s running as host '%s' (from %s), window %d s", METERD_VERSION, d->hostname,
            d->hostname_source, d->cfg.flush_interval);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: meterd run [-c FILE] [--set key=value ...]\n");
}

/* -c FILE and --set key=value, shared by the commands that load the config. */
int md_cli_parse(int argc, char **argv, struct md_cli *cli)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    memset(cli, 0, sizeof *cli);
    optind = 1;
    while ((ch = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        if (ch == 'c') {
            cli->file = optarg;
        } else if (ch == 's' && cli->nsets < MD_CLI_MAX_SETS) {
            cli->sets[cli->nsets++] = optarg;
        } else {
            usage();
            return 2;
        }
    }
    if (!cli->file)
        cli->file = md_config_default_file();
    return 0;
}

int md_cli_load(const struct md_cli *cli, struct md_config *cfg, char *err, size_t errlen)
{
    return md_config_load(cfg, cli->file, (char *const *)cli->sets, cli->nsets, err, errlen);
}

int md_cmd_load_config(int argc, char **argv, struct md_config *cfg, int *first_arg)
{
    struct md_cli cli;
    int rc = md_cli_parse(argc, argv, &cli);
    if (first_arg)
        *first_arg = optind;
    if (rc)
        return rc;
    char err[1024];
    if (md_cli_load(&cli, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "meterd: config error: %s\n", err);
        md_config_free(cfg);
        return 1;
    }
    return 0;
}

int md_cmd_run(int argc, char **argv)
{
    struct md_daemon d = {0};
    int rc = md_cli_parse(argc, argv, &d.cli);
    if (rc)
        return rc;
    char err0[1024];
    if (md_cli_load(&d.cli, &d.cfg, err0, sizeof err0) != 0) {
        fprintf(stderr, "meterd: config error: %s\n", err0);
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
    char err[1024] = "";
    if (daemon_start(&d, err, sizeof err) != 0) {
        md_error("cannot start: %s", err);
        fprintf(stderr, "meterd: %s\n", err);
        return 1;
    }
    uv_run(d.loop, UV_RUN_DEFAULT);
    md_info("stopped");
    return md_daemon_teardown(&d);
}

int md_daemon_teardown(struct md_daemon *d)
{
    if (d->fwd)
        md_forwarder_free(d->fwd);
    if (d->pipe) {
        md_pipeline_stop(d->pipe); /* no-op after a clean stop; joins threads after a failed start */
        md_pipeline_free(d->pipe);
    }
    sinks_destroy(d);
    md_ctrsvc_free(d->ctr); /* after the loop: no collector run can still use the table */
    if (d->status)
        md_status_free(d->status);
    md_probe_free(d->probe); /* after a failed start */
    md_config_free(&d->cfg);
    uv_loop_close(d->loop);
    return 0;
}
