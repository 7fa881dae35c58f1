/*
 * Unit tests for the datadog and console sinks and the sink registry.
 * Payload bodies are parsed back with jansson (an independent JSON parser),
 * so a test fails on any malformed output, not only on a changed string.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "compress.h"
#include "meterd/config.h"
#include "meterd/frame.h"
#include "datadog.h"
#include "meterd/sink.h"
#include "sink_payload.h"

static void add(struct md_frame *f, const char *name, const struct md_series_key *k,
                enum md_series_type t, uint32_t interval, double v)
{
    assert_int_equal(md_frame_add(f, name, strlen(name), NULL, k, t, interval, f->start, v), 0);
}

struct ctx {
    struct md_datadog_conf cfg;
    const struct md_sink_ops *ops;
    void *st;
};

static void sink_open(struct ctx *c, const char *dd_url, const char *site, const char *api_key)
{
    memset(c, 0, sizeof *c);
    c->cfg.dd_url = (char *)dd_url;
    c->cfg.site = (char *)site;
    c->cfg.api_key = (char *)api_key;
    c->ops = md_sink_lookup("datadog");
    assert_non_null(c->ops);
    const struct md_sink_env env = {.hostname = "agent-host"};
    char err[128];
    assert_int_equal(c->ops->create(&c->cfg, &env, &c->st, err, sizeof err), 0);
    /* the frame's own payloads only; test_agent_items looks at the others */
    assert_int_equal(md_sink_datadog_set_agent_items(c->st, false), 0);
}

/* The body as the backend reads it: inflated when the sink compressed it (static buffer). */
static const char *plain(const struct md_payload *p, size_t *len)
{
    static char *last;
    free(last);
    last = NULL;
    last = body_plain(p, len);
    return last;
}

static json_t *parse(const struct md_payload *p)
{
    json_error_t e;
    size_t len;
    const char *body = plain(p, &len);
    json_t *j = json_loadb(body, len, 0, &e); /* jansson refuses invalid UTF-8 too */
    if (!j)
        fail_msg("invalid JSON at %d: %s\n%.*s", e.position, e.text, (int)len, body);
    assert_int_equal(strnlen(body, len), len);
    return j;
}

static size_t list_len(const struct md_payload *p)
{
    size_t n = 0;
    for (; p; p = p->next)
        n++;
    return n;
}

static void assert_tags(json_t *arr, const char **want, size_t n)
{
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(json_string_value(json_array_get(arr, i)), want[i]);
}

