/*
 * Unit tests for the DogStatsD parser: grammar, strict numbers, the tag and
 * value iterators, datagram framing, events, service checks, and inputs
 * meant to break a careless parser (NUL bytes, 8 KB of ':', 10k tags).
 * The protocol corpus (tests/corpus) checks the same code end to end
 * against the reference agent; these tests pin the C API itself.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "meterd/parse.h"

static const struct md_parse_opts dflt = {.no_aggregation_pipeline = true};

/* Parse a C string through a private mutable copy (the parser writes in place). */
static enum md_msg_kind parse_o(const char *s, size_t len, const struct md_parse_opts *o,
                                struct md_msg *m)
{
    static char buf[1 << 20];
    assert_true(len <= sizeof buf);
    memcpy(buf, s, len);
    return md_parse_line(buf, len, o, m);
}

static enum md_msg_kind parse(const char *s, struct md_msg *m)
{
    return parse_o(s, strlen(s), &dflt, m);
}

static void assert_str(struct md_str got, const char *want)
{
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.p, want, got.len);
}

static void assert_rejects(const char *s, enum md_parse_error why)
{
    struct md_msg m;
    enum md_msg_kind k = parse(s, &m);
    if (k != MD_MSG_ERROR || m.error != why)
        fail_msg("'%s': want %s, got kind %d error %s", s, md_parse_error_name(why), k,
                 md_parse_error_name(k == MD_MSG_ERROR ? m.error : MD_PERR_NONE));
}

/* Collect tags into "a|b|c" for compact comparisons. */
static const char *tags_joined(struct md_str tags)
{
    static char out[4096];
    size_t n = 0;
    struct md_tag_iter it;
    struct md_str t;
    bool first = true;
    md_tag_iter_init(&it, tags);
    while (md_tag_iter_next(&it, &t)) {
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%.*s", first ? "" : "|", (int)t.len, t.p);
        first = false;
    }
    out[n] = 0;
    return out;
}

/* --- grammar -------------------------------------------------------------- */

static void test_types(void **st)
{
    static const struct {
        const char *in;
        enum md_mtype t;
    } ok[] = {{"a:1|c", MD_COUNTER},   {"a:1|g", MD_GAUGE}, {"a:1|ms", MD_TIMER},
              {"a:1|h", MD_HISTOGRAM}, {"a:x|s", MD_SET},   {"a:1|d", MD_DISTRIBUTION}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct md_msg m;
        assert_int_equal(parse(ok[i].in, &m), MD_MSG_METRIC);
        assert_int_equal(m.u.metric.type, ok[i].t);
        assert_str(m.u.metric.name, "a");
        assert_true(m.u.metric.sample_rate == 1.0);
        assert_int_equal(m.u.metric.ntags, 0);
    }
    assert_rejects("m:1|C", MD_PERR_BAD_TYPE);
    assert_rejects("m:1| c", MD_PERR_BAD_TYPE);
    assert_rejects("m:1|c\r", MD_PERR_BAD_TYPE);
    assert_rejects("m:1||c", MD_PERR_BAD_TYPE);
    assert_rejects("m:1|", MD_PERR_BAD_TYPE);
    assert_rejects("m:1|mss", MD_PERR_BAD_TYPE);
}

static void test_malformed(void **st)
{
    assert_rejects("daemon:666", MD_PERR_NO_PIPE);
    assert_rejects("", MD_PERR_NO_PIPE);
    assert_rejects("abc666|g", MD_PERR_NO_COLON);
    assert_rejects(":666|g", MD_PERR_EMPTY_NAME);
    assert_rejects("daemon:|g", MD_PERR_EMPTY_VALUE);
    assert_rejects("m:1 |c", MD_PERR_BAD_VALUE);
    assert_rejects("t:0,345345|ms", MD_PERR_BAD_VALUE);
    assert_rejects("gorets:1|c:2|ms", MD_PERR_BAD_TYPE);
    assert_rejects("m::|c", MD_PERR_EMPTY_VALUE);
    assert_rejects("m:1:x:2|h", MD_PERR_BAD_VALUE);
    assert_rejects("m:1|c|@", MD_PERR_BAD_SAMPLE_RATE);
    assert_rejects("m:1|c|@abc", MD_PERR_BAD_SAMPLE_RATE);
    assert_rejects("m:1|c|@0.5|@x", MD_PERR_BAD_SAMPLE_RATE);
}

