/*
 * test_sketch_pb.c: the SketchPayload protobuf encoder.
 *
 * A frame with real DDSketch bins is encoded and read back field by field
 * with the small protobuf reader of pb_read.h (zigzag and packed fields
 * decoded here). When protoc is installed, the same bytes are also decoded by
 * protoc itself, once against a schema with the agent-payload field numbers
 * (typed decode) and once with --decode_raw (field numbers only), so the
 * encoder is not only checked against our own reading of the format.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "ddsketch.h"
#include "meterd/frame.h"
#include "pb_read.h"
#include "sketch_pb.h"

/* Field-number trace of (depth, field), to compare with protoc --decode_raw. */
struct trace {
    int depth[256], field[256];
    int n;
};

static void trace_add(struct trace *t, int depth, int field)
{
    assert_true(t->n < 256);
    t->depth[t->n] = depth;
    t->field[t->n++] = field;
}

#define MAXB 64
struct dog {
    int64_t ts, cnt;
    double min, max, avg, sum;
    int32_t k[MAXB];
    uint32_t n[MAXB];
    int nk, nn;
};

struct sk {
    char metric[64], host[64], tags[4][64];
    int ntags, ndogs;
    struct dog dog;
};

struct payload {
    struct sk s[4];
    int ns, nmeta;
};

static void dec_dog(struct rd *r, struct dog *d, struct trace *t)
{
    memset(d, 0, sizeof *d);
    while (r->p < r->end && !r->err) {
        uint64_t tag = rd_varint(r);
        int f = (int)(tag >> 3), w = (int)(tag & 7);
        trace_add(t, 2, f);
        if (f == 1 && w == 0) {
            d->ts = (int64_t)rd_varint(r);
        } else if (f == 2 && w == 0) {
            d->cnt = (int64_t)rd_varint(r);
        } else if (f >= 3 && f <= 6 && w == 1) {
            double v = rd_double(r);
            *(f == 3 ? &d->min : f == 4 ? &d->max : f == 5 ? &d->avg : &d->sum) = v;
        } else if (f == 7 && w == 2) { /* packed sint32 */
            struct rd s = rd_sub(r);
            while (s.p < s.end && !s.err) {
                uint32_t z = (uint32_t)rd_varint(&s);
                assert_true(d->nk < MAXB);
                d->k[d->nk++] = (int32_t)((z >> 1) ^ -(z & 1));
            }
            assert_false(s.err);
        } else if (f == 8 && w == 2) { /* packed uint32 */
            struct rd s = rd_sub(r);
            while (s.p < s.end && !s.err) {
                assert_true(d->nn < MAXB);
                d->n[d->nn++] = (uint32_t)rd_varint(&s);
            }
            assert_false(s.err);
        } else {
            fail_msg("unexpected Dogsketch field %d wire %d", f, w);
        }
    }
    assert_false(r->err);
}

static void dec_sketch(struct rd *r, struct sk *s, struct trace *t)
{
    memset(s, 0, sizeof *s);
    while (r->p < r->end && !r->err) {
        uint64_t tag = rd_varint(r);
        int f = (int)(tag >> 3), w = (int)(tag & 7);
        trace_add(t, 1, f);
        assert_int_equal(w, 2);
        if (f == 1) {
            rd_str(r, s->metric, sizeof s->metric);
        } else if (f == 2) {
            rd_str(r, s->host, sizeof s->host);
        } else if (f == 4) {
            assert_true(s->ntags < 4);
            rd_str(r, s->tags[s->ntags++], sizeof s->tags[0]);
        } else if (f == 7) {
            struct rd d = rd_sub(r);
            dec_dog(&d, &s->dog, t);
            s->ndogs++;
        } else {
            fail_msg("unexpected Sketch field %d", f);
        }
    }
    assert_false(r->err);
}

static void dec_payload(const char *buf, size_t len, struct payload *p, struct trace *t)
{
    struct rd r = {(const uint8_t *)buf, (const uint8_t *)buf + len, false};
    memset(p, 0, sizeof *p);
    if (t)
        t->n = 0;
    struct trace scratch;
    if (!t)
        t = &scratch, t->n = 0;
    while (r.p < r.end && !r.err) {
        uint64_t tag = rd_varint(&r);
        int f = (int)(tag >> 3), w = (int)(tag & 7);
        trace_add(t, 0, f);
        assert_int_equal(w, 2);
        struct rd sub = rd_sub(&r);
        assert_false(r.err);
        if (f == 1) {
            assert_true(p->ns < 4);
            dec_sketch(&sub, &p->s[p->ns++], t);
        } else if (f == 2) {
            assert_true(sub.p == sub.end); /* CommonMetadata: empty */
            p->nmeta++;
        } else {
            fail_msg("unexpected SketchPayload field %d", f);
        }
    }
    assert_false(r.err);
}

