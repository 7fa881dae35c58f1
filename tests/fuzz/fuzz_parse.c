/*
 * fuzz_parse.c: libFuzzer target for the DogStatsD framing and parser.
 *
 * The parser reads untrusted bytes from the network on every intake thread,
 * so it must never read outside the line, loop forever or crash, whatever
 * arrives. The first input byte picks the options and framing flags; the
 * rest is one datagram. Besides the sanitizers' checks, the target asserts
 * the parser's own promises: every view points inside the line, iterators
 * terminate and agree with the counts, and an accepted number equals
 * strtod's reading of the same text bit for bit.
 *
 * tests/fuzz/run.sh builds it with clang (-fsanitize=fuzzer,address,undefined),
 * once on the parser's SSE2 path and once on its scalar path, replays the
 * seeds in tests/fuzz/corpus/ (tests/fuzz/make_seeds.py) and fuzzes for a
 * minute. Mode bits: 1 origin detection, 2 timestamps, 4 etsy, 8 truncated,
 * 16 eol required, 32 lazy tags (as the intake threads parse).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meterd/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

struct fz {
    struct md_parse_opts o;
    char *lo, *hi; /* the datagram buffer */
};

static void check_view(const struct fz *f, struct md_str s)
{
    if (s.len)
        CHECK(s.p >= f->lo && s.p + s.len <= f->hi);
}

static void check_metric(const struct fz *f, const struct md_sample *s)
{
    check_view(f, s->name);
    check_view(f, s->values);
    check_view(f, s->tags);
    check_view(f, s->host);
    check_view(f, s->container);
    CHECK(s->name.len > 0 && s->values.len > 0 && s->nvalues > 0);
    CHECK((unsigned)s->type < MD_MTYPE_COUNT);

    struct md_value_iter vi;
    double v;
    uint32_t n = 0;
    md_value_iter_init(&vi, s);
    while (md_value_iter_next(&vi, &v))
        CHECK(++n <= s->nvalues);
    CHECK(s->type == MD_SET || n == s->nvalues);

    struct md_tag_iter ti;
    struct md_str t;
    uint32_t nt = 0;
    md_tag_iter_init(&ti, s->tags);
    if (f->o.lazy_tags) { /* ntags is not counted: walk as the intake does */
        while (md_tag_iter_next_host(&ti, &t))
            check_view(f, t);
        return;
    }
    while (md_tag_iter_next(&ti, &t)) {
        check_view(f, t);
        CHECK(++nt <= s->ntags);
    }
    CHECK(nt == s->ntags);
}

static bool same_view(struct md_str a, struct md_str b)
{
    return a.len == b.len && (a.len == 0 || a.p == b.p);
}

/* The intake's lazy parse must agree with the full one on all it fills in. */
static void check_lazy_agrees(const struct fz *f, char *line, size_t len, const struct md_msg *lazy)
{
    struct md_parse_opts o = f->o;
    o.lazy_tags = false;
    struct md_msg full;
    enum md_msg_kind k = md_parse_line(line, len, &o, &full);
    CHECK(k == lazy->kind);
    if (k == MD_MSG_ERROR)
        CHECK(full.error == lazy->error);
    if (k != MD_MSG_METRIC)
        return;
    const struct md_sample *a = &lazy->u.metric, *b = &full.u.metric;
    CHECK(same_view(a->name, b->name) && same_view(a->values, b->values));
    CHECK(same_view(a->tags, b->tags) && a->type == b->type && a->nvalues == b->nvalues);
    CHECK(memcmp(&a->value, &b->value, sizeof a->value) == 0);
    CHECK(memcmp(&a->sample_rate, &b->sample_rate, sizeof a->sample_rate) == 0);
    CHECK(a->timestamp == b->timestamp);
}

static void on_line(void *ud, char *line, size_t len, enum md_parse_error err)
{
    const struct fz *f = ud;
    CHECK(line >= f->lo && line + len <= f->hi);
    if (err != MD_PERR_NONE) {
        CHECK(err == MD_PERR_TRUNCATED || err == MD_PERR_UNTERMINATED);
        return;
    }
    CHECK(len > 0 && memchr(line, '\n', len) == NULL);
    struct md_msg m;
    enum md_msg_kind kind = md_parse_line(line, len, &f->o, &m);
    if (f->o.lazy_tags && kind != MD_MSG_EVENT) /* events unescape in place: parse once */
        check_lazy_agrees(f, line, len, &m);
    switch (kind) {
    case MD_MSG_METRIC: check_metric(f, &m.u.metric); break;
    case MD_MSG_EVENT:
        check_view(f, m.u.event.title);
        check_view(f, m.u.event.text);
        check_view(f, m.u.event.tags);
        CHECK(m.u.event.title.len > 0);
        break;
    case MD_MSG_SERVICE_CHECK:
        check_view(f, m.u.check.name);
        check_view(f, m.u.check.message);
        CHECK(m.u.check.status >= 0 && m.u.check.status <= 3);
        break;
    case MD_MSG_ERROR: CHECK(m.error > MD_PERR_NONE && m.error < MD_PERR_COUNT); break;
    }
}

/* An accepted number must be what strtod reads from the same text. */
static void check_double(const uint8_t *data, size_t size)
{
    double a;
    if (size > 64 || md_parse_double((const char *)data, size, &a) != 0 || isnan(a))
        return;
    char tmp[65];
    memcpy(tmp, data, size);
    tmp[size] = 0;
    char *end;
    double b = strtod(tmp, &end);
    CHECK(end == tmp + size);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t mode = data[0];
    data++, size--;
    check_double(data, size);

    /* An exact-size heap copy, so ASan catches a read one byte past. */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct fz f = {
        .o = {.origin_detection_client = mode & 1, .no_aggregation_pipeline = mode & 2,
              .etsy = mode & 4, .lazy_tags = mode & 32},
        .lo = buf,
        .hi = buf + size,
    };
    md_split_datagram(buf, size, mode & 8, mode & 16, on_line, &f);
    free(buf);
    return 0;
}
