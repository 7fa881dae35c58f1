/*
 * ledger.c: the delivery ledger as people read it (see ledger.h). The
 * numbers come from the pipeline and the forwarder; this file only puts
 * the two halves side by side, names every term once, and renders them for
 * /status (JSON), /metrics (OpenMetrics, meterd_ledger_*) and the agent's
 * own series (meterd.ledger.*). Every reason is always listed, zero or not,
 * so a reader can check the sum without knowing which reasons exist.
 */
#include "ledger.h"

#include <inttypes.h>
#include <string.h>

#include "daemon.h"
#include "flush.h"
#include "forwarder.h"

/* The intake's sample drops after parsing, in the order they are shown. */
struct term {
    const char *name;
    uint64_t v;
};

static size_t intake_drops(const struct md_intake_ledger *l, struct term *t)
{
    const struct term all[] = {
        {"blocked", l->blocked},          {"too_many_tags", l->too_many_tags},
        {"nonfinite", l->nonfinite},      {"context_limit", l->context_limit},
        {"timestamp_type", l->timestamp_type}, {"no_memory", l->no_memory},
        {"ring_full", l->ring_full},      {"reparse", l->reparse},
    };
    memcpy(t, all, sizeof all);
    return sizeof all / sizeof all[0];
}

static size_t fwd_drops(const struct md_fwd_half *f, struct term *t)
{
    const struct term all[] = {
        {"rejected", f->rejected},     {"too_big", f->too_big}, {"queue_full", f->queue_full},
        {"shutdown", f->shutdown},     {"invalid", f->invalid}, {"unconfigured", f->unconfigured},
        {"evicted", f->evicted},       {"corrupt", f->corrupt},
    };
    memcpy(t, all, sizeof all);
    return sizeof all / sizeof all[0];
}

void md_ledger_take(struct md_daemon *d, struct md_ledger *l)
{
    memset(l, 0, sizeof *l);
    md_pipeline_stats(d->pipe, &l->ps);
    struct md_flush_stats fs;
    md_flusher_stats(d->flush, &fs);
    struct md_fwd_half *f = &l->fwd;
    f->series_flushed = fs.series;
    if (!d->fwd)
        return;
    struct md_fwd_ledger fl;
    struct md_fwd_stats st;
    md_forwarder_ledger(d->fwd, &fl);
    md_forwarder_stats(d->fwd, NULL, &st);
    f->present = true;
    f->handed = fl.in_;
    f->recovered = fl.recovered;
    f->shipped = fl.sent;
    f->queued = fl.queued;
    f->inflight = fl.inflight;
    f->on_disk = fl.on_disk;
    f->rejected = st.items_rejected;
    f->too_big = st.items_too_big;
    f->queue_full = st.items_queue_full;
    f->shutdown = st.items_shutdown;
    f->invalid = st.items_invalid;
    f->unconfigured = st.items_unconfigured;
    f->evicted = fl.evicted;
    f->corrupt = fl.corrupt;
    uint64_t dropped =
        f->rejected + f->too_big + f->queue_full + f->shutdown + f->invalid + f->unconfigured;
    uint64_t out =
        f->shipped + f->queued + f->inflight + f->on_disk + f->evicted + f->corrupt + dropped;
    /* by reason must add up to the forwarder's own total, and the total balance */
    f->balanced = fl.balanced && f->handed + f->recovered == out && fl.dropped == dropped;
}

