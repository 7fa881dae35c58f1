/*
 * flush.c: the flusher (see flush.h). Frames come from the aggregator on
 * the loop thread, are encoded and compressed on the libuv thread pool, and
 * come back to the loop thread to be handed to the forwarder or written to
 * standard output. The encoding is the same function `meterd aggregate`
 * prints from, so what it shows is what the daemon ships.
 */
#include "flush.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "compress.h"
#include "expose.h"
#include "forwarder.h"
#include "log.h"
#include "wallclock.h"

struct flush_sink {
    const struct md_sink_ops *ops;
    void *state;
};

struct md_flusher {
    struct md_flush_opts o;
    struct flush_sink sinks[MD_FLUSH_MAX_SINKS];
    size_t nsinks;
    int in_pool;
    struct md_flush_stats st;
    struct md_expose *expose; /* the last window for /metrics (openmetrics_expose_series) */
};

/* A frame on its way through the thread pool. */
struct flush_job {
    uv_work_t work;
    struct md_flusher *fl;
    struct md_frame frame;
    struct md_payload *payloads;
    struct md_expose_part *expose;
};

static int add_sink(struct md_flusher *fl, const struct md_config *cfg,
                    const struct md_sink_ops *ops, char *err, size_t errlen)
{
    const struct md_sink_env env = {.hostname = fl->o.hostname,
                                    .tags = (const char *const *)cfg->tags.v,
                                    .ntags = cfg->tags.n};
    char why[256] = "cannot start";
    if (fl->nsinks == MD_FLUSH_MAX_SINKS) {
        snprintf(err, errlen, "sinks: at most %d sinks", MD_FLUSH_MAX_SINKS);
        return -EINVAL;
    }
    int rc = ops->create(md_config_sink_conf(cfg, ops), &env, &fl->sinks[fl->nsinks].state, why,
                         sizeof why);
    if (rc < 0) {
        snprintf(err, errlen, "sinks: %s: %s", ops->name, why);
        return rc;
    }
    fl->sinks[fl->nsinks++].ops = ops;
    md_info("sink %s ready", ops->name);
    return 0;
}

int md_flusher_new(const struct md_config *cfg, const char *only, const struct md_flush_opts *o,
                   struct md_flusher **out, char *err, size_t errlen)
{
    struct md_flusher *fl = calloc(1, sizeof *fl);
    const struct md_sink_ops *ops[MD_FLUSH_MAX_SINKS];
    size_t n;
    *out = NULL;
    if (!fl) {
        snprintf(err, errlen, "flusher: out of memory");
        return -ENOMEM;
    }
    fl->o = *o;
    if (only) {
        n = (ops[0] = md_sink_lookup(only)) != NULL;
        if (!n) {
            snprintf(err, errlen, "sinks: unknown sink '%s'", only);
            free(fl);
            return -EINVAL;
        }
    } else {
        n = md_config_sinks(cfg, ops, MD_FLUSH_MAX_SINKS);
    }
    if (cfg->openmetrics_expose_series && o->loop && !(fl->expose = md_expose_new())) {
        snprintf(err, errlen, "flusher: out of memory");
        free(fl);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = add_sink(fl, cfg, ops[i], err, errlen);
        if (rc < 0) {
            md_flusher_free(fl);
            return rc;
        }
    }
    *out = fl;
    return 0;
}

void md_flusher_free(struct md_flusher *fl)
{
    if (!fl)
        return;
    for (size_t i = 0; i < fl->nsinks; i++)
        fl->sinks[i].ops->destroy(fl->sinks[i].state);
    md_expose_free(fl->expose);
    free(fl);
}

static void add_header(struct md_payload *p, const char *h)
{
    if (p->nheaders < MD_PAYLOAD_MAX_HEADERS)
        p->headers[p->nheaders++] = strdup(h);
}

static void compress_payload(struct md_payload *p)
{
    void *z;
    size_t zlen;
    if (!p->compress || !p->url || md_deflate(p->body, p->len, 6, &z, &zlen) != 0)
        return;
    free(p->body);
    p->body = z;
    p->len = zlen;
    add_header(p, "Content-Encoding: deflate");
}

/* Encode one slice of the frame with every sink; compress what each gave. */
static struct md_payload **encode_slice(struct md_flusher *fl, const struct md_frame *view,
                                        bool compress, struct md_payload **tail)
{
    for (size_t i = 0; i < fl->nsinks; i++) {
        struct flush_sink *s = &fl->sinks[i];
        if (s->ops->encode(s->state, view, tail) != 0)
            md_warn("sink %s: could not encode the frame", s->ops->name);
        for (; *tail; tail = &(*tail)->next) {
            (*tail)->sink = s->ops->name;
            if (s->ops->transport == MD_TRANSPORT_STDOUT) {
                free((*tail)->url);
                (*tail)->url = NULL;
            }
            if (compress)
                compress_payload(*tail);
        }
    }
    return tail;
}

