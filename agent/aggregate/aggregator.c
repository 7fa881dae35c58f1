/*
 * aggregator.c: the context table and its windows (see aggregator.h).
 *
 * Contexts live in an open-addressing table keyed by their 64-bit key
 * (linear probing, backward-shift deletion). Each context keeps two window
 * slots, indexed by window number modulo 2: the window being filled and the
 * one waiting out its grace period. A sample that finds its slot still
 * holding an unsealed older window (the flush timer ran late) pushes that
 * window into the pending frame rather than losing it. Strings of a context
 * are copied once, when it is created, into one allocation with the context.
 */
#include "aggregator.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "etsy.h"
#include "hset.h"

#define NSLOT 2

/* 16 bytes: two per context, so every byte counts at 100k contexts. */
struct md_slot {
    uint32_t wstart; /* window start, epoch seconds (fits until 2106); 0 = empty */
    uint8_t type;    /* type of the window's first sample */
    bool sketch;     /* a distribution held as a DDSketch (else as a histogram) */
    union {
        double v;
        struct md_hist *h;
        struct md_hset *set;
        struct md_ddsketch *d;
    } u;
};

/* What only statsd_mode: etsy needs, allocated with a context's first etsy sample. */
struct md_ctx_etsy {
    double gauge;         /* gauges persist and take deltas */
    bool has_gauge;
    int first_type;       /* type + 1; 0 = unset */
    double count[NSLOT];  /* timer count per slot (sum of 1/rate) */
};

struct md_ctx {
    uint64_t key;
    double last_seen;
    double last_counter; /* time of the last counter sample, for zero-fill */
    int64_t sealed_to;   /* windows before this are sealed (see the seal section) */
    struct md_ctx_etsy *etsy;
    bool is_counter;     /* zero-filled when idle (etsy: every type is re-sent) */
    uint16_t name_len, host_len, ntags;
    struct md_slot slot[NSLOT];
    /* uint16_t tag_lens[ntags]; then name, host and tag bytes */
    _Alignas(uint16_t) char blob[];
};

struct md_entry {
    uint64_t key;
    struct md_ctx *c;
};

struct md_agg {
    struct md_agg_opts o;
    struct md_hist_opts dist_hist; /* distributions shipped as series */
    struct md_keyer keyer;         /* hostname and global tags */
    struct md_entry *tab;
    uint32_t cap, n;
    int64_t next_seal; /* start of the oldest unsealed window; 0 before the first point */
    double wc_now;     /* the intake stamps a whole batch with one time: */
    int64_t wc_w;      /* its window, computed once */
    struct md_frame pending;
    /* the seal in progress (md_agg_seal_begin .. md_agg_seal_take) */
    bool sealing;
    int64_t seal_from, seal_to;
    double seal_now;
    uint32_t seal_cursor;
    uint32_t seal_expired; /* contexts the scan found expired (see remove_expired) */
    int seal_windows;
    struct md_frame sealed;
    struct md_agg_stats st;
    struct md_ctx_scratch sc;      /* for events and checks */
    struct md_str tagv[MD_CTX_MAX_TAGS];
};

/* --- context strings ---------------------------------------------------- */

static uint16_t *ctx_tag_lens(struct md_ctx *c)
{
    return (uint16_t *)c->blob;
}

static char *ctx_name(struct md_ctx *c)
{
    return c->blob + c->ntags * sizeof(uint16_t);
}

static char *ctx_host(struct md_ctx *c)
{
    return ctx_name(c) + c->name_len;
}

/* Fill tags[] with views of the context's tags. */
static void ctx_tags(struct md_ctx *c, struct md_str *tags)
{
    const char *p = ctx_host(c) + c->host_len;
    uint16_t *lens = ctx_tag_lens(c);
    for (uint16_t i = 0; i < c->ntags; i++) {
        tags[i] = (struct md_str){p, lens[i]};
        p += lens[i];
    }
}

