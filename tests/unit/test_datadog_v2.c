/*
 * test_datadog_v2.c: the Datadog sink's /api/v2/series payloads.
 *
 * Bodies are decompressed (zstd or zlib) and read back field by field by the reader of
 * sink_pb_read.h. When protoc is installed (protobuf-compiler), the same
 * bytes are also decoded by protoc against the real message definition, so
 * the encoder is not only checked against our own reading of the format.
 */
#include "series_pb.h"
#include "sink_pb_read.h"

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
    for (int i = 0; i < 4; i++) { /* DogStatsD metrics, as the agent marks them */
        assert_int_equal(s[i].nmeta, 1);
        assert_int_equal(s[i].product, 10);
        assert_int_equal(s[i].category, 10);
        assert_int_equal(s[i].service, 0);
    }
    free(body);
    md_payload_list_free(out);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

/* Check metrics: category 11 and the service of the agent's check of the same name. */
static void test_v2_origin(void **state)
{
    (void)state;
    static const struct { const char *name; unsigned category, service; } cases[] = {
        {"system.cpu.user", 11, 202}, {"system.load.1", 11, 203}, {"system.mem.used", 11, 196},
        {"system.swap.free", 11, 196}, {"system.io.r_s", 11, 193}, {"system.disk.free", 11, 48},
        {"system.fs.inodes.free", 11, 48}, {"system.fs.file_handles.used", 11, 191},
        {"system.net.bytes_rcvd", 11, 114}, {"system.uptime", 11, 194},
        {"container.cpu.usage", 11, 180}, {"docker.mem.rss", 11, 183},
        {"datadog.agent.running", 11, 212}, {"meterd.cpu.user", 11, 212},
        {"systemd.units", 10, 0}, {"app.system.cpu", 10, 0}, {"", 10, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct md_series_pb_origin o;
        md_series_pb_origin(cases[i].name, &o);
        if (o.product != 10 || o.category != cases[i].category || o.service != cases[i].service)
            fail_msg("%s: %u/%u/%u", cases[i].name, o.product, o.category, o.service);
    }
}

/*
 * serializer_compressor_kind: zstd or zlib on the wire whatever the intake;
 * auto is zstd for Datadog's sites and zlib for another dd_url. Each body
 * is decompressed with libzstd's or zlib's own calls (body_plain) and read
 * back as a MetricPayload.
 */
static void test_v2_compressor_kind(void **state)
{
    (void)state;
    static const struct { const char *dd_url; enum md_dd_compressor kind; int level;
                          const char *enc; } cases[] = {
        {NULL, MD_DD_COMP_AUTO, 0, "zstd"},
        {"https://app.datadoghq.eu", MD_DD_COMP_AUTO, 0, "zstd"},
        {"http://127.0.0.1:8428/datadog", MD_DD_COMP_AUTO, 0, "deflate"},
        {"http://127.0.0.1:8428/datadog", MD_DD_COMP_ZSTD, 19, "zstd"},
        {NULL, MD_DD_COMP_ZLIB, 0, "deflate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ctx c;
        memset(&c, 0, sizeof c);
        c.cfg = (struct md_datadog_conf){.dd_url = (char *)cases[i].dd_url, .api_key = "k",
                                         .use_v2_series = MD_V2_ON,
                                         .compressor_kind = cases[i].kind,
                                         .zstd_level = cases[i].level};
        c.ops = md_sink_lookup("datadog");
        char err[128];
        assert_int_equal(c.ops->create(&c.cfg, NULL, &c.st, err, sizeof err), 0);
        struct md_frame f;
        md_frame_init(&f, T0, 10);
        for (int j = 0; j < 200; j++) {
            char name[32];
            snprintf(name, sizeof name, "app.m%d", j);
            add(&f, name, NULL, key(&f, "h", NULL, 0), MD_SERIES_GAUGE, 0, j);
        }
        struct md_payload *out = NULL;
        assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
        size_t nseries = 0;
        for (struct md_payload *p = out; p; p = p->next) {
            assert_string_equal(header(p, "Content-Encoding"), cases[i].enc);
            size_t len;
            char *body = inflated(p, &len);
            assert_true(p->len < len); /* compressed, not only labelled */
            if (strstr(p->url, "/api/v2/series")) {
                static struct series s[256];
                nseries += dec_payload(body, len, s, 256);
                assert_string_equal(s[0].metric, "app.m0");
            }
            free(body);
        }
        assert_int_equal(nseries, 201); /* and datadog.agent.running */
        md_payload_list_free(out);
        md_frame_free(&f);
        c.ops->destroy(c.st);
    }
}

/*
 * The compressed limit cuts, with either compressor: hard-to-compress
 * series fill payloads up to 4000 bytes on the wire and never past it,
 * every series once and in order.
 */
static void test_v2_compressed_limit(void **state)
{
    (void)state;
    static const enum md_dd_compressor kinds[] = {MD_DD_COMP_ZSTD, MD_DD_COMP_ZLIB};
    for (size_t ki = 0; ki < 2; ki++) {
        struct ctx c;
        memset(&c, 0, sizeof c);
        c.cfg = (struct md_datadog_conf){.api_key = "k", .use_v2_series = MD_V2_ON,
                                         .compressor_kind = kinds[ki]};
        c.ops = md_sink_lookup("datadog");
        char err[128];
        assert_int_equal(c.ops->create(&c.cfg, NULL, &c.st, err, sizeof err), 0);
        assert_int_equal(md_sink_datadog_set_agent_items(c.st, false), 0);
        assert_int_equal(md_sink_datadog_set_limits(c.st, 4000, 0), 0);
        struct md_frame f;
        md_frame_init(&f, T0, 10);
        const size_t n = 2000;
        uint64_t x = 88172645463325252ull; /* xorshift: names no compressor shrinks much */
        char name[64];
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            snprintf(name, sizeof name, "m%05zu.%016llx", i, (unsigned long long)x);
            add(&f, name, NULL, key(&f, "h", NULL, 0), MD_SERIES_GAUGE, 0, (double)i);
        }
        struct md_payload *out = NULL;
        assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
        static struct series s[2000];
        size_t next = 0, payloads = 0;
        for (struct md_payload *p = out; p; p = p->next, payloads++) {
            assert_true(p->len <= 4000);
            if (p->next)
                assert_true(p->len > 3000); /* filled, not cut early */
            size_t len;
            char *body = inflated(p, &len);
            size_t got = dec_payload(body, len, s, 2000);
            for (size_t i = 0; i < got; i++, next++) {
                snprintf(name, sizeof name, "m%05zu.", next);
                assert_memory_equal(s[i].metric, name, strlen(name));
            }
            free(body);
        }
        assert_int_equal(next, n);
        assert_true(payloads > 5);
        md_payload_list_free(out);
        md_frame_free(&f);
        c.ops->destroy(c.st);
    }
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
    add(&f, "system.cpu.user", NULL, key(&f, "", NULL, 0), MD_SERIES_GAUGE, 0, 3);
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
        "  type: GAUGE\n  interval: 10\n"
        "  metadata {\n    origin {\n      origin_product: 10\n      origin_category: 10\n"
        "    }\n  }\n}\n" /* DogStatsD: service 0, proto3's default */
        "series {\n  resources {\n    type: \"host\"\n  }\n" /* the empty name is proto3's default */
        "  metric: \"app.hits\"\n  points {\n    value: 42\n    timestamp: 1700000000\n  }\n"
        "  type: COUNT\n  interval: 10\n"
        "  metadata {\n    origin {\n      origin_product: 10\n      origin_category: 10\n"
        "    }\n  }\n}\n"
        "series {\n  resources {\n    type: \"host\"\n  }\n"
        "  metric: \"system.cpu.user\"\n  points {\n    value: 3\n    timestamp: 1700000000\n  }\n"
        "  type: GAUGE\n  interval: 10\n"
        "  metadata {\n    origin {\n      origin_product: 10\n      origin_category: 11\n"
        "      origin_service: 202\n    }\n  }\n}\n"; /* the agent's cpu check */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_fields),
        cmocka_unit_test(test_v2_origin),
        cmocka_unit_test(test_v2_compressor_kind),
        cmocka_unit_test(test_v2_compressed_limit),
        cmocka_unit_test(test_v2_protoc),
        cmocka_unit_test(test_v2_choice),
        cmocka_unit_test(test_v2_limits),
        cmocka_unit_test(test_v2_item_too_big),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