static void test_fields(void **st)
{
    struct md_msg m;
    assert_int_equal(parse("metric:1234|g|#thereisatag|T1657100540|@0.21|x:unknown|", &m),
                     MD_MSG_METRIC);
    struct md_sample *s = &m.u.metric;
    assert_true(s->sample_rate == 0.21);
    assert_true(s->flags & MD_SAMPLE_HAS_TS);
    assert_int_equal(s->timestamp, 1657100540);
    assert_string_equal(tags_joined(s->tags), "thereisatag");
    assert_true(s->value == 1234);

    /* last wins, for rates and for the tag list */
    assert_int_equal(parse("c:1|c|@0.5|@0.25|#a,b|#c", &m), MD_MSG_METRIC);
    assert_true(m.u.metric.sample_rate == 0.25);
    assert_string_equal(tags_joined(m.u.metric.tags), "c");
    assert_int_equal(m.u.metric.ntags, 1);

    /* rates are stored as sent; clamping is the aggregator's call */
    assert_int_equal(parse("c:1|c|@0", &m), MD_MSG_METRIC);
    assert_true(m.u.metric.sample_rate == 0.0);
    assert_int_equal(parse("c:1|c|@-0.5", &m), MD_MSG_METRIC);
    assert_true(m.u.metric.sample_rate == -0.5);
    assert_int_equal(parse("c:1|c|@2e-1", &m), MD_MSG_METRIC);
    assert_true(m.u.metric.sample_rate == 0.2);
}

static void test_timestamps(void **st)
{
    struct md_msg m;
    assert_rejects("m:1|g|TABCD", MD_PERR_BAD_TIMESTAMP);
    assert_rejects("m:1|g|T", MD_PERR_BAD_TIMESTAMP);
    assert_rejects("m:1|g|T-102348932", MD_PERR_BAD_TIMESTAMP);
    assert_rejects("m:1|g|T0", MD_PERR_BAD_TIMESTAMP);
    assert_rejects("m:1|g|T1657100430.5", MD_PERR_BAD_TIMESTAMP);
    assert_rejects("m:1|g|T99999999999999999999", MD_PERR_BAD_TIMESTAMP);
    assert_int_equal(parse("m:1|g|T+5", &m), MD_MSG_METRIC);
    assert_int_equal(m.u.metric.timestamp, 5);

    /* no_aggregation_pipeline off: T is skipped unparsed, even when bad */
    struct md_parse_opts o = {.no_aggregation_pipeline = false};
    const char *in = "m:1|g|#t|TABCD";
    assert_int_equal(parse_o(in, strlen(in), &o, &m), MD_MSG_METRIC);
    assert_false(m.u.metric.flags & MD_SAMPLE_HAS_TS);
    /* a NULL options pointer means the defaults (T read) */
    char line[] = "m:1|g|T77";
    assert_int_equal(md_parse_line(line, strlen(line), NULL, &m), MD_MSG_METRIC);
    assert_int_equal(m.u.metric.timestamp, 77);
}

static void test_packed_values(void **st)
{
    struct md_msg m;
    struct md_value_iter it;
    double v, got[8];
    size_t n = 0;
    assert_int_equal(parse("m::1.5::-41:|h|@0.5", &m), MD_MSG_METRIC);
    assert_int_equal(m.u.metric.nvalues, 2);
    assert_true(m.u.metric.value == 1.5);
    assert_false(m.u.metric.flags & MD_SAMPLE_SIGNED);
    md_value_iter_init(&it, &m.u.metric);
    while (md_value_iter_next(&it, &v) && n < 8)
        got[n++] = v;
    assert_int_equal(n, 2);
    assert_true(got[0] == 1.5 && got[1] == -41);

    /* sets keep the raw value, colons and all, and yield no numbers */
    assert_int_equal(parse("daemon:abc:def|s", &m), MD_MSG_METRIC);
    assert_str(m.u.metric.values, "abc:def");
    assert_int_equal(m.u.metric.nvalues, 1);
    md_value_iter_init(&it, &m.u.metric);
    assert_false(md_value_iter_next(&it, &v));
}