static struct md_ctx *ctx_new(uint64_t key, const struct md_str *name, const struct md_str *host,
                              const struct md_str *tags, uint32_t ntags)
{
    if (name->len > UINT16_MAX || host->len > UINT16_MAX)
        return NULL;
    size_t bytes = ntags * sizeof(uint16_t) + name->len + host->len;
    for (uint32_t i = 0; i < ntags; i++) {
        if (tags[i].len > UINT16_MAX)
            return NULL;
        bytes += tags[i].len;
    }
    struct md_ctx *c = calloc(1, sizeof *c + bytes);
    if (!c)
        return NULL;
    c->key = key;
    c->name_len = (uint16_t)name->len;
    c->host_len = (uint16_t)host->len;
    c->ntags = (uint16_t)ntags;
    memcpy(ctx_name(c), name->p, name->len);
    memcpy(ctx_host(c), host->p, host->len);
    char *p = ctx_host(c) + host->len;
    for (uint32_t i = 0; i < ntags; i++) {
        ctx_tag_lens(c)[i] = (uint16_t)tags[i].len;
        memcpy(p, tags[i].p, tags[i].len);
        p += tags[i].len;
    }
    return c;
}

static void slot_clear(struct md_slot *s)
{
    if (s->type == MD_SET && s->u.set) {
        md_hset_free(s->u.set);
        free(s->u.set);
    } else if (s->type == MD_DISTRIBUTION && s->u.d && s->sketch) {
        md_ddsketch_free(s->u.d);
        free(s->u.d);
    } else if ((s->type == MD_HISTOGRAM || s->type == MD_TIMER || s->type == MD_DISTRIBUTION) &&
               s->u.h) {
        md_hist_free(s->u.h);
        free(s->u.h);
    }
    memset(s, 0, sizeof *s);
}

static void ctx_free(struct md_ctx *c)
{
    for (int i = 0; i < NSLOT; i++)
        slot_clear(&c->slot[i]);
    free(c->etsy);
    free(c);
}

/* --- table -------------------------------------------------------------- */

static int tab_grow(struct md_agg *a)
{
    uint32_t cap = a->cap ? a->cap * 2 : 1024;
    struct md_entry *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return -ENOMEM;
    for (uint32_t i = 0; i < a->cap; i++) {
        if (!a->tab[i].c)
            continue;
        uint32_t j = (uint32_t)a->tab[i].key & (cap - 1);
        while (tab[j].c)
            j = (j + 1) & (cap - 1);
        tab[j] = a->tab[i];
    }
    free(a->tab);
    a->tab = tab;
    a->cap = cap;
    a->seal_cursor = 0; /* a seal in progress rescans; sealed contexts are skipped */
    return 0;
}

static struct md_entry *tab_find(struct md_agg *a, uint64_t key)
{
    uint32_t j = (uint32_t)key & (a->cap - 1);
    while (a->tab[j].c) {
        if (a->tab[j].key == key)
            return &a->tab[j];
        j = (j + 1) & (a->cap - 1);
    }
    return &a->tab[j];
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void tab_remove(struct md_agg *a, struct md_entry *e)
{
    uint32_t mask = a->cap - 1;
    uint32_t i = (uint32_t)(e - a->tab);
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!a->tab[j].c)
            break;
        uint32_t home = (uint32_t)a->tab[j].key & mask;
        /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        a->tab[i] = a->tab[j];
        i = j;
    }
    a->tab[i] = (struct md_entry){0, NULL};
    a->n--;
}

/* --- construction ------------------------------------------------------- */

struct md_agg *md_agg_new(const struct md_agg_opts *o)
{
    struct md_agg *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->o = *o;
    if (a->o.interval == 0)
        a->o.interval = 10;
    if (md_keyer_init(&a->keyer, o->hostname, o->tags, o->ntags) != 0) {
        free(a);
        return NULL;
    }
    a->o.tags = a->keyer.gtags;
    a->o.hostname = a->keyer.host.p;
    md_frame_init(&a->pending, 0, a->o.interval);
    /* As series, a distribution is an exact histogram with the agent's distribution summary. */
    a->dist_hist = (struct md_hist_opts){
        .aggregates = MD_HAGG_AVG | MD_HAGG_COUNT | MD_HAGG_MAX | MD_HAGG_MIN | MD_HAGG_MEDIAN,
        .percentiles = {0.95},
        .npercentiles = 1,
    };
    if (tab_grow(a) != 0) {
        md_agg_free(a);
        return NULL;
    }
    return a;
}

void md_agg_free(struct md_agg *a)
{
    if (!a)
        return;
    for (uint32_t i = 0; i < a->cap; i++)
        if (a->tab[i].c)
            ctx_free(a->tab[i].c);
    free(a->tab);
    md_keyer_free(&a->keyer);
    md_frame_free(&a->pending);
    md_frame_free(&a->sealed);
    free(a);
}

