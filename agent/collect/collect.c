/*
 * collect.c: the collector runner (see collect.h). conf.d loading is in
 * collect_conf.c.
 *
 * Running: a timer per instance queues one run on the libuv thread pool.
 * While a run is in flight the timer's ticks are counted as skipped, so a
 * slow collector never stacks runs. The worker only records what the
 * collector emits into the instance's buffers (strings in an arena that
 * only grows); back on the loop thread the runner applies the emitter
 * kinds, keeping the previous (value, time) of every counter series, and
 * delivers points. Nothing here is global: reload = new runner + free old.
 */
#include "collect.h"
#include "collect_int.h"
#include "log.h"
#include "opt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MD_SERIES_SWEEP 64 /* runs without a sighting before a series is forgotten */

/* ---- configuring ---------------------------------------------------------- */

static int configure_all(struct md_collect_runner *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->ninst; i++) {
        struct inst *in = r->inst[i];
        if (!in->enabled)
            continue;
        struct md_instance_conf c = {in->values, r->procfs, r->sysfs, r->containers};
        char cerr[256] = "";
        int rc = in->ops->configure ? in->ops->configure(&c, &in->state, cerr, sizeof cerr) : 0;
        if (rc < 0) {
            if (strcmp(in->source, "default") == 0)
                snprintf(err, errlen, "%s: %s", in->ops->name, cerr);
            else
                snprintf(err, errlen, "%s:%d: %s", in->source, in->line, cerr);
            return rc;
        }
        in->configured = true;
        in->st.collector = in->ops->name;
        in->st.source = in->source;
        in->st.instance = in->index;
    }
    return 0;
}

