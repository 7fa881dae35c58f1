/*
 * datadog.c: the Datadog v1 JSON sink ("datadog").
 *
 * It writes what the Datadog agent's JSON serializer writes, so the same
 * payloads are accepted by Datadog's intake and by receivers that speak it
 * (VictoriaMetrics' /datadog prefix): series to /api/v1/series, service
 * checks to /api/v1/check_run, events to /intake/. Items are streamed into
 * a zlib stream (zstream.h) as they are written, and a new payload starts
 * before the next item would pass either of the v1 intake's limits (3.2 MB
 * compressed, 62 MB uncompressed), so the uncompressed JSON of a window
 * never sits in memory and no payload earns a 413. An item too large to fit
 * a payload on its own is dropped and logged, as the Datadog agent does.
 * Names, tags and hosts go out as valid UTF-8: invalid bytes are replaced
 * by U+FFFD (md_json_str) and counted, rather than rejected at intake,
 * because one bad byte must neither make a strict backend refuse the whole
 * payload nor lose the sample, and the intake hot path stays free of the
 * check. "host" and "tags" are always written, even empty: VictoriaMetrics
 * 1.79 pools request objects without resetting them, and an omitted field
 * inherits an earlier value. Like the agent, each window carries
 * datadog.agent.running (1, the agent's host), and the host metadata
 * document (datadog_meta.c) goes to /intake/ with the first window and
 * every 30 minutes, so the host shows in the infrastructure list.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "datadog.h"
#include "datadog_meta.h"
#include "meterd/sink.h"
#include "json_split.h"
#include "zstream.h"
#include "sketch_pb.h"

/* The v1 series intake's limits (compressed, uncompressed). */
#define DD_MAX_COMPRESSED 3200000u
#define DD_MAX_UNCOMPRESSED 62000000u
/* Sketch payloads: the agent's general limit (serializer_max_uncompressed_payload_size). */
#define DD_SKETCH_MAX_BYTES 4194304u
#define DD_DEFAULT_SITE "datadoghq.com"

static const char *nz(const char *s)
{
    return s ? s : "";
}

struct dd_state {
    char *base;    /* no trailing slash */
    char *api_key; /* secret: only ever copied into a header */
    char *host;    /* agent hostname, for the events envelope */
    size_t limit;  /* max uncompressed body bytes */
    size_t climit; /* max compressed body bytes */
    _Atomic unsigned long long utf8_fixed; /* bytes replaced by U+FFFD, not yet logged */
    _Atomic long long utf8_logged;         /* unix time of the last line about them */
    char **tags;   /* host tags, for the host metadata */
    size_t ntags;
    _Atomic int64_t meta_due; /* unix seconds of the next host metadata; encodes race for it */
    _Atomic int64_t running_last; /* newest window that carried datadog.agent.running */
    bool agent_items;         /* host metadata and datadog.agent.running */
};


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
    return 0;
}

/* ---- keys ---- */

#define DD_OFF(m, ctype) MD_OPT_OFF(struct md_datadog_conf, m, ctype)

static const char *const dd_dist_outputs[] = {"auto", "sketch", "series", NULL};

_Static_assert(sizeof(enum md_dist_output) == sizeof(int), "enum fields are written as int");

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
    {NULL},
};

/* With an api_key or a dd_url, an empty `sinks` means this one. */
static bool dd_wanted(const void *conf)
{
    const struct md_datadog_conf *c = conf;
    return (c->api_key && c->api_key[0]) || (c->dd_url && c->dd_url[0]);
}

/*
 * auto ships sketches only to Datadog's own intake (an api_key and no
 * dd_url, or a dd_url on a Datadog domain); anything else that speaks the
 * series API (VictoriaMetrics 1.79 ...) gets series.
 */
