/*
 * datadog_series.c: a frame's series for the Datadog intake, as v1 JSON
 * ({"series":[...]} to /api/v1/series) or as v2 protobuf (MetricPayload to
 * /api/v2/series, series_pb.h), whichever use_v2_api.series chose.
 *
 * Both write what the Datadog agent's serializer writes, streamed into
 * the compressor under the endpoint's limits (datadog_batch.c). Names,
 * tags and hosts go out as valid UTF-8 in both: invalid bytes are replaced
 * by U+FFFD and counted, rather than rejected at intake, because one bad
 * byte must neither make a strict backend refuse the whole payload nor
 * lose the sample, and the intake hot path stays free of the check. In
 * JSON "host" and "tags" are always written, even empty: VictoriaMetrics
 * 1.79 pools request objects without resetting them, and an omitted field
 * inherits an earlier value. Each window also carries
 * datadog.agent.running (1, the agent's host), as from the agent.
 */
#include <string.h>

#include "datadog_int.h"
#include "datadog_meta.h"
#include "series_pb.h"

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* Returns the bytes replaced to keep the item valid UTF-8. */
static size_t dd_series_json(struct md_buf *b, const struct md_frame *f, const struct md_series *s)
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
    bad += md_dd_json_tags(b, s->key, &device);
    if (device) {
        md_buf_puts(b, ",\"device\":");
        bad += md_json_cstr(b, device);
    }
    md_buf_putc(b, '}');
    return bad;
}

/* One encode's series writer: the batch, its joints and the item scratch. */
struct dd_series_out {
    struct dd_batch b;
    struct md_buf fresh, cont, item;
    struct md_series_pb pb;
    bool v2;
};

static void dd_series_add(struct dd_series_out *o, const struct md_frame *f,
                          const struct md_series *s)
{
    md_buf_reset(&o->item);
    size_t bad = o->v2 ? md_series_pb_item(&o->pb, &o->item, s, f->interval)
                       : dd_series_json(&o->item, f, s);
    md_dd_note_utf8(o->b.st, bad);
    md_dd_batch_add(&o->b, &o->fresh, &o->cont, &o->item);
}

/* datadog.agent.running of the window: the same series writer as any other series. */
static void dd_series_running(struct dd_series_out *o, const struct md_frame *f)
{
    struct dd_state *st = o->b.st;
    if (!o->v2) {
        md_buf_reset(&o->item);
        md_dd_running_item(&o->item, st->host, f->start, f->interval);
        md_dd_batch_add(&o->b, &o->fresh, &o->cont, &o->item);
        return;
    }
    static const char *const tags[] = {"version:" METERD_VERSION};
    const struct md_series_key key = {.host = st->host, .tags = tags, .ntags = 1};
    const struct md_series s = {.name = "datadog.agent.running", .key = &key,
                                .type = MD_SERIES_GAUGE, .interval = f->interval,
                                .timestamp = f->start, .value = 1};
    dd_series_add(o, f, &s);
}

int md_dd_encode_series(struct dd_state *st, const struct md_frame *f, struct md_payload **out)
{
    struct dd_series_out o = {.v2 = st->v2_series};
    if (o.v2)
        o.b = (struct dd_batch){.st = st, .path = "/api/v2/series",
                                .content_type = "application/x-protobuf", .limit = st->v2_limit,
                                .climit = st->v2_climit, .max_items = DD_V2_MAX_POINTS,
                                .tail = "", .out = out};
    else
        md_dd_batch_json(&o.b, st, "/api/v1/series", "]}", out);
    md_buf_init(&o.fresh);
    md_buf_init(&o.cont);
    md_buf_init(&o.item);
    md_series_pb_init(&o.pb);
    if (!o.v2) {
        md_buf_puts(&o.fresh, "{\"series\":[");
        md_buf_putc(&o.cont, ',');
    }
    for (size_t i = 0; i < f->nseries && !o.b.rc; i++)
        dd_series_add(&o, f, &f->series[i]);
    if (st->agent_items && !f->continued && !o.b.rc &&
        md_dd_running_take(&st->running_last, f->start))
        dd_series_running(&o, f);
    md_dd_batch_end(&o.b);
    md_buf_free(&o.fresh);
    md_buf_free(&o.cont);
    md_buf_free(&o.item);
    md_series_pb_free(&o.pb);
    return o.b.rc;
}
