/*
 * datadog.c: the Datadog sink ("datadog"): its keys, its state and what a
 * window becomes.
 *
 * It writes what the Datadog agent's serializer writes, so the same
 * payloads are accepted by Datadog's intake and by receivers that speak it
 * (VictoriaMetrics' /datadog prefix): series to /api/v2/series (protobuf)
 * or /api/v1/series (JSON) by use_v2_api.series, service checks to
 * /api/v1/check_run, events to /intake/, distributions as sketches to
 * /api/beta/sketches. The v2 default follows the intake: Datadog's own
 * sites take v2 (smaller, what the agent sends), anything else gets v1,
 * because VictoriaMetrics 1.79 and other receivers of the Datadog API
 * answer 400 to /api/v2/series. Like the agent, the host metadata document
 * (datadog_meta.c) goes to /intake/ with the first window and every 30
 * minutes, so the host shows in the infrastructure list. The other files
 * of the sink are listed in datadog_int.h.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <zlib.h>

#include "buf.h"
#include "compress.h"
#include "datadog.h"
#include "datadog_int.h"
#include "datadog_meta.h"
#include "meterd/sink.h"
#include "sketch_pb.h"

/* Sketch payloads: the agent's general limit (serializer_max_uncompressed_payload_size). */
#define DD_SKETCH_MAX_BYTES 4194304u
#define DD_DEFAULT_SITE "datadoghq.com"

static const char *nz(const char *s)
{
    return s ? s : "";
}

int md_sink_datadog_set_agent_items(void *state, bool on)
{
    struct dd_state *st = state;
    if (!st)
        return -EINVAL;
    st->agent_items = on;
    return 0;
}

int md_sink_datadog_set_limits(void *state, size_t max_compressed, size_t max_uncompressed)
{
    struct dd_state *st = state;
    if (!st)
        return -EINVAL;
    st->limit = max_uncompressed ? max_uncompressed : DD_MAX_UNCOMPRESSED;
    st->climit = max_compressed ? max_compressed : DD_MAX_COMPRESSED;
    st->v2_limit = max_uncompressed ? max_uncompressed : DD_V2_MAX_UNCOMPRESSED;
    st->v2_climit = max_compressed ? max_compressed : DD_V2_MAX_COMPRESSED;
    return 0;
}

/* ---- keys ---- */

#define DD_OFF(m, ctype) MD_OPT_OFF(struct md_datadog_conf, m, ctype)

static const char *const dd_dist_outputs[] = {"auto", "sketch", "series", NULL};
static const char *const dd_v2_choices[] = {"auto", "true", "false", NULL};
static const char *const dd_comp_choices[] = {"auto", "zstd", "zlib", NULL};

_Static_assert(sizeof(enum md_dist_output) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(enum md_v2_series) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(enum md_dd_compressor) == sizeof(int), "enum fields are written as int");

static const char *dd_check_site(const char *v)
{
    if (strstr(v, "://") || strchr(v, '/'))
        return "expected a domain like datadoghq.eu, not a URL";
    for (const char *s = v; *s; s++)
        if (*s <= ' ' || *s == 0x7f)
            return "expected a domain without spaces";
    return NULL;
}

