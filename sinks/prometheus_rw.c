/*
 * prometheus_rw.c: the Prometheus remote write sink ("prometheus_rw").
 *
 * Each window's series become a remote write 1.0 WriteRequest (protobuf,
 * hand-encoded like sketch_pb.c, so no protobuf runtime), compressed with
 * snappy's block format and POSTed to prometheus_remote_write_url with the
 * headers the protocol asks for (Content-Encoding: snappy, Content-Type:
 * application/x-protobuf, X-Prometheus-Remote-Write-Version: 0.1.0) and
 * optional basic auth or a bearer token. Receivers: Prometheus
 * (--web.enable-remote-write-receiver), VictoriaMetrics (/api/v1/write),
 * Mimir, Thanos, Cortex. libsnappy is used rather than a literal-only
 * snappy writer (which is valid but does not compress): label sets repeat
 * in every series, snappy cuts the bytes several-fold at a cost far below
 * zlib's, and it is the implementation the receivers themselves use.
 *
 * Names follow Prometheus' rules, mapped the same way every time:
 *   metric name: every byte outside [a-zA-Z0-9_:] becomes '_' ("app.req-s"
 *     -> "app_req_s"), and a leading digit gets a '_' in front;
 *   tag "key:value": label key with bytes outside [a-zA-Z0-9_] as '_', a
 *     leading digit prefixed with '_', a key starting "__" (reserved)
 *     prefixed with "tag"; the value as is (invalid UTF-8 becomes U+FFFD);
 *     a tag without ':' becomes key="true"; an empty value is left out (as
 *     Prometheus would); of two tags with the same key the last one, in
 *     sorted tag order, wins;
 *   the host becomes label "host" and wins over a host tag.
 * Values are the frame's, as the Datadog sink sends them (counts as
 * per-second rates), stamped with the window start in milliseconds; every
 * series has one sample per window and payloads go out oldest first, so
 * samples stay in order as Prometheus requires. Distributions reach this
 * sink only as series (distribution_output: series). A 413 is answered by
 * the forwarder: it un-snappies the body, cuts the WriteRequest between
 * two time series (prw_split) and sends the halves.
 */
#include "prometheus_rw.h"

#include <errno.h>
#include <openssl/evp.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "meterd/sink.h"
#include "pb_wire.h"

#define PRW_MAX_BODY (4u * 1024 * 1024) /* uncompressed protobuf per request */

struct prw_state {
    char *url;
    char *auth; /* "Basic ..." / "Bearer ...": secret, only ever copied into a header */
};

/* A label as offsets into the scratch buffer (which may move while it grows). */
struct prw_label {
    size_t noff, nlen, voff, vlen;
    unsigned order; /* insertion order: the later of two equal names wins */
};

int md_prw_auth_header(const struct md_prw_conf *c, char *out, size_t len)
{
    out[0] = '\0';
    if (!c)
        return 0;
    if (c->prometheus_remote_write_bearer_token && c->prometheus_remote_write_bearer_token[0]) {
        int n = snprintf(out, len, "Bearer %s", c->prometheus_remote_write_bearer_token);
        return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
    }
    const char *u = c->prometheus_remote_write_username ? c->prometheus_remote_write_username : "";
    const char *p = c->prometheus_remote_write_password ? c->prometheus_remote_write_password : "";
    if (!u[0] && !p[0])
        return 0;
    char plain[1024];
    int n = snprintf(plain, sizeof plain, "%s:%s", u, p);
    if (n < 0 || (size_t)n >= sizeof plain || len < 7 + 4 * ((size_t)n + 2) / 3 + 1)
        return -ENAMETOOLONG;
    memcpy(out, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)plain, n);
    explicit_bzero(plain, sizeof plain);
    return 0;
}

/* ---- keys ---- */

#define PRW_OFF(m) MD_OPT_OFF(struct md_prw_conf, m, char *)

