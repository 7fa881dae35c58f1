/*
 * ledger.h: the delivery ledger, both halves, as /status, /metrics and
 * meterd.* telemetry show it.
 *
 * The intake half counts DogStatsD samples (pipeline.h, md_intake_ledger);
 * the forwarder half counts items (series points, sketches, checks,
 * events as each HTTP sink encoded them) from the moment a sink hands them
 * to the forwarder (forwarder.h, md_fwd_ledger). The two units differ on
 * purpose: aggregation folds many samples into one series point a window,
 * so no sum runs from one half into the other; the series points the
 * aggregator flushed are shown between them.
 */
#ifndef METERD_LEDGER_H
#define METERD_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "pipeline.h"

struct md_daemon;

/*
 * The forwarder half:
 *   handed + recovered = shipped + queued + inflight + on_disk
 *                        + rejected + too_big + queue_full + shutdown + invalid
 *                        + evicted + corrupt
 */
struct md_fwd_half {
    bool present; /* no HTTP sink: no forwarder */
    uint64_t series_flushed; /* by the aggregator, once per window part (not per sink) */
    uint64_t handed, recovered, shipped, queued, inflight, on_disk;
    uint64_t rejected, too_big, queue_full, shutdown, invalid, unconfigured, evicted, corrupt;
    bool balanced;
};

struct md_ledger {
    struct md_pipeline_stats ps; /* ps.ledger: the intake half */
    struct md_fwd_half fwd;
};

void md_ledger_take(struct md_daemon *d, struct md_ledger *l);
/* "ledger":{"intake":{...},"forwarder":{...}} (the key included). */
void md_ledger_json(const struct md_ledger *l, struct md_buf *b);
/* meterd_ledger_* OpenMetrics counters and gauges. */
void md_ledger_metrics(const struct md_ledger *l, struct md_buf *b);
/* meterd.ledger.* counts of what changed since the last call, into the pipeline. */
void md_ledger_telemetry(struct md_daemon *d, double now);

#endif
