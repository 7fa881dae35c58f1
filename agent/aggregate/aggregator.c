/*
 * aggregator.c: the context table and its windows (see aggregator.h).
 *
 * Contexts live in an open-addressing table keyed by their 64-bit key
 * (linear probing, backward-shift deletion). Each context keeps two window
 * slots, indexed by window number modulo 2: the window being filled and the
 * one waiting out its grace period. A sample that finds its slot still
 * holding an unsealed older window (the flush timer ran late) pushes that
 * window into the pending frame rather than losing it. A context holds its
 * name (NUL-terminated, in one allocation with it) and a pointer to its
 * interned host and tags (ident.h); frames borrow both, so an expired
 * context is only freed once every frame handed out has been freed (the
 * graveyard below). A new context takes a slot of its origin's budget
 * (budget.h: DogStatsD's or the agent's own), and after a sweep that freed
 * many, the allocator is trimmed (grave.c) and the table shrunk so that the
 * memory a flood of names took goes back. Sealing windows into frames is in
 * seal.c.
 */
#include "aggregator_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etsy.h"
#include "log.h"

/* --- contexts ----------------------------------------------------------- */

static struct md_ctx *ctx_new(struct md_agg *a, const struct md_str *name,
                              const struct md_str *host, const struct md_str *tags, uint32_t ntags)
{
    if (name->len > UINT16_MAX)
        return NULL;
    struct md_ctx *c = calloc(1, sizeof *c + name->len + 1);
    if (!c)
        return NULL;
    if (!(c->id = md_ident_get(&a->ids, host, tags, ntags))) {
        free(c);
        return NULL;
    }
    c->name_len = (uint16_t)name->len;
    memcpy(c->name, name->p, name->len);
    return c;
}

void md_agg_slot_clear(struct md_slot *s)
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

static void ctx_free(struct md_agg *a, struct md_ctx *c)
{
    for (int i = 0; i < NSLOT; i++)
        md_agg_slot_clear(&c->slot[i]);
    free(c->etsy);
    md_ident_put(&a->ids, c->id);
    free(c);
}

/* --- table -------------------------------------------------------------- */

#define TAB_MIN 1024

static int tab_resize(struct md_agg *a, uint32_t cap)
{
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

static int tab_grow(struct md_agg *a)
{
    return tab_resize(a, a->cap ? a->cap * 2 : TAB_MIN);
}

/*
 * After many contexts expired: a table under 1/8 full shrinks to about
 * 40 % (2M expired contexts left a 64 MiB table behind). Not while a seal
 * is in progress; growing back costs one rehash per doubling.
 */
void md_agg_tab_fit(struct md_agg *a)
{
    if (a->sealing || a->cap <= TAB_MIN || (uint64_t)a->n * 8 >= a->cap)
        return;
    uint32_t cap = TAB_MIN;
    while ((uint64_t)a->n * 5 > (uint64_t)cap * 2)
        cap *= 2;
    tab_resize(a, cap);
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
void md_agg_tab_remove(struct md_agg *a, struct md_entry *e)
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
    md_hist_opts_suffixes(&a->o.hist);
    md_hist_opts_suffixes(&a->dist_hist);
    md_budget_init(&a->dsd, "dogstatsd_context_limit", "DogStatsD", o->context_limit);
    md_budget_init(&a->own, "collector_context_limit", "collector", o->collector_limit);
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
            ctx_free(a, a->tab[i].c);
    free(a->tab);
    md_agg_grave_free(a); /* the caller freed its frames first */
    md_ident_tab_free(&a->ids);
    md_keyer_free(&a->keyer);
    md_frame_free(&a->pending);
    md_frame_free(&a->sealed);
    free(a);
}

const struct md_agg_stats *md_agg_stats(const struct md_agg *a)
{
    return &a->st;
}

static void slot_spill(struct md_agg *a, struct md_ctx *c, struct md_slot *s)
{
    md_agg_slot_emit(a, c, s, &c->id->k, &a->pending);
    md_agg_slot_clear(s);
    a->st.late_flushes++;
}

/* --- adding ------------------------------------------------------------- */

int64_t md_agg_window_of(const struct md_agg *a, double t)
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
        a->st.timestamp_type_drops++;
        return;
    }
    const struct md_str *host = md_keyer_host(&a->keyer, p);
    if (md_keyer_canonical(&a->keyer, p) != 0) {
        a->st.alloc_drops++;
        return;
    }
    const struct md_series_key *k = md_frame_key(&a->pending, host->p, host->len,
                                                 a->keyer.sc.tags, a->keyer.sc.ntags);
    if (!k || md_frame_add(&a->pending, p->name.p, p->name.len, NULL, k, t, a->o.interval,
                           p->timestamp, v) != 0)
        a->st.alloc_drops++;
    a->st.timestamped++;
}