static bool dd_sketches(const void *conf)
{
    const struct md_datadog_conf *c = conf;
    if (c->distribution_output != MD_DIST_AUTO)
        return c->distribution_output == MD_DIST_SKETCH;
    if (!c->api_key || !c->api_key[0])
        return false;
    const char *u = c->dd_url ? c->dd_url : "";
    return !u[0] || strstr(u, ".datadoghq.") || strstr(u, "ddog-gov.com");
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
    st->limit = DD_MAX_UNCOMPRESSED;
    st->climit = DD_MAX_COMPRESSED;
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

/* A payload being filled (compressed as it goes), plus where finished ones go. */
struct dd_batch {
    struct dd_state *st;
    const char *path;
    struct md_zstream zs;
    size_t nitems;
    const char *tail; /* closes the JSON document */
    struct md_payload **out;
    int rc;
};

static char *dd_header(const char *name, const char *value)
{
    struct md_buf b;
    md_buf_init(&b);
    md_buf_printf(&b, "%s: %s", name, value);
    return md_buf_steal(&b, NULL);
}

static struct md_payload *dd_payload_new_typed(struct dd_state *st, const char *path,
                                               const char *content_type)
{
    struct md_payload *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    struct md_buf u;
    md_buf_init(&u);
    md_buf_puts(&u, st->base);
    md_buf_puts(&u, path);
    p->url = md_buf_steal(&u, NULL);
    p->content_type = content_type;
    p->compress = true;
    p->sink = "datadog";
    if (st->api_key[0])
        p->headers[p->nheaders++] = dd_header("DD-API-KEY", st->api_key);
    p->headers[p->nheaders++] = dd_header("Content-Type", content_type);
    p->headers[p->nheaders++] = dd_header("User-Agent", "meterd/" METERD_VERSION);
    bool ok = p->url != NULL;
    for (unsigned i = 0; i < p->nheaders; i++)
        ok = ok && p->headers[i];
    if (!ok) {
        md_payload_free(p);
        return NULL;
    }
    return p;
}

static struct md_payload *dd_payload_new(struct dd_state *st, const char *path)
{
    return dd_payload_new_typed(st, path, "application/json");
}

static void dd_list_append(struct md_payload **out, struct md_payload *p)
{
    while (*out)
        out = &(*out)->next;
    *out = p;
}

/* Close the current body and queue it as a payload. */
static void dd_batch_emit(struct dd_batch *b)
{
    if (!b->nitems)
        return;
    struct md_payload *p = dd_payload_new(b->st, b->path);
    char *z = NULL;
    size_t zlen = 0;
    int rc = md_zs_finish(&b->zs, b->tail, strlen(b->tail), &z, &zlen);
    size_t n = b->nitems;
    b->nitems = 0;
    if (rc != 0 || !p || p->nheaders >= MD_PAYLOAD_MAX_HEADERS ||
        !(p->headers[p->nheaders] = dd_header("Content-Encoding", "deflate"))) {
        free(z);
        md_payload_free(p);
        b->rc = -ENOMEM;
        return;
    }
    p->nheaders++;
    p->body = z;
    p->len = zlen;
    p->nitems = n;
    p->compress = false; /* already: the flusher leaves it alone */
    dd_list_append(b->out, p);
}

/*
 * Add one serialised item. `fresh` opens a new body before it, `cont`
 * joins it to the previous item of the same body. The body is shipped
 * first when the item would push it past a limit.
 */
static void dd_batch_add(struct dd_batch *b, const struct md_buf *fresh, const struct md_buf *cont,
                         const struct md_buf *item, const char *what)
{
    size_t tail = strlen(b->tail);
    if (item->oom || fresh->oom || cont->oom) {
        b->rc = -ENOMEM;
        return;
    }
    size_t alone = fresh->len + item->len + tail;
    if (alone > b->st->limit || compressBound((uLong)alone) > b->st->climit) {
        md_warn("datadog: dropping one %s of %zu bytes: larger than a payload may be", what,
                item->len);
        return;
    }
    if (b->nitems && !md_zs_fits(&b->zs, cont->len + item->len))
        dd_batch_emit(b);
    if (b->nitems) {
        md_zs_write(&b->zs, cont->p, cont->len);
        md_zs_write(&b->zs, item->p, item->len);
        b->nitems++;
        return;
    }
    if (md_zs_begin(&b->zs, b->st->climit, b->st->limit, fresh->p, fresh->len, tail) != 0) {
        md_zs_abort(&b->zs);
        b->rc = -ENOMEM;
        return;
    }
    if (!md_zs_fits(&b->zs, item->len)) {
        md_warn("datadog: dropping one %s of %zu bytes: larger than a payload may be", what,
                item->len);
        md_zs_abort(&b->zs);
        return;
    }
    md_zs_write(&b->zs, item->p, item->len);
    b->nitems = 1;
}

/* End of an encode: ship what is open, release the stream. */
static void dd_batch_end(struct dd_batch *b)
{
    dd_batch_emit(b);
    md_zs_abort(&b->zs);
}

static size_t dd_json_tags(struct md_buf *b, const struct md_series_key *k, const char **device)
{
    md_buf_putc(b, '[');
    bool first = true;
    size_t bad = 0;
    for (uint32_t i = 0; k && i < k->ntags; i++) {
        const char *t = k->tags[i];
        /* The Datadog agent moves device:<x> into its own field; the last one wins. */
        if (device && strncmp(t, "device:", 7) == 0) {
            *device = t + 7;
            continue;
        }
        if (!first)
            md_buf_putc(b, ',');
        bad += md_json_cstr(b, t);
        first = false;
    }
    md_buf_putc(b, ']');
    return bad;
}

/* Returns the bytes replaced to keep the item valid UTF-8. */
static size_t dd_series_item(struct md_buf *b, const struct md_frame *f, const struct md_series *s)
{
    const char *device = NULL;
    size_t bad;
    md_buf_puts(b, "{\"metric\":");
    bad = md_json_cat(b, s->name, s->suffix);
    md_buf_puts(b, ",\"points\":[[");
    md_json_int(b, s->timestamp);
    md_buf_putc(b, ',');
    md_json_num(b, s->value);
    md_buf_puts(b, "]],\"type\":");
    md_json_cstr(b, md_series_type_name(s->type));
    md_buf_puts(b, ",\"interval\":");
    md_json_int(b, s->interval ? s->interval : f->interval);
    md_buf_puts(b, ",\"host\":");
    bad += md_json_cstr(b, s->key ? nz(s->key->host) : "");
    md_buf_puts(b, ",\"tags\":");
    bad += dd_json_tags(b, s->key, &device);
    if (device) {
        md_buf_puts(b, ",\"device\":");
        bad += md_json_cstr(b, device);
    }
    md_buf_putc(b, '}');
    return bad;
}

/* Invalid UTF-8 replaced: one line a minute with the count (encode runs on pool threads). */
static void dd_note_utf8(struct dd_state *st, size_t bad)
{
    if (!bad)
        return;
    unsigned long long n = atomic_fetch_add(&st->utf8_fixed, bad) + bad;
    long long now = (long long)time(NULL), last = atomic_load(&st->utf8_logged);
    if (now - last < 60 || !atomic_compare_exchange_strong(&st->utf8_logged, &last, now))
        return;
    atomic_fetch_sub(&st->utf8_fixed, n);
    md_warn("datadog: %llu byte(s) of invalid UTF-8 in metric names, tags or hosts replaced by "
            "U+FFFD since the last such line",
            n);
}

static void dd_buf_set(struct md_buf *b, const char *s)
{
    md_buf_reset(b);
    md_buf_puts(b, s);
}

static int dd_encode_series(struct dd_state *st, const struct md_frame *f, struct md_payload **out)
{
    struct dd_batch b = {.st = st, .path = "/api/v1/series", .tail = "]}", .out = out};
    struct md_buf fresh, cont, item;
    md_buf_init(&fresh);
    md_buf_init(&cont);
    md_buf_init(&item);
    dd_buf_set(&fresh, "{\"series\":[");
    dd_buf_set(&cont, ",");
    for (size_t i = 0; i < f->nseries && !b.rc; i++) {
        md_buf_reset(&item);
        dd_note_utf8(st, dd_series_item(&item, f, &f->series[i]));
        dd_batch_add(&b, &fresh, &cont, &item, "series");
    }
    if (st->agent_items && !f->continued && !b.rc && md_dd_running_take(&st->running_last, f->start)) {
        md_buf_reset(&item);
        md_dd_running_item(&item, st->host, f->start, f->interval);
        dd_batch_add(&b, &fresh, &cont, &item, "series");
    }
    dd_batch_end(&b);
    md_buf_free(&fresh);
    md_buf_free(&cont);
    md_buf_free(&item);
    return b.rc;
}

static void dd_check_item(struct md_buf *b, const struct md_check_out *c)
{
    md_buf_puts(b, "{\"check\":");
    md_json_cstr(b, nz(c->name));
    md_buf_puts(b, ",\"host_name\":");
    md_json_cstr(b, nz(c->host));
    md_buf_puts(b, ",\"timestamp\":");
    md_json_int(b, c->timestamp);
    md_buf_puts(b, ",\"status\":");
    md_json_int(b, c->status);
    md_buf_puts(b, ",\"message\":");
    md_json_cstr(b, nz(c->message));
    md_buf_puts(b, ",\"tags\":");
    dd_json_tags(b, c->key, NULL);
    md_buf_putc(b, '}');
}

static int dd_encode_checks(struct dd_state *st, const struct md_frame *f, struct md_payload **out)
{
    struct dd_batch b = {.st = st, .path = "/api/v1/check_run", .tail = "]", .out = out};
    struct md_buf fresh, cont, item;
    md_buf_init(&fresh);
    md_buf_init(&cont);
    md_buf_init(&item);
    dd_buf_set(&fresh, "[");
    dd_buf_set(&cont, ",");
    for (size_t i = 0; i < f->nchecks && !b.rc; i++) {
        md_buf_reset(&item);
        dd_check_item(&item, &f->checks[i]);
        dd_batch_add(&b, &fresh, &cont, &item, "service check");
    }
    dd_batch_end(&b);
    md_buf_free(&fresh);
    md_buf_free(&cont);
    md_buf_free(&item);
    return b.rc;
}

/* The key events are grouped under in the intake envelope. */
static const char *dd_event_group(const struct md_event_out *e)
{
    return e->source_type_name && e->source_type_name[0] ? e->source_type_name : "api";
}

static void dd_event_item(struct md_buf *b, const struct md_event_out *e)
{
    md_buf_puts(b, "{\"msg_title\":");
    md_json_cstr(b, nz(e->title));
    md_buf_puts(b, ",\"msg_text\":");
    md_json_cstr(b, nz(e->text));
    md_buf_puts(b, ",\"timestamp\":");
    md_json_int(b, e->timestamp);
    md_buf_puts(b, ",\"priority\":");
    md_json_cstr(b, e->priority && e->priority[0] ? e->priority : "normal");
    md_buf_puts(b, ",\"host\":");
    md_json_cstr(b, nz(e->host));
    md_buf_puts(b, ",\"tags\":");
    dd_json_tags(b, e->key, NULL);
    md_buf_puts(b, ",\"alert_type\":");
    md_json_cstr(b, e->alert_type && e->alert_type[0] ? e->alert_type : "info");
    md_buf_puts(b, ",\"aggregation_key\":");
    md_json_cstr(b, nz(e->aggregation_key));
    md_buf_puts(b, ",\"source_type_name\":");
    md_json_cstr(b, nz(e->source_type_name));
    md_buf_putc(b, '}');
}

/* Group order: first appearance, so output is stable for a given frame. */
static size_t *dd_event_order(const struct md_frame *f)
{
    size_t *ord = malloc(sizeof *ord * (f->nevents ? f->nevents : 1));
    bool *used = calloc(f->nevents ? f->nevents : 1, sizeof *used);
    if (!ord || !used) {
        free(ord);
        free(used);
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < f->nevents; i++) {
        if (used[i])
            continue;
        const char *g = dd_event_group(&f->events[i]);
        for (size_t j = i; j < f->nevents; j++) {
            if (!used[j] && strcmp(dd_event_group(&f->events[j]), g) == 0) {
                used[j] = true;
                ord[n++] = j;
            }
        }
    }
    free(used);
    return ord;
}

static int dd_encode_events(struct dd_state *st, const struct md_frame *f, struct md_payload **out)
{
    if (!f->nevents)
        return 0;
    size_t *ord = dd_event_order(f);
    if (!ord)
        return -ENOMEM;
    struct md_buf tail, fresh, cont, item;
    md_buf_init(&tail);
    md_buf_init(&fresh);
    md_buf_init(&cont);
    md_buf_init(&item);
    md_buf_puts(&tail, "]},\"internalHostname\":");
    md_json_cstr(&tail, st->host);
    md_buf_putc(&tail, '}');
    struct dd_batch b = {.st = st, .path = "/intake/", .tail = tail.p, .out = out};
    const char *group = NULL; /* group of the body's last item */
    for (size_t i = 0; i < f->nevents && !b.rc && !tail.oom; i++) {
        const struct md_event_out *e = &f->events[ord[i]];
        const char *g = dd_event_group(e);
        md_buf_reset(&fresh);
        md_buf_puts(&fresh, "{\"apiKey\":\"\",\"events\":{");
        md_json_cstr(&fresh, g);
        md_buf_puts(&fresh, ":[");
        md_buf_reset(&cont);
        if (group && strcmp(group, g) == 0) {
            md_buf_putc(&cont, ',');
        } else {
            md_buf_puts(&cont, "],");
            md_json_cstr(&cont, g);
            md_buf_puts(&cont, ":[");
        }
        md_buf_reset(&item);
        dd_event_item(&item, e);
        size_t before = b.nitems, unc_before = b.zs.unc;
        dd_batch_add(&b, &fresh, &cont, &item, "event");
        if (b.nitems != before || b.zs.unc != unc_before)
            group = g;
        if (!b.nitems)
            group = NULL;
    }
    if (tail.oom)
        b.rc = -ENOMEM;
    dd_batch_end(&b);
    md_buf_free(&tail);
    md_buf_free(&fresh);
    md_buf_free(&cont);
    md_buf_free(&item);
    free(ord);
    return b.rc;
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
        if (md_sketch_pb_encode(f, first, n, &b, &done) != 0 ||
            !(p = dd_payload_new_typed(st, "/api/beta/sketches", "application/x-protobuf"))) {
            md_buf_free(&b);
            return -ENOMEM;
        }
        p->body = md_buf_steal(&b, &p->len);
        p->nitems = done;
        dd_list_append(out, p);
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
    struct md_payload *p = b.oom ? NULL : dd_payload_new(st, "/intake/");
    if (!p || !(p->body = md_buf_steal(&b, &p->len))) {
        md_buf_free(&b);
        md_payload_free(p);
        atomic_store(&st->meta_due, now); /* try again with the next window */
        return -ENOMEM;
    }
    p->nitems = 1;
    dd_list_append(out, p);
    return 0;
}

static int dd_encode(void *state, const struct md_frame *f, struct md_payload **out)
{
    struct dd_state *st = state;
    int rc = dd_encode_meta(st, out);
    if (rc == 0)
        rc = dd_encode_series(st, f, out);
    if (rc == 0)
        rc = dd_encode_checks(st, f, out);
    if (rc == 0)
        rc = dd_encode_events(st, f, out);
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
    .split = md_json_split_datadog,
};