const struct md_agg_stats *md_agg_stats(const struct md_agg *a)
{
    return &a->st;
}

/* --- emitting ----------------------------------------------------------- */

static const struct md_series_key *ctx_key(struct md_ctx *c, struct md_frame *f)
{
    struct md_str tags[MD_CTX_MAX_TAGS];
    ctx_tags(c, tags);
    return md_frame_key(f, ctx_host(c), c->host_len, tags, c->ntags);
}

/* Append a slot's series for window start `w` to f. */
/* A distribution as a sketch in the frame (bins copied: the sketch is reused). */
static void dist_emit_sketch(const struct md_ddsketch *d, struct md_frame *f, const char *name,
                             size_t name_len, const struct md_series_key *k, int64_t ts)
{
    const int32_t *keys;
    const uint32_t *counts;
    uint32_t nb = md_ddsketch_bins(d, &keys, &counts);
    struct md_sketch_series *o = md_frame_add_sketch(f);
    int32_t *kc = md_arena_alloc(&f->arena, sizeof *kc * (nb ? nb : 1));
    uint32_t *nc = md_arena_alloc(&f->arena, sizeof *nc * (nb ? nb : 1));
    if (!o || !kc || !nc)
        return;
    memcpy(kc, keys, sizeof *kc * nb);
    memcpy(nc, counts, sizeof *nc * nb);
    *o = (struct md_sketch_series){
        .name = md_arena_strndup(&f->arena, name, name_len), .key = k, .timestamp = ts,
        .count = (double)d->count, .min = d->min, .max = d->max, .sum = d->sum, .avg = d->avg,
        .bin_keys = kc, .bin_counts = nc, .nbins = nb};
}

/* etsy statsd's names and statistics (statsd_mode: etsy). */
static void slot_emit_etsy(struct md_agg *a, struct md_ctx *c, struct md_slot *s,
                           const struct md_series_key *k, struct md_frame *f)
{
    uint32_t iv = a->o.interval;
    const char *name = ctx_name(c);
    switch (s->type) {
    case MD_COUNTER:
    case MD_MONOTONIC_COUNT:
        md_etsy_counter_flush(s->u.v, f, name, c->name_len, k, s->wstart, iv);
        break;
    case MD_GAUGE:
        md_etsy_gauge_flush(s->u.v, f, name, c->name_len, k, s->wstart, iv);
        break;
    case MD_SET:
        md_etsy_set_flush((double)md_hset_count(s->u.set), f, name, c->name_len, k, s->wstart, iv);
        break;
    default: {
        double *count = c->etsy ? &c->etsy->count[s - c->slot] : NULL;
        md_etsy_timer_flush(s->u.h, count ? *count : 0, a->o.thresholds, a->o.nthresholds, f,
                            name, c->name_len, k, s->wstart, iv);
        if (count)
            *count = 0; /* the slot is cleared next */
        break;
    }
    }
}

/* What an idle etsy context sends: last gauge, zero counters and timer counts. */
static void idle_emit_etsy(struct md_agg *a, struct md_ctx *c, int64_t w,
                           const struct md_series_key *k, struct md_frame *f)
{
    uint32_t iv = a->o.interval;
    struct md_hist empty = {0};
    if (!c->etsy)
        return;
    switch (c->etsy->first_type - 1) {
    case MD_COUNTER:
    case MD_MONOTONIC_COUNT:
        md_etsy_counter_flush(0, f, ctx_name(c), c->name_len, k, w, iv);
        break;
    case MD_GAUGE:
        md_etsy_gauge_flush(c->etsy->gauge, f, ctx_name(c), c->name_len, k, w, iv);
        break;
    case MD_SET:
        break;
    default:
        md_etsy_timer_flush(&empty, 0, a->o.thresholds, a->o.nthresholds, f, ctx_name(c),
                            c->name_len, k, w, iv);
    }
}