/*
 * The series go through the sinks ENCODE_SLICE at a time (100k series are
 * ~19 MB of JSON). Events, checks and sketches go with the first slice.
 */
#define ENCODE_SLICE 8192

void md_flusher_encode(struct md_flusher *fl, const struct md_frame *f, bool compress,
                       struct md_payload **out)
{
    struct md_payload **tail = out;
    while (*tail)
        tail = &(*tail)->next;
    size_t off = 0;
    do {
        struct md_frame view = *f;
        view.series = f->series + off;
        view.nseries = f->nseries - off < ENCODE_SLICE ? f->nseries - off : ENCODE_SLICE;
        view.window_series = f->nseries;
        if (off) {
            view.nevents = view.nchecks = view.nsketches = 0;
            view.continued = true;
        }
        tail = encode_slice(fl, &view, compress, tail);
        off += view.nseries;
    } while (off < f->nseries);
}

/*
 * Console payloads are written here, before the frame is freed: the next
 * part of a window is sealed only once this one's frame is back, so parts
 * reach stdout in order even when the pool's threads finish out of order,
 * and a slow reader of stdout holds back the seal, never the loop.
 */
static void write_stdout(struct md_payload **list)
{
    while (*list) {
        struct md_payload *p = *list;
        if (p->url) {
            list = &p->next;
            continue;
        }
        *list = p->next;
        fwrite(p->body, 1, p->len, stdout);
        fflush(stdout);
        md_payload_free(p);
    }
}

/* Thread pool: touches only the job (and the sinks' encoders). */
static void flush_work(uv_work_t *w)
{
    struct flush_job *j = w->data;
    /* Encoding 100k contexts must not take the core from the intake threads. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    if (j->fl->expose)
        j->expose = md_expose_render(&j->frame);
    md_flusher_encode(j->fl, &j->frame, true, &j->payloads);
    write_stdout(&j->payloads);
    md_frame_free(&j->frame);
}

/* Loop thread: hand the payloads to the forwarder. */
static void flush_done(uv_work_t *w, int status)
{
    struct flush_job *j = w->data;
    struct md_flusher *fl = j->fl;
    struct md_payload *p = j->payloads;
    while (p) {
        struct md_payload *next = p->next;
        p->next = NULL;
        if (fl->o.fwd) {
            md_forwarder_send(fl->o.fwd, p);
        } else {
            md_payload_free(p);
        }
        p = next;
    }
    if (fl->expose)
        md_expose_add(fl->expose, j->expose);
    else
        md_expose_part_free(j->expose);
    md_frame_free(&j->frame);
    free(j);
    fl->in_pool--;
    if (fl->o.idle)
        fl->o.idle(fl->o.idle_ud);
}

/*
 * An empty frame is dropped, except the last part of a window in parts
 * (continued, no more_parts; it is empty when the seal's last steps found
 * nothing more): it tells the sinks the window is complete, and the
 * console prints the window's total then, not when the next one comes.
 */
void md_flusher_frame(struct md_flusher *fl, struct md_frame *f)
{
    size_t items = f->nseries + f->nevents + f->nchecks + f->nsketches;
    struct flush_job *j = items || f->continued ? calloc(1, sizeof *j) : NULL;
    if (!j) {
        if (items)
            md_error("flush: out of memory, %zu items of a window lost", items);
        md_frame_free(f);
        free(f);
        return;
    }
    fl->st.last_flush = md_wall_now();
    fl->st.frames += !f->continued; /* a big window comes in parts */
    fl->st.series += f->nseries;
    md_debug("flush: %zu series, %zu events, %zu checks", f->nseries, f->nevents, f->nchecks);
    j->frame = *f;
    free(f);
    j->fl = fl;
    j->work.data = j;
    fl->in_pool++;
    if (uv_queue_work(fl->o.loop, &j->work, flush_work, flush_done) != 0) {
        flush_work(&j->work);
        flush_done(&j->work, 0);
    }
}

void md_flusher_detach(struct md_flusher *fl)
{
    fl->o.fwd = NULL;
}

int md_flusher_busy(const struct md_flusher *fl)
{
    return fl->in_pool;
}

void md_flusher_stats(const struct md_flusher *fl, struct md_flush_stats *out)
{
    *out = fl->st;
}

const char *md_flusher_sink_name(const struct md_flusher *fl, size_t i)
{
    return i < fl->nsinks ? fl->sinks[i].ops->name : NULL;
}

void md_flusher_metrics(const struct md_flusher *fl, struct md_buf *b)
{
    if (fl && fl->expose)
        md_expose_write(fl->expose, b);
}
