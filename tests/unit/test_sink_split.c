/*
 * test_sink_split.c: the 413 cut of every payload kind the sinks write
 * (sink.h, split): Datadog v2 series, sketches, events (of any number of
 * source types), service checks, and remote write; the host metadata and a single item are never cut.
 * Each body is decompressed as the forwarder does, cut by the sink's own
 * split, and both halves read back: every item once, in order, in a whole
 * document.
 */
#include <jansson.h>
#include <snappy-c.h>

#include "prometheus_rw.h"
#include "sink_pb_read.h"

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

/* Cut p in two: the halves must hold want_a and want_b items. */
static void cut_ok(const struct md_sink_ops *ops, const struct md_payload *p, struct md_buf *a,
                   struct md_buf *b, size_t want_a, size_t want_b)
{
    size_t na, nb;
    assert_int_equal(cut(ops, p, a, &na, b, &nb), 0);
    assert_int_equal(na, want_a);
    assert_int_equal(nb, want_b);
}

/* A frame of n series named `prefix`0 .. `prefix`n-1 on host h, series i of value i. */
static void numbered_frame(struct md_frame *f, const char *prefix, int n, enum md_series_type t,
                           uint32_t interval)
{
    md_frame_init(f, T0, 10);
    char name[32];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s%d", prefix, i);
        add(f, name, NULL, key(f, "h", NULL, 0), t, interval, i);
    }
}

static void test_split_v2_series(void **state)
{
    (void)state;
    struct ctx c;
    sink_open(&c, NULL, MD_V2_ON);
    struct md_frame f;
    numbered_frame(&f, "s.", 5, MD_SERIES_COUNT, 10);
    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    struct md_buf a, b;
    size_t na, nb;
    cut_ok(c.ops, out, &a, &b, 2, 3);
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
    cut_ok(c.ops, out, &a, &b, 1, 2);
    /* The halves are the whole: their items plus one metadata each. */
    size_t plen;
    free(inflated(out, &plen));
    assert_int_equal(a.len + b.len, plen + 2);
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
    char *sb = inflated(out, &plen);
    assert_non_null(memmem(sb, plen, "lat\xef\xbf\xbdx", 6));
    assert_non_null(memmem(sb, plen, "h\xef\xbf\xbd", 4));
    assert_non_null(memmem(sb, plen, "t:\xef\xbf\xbd", 5));
    assert_null(memchr(sb, 0xff, plen));
    free(sb);
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
    cut_ok(c.ops, events, &a, &b, 2, 3);
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

/*
 * Events of 300 source types (one event each) in one body: cut like any
 * other, every group whole in one half or split across both, every event
 * once and in order. The events envelope has no limit on its groups.
 */
static void test_split_events_many_groups(void **state)
{
    (void)state;
    enum { NG = 300 };
    struct ctx c;
    sink_open(&c, "http://x", MD_V2_AUTO);
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    for (int i = 0; i < NG; i++) {
        char name[16];
        snprintf(name, sizeof name, "src%03d", i);
        const char *n = md_arena_strndup(&f.arena, name, strlen(name));
        *md_frame_add_event(&f) = (struct md_event_out){.title = n, .text = "x",
                                                        .source_type_name = n, .timestamp = T0};
    }
    struct md_payload *out = NULL;
    assert_int_equal(c.ops->encode(c.st, &f, &out), 0);
    assert_string_equal(out->url, "http://x/intake/");
    assert_int_equal(out->nitems, NG);
    struct md_buf a, b;
    cut_ok(c.ops, out, &a, &b, NG / 2, NG - NG / 2);
    json_error_t e;
    json_t *half[2] = {json_loadb(a.p, a.len, 0, &e), json_loadb(b.p, b.len, 0, &e)};
    int next = 0;
    for (int h = 0; h < 2; h++) {
        assert_non_null(half[h]);
        json_t *ev = json_object_get(half[h], "events");
        assert_int_equal(json_object_size(ev), h ? NG - NG / 2 : NG / 2);
        const char *k;
        json_t *arr;
        json_object_foreach(ev, k, arr) { /* jansson keeps the document's key order */
            char want[16];
            snprintf(want, sizeof want, "src%03d", next++);
            assert_string_equal(k, want);
            assert_int_equal(json_array_size(arr), 1);
            assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0),
                                                                  "msg_title")), want);
        }
        json_decref(half[h]);
    }
    assert_int_equal(next, NG);
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
    numbered_frame(&f, "rw_", 7, MD_SERIES_GAUGE, 0);
    struct md_payload *out = NULL;
    assert_int_equal(ops->encode(st, &f, &out), 0);
    assert_int_equal(out->nitems, 7);
    struct md_buf a, b;
    cut_ok(ops, out, &a, &b, 3, 4);
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
        cmocka_unit_test(test_split_v2_series),
        cmocka_unit_test(test_split_sketches),
        cmocka_unit_test(test_split_events_and_checks),
        cmocka_unit_test(test_split_events_many_groups),
        cmocka_unit_test(test_split_refuses_metadata),
        cmocka_unit_test(test_split_remote_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