static void slot_emit(struct md_agg *a, struct md_ctx *c, struct md_slot *s,
                      const struct md_series_key *k, struct md_frame *f)
{
    uint32_t iv = a->o.interval;
    const char *name = ctx_name(c);
    if (a->o.etsy) {
        slot_emit_etsy(a, c, s, k, f);
        return;
    }
    switch (s->type) {
    case MD_COUNTER:
        md_frame_add(f, name, c->name_len, NULL, k, MD_SERIES_RATE, iv, s->wstart, s->u.v / iv);
        break;
    case MD_MONOTONIC_COUNT:
        md_frame_add(f, name, c->name_len, NULL, k, MD_SERIES_COUNT, iv, s->wstart, s->u.v);
        break;
    case MD_GAUGE:
        md_frame_add(f, name, c->name_len, NULL, k, MD_SERIES_GAUGE, iv, s->wstart, s->u.v);
        break;
    case MD_SET:
        md_frame_add(f, name, c->name_len, NULL, k, MD_SERIES_GAUGE, iv, s->wstart,
                     (double)md_hset_count(s->u.set));
        break;
    case MD_TIMER:
    case MD_HISTOGRAM:
        md_hist_flush(s->u.h, &a->o.hist, f, name, c->name_len, k, s->wstart, iv);
        break;
    case MD_DISTRIBUTION:
        if (s->sketch)
            dist_emit_sketch(s->u.d, f, name, c->name_len, k, s->wstart);
        else
            md_hist_flush(s->u.h, &a->dist_hist, f, name, c->name_len, k, s->wstart, iv);
        break;
    }
}

/* Push a slot's window out into the pending frame (late flush). */
static void slot_spill(struct md_agg *a, struct md_ctx *c, struct md_slot *s)
{
    slot_emit(a, c, s, ctx_key(c, &a->pending), &a->pending);
    slot_clear(s);
    a->st.late_flushes++;
}

/* --- adding ------------------------------------------------------------- */

static int64_t window_of(const struct md_agg *a, double t)
{
    int64_t s = (int64_t)floor(t);
    return s - s % a->o.interval;
}

static bool slot_init(const struct md_agg *a, struct md_slot *s, int type, int64_t w)
{
    if (w <= 0 || w > (int64_t)UINT32_MAX)
        return false; /* a clock before 1970 or after 2106 */
    s->wstart = (uint32_t)w;
    s->type = (uint8_t)type;
    if (type == MD_SET) {
        s->u.set = calloc(1, sizeof *s->u.set);
    } else if (type == MD_DISTRIBUTION && a->o.dist_sketch && !a->o.etsy) {
        s->sketch = true;
        if ((s->u.d = malloc(sizeof *s->u.d)))
            md_ddsketch_init(s->u.d);
    } else if (type == MD_TIMER || type == MD_HISTOGRAM || type == MD_DISTRIBUTION) {
        if ((s->u.h = calloc(1, sizeof *s->u.h)))
            s->u.h->limit = a->o.etsy ? 0 : a->o.hist_limit; /* etsy needs every value */
    } else {
        return true;
    }
    if (!s->u.h) {
        memset(s, 0, sizeof *s);
        return false;
    }
    return true;
}

static void slot_add(struct md_slot *s, const struct md_fast *v)
{
    double rate = (v->rate > 0 && v->rate <= 1) ? v->rate : 1;
    switch (s->type) {
    case MD_COUNTER:
        s->u.v += v->value / rate;
        break;
    case MD_MONOTONIC_COUNT:
        s->u.v += v->value;
        break;
    case MD_GAUGE:
        s->u.v = v->value;
        break;
    case MD_SET:
        md_hset_add(s->u.set, v->member_hash);
        break;
    case MD_TIMER:
    case MD_HISTOGRAM:
        md_hist_add(s->u.h, v->value, rate);
        break;
    case MD_DISTRIBUTION:
        if (s->sketch)
            md_ddsketch_add_rate(s->u.d, v->value, v->rate); /* the agent's rate rules */
        else
            md_hist_add(s->u.h, v->value, rate);
        break;
    }
}

/* Points with their own timestamp skip aggregation (DogStatsD v1.3). */
static void add_timestamped(struct md_agg *a, const struct md_point *p)
{
    enum md_series_type t;
    double v = p->value;
    if (p->type == MD_GAUGE) {
        t = MD_SERIES_GAUGE;
    } else if (p->type == MD_COUNTER) {
        t = MD_SERIES_RATE;
        v /= a->o.interval;
    } else {
        return;
    }
    const struct md_str *host = md_keyer_host(&a->keyer, p);
    if (md_keyer_canonical(&a->keyer, p) != 0)
        return;
    const struct md_series_key *k = md_frame_key(&a->pending, host->p, host->len,
                                                 a->keyer.sc.tags, a->keyer.sc.ntags);
    if (k)
        md_frame_add(&a->pending, p->name.p, p->name.len, NULL, k, t, a->o.interval,
                     p->timestamp, v);
    a->st.timestamped++;
}