static void test_signed(void **st)
{
    struct md_msg m;
    assert_int_equal(parse("g:-10|g", &m), MD_MSG_METRIC);
    assert_true(m.u.metric.flags & MD_SAMPLE_SIGNED);
    assert_true(m.u.metric.value == -10);
    assert_int_equal(parse("g:+4|g", &m), MD_MSG_METRIC);
    assert_true(m.u.metric.flags & MD_SAMPLE_SIGNED);
    assert_true(m.u.metric.value == 4);
    assert_int_equal(parse("g:4|g", &m), MD_MSG_METRIC);
    assert_false(m.u.metric.flags & MD_SAMPLE_SIGNED);
    assert_int_equal(parse("g::+4:5|g", &m), MD_MSG_METRIC);
    assert_true(m.u.metric.flags & MD_SAMPLE_SIGNED);
}

static void test_host_and_internal_tags(void **st)
{
    struct md_msg m;
    assert_int_equal(
        parse("m:1|g|#env:prod,host:a,dd.internal.entity_id:pod1,host:web-1,,"
              "dd.internal.card:low,dd.internal.card:high,hostname:x,dd.internalx:y",
              &m),
        MD_MSG_METRIC);
    struct md_sample *s = &m.u.metric;
    assert_true(s->flags & MD_SAMPLE_HAS_HOST);
    assert_str(s->host, "web-1");
    assert_str(s->pod_uid, "pod1");
    assert_str(s->cardinality, "low");
    assert_string_equal(tags_joined(s->tags), "env:prod||hostname:x|dd.internalx:y");
    assert_int_equal(s->ntags, 4);

    assert_int_equal(parse("m:1|g|#host:", &m), MD_MSG_METRIC);
    assert_true(m.u.metric.flags & MD_SAMPLE_HAS_HOST);
    assert_int_equal(m.u.metric.host.len, 0);
    assert_int_equal(m.u.metric.ntags, 0);
    assert_int_equal(parse("m:1|g|#env:a", &m), MD_MSG_METRIC);
    assert_false(m.u.metric.flags & MD_SAMPLE_HAS_HOST);
}

