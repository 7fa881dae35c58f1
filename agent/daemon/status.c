/*
 * status.c: what the status endpoints say (see status.h). The HTTP part is
 * agent/http/httpd.c; this file only renders state. It never prints the API key
 * or the payload headers.
 */
#include "status.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aggregator.h"
#include "collect.h"
#include "daemon.h"
#include "flush.h"
#include "forwarder.h"
#include "httpd.h"
#include "ledger.h"
#include "pipeline.h"
#include "wallclock.h"

struct md_status {
    struct md_daemon *d;
    struct md_httpd *httpd;
};

static void status_json(struct md_daemon *d, struct md_buf *b)
{
    struct md_ledger led;
    md_ledger_take(d, &led);
    const struct md_pipeline_stats ps = led.ps;
    const struct md_statsd_stats *s = &ps.statsd;
    const struct md_agg_stats *a = &ps.agg;
    struct md_flush_stats fs;
    md_flusher_stats(d->flush, &fs);
    md_buf_printf(b, "{\"version\":\"%s\",\"state\":\"%s\",\"hostname\":", METERD_VERSION,
                  md_daemon_state_name(d->state));
    md_json_cstr(b, d->hostname);
    md_buf_puts(b, ",\"hostname_source\":");
    md_json_cstr(b, d->hostname_source ? d->hostname_source : "");
    md_buf_printf(b, ",\"pid\":%d,\"uptime_s\":%.1f,\"flush_interval\":%d,", (int)getpid(),
                  md_wall_now() - d->started, d->cfg.flush_interval);
    md_buf_printf(b, "\"dogstatsd\":{\"packets\":%llu,\"bytes\":%llu,\"metrics\":%llu,"
                     "\"events\":%llu,\"service_checks\":%llu,\"blocked\":%llu,"
                     "\"kernel_drops\":%lld,\"ring_full_drops\":%llu,\"ring_waits\":%llu,"
                     "\"fast_path_misses\":%llu,\"fast_key_mismatches\":%llu,"
                     "\"intake_threads\":%u,\"parse_errors\":{",
                  (unsigned long long)s->packets, (unsigned long long)s->bytes,
                  (unsigned long long)s->metrics, (unsigned long long)s->events,
                  (unsigned long long)s->service_checks, (unsigned long long)s->blocked,
                  (long long)ps.kernel_drops, (unsigned long long)ps.ring_full_drops,
                  (unsigned long long)ps.ring_waits, (unsigned long long)ps.fast_misses,
                  (unsigned long long)ps.fast_mismatches, ps.threads);
    bool first = true;
    for (int i = 1; i < MD_PERR_COUNT; i++) {
        if (!s->errors[i])
            continue;
        md_buf_printf(b, "%s\"%s\":%llu", first ? "" : ",", md_parse_error_name(i),
                      (unsigned long long)s->errors[i]);
        first = false;
    }
    uint64_t o[4];
    md_pipeline_origin_stats(d->pipe, o);
    md_buf_printf(b, "},\"origin\":{\"tagged\":%llu,\"no_container\":%llu,\"too_long\":%llu,"
                     "\"lookups\":%llu", (unsigned long long)o[0], (unsigned long long)o[1],
                  (unsigned long long)o[2], (unsigned long long)o[3]);
    md_buf_puts(b, "},\"threads\":[");
    struct md_statsd_stats ts;
    uint64_t full;
    for (unsigned i = 0; md_pipeline_thread_stats(d->pipe, i, &ts, &full); i++) {
        uint64_t errs = 0;
        for (int k = 0; k < MD_PERR_COUNT; k++)
            errs += ts.errors[k];
        md_buf_printf(b, "%s{\"packets\":%llu,\"bytes\":%llu,\"metrics\":%llu,"
                         "\"parse_errors\":%llu,\"ring_full_drops\":%llu}",
                      i ? "," : "", (unsigned long long)ts.packets, (unsigned long long)ts.bytes,
                      (unsigned long long)ts.metrics, (unsigned long long)errs,
                      (unsigned long long)full);
    }
    md_buf_printf(b, "]},\"aggregator\":{\"contexts\":%llu,\"contexts_created\":%llu,"
                     "\"contexts_expired\":%llu,\"context_limit_drops\":%llu,"
                     "\"contexts_collector\":%llu,\"collector_context_limit_drops\":%llu,"
                     "\"nonfinite_drops\":%llu,\"frames\":%llu,\"series_flushed\":%llu,"
                     "\"last_flush\":%.0f,\"loop_points_dropped\":{\"ring_full\":%llu,"
                     "\"too_long\":%llu}},",
                  (unsigned long long)a->contexts_live, (unsigned long long)a->contexts_created,
                  (unsigned long long)a->contexts_expired,
                  (unsigned long long)a->context_limit_drops,
                  (unsigned long long)a->contexts_collector,
                  (unsigned long long)a->collector_limit_drops,
                  (unsigned long long)a->nonfinite_drops, (unsigned long long)fs.frames,
                  (unsigned long long)fs.series, fs.last_flush,
                  (unsigned long long)ps.point_ring_full, (unsigned long long)ps.point_too_long);
    md_ledger_json(&led, b);
    md_buf_putc(b, ',');
    md_buf_puts(b, "\"sinks\":[");
    const char *name;
    for (size_t i = 0; (name = md_flusher_sink_name(d->flush, i)); i++)
        md_buf_printf(b, "%s\"%s\"", i ? "," : "", name);
    md_buf_puts(b, "],\"forwarder\":");
    if (d->fwd)
        md_forwarder_status_json(d->fwd, b);
    else
        md_buf_puts(b, "null");
    md_buf_puts(b, ",\"collectors\":");
    if (d->collect)
        md_collect_status_json(d->collect, b);
    else
        md_buf_puts(b, "[]");
    md_buf_printf(b, ",\"reloads\":%llu,\"reload_errors\":%llu}\n",
                  (unsigned long long)d->reloads, (unsigned long long)d->reload_errors);
}