static void test_series_shape(void **state)
{
    struct ctx c;
    sink_open(&c, "http://127.0.0.1:8428/datadog/", NULL, "0123456789abcdef");
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    const char *t1[] = {"device:sda", "env:prod", "role:db:primary"};
    const struct md_series_key *k1 = key(&f, "web-1", t1, 3);
    const struct md_series_key *k0 = key(&f, "", NULL, 0);
    add(&f, "app.gauge", k1, MD_SERIES_GAUGE, 0, 0.1);
    add(&f, "app.rate", k1, MD_SERIES_RATE, 10, 2.5);
    add(&f, "app.count", k0, MD_SERIES_COUNT, 10, -123456789.123);
    assert_int_equal(md_frame_add(&f, "x", 1, NULL, k0, MD_SERIES_GAUGE, 0, T0, NAN), -EINVAL);

    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    assert_int_equal(list_len(out), 1);
    assert_string_equal(out->url, "http://127.0.0.1:8428/datadog/api/v1/series");
    assert_false(out->compress); /* compressed as it was written */
    assert_int_equal(out->nitems, 3);
    assert_string_equal(out->content_type, "application/json");
    assert_string_equal(header(out, "DD-API-KEY"), "0123456789abcdef");
    assert_string_equal(header(out, "Content-Type"), "application/json");
    assert_string_equal(header(out, "User-Agent"), "meterd/" METERD_VERSION);
    assert_string_equal(header(out, "Content-Encoding"), "deflate");

    json_t *j = parse(out);
    json_t *series = json_object_get(j, "series");
    assert_int_equal(json_array_size(series), 3);

    json_t *g = json_array_get(series, 0);
    assert_string_equal(json_string_value(json_object_get(g, "metric")), "app.gauge");
    json_t *pt = json_array_get(json_object_get(g, "points"), 0);
    assert_int_equal(json_array_size(json_object_get(g, "points")), 1);
    assert_int_equal(json_integer_value(json_array_get(pt, 0)), T0);
    assert_true(json_number_value(json_array_get(pt, 1)) == 0.1);
    assert_string_equal(json_string_value(json_object_get(g, "type")), "gauge");
    assert_int_equal(json_integer_value(json_object_get(g, "interval")), 10); /* frame interval */
    assert_string_equal(json_string_value(json_object_get(g, "host")), "web-1");
    const char *want1[] = {"env:prod", "role:db:primary"};
    assert_tags(json_object_get(g, "tags"), want1, 2);
    assert_string_equal(json_string_value(json_object_get(g, "device")), "sda");

    json_t *r = json_array_get(series, 1);
    assert_string_equal(json_string_value(json_object_get(r, "type")), "rate");
    assert_int_equal(json_integer_value(json_object_get(r, "interval")), 10);
    assert_true(json_number_value(json_array_get(json_array_get(json_object_get(r, "points"), 0), 1)) == 2.5);

    /* No host, no tags: still written (VictoriaMetrics 1.79 pooled-object bug). */
    json_t *cn = json_array_get(series, 2);
    assert_string_equal(json_string_value(json_object_get(cn, "type")), "count");
    assert_true(json_is_string(json_object_get(cn, "host")));
    assert_string_equal(json_string_value(json_object_get(cn, "host")), "");
    assert_tags(json_object_get(cn, "tags"), NULL, 0);
    assert_null(json_object_get(cn, "device"));
    assert_true(json_number_value(json_array_get(json_array_get(json_object_get(cn, "points"), 0), 1)) ==
                -123456789.123);
    json_decref(j);
    md_payload_list_free(out);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

static void test_escaping(void **state)
{
    struct ctx c;
    sink_open(&c, "http://x", NULL, "");
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    const char *t[] = {"q:\"quoted\"", "nl:a\nb", "utf8:h\xc3\xa9llo"};
    const struct md_series_key *k = key(&f, "h\\1", t, 3);
    add(&f, "we\"ird\\name", k, MD_SERIES_GAUGE, 0, 1e-9);
    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    assert_null(header(out, "DD-API-KEY")); /* no key configured: no header */
    json_t *j = parse(out);
    json_t *s = json_array_get(json_object_get(j, "series"), 0);
    assert_string_equal(json_string_value(json_object_get(s, "metric")), "we\"ird\\name");
    assert_string_equal(json_string_value(json_object_get(s, "host")), "h\\1");
    assert_tags(json_object_get(s, "tags"), t, 3);
    assert_true(json_number_value(json_array_get(json_array_get(json_object_get(s, "points"), 0), 1)) == 1e-9);
    json_decref(j);
    md_payload_list_free(out);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

static void test_base_url(void **state)
{
    struct { const char *dd_url, *site, *want; } cases[] = {
        {NULL, NULL, "https://api.datadoghq.com/api/v2/series"}, /* Datadog's sites take v2 */
        {"", "datadoghq.eu", "https://api.datadoghq.eu/api/v2/series"},
        {"https://proxy.local:3834//", "datadoghq.eu", "https://proxy.local:3834/api/v1/series"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ctx c;
        sink_open(&c, cases[i].dd_url, cases[i].site, "k");
        struct md_frame f;
        md_frame_init(&f, T0, 10);
        add(&f, "m", key(&f, "h", NULL, 0), MD_SERIES_GAUGE, 0, 1);
        struct md_payload *out = NULL;
        assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
        assert_string_equal(out->url, cases[i].want);
        md_payload_list_free(out);
        md_frame_free(&f);
        c.ops->destroy(c.st);
    }
}

static void test_split(void **state)
{
    struct ctx c;
    sink_open(&c, "http://x", NULL, "k");
    const size_t limit = 4000, n = 1000;
    assert_int_equal(md_sink_datadog_set_limits(c.st, 0, limit), 0);
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    const char *t[] = {"env:test"};
    const struct md_series_key *k = key(&f, "h", t, 1);
    char name[64];
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "split.metric.%zu", i);
        add(&f, name, k, MD_SERIES_COUNT, 10, (double)i);
        if (i == 500) { /* one series that cannot fit any payload: dropped, the rest kept */
            char big[5000];
            memset(big, 'x', sizeof big - 1);
            big[sizeof big - 1] = '\0';
            add(&f, big, k, MD_SERIES_GAUGE, 0, 1);
        }
    }
    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    assert_true(list_len(out) > 10);
    size_t next = 0, items = 0;
    for (struct md_payload *p = out; p; p = p->next) {
        if (p->too_big) { /* the big one, handed to the forwarder's ledger, last */
            assert_null(p->next);
            assert_null(p->body);
            assert_int_equal(p->nitems, 1);
            assert_string_equal(p->url, "http://x/api/v1/series");
            break;
        }
        size_t plen;
        plain(p, &plen);
        assert_true(plen <= limit);
        if (p->next && !p->next->too_big)
            assert_true(plen > limit / 2); /* filled, not one series per payload */
        json_t *j = parse(p);
        json_t *series = json_object_get(j, "series");
        assert_int_equal(json_array_size(series), p->nitems);
        items += p->nitems;
        for (size_t i = 0; i < json_array_size(series); i++) {
            snprintf(name, sizeof name, "split.metric.%zu", next);
            json_t *s = json_array_get(series, i);
            assert_string_equal(json_string_value(json_object_get(s, "metric")), name);
            assert_true(json_number_value(json_array_get(json_array_get(json_object_get(s, "points"), 0), 1)) ==
                        (double)next);
            next++;
        }
        json_decref(j);
    }
    assert_int_equal(items, n);
    assert_int_equal(next, n);
    md_payload_list_free(out);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

/* The compressed limit: payloads cut before it, filled close to it, nothing lost. */
static void test_compressed_limit(void **state)
{
    struct ctx c;
    sink_open(&c, "http://x", NULL, "k");
    const size_t climit = 3000, n = 2000;
    assert_int_equal(md_sink_datadog_set_limits(c.st, climit, 0), 0);
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    const struct md_series_key *k = key(&f, "h", NULL, 0);
    char name[64];
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) { /* names that compress poorly */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        snprintf(name, sizeof name, "c.%zu.%016llx", i, (unsigned long long)x);
        add(&f, name, k, MD_SERIES_GAUGE, 0, (double)i);
    }
    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    assert_true(list_len(out) > 5);
    size_t items = 0;
    for (struct md_payload *p = out; p; p = p->next) {
        assert_true(p->len <= climit);
        if (p->next)
            assert_true(p->len > climit * 3 / 4); /* filled close to the limit */
        json_t *j = parse(p);
        json_t *series = json_object_get(j, "series");
        for (size_t i = 0; i < json_array_size(series); i++) {
            const char *m = json_string_value(json_object_get(json_array_get(series, i), "metric"));
            assert_int_equal((size_t)atoi(m + 2), items + i); /* in order, none missing */
        }
        items += json_array_size(series);
        assert_int_equal(json_array_size(series), p->nitems);
        json_decref(j);
    }
    assert_int_equal(items, n);
    md_payload_list_free(out);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

/* Invalid UTF-8 never reaches the wire: U+FFFD instead, the rest of the payload intact. */
static void test_invalid_utf8_replaced(void **state)
{
    struct ctx c;
    sink_open(&c, "http://x", NULL, "k");
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    const char *t[] = {"ok:h\xc3\xa9", "bad:\xc3", "sur:\xed\xa0\x80", "over:\xc0\xaf"};
    const struct md_series_key *k = key(&f, "host\xff", t, 4);
    add(&f, "bad\xfe\xffname", k, MD_SERIES_GAUGE, 0, 1);
    add(&f, "good.name", key(&f, "h", NULL, 0), MD_SERIES_GAUGE, 0, 2);
    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    json_t *j = parse(out); /* a strict parser accepts it */
    json_t *s0 = json_array_get(json_object_get(j, "series"), 0);
    assert_string_equal(json_string_value(json_object_get(s0, "metric")),
                        "bad\xef\xbf\xbd\xef\xbf\xbdname");
    assert_string_equal(json_string_value(json_object_get(s0, "host")), "host\xef\xbf\xbd");
    const char *want[] = {"ok:h\xc3\xa9", "bad:\xef\xbf\xbd", "sur:\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
                          "over:\xef\xbf\xbd\xef\xbf\xbd"};
    assert_tags(json_object_get(s0, "tags"), want, 4);
    json_t *s1 = json_array_get(json_object_get(j, "series"), 1);
    assert_string_equal(json_string_value(json_object_get(s1, "metric")), "good.name");
    json_decref(j);
    md_payload_list_free(out);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

static void test_checks(void **state)
{
    struct ctx c;
    sink_open(&c, "http://x/dd", NULL, "k");
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    const char *t[] = {"env:prod"};
    struct md_check_out *ck = md_frame_add_check(&f);
    *ck = (struct md_check_out){.name = "app.up", .host = "web-1", .message = "all \"good\"",
                                .status = 2, .timestamp = T0 + 3, .key = key(&f, NULL, t, 1)};
    ck = md_frame_add_check(&f);
    *ck = (struct md_check_out){.name = "db.up", .status = 0, .timestamp = T0};
    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    assert_int_equal(list_len(out), 1); /* no series: no series payload */
    assert_string_equal(out->url, "http://x/dd/api/v1/check_run");
    json_t *j = parse(out);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 2);
    json_t *a = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(a, "check")), "app.up");
    assert_string_equal(json_string_value(json_object_get(a, "host_name")), "web-1");
    assert_int_equal(json_integer_value(json_object_get(a, "timestamp")), T0 + 3);
    assert_int_equal(json_integer_value(json_object_get(a, "status")), 2);
    assert_string_equal(json_string_value(json_object_get(a, "message")), "all \"good\"");
    assert_tags(json_object_get(a, "tags"), t, 1);
    json_t *b = json_array_get(j, 1);
    assert_string_equal(json_string_value(json_object_get(b, "host_name")), "");
    assert_string_equal(json_string_value(json_object_get(b, "message")), "");
    assert_tags(json_object_get(b, "tags"), NULL, 0);
    json_decref(j);
    md_payload_list_free(out);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

static void test_events(void **state)
{
    struct ctx c;
    sink_open(&c, "http://x", NULL, "secretkey");
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    const char *t[] = {"env:prod", "team:a"};
    const char *src[] = {"nagios", NULL, "nagios", "jenkins"};
    for (int i = 0; i < 4; i++) {
        struct md_event_out *e = md_frame_add_event(&f);
        char title[32];
        snprintf(title, sizeof title, "deploy %d", i);
        *e = (struct md_event_out){.title = md_arena_strndup(&f.arena, title, strlen(title)),
                                   .text = "line1\nline2", .host = "web-1", .aggregation_key = "agg",
                                   .source_type_name = src[i], .priority = "low", .alert_type = "error",
                                   .timestamp = T0 + i, .key = key(&f, NULL, t, 2)};
    }
    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    assert_int_equal(list_len(out), 1);
    assert_string_equal(out->url, "http://x/intake/");
    assert_int_equal(out->nitems, 4);
    size_t olen;
    const char *obody = plain(out, &olen);
    assert_null(memmem(obody, olen, "secretkey", 9)); /* the key only travels in the header */
    json_t *j = parse(out);
    assert_string_equal(json_string_value(json_object_get(j, "apiKey")), "");
    assert_string_equal(json_string_value(json_object_get(j, "internalHostname")), "agent-host");
    json_t *ev = json_object_get(j, "events");
    assert_int_equal(json_object_size(ev), 3);
    json_t *nag = json_object_get(ev, "nagios");
    assert_int_equal(json_array_size(nag), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(nag, 0), "msg_title")), "deploy 0");
    assert_string_equal(json_string_value(json_object_get(json_array_get(nag, 1), "msg_title")), "deploy 2");
    json_t *api = json_object_get(ev, "api");
    assert_int_equal(json_array_size(api), 1);
    json_t *e1 = json_array_get(api, 0);
    assert_string_equal(json_string_value(json_object_get(e1, "msg_title")), "deploy 1");
    assert_string_equal(json_string_value(json_object_get(e1, "msg_text")), "line1\nline2");
    assert_int_equal(json_integer_value(json_object_get(e1, "timestamp")), T0 + 1);
    assert_string_equal(json_string_value(json_object_get(e1, "priority")), "low");
    assert_string_equal(json_string_value(json_object_get(e1, "host")), "web-1");
    assert_string_equal(json_string_value(json_object_get(e1, "alert_type")), "error");
    assert_string_equal(json_string_value(json_object_get(e1, "aggregation_key")), "agg");
    assert_string_equal(json_string_value(json_object_get(e1, "source_type_name")), "");
    assert_tags(json_object_get(e1, "tags"), t, 2);
    assert_int_equal(json_array_size(json_object_get(ev, "jenkins")), 1);
    json_decref(j);
    md_payload_list_free(out);

    /* Split: every payload is a complete envelope, events keep their groups. */
    assert_int_equal(md_sink_datadog_set_limits(c.st, 0, 600), 0);
    out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    assert_true(list_len(out) >= 2);
    size_t total = 0;
    for (struct md_payload *p = out; p; p = p->next) {
        size_t plen;
        plain(p, &plen);
        assert_true(plen <= 600);
        j = parse(p);
        assert_string_equal(json_string_value(json_object_get(j, "internalHostname")), "agent-host");
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(j, "events"), k, v) total += json_array_size(v);
        json_decref(j);
    }
    assert_int_equal(total, 4);
    md_payload_list_free(out);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