static void test_tag_iter(void **st)
{
    static const struct {
        const char *raw, *want;
        unsigned n;
    } cases[] = {
        {"", "", 0},          {",", "|", 2},         {"a,,b,", "a||b|", 4},
        {"host:x", "", 0},    {"a:b:c,url:h://x", "a:b:c|url:h://x", 2},
        {"host:x,a", "a", 1}, {"dd.internal.entity_id:1,dd.internal.card:low", "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct md_str raw = {cases[i].raw, (uint32_t)strlen(cases[i].raw)};
        assert_string_equal(tags_joined(raw), cases[i].want);
        struct md_tag_iter it;
        struct md_str t;
        unsigned n = 0;
        md_tag_iter_init(&it, raw);
        while (md_tag_iter_next(&it, &t))
            n++;
        assert_int_equal(n, cases[i].n);
    }
    /* an absent list ({NULL, 0}, as in a record without '#') */
    struct md_tag_iter none;
    struct md_str t0;
    md_tag_iter_init(&none, (struct md_str){NULL, 0});
    assert_false(md_tag_iter_next(&none, &t0));
    /* the "#" alone form: no tags at all */
    struct md_msg m;
    assert_int_equal(parse("m:1|g|#|T5", &m), MD_MSG_METRIC);
    assert_string_equal(tags_joined(m.u.metric.tags), "");
    assert_int_equal(m.u.metric.ntags, 0);
}

static void test_origin_fields(void **st)
{
    struct md_parse_opts on = {.origin_detection_client = true, .no_aggregation_pipeline = true};
    struct md_msg m;
    const char *in;

    in = "m:1|c|c:ci-abc,in-123|e:it-false,cn-web|card:high";
    assert_int_equal(parse_o(in, strlen(in), &on, &m), MD_MSG_METRIC);
    assert_true(m.u.metric.flags & MD_SAMPLE_HAS_CONTAINER);
    assert_str(m.u.metric.container, "abc");
    assert_int_equal(m.u.metric.container_inode, 123);
    assert_str(m.u.metric.external_data, "it-false,cn-web");
    assert_str(m.u.metric.cardinality, "high");

    static const struct {
        const char *in, *cid;
        uint64_t inode;
    } forms[] = {
        {"m:1|c|c:in-5,ci-x", "x", 5}, {"m:1|c|c:cid-y", "y", 0}, {"m:1|c|c:bare", "bare", 0},
        {"m:1|c|c:in-bad", "", 0},     {"m:1|c|c:in-7", "", 7},   {"m:1|c|c:a|c:ci-b", "b", 0},
        {"m:1|c|c:", "", 0},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        assert_int_equal(parse_o(forms[i].in, strlen(forms[i].in), &on, &m), MD_MSG_METRIC);
        assert_str(m.u.metric.container, forms[i].cid);
        assert_int_equal(!!(m.u.metric.flags & MD_SAMPLE_HAS_CONTAINER), forms[i].cid[0] != 0);
        assert_int_equal(m.u.metric.container_inode, forms[i].inode);
    }

    /* off (the default): ignored entirely */
    in = "m:1|c|c:ci-abc|card:high|e:x";
    assert_int_equal(parse(in, &m), MD_MSG_METRIC);
    assert_false(m.u.metric.flags & MD_SAMPLE_HAS_CONTAINER);
    assert_int_equal(m.u.metric.cardinality.len, 0);
    assert_int_equal(m.u.metric.external_data.len, 0);
}

/* --- numbers -------------------------------------------------------------- */

static void test_double_accepts(void **st)
{
    static const struct {
        const char *in;
        double want;
    } ok[] = {
        {"+5", 5},       {"-5", -5},      {".5", 0.5},          {"5.", 5},
        {"00012", 12},   {"1e3", 1000},   {"1E-2", 0.01},       {"+10e1", 100},
        {"0x1p-2", 0.25}, {"-0X1.8P1", -3}, {"1e-400", 0},       {"0.1", 0.1},
        {"1.7976931348623157e308", 1.7976931348623157e308}, {"123456789012345678901234", 123456789012345678901234.0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double v = -999;
        int rc = md_parse_double(ok[i].in, strlen(ok[i].in), &v);
        if (rc != 0 || v != ok[i].want)
            fail_msg("'%s': rc %d value %.17g", ok[i].in, rc, v);
    }
    static const char *const special[] = {"Inf", "+inf", "-INF", "infinity", "-Infinity", "NaN", "nan"};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
        double v = 0;
        assert_int_equal(md_parse_double(special[i], strlen(special[i]), &v), 0);
        assert_false(isfinite(v));
    }
    double z = 1;
    assert_int_equal(md_parse_double("-0.0", 4, &z), 0);
    assert_true(z == 0 && signbit(z));
}

static void test_double_rejects(void **st)
{
    static const char *const bad[] = {
        "", " 5", "5 ", "0,5", "0x10", "0x", "0x1p", "1_000", "abc", "1e", "1e+", ".", "+",
        "-", "e5", "5x", "+nan", "infin", "1..2", "1e5.5", "--1", "0x1.8", "\t1", "1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v;
        if (md_parse_double(bad[i], strlen(bad[i]), &v) != -EINVAL)
            fail_msg("'%s' accepted", bad[i]);
    }
    double v;
    assert_int_equal(md_parse_double("1e400", 5, &v), -ERANGE);
    assert_int_equal(md_parse_double("-1e400", 6, &v), -ERANGE);
    /* a length, not a NUL, ends the number */
    assert_int_equal(md_parse_double("12|c", 2, &v), 0);
    assert_true(v == 12);
    assert_int_equal(md_parse_double("1\0002", 3, &v), -EINVAL);
}

/* The fast path must be bit-identical to strtod: compare on many decimals
 * shaped like what clients send, plus long and exponent forms. */
static void test_double_matches_strtod(void **st)
{
    uint64_t x = 0x9e3779b97f4a7c15u;
    char s[64];
    for (int i = 0; i < 300000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int ip = (int)(x % 20), fp = (int)((x >> 8) % 20), n = 0;
        if ((x >> 20) & 1)
            s[n++] = '-';
        for (int k = 0; k < ip; k++)
            s[n++] = (char)('0' + ((x >> (k * 3 % 60)) + (uint64_t)k * 7) % 10);
        if (fp || !ip) {
            s[n++] = '.';
            for (int k = 0; k < fp || (!ip && k == 0); k++)
                s[n++] = (char)('0' + ((x >> ((k * 5 + 1) % 60)) + (uint64_t)k) % 10);
        }
        if ((x >> 30) % 8 == 0)
            n += snprintf(s + n, sizeof s - (size_t)n, "e%d", (int)((x >> 33) % 40) - 20);
        s[n] = 0;
        double a, b = strtod(s, NULL);
        if (md_parse_double(s, (size_t)n, &a) != 0 || memcmp(&a, &b, sizeof a) != 0)
            fail_msg("'%s': %.17g vs strtod %.17g", s, a, b);
    }
}

/* --- framing -------------------------------------------------------------- */

struct lines {
    int n;
    char text[16][64];
    enum md_parse_error err[16];
};

static void collect(void *ud, char *line, size_t len, enum md_parse_error err)
{
    struct lines *l = ud;
    assert_true(l->n < 16 && len < 64);
    memcpy(l->text[l->n], line, len);
    l->text[l->n][len] = 0;
    l->err[l->n++] = err;
}

static struct lines split(const char *s, bool truncated, bool eol)
{
    struct lines l = {0};
    char buf[512];
    size_t n = strlen(s);
    memcpy(buf, s, n);
    md_split_datagram(buf, n, truncated, eol, collect, &l);
    return l;
}

static void test_framing(void **st)
{
    struct lines l = split("\n\na:1|c\r\n\r\n\nb:2|c\r\r\nc", false, false);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.text[0], "a:1|c");
    assert_string_equal(l.text[1], "b:2|c\r"); /* only one \r is dropped */
    assert_string_equal(l.text[2], "c");
    assert_int_equal(l.err[2], MD_PERR_NONE);

    l = split("a:1|c\r", false, false);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.text[0], "a:1|c");

    l = split("a:1|c\nb:2|c", false, true);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.err[0], MD_PERR_NONE);
    assert_int_equal(l.err[1], MD_PERR_UNTERMINATED);
    assert_string_equal(l.text[1], "b:2|c");

    l = split("a:1|c\nb:2|c\n", false, true);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.err[1], MD_PERR_NONE);

    l = split("a:1|c\nlo", true, false);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.err[1], MD_PERR_TRUNCATED);
    assert_string_equal(l.text[1], "lo");

    /* cut exactly at a line end: nothing partial to report */
    l = split("a:1|c\n", true, true);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.err[0], MD_PERR_NONE);

    l = split("", false, true);
    assert_int_equal(l.n, 0);
}

