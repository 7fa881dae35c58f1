/*
 * series_pb.h: one frame series as a MetricPayload.series item, the body
 * of POST /api/v2/series.
 *
 * Field numbers and types follow DataDog/agent-payload
 * proto/metrics/agent_payload.proto (package datadog.agentpayload):
 *   MetricPayload { repeated MetricSeries series = 1; }
 *   MetricSeries { repeated Resource resources = 1; string metric = 2;
 *                  repeated string tags = 3; repeated MetricPoint points = 4;
 *                  MetricType type = 5; string unit = 6;
 *                  string source_type_name = 7; int64 interval = 8;
 *                  Metadata metadata = 9; }
 *   Resource { string type = 1; string name = 2; }
 *   MetricPoint { double value = 1; int64 timestamp = 2; }   (seconds)
 *   MetricType { UNSPECIFIED = 0; COUNT = 1; RATE = 2; GAUGE = 3; }
 *   Metadata { Origin origin = 1; }
 *   Origin { uint32 origin_product = 4; uint32 origin_category = 5;
 *            uint32 origin_service = 6; }
 * A MetricPayload has no other field, so a payload is these items one
 * after the other: the sink streams them into the compressor with no
 * header or footer, and a payload can be cut anywhere between two items.
 */
#ifndef METERD_SERIES_PB_H
#define METERD_SERIES_PB_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "meterd/frame.h"

enum { MD_SERIES_PB_PAYLOAD_SERIES = 1 };
enum { MD_SERIES_PB_COUNT = 1, MD_SERIES_PB_RATE = 2, MD_SERIES_PB_GAUGE = 3 };

/* Origin numbers the Datadog agent sets (product: the agent; categories). */
enum { MD_SERIES_PB_PRODUCT_AGENT = 10, MD_SERIES_PB_CAT_DOGSTATSD = 10,
       MD_SERIES_PB_CAT_INTEGRATION = 11 };

struct md_series_pb_origin {
    unsigned product, category, service;
};

/* The metadata.origin of a series named `name` (series_pb.c says how it is told). */
void md_series_pb_origin(const char *name, struct md_series_pb_origin *o);

struct md_series_pb {
    struct md_buf msg, tmp; /* scratch, kept between items to save allocations */
};

void md_series_pb_init(struct md_series_pb *e);
void md_series_pb_free(struct md_series_pb *e);

/*
 * Append field 1 (one MetricSeries) of a MetricPayload for s to out, as
 * the Datadog agent writes it: a "host" resource (always, even empty), a
 * device:<x> tag moved to a "device" resource (the last one wins, as in the
 * JSON payload), the other tags in order, one point, the type, the
 * interval (s->interval, else interval) and metadata.origin. Strings are valid UTF-8 (invalid
 * bytes become U+FFFD). Returns the bytes replaced; out->oom on failure.
 */
size_t md_series_pb_item(struct md_series_pb *e, struct md_buf *out, const struct md_series *s,
                         uint32_t interval);

#endif
