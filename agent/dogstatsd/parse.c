/*
 * parse.c: the DogStatsD parser and datagram framing.
 *
 * Every statsd byte the agent receives goes through this file, on the intake
 * threads, so it is written for that path: it works on the receive buffer in
 * place, never allocates, takes no lock and makes no syscall. A metric line
 * is walked once, left to right, with memchr finding the separators; numbers
 * take an exact fast path for the short decimals clients send and fall back
 * to strtod only for exponents, hex and long mantissas. The grammar follows
 * the Datadog Agent (see shared/protocol/reference.md §1-3, §6); where the
 * corpus records an Agent quirk with a recommended fix, the fix is taken and
 * named at the spot.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__SSE2__) && !defined(MD_PARSE_NO_SIMD)
#include <emmintrin.h>
#define MD_PARSE_SIMD 1
#endif

#include "parse_int.h"
static const char *const perr_names[MD_PERR_COUNT] = {
    [MD_PERR_NONE] = "none",
#define MD_X(e, s) [e] = s,
    MD_PARSE_ERRORS(MD_X)
#undef MD_X
};

const char *md_parse_error_name(enum md_parse_error e)
{
    if ((unsigned)e >= MD_PERR_COUNT)
        return "unknown";
    return perr_names[e];
}


/* --- numbers: the fast path (the rest is in parse_num.c) --------------- */

/* Powers of ten that are exact doubles: the Clinger fast path. */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int md_parse_double(const char *p, size_t len, double *out)
{
    if (len == 0)
        return -EINVAL;
    /* Fast path: [sign]digits[.digits][e[sign]digits] with at most 19
     * digits whose value fits in 53 bits and a net power of ten within
     * +-22. m and 10^k are then exact doubles and one IEEE multiply or
     * divide is correctly rounded, i.e. bit-identical to strtod. */
    const char *s = p, *e = p + len;
    bool neg = false;
    if (*s == '+' || *s == '-') {
        neg = *s == '-';
        s++;
    }
    uint64_t m = 0;
    int nd = 0, nf = 0;
    while (s < e && is_digit(*s) && nd < 19) {
        m = m * 10 + (uint64_t)(*s++ - '0');
        nd++;
    }
    if (s < e && *s == '.') {
        s++;
        while (s < e && is_digit(*s) && nd < 19) {
            m = m * 10 + (uint64_t)(*s++ - '0');
            nd++;
            nf++;
        }
    }
    /* A short exponent folds into the power of ten (1.5e3 = 15 * 10^2). */
    int e10 = -nf;
    if (s < e && (*s | 0x20) == 'e' && nd > 0) {
        const char *q = s + 1;
        bool eneg = false;
        int ev = 0, ne = 0;
        if (q < e && (*q == '+' || *q == '-'))
            eneg = *q++ == '-';
        while (q < e && is_digit(*q) && ne < 4)
            ev = ev * 10 + (*q++ - '0'), ne++;
        if (ne > 0 && q == e) {
            s = q;
            e10 += eneg ? -ev : ev;
        }
    }
    if (s == e && nd > 0 && m <= (UINT64_C(1) << 53) && e10 >= -22 && e10 <= 22) {
        double v = (double)m;
        if (e10 < 0)
            v /= pow10_exact[-e10];
        else if (e10 > 0)
            v *= pow10_exact[e10];
        *out = neg ? -v : v;
        return 0;
    }
    return md_parse_double_slow(p, len, out);
}

/* --- tags --------------------------------------------------------------- */

enum tag_class { TAG_PLAIN, TAG_HOST, TAG_ENTITY, TAG_CARD };

#define HOST_PRE "host:"
#define ENTITY_PRE "dd.internal.entity_id:"
#define CARD_PRE "dd.internal.card:"

/* The tags the agent consumes itself instead of forwarding. One byte
 * decides for nearly every tag, so this stays cheap on the hot path. */