void md_ledger_json(const struct md_ledger *l, struct md_buf *b)
{
    const struct md_intake_ledger *in = &l->ps.ledger;
    struct term t[16];
    md_buf_printf(b, "\"ledger\":{\"intake\":{\"unit\":\"samples\",\"received\":%" PRIu64
                     ",\"aggregated\":%" PRIu64 ",\"in_transit\":%" PRIu64 ",\"rejected\":{",
                  in->received, in->aggregated, in->in_transit);
    for (int i = 1; i < MD_PERR_COUNT; i++)
        md_buf_printf(b, "%s\"%s\":%" PRIu64, i > 1 ? "," : "", md_parse_error_name(i),
                      in->rejected[i]);
    md_buf_puts(b, "},\"dropped\":{");
    size_t n = intake_drops(in, t);
    for (size_t i = 0; i < n; i++)
        md_buf_printf(b, "%s\"%s\":%" PRIu64, i ? "," : "", t[i].name, t[i].v);
    md_buf_printf(b, "},\"balanced\":%s,\"datagrams\":{\"received\":%" PRIu64
                     ",\"kernel_drops\":%" PRId64 "}},\"forwarder\":",
                  in->balanced ? "true" : "false", l->ps.statsd.packets, l->ps.kernel_drops);
    const struct md_fwd_half *f = &l->fwd;
    if (!f->present) {
        md_buf_printf(b, "{\"unit\":\"items\",\"series_flushed\":%" PRIu64 "}}",
                      f->series_flushed);
        return;
    }
    md_buf_printf(b, "{\"unit\":\"items\",\"series_flushed\":%" PRIu64 ",\"handed\":%" PRIu64
                     ",\"recovered\":%" PRIu64 ",\"shipped\":%" PRIu64 ",\"queued\":%" PRIu64
                     ",\"inflight\":%" PRIu64 ",\"on_disk\":%" PRIu64 ",\"dropped\":{",
                  f->series_flushed, f->handed, f->recovered, f->shipped, f->queued, f->inflight,
                  f->on_disk);
    n = fwd_drops(f, t);
    for (size_t i = 0; i < n; i++)
        md_buf_printf(b, "%s\"%s\":%" PRIu64, i ? "," : "", t[i].name, t[i].v);
    md_buf_printf(b, "},\"balanced\":%s}}", f->balanced ? "true" : "false");
}

static void om_head(struct md_buf *b, const char *name, const char *type, const char *help)
{
    md_buf_printf(b, "# TYPE %s %s\n# HELP %s %s\n", name, type, name, help);
}

void md_ledger_metrics(const struct md_ledger *l, struct md_buf *b)
{
    const struct md_intake_ledger *in = &l->ps.ledger;
    struct term t[16];
    om_head(b, "meterd_ledger_received", "counter",
            "DogStatsD samples received (a rejected line counts one).");
    md_buf_printf(b, "meterd_ledger_received_total %" PRIu64 "\n", in->received);
    om_head(b, "meterd_ledger_aggregated", "counter", "Samples folded into a window.");
    md_buf_printf(b, "meterd_ledger_aggregated_total %" PRIu64 "\n", in->aggregated);
    om_head(b, "meterd_ledger_rejected", "counter", "Lines rejected before they became samples.");
    for (int i = 1; i < MD_PERR_COUNT; i++)
        md_buf_printf(b, "meterd_ledger_rejected_total{reason=\"%s\"} %" PRIu64 "\n",
                      md_parse_error_name(i), in->rejected[i]);
    om_head(b, "meterd_ledger_dropped", "counter", "Samples dropped after parsing, by reason.");
    size_t n = intake_drops(in, t);
    for (size_t i = 0; i < n; i++)
        md_buf_printf(b, "meterd_ledger_dropped_total{reason=\"%s\"} %" PRIu64 "\n", t[i].name,
                      t[i].v);
    om_head(b, "meterd_ledger_in_transit", "gauge", "Samples in the intake rings.");
    md_buf_printf(b, "meterd_ledger_in_transit %" PRIu64 "\n", in->in_transit);
    om_head(b, "meterd_ledger_balanced", "gauge", "1 when each half of the ledger adds up.");
    md_buf_printf(b, "meterd_ledger_balanced{half=\"intake\"} %d\n", in->balanced);
    const struct md_fwd_half *f = &l->fwd;
    if (!f->present)
        return;
    md_buf_printf(b, "meterd_ledger_balanced{half=\"forwarder\"} %d\n", f->balanced);
    om_head(b, "meterd_ledger_items_handed", "counter", "Items the sinks handed to the forwarder.");
    md_buf_printf(b, "meterd_ledger_items_handed_total %" PRIu64 "\n", f->handed);
    om_head(b, "meterd_ledger_items_recovered", "counter", "Items found in the spool at start.");
    md_buf_printf(b, "meterd_ledger_items_recovered_total %" PRIu64 "\n", f->recovered);
    om_head(b, "meterd_ledger_items_shipped", "counter", "Items a backend accepted.");
    md_buf_printf(b, "meterd_ledger_items_shipped_total %" PRIu64 "\n", f->shipped);
    om_head(b, "meterd_ledger_items_dropped", "counter", "Items given up on, by reason.");
    n = fwd_drops(f, t);
    for (size_t i = 0; i < n; i++)
        md_buf_printf(b, "meterd_ledger_items_dropped_total{reason=\"%s\"} %" PRIu64 "\n",
                      t[i].name, t[i].v);
    om_head(b, "meterd_ledger_items_pending", "gauge", "Items not delivered yet, by where.");
    md_buf_printf(b, "meterd_ledger_items_pending{where=\"queued\"} %" PRIu64 "\n"
                     "meterd_ledger_items_pending{where=\"inflight\"} %" PRIu64 "\n"
                     "meterd_ledger_items_pending{where=\"on_disk\"} %" PRIu64 "\n",
                  f->queued, f->inflight, f->on_disk);
}