/* --- events and service checks ------------------------------------------ */

static void test_events(void **st)
{
    struct md_msg m;
    assert_int_equal(parse("_e{10,24}:test|title|test\\line1\\nline2\\nline3", &m), MD_MSG_EVENT);
    assert_str(m.u.event.title, "test|title");
    assert_str(m.u.event.text, "test\\line1\nline2\nline3");
    assert_int_equal(m.u.event.priority, MD_PRIORITY_NORMAL);
    assert_int_equal(m.u.event.alert_type, MD_ALERT_INFO);

    assert_int_equal(parse("_e{6,4}:h\xc3\xa9llo|text|d:123|h:box|k:agg|p:low|s:src|t:error|#a,host:h2",
                           &m),
                     MD_MSG_EVENT);
    struct md_event *e = &m.u.event;
    assert_str(e->title, "h\xc3\xa9llo");
    assert_int_equal(e->timestamp, 123);
    assert_true(e->has_host);
    assert_str(e->host, "box"); /* h: beats the host: tag */
    assert_str(e->aggregation_key, "agg");
    assert_str(e->source_type_name, "src");
    assert_int_equal(e->priority, MD_PRIORITY_LOW);
    assert_int_equal(e->alert_type, MD_ALERT_ERROR);
    assert_string_equal(tags_joined(e->tags), "a");

    assert_int_equal(parse("_e{5,4}:title|text|#host:h2,a|d:abc|p:urgent|t:test", &m), MD_MSG_EVENT);
    assert_str(m.u.event.host, "h2");
    assert_int_equal(m.u.event.timestamp, 0);
    assert_int_equal(m.u.event.priority, MD_PRIORITY_NORMAL);
    assert_int_equal(m.u.event.alert_type, MD_ALERT_INFO);

    assert_int_equal(parse("_e{10,0}:test title||t:warning", &m), MD_MSG_EVENT);
    assert_int_equal(m.u.event.text.len, 0);
    assert_int_equal(m.u.event.alert_type, MD_ALERT_WARNING);
    assert_false(m.u.event.has_host);

    assert_rejects("_e{5555:title|text", MD_PERR_EVENT_HEADER);
    assert_rejects("_e{a,1}:title|text", MD_PERR_EVENT_HEADER);
    assert_rejects("_e{5,}:title|text", MD_PERR_EVENT_HEADER);
    assert_rejects("_e{5,-987}:title", MD_PERR_EVENT_HEADER);
    assert_rejects("_e{5,4}title|text", MD_PERR_EVENT_HEADER);
    assert_rejects("_e{", MD_PERR_EVENT_HEADER);
    assert_rejects("_e{10,10}:title|text", MD_PERR_EVENT_LENGTH);
    assert_rejects("_e{0,4}:|text", MD_PERR_EVENT_LENGTH);
    assert_rejects("_e{10,0}:test title", MD_PERR_EVENT_LENGTH);
    /* recommended over the agent quirk: lengths must land on separators */
    assert_rejects("_e{5,2}:title|text", MD_PERR_EVENT_LENGTH);
    assert_rejects("_e{4,4}:titletext", MD_PERR_EVENT_LENGTH);
    assert_rejects("_e{999999999,1}:x|y", MD_PERR_EVENT_LENGTH);
    assert_rejects("_e{9999999999,1}:x|y", MD_PERR_EVENT_HEADER);
}