/* Sketches go to /api/beta/sketches as protobuf (field 1 = repeated Sketch). */
static void test_sketches_protobuf_payload(void **state)
{
    struct ctx c;
    sink_open(&c, "http://x", NULL, "k");
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    struct md_sketch_series *sk = md_frame_add_sketch(&f);
    static const int32_t keys[] = {1338, 1400};
    static const uint32_t counts[] = {2, 1};
    sk->name = "latency";
    sk->key = key(&f, "h", NULL, 0);
    sk->count = 3;
    sk->min = 1;
    sk->max = 3;
    sk->sum = 5;
    sk->avg = 5.0 / 3;
    sk->timestamp = T0;
    sk->bin_keys = keys;
    sk->bin_counts = counts;
    sk->nbins = 2;
    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    assert_non_null(out);
    assert_null(out->next);
    assert_string_equal(out->url, "http://x/api/beta/sketches");
    assert_string_equal(out->content_type, "application/x-protobuf");
    assert_int_equal(out->nitems, 1);
    size_t len;
    const char *body = plain(out, &len); /* compressed like every Datadog payload */
    assert_true(len > 10);
    assert_int_equal((unsigned char)body[0], (1 << 3) | 2); /* sketches: field 1, bytes */
    assert_non_null(memmem(body, len, "latency", 7));
    md_payload_list_free(out);
    md_frame_free(&f);
    c.ops->destroy(c.st);
}