static const struct md_opt prw_keys[] = {
    {"prometheus_remote_write_url", MD_OPT_URL, PRW_OFF(prometheus_remote_write_url), "", 0, 0,
     NULL, 0, NULL, NULL, NULL, {0}, "Prometheus remote write sink",
     "Where the prometheus_rw sink POSTs (remote write 1.0, snappy protobuf), e.g.\n"
     "http://prometheus:9090/api/v1/write or http://victoria:8428/api/v1/write.\n"
     "Setting it asks for the sink when `sinks` is empty."},
    {"prometheus_remote_write_username", MD_OPT_STRING, PRW_OFF(prometheus_remote_write_username),
     "", 0, 0, NULL, 0, NULL, NULL, NULL, {0}, NULL, "Basic auth user for prometheus_rw."},
    {"prometheus_remote_write_password", MD_OPT_SECRET, PRW_OFF(prometheus_remote_write_password),
     "", 0, 0, NULL, 0, NULL, NULL, NULL, {0}, NULL,
     "Basic auth password for prometheus_rw; never logged or written to disk."},
    {"prometheus_remote_write_bearer_token", MD_OPT_SECRET,
     PRW_OFF(prometheus_remote_write_bearer_token), "", 0, 0, NULL, 0, NULL, NULL, NULL, {0}, NULL,
     "Bearer token for prometheus_rw (wins over basic auth); never logged or\n"
     "written to disk."},
    {NULL},
};

static bool prw_wanted(const void *conf)
{
    const struct md_prw_conf *c = conf;
    return c->prometheus_remote_write_url && c->prometheus_remote_write_url[0];
}

static int prw_create(const void *conf, const struct md_sink_env *env, void **state, char *err,
                      size_t errlen)
{
    const struct md_prw_conf *c = conf;
    if (!c || !prw_wanted(c)) {
        snprintf(err, errlen, "prometheus_remote_write_url is not set");
        return -EINVAL;
    }
    struct prw_state *st = calloc(1, sizeof *st);
    char auth[2048];
    if (!st || md_prw_auth_header(c, auth, sizeof auth) != 0 ||
        !(st->url = strdup(c->prometheus_remote_write_url)) || !(st->auth = strdup(auth))) {
        if (st)
            free(st->url);
        free(st);
        explicit_bzero(auth, sizeof auth);
        snprintf(err, errlen, "out of memory or credentials too long");
        return -ENOMEM;
    }
    explicit_bzero(auth, sizeof auth);
    *state = st;
    return 0;
}

static void prw_destroy(void *state)
{
    struct prw_state *st = state;
    if (!st)
        return;
    explicit_bzero(st->auth, strlen(st->auth));
    free(st->auth);
    free(st->url);
    free(st);
}

/* ------------------------------------------------------------ names */

static bool prw_name_ok(unsigned char c, bool colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (colon && c == ':');
}

/* Sanitised copy of s[0..n) into the scratch buffer; colon: allowed (metric names). */
static void prw_sanitize(struct md_buf *b, const char *s, size_t n, bool colon, bool label)
{
    if (label && n >= 2 && s[0] == '_' && s[1] == '_')
        md_buf_puts(b, "tag");
    else if (!n || (s[0] >= '0' && s[0] <= '9'))
        md_buf_putc(b, '_');
    for (size_t i = 0; i < n; i++)
        md_buf_putc(b, prw_name_ok((unsigned char)s[i], colon) ? s[i] : '_');
}

/* Label values: valid UTF-8 (the JSON writer's replacement, minus the quotes and escapes). */
static void prw_value(struct md_buf *b, const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : md_utf8_len((const unsigned char *)s + i, n - i);
        if (l) {
            md_buf_add(b, s + i, l);
            i += l;
        } else {
            md_buf_add(b, "\xef\xbf\xbd", 3);
            i++;
        }
    }
}

static int prw_label_cmp(const void *a, const void *b, void *base)
{
    const struct prw_label *x = a, *y = b;
    size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = memcmp((const char *)base + x->noff, (const char *)base + y->noff, n);
    if (c)
        return c;
    if (x->nlen != y->nlen)
        return x->nlen < y->nlen ? -1 : 1;
    return x->order < y->order ? -1 : 1;
}

/* ------------------------------------------------------------ encoding */

struct prw_enc {
    struct md_buf scratch, item, body;
    struct prw_label *labels;
    size_t nlabels, cap;
    bool oom;
};

static void prw_add_label(struct prw_enc *e, const char *k, size_t kn, bool sanitize,
                          const char *v)
{
    if (e->nlabels == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 32;
        struct prw_label *l = realloc(e->labels, cap * sizeof *l);
        if (!l) {
            e->oom = true;
            return;
        }
        e->labels = l;
        e->cap = cap;
    }
    struct prw_label *l = &e->labels[e->nlabels];
    l->order = (unsigned)e->nlabels++;
    l->noff = e->scratch.len;
    if (sanitize)
        prw_sanitize(&e->scratch, k, kn, false, true);
    else
        md_buf_add(&e->scratch, k, kn);
    l->nlen = e->scratch.len - l->noff;
    l->voff = e->scratch.len;
    prw_value(&e->scratch, v);
    l->vlen = e->scratch.len - l->voff;
}