/* Create the context of p, whose key the keyer just computed. */
static struct md_ctx *create(struct md_agg *a, struct md_entry *e, uint64_t key,
                             const struct md_point *p)
{
    if (a->o.context_limit && a->n >= a->o.context_limit) {
        a->st.context_limit_drops++;
        return NULL;
    }
    if (md_keyer_canonical(&a->keyer, p) != 0)
        return NULL;
    struct md_ctx *c = ctx_new(key, &p->name, md_keyer_host(&a->keyer, p), a->keyer.sc.tags,
                               a->keyer.sc.ntags);
    if (!c)
        return NULL;
    c->sealed_to = a->next_seal; /* it holds nothing older */
    e->key = key;
    e->c = c;
    a->n++;
    a->st.contexts_created++;
    a->st.contexts_live = a->n;
    if (a->n * 10 > a->cap * 7)
        tab_grow(a);
    return c;
}

/* etsy: signed gauges are deltas on the last value; timers count 1/rate. */
static void etsy_add(struct md_ctx *c, struct md_slot *s, const struct md_fast *v)
{
    if (!c->etsy && !(c->etsy = calloc(1, sizeof *c->etsy)))
        return;
    struct md_ctx_etsy *e = c->etsy;
    if (!e->first_type)
        e->first_type = s->type + 1; /* +1: 0 means unset */
    if (s->type == MD_GAUGE) {
        e->gauge = md_etsy_gauge_apply(e->has_gauge, e->gauge, v->value, v->signed_value);
        e->has_gauge = true;
        s->u.v = e->gauge;
        return;
    }
    if (s->type == MD_TIMER || s->type == MD_HISTOGRAM || s->type == MD_DISTRIBUTION) {
        double rate = (v->rate > 0 && v->rate <= 1) ? v->rate : 1;
        e->count[s - c->slot] += 1 / rate;
        md_hist_add(s->u.h, v->value, 1);
        return;
    }
    slot_add(s, v);
}

static void seal_ctx(struct md_agg *a, struct md_ctx *c);

/* Fold a value into context c for the window of `now`. */
static void ctx_add(struct md_agg *a, struct md_ctx *c, const struct md_fast *v)
{
    if (a->sealing && c->sealed_to < a->seal_to)
        seal_ctx(a, c); /* seal what it held before this sample changes it */
    if (v->now != a->wc_now) {
        a->wc_now = v->now;
        a->wc_w = window_of(a, v->now);
    }
    int64_t w = a->wc_w;
    if (a->next_seal == 0)
        a->next_seal = w;
    if (w < a->next_seal)
        w = a->next_seal; /* its window is sealed: keep it in the oldest open one */
    struct md_slot *s = &c->slot[(w / a->o.interval) % NSLOT];
    if (s->wstart != 0 && s->wstart != w)
        slot_spill(a, c, s);
    if (s->wstart == 0 && !slot_init(a, s, v->type, w))
        return;
    if (a->o.etsy) {
        etsy_add(c, s, v);
    } else {
        slot_add(s, v);
    }
    c->last_seen = v->now;
    if (s->type == MD_COUNTER || a->o.etsy) {
        c->is_counter = true;
        c->last_counter = v->now;
    }
}

int md_agg_add_fast(struct md_agg *a, uint64_t key, const struct md_fast *v)
{
    if (v->type != MD_SET && !isfinite(v->value)) {
        a->st.nonfinite_drops++;
        return 0;
    }
    struct md_entry *e = tab_find(a, key);
    if (!e->c)
        return -ENOENT;
    a->st.points++;
    ctx_add(a, e->c, v);
    return 0;
}