/* ---- the frame under test ---- */

struct fixture {
    struct md_frame f;
    struct md_ddsketch d[2];
};

static void fill(struct md_sketch_series *out, const char *name, const struct md_series_key *key,
                 int64_t ts, const struct md_ddsketch *d)
{
    out->name = name;
    out->key = key;
    out->timestamp = ts;
    out->count = (double)d->count;
    out->min = d->min;
    out->max = d->max;
    out->sum = d->sum;
    out->avg = d->avg;
    out->nbins = md_ddsketch_bins(d, &out->bin_keys, &out->bin_counts);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    md_frame_init(&fx->f, 1700000000, 10);
    md_ddsketch_init(&fx->d[0]);
    md_ddsketch_init(&fx->d[1]);
    /* Negative, zero, small and large values; a bin above 65535 (the agent's
     * old uint16 width) and a key needing a multi-byte zigzag varint. */
    assert_int_equal(md_ddsketch_add(&fx->d[0], -3.5, 2), 0);
    assert_int_equal(md_ddsketch_add(&fx->d[0], 0.0, 1), 0);
    assert_int_equal(md_ddsketch_add(&fx->d[0], 1.0, 2), 0);
    assert_int_equal(md_ddsketch_add(&fx->d[0], 250.0, 70000), 0);
    /* min 0 and an empty host: fields proto3 leaves out. */
    assert_int_equal(md_ddsketch_add(&fx->d[1], 0.0, 1), 0);
    assert_int_equal(md_ddsketch_add(&fx->d[1], 5.0, 1), 0);

    const struct md_str tags[] = {{"env:prod", 8}, {"svc:api", 7}};
    const struct md_series_key *k0 = md_frame_key(&fx->f, "web-1", 5, tags, 2);
    const struct md_series_key *k1 = md_frame_key(&fx->f, "", 0, NULL, 0);
    assert_non_null(k0);
    assert_non_null(k1);
    struct md_sketch_series *s0 = md_frame_add_sketch(&fx->f);
    assert_non_null(s0);
    fill(s0, "app.latency", k0, 1700000000, &fx->d[0]);
    struct md_sketch_series *s1 = md_frame_add_sketch(&fx->f);
    assert_non_null(s1);
    fill(s1, "queue.depth", k1, 1700000010, &fx->d[1]);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    md_frame_free(&fx->f);
    md_ddsketch_free(&fx->d[0]);
    md_ddsketch_free(&fx->d[1]);
    free(fx);
    return 0;
}

static void check_sketch(const struct sk *got, const struct md_sketch_series *want)
{
    assert_string_equal(got->metric, want->name);
    assert_string_equal(got->host, want->key->host);
    assert_int_equal(got->ntags, want->key->ntags);
    for (int i = 0; i < got->ntags; i++)
        assert_string_equal(got->tags[i], want->key->tags[i]);
    assert_int_equal(got->ndogs, 1);
    const struct dog *d = &got->dog;
    assert_int_equal(d->ts, want->timestamp);
    assert_int_equal(d->cnt, (int64_t)want->count);
    assert_true(d->min == want->min);
    assert_true(d->max == want->max);
    assert_true(d->avg == want->avg);
    assert_true(d->sum == want->sum);
    assert_int_equal(d->nk, want->nbins);
    assert_int_equal(d->nn, want->nbins);
    for (uint32_t i = 0; i < want->nbins; i++) {
        assert_int_equal(d->k[i], want->bin_keys[i]);
        assert_int_equal(d->n[i], want->bin_counts[i]);
    }
}

