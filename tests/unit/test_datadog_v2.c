/*
 * test_datadog_v2.c: the Datadog sink's /api/v2/series payloads and the
 * 413 splits of every payload kind (v1 and v2 series, service checks,
 * events, sketches, remote write).
 *
 * v2 bodies are inflated and read back by a small protobuf reader written
 * here, field by field against the agent-payload numbers (MetricPayload:
 * series 1; MetricSeries: resources 1, metric 2, tags 3, points 4, type 5,
 * interval 8; Resource: type 1, name 2; MetricPoint: value 1, timestamp 2).
 * When protoc is installed (protobuf-compiler), the same bytes are also
 * decoded by protoc against the real message definition, so the encoder
 * is not only checked against our own reading of the format.
 */
#include <errno.h>
#include <jansson.h>
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
#include "prometheus_rw.h"
#include <snappy-c.h>

#define T0 1700000000

/* ---- a tiny protobuf reader ---- */

struct rd {
    const uint8_t *p, *end;
    bool err;
};

static uint64_t rd_varint(struct rd *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->err = true;
            return 0;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->err = true;
    return 0;
}

static struct rd rd_sub(struct rd *r)
{
    uint64_t n = rd_varint(r);
    struct rd s = {r->p, r->p, false};
    if (r->err || n > (uint64_t)(r->end - r->p)) {
        r->err = true;
        return s;
    }
    s.end = r->p + n;
    r->p += n;
    return s;
}