static void counter(struct md_buf *b, const char *name, const char *help, uint64_t v)
{
    md_buf_printf(b, "# TYPE %s counter\n# HELP %s %s\n%s_total %llu\n", name, name, help, name,
                  (unsigned long long)v);
}

static void metrics_text(struct md_daemon *d, struct md_buf *b)
{
    struct md_ledger led;
    md_ledger_take(d, &led);
    const struct md_pipeline_stats ps = led.ps;
    const struct md_statsd_stats *s = &ps.statsd;
    const struct md_agg_stats *a = &ps.agg;
    counter(b, "meterd_dogstatsd_packets", "Datagrams received.", s->packets);
    counter(b, "meterd_dogstatsd_bytes", "Bytes received.", s->bytes);
    counter(b, "meterd_dogstatsd_metrics", "Metric values accepted.", s->metrics);
    counter(b, "meterd_dogstatsd_events", "Events accepted.", s->events);
    counter(b, "meterd_dogstatsd_service_checks", "Service checks accepted.", s->service_checks);
    counter(b, "meterd_dogstatsd_kernel_drops", "Datagrams dropped by the kernel (socket full).",
            ps.kernel_drops > 0 ? (uint64_t)ps.kernel_drops : 0);
    counter(b, "meterd_dogstatsd_ring_full_drops", "Samples dropped on a full intake ring.",
            ps.ring_full_drops);
    counter(b, "meterd_dogstatsd_fast_path_misses",
            "Samples whose intake key named no context and were parsed again.", ps.fast_misses);
    counter(b, "meterd_dogstatsd_fast_key_mismatches",
            "Fast-path misses that found an existing context: the two keys disagreed.",
            ps.fast_mismatches);
    md_buf_puts(b, "# TYPE meterd_dogstatsd_parse_errors counter\n"
                   "# HELP meterd_dogstatsd_parse_errors Messages rejected, by reason.\n");
    for (int i = 1; i < MD_PERR_COUNT; i++)
        md_buf_printf(b, "meterd_dogstatsd_parse_errors_total{reason=\"%s\"} %llu\n",
                      md_parse_error_name(i), (unsigned long long)s->errors[i]);
    uint64_t o[4];
    md_pipeline_origin_stats(d->pipe, o);
    counter(b, "meterd_dogstatsd_origin_tagged", "Lines given their sender container's tags.", o[0]);
    counter(b, "meterd_dogstatsd_origin_no_container",
            "Lines from a sender in no known container (sent without container tags).", o[1]);
    counter(b, "meterd_dogstatsd_origin_too_long",
            "Lines too long to add container tags to (sent without them).", o[2]);
    md_buf_printf(b, "# TYPE meterd_aggregator_contexts gauge\nmeterd_aggregator_contexts %llu\n",
                  (unsigned long long)a->contexts_live);
    counter(b, "meterd_aggregator_context_limit_drops", "Samples dropped by dogstatsd_context_limit.",
            a->context_limit_drops);
    counter(b, "meterd_aggregator_collector_context_limit_drops",
            "Samples of the agent's own series dropped by collector_context_limit.",
            a->collector_limit_drops);
    counter(b, "meterd_aggregator_nonfinite_drops", "NaN/Inf values refused.", a->nonfinite_drops);
    struct md_flush_stats fs;
    md_flusher_stats(d->flush, &fs);
    counter(b, "meterd_flush_series", "Series points flushed.", fs.series);
    if (d->fwd)
        md_forwarder_metrics(d->fwd, b);
    md_ledger_metrics(&led, b);
    if (d->status && d->status->httpd)
        counter(b, "meterd_status_idle_evictions",
                "Status connections closed unanswered to make room for new ones.",
                md_httpd_evicted(d->status->httpd));
    md_flusher_metrics(d->flush, b); /* the last window's series, when exposed */
    md_buf_puts(b, "# EOF\n");
}

static void handle(void *ud, const struct md_httpd_req *req, struct md_httpd_resp *resp)
{
    struct md_status *st = ud;
    const char *p = req->path;
    if (!strcmp(p, "/health") || !strcmp(p, "/live") || !strcmp(p, "/ready")) {
        bool up = st->d->state == MD_DAEMON_RUNNING || st->d->state == MD_DAEMON_RELOADING;
        md_buf_puts(&resp->body, up ? "ok\n" : st->d->state == MD_DAEMON_STARTING ? "starting\n"
                                                                                : "stopping\n");
        resp->status = up ? 200 : 503;
    } else if (!strcmp(p, "/status")) {
        resp->content_type = "application/json";
        status_json(st->d, &resp->body);
    } else if (!strcmp(p, "/metrics")) {
        resp->content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        metrics_text(st->d, &resp->body);
    } else {
        resp->status = 404;
        md_buf_puts(&resp->body, "not found: try /health, /status, /metrics\n");
    }
}

struct md_status *md_status_new(struct md_daemon *d, char *err, size_t errlen)
{
    struct md_status *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->d = d;
    s->httpd = md_httpd_new(d->loop, d->cfg.status_host, d->cfg.status_port, handle, s, err, errlen);
    if (!s->httpd) {
        free(s);
        return NULL;
    }
    return s;
}

void md_status_close(struct md_status *s)
{
    if (s->httpd)
        md_httpd_free(s->httpd);
    s->httpd = NULL;
}

void md_status_free(struct md_status *s)
{
    if (s)
        md_status_close(s);
    free(s);
}
