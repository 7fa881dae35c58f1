/*
 * series_pb.c: MetricPayload series items (see series_pb.h for the schema).
 *
 * Hand-encoded like sketch_pb.c, so meterd needs no protobuf runtime: a
 * series is written into a scratch buffer and then wrapped with its tag
 * and length, the only nesting whose size is not known up front (resources
 * and points are small and sized as they are written). The field order is
 * the Datadog agent's; a parser takes fields in any order.
 *
 * metadata.origin says where a series comes from, with the numbers the
 * agent sets (its metricSourceTo* tables): product 10 (the agent); category
 * 10 and service 0 for DogStatsD, category 11 (integration metrics) and the
 * check's service for check metrics. A frame series does not carry its
 * source, so the check is told by the metric name of meterd's collectors,
 * which are named after the agent's core checks (system.cpu.* is the cpu
 * check, ...); every other name is a DogStatsD metric.
 */
#include "series_pb.h"

#include <string.h>

#include "pb_wire.h"

enum { SER_RESOURCES = 1, SER_METRIC = 2, SER_TAGS = 3, SER_POINTS = 4, SER_TYPE = 5,
       SER_INTERVAL = 8, SER_METADATA = 9 };
enum { META_ORIGIN = 1 };
enum { ORIGIN_PRODUCT = 4, ORIGIN_CATEGORY = 5, ORIGIN_SERVICE = 6 };
enum { RES_TYPE = 1, RES_NAME = 2 };
enum { PT_VALUE = 1, PT_TIMESTAMP = 2 };

void md_series_pb_init(struct md_series_pb *e)
{
    md_buf_init(&e->msg);
    md_buf_init(&e->tmp);
}

void md_series_pb_free(struct md_series_pb *e)
{
    md_buf_free(&e->msg);
    md_buf_free(&e->tmp);
}

static unsigned series_pb_type(enum md_series_type t)
{
    switch (t) {
    case MD_SERIES_COUNT:
        return MD_SERIES_PB_COUNT;
    case MD_SERIES_RATE:
        return MD_SERIES_PB_RATE;
    default:
        return MD_SERIES_PB_GAUGE;
    }
}

/* Resource { type, name } as field 1 of the series. */
static size_t series_pb_resource(struct md_series_pb *e, const char *type, const char *name)
{
    md_buf_reset(&e->tmp);
    size_t bad = md_pb_utf8(&e->tmp, name), tl = strlen(type), nl = e->tmp.len;
    md_pb_tag(&e->msg, SER_RESOURCES, MD_PB_LEN);
    md_pb_varint(&e->msg, 1 + md_pb_varint_len(tl) + tl + 1 + md_pb_varint_len(nl) + nl);
    md_pb_bytes(&e->msg, RES_TYPE, type, tl);
    md_pb_bytes(&e->msg, RES_NAME, e->tmp.p ? e->tmp.p : "", nl);
    return bad;
}

/* A collector's metric prefix and the OriginService of the agent's check of the same name. */
static const struct {
    const char *prefix;
    unsigned service;
} series_pb_checks[] = {
    {"system.cpu.", 202},         {"system.load.", 203},   {"system.mem.", 196},
    {"system.swap.", 196},        {"system.io.", 193},     {"system.disk.", 48},
    {"system.fs.inodes.", 48},    {"system.fs.file_handles.", 191},
    {"system.net.", 114},         {"system.uptime", 194},  {"system.processes.", 0},
    {"container.", 180},          {"docker.", 183},        {"datadog.agent.", 212},
    {"meterd.", 212},
};

void md_series_pb_origin(const char *name, struct md_series_pb_origin *o)
{
    *o = (struct md_series_pb_origin){MD_SERIES_PB_PRODUCT_AGENT, MD_SERIES_PB_CAT_DOGSTATSD, 0};
    for (size_t i = 0; name && i < sizeof series_pb_checks / sizeof series_pb_checks[0]; i++) {
        const char *p = series_pb_checks[i].prefix;
        if (strncmp(name, p, strlen(p)) == 0) {
            o->category = MD_SERIES_PB_CAT_INTEGRATION;
            o->service = series_pb_checks[i].service;
            return;
        }
    }
}

/* Metadata { Origin origin = 1 { product 4, category 5, service 6 } } as field 9. */
static void series_pb_metadata(struct md_buf *b, const char *name)
{
    struct md_series_pb_origin o;
    md_series_pb_origin(name, &o);
    size_t olen = 3 + md_pb_varint_len(o.product) + md_pb_varint_len(o.category) +
                  md_pb_varint_len(o.service);
    md_pb_tag(b, SER_METADATA, MD_PB_LEN);
    md_pb_varint(b, 1 + md_pb_varint_len(olen) + olen);
    md_pb_tag(b, META_ORIGIN, MD_PB_LEN);
    md_pb_varint(b, olen);
    md_pb_tag(b, ORIGIN_PRODUCT, MD_PB_VARINT);
    md_pb_varint(b, o.product);
    md_pb_tag(b, ORIGIN_CATEGORY, MD_PB_VARINT);
    md_pb_varint(b, o.category);
    md_pb_tag(b, ORIGIN_SERVICE, MD_PB_VARINT);
    md_pb_varint(b, o.service);
}

static void series_pb_point(struct md_buf *b, double value, int64_t ts)
{
    md_pb_tag(b, SER_POINTS, MD_PB_LEN);
    md_pb_varint(b, 9 + 1 + md_pb_varint_len((uint64_t)ts));
    md_pb_double(b, PT_VALUE, value);
    md_pb_int64(b, PT_TIMESTAMP, ts);
}

size_t md_series_pb_item(struct md_series_pb *e, struct md_buf *out, const struct md_series *s,
                         uint32_t interval)
{
    const struct md_series_key *k = s->key;
    const char *device = NULL;
    for (uint32_t i = 0; k && i < k->ntags; i++)
        if (strncmp(k->tags[i], "device:", 7) == 0)
            device = k->tags[i] + 7;
    md_buf_reset(&e->msg);
    size_t bad = series_pb_resource(e, "host", k && k->host ? k->host : "");
    if (device)
        bad += series_pb_resource(e, "device", device);
    bad += md_pb_string(&e->msg, &e->tmp, SER_METRIC, s->name, s->suffix);
    for (uint32_t i = 0; k && i < k->ntags; i++)
        if (strncmp(k->tags[i], "device:", 7) != 0)
            bad += md_pb_string(&e->msg, &e->tmp, SER_TAGS, k->tags[i], NULL);
    series_pb_point(&e->msg, s->value, s->timestamp);
    md_pb_tag(&e->msg, SER_TYPE, MD_PB_VARINT);
    md_pb_varint(&e->msg, series_pb_type(s->type));
    md_pb_int64(&e->msg, SER_INTERVAL, s->interval ? s->interval : interval);
    series_pb_metadata(&e->msg, s->name);
    md_pb_bytes(out, MD_SERIES_PB_PAYLOAD_SERIES, e->msg.p ? e->msg.p : "", e->msg.len);
    out->oom = out->oom || e->msg.oom || e->tmp.oom;
    return bad;
}