static const struct md_opt dd_keys[] = {
    {"api_key", MD_OPT_SECRET, DD_OFF(api_key, char *), "", 0, 0, NULL, 0, NULL, NULL, NULL,
     {"DD_API_KEY"}, "Datadog sink",
     "Datadog API key; needed only by the datadog sink. Never logged or printed in\n"
     "full: configcheck shows only its last 4 characters."},
    {"site", MD_OPT_STRING, DD_OFF(site, char *), DD_DEFAULT_SITE, 0, 0, NULL, MD_OPT_F_DOMAIN,
     dd_check_site,
     NULL, NULL, {"DD_SITE"}, NULL,
     "Datadog site to ship to: datadoghq.com, datadoghq.eu, us3.datadoghq.com,\n"
     "us5.datadoghq.com, ap1.datadoghq.com or ddog-gov.com. A leading https:// and a\n"
     "trailing / are dropped."},
    {"dd_url", MD_OPT_URL, DD_OFF(dd_url, char *), "", 0, 0, NULL, 0, NULL, NULL, NULL,
     {"DD_DD_URL", "DD_URL"}, NULL,
     "Metrics intake URL (http:// or https://); overrides site when set. Point it\n"
     "at any backend that speaks the Datadog series API (e.g. VictoriaMetrics).\n"
     "Credentials and the query string are never printed."},
    {"distribution_output", MD_OPT_ENUM, DD_OFF(distribution_output, enum md_dist_output),
     "auto", 0, 0, dd_dist_outputs, 0, NULL, NULL, NULL, {0}, NULL,
     "How distributions (|d) leave: sketch (DDSketch to /api/beta/sketches),\n"
     "series (.avg .count .max .min .median .95percentile, for backends without\n"
     "sketches) or auto (sketch for Datadog's own sites, series for any dd_url)."},
    {"use_v2_api.series", MD_OPT_ENUM, DD_OFF(use_v2_series, enum md_v2_series), "auto", 0, 0,
     dd_v2_choices, 0, NULL, NULL, NULL, {0}, NULL,
     "Series as protobuf to /api/v2/series (true) or as JSON to /api/v1/series\n"
     "(false). auto: v2 for Datadog's own sites (site, or a dd_url under\n"
     "datadoghq.com, datadoghq.eu or ddog-gov.com), v1 for any other dd_url\n"
     "(VictoriaMetrics 1.79 answers 400 to v2)."},
    {"serializer_compressor_kind", MD_OPT_ENUM, DD_OFF(compressor_kind, enum md_dd_compressor),
     "auto", 0, 0, dd_comp_choices, 0, NULL, NULL, NULL, {"DD_SERIALIZER_COMPRESSOR_KIND"}, NULL,
     "Compression of every Datadog payload: zstd (Content-Encoding: zstd, what the\n"
     "Datadog agent sends by default) or zlib (Content-Encoding: deflate). auto:\n"
     "zstd for Datadog's own sites, zlib for any other dd_url (VictoriaMetrics 1.79\n"
     "does not decode zstd). The payload limits apply to the compressed size either way."},
    {"serializer_zstd_compressor_level", MD_OPT_INT, DD_OFF(zstd_level, int), "1", 1, 22, NULL,
     0, NULL, NULL, NULL, {"DD_SERIALIZER_ZSTD_COMPRESSOR_LEVEL"}, NULL,
     "zstd level when the payloads are zstd: 1 (fastest, the Datadog agent's default)\n"
     "to 22 (smallest)."},
    {NULL},
};

/* With an api_key or a dd_url, an empty `sinks` means this one. */
static bool dd_wanted(const void *conf)
{
    const struct md_datadog_conf *c = conf;
    return (c->api_key && c->api_key[0]) || (c->dd_url && c->dd_url[0]);
}

/* Whether url's host is one of Datadog's sites or under one ("api.us5.datadoghq.com"). */
bool md_sink_datadog_is_site(const char *url)
{
    static const char *const sites[] = {"datadoghq.com", "datadoghq.eu", "ddog-gov.com"};
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    size_t n = strcspn(h, "/?#");
    for (size_t i = n; i-- > 0;) {
        if (h[i] == '@') { /* user:password@ */
            n -= i + 1;
            h += i + 1;
            break;
        }
    }
    if (n && h[0] == '[')
        return false; /* an IPv6 literal */
    const char *colon = memchr(h, ':', n);
    if (colon)
        n = (size_t)(colon - h);
    if (n && h[n - 1] == '.')
        n--;
    for (size_t i = 0; i < sizeof sites / sizeof sites[0]; i++) {
        size_t l = strlen(sites[i]);
        if (n >= l && strncasecmp(h + n - l, sites[i], l) == 0 && (n == l || h[n - l - 1] == '.'))
            return true;
    }
    return false;
}

/* The intake is Datadog's own: no dd_url (so a site), or a dd_url on a Datadog site. */
static bool dd_is_datadog(const struct md_datadog_conf *c)
{
    return !c->dd_url || !c->dd_url[0] || md_sink_datadog_is_site(c->dd_url);
}

/*
 * auto ships sketches only to Datadog's own intake, and only with an
 * api_key; anything else that speaks the series API (VictoriaMetrics 1.79
 * ...) gets series.
 */
static bool dd_sketches(const void *conf)
{
    const struct md_datadog_conf *c = conf;
    if (c->distribution_output != MD_DIST_AUTO)
        return c->distribution_output == MD_DIST_SKETCH;
    return c->api_key && c->api_key[0] && dd_is_datadog(c);
}

char *md_sink_datadog_base_url(const struct md_datadog_conf *c)
{
    struct md_buf b;
    md_buf_init(&b);
    if (c->dd_url && c->dd_url[0])
        md_buf_puts(&b, c->dd_url);
    else
        md_buf_printf(&b, "https://api.%s", c->site && c->site[0] ? c->site : DD_DEFAULT_SITE);
    while (b.len && b.p[b.len - 1] == '/')
        b.p[--b.len] = '\0';
    return md_buf_steal(&b, NULL);
}

static void dd_destroy(void *state);