static void test_service_checks(void **st)
{
    struct md_msg m;
    assert_int_equal(parse("_sc|agent.up|0|d:21|h:localhost|h:localhost2|d:22|u:x", &m),
                     MD_MSG_SERVICE_CHECK);
    struct md_service_check *c = &m.u.check;
    assert_str(c->name, "agent.up");
    assert_int_equal(c->status, 0);
    assert_int_equal(c->timestamp, 22);
    assert_str(c->host, "localhost2");
    assert_true(c->has_host);

    assert_int_equal(parse("_sc|x|3|m:msg|#a:b,host:t|d:bad", &m), MD_MSG_SERVICE_CHECK);
    assert_int_equal(m.u.check.status, 3);
    assert_str(m.u.check.message, "msg");
    assert_str(m.u.check.host, "t");
    assert_int_equal(m.u.check.timestamp, 0);
    assert_string_equal(tags_joined(m.u.check.tags), "a:b");

    assert_rejects("_sc|agent.up|", MD_PERR_SC_STATUS);
    assert_rejects("_sc||", MD_PERR_SC_FORMAT);
    assert_rejects("_sc|", MD_PERR_SC_FORMAT);
    assert_rejects("_sc", MD_PERR_SC_FORMAT);
    assert_rejects("_sc|x", MD_PERR_SC_FORMAT);
    assert_rejects("_scx|a|0", MD_PERR_SC_FORMAT);
    assert_rejects("_sc|agent.up|OK", MD_PERR_SC_STATUS);
    assert_rejects("_sc|agent.up|21", MD_PERR_SC_STATUS);
    assert_rejects("_sc|agent.up|4", MD_PERR_SC_STATUS);
}