static inline enum tag_class tag_classify(const char *p, size_t n)
{
    if (n == 0)
        return TAG_PLAIN;
    if (p[0] == 'h')
        return has_prefix(p, n, HOST_PRE, sizeof HOST_PRE - 1) ? TAG_HOST : TAG_PLAIN;
    if (p[0] == 'd' && has_prefix(p, n, "dd.internal.", 12)) {
        if (has_prefix(p, n, ENTITY_PRE, sizeof ENTITY_PRE - 1))
            return TAG_ENTITY;
        if (has_prefix(p, n, CARD_PRE, sizeof CARD_PRE - 1))
            return TAG_CARD;
    }
    return TAG_PLAIN;
}

void md_tag_iter_init(struct md_tag_iter *it, struct md_str tags)
{
    /* "#" alone: no tags, not one empty tag. An absent list is {NULL, 0},
     * and NULL + 0 is not valid C, hence no arithmetic on it. */
    it->p = it->end = tags.p;
    it->done = tags.len == 0;
    if (tags.len)
        it->end = tags.p + tags.len;
}

/* Next raw piece between commas, consumed tags included. */
static inline bool tag_piece(struct md_tag_iter *it, const char **p, const char **e)
{
    if (it->done)
        return false;
    const char *c = find(it->p, it->end, ',');
    *p = it->p;
    if (c) {
        *e = c;
        it->p = c + 1;
    } else {
        *e = it->end;
        it->done = true;
    }
    return true;
}

bool md_tag_iter_next(struct md_tag_iter *it, struct md_str *tag)
{
    const char *p, *e;
    while (tag_piece(it, &p, &e)) {
        if (tag_classify(p, (size_t)(e - p)) == TAG_PLAIN) {
            *tag = mkstr(p, e);
            return true;
        }
    }
    return false;
}

int md_tag_iter_next_host(struct md_tag_iter *it, struct md_str *tag)
{
    const char *p, *e;
    while (tag_piece(it, &p, &e)) {
        switch (tag_classify(p, (size_t)(e - p))) {
        case TAG_PLAIN:
            *tag = mkstr(p, e);
            return 1;
        case TAG_HOST:
            *tag = mkstr(p + sizeof HOST_PRE - 1, e);
            return 2;
        default:
            break;
        }
    }
    return 0;
}

/* One walk over the final tag list: count what will be forwarded, pick up
 * host: (last wins), dd.internal.entity_id: (last wins) and
 * dd.internal.card: (first wins, as the Agent does). */
void md_parse_tag_scan(struct md_str tags, struct md_parse_tag_scan *ts)
{
    struct md_tag_iter it;
    const char *p, *e;
    md_tag_iter_init(&it, tags);
    *ts = (struct md_parse_tag_scan){0};
    while (tag_piece(&it, &p, &e)) {
        switch (tag_classify(p, (size_t)(e - p))) {
        case TAG_PLAIN: ts->ntags++; break;
        case TAG_HOST:
            ts->host = mkstr(p + sizeof HOST_PRE - 1, e);
            ts->has_host = true;
            break;
        case TAG_ENTITY: ts->pod_uid = mkstr(p + sizeof ENTITY_PRE - 1, e); break;
        case TAG_CARD:
            if (!ts->has_card)
                ts->card = mkstr(p + sizeof CARD_PRE - 1, e);
            ts->has_card = true;
            break;
        }
    }
}

/* --- values ------------------------------------------------------------- */

void md_value_iter_init(struct md_value_iter *it, const struct md_sample *s)
{
    it->p = it->end = s->values.p;
    if (s->type != MD_SET && s->values.len) /* a set member is text, not numbers */
        it->end = s->values.p + s->values.len;
}

bool md_value_iter_next(struct md_value_iter *it, double *out)
{
    while (it->p < it->end) {
        const char *q = find(it->p, it->end, ':');
        const char *p = it->p;
        if (!q)
            q = it->end;
        it->p = q < it->end ? q + 1 : q;
        if (q > p && md_parse_double(p, (size_t)(q - p), out) == 0)
            return true;
    }
    return false;
}

static inline bool signed_text(const char *p)
{
    return *p == '+' || *p == '-';
}