static void prw_varint(struct md_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    md_buf_add(b, tmp, n);
}

static void prw_bytes(struct md_buf *b, unsigned field, const void *p, size_t n)
{
    prw_varint(b, (uint64_t)field << 3 | 2);
    prw_varint(b, n);
    md_buf_add(b, p, n);
}

/* The series' labels, __name__ included, sanitised and sorted; false when out of memory. */
static bool prw_labels(struct prw_enc *e, const struct md_series *s)
{
    md_buf_reset(&e->scratch);
    e->nlabels = 0;
    const struct md_series_key *k = s->key;
    for (uint32_t i = 0; k && i < k->ntags; i++) {
        const char *t = k->tags[i], *colon = strchr(t, ':');
        if (colon && !colon[1])
            continue;
        prw_add_label(e, t, colon ? (size_t)(colon - t) : strlen(t), true, colon ? colon + 1 : "true");
    }
    if (k && k->host && k->host[0])
        prw_add_label(e, "host", 4, false, k->host);
    size_t noff = e->scratch.len;
    char full[512];
    const char *name = md_series_full_name(s, full, sizeof full);
    prw_sanitize(&e->scratch, name, strlen(name), true, false);
    size_t nlen = e->scratch.len - noff;
    prw_add_label(e, "__name__", 8, false, "");
    if (e->oom || e->scratch.oom)
        return false;
    struct prw_label *nm = &e->labels[e->nlabels - 1];
    nm->voff = noff;
    nm->vlen = nlen;
    qsort_r(e->labels, e->nlabels, sizeof *e->labels, prw_label_cmp, e->scratch.p);
    return true;
}

/* A later label of the same name wins: is label i shadowed by the next one? */
static bool prw_label_shadowed(const struct prw_enc *e, size_t i)
{
    const struct prw_label *l = &e->labels[i];
    const struct prw_label *nx = i + 1 < e->nlabels ? &e->labels[i + 1] : NULL;
    return nx && nx->nlen == l->nlen &&
           memcmp(e->scratch.p + nx->noff, e->scratch.p + l->noff, l->nlen) == 0;
}

/* One TimeSeries message (its labels sorted, one sample) into e->item. */
static void prw_series(struct prw_enc *e, const struct md_series *s)
{
    md_buf_reset(&e->item);
    if (!prw_labels(e, s))
        return;
    const char *base = e->scratch.p;
    struct md_buf lb;
    md_buf_init(&lb);
    for (size_t i = 0; i < e->nlabels; i++) {
        const struct prw_label *l = &e->labels[i];
        if (prw_label_shadowed(e, i))
            continue;
        md_buf_reset(&lb);
        prw_bytes(&lb, 1, base + l->noff, l->nlen);
        prw_bytes(&lb, 2, base + l->voff, l->vlen);
        prw_bytes(&e->item, 1, lb.p, lb.len);
    }
    md_buf_reset(&lb);
    uint8_t d[9] = {1u << 3 | 1}; /* Sample.value: double, fixed64 */
    memcpy(d + 1, &s->value, 8);
    md_buf_add(&lb, d, 9);
    prw_varint(&lb, 2u << 3 | 0); /* Sample.timestamp: int64 milliseconds */
    prw_varint(&lb, (uint64_t)(s->timestamp * 1000));
    prw_bytes(&e->item, 2, lb.p, lb.len);
    e->oom = e->oom || lb.oom || e->item.oom;
    md_buf_free(&lb);
}

/* OpenMetrics label values escape backslash, double quote and line feed. */
static void prw_text_value(struct md_buf *b, const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\\' || v[i] == '"')
            md_buf_putc(b, '\\');
        if (v[i] == '\n')
            md_buf_puts(b, "\\n");
        else
            md_buf_putc(b, v[i]);
    }
}