static int dd_create(const void *conf, const struct md_sink_env *env, void **state, char *err,
                     size_t errlen)
{
    const struct md_datadog_conf *c = conf;
    struct dd_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    st->base = md_sink_datadog_base_url(c);
    st->api_key = strdup(nz(c->api_key));
    st->host = strdup(env && env->hostname ? env->hostname : "");
    md_sink_datadog_set_limits(st, 0, 0);
    st->v2_series = c->use_v2_series == MD_V2_AUTO ? dd_is_datadog(c) : c->use_v2_series == MD_V2_ON;
    bool zstd = c->compressor_kind == MD_DD_COMP_AUTO ? dd_is_datadog(c)
                                                      : c->compressor_kind == MD_DD_COMP_ZSTD;
    st->comp = zstd ? MD_COMP_ZSTD : MD_COMP_ZLIB;
    st->comp_level = zstd ? (c->zstd_level ? c->zstd_level : MD_ZSTD_LEVEL_DEFAULT)
                          : Z_DEFAULT_COMPRESSION;
    st->agent_items = true;
    bool ok = st->base && st->api_key && st->host;
    if (ok && env && env->ntags) {
        ok = (st->tags = calloc(env->ntags, sizeof *st->tags)) != NULL;
        for (size_t i = 0; ok && i < env->ntags; i++)
            ok = (st->tags[st->ntags++] = strdup(env->tags[i])) != NULL;
    }
    if (!ok) {
        dd_destroy(st);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *state = st;
    return 0;
}

static void dd_destroy(void *state)
{
    struct dd_state *st = state;
    if (!st)
        return;
    if (st->api_key)
        explicit_bzero(st->api_key, strlen(st->api_key));
    free(st->api_key);
    free(st->base);
    free(st->host);
    for (size_t i = 0; i < st->ntags; i++)
        free(st->tags[i]);
    free(st->tags);
    free(st);
}

/* Distributions as the agent-payload SketchPayload protobuf, split by size. */
static int dd_encode_sketches(struct dd_state *st, const struct md_frame *f, struct md_payload **out)
{
    size_t first = 0;
    while (first < f->nsketches) {
        size_t bytes = MD_SKETCH_PB_OVERHEAD, n = 0;
        while (first + n < f->nsketches) {
            size_t item = md_sketch_pb_item_size(&f->sketches[first + n]);
            if (n > 0 && bytes + item > DD_SKETCH_MAX_BYTES)
                break;
            bytes += item;
            n++;
        }
        struct md_buf b;
        md_buf_init(&b);
        size_t done = 0;
        struct md_payload *p = NULL;
        if (md_sketch_pb_encode(f, first, n, &b, &done) != 0 || b.oom ||
            !(p = md_dd_payload_new(st, "/api/beta/sketches", "application/x-protobuf")) ||
            md_dd_compress_body(st, p, b.p, b.len) != 0) {
            md_buf_free(&b);
            md_payload_free(p);
            return -ENOMEM;
        }
        md_buf_free(&b);
        p->nitems = done;
        md_dd_list_append(out, p);
        first += n;
    }
    return 0;
}

/* The host metadata when it is due; of two encodes at once, one wins the slot. */
static int dd_encode_meta(struct dd_state *st, struct md_payload **out)
{
    int64_t now = (int64_t)time(NULL);
    if (!st->agent_items || !md_dd_meta_take(&st->meta_due, now))
        return 0;
    struct md_buf b;
    md_buf_init(&b);
    md_dd_meta_body(&b, st->host, (const char *const *)st->tags, st->ntags);
    struct md_payload *p = b.oom ? NULL : md_dd_payload_new(st, "/intake/", "application/json");
    if (!p || md_dd_compress_body(st, p, b.p, b.len) != 0) {
        md_buf_free(&b);
        md_payload_free(p);
        atomic_store(&st->meta_due, now); /* try again with the next window */
        return -ENOMEM;
    }
    md_buf_free(&b);
    p->nitems = 1;
    md_dd_list_append(out, p);
    return 0;
}

static int dd_encode(void *state, const struct md_frame *f, struct md_payload **out)
{
    struct dd_state *st = state;
    int rc = dd_encode_meta(st, out);
    if (rc == 0)
        rc = md_dd_encode_series(st, f, out);
    if (rc == 0)
        rc = md_dd_encode_checks(st, f, out);
    if (rc == 0)
        rc = md_dd_encode_events(st, f, out);
    /* The frame holds sketches only when dd_sketches asked the aggregator for them. */
    if (rc == 0)
        rc = dd_encode_sketches(st, f, out);
    return rc;
}

const struct md_sink_ops md_sink_datadog = {
    .name = "datadog",
    .transport = MD_TRANSPORT_HTTP,
    .keys = dd_keys,
    .conf_size = sizeof(struct md_datadog_conf),
    .wanted = dd_wanted,
    .sketches = dd_sketches,
    .create = dd_create,
    .encode = dd_encode,
    .destroy = dd_destroy,
    .split = md_dd_split,
};