/* v1.1 packed values: split on ':', skip empty pieces, any bad piece
 * rejects the message. Only the first value and the count are kept. */
static enum md_parse_error parse_values(struct md_sample *s, bool maybe_packed)
{
    const char *p = s->values.p, *e = p + s->values.len;
    const char *q = maybe_packed ? find(p, e, ':') : NULL;
    if (!q) {
        if (md_parse_double(p, (size_t)(e - p), &s->value) != 0)
            return MD_PERR_BAD_VALUE;
        s->nvalues = 1;
        if (signed_text(p))
            s->flags |= MD_SAMPLE_SIGNED;
        return MD_PERR_NONE;
    }
    uint32_t n = 0;
    for (;;) {
        if (q > p) {
            double v;
            if (md_parse_double(p, (size_t)(q - p), &v) != 0)
                return MD_PERR_BAD_VALUE;
            if (n++ == 0) {
                s->value = v;
                if (signed_text(p))
                    s->flags |= MD_SAMPLE_SIGNED;
            }
        }
        if (q == e)
            break;
        p = q + 1;
        q = find(p, e, ':');
        if (!q)
            q = e;
    }
    if (n == 0)
        return MD_PERR_EMPTY_VALUE;
    s->nvalues = n;
    return MD_PERR_NONE;
}

/* --- metrics ------------------------------------------------------------ */

enum md_msg_kind md_parse_fail(struct md_msg *out, enum md_parse_error e)
{
    out->kind = MD_MSG_ERROR;
    out->error = e;
    return MD_MSG_ERROR;
}

static int parse_type(const char *t, size_t n, enum md_mtype *out)
{
    if (n == 1) {
        switch (t[0]) {
        case 'c': *out = MD_COUNTER; return 0;
        case 'g': *out = MD_GAUGE; return 0;
        case 'h': *out = MD_HISTOGRAM; return 0;
        case 's': *out = MD_SET; return 0;
        case 'd': *out = MD_DISTRIBUTION; return 0;
        }
    } else if (n == 2 && t[0] == 'm' && t[1] == 's') {
        *out = MD_TIMER;
        return 0;
    }
    return -EINVAL;
}

/*
 * |c: local data (origin detection, v1.2/v1.4): "ci-<id>" and "in-<inode>"
 * joined by ',' in any order, or a single "cid-<id>" / bare "<id>". A bad
 * inode is ignored, never fatal. Each |c: field replaces the previous one.
 */
static void parse_container(struct md_sample *s, const char *p, const char *e)
{
    s->container = (struct md_str){0};
    s->container_inode = 0;
    s->flags &= ~(uint32_t)MD_SAMPLE_HAS_CONTAINER;
    if (p == e)
        return;
    if (memchr(p, ',', (size_t)(e - p))) {
        struct md_tag_iter it;
        const char *a, *b;
        md_tag_iter_init(&it, mkstr(p, e));
        while (tag_piece(&it, &a, &b)) {
            size_t n = (size_t)(b - a);
            if (has_prefix(a, n, "ci-", 3))
                s->container = mkstr(a + 3, b);
            else if (has_prefix(a, n, "in-", 3) && !md_parse_u64(a + 3, n - 3, &s->container_inode))
                s->container_inode = 0;
        }
    } else {
        size_t n = (size_t)(e - p);
        if (has_prefix(p, n, "ci-", 3))
            s->container = mkstr(p + 3, e);
        else if (has_prefix(p, n, "in-", 3)) {
            if (!md_parse_u64(p + 3, n - 3, &s->container_inode))
                s->container_inode = 0;
        } else if (has_prefix(p, n, "cid-", 4))
            s->container = mkstr(p + 4, e);
        else
            s->container = mkstr(p, e);
    }
    if (s->container.len)
        s->flags |= MD_SAMPLE_HAS_CONTAINER;
}