void md_agg_add(struct md_agg *a, const struct md_point *p, double now)
{
    if (p->type != MD_SET && !isfinite(p->value)) {
        a->st.nonfinite_drops++;
        return;
    }
    uint64_t key;
    if (md_keyer_key(&a->keyer, p, &key) != 0) {
        a->st.too_many_tags++;
        return;
    }
    a->st.points++;
    if (p->timestamp > 0) {
        add_timestamped(a, p);
        return;
    }
    struct md_entry *e = tab_find(a, key);
    struct md_ctx *c = e->c ? e->c : create(a, e, key, p);
    if (!c)
        return;
    struct md_fast v = {.type = p->type, .value = p->value, .rate = p->sample_rate, .now = now,
                        .signed_value = p->signed_value};
    if (p->type == MD_SET)
        v.member_hash = md_hash(p->member.p, p->member.len);
    ctx_add(a, c, &v);
}

/* --- events and service checks ------------------------------------------ */

static const char *dup_or(struct md_frame *f, struct md_str s, const char *dflt)
{
    return s.len ? md_arena_strndup(&f->arena, s.p, s.len) : dflt;
}

/* Canonical tag list of an event or check, with the global tags. */
static const struct md_series_key *raw_tags_key(struct md_agg *a, struct md_str raw,
                                                const struct md_str *host)
{
    uint32_t n = 0;
    struct md_tag_iter it;
    struct md_str t;
    md_tag_iter_init(&it, raw);
    while (n < MD_CTX_MAX_TAGS && md_tag_iter_next(&it, &t))
        a->tagv[n++] = t;
    for (uint32_t i = 0; i < a->o.ntags && n < MD_CTX_MAX_TAGS; i++)
        a->tagv[n++] = a->o.tags[i];
    uint64_t key;
    struct md_str none = {"", 0};
    md_ctx_key(&none, a->tagv, n, host, &a->sc, &key);
    return md_frame_key(&a->pending, host->p, host->len, a->sc.tags, a->sc.ntags);
}

void md_agg_add_event(struct md_agg *a, const struct md_event *e, double now)
{
    static const char *const prio[] = {"normal", "low"};
    static const char *const alert[] = {"info", "success", "warning", "error"};
    const struct md_str *host = e->has_host ? &e->host : &a->keyer.host;
    struct md_frame *f = &a->pending;
    struct md_event_out *o = md_frame_add_event(f);
    if (!o)
        return;
    o->title = dup_or(f, e->title, "");
    o->text = dup_or(f, e->text, "");
    o->host = dup_or(f, *host, "");
    o->aggregation_key = dup_or(f, e->aggregation_key, "");
    o->source_type_name = dup_or(f, e->source_type_name, "");
    o->priority = prio[e->priority & 1];
    o->alert_type = alert[e->alert_type & 3];
    o->timestamp = e->timestamp ? e->timestamp : (int64_t)now;
    o->key = raw_tags_key(a, e->tags, host);
}

void md_agg_add_check(struct md_agg *a, const struct md_service_check *sc, double now)
{
    const struct md_str *host = sc->has_host ? &sc->host : &a->keyer.host;
    struct md_frame *f = &a->pending;
    struct md_check_out *o = md_frame_add_check(f);
    if (!o)
        return;
    o->name = dup_or(f, sc->name, "");
    o->host = dup_or(f, *host, "");
    o->message = dup_or(f, sc->message, "");
    o->status = sc->status;
    o->timestamp = sc->timestamp ? sc->timestamp : (int64_t)now;
    o->key = raw_tags_key(a, sc->tags, host);
}

/* --- flushing ----------------------------------------------------------- */

/* Seal windows [from, to) of one context into f. */
static void ctx_seal(struct md_agg *a, struct md_ctx *c, int64_t from, int64_t to,
                     struct md_frame *f)
{
    const struct md_series_key *k = NULL;
    uint32_t iv = a->o.interval;
    for (int64_t w = from; w < to; w += iv) {
        struct md_slot *s = &c->slot[(w / iv) % NSLOT];
        bool has = s->wstart == w;
        bool zero_fill = !has && c->is_counter && w > c->last_counter - iv &&
                         w < c->last_counter + a->o.expiry_seconds;
        if (!has && !zero_fill)
            continue;
        if (!k && !(k = ctx_key(c, f)))
            return;
        if (has) {
            slot_emit(a, c, s, k, f);
            slot_clear(s);
        } else if (a->o.etsy) {
            idle_emit_etsy(a, c, w, k, f);
        } else {
            md_frame_add(f, ctx_name(c), c->name_len, NULL, k, MD_SERIES_RATE, iv, w, 0);
        }
    }
}