/* One meterd.ledger.* count: the change since the last window, with a reason tag. */
static void tel_count(struct md_daemon *d, unsigned *slot, const char *name, const char *reason,
                      uint64_t v, double now)
{
    unsigned i = (*slot)++;
    if (i >= MD_LEDGER_TEL_MAX)
        return;
    uint64_t delta = v - d->ledger_prev[i];
    d->ledger_prev[i] = v;
    if (reason && v == 0)
        return; /* a reason that never happened makes no series */
    char tag[96];
    struct md_str tags[1];
    struct md_point p = {.name = {name, (uint32_t)strlen(name)}, .type = MD_MONOTONIC_COUNT,
                         .value = (double)delta, .sample_rate = 1};
    if (reason) {
        int n = snprintf(tag, sizeof tag, "reason:%s", reason);
        tags[0] = (struct md_str){tag, (uint32_t)n};
        p.tags = tags;
        p.ntags = 1;
    }
    md_pipeline_point(d->pipe, &p, now);
}

void md_ledger_telemetry(struct md_daemon *d, double now)
{
    struct md_ledger l;
    md_ledger_take(d, &l);
    const struct md_intake_ledger *in = &l.ps.ledger;
    struct term t[16];
    unsigned slot = 0;
    tel_count(d, &slot, "meterd.ledger.received", NULL, in->received, now);
    tel_count(d, &slot, "meterd.ledger.aggregated", NULL, in->aggregated, now);
    for (int i = 1; i < MD_PERR_COUNT; i++)
        tel_count(d, &slot, "meterd.ledger.rejected", md_parse_error_name(i), in->rejected[i], now);
    size_t n = intake_drops(in, t);
    for (size_t i = 0; i < n; i++)
        tel_count(d, &slot, "meterd.ledger.dropped", t[i].name, t[i].v, now);
    if (!l.fwd.present)
        return;
    tel_count(d, &slot, "meterd.ledger.items.handed", NULL, l.fwd.handed, now);
    tel_count(d, &slot, "meterd.ledger.items.shipped", NULL, l.fwd.shipped, now);
    n = fwd_drops(&l.fwd, t);
    for (size_t i = 0; i < n; i++)
        tel_count(d, &slot, "meterd.ledger.items.dropped", t[i].name, t[i].v, now);
}