static void test_console_and_registry(void **state)
{
    assert_null(md_sink_lookup("nope"));
    assert_null(md_sink_lookup(NULL));
    const struct md_sink_ops *ops = md_sink_lookup("console");
    assert_non_null(ops);
    assert_int_equal(ops->transport, MD_TRANSPORT_STDOUT);
    assert_int_equal(md_sink_lookup("datadog")->transport, MD_TRANSPORT_HTTP);
    void *st = NULL;
    char err[128];
    assert_int_equal(ops->create(NULL, NULL, &st, err, sizeof err), 0);
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    const char *t[] = {"env:prod", "role:db"};
    add(&f, "app.req", key(&f, "web-1", t, 2), MD_SERIES_RATE, 10, 0.5);
    add(&f, "app.up", key(&f, "", NULL, 0), MD_SERIES_GAUGE, 0, 1);
    struct md_check_out *ck = md_frame_add_check(&f);
    *ck = (struct md_check_out){.name = "db.up", .host = "db-1", .message = "down", .status = 2,
                                .timestamp = T0};
    struct md_event_out *e = md_frame_add_event(&f);
    *e = (struct md_event_out){.title = "Deploy", .text = "v2\nshipped", .timestamp = T0};
    struct md_payload *out = NULL;
    assert_int_equal(ops->encode(st, &f, &out), 0);
    assert_non_null(out);
    assert_null(out->next);
    assert_null(out->url);
    assert_false(out->compress);
    assert_int_equal(out->nitems, 4);
    assert_int_equal(strlen(out->body), out->len);
    const char *want[] = {
        "=== 2023-11-14T22:13:20Z interval=10s series=2 sketches=0 events=1 checks=1\n",
        "2023-11-14T22:13:20Z app.req{env:prod,role:db} host=web-1 rate 0.5\n",
        "2023-11-14T22:13:20Z app.up{} host=- gauge 1\n",
        "2023-11-14T22:13:20Z event \"Deploy\"{} host=- alert=info priority=normal text=\"v2\\nshipped\"\n",
        "2023-11-14T22:13:20Z check db.up{} host=db-1 status=CRITICAL message=\"down\"\n",
    };
    const char *p = out->body;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t n = strlen(want[i]);
        if (strncmp(p, want[i], n) != 0)
            fail_msg("line %zu: want %s got %.*s", i, want[i], (int)strcspn(p, "\n"), p);
        p += n;
    }
    assert_string_equal(p, "");
    md_payload_list_free(out);
    md_frame_free(&f);
    ops->destroy(st);
}