struct md_collect_runner *md_collect_new_opts(uv_loop_t *loop, const char *confd_path,
                                              const char *procfs, const char *sysfs,
                                              const struct md_point_sink *out,
                                              const struct md_collect_opts *opts, char *err,
                                              size_t errlen)
{
    const struct md_collector_ops *const *reg = opts && opts->registry ? opts->registry : md_collectors;
    const char *only = opts ? opts->only : NULL;
    struct md_collect_runner *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->loop = loop;
    if (out && out->point) {
        r->out = *out;
        r->has_out = true;
    }
    if (opts) {
        r->observe = opts->observe;
        r->observe_ud = opts->observe_ud;
        r->containers = opts->containers;
    }
    r->procfs = strdup(procfs && *procfs ? procfs : "/proc");
    r->sysfs = strdup(sysfs && *sysfs ? sysfs : "/sys");
    if (!r->procfs || !r->sysfs) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    bool matched = false;
    for (size_t c = 0; reg[c]; c++) {
        const struct md_collector_ops *ops = reg[c];
        if (only && strcmp(only, ops->name) != 0)
            continue;
        matched = true;
        bool found;
        if (md_collect_conf_load(r, confd_path, ops, &found, err, errlen) < 0)
            goto fail;
        if (!found && (ops->default_on || only)) {
            struct inst *in = md_collect_conf_inst(r, ops, "default", 0, 0);
            if (!in || md_collect_conf_add(r, in) < 0) {
                md_collect_conf_inst_free(in);
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
        }
    }
    if (only && !matched) {
        snprintf(err, errlen, "unknown collector '%s'", only);
        goto fail;
    }
    if (configure_all(r, err, errlen) < 0)
        goto fail;
    for (size_t i = 0; i < r->notes.n; i++) /* once per load: the files are read once */
        md_warn("%s", r->notes.v[i]);
    return r;
fail:
    md_collect_free(r);
    return NULL;
}

struct md_collect_runner *md_collect_new(uv_loop_t *loop, const char *confd_path, const char *procfs,
                                         const char *sysfs, const struct md_point_sink *out,
                                         char *err, size_t errlen)
{
    return md_collect_new_opts(loop, confd_path, procfs, sysfs, out, NULL, err, errlen);
}

int md_collect_validate(const char *confd_path, const char *procfs, const char *sysfs, char *err,
                        size_t errlen)
{
    struct md_collect_runner *r = md_collect_new(NULL, confd_path, procfs, sysfs, NULL, err, errlen);
    if (!r)
        return -EINVAL;
    md_collect_free(r);
    return 0;
}

/* ---- one run: the worker side ------------------------------------------- */

static int arena_put(struct inst *in, const char *s)
{
    md_buf_add(&in->arena, s, strlen(s) + 1);
    return in->arena.oom ? -ENOMEM : 0;
}

static void record(struct md_emitter *e, const char *name, enum md_emit_kind kind, double value,
                   const char *const *tags, size_t ntags)
{
    struct inst *in = e->ud;
    if (in->nrecs == in->caprecs) {
        size_t ncap = in->caprecs ? in->caprecs * 2 : 64;
        struct rec *nr = realloc(in->recs, ncap * sizeof *nr);
        if (!nr) {
            in->overflow = true;
            return;
        }
        in->recs = nr;
        in->caprecs = ncap;
    }
    size_t start = in->arena.len;
    if (arena_put(in, name) < 0)
        goto oom;
    for (size_t i = 0; i < ntags; i++)
        if (arena_put(in, tags[i]) < 0)
            goto oom;
    if (in->arena.len > UINT32_MAX)
        goto oom;
    in->recs[in->nrecs++] = (struct rec){(uint32_t)start, (uint32_t)(in->arena.len - start),
                                         (uint32_t)ntags, kind, value};
    return;
oom:
    in->arena.len = start;
    in->arena.oom = false;
    in->overflow = true;
}

static int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run_collect(struct inst *in, int64_t now_ns)
{
    in->nrecs = 0;
    md_buf_reset(&in->arena);
    in->overflow = false;
    in->run_ns = now_ns;
    in->run_unix_ms = unix_ms();
    struct md_emitter e = {record, in, now_ns};
    int64_t t0 = (int64_t)uv_hrtime();
    in->run_rc = in->ops->collect ? in->ops->collect(in->state, &e) : 0;
    in->run_end_ns = (int64_t)uv_hrtime() - t0;
}

/* ---- one run: the loop side --------------------------------------------- */

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static int tab_rehash(struct inst *in, size_t ncap, bool sweep)
{
    struct series *nt = calloc(ncap, sizeof *nt);
    if (!nt)
        return -ENOMEM;
    size_t nn = 0;
    for (size_t i = 0; i < in->tabcap; i++) {
        struct series *s = &in->tab[i];
        if (!s->key)
            continue;
        if (sweep && in->gen - s->gen > MD_SERIES_SWEEP) {
            free(s->key);
            continue;
        }
        size_t j = s->hash & (ncap - 1);
        while (nt[j].key)
            j = (j + 1) & (ncap - 1);
        nt[j] = *s;
        nn++;
    }
    free(in->tab);
    in->tab = nt;
    in->tabcap = ncap;
    in->tabn = nn;
    return 0;
}

/* The series of `key`; *fresh when it was just created (no previous value). */
static struct series *tab_get(struct inst *in, const char *key, uint32_t klen, bool *fresh)
{
    if ((in->tabn + 1) * 2 > in->tabcap && tab_rehash(in, in->tabcap ? in->tabcap * 2 : 64, false) < 0)
        return NULL;
    uint64_t h = fnv1a(key, klen);
    size_t j = h & (in->tabcap - 1);
    while (in->tab[j].key) {
        struct series *s = &in->tab[j];
        if (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0) {
            *fresh = false;
            return s;
        }
        j = (j + 1) & (in->tabcap - 1);
    }
    char *k = malloc(klen);
    if (!k)
        return NULL;
    memcpy(k, key, klen);
    in->tab[j] = (struct series){h, k, klen, 0, 0, 0};
    in->tabn++;
    *fresh = true;
    return &in->tab[j];
}

/* Apply the kind: true when a point goes out, with its value in *out. */
static bool apply_kind(struct inst *in, const struct rec *rc, const char *key, double *out)
{
    if (rc->kind == MD_EMIT_GAUGE) {
        *out = rc->value;
        return true;
    }
    bool fresh;
    struct series *s = tab_get(in, key, rc->len, &fresh);
    if (!s) {
        in->st.dropped++;
        return false;
    }
    double prev = s->value;
    int64_t pt = s->t_ns;
    s->value = rc->value;
    s->t_ns = in->run_ns;
    s->gen = in->gen;
    if (fresh)
        return false;
    double d = rc->value - prev;
    if (d < 0) { /* counter reset: re-based above, no point */
        in->st.dropped++;
        return false;
    }
    if (rc->kind == MD_EMIT_MONOTONIC_COUNT) {
        *out = d;
        return true;
    }
    if (in->run_ns <= pt) /* same timestamp twice: no rate */
        return false;
    *out = d / ((double)(in->run_ns - pt) / 1e9);
    return true;
}

static int scratch_fit(struct md_collect_runner *r, size_t n)
{
    if (n <= r->scratch_cap)
        return 0;
    struct md_str *ns = realloc(r->scratch, n * sizeof *ns);
    if (!ns)
        return -ENOMEM;
    r->scratch = ns;
    r->scratch_cap = n;
    return 0;
}

static void deliver(struct inst *in, const struct rec *rc, double value)
{
    struct md_collect_runner *r = in->r;
    const char *p = in->arena.p + rc->off;
    size_t nlen = strlen(p);
    size_t nt = rc->ntags + in->ntags;
    if (scratch_fit(r, nt) < 0) {
        in->st.dropped++;
        return;
    }
    const char *t = p + nlen + 1;
    for (uint32_t i = 0; i < rc->ntags; i++) {
        size_t l = strlen(t);
        r->scratch[i] = (struct md_str){t, (uint32_t)l};
        t += l + 1;
    }
    for (size_t i = 0; i < in->ntags; i++)
        r->scratch[rc->ntags + i] = (struct md_str){in->tags[i], (uint32_t)strlen(in->tags[i])};
    struct md_point pt = {
        .name = {p, (uint32_t)nlen},
        .type = rc->kind == MD_EMIT_MONOTONIC_COUNT ? MD_MONOTONIC_COUNT : MD_GAUGE,
        .value = value,
        .sample_rate = 1.0,
        .tags = r->scratch,
        .ntags = (uint32_t)nt,
    };
    if (r->has_out)
        r->out.point(r->out.ud, &pt);
    if (r->observe)
        r->observe(r->observe_ud, &pt, rc->kind);
    in->st.samples++;
    in->st.last_samples++;
}

static void finish_run(struct inst *in)
{
    in->gen++;
    in->st.runs++;
    in->st.last_run_unix_ms = in->run_unix_ms;
    in->st.last_duration_ms = (double)in->run_end_ns / 1e6;
    in->st.last_samples = 0;
    if (in->run_rc < 0) {
        in->st.errors++;
        in->st.last_error = in->run_rc;
    }
    if (in->overflow)
        in->st.dropped++;
    for (size_t i = 0; i < in->nrecs; i++) {
        const struct rec *rc = &in->recs[i];
        double v;
        if (rc->kind != MD_EMIT_GAUGE)
            in->st.has_counters = true;
        if (apply_kind(in, rc, in->arena.p + rc->off, &v))
            deliver(in, rc, v);
    }
    if (in->gen % MD_SERIES_SWEEP == 0 && in->tabcap)
        tab_rehash(in, in->tabcap, true);
}

int md_collect_run_once(struct md_collect_runner *r, int64_t now_ns)
{
    int failed = 0;
    for (size_t i = 0; i < r->ninst; i++) {
        struct inst *in = r->inst[i];
        if (!in->configured)
            continue;
        if (in->busy) {
            in->st.skipped++;
            continue;
        }
        run_collect(in, now_ns);
        finish_run(in);
        if (in->run_rc < 0)
            failed++;
    }
    return failed;
}

/* ---- timers --------------------------------------------------------------- */

static void runner_release(struct md_collect_runner *r)
{
    for (size_t i = 0; i < r->ninst; i++)
        md_collect_conf_inst_free(r->inst[i]);
    free(r->inst);
    free(r->scratch);
    free(r->procfs);
    free(r->warned);
    free(r->sysfs);
    md_strlist_free(&r->notes);
    free(r);
}

static void pending_done(struct md_collect_runner *r)
{
    if (--r->pending == 0)
        runner_release(r);
}

static void on_work(uv_work_t *w)
{
    struct inst *in = w->data;
    run_collect(in, (int64_t)uv_hrtime());
}

static void on_work_done(uv_work_t *w, int status)
{
    struct inst *in = w->data;
    in->busy = false;
    if (in->r->closing) {
        pending_done(in->r);
        return;
    }
    if (status == 0)
        finish_run(in);
}

static void on_timer(uv_timer_t *t)
{
    struct inst *in = t->data;
    if (in->busy) {
        in->st.skipped++;
        return;
    }
    in->work.data = in;
    if (uv_queue_work(in->r->loop, &in->work, on_work, on_work_done) == 0)
        in->busy = true;
    else
        in->st.errors++;
}

int md_collect_start(struct md_collect_runner *r)
{
    if (!r->loop)
        return -EINVAL;
    for (size_t i = 0; i < r->ninst; i++) {
        struct inst *in = r->inst[i];
        if (!in->configured || in->timer_init)
            continue;
        int rc = uv_timer_init(r->loop, &in->timer);
        if (rc < 0)
            return rc;
        in->timer_init = true;
        in->timer.data = in;
        /* spread first runs a little so instances do not all read /proc at once */
        uint64_t first = (uint64_t)(i * 37 % 1000);
        if ((rc = uv_timer_start(&in->timer, on_timer, first, in->interval_ms)) < 0)
            return rc;
    }
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct inst *in = h->data;
    pending_done(in->r);
}

void md_collect_free(struct md_collect_runner *r)
{
    if (!r || r->closing)
        return;
    r->closing = true;
    r->pending = 1; /* held by this function until every close is issued */
    for (size_t i = 0; i < r->ninst; i++) {
        struct inst *in = r->inst[i];
        if (in->timer_init) {
            r->pending++;
            uv_close((uv_handle_t *)&in->timer, on_timer_closed);
        }
        if (in->busy) {
            r->pending++;
            uv_cancel((uv_req_t *)&in->work);
        }
    }
    pending_done(r);
}

/* ---- status ---------------------------------------------------------------- */

const struct md_strlist *md_collect_notes(const struct md_collect_runner *r)
{
    return &r->notes;
}

size_t md_collect_ninstances(const struct md_collect_runner *r)
{
    return r ? r->ninst : 0;
}

int md_collect_stats(const struct md_collect_runner *r, size_t i, struct md_collect_stats *out)
{
    if (!r || i >= r->ninst)
        return -ENOENT;
    const struct inst *in = r->inst[i];
    *out = in->st;
    out->collector = in->ops->name;
    out->source = in->source;
    out->instance = in->index;
    out->interval = in->interval_ms / 1000.0;
    out->enabled = in->enabled;
    out->running = in->busy;
    return 0;
}

void md_collect_status_json(struct md_collect_runner *r, struct md_buf *b)
{
    md_buf_putc(b, '[');
    for (size_t i = 0; r && i < r->ninst; i++) {
        struct md_collect_stats s;
        md_collect_stats(r, i, &s);
        if (i)
            md_buf_putc(b, ',');
        md_buf_puts(b, "{\"name\":");
        md_json_cstr(b, s.collector);
        md_buf_puts(b, ",\"source\":");
        md_json_cstr(b, s.source);
        md_buf_printf(b, ",\"instance\":%d,\"interval\":%g,\"enabled\":%s,\"running\":%s", s.instance,
                      s.interval, s.enabled ? "true" : "false", s.running ? "true" : "false");
        md_buf_printf(b, ",\"runs\":%llu,\"errors\":%llu,\"skipped_overruns\":%llu",
                      (unsigned long long)s.runs, (unsigned long long)s.errors,
                      (unsigned long long)s.skipped);
        md_buf_printf(b, ",\"samples\":%llu,\"last_samples\":%llu,\"dropped\":%llu",
                      (unsigned long long)s.samples, (unsigned long long)s.last_samples,
                      (unsigned long long)s.dropped);
        md_buf_puts(b, ",\"last_run_unix_ms\":");
        md_json_int(b, s.last_run_unix_ms);
        md_buf_puts(b, ",\"last_duration_ms\":");
        md_json_num(b, s.last_duration_ms);
        md_buf_puts(b, ",\"last_error\":");
        if (s.last_error)
            md_json_cstr(b, strerror(-s.last_error));
        else
            md_buf_puts(b, "null");
        md_buf_putc(b, '}');
    }
    md_buf_putc(b, ']');
}