/* One optional |field of a metric; returns an error only for @ and T. */
static enum md_parse_error metric_field(struct md_sample *s, const char *f, const char *fe,
                                        const struct md_parse_opts *o, bool *card_field)
{
    size_t n = (size_t)(fe - f);
    switch (f[0]) {
    case '@':
        if (md_parse_double(f + 1, n - 1, &s->sample_rate) != 0)
            return MD_PERR_BAD_SAMPLE_RATE;
        break;
    case '#': s->tags = mkstr(f + 1, fe); break;
    case 'T':
        if (o->no_aggregation_pipeline) {
            if (!md_parse_i64(f + 1, n - 1, &s->timestamp) || s->timestamp < 1)
                return MD_PERR_BAD_TIMESTAMP;
            s->flags |= MD_SAMPLE_HAS_TS;
        }
        break;
    case 'c':
        if (!o->origin_detection_client)
            break;
        if (n >= 2 && f[1] == ':')
            parse_container(s, f + 2, fe);
        else if (has_prefix(f, n, "card:", 5)) {
            s->cardinality = mkstr(f + 5, fe);
            *card_field = true;
        }
        break;
    case 'e':
        if (o->origin_detection_client && n >= 2 && f[1] == ':')
            s->external_data = mkstr(f + 2, fe);
        break;
    }
    return MD_PERR_NONE;
}

/*
 * Where a metric line's ':' and '|' are. A line of 16 to 64 bytes (nearly
 * all of them) is scanned once, 16 bytes a step with SSE2, into one bit per
 * byte for each separator; the parser then jumps from separator to
 * separator with bit tricks instead of searching each span again. Other
 * lengths, and builds without SSE2 (or with MD_PARSE_NO_SIMD, which the
 * tests use to cover this path), search with find_lo.
 */
struct seps {
    const char *line, *end;
    uint64_t colons, bars;
    bool indexed;
};

#ifdef MD_PARSE_SIMD
static inline uint64_t eq_mask16(__m128i v, char c)
{
    return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c)));
}
#endif

static inline void seps_init(struct seps *sp, const char *line, const char *end)
{
    size_t len = (size_t)(end - line);
    sp->line = line;
    sp->end = end;
    sp->colons = sp->bars = 0;
    sp->indexed = false;
#ifdef MD_PARSE_SIMD
    if (len < 16 || len > 64)
        return;
    uint64_t c = 0, b = 0;
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(line + i));
        c |= eq_mask16(v, ':') << i;
        b |= eq_mask16(v, '|') << i;
    }
    if (i < len) { /* the last 16 bytes of the line; keep the bits past i */
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(end - 16));
        unsigned drop = (unsigned)(16 - (len - i));
        c |= (eq_mask16(v, ':') >> drop) << i;
        b |= (eq_mask16(v, '|') >> drop) << i;
    }
    sp->colons = c;
    sp->bars = b;
    sp->indexed = true;
#else
    (void)len;
#endif
}

/* First bit of m at or after offset `from`, as a pointer; NULL if none before `lim`. */
static inline const char *seps_next(const struct seps *sp, uint64_t m, const char *from,
                                    const char *lim)
{
    size_t off = (size_t)(from - sp->line);
    if (off >= 64)
        return NULL;
    m &= ~UINT64_C(0) << off;
    if (!m)
        return NULL;
    const char *q = sp->line + __builtin_ctzll(m);
    return q < lim ? q : NULL;
}

static inline const char *next_bar(const struct seps *sp, const char *from)
{
    return sp->indexed ? seps_next(sp, sp->bars, from, sp->end) : find_lo(sp->line, from, sp->end, '|');
}

static inline const char *next_colon(const struct seps *sp, const char *from, const char *lim)
{
    return sp->indexed ? seps_next(sp, sp->colons, from, lim) : find_lo(sp->line, from, lim, ':');
}

static const struct md_parse_opts default_opts = {.no_aggregation_pipeline = true};

static enum md_msg_kind parse_metric(char *line, size_t len, const struct md_parse_opts *o,
                                     struct md_msg *out)
{
    const char *end = line + len;
    struct seps sp;
    seps_init(&sp, line, end);
    const char *bar = next_bar(&sp, line);
    if (!bar)
        return md_parse_fail(out, MD_PERR_NO_PIPE);
    const char *colon = next_colon(&sp, line, bar);
    if (!colon)
        return md_parse_fail(out, MD_PERR_NO_COLON);
    if (colon == line)
        return md_parse_fail(out, MD_PERR_EMPTY_NAME);
    if (colon + 1 == bar)
        return md_parse_fail(out, MD_PERR_EMPTY_VALUE);