/* Create the context of p, whose key the keyer just computed. */
static struct md_ctx *create(struct md_agg *a, struct md_entry *e, uint64_t key,
                             const struct md_point *p, double now, bool internal)
{
    struct md_budget *b = internal ? &a->own : &a->dsd;
    if (!md_budget_take(b, now)) {
        a->st.context_limit_drops = a->dsd.drops;
        a->st.collector_limit_drops = a->own.drops;
        return NULL;
    }
    struct md_ctx *c = NULL;
    if (md_keyer_canonical(&a->keyer, p) == 0)
        c = ctx_new(a, &p->name, md_keyer_host(&a->keyer, p), a->keyer.sc.tags,
                    a->keyer.sc.ntags);
    if (!c) {
        md_budget_release(b);
        a->st.alloc_drops++;
        return NULL;
    }
    c->internal = internal;
    a->st.contexts_collector = a->own.live;
    c->sealed_to = (uint32_t)a->next_seal; /* it holds nothing older */
    e->key = key;
    e->c = c;
    a->n++;
    a->st.contexts_created++;
    a->st.contexts_live = a->n;
    if (a->n * 5 > a->cap * 4)
        tab_grow(a); /* at 80 %: linear probing over 64-bit hashes still finds a key in ~3 slots */
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


/* Fold a value into context c for the window of `now`. */
static void ctx_add(struct md_agg *a, struct md_ctx *c, const struct md_fast *v)
{
    if (a->sealing && c->sealed_to < a->seal_to)
        md_agg_seal_touch(a, c); /* keep what the seal reads as it was */
    if (v->now != a->wc_now) {
        a->wc_now = v->now;
        a->wc_w = md_agg_window_of(a, v->now);
    }
    int64_t w = a->wc_w;
    if (a->next_seal == 0)
        a->next_seal = w;
    if (w < a->next_seal)
        w = a->next_seal; /* its window is sealed: keep it in the oldest open one */
    struct md_slot *s = &c->slot[(w / a->o.interval) % NSLOT];
    if (s->wstart != 0 && s->wstart != w)
        slot_spill(a, c, s);
    if (s->wstart == 0 && !slot_init(a, s, v->type, w)) {
        a->st.alloc_drops++;
        return;
    }
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

static void agg_add(struct md_agg *a, const struct md_point *p, double now, bool internal)
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
    struct md_ctx *c = e->c ? e->c : create(a, e, key, p, now, internal);
    if (!c)
        return;
    struct md_fast v = {.type = p->type, .value = p->value, .rate = p->sample_rate, .now = now,
                        .signed_value = p->signed_value};
    if (p->type == MD_SET)
        v.member_hash = md_hash(p->member.p, p->member.len);
    ctx_add(a, c, &v);
}

void md_agg_add(struct md_agg *a, const struct md_point *p, double now)
{
    agg_add(a, p, now, false);
}

void md_agg_add_internal(struct md_agg *a, const struct md_point *p, double now)
{
    agg_add(a, p, now, true);
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