static void test_encode_decode(void **state)
{
    struct fixture *fx = *state;
    struct md_buf b;
    md_buf_init(&b);
    size_t done = 99;
    assert_int_equal(md_sketch_pb_encode(&fx->f, 0, 100, &b, &done), 0);
    assert_int_equal(done, 2);
    assert_int_equal(b.len, MD_SKETCH_PB_OVERHEAD + md_sketch_pb_item_size(&fx->f.sketches[0]) +
                                md_sketch_pb_item_size(&fx->f.sketches[1]));
    print_message("payload %zu bytes: sketch 0 (%u bins, 2 tags) %zu bytes, sketch 1 (%u bins) "
                  "%zu bytes\n", b.len, fx->f.sketches[0].nbins,
                  md_sketch_pb_item_size(&fx->f.sketches[0]), fx->f.sketches[1].nbins,
                  md_sketch_pb_item_size(&fx->f.sketches[1]));

    struct payload p;
    dec_payload(b.p, b.len, &p, NULL);
    assert_int_equal(p.ns, 2);
    assert_int_equal(p.nmeta, 1);
    check_sketch(&p.s[0], &fx->f.sketches[0]);
    check_sketch(&p.s[1], &fx->f.sketches[1]);
    /* The data itself, not just the round trip. */
    assert_int_equal(p.s[0].dog.k[0], -md_ddsketch_key(3.5));
    assert_int_equal(p.s[0].dog.k[1], 0);
    assert_int_equal(p.s[0].dog.n[3], 70000);
    assert_int_equal(p.s[0].dog.cnt, 70005);
    assert_string_equal(p.s[1].host, "");
    assert_true(p.s[1].dog.min == 0);
    md_buf_free(&b);
}

static void test_split(void **state)
{
    struct fixture *fx = *state;
    struct md_buf b;
    md_buf_init(&b);
    size_t first = 0, done = 0;
    int payloads = 0;
    while (first < fx->f.nsketches) {
        md_buf_reset(&b);
        assert_int_equal(md_sketch_pb_encode(&fx->f, first, 1, &b, &done), 0);
        assert_int_equal(done, 1);
        assert_int_equal(b.len, MD_SKETCH_PB_OVERHEAD + md_sketch_pb_item_size(&fx->f.sketches[first]));
        struct payload p;
        dec_payload(b.p, b.len, &p, NULL);
        assert_int_equal(p.ns, 1);
        assert_int_equal(p.nmeta, 1);
        check_sketch(&p.s[0], &fx->f.sketches[first]);
        first += done;
        payloads++;
    }
    assert_int_equal(payloads, 2);
    assert_int_equal(md_sketch_pb_encode(&fx->f, 2, 1, &b, &done), -EINVAL);
    assert_int_equal(done, 0);
    assert_int_equal(md_sketch_pb_encode(&fx->f, 0, 0, &b, &done), -EINVAL);
    md_buf_free(&b);
}

/* ---- protoc cross-checks ---- */

/* The messages we send, with agent-payload's field numbers and types. */
static const char schema[] =
    "syntax = \"proto3\";\n"
    "package datadog.agentpayload;\n"
    "message CommonMetadata { string agent_version = 1; string timezone = 2;\n"
    "  double current_epoch = 3; string internal_ip = 4; string public_ip = 5;\n"
    "  string api_key = 6; }\n"
    "message SketchPayload {\n"
    "  message Sketch {\n"
    "    message Dogsketch { int64 ts = 1; int64 cnt = 2; double min = 3; double max = 4;\n"
    "      double avg = 5; double sum = 6; repeated sint32 k = 7; repeated uint32 n = 8; }\n"
    "    string metric = 1; string host = 2; repeated string tags = 4;\n"
    "    repeated Dogsketch dogsketches = 7;\n"
    "  }\n"
    "  repeated Sketch sketches = 1;\n"
    "  CommonMetadata metadata = 2;\n"
    "}\n";

static bool have_protoc(void)
{
    return system("protoc --version >/dev/null 2>&1") == 0;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* Run protoc on the payload; its stdout is returned (malloc'd). */
static char *run_protoc(const char *dir, const char *args)
{
    char cmd[1024], out[300];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(cmd, sizeof cmd, "cd %s && protoc %s < payload.bin > out.txt 2> err.txt", dir, args);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "cat %s/err.txt", dir);
        (void)!system(cmd);
    }
    assert_int_equal(rc, 0);
    FILE *fp = fopen(out, "rb");
    assert_non_null(fp);
    char *text = calloc(1, 1 << 16);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 16) - 1, fp);
    text[n] = '\0';
    fclose(fp);
    return text;
}

static void expect_line(char **cur, const char *want)
{
    char *nl = strchr(*cur, '\n');
    assert_non_null(nl);
    *nl = '\0';
    char *line = *cur;
    while (*line == ' ')
        line++;
    assert_string_equal(line, want);
    *cur = nl + 1;
}