    /* Field by field rather than a compound literal: zeroing the whole
     * record compiled to `rep stos`, a quarter of the time of a line. */
    struct md_sample *s = &out->u.metric;
    static const struct md_str none = {NULL, 0};
    s->flags = 0;
    s->nvalues = 0;
    s->value = 0;
    s->sample_rate = 1.0;
    s->timestamp = 0;
    s->name = mkstr(line, colon);
    s->values = mkstr(colon + 1, bar);
    s->tags = s->host = s->container = none;
    s->pod_uid = s->cardinality = s->external_data = none;
    s->container_inode = 0;

    const char *t = bar + 1;
    const char *te = next_bar(&sp, t);
    if (!te)
        te = end;
    if (parse_type(t, (size_t)(te - t), &s->type) != 0)
        return md_parse_fail(out, MD_PERR_BAD_TYPE);
    if (s->type == MD_SET) {
        s->nvalues = 1; /* the whole raw value, colons included */
    } else {
        bool maybe_packed = !sp.indexed || seps_next(&sp, sp.colons, colon + 1, bar);
        enum md_parse_error err = parse_values(s, maybe_packed);
        if (err)
            return md_parse_fail(out, err);
    }

    /* Fields in any order; unknown ones and empty ones are skipped; a
     * repeated field overwrites the earlier one (last wins). */
    bool card_field = false;
    for (const char *f = te; f < end;) {
        f++; /* past '|' */
        const char *fe = next_bar(&sp, f);
        if (!fe)
            fe = end;
        if (fe > f) {
            enum md_parse_error err = metric_field(s, f, fe, o, &card_field);
            if (err)
                return md_parse_fail(out, err);
        }
        f = fe;
    }

    if (o->lazy_tags) {
        /* The caller walks the tags itself (md_tag_iter_next_host). */
        out->kind = MD_MSG_METRIC;
        out->error = MD_PERR_NONE;
        return MD_MSG_METRIC;
    }
    struct md_parse_tag_scan ts;
    md_parse_tag_scan(s->tags, &ts);
    s->ntags = ts.ntags;
    if (ts.has_host) {
        s->host = ts.host;
        s->flags |= MD_SAMPLE_HAS_HOST;
    }
    s->pod_uid = ts.pod_uid;
    if (!card_field && ts.has_card)
        s->cardinality = ts.card;
    out->kind = MD_MSG_METRIC;
    out->error = MD_PERR_NONE;
    return MD_MSG_METRIC;
}

/* --- entry points ------------------------------------------------------- */

enum md_msg_kind md_parse_line(char *line, size_t len, const struct md_parse_opts *o,
                               struct md_msg *out)
{
    if (!o)
        o = &default_opts;
    if (len >= 3 && line[0] == '_') {
        if (line[1] == 'e' && line[2] == '{')
            return md_parse_event(line, len, out);
        if (line[1] == 's' && line[2] == 'c')
            return md_parse_check(line, len, out);
    }
    return parse_metric(line, len, o, out);
}

void md_split_datagram(char *buf, size_t len, bool truncated, bool eol_required, md_line_fn fn,
                       void *ud)
{
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        size_t n = (size_t)(le - p);
        if (!nl) {
            /* The last line has no '\n': cut by the receive buffer, or
             * refused by eol_required; otherwise it is a normal line. */
            if (truncated) {
                fn(ud, p, n, MD_PERR_TRUNCATED);
                return;
            }
            if (eol_required) {
                fn(ud, p, n, MD_PERR_UNTERMINATED);
                return;
            }
        }
        if (n && p[n - 1] == '\r')
            n--;
        if (n)
            fn(ud, p, n, MD_PERR_NONE);
        if (!nl)
            return;
        p = nl + 1;
    }
}