static double rd_double(struct rd *r)
{
    uint64_t bits = 0;
    if (r->end - r->p < 8) {
        r->err = true;
        return 0;
    }
    for (int i = 0; i < 8; i++)
        bits |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

#define MAXT 8
struct series {
    char host[64], device[64], metric[300];
    char tags[MAXT][64];
    int ntags, nres, npoints;
    double value;
    int64_t ts, interval;
    unsigned type;
};

static void rd_str(struct rd *r, char *out, size_t n)
{
    struct rd s = rd_sub(r);
    size_t len = (size_t)(s.end - s.p);
    assert_false(r->err);
    assert_true(len < n);
    memcpy(out, s.p, len);
    out[len] = '\0';
}

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

static const char *header(const struct md_payload *p, const char *name)
{
    size_t n = strlen(name);
    for (unsigned i = 0; i < p->nheaders; i++)
        if (strncmp(p->headers[i], name, n) == 0 && p->headers[i][n] == ':')
            return p->headers[i] + n + 2;
    return NULL;
}

/* The inflated body (caller frees). */
static char *inflated(const struct md_payload *p, size_t *len)
{
    assert_string_equal(header(p, "Content-Encoding"), "deflate");
    void *out = NULL;
    assert_int_equal(md_inflate(p->body, p->len, 1u << 30, &out, len), 0);
    return out;
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

static const struct md_series_key *key(struct md_frame *f, const char *host, const char **tags,
                                       uint32_t n)
{
    struct md_str t[MAXT];
    for (uint32_t i = 0; i < n; i++)
        t[i] = (struct md_str){tags[i], (uint32_t)strlen(tags[i])};
    const struct md_series_key *k = md_frame_key(f, host, host ? strlen(host) : 0, t, n);
    assert_non_null(k);
    return k;
}

static void add(struct md_frame *f, const char *name, const char *suffix,
                const struct md_series_key *k, enum md_series_type t, uint32_t interval, double v)
{
    assert_int_equal(md_frame_add(f, name, strlen(name), suffix, k, t, interval, f->start, v), 0);
}

static void test_v2_fields(void **state)
{
    (void)state;
    struct ctx c;
    sink_open(&c, "http://x", MD_V2_ON);
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    const char *t1[] = {"b:x", "device:sda1", "env:test"};
    add(&f, "app.gauge", NULL, key(&f, "web-1", t1, 3), MD_SERIES_GAUGE, 0, -1.25);
    add(&f, "app.hits", NULL, key(&f, "", NULL, 0), MD_SERIES_COUNT, 10, 42);
    add(&f, "app.lat", ".95percentile", key(&f, "h", NULL, 0), MD_SERIES_RATE, 20, 0);
    const char *bad[] = {"t:\xc3", "ok:h\xc3\xa9"};
    add(&f, "bad\xfe\xffname", NULL, key(&f, "host\xff", bad, 2), MD_SERIES_GAUGE, 0, 7);
    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    assert_non_null(out);
    assert_null(out->next);
    assert_string_equal(out->url, "http://x/api/v2/series");
    assert_string_equal(header(out, "Content-Type"), "application/x-protobuf");
    assert_string_equal(header(out, "DD-API-KEY"), "k");
    assert_false(out->compress); /* compressed by the sink as it streamed */
    assert_int_equal(out->nitems, 4);
    size_t len;
    char *body = inflated(out, &len);
    struct series s[8];
    assert_int_equal(dec_payload(body, len, s, 8), 4);

    assert_string_equal(s[0].metric, "app.gauge");
    assert_string_equal(s[0].host, "web-1");
    assert_string_equal(s[0].device, "sda1"); /* a resource, as the agent sends it */
    assert_int_equal(s[0].nres, 2);
    assert_int_equal(s[0].ntags, 2);
    assert_string_equal(s[0].tags[0], "b:x");
    assert_string_equal(s[0].tags[1], "env:test");
    assert_int_equal(s[0].npoints, 1);
    assert_true(s[0].value == -1.25);
    assert_int_equal(s[0].ts, T0);
    assert_int_equal(s[0].type, 3); /* GAUGE */
    assert_int_equal(s[0].interval, 10); /* the window's, as in the JSON payload */

    assert_string_equal(s[1].metric, "app.hits");
    assert_string_equal(s[1].host, ""); /* the host resource is always there */
    assert_int_equal(s[1].nres, 1);
    assert_int_equal(s[1].type, 1); /* COUNT */
    assert_true(s[1].value == 42);
    assert_int_equal(s[1].interval, 10);

    assert_string_equal(s[2].metric, "app.lat.95percentile");
    assert_int_equal(s[2].type, 2); /* RATE */
    assert_true(s[2].value == 0);
    assert_int_equal(s[2].interval, 20);

    /* Invalid UTF-8 replaced as in the JSON payload. */
    assert_string_equal(s[3].metric, "bad\xef\xbf\xbd\xef\xbf\xbdname");
    assert_string_equal(s[3].host, "host\xef\xbf\xbd");
    assert_string_equal(s[3].tags[0], "t:\xef\xbf\xbd");
    assert_string_equal(s[3].tags[1], "ok:h\xc3\xa9");
    free(body);
    md_payload_list_free(out);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

/* auto: v2 for Datadog's sites only; true and false win over the URL. */
static void test_v2_choice(void **state)
{
    (void)state;
    struct { const char *dd_url; enum md_v2_series v2; const char *path; } cases[] = {
        {NULL, MD_V2_AUTO, "/api/v2/series"},
        {"https://app.datadoghq.eu", MD_V2_AUTO, "/api/v2/series"},
        {"https://api.us5.datadoghq.com/", MD_V2_AUTO, "/api/v2/series"},
        {"http://127.0.0.1:8428/datadog", MD_V2_AUTO, "/api/v1/series"},
        {"http://127.0.0.1:8428/datadog", MD_V2_ON, "/api/v2/series"},
        {NULL, MD_V2_OFF, "/api/v1/series"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ctx c;
        sink_open(&c, cases[i].dd_url, cases[i].v2);
        struct md_frame f;
        md_frame_init(&f, T0, 10);
        add(&f, "m", NULL, key(&f, "h", NULL, 0), MD_SERIES_GAUGE, 0, 1);
        struct md_payload *out = NULL;
        assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
        const char *u = strstr(out->url, "/api/");
        assert_non_null(u);
        assert_string_equal(u, cases[i].path);
        md_payload_list_free(out);
        md_frame_free(&f);
        c.ops->destroy(c.st);
    }
    assert_true(md_sink_datadog_is_site("https://user:pw@api.us5.datadoghq.com:443/x"));
    assert_true(md_sink_datadog_is_site("https://ddog-gov.com"));
    assert_true(md_sink_datadog_is_site("https://datadoghq.eu."));
    assert_false(md_sink_datadog_is_site("http://datadoghq.com.example.org"));
    assert_false(md_sink_datadog_is_site("http://notdatadoghq.com"));
    assert_false(md_sink_datadog_is_site("http://x/datadoghq.com"));
    assert_false(md_sink_datadog_is_site("http://[::1]:80"));
}

/* 25000 series: payloads under both byte limits and at most 10000 points, in order, none lost. */
static void test_v2_limits(void **state)
{
    (void)state;
    struct ctx c;
    sink_open(&c, NULL, MD_V2_AUTO);
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    const char *t[] = {"env:test"};
    const struct md_series_key *k = key(&f, "h", t, 1);
    const size_t n = 25000;
    char name[64];
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "v2.metric.%zu", i);
        add(&f, name, NULL, k, MD_SERIES_GAUGE, 0, (double)i);
    }
    struct series *s = calloc(10001, sizeof *s);
    for (int round = 0; round < 2; round++) {
        /* round 0: the intake's limits (the count cuts); round 1: 20 KB uncompressed. */
        size_t limit = round ? 20000 : 5242880;
        assert_int_equal(md_sink_datadog_set_limits(c.st, 0, round ? limit : 0), 0);
        struct md_payload *out = NULL;
        assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
        size_t next = 0, payloads = 0;
        for (struct md_payload *p = out; p; p = p->next, payloads++) {
            assert_true(p->len <= 512000);
            size_t len;
            char *body = inflated(p, &len);
            assert_true(len <= limit);
            size_t got = dec_payload(body, len, s, 10001);
            assert_int_equal(got, p->nitems);
            assert_true(got <= 10000);
            if (p->next && round == 0)
                assert_int_equal(got, 10000);
            if (p->next && round == 1)
                assert_true(len > limit * 3 / 4); /* filled, not one series per payload */
            for (size_t i = 0; i < got; i++, next++) {
                snprintf(name, sizeof name, "v2.metric.%zu", next);
                assert_string_equal(s[i].metric, name);
                assert_true(s[i].value == (double)next);
            }
            free(body);
        }
        assert_int_equal(next, n);
        assert_true(round ? payloads > 10 : payloads == 3);
        md_payload_list_free(out);
    }
    free(s);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

/* The MetricPayload messages of agent-payload proto/metrics/agent_payload.proto. */
static const char schema[] =
    "syntax = \"proto3\";\n"
    "package datadog.agentpayload;\n"
    "message Origin { reserved 1,2,3; uint32 origin_product = 4; uint32 origin_category = 5;\n"
    "  uint32 origin_service = 6; }\n"
    "message Metadata { Origin origin = 1; }\n"
    "message MetricPayload {\n"
    "  enum MetricType { UNSPECIFIED = 0; COUNT = 1; RATE = 2; GAUGE = 3; }\n"
    "  message MetricPoint { double value = 1; int64 timestamp = 2; }\n"
    "  message Resource { string type = 1; string name = 2; }\n"
    "  message MetricSeries { repeated Resource resources = 1; string metric = 2;\n"
    "    repeated string tags = 3; repeated MetricPoint points = 4; MetricType type = 5;\n"
    "    string unit = 6; string source_type_name = 7; int64 interval = 8;\n"
    "    Metadata metadata = 9; }\n"
    "  repeated MetricSeries series = 1;\n"
    "}\n";

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* protoc, against the real message definition, reads what test_v2_fields reads. */
static void test_v2_protoc(void **state)
{
    (void)state;
    if (system("protoc --version >/dev/null 2>&1") != 0) {
        print_message("protoc not installed (apt-get install protobuf-compiler): skipped\n");
        skip();
    }
    struct ctx c;
    sink_open(&c, NULL, MD_V2_ON);
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    const char *t[] = {"device:sda1", "env:t\xff"};
    add(&f, "app.gauge", NULL, key(&f, "web-1", t, 2), MD_SERIES_GAUGE, 0, -1.25);
    add(&f, "app.hits", NULL, key(&f, "", NULL, 0), MD_SERIES_COUNT, 10, 42);
    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    size_t len;
    char *body = inflated(out, &len);
    char dir[] = "/tmp/md-series-pb-XXXXXX", path[300], cmd[600];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/payload.bin", dir);
    write_file(path, body, len);
    snprintf(path, sizeof path, "%s/agent_payload.proto", dir);
    write_file(path, schema, sizeof schema - 1);
    snprintf(cmd, sizeof cmd,
             "cd %s && protoc --proto_path=. --decode=datadog.agentpayload.MetricPayload "
             "agent_payload.proto < payload.bin > out.txt 2>&1",
             dir);
    int rc = system(cmd);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char text[4096] = "";
    text[fread(text, 1, sizeof text - 1, fp)] = '\0';
    fclose(fp);
    if (rc != 0)
        fail_msg("protoc: %s", text);
    static const char want[] =
        "series {\n  resources {\n    type: \"host\"\n    name: \"web-1\"\n  }\n"
        "  resources {\n    type: \"device\"\n    name: \"sda1\"\n  }\n"
        "  metric: \"app.gauge\"\n  tags: \"env:t\\357\\277\\275\"\n"
        "  points {\n    value: -1.25\n    timestamp: 1700000000\n  }\n"
        "  type: GAUGE\n  interval: 10\n}\n"
        "series {\n  resources {\n    type: \"host\"\n  }\n" /* the empty name is proto3's default */
        "  metric: \"app.hits\"\n  points {\n    value: 42\n    timestamp: 1700000000\n  }\n"
        "  type: COUNT\n  interval: 10\n}\n";
    assert_string_equal(text, want);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(body);
    md_payload_list_free(out);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

/* A series larger than a payload may be: not sent, handed to the forwarder as too_big. */
static void test_v2_item_too_big(void **state)
{
    (void)state;
    struct ctx c;
    sink_open(&c, NULL, MD_V2_ON);
    assert_int_equal(md_sink_datadog_set_limits(c.st, 0, 2000), 0);
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    const struct md_series_key *k = key(&f, "h", NULL, 0);
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    add(&f, "small.a", NULL, k, MD_SERIES_GAUGE, 0, 1);
    add(&f, big, NULL, k, MD_SERIES_GAUGE, 0, 2);
    add(&f, big, ".max", k, MD_SERIES_GAUGE, 0, 3);
    add(&f, "small.b", NULL, k, MD_SERIES_GAUGE, 0, 4);
    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    assert_non_null(out);
    assert_int_equal(out->nitems, 2);
    assert_false(out->too_big);
    assert_non_null(out->next);
    assert_true(out->next->too_big);
    assert_int_equal(out->next->nitems, 2);
    assert_null(out->next->body);
    assert_null(out->next->next);
    md_payload_list_free(out);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

/* ---- 413 splits: the sink's cut of each body it writes ---- */

/* Cut p's body (decompressed as the forwarder does) with the sink's split. */
static int cut(const struct md_sink_ops *ops, const struct md_payload *p, struct md_buf *a,
               size_t *na, struct md_buf *b, size_t *nb)
{
    char *plain = NULL;
    size_t len = 0;
    const char *ce = header(p, "Content-Encoding");
    if (ce && strcmp(ce, "snappy") == 0) {
        assert_int_equal(snappy_uncompressed_length(p->body, p->len, &len), SNAPPY_OK);
        plain = malloc(len + 1);
        assert_int_equal(snappy_uncompress(p->body, p->len, plain, &len), SNAPPY_OK);
    } else if (ce) {
        plain = inflated(p, &len);
    } else {
        plain = malloc(p->len + 1);
        memcpy(plain, p->body, p->len);
        len = p->len;
    }
    md_buf_init(a);
    md_buf_init(b);
    int rc = ops->split(plain, len, p->nitems, a, na, b, nb);
    free(plain);
    return rc;
}

static void test_split_v2_series(void **state)
{
    (void)state;
    struct ctx c;
    sink_open(&c, NULL, MD_V2_ON);
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    char name[32];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "s.%d", i);
        add(&f, name, NULL, key(&f, "h", NULL, 0), MD_SERIES_COUNT, 10, i);
    }
    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    struct md_buf a, b;
    size_t na, nb;
    assert_int_equal(cut(c.ops, out, &a, &na, &b, &nb), 0);
    assert_int_equal(na, 2);
    assert_int_equal(nb, 3);
    struct series s[5];
    assert_int_equal(dec_payload(a.p, a.len, s, 5), 2);
    assert_string_equal(s[1].metric, "s.1");
    assert_int_equal(dec_payload(b.p, b.len, s, 5), 3);
    assert_string_equal(s[0].metric, "s.2");
    assert_string_equal(s[2].metric, "s.4");
    assert_true(s[2].value == 4);
    md_buf_free(&a);
    md_buf_free(&b);
    /* One series cannot be cut: the forwarder drops it as too_big. */
    struct md_payload *one = NULL;
    md_frame_free(&f);
    md_frame_init(&f, T0, 10);
    add(&f, "only", NULL, key(&f, "h", NULL, 0), MD_SERIES_GAUGE, 0, 1);
    assert_int_equal(c.ops->encode(c.st, &f, &one), 0);
    one->nitems = 2; /* even when told otherwise, the body holds one */
    assert_int_equal(cut(c.ops, one, &a, &na, &b, &nb), -EINVAL);
    md_buf_free(&a);
    md_buf_free(&b);
    md_payload_list_free(one);
    md_payload_list_free(out);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

/* Sketches: the items split, the payload's metadata (field 2) in both halves. */
static void test_split_sketches(void **state)
{
    (void)state;
    struct ctx c;
    sink_open(&c, NULL, MD_V2_ON);
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    static const int32_t keys[] = {1338};
    static const uint32_t counts[] = {2};
    for (int i = 0; i < 3; i++) {
        struct md_sketch_series *sk = md_frame_add_sketch(&f);
        *sk = (struct md_sketch_series){.name = i ? "lat.b" : "lat.a", .key = key(&f, "h", NULL, 0),
                                        .count = 2, .min = 1, .max = 1, .sum = 2, .avg = 1,
                                        .timestamp = T0, .bin_keys = keys, .bin_counts = counts,
                                        .nbins = 1};
    }
    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    assert_string_equal(strstr(out->url, "/api/"), "/api/beta/sketches");
    struct md_buf a, b;
    size_t na, nb;
    assert_int_equal(cut(c.ops, out, &a, &na, &b, &nb), 0);
    assert_int_equal(na, 1);
    assert_int_equal(nb, 2);
    /* The halves are the whole: their items plus one metadata each. */
    assert_int_equal(a.len + b.len, out->len + 2);
    assert_int_equal((unsigned char)a.p[a.len - 2], 2 << 3 | 2);
    assert_int_equal((unsigned char)b.p[b.len - 2], 2 << 3 | 2);
    assert_non_null(memmem(a.p, a.len, "lat.a", 5));
    assert_null(memmem(b.p, b.len, "lat.a", 5));
    md_buf_free(&a);
    md_buf_free(&b);
    md_payload_list_free(out);

    /* Invalid UTF-8 in a sketch: U+FFFD, as in the series payloads, lengths still right. */
    const char *t[] = {"t:\xc3"};
    f.sketches[1].name = "lat\xffx";
    f.sketches[1].key = key(&f, "h\xfe", t, 1);
    out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    assert_non_null(memmem(out->body, out->len, "lat\xef\xbf\xbdx", 6));
    assert_non_null(memmem(out->body, out->len, "h\xef\xbf\xbd", 4));
    assert_non_null(memmem(out->body, out->len, "t:\xef\xbf\xbd", 5));
    assert_null(memchr(out->body, 0xff, out->len));
    assert_int_equal(cut(c.ops, out, &a, &na, &b, &nb), 0); /* parses to its end */
    md_buf_free(&a);
    md_buf_free(&b);
    md_payload_list_free(out);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

/* Events: the envelope in both halves, items in order across their groups. */
static void test_split_events_and_checks(void **state)
{
    (void)state;
    struct ctx c;
    sink_open(&c, "http://x", MD_V2_AUTO);
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    const char *src[] = {"nagios", "nagios", "jenkins", NULL, "jenkins"};
    for (int i = 0; i < 5; i++) {
        char title[16];
        snprintf(title, sizeof title, "e%d", i);
        *md_frame_add_event(&f) = (struct md_event_out){
            .title = md_arena_strndup(&f.arena, title, strlen(title)), .text = "t,[x]{\"}",
            .source_type_name = src[i], .timestamp = T0};
        *md_frame_add_check(&f) = (struct md_check_out){.name = "c", .status = i, .timestamp = T0};
    }
    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    struct md_payload *checks = out, *events = out->next;
    assert_string_equal(checks->url, "http://x/api/v1/check_run");
    assert_string_equal(events->url, "http://x/intake/");
    struct md_buf a, b;
    size_t na, nb;
    assert_int_equal(cut(c.ops, events, &a, &na, &b, &nb), 0);
    assert_int_equal(na, 2);
    assert_int_equal(nb, 3);
    json_error_t e;
    json_t *ja = json_loadb(a.p, a.len, 0, &e), *jb = json_loadb(b.p, b.len, 0, &e);
    assert_non_null(ja);
    assert_non_null(jb);
    assert_string_equal(json_string_value(json_object_get(jb, "internalHostname")), "agent-host");
    json_t *ea = json_object_get(ja, "events"), *eb = json_object_get(jb, "events");
    assert_int_equal(json_object_size(ea), 1); /* nagios: e0 e1 */
    assert_int_equal(json_array_size(json_object_get(ea, "nagios")), 2);
    assert_int_equal(json_object_size(eb), 2); /* jenkins: e2 e4, api: e3 */
    json_t *jk = json_object_get(eb, "jenkins");
    assert_string_equal(json_string_value(json_object_get(json_array_get(jk, 1), "msg_title")), "e4");
    assert_string_equal(json_string_value(json_object_get(json_array_get(jk, 1), "msg_text")),
                        "t,[x]{\"}");
    assert_int_equal(json_array_size(json_object_get(eb, "api")), 1);
    json_decref(ja);
    json_decref(jb);
    md_buf_free(&a);
    md_buf_free(&b);
    assert_int_equal(cut(c.ops, checks, &a, &na, &b, &nb), 0);
    assert_int_equal(na + nb, 5);
    ja = json_loadb(a.p, a.len, 0, &e);
    assert_int_equal(json_array_size(ja), 2);
    json_decref(ja);
    md_buf_free(&a);
    md_buf_free(&b);
    md_payload_list_free(out);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

/* The host metadata is one document: never cut. */
static void test_split_refuses_metadata(void **state)
{
    (void)state;
    struct md_buf a, b;
    size_t na, nb;
    md_buf_init(&a);
    md_buf_init(&b);
    static const char meta[] = "{\"internalHostname\":\"h\",\"meta\":{\"x\":[1,2]}}";
    const struct md_sink_ops *ops = md_sink_lookup("datadog");
    assert_int_equal(ops->split(meta, sizeof meta - 1, 2, &a, &na, &b, &nb), -EINVAL);
    assert_int_equal(ops->split("\x0a\x01", 2, 2, &a, &na, &b, &nb), -EINVAL); /* truncated */
    md_buf_free(&a);
    md_buf_free(&b);
}

/* Remote write: snappy off, the WriteRequest cut between time series. */
static void test_split_remote_write(void **state)
{
    (void)state;
    const struct md_sink_ops *ops = md_sink_lookup("prometheus_rw");
    struct md_prw_conf conf = {.prometheus_remote_write_url = "http://rw/api/v1/write"};
    char err[128];
    void *st = NULL;
    assert_int_equal(ops->create(&conf, NULL, &st, err, sizeof err), 0);
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    char name[32];
    for (int i = 0; i < 7; i++) {
        snprintf(name, sizeof name, "rw_%d", i);
        add(&f, name, NULL, key(&f, "h", NULL, 0), MD_SERIES_GAUGE, 0, i);
    }
    struct md_payload *out = NULL;
    assert_int_equal(ops->encode(st, &f, &out), 0);
    assert_int_equal(out->nitems, 7);
    struct md_buf a, b;
    size_t na, nb;
    assert_int_equal(cut(ops, out, &a, &na, &b, &nb), 0);
    assert_int_equal(na, 3);
    assert_int_equal(nb, 4);
    assert_non_null(memmem(a.p, a.len, "rw_2", 4));
    assert_null(memmem(a.p, a.len, "rw_3", 4));
    assert_non_null(memmem(b.p, b.len, "rw_3", 4));
    assert_non_null(memmem(b.p, b.len, "rw_6", 4));
    md_buf_free(&a);
    md_buf_free(&b);
    md_payload_list_free(out);
    md_frame_free(&f);
    ops->destroy(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_fields),
        cmocka_unit_test(test_v2_protoc),
        cmocka_unit_test(test_v2_choice),
        cmocka_unit_test(test_v2_limits),
        cmocka_unit_test(test_v2_item_too_big),
        cmocka_unit_test(test_split_v2_series),
        cmocka_unit_test(test_split_sketches),
        cmocka_unit_test(test_split_events_and_checks),
        cmocka_unit_test(test_split_refuses_metadata),
        cmocka_unit_test(test_split_remote_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