/* --- nasty inputs --------------------------------------------------------- */

static void test_embedded_nul(void **st)
{
    struct md_msg m;
    static const char a[] = "a\0b:1|c|#x\0y";
    assert_int_equal(parse_o(a, sizeof a - 1, &dflt, &m), MD_MSG_METRIC);
    assert_int_equal(m.u.metric.name.len, 3);
    assert_int_equal(m.u.metric.tags.len, 3);
    static const char b[] = "m:1\0|c";
    assert_int_equal(parse_o(b, sizeof b - 1, &dflt, &m), MD_MSG_ERROR);
    assert_int_equal(m.error, MD_PERR_BAD_VALUE);
    static const char c[] = "m:1|c\0";
    assert_int_equal(parse_o(c, sizeof c - 1, &dflt, &m), MD_MSG_ERROR);
    assert_int_equal(m.error, MD_PERR_BAD_TYPE);
    static const char d[] = "_e{3,1}:a\0b|\0";
    assert_int_equal(parse_o(d, sizeof d - 1, &dflt, &m), MD_MSG_EVENT);
    assert_int_equal(m.u.event.title.len, 3);
}

static void test_colon_flood(void **st)
{
    static char line[8200];
    struct md_msg m;
    line[0] = 'm';
    memset(line + 1, ':', 8192);
    memcpy(line + 8193, "|h", 2);
    assert_int_equal(parse_o(line, 8195, &dflt, &m), MD_MSG_ERROR);
    assert_int_equal(m.error, MD_PERR_EMPTY_VALUE);
    /* the same flood as a set member is a fine member */
    memcpy(line + 8193, "|s", 2);
    assert_int_equal(parse_o(line, 8195, &dflt, &m), MD_MSG_METRIC);
    assert_int_equal(m.u.metric.values.len, 8191);
    /* 4096 packed ones */
    for (int i = 0; i < 4096; i++)
        memcpy(line + 1 + 2 * i, ":1", 2);
    memcpy(line + 8193, "|d", 2);
    assert_int_equal(parse_o(line, 8195, &dflt, &m), MD_MSG_METRIC);
    assert_int_equal(m.u.metric.nvalues, 4096);
}

static void test_many_tags(void **st)
{
    static char line[200000];
    size_t n = (size_t)snprintf(line, sizeof line, "m:1|c|#");
    for (int i = 0; i < 10000; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "%stag%d:v", i ? "," : "", i);
    n += (size_t)snprintf(line + n, sizeof line - n, ",host:last");
    struct md_msg m;
    assert_int_equal(parse_o(line, n, &dflt, &m), MD_MSG_METRIC);
    assert_int_equal(m.u.metric.ntags, 10000);
    assert_str(m.u.metric.host, "last");
    struct md_tag_iter it;
    struct md_str t;
    unsigned k = 0;
    md_tag_iter_init(&it, m.u.metric.tags);
    while (md_tag_iter_next(&it, &t))
        k++;
    assert_int_equal(k, 10000);
}

/*
 * Lines of every length around the 16/64-byte edges of the parser's SSE2
 * separator index, each in a heap block of exactly its size (ASan catches a
 * load past either end), with separators in the name, the value, the type and
 * the tags at every offset. This file also builds with MD_PARSE_NO_SIMD
 * (test_parse_scalar), so both paths must agree with these expectations.
 */