/* Count "processor" lines of /proc/cpuinfo and read MemTotal, independently of the sink. */
static void host_facts(int *cpus, long long *mem_kb)
{
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "re");
    *cpus = 0;
    while (f && fgets(line, sizeof line, f))
        *cpus += strncmp(line, "processor", 9) == 0;
    fclose(f);
    f = fopen("/proc/meminfo", "re");
    *mem_kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %lld kB", mem_kb) == 1)
            break;
    fclose(f);
}

static json_t *find_series(json_t *series, const char *name)
{
    for (size_t i = 0; i < json_array_size(series); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(series, i), "metric")), name) == 0)
            return json_array_get(series, i);
    return NULL;
}

static bool has_running(const struct md_payload *p)
{
    size_t len;
    const char *b = plain(p, &len);
    return memmem(b, len, "datadog.agent.running", 21) != NULL;
}

/*
 * What the sink adds as the agent: the host metadata document on /intake/
 * with the first window (then not again for 30 minutes), and
 * datadog.agent.running in every window's first slice.
 */
static void test_agent_items(void **state)
{
    struct md_datadog_conf cfg = {.dd_url = "http://127.0.0.1:1/datadog", .api_key = "k3y-never-in-body"};
    const struct md_sink_ops *ops = md_sink_lookup("datadog");
    const char *tags[] = {"env:prod", "team:metrics"};
    const struct md_sink_env env = {.hostname = "agent-host", .tags = tags, .ntags = 2};
    void *st;
    char err[128];
    assert_int_equal(ops->create(&cfg, &env, &st, err, sizeof err), 0);
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    add(&f, "app.up", key(&f, "", NULL, 0), MD_SERIES_GAUGE, 0, 1);
    struct md_payload *out = NULL;
    assert_int_equal(ops->encode(st, &f, &out), 0);
    assert_int_equal(list_len(out), 2);
    assert_string_equal(out->url, "http://127.0.0.1:1/datadog/intake/");
    assert_string_equal(header(out, "DD-API-KEY"), "k3y-never-in-body");
    size_t ml;
    const char *mb = plain(out, &ml);
    assert_null(memmem(mb, ml, "k3y-never-in-body", 17));
    json_t *m = parse(out);
    assert_string_equal(json_string_value(json_object_get(m, "internalHostname")), "agent-host");
    assert_string_equal(json_string_value(json_object_get(m, "os")), "linux");
    json_t *ht = json_object_get(json_object_get(m, "host-tags"), "system");
    assert_tags(ht, tags, 2);
    int cpus;
    long long mem_kb;
    host_facts(&cpus, &mem_kb);
    json_t *ss = json_object_get(m, "systemStats");
    assert_int_equal(json_integer_value(json_object_get(ss, "cpuCores")), cpus);
    json_error_t je;
    json_t *g = json_loads(json_string_value(json_object_get(m, "gohai")), 0, &je);
    assert_non_null(g);
    char want[64];
    snprintf(want, sizeof want, "%d", cpus);
    assert_string_equal(json_string_value(json_object_get(json_object_get(g, "cpu"), "cpu_logical_processors")), want);
    int cores = atoi(json_string_value(json_object_get(json_object_get(g, "cpu"), "cpu_cores")));
    assert_true(cores >= 1 && cores <= cpus);
    snprintf(want, sizeof want, "%lldkB", mem_kb);
    assert_string_equal(json_string_value(json_object_get(json_object_get(g, "memory"), "total")), want);
    assert_string_equal(json_string_value(json_object_get(json_object_get(g, "platform"), "kernel_name")), "Linux");
    json_decref(g);
    json_decref(m);
    /* the series of the window, and datadog.agent.running */
    assert_string_equal(out->next->url, "http://127.0.0.1:1/datadog/api/v1/series");
    json_t *j = parse(out->next);
    json_t *r = find_series(json_object_get(j, "series"), "datadog.agent.running");
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(json_object_get(r, "points"), 0), 0)), T0);
    assert_true(json_number_value(json_array_get(json_array_get(json_object_get(r, "points"), 0), 1)) == 1);
    assert_string_equal(json_string_value(json_object_get(r, "host")), "agent-host");
    assert_string_equal(json_string_value(json_object_get(r, "type")), "gauge");
    assert_non_null(find_series(json_object_get(j, "series"), "app.up"));
    json_decref(j);
    md_payload_list_free(out);
    /* another frame of the same window: no second running */
    out = NULL;
    assert_int_equal(ops->encode(st, &f, &out), 0);
    assert_int_equal(list_len(out), 1);
    assert_false(has_running(out));
    md_payload_list_free(out);
    /* the next window: running again, no metadata before 30 minutes; a later slice: none */
    f.start += 10;
    out = NULL;
    assert_int_equal(ops->encode(st, &f, &out), 0);
    assert_int_equal(list_len(out), 1);
    assert_true(has_running(out));
    md_payload_list_free(out);
    out = NULL;
    f.continued = true;
    f.start += 10;
    assert_int_equal(ops->encode(st, &f, &out), 0);
    assert_int_equal(list_len(out), 1);
    assert_false(has_running(out));
    md_payload_list_free(out);
    md_frame_free(&f);
    ops->destroy(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_shape),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_base_url),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_compressed_limit),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_sketches_protobuf_payload),
        cmocka_unit_test(test_agent_items),
        cmocka_unit_test(test_console_and_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
