/*
 * sink_pb_read.h: what the Datadog v2 series tests share to read payloads
 * back: a MetricPayload decoder on top of pb_read.h, written here against
 * the agent-payload field numbers (MetricPayload: series 1; MetricSeries:
 * resources 1, metric 2, tags 3, points 4, type 5, interval 8; Resource:
 * type 1, name 2; MetricPoint: value 1, timestamp 2; metadata 9 { origin
 * 1 { product 4, category 5, service 6 } }), plus the Datadog
 * sink opened on a test configuration. Static functions in a header, as
 * fwd_srv.h: each test binary takes what it uses.
 */
#ifndef METERD_TEST_SINK_PB_READ_H
#define METERD_TEST_SINK_PB_READ_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "compress.h"
#include "datadog.h"
#include "meterd/frame.h"
#include "meterd/sink.h"
#include "pb_read.h"
#include "sink_payload.h"

#define MAXT 8
struct series {
    char host[64], device[64], metric[300];
    char tags[MAXT][64];
    int ntags, nres, npoints;
    double value;
    int64_t ts, interval;
    unsigned type;
    unsigned product, category, service; /* metadata.origin; nmeta: how many metadata fields */
    int nmeta;
};

static void dec_resource(struct rd r, struct series *s)
{
    char type[32] = "", name[64] = "";
    while (r.p < r.end && !r.err) {
        uint64_t tag = rd_varint(&r);
        assert_int_equal(tag & 7, 2);
        if (tag >> 3 == 1)
            rd_str(&r, type, sizeof type);
        else if (tag >> 3 == 2)
            rd_str(&r, name, sizeof name);
        else
            fail_msg("Resource field %u", (unsigned)(tag >> 3));
    }
    s->nres++;
    if (strcmp(type, "host") == 0)
        strcpy(s->host, name);
    else if (strcmp(type, "device") == 0)
        strcpy(s->device, name);
    else
        fail_msg("resource type %s", type);
}

static void dec_point(struct rd r, struct series *s)
{
    s->npoints++;
    while (r.p < r.end && !r.err) {
        uint64_t tag = rd_varint(&r);
        if (tag == (1 << 3 | 1))
            s->value = rd_double(&r);
        else if (tag == (2 << 3 | 0))
            s->ts = (int64_t)rd_varint(&r);
        else
            fail_msg("MetricPoint tag %u", (unsigned)tag);
    }
}

/* Metadata { Origin origin = 1 { origin_product 4, origin_category 5, origin_service 6 } } */
static void dec_metadata(struct rd r, struct series *s)
{
    s->nmeta++;
    while (r.p < r.end && !r.err) {
        assert_int_equal(rd_varint(&r), 1 << 3 | 2);
        struct rd o = rd_sub(&r);
        while (o.p < o.end && !o.err) {
            uint64_t tag = rd_varint(&o);
            uint64_t v = rd_varint(&o);
            if (tag == (4 << 3 | 0))
                s->product = (unsigned)v;
            else if (tag == (5 << 3 | 0))
                s->category = (unsigned)v;
            else if (tag == (6 << 3 | 0))
                s->service = (unsigned)v;
            else
                fail_msg("Origin tag %u", (unsigned)tag);
        }
        assert_false(o.err);
    }
}

static void dec_series(struct rd r, struct series *s)
{
    memset(s, 0, sizeof *s);
    while (r.p < r.end && !r.err) {
        uint64_t tag = rd_varint(&r);
        switch (tag) {
        case 1 << 3 | 2: dec_resource(rd_sub(&r), s); break;
        case 2 << 3 | 2: rd_str(&r, s->metric, sizeof s->metric); break;
        case 3 << 3 | 2:
            assert_true(s->ntags < MAXT);
            rd_str(&r, s->tags[s->ntags++], sizeof s->tags[0]);
            break;
        case 4 << 3 | 2: dec_point(rd_sub(&r), s); break;
        case 5 << 3 | 0: s->type = (unsigned)rd_varint(&r); break;
        case 8 << 3 | 0: s->interval = (int64_t)rd_varint(&r); break;
        case 9 << 3 | 2: dec_metadata(rd_sub(&r), s); break;
        default: fail_msg("MetricSeries tag %u", (unsigned)tag);
        }
    }
    assert_false(r.err);
}

/* Every series of a MetricPayload body; returns how many. */
static size_t dec_payload(const void *body, size_t len, struct series *out, size_t max)
{
    struct rd r = {body, (const uint8_t *)body + len, false};
    size_t n = 0;
    while (r.p < r.end) {
        assert_int_equal(rd_varint(&r), 1 << 3 | 2); /* MetricPayload has series only */
        assert_true(n < max);
        dec_series(rd_sub(&r), &out[n++]);
        assert_false(r.err);
    }
    return n;
}

/* ---- the sink ---- */

/* The decompressed body (caller frees); every Datadog body is compressed. */
static char *inflated(const struct md_payload *p, size_t *len)
{
    assert_non_null(header(p, "Content-Encoding"));
    return body_plain(p, len);
}

struct ctx {
    struct md_datadog_conf cfg;
    const struct md_sink_ops *ops;
    void *st;
};

static void sink_open(struct ctx *c, const char *dd_url, enum md_v2_series v2)
{
    memset(c, 0, sizeof *c);
    c->cfg.dd_url = (char *)dd_url;
    c->cfg.api_key = "k";
    c->cfg.use_v2_series = v2;
    c->ops = md_sink_lookup("datadog");
    const struct md_sink_env env = {.hostname = "agent-host"};
    char err[128];
    assert_int_equal(c->ops->create(&c->cfg, &env, &c->st, err, sizeof err), 0);
    assert_int_equal(md_sink_datadog_set_agent_items(c->st, false), 0);
}

static void add(struct md_frame *f, const char *name, const char *suffix,
                const struct md_series_key *k, enum md_series_type t, uint32_t interval, double v)
{
    assert_int_equal(md_frame_add(f, name, strlen(name), suffix, k, t, interval, f->start, v), 0);
}

#endif