static bool ctx_expired(const struct md_agg *a, const struct md_ctx *c, double now)
{
    for (int i = 0; i < NSLOT; i++)
        if (c->slot[i].wstart)
            return false;
    if (c->is_counter && now < c->last_counter + a->o.expiry_seconds)
        return false;
    return now >= c->last_seen + a->o.context_expiry_seconds;
}

/*
 * Sealing is incremental so that a flush of many contexts never holds the
 * aggregator for long (the pipeline drains its rings between steps, so
 * intake keeps moving). md_agg_seal_begin fixes the windows [from, to) to
 * seal and moves next_seal to `to` at once: from then on every new sample
 * lands in `to` or later. Each step seals the next contexts of the table.
 * A context touched by a sample before the scan reached it is sealed right
 * then (ctx_add), so every context is sealed as it was when the seal
 * began, exactly as an all-at-once seal would. c->sealed_to marks contexts
 * done: a table grow restarts the scan and skips them. Expired contexts
 * are removed when the scan ends.
 */
static void seal_ctx(struct md_agg *a, struct md_ctx *c)
{
    ctx_seal(a, c, a->seal_from, a->seal_to, &a->sealed);
    c->sealed_to = a->seal_to;
}

bool md_agg_seal_begin(struct md_agg *a, double now, bool all)
{
    uint32_t iv = a->o.interval;
    int64_t to = all ? window_of(a, now) + iv : window_of(a, now - a->o.grace);
    int64_t from = a->next_seal ? a->next_seal : to;
    /* The pending frame (timestamped points, events, checks, late spills) is the base. */
    a->sealed = a->pending;
    a->sealed.start = from;
    a->sealed.interval = iv;
    md_frame_init(&a->pending, 0, iv);
    a->seal_windows = 0;
    if (to <= from)
        return false;
    /* After a long stall only the windows a counter could still zero-fill matter. */
    if (to - from > (int64_t)a->o.expiry_seconds + iv)
        from = to - ((int64_t)a->o.expiry_seconds / iv + 1) * iv;
    a->sealing = true;
    a->seal_from = from;
    a->seal_to = to;
    a->seal_now = now;
    a->seal_cursor = 0;
    a->seal_expired = 0;
    a->seal_windows = (int)((to - from) / iv);
    a->next_seal = to;
    /* One series per live context is the common case: size for it once
     * instead of doubling (a 100k-context frame would carry 30 % slack). */
    md_frame_reserve(&a->sealed, a->sealed.nseries + a->n);
    return true;
}

/*
 * Removal is a pass of its own (backward shifts would disturb the scan),
 * and only while the scan's count of expired contexts is not used up:
 * usually none expired and the table is not walked twice. A context
 * counted but touched since is no longer expired; it is re-checked here.
 */
static void remove_expired(struct md_agg *a, double now)
{
    for (uint32_t i = 0; i < a->cap && a->seal_expired;) {
        struct md_ctx *c = a->tab[i].c;
        if (c && ctx_expired(a, c, now)) {
            tab_remove(a, &a->tab[i]);
            ctx_free(c);
            a->st.contexts_expired++;
            a->seal_expired--;
            continue; /* a shifted entry may now sit at i */
        }
        i++;
    }
    a->seal_expired = 0;
    a->st.contexts_live = a->n;
}

bool md_agg_seal_step(struct md_agg *a, uint32_t budget)
{
    if (!a->sealing)
        return true;
    while (a->seal_cursor < a->cap && budget--) {
        struct md_ctx *c = a->tab[a->seal_cursor++].c;
        if (c && c->sealed_to < a->seal_to) {
            seal_ctx(a, c);
            a->seal_expired += ctx_expired(a, c, a->seal_now);
        }
    }
    if (a->seal_cursor < a->cap)
        return false;
    remove_expired(a, a->seal_now);
    a->sealing = false;
    return true;
}

int md_agg_seal_take(struct md_agg *a, struct md_frame *out)
{
    *out = a->sealed;
    md_frame_init(&a->sealed, 0, a->o.interval);
    return a->seal_windows;
}

int md_agg_flush(struct md_agg *a, double now, bool all, struct md_frame *out)
{
    md_agg_seal_begin(a, now, all);
    md_agg_seal_step(a, UINT32_MAX);
    return md_agg_seal_take(a, out);
}
