/*
 * console.c: the "console" sink, a human-readable dump of each frame.
 *
 * It is what meterd ships when no backend is configured, so someone trying
 * the agent sees their metrics at once: one header line per window, then
 * one line per series, event and service check, in the frame's order. It
 * is for eyes, not parsers; the flusher writes the payload to standard
 * output.
 *
 * A big window reaches the sinks in parts (the aggregator hands it over
 * 8192 series at a time, and the flusher encodes a frame in slices), and
 * its series count is not known until the last part: so each part gets a
 * header with the exact count of the series under it, and the last one is
 * followed by the window's exact total, at once (the flusher hands over a
 * window's last part even when the seal found nothing more for it, and the
 * last window at stop is sealed in parts too). That needs the one piece of
 * state a sink otherwise avoids: the window in parts being printed. The
 * parts of a window are encoded one after another (the aggregator takes the
 * next part only once the previous frame is freed); the mutex only keeps a
 * stray concurrent encode from tearing the counts.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "meterd/sink.h"

/* The window in parts being printed. */
struct console_parts {
    bool open;
    int64_t start;
    uint32_t interval;
    size_t parts;      /* parts begun */
    size_t total;      /* series printed so far */
    size_t frame_seen; /* series printed of the current part (a part may come in slices) */
};

struct console {
    pthread_mutex_t mu;
    struct console_parts w;
};

static int console_create(const void *conf, const struct md_sink_env *env, void **state,
                          char *err, size_t errlen)
{
    struct console *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "console: out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&c->mu, NULL);
    *state = c;
    return 0;
}

static void console_destroy(void *state)
{
    struct console *c = state;
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c);
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

static void console_rule(struct md_buf *b, int64_t start, uint32_t interval)
{
    md_buf_puts(b, "=== ");
    console_time(b, start);
    md_buf_printf(b, " interval=%us", interval);
}

/* part: 0 for a window in one frame, else the part's number. */
static void console_header(struct md_buf *b, const struct md_frame *f, size_t part,
                           size_t nseries)
{
    console_rule(b, f->start, f->interval);
    if (part)
        md_buf_printf(b, " part=%zu", part);
    md_buf_printf(b, " series=%zu sketches=%zu events=%zu checks=%zu\n", nseries, f->nsketches,
                  f->nevents, f->nchecks);
}

static void console_total(struct md_buf *b, struct console_parts *w)
{
    console_rule(b, w->start, w->interval);
    md_buf_printf(b, " series=%zu in %zu parts\n", w->total, w->parts);
    w->open = false;
}

/*
 * A slice of a window in parts: a header when a part begins, the total
 * after the last slice of the last part. A last part with nothing in it
 * only closes the window: no header. A window whose last part never came
 * (the flusher out of memory) gets its total before the next one.
 */
static void console_part_begin(struct console_parts *w, struct md_buf *b,
                               const struct md_frame *f, size_t part_series)
{
    if (w->open && w->start != f->start)
        console_total(b, w);
    if (!w->open)
        *w = (struct console_parts){.open = true, .start = f->start, .interval = f->interval};
    bool closing = !f->more_parts && part_series == 0 && !f->nevents && !f->nchecks;
    if (w->frame_seen == 0 && !closing)
        console_header(b, f, ++w->parts, part_series);
}

static void console_part_end(struct console_parts *w, struct md_buf *b,
                             const struct md_frame *f, size_t part_series)
{
    w->frame_seen += f->nseries;
    w->total += f->nseries;
    if (w->frame_seen < part_series)
        return; /* more slices of this part follow */
    w->frame_seen = 0;
    if (!f->more_parts)
        console_total(b, w);
}

static void console_items(struct md_buf *b, const struct md_frame *f)
{
    for (size_t i = 0; i < f->nseries; i++)
        console_series(b, &f->series[i]);
    for (size_t i = 0; i < f->nevents; i++)
        console_event(b, &f->events[i]);
    for (size_t i = 0; i < f->nchecks; i++)
        console_check(b, &f->checks[i]);
}

/*
 * Whole frames and the flusher's slices of one (window_series: the
 * frame's series; `continued` on the slices after the first) get one
 * header; the parts of a window (more_parts on all but the last) go
 * through console_part_*.
 */
static void console_text(struct console *c, struct md_buf *b, const struct md_frame *f)
{
    size_t frame_series = f->window_series > f->nseries ? f->window_series : f->nseries;
    pthread_mutex_lock(&c->mu);
    struct console_parts *w = &c->w;
    bool part = f->more_parts || (w->open && w->start == f->start);
    if (!part) {
        if (w->open && !f->continued)
            console_total(b, w);
        if (!f->continued)
            console_header(b, f, 0, frame_series);
        pthread_mutex_unlock(&c->mu);
        console_items(b, f);
        return;
    }
    console_part_begin(w, b, f, frame_series);
    console_items(b, f);
    console_part_end(w, b, f, frame_series);
    pthread_mutex_unlock(&c->mu);
}

static int console_encode(void *state, const struct md_frame *f, struct md_payload **out)
{
    struct md_buf b;
    md_buf_init(&b);
    console_text(state, &b, f);
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
