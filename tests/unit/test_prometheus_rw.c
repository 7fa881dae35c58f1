/*
 * Unit tests for the Prometheus remote write sink: the body is
 * snappy-uncompressed with libsnappy and the WriteRequest read back with the
 * small protobuf reader of pb_read.h (independent of the encoder), then
 * names, sorted labels, values, timestamps and headers are checked. The
 * round trip through real receivers is tests/e2e/test_prometheus_rw.py.
 */
#include <errno.h>
#include <setjmp.h>
#include <snappy-c.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "meterd/frame.h"
#include "meterd/sink.h"
#include "pb_read.h"
#include "prometheus_rw.h"
#include "sink_payload.h"

/* Next field: its number, wire type and (for length-delimited) a sub-reader. */
static unsigned rd_field(struct rd *r, unsigned *wire, struct rd *sub)
{
    uint64_t tag = rd_varint(r);
    *wire = tag & 7;
    if (*wire == 2)
        *sub = rd_sub(r);
    assert_false(r->err);
    return (unsigned)(tag >> 3);
}

struct ts {
    char labels[16][2][96];
    int nlabels;
    double value;
    int64_t ts;
};

static int decode(const struct md_payload *p, struct ts *out, int max)
{
    size_t n = 0;
    assert_int_equal(snappy_uncompressed_length(p->body, p->len, &n), SNAPPY_OK);
    char *raw = malloc(n + 1);
    assert_int_equal(snappy_uncompress(p->body, p->len, raw, &n), SNAPPY_OK);
    struct rd r = {(uint8_t *)raw, (uint8_t *)raw + n, false}, tsr, sub, sub2;
    int count = 0;
    unsigned w;
    while (r.p < r.end) {
        assert_int_equal(rd_field(&r, &w, &tsr), 1);
        assert_true(count < max);
        struct ts *t = &out[count++];
        memset(t, 0, sizeof *t);
        while (tsr.p < tsr.end) {
            unsigned f = rd_field(&tsr, &w, &sub);
            if (f == 1) {
                while (sub.p < sub.end) {
                    unsigned lf = rd_field(&sub, &w, &sub2);
                    snprintf(t->labels[t->nlabels][lf - 1], 96, "%.*s", (int)(sub2.end - sub2.p),
                             sub2.p);
                }
                t->nlabels++;
            } else {
                assert_int_equal(f, 2);
                while (sub.p < sub.end) {
                    unsigned sf = rd_field(&sub, &w, &sub2);
                    if (sf == 1) {
                        assert_int_equal(w, 1);
                        t->value = rd_double(&sub);
                    } else {
                        t->ts = (int64_t)rd_varint(&sub);
                    }
                }
                assert_false(sub.err);
            }
        }
    }
    free(raw);
    return count;
}

static void test_names_labels_values(void **state)
{
    struct md_prw_conf cfg = {.prometheus_remote_write_url = "http://127.0.0.1:9090/api/v1/write",
                              .prometheus_remote_write_username = "u",
                              .prometheus_remote_write_password = "p@ss"};
    const struct md_sink_ops *ops = md_sink_lookup("prometheus_rw");
    assert_non_null(ops);
    void *st;
    char err[128];
    const struct md_sink_env env = {.hostname = "agent-host"};
    assert_int_equal(ops->create(&cfg, &env, &st, err, sizeof err), 0);
    assert_true(ops->wanted(&cfg)); /* a URL asks for the sink */
    struct md_frame f;
    md_frame_init(&f, T0, 10);
    const char *tags[] = {"Weird-Key:Val/ue:x", "__meta:x", "9lives:cat", "bare", "empty:",
                          "env:a", "env:b", "host:from-tag", "bad:\xff"};
    const struct md_series_key *k = key(&f, "web-1", tags, 9);
    assert_int_equal(md_frame_add(&f, "app.req-s.95percentile", 22, NULL, k, MD_SERIES_GAUGE, 0, T0,
                                  -1e-9), 0);
    assert_int_equal(md_frame_add(&f, "2xx:count", 9, NULL, key(&f, "", NULL, 0), MD_SERIES_RATE, 10,
                                  T0, 42.25), 0);
    struct md_payload *out = NULL;
    assert_int_equal(ops->encode(st, &f, &out), 0);
    assert_non_null(out);
    assert_null(out->next);
    assert_string_equal(out->url, "http://127.0.0.1:9090/api/v1/write");
    assert_false(out->compress);
    assert_string_equal(header(out, "Content-Encoding"), "snappy");
    assert_string_equal(header(out, "Content-Type"), "application/x-protobuf");
    assert_string_equal(header(out, "X-Prometheus-Remote-Write-Version"), "0.1.0");
    assert_string_equal(header(out, "Authorization"), "Basic dTpwQHNz"); /* base64("u:p@ss") */
    struct ts ts[4];
    assert_int_equal(decode(out, ts, 4), 2);
    const char *want[][2] = {{"Weird_Key", "Val/ue:x"}, {"_9lives", "cat"}, {"__name__",
                             "app_req_s_95percentile"}, {"bad", "\xef\xbf\xbd"}, {"bare", "true"},
                             {"env", "b"}, {"host", "web-1"}, {"tag__meta", "x"}};
    assert_int_equal(ts[0].nlabels, 8);
    for (int i = 0; i < 8; i++) {
        assert_string_equal(ts[0].labels[i][0], want[i][0]); /* sorted by name */
        assert_string_equal(ts[0].labels[i][1], want[i][1]);
    }
    assert_true(ts[0].value == -1e-9);
    assert_int_equal(ts[0].ts, (int64_t)T0 * 1000);
    assert_int_equal(ts[1].nlabels, 1);
    assert_string_equal(ts[1].labels[0][0], "__name__");
    assert_string_equal(ts[1].labels[0][1], "_2xx:count");
    assert_true(ts[1].value == 42.25);
    md_payload_list_free(out);
    md_frame_free(&f);
    ops->destroy(st);
}

static void test_auth_choices(void **state)
{
    char h[256];
    struct md_prw_conf c = {0};
    assert_int_equal(md_prw_auth_header(&c, h, sizeof h), 0);
    assert_string_equal(h, "");
    c.prometheus_remote_write_username = "user";
    c.prometheus_remote_write_password = "pw";
    c.prometheus_remote_write_bearer_token = "tok123";
    assert_int_equal(md_prw_auth_header(&c, h, sizeof h), 0);
    assert_string_equal(h, "Bearer tok123"); /* the token wins */
    c.prometheus_remote_write_bearer_token = "";
    assert_int_equal(md_prw_auth_header(&c, h, sizeof h), 0);
    assert_string_equal(h, "Basic dXNlcjpwdw==");
    struct md_prw_conf none = {0};
    const struct md_sink_ops *ops = md_sink_lookup("prometheus_rw");
    void *st;
    char err[128];
    assert_false(ops->wanted(&none));
    assert_int_not_equal(ops->create(&none, NULL, &st, err, sizeof err), 0); /* no URL */
    assert_non_null(strstr(err, "prometheus_remote_write_url"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_labels_values),
        cmocka_unit_test(test_auth_choices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