static void parse_exact(const char *s, size_t len, struct md_msg *m, enum md_msg_kind want)
{
    char *b = malloc(len);
    assert_non_null(b);
    memcpy(b, s, len);
    enum md_msg_kind k = md_parse_line(b, len, &dflt, m);
    if (k != want)
        fail_msg("'%.*s' (%zu bytes): kind %d, want %d (error %s)", (int)len, s, len, k, want,
                 md_parse_error_name(k == MD_MSG_ERROR ? m->error : MD_PERR_NONE));
    free(b);
}

static void test_separator_index_edges(void **st)
{
    char line[256];
    struct md_msg m;
    for (int n = 1; n <= 70; n++) {       /* name length */
        for (int t = 0; t <= 70; t++) {   /* tags length (0: no tags field) */
            int len = 0;
            memset(line, 'n', (size_t)n);
            len = n;
            len += sprintf(line + len, ":%s|c", (n + t) % 3 ? "1" : "1:2");
            if (t) {
                line[len++] = '|';
                line[len++] = '#';
                for (int i = 0; i < t; i++)
                    line[len++] = (i % 4 == 3) ? ',' : (i % 4 == 1 ? ':' : 'a');
            }
            parse_exact(line, (size_t)len, &m, MD_MSG_METRIC);
            assert_int_equal(m.u.metric.name.len, n);
            assert_int_equal(m.u.metric.nvalues, (n + t) % 3 ? 1 : 2);
            assert_int_equal(m.u.metric.type, MD_COUNTER);
            assert_int_equal(m.u.metric.tags.len, t);
            /* a '|' inside the name: no colon before the first pipe */
            if (n >= 2) {
                line[n / 2] = '|';
                parse_exact(line, (size_t)len, &m, MD_MSG_ERROR);
                assert_int_equal(m.error, MD_PERR_NO_COLON);
            }
            if (n >= 3) { /* a colon inside the name ends it: "nn" is no number */
                line[n / 2] = ':';
                parse_exact(line, (size_t)len, &m, MD_MSG_ERROR);
                assert_int_equal(m.error, MD_PERR_BAD_VALUE);
            }
        }
    }
    /* the last byte of a 16-, 64- and 65-byte line is the only pipe's neighbour */
    for (int len = 14; len <= 66; len++) {
        memset(line, 'x', (size_t)len);
        line[len - 3] = ':';
        line[len - 2] = '5';
        line[len - 1] = '|';
        parse_exact(line, (size_t)len, &m, MD_MSG_ERROR);
        assert_int_equal(m.error, MD_PERR_BAD_TYPE);
        line[len - 1] = 'g';
        parse_exact(line, (size_t)len, &m, MD_MSG_ERROR);
        assert_int_equal(m.error, MD_PERR_NO_PIPE);
        line[len - 2] = '|';
        line[len - 3] = '7';
        line[len - 4] = ':';
        parse_exact(line, (size_t)len, &m, MD_MSG_METRIC);
        assert_int_equal(m.u.metric.type, MD_GAUGE);
        assert_true(m.u.metric.value == 7);
        assert_int_equal(m.u.metric.name.len, len - 4);
    }
}

static void test_error_names(void **st)
{
    assert_string_equal(md_parse_error_name(MD_PERR_NO_PIPE), "no_type_separator");
    assert_string_equal(md_parse_error_name(MD_PERR_LINE_TOO_LONG), "line_too_long");
    assert_string_equal(md_parse_error_name(MD_PERR_NONE), "none");
    assert_string_equal(md_parse_error_name((enum md_parse_error)999), "unknown");
    for (int e = 1; e < MD_PERR_COUNT; e++)
        assert_non_null(md_parse_error_name((enum md_parse_error)e));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_packed_values),
        cmocka_unit_test(test_signed),
        cmocka_unit_test(test_host_and_internal_tags),
        cmocka_unit_test(test_tag_iter),
        cmocka_unit_test(test_origin_fields),
        cmocka_unit_test(test_double_accepts),
        cmocka_unit_test(test_double_rejects),
        cmocka_unit_test(test_double_matches_strtod),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_service_checks),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_colon_flood),
        cmocka_unit_test(test_many_tags),
        cmocka_unit_test(test_separator_index_edges),
        cmocka_unit_test(test_error_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