void md_prw_series_text(const struct md_series *s, struct md_buf *out)
{
    struct prw_enc e = {0};
    md_buf_init(&e.scratch);
    if (prw_labels(&e, s)) {
        const char *base = e.scratch.p;
        size_t name = 0, nlab = 0;
        for (size_t i = 0; i < e.nlabels; i++)
            if (e.labels[i].nlen == 8 && memcmp(base + e.labels[i].noff, "__name__", 8) == 0)
                name = i;
        md_buf_add(out, base + e.labels[name].voff, e.labels[name].vlen);
        for (size_t i = 0; i < e.nlabels; i++) {
            const struct prw_label *l = &e.labels[i];
            if (i == name || prw_label_shadowed(&e, i))
                continue;
            md_buf_putc(out, nlab++ ? ',' : '{');
            md_buf_add(out, base + l->noff, l->nlen);
            md_buf_puts(out, "=\"");
            prw_text_value(out, base + l->voff, l->vlen);
            md_buf_putc(out, '"');
        }
        if (nlab)
            md_buf_putc(out, '}');
    }
    md_buf_free(&e.scratch);
    free(e.labels);
}

static char *prw_header(const char *name, const char *value)
{
    struct md_buf b;
    md_buf_init(&b);
    md_buf_printf(&b, "%s: %s", name, value);
    return md_buf_steal(&b, NULL);
}

/* Snappy-compress the WriteRequest in e->body into a payload on the list. */
static int prw_emit(struct prw_state *st, struct prw_enc *e, size_t n, struct md_payload **out)
{
    if (!n)
        return 0;
    if (e->body.oom)
        return -ENOMEM;
    struct md_payload *p = calloc(1, sizeof *p);
    size_t zlen = snappy_max_compressed_length(e->body.len);
    if (!p || !(p->body = malloc(zlen ? zlen : 1)) || !(p->url = strdup(st->url)) ||
        snappy_compress(e->body.p, e->body.len, p->body, &zlen) != SNAPPY_OK) {
        md_payload_free(p);
        return -ENOMEM;
    }
    p->len = zlen;
    p->nitems = n;
    p->content_type = "application/x-protobuf";
    p->sink = "prometheus_rw";
    p->headers[p->nheaders++] = prw_header("Content-Encoding", "snappy");
    p->headers[p->nheaders++] = prw_header("Content-Type", "application/x-protobuf");
    p->headers[p->nheaders++] = prw_header("X-Prometheus-Remote-Write-Version", "0.1.0");
    p->headers[p->nheaders++] = prw_header("User-Agent", "meterd/" METERD_VERSION);
    if (st->auth[0])
        p->headers[p->nheaders++] = prw_header("Authorization", st->auth);
    for (unsigned i = 0; i < p->nheaders; i++) {
        if (!p->headers[i]) {
            md_payload_free(p);
            return -ENOMEM;
        }
    }
    while (*out)
        out = &(*out)->next;
    *out = p;
    md_buf_reset(&e->body);
    return 0;
}

static int prw_encode(void *state, const struct md_frame *f, struct md_payload **out)
{
    struct prw_state *st = state;
    struct prw_enc e = {0};
    md_buf_init(&e.scratch);
    md_buf_init(&e.item);
    md_buf_init(&e.body);
    int rc = 0;
    size_t n = 0;
    for (size_t i = 0; i < f->nseries && rc == 0; i++) {
        prw_series(&e, &f->series[i]);
        if (e.oom) {
            rc = -ENOMEM;
            break;
        }
        if (n && e.body.len + e.item.len + 16 > PRW_MAX_BODY) {
            rc = prw_emit(st, &e, n, out);
            n = 0;
        }
        prw_bytes(&e.body, 1, e.item.p, e.item.len); /* WriteRequest.timeseries */
        n++;
    }
    if (rc == 0)
        rc = prw_emit(st, &e, n, out);
    md_buf_free(&e.scratch);
    md_buf_free(&e.item);
    md_buf_free(&e.body);
    free(e.labels);
    return rc;
}

/* WriteRequest.timeseries is field 1; metadata (field 3) would go to both halves. */
static int prw_split(const char *body, size_t len, size_t nitems, struct md_buf *a, size_t *na,
                     struct md_buf *b, size_t *nb)
{
    (void)nitems;
    return md_pb_split(body, len, 1, a, na, b, nb);
}

const struct md_sink_ops md_sink_prometheus_rw = {
    .name = "prometheus_rw",
    .transport = MD_TRANSPORT_HTTP,
    .keys = prw_keys,
    .conf_size = sizeof(struct md_prw_conf),
    .wanted = prw_wanted,
    .create = prw_create,
    .encode = prw_encode,
    .destroy = prw_destroy,
    .split = prw_split,
};
