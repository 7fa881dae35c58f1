/*
 * console.c: the "console" sink, a human-readable dump of each frame.
 *
 * It is what meterd ships when no backend is configured, so someone trying
 * the agent sees their metrics at once: one header line per frame, then one
 * line per series, event and service check, in the frame's order. It is for
 * eyes, not parsers; the flusher writes the payload to standard output.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "meterd/sink.h"

static int console_create(const void *conf, const struct md_sink_env *env, void **state,
                          char *err, size_t errlen)
{
    *state = NULL; /* stateless */
    return 0;
}

static void console_destroy(void *state)
{
}

static void console_time(struct md_buf *b, int64_t ts)
{
    time_t t = (time_t)ts;
    struct tm tm;
    char s[32];
    if (!gmtime_r(&t, &tm) || strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        md_buf_printf(b, "@%lld", (long long)ts);
        return;
    }
    md_buf_puts(b, s);
}

static void console_tags(struct md_buf *b, const struct md_series_key *k)
{
    md_buf_putc(b, '{');
    for (uint32_t i = 0; k && i < k->ntags; i++) {
        if (i)
            md_buf_putc(b, ',');
        md_buf_puts(b, k->tags[i]);
    }
    md_buf_putc(b, '}');
}

static const char *console_host(const char *h)
{
    return h && h[0] ? h : "-";
}

/* Quoted on one line: a newline in an event text would break the one-line-per-item promise. */
static void console_quoted(struct md_buf *b, const char *s)
{
    md_json_cstr(b, s ? s : "");
}

static void console_series(struct md_buf *b, const struct md_series *s)
{
    console_time(b, s->timestamp);
    md_buf_putc(b, ' ');
    md_buf_puts(b, s->name ? s->name : "");
    if (s->suffix)
        md_buf_puts(b, s->suffix);
    console_tags(b, s->key);
    md_buf_printf(b, " host=%s %s ", console_host(s->key ? s->key->host : NULL),
                  md_series_type_name(s->type));
    md_json_num(b, s->value);
    md_buf_putc(b, '\n');
}

static void console_event(struct md_buf *b, const struct md_event_out *e)
{
    console_time(b, e->timestamp);
    md_buf_puts(b, " event ");
    console_quoted(b, e->title);
    console_tags(b, e->key);
    md_buf_printf(b, " host=%s alert=%s priority=%s text=", console_host(e->host),
                  e->alert_type ? e->alert_type : "info", e->priority ? e->priority : "normal");
    console_quoted(b, e->text);
    md_buf_putc(b, '\n');
}

static void console_check(struct md_buf *b, const struct md_check_out *c)
{
    static const char *const names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
    console_time(b, c->timestamp);
    md_buf_puts(b, " check ");
    md_buf_puts(b, c->name ? c->name : "");
    console_tags(b, c->key);
    md_buf_printf(b, " host=%s status=%s message=", console_host(c->host),
                  c->status >= 0 && c->status <= 3 ? names[c->status] : "UNKNOWN");
    console_quoted(b, c->message);
    md_buf_putc(b, '\n');
}

static int console_encode(void *state, const struct md_frame *f, struct md_payload **out)
{
    struct md_buf b;
    md_buf_init(&b);
    if (!f->continued) { /* one header per window, however many slices it comes in */
        md_buf_puts(&b, "=== ");
        console_time(&b, f->start);
        md_buf_printf(&b, " interval=%us series=%zu%s sketches=%zu events=%zu checks=%zu\n",
                      f->interval, f->window_series > f->nseries ? f->window_series : f->nseries,
                      f->more_parts ? "+" : "", f->nsketches, f->nevents, f->nchecks);
    }
    for (size_t i = 0; i < f->nseries; i++)
        console_series(&b, &f->series[i]);
    for (size_t i = 0; i < f->nevents; i++)
        console_event(&b, &f->events[i]);
    for (size_t i = 0; i < f->nchecks; i++)
        console_check(&b, &f->checks[i]);
    struct md_payload *p = b.oom ? NULL : calloc(1, sizeof *p);
    if (!p) {
        md_buf_free(&b);
        return -ENOMEM;
    }
    p->body = md_buf_steal(&b, &p->len);
    p->content_type = "text/plain";
    p->nitems = f->nseries + f->nevents + f->nchecks;
    p->sink = "console";
    while (*out)
        out = &(*out)->next;
    *out = p;
    return 0;
}

const struct md_sink_ops md_sink_console = {
    .name = "console",
    .transport = MD_TRANSPORT_STDOUT,
    .create = console_create,
    .encode = console_encode,
    .destroy = console_destroy,
};
