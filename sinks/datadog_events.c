/*
 * datadog_events.c: service checks (a JSON array to /api/v1/check_run) and
 * events (the agent's intake envelope to /intake/, grouped by source type
 * name) of a frame, as the Datadog agent's v1 serializer writes them,
 * streamed under the v1 limits like series (datadog_batch.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "datadog_int.h"

static const char *nz(const char *s)
{
    return s ? s : "";
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
    md_dd_json_tags(b, c->key, NULL);
    md_buf_putc(b, '}');
}

int md_dd_encode_checks(struct dd_state *st, const struct md_frame *f, struct md_payload **out)
{
    struct dd_batch b;
    md_dd_batch_json(&b, st, "/api/v1/check_run", "]", out);
    struct md_buf fresh, cont, item;
    md_buf_init(&fresh);
    md_buf_init(&cont);
    md_buf_init(&item);
    md_buf_puts(&fresh, "[");
    md_buf_putc(&cont, ',');
    for (size_t i = 0; i < f->nchecks && !b.rc; i++) {
        md_buf_reset(&item);
        dd_check_item(&item, &f->checks[i]);
        md_dd_batch_add(&b, &fresh, &cont, &item);
    }
    md_dd_batch_end(&b);
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
    md_dd_json_tags(b, e->key, NULL);
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

int md_dd_encode_events(struct dd_state *st, const struct md_frame *f, struct md_payload **out)
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
    struct dd_batch b;
    md_dd_batch_json(&b, st, "/intake/", tail.p ? tail.p : "", out);
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
        md_dd_batch_add(&b, &fresh, &cont, &item);
        if (b.nitems != before || b.zs.unc != unc_before)
            group = g;
        if (!b.nitems)
            group = NULL;
    }
    if (tail.oom)
        b.rc = -ENOMEM;
    md_dd_batch_end(&b);
    md_buf_free(&tail);
    md_buf_free(&fresh);
    md_buf_free(&cont);
    md_buf_free(&item);
    free(ord);
    return b.rc;
}