/* A double line: compared by value, as protoc picks its own digits. */
static void expect_double(char **cur, const char *name, double want)
{
    if (want == 0)
        return; /* proto3 omits zero */
    char *nl = strchr(*cur, '\n');
    assert_non_null(nl);
    *nl = '\0';
    char *line = *cur;
    while (*line == ' ')
        line++;
    size_t n = strlen(name);
    assert_true(strncmp(line, name, n) == 0 && line[n] == ':');
    assert_true(strtod(line + n + 1, NULL) == want);
    *cur = nl + 1;
}

static void expect_sketch_text(char **cur, const struct md_sketch_series *s)
{
    char l[128];
    expect_line(cur, "sketches {");
    snprintf(l, sizeof l, "metric: \"%s\"", s->name);
    expect_line(cur, l);
    if (s->key->host[0]) {
        snprintf(l, sizeof l, "host: \"%s\"", s->key->host);
        expect_line(cur, l);
    }
    for (uint32_t i = 0; i < s->key->ntags; i++) {
        snprintf(l, sizeof l, "tags: \"%s\"", s->key->tags[i]);
        expect_line(cur, l);
    }
    expect_line(cur, "dogsketches {");
    snprintf(l, sizeof l, "ts: %lld", (long long)s->timestamp);
    expect_line(cur, l);
    snprintf(l, sizeof l, "cnt: %lld", (long long)s->count);
    expect_line(cur, l);
    expect_double(cur, "min", s->min);
    expect_double(cur, "max", s->max);
    expect_double(cur, "avg", s->avg);
    expect_double(cur, "sum", s->sum);
    for (uint32_t i = 0; i < s->nbins; i++) {
        snprintf(l, sizeof l, "k: %d", s->bin_keys[i]);
        expect_line(cur, l);
    }
    for (uint32_t i = 0; i < s->nbins; i++) {
        snprintf(l, sizeof l, "n: %u", s->bin_counts[i]);
        expect_line(cur, l);
    }
    expect_line(cur, "}");
    expect_line(cur, "}");
}

static void test_protoc(void **state)
{
    struct fixture *fx = *state;
    if (!have_protoc()) {
        print_message("protoc not installed (apt-get install protobuf-compiler): skipped\n");
        skip();
    }
    char dir[] = "/tmp/md-sketch-pb-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[300];
    struct md_buf b;
    md_buf_init(&b);
    size_t done;
    assert_int_equal(md_sketch_pb_encode(&fx->f, 0, 100, &b, &done), 0);
    snprintf(path, sizeof path, "%s/payload.bin", dir);
    write_file(path, b.p, b.len);
    snprintf(path, sizeof path, "%s/agent_payload.proto", dir);
    write_file(path, schema, sizeof schema - 1);

    /* Typed decode against the agent-payload field numbers. */
    char *text = run_protoc(dir, "--proto_path=. --decode=datadog.agentpayload.SketchPayload "
                                 "agent_payload.proto");
    char *cur = text;
    expect_sketch_text(&cur, &fx->f.sketches[0]);
    expect_sketch_text(&cur, &fx->f.sketches[1]);
    expect_line(&cur, "metadata {");
    expect_line(&cur, "}");
    assert_string_equal(cur, "");
    free(text);

    /* Schema-less decode: the field numbers at the three message levels must
     * match what our reader walked. Packed bins may print as nested junk, so
     * only depths 0-2 are compared. */
    struct trace want, got = {.n = 0};
    struct payload p;
    dec_payload(b.p, b.len, &p, &want);
    text = run_protoc(dir, "--decode_raw");
    int depth = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        while (*line == ' ')
            line++;
        if (strcmp(line, "}") == 0) {
            depth--;
            continue;
        }
        int field = atoi(line);
        size_t len = strlen(line);
        if (depth <= 2)
            trace_add(&got, depth, field);
        if (len >= 2 && strcmp(line + len - 2, " {") == 0)
            depth++;
    }
    assert_int_equal(depth, 0);
    assert_int_equal(got.n, want.n);
    for (int i = 0; i < want.n; i++) {
        assert_int_equal(got.depth[i], want.depth[i]);
        assert_int_equal(got.field[i], want.field[i]);
    }
    free(text);

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    md_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_encode_decode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protoc, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
