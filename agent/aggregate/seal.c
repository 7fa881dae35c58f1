/*
 * seal.c: turning a context's windows into frame series (see aggregator.h
 * for the seal's steps, aggregator_int.h for the shared state).
 *
 * Series borrow the context's name and its interned key; only etsy names
 * (built per window) and events, checks and |T points (no context) are
 * copied into the frame. Frames handed out are counted, and the release
 * hook each one carries counts them back, so that expired contexts are
 * freed only when no frame can still point into them.
 */
#include "aggregator_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etsy.h"
#include "log.h"

/* --- frames out --------------------------------------------------------- */

/* A frame's release hook (any thread): one more frame is back. */
static void frame_back(void *ud)
{
    struct md_agg *a = ud;
    atomic_fetch_add_explicit(&a->frames_back, 1, memory_order_release);
}

uint64_t md_agg_frames_out(const struct md_agg *a)
{
    return a->frames_out - atomic_load_explicit(&((struct md_agg *)a)->frames_back,
                                                memory_order_acquire);
}

/* --- emitting ----------------------------------------------------------- */

static const struct md_series_key *ctx_key(struct md_ctx *c)
{
    return &c->id->k;
}

/* A distribution as a sketch in the frame (bins copied: the sketch is reused). */
static void dist_emit_sketch(const struct md_ddsketch *d, struct md_frame *f, const char *name,
                             const struct md_series_key *k, int64_t ts)
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
        .name = name, .key = k, .timestamp = ts,
        .count = (double)d->count, .min = d->min, .max = d->max, .sum = d->sum, .avg = d->avg,
        .bin_keys = kc, .bin_counts = nc, .nbins = nb};
}

/* etsy statsd's names and statistics (statsd_mode: etsy). */
static void slot_emit_etsy(struct md_agg *a, struct md_ctx *c, struct md_slot *s,
                           const struct md_series_key *k, struct md_frame *f)
{
    uint32_t iv = a->o.interval;
    const char *name = c->name;
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
        md_etsy_counter_flush(0, f, c->name, c->name_len, k, w, iv);
        break;
    case MD_GAUGE:
        md_etsy_gauge_flush(c->etsy->gauge, f, c->name, c->name_len, k, w, iv);
        break;
    case MD_SET:
        break;
    default:
        md_etsy_timer_flush(&empty, 0, a->o.thresholds, a->o.nthresholds, f, c->name,
                            c->name_len, k, w, iv);
    }
}

void md_agg_slot_emit(struct md_agg *a, struct md_ctx *c, struct md_slot *s,
                      const struct md_series_key *k, struct md_frame *f)
{
    uint32_t iv = a->o.interval;
    const char *name = c->name;
    if (a->o.etsy) {
        slot_emit_etsy(a, c, s, k, f);
        return;
    }
    switch (s->type) {
    case MD_COUNTER:
        md_frame_add_ref(f, name, NULL, k, MD_SERIES_RATE, iv, s->wstart, s->u.v / iv);
        break;
    case MD_MONOTONIC_COUNT:
        md_frame_add_ref(f, name, NULL, k, MD_SERIES_COUNT, iv, s->wstart, s->u.v);
        break;
    case MD_GAUGE:
        md_frame_add_ref(f, name, NULL, k, MD_SERIES_GAUGE, iv, s->wstart, s->u.v);
        break;
    case MD_SET:
        md_frame_add_ref(f, name, NULL, k, MD_SERIES_GAUGE, iv, s->wstart,
                         (double)md_hset_count(s->u.set));
        break;
    case MD_TIMER:
    case MD_HISTOGRAM:
        md_hist_flush(s->u.h, &a->o.hist, f, name, k, s->wstart, iv);
        break;
    case MD_DISTRIBUTION:
        if (s->sketch)
            dist_emit_sketch(s->u.d, f, name, k, s->wstart);
        else
            md_hist_flush(s->u.h, &a->dist_hist, f, name, k, s->wstart, iv);
        break;
    }
}

/* Push a slot's window out into the pending frame (late flush). */
/* --- flushing ----------------------------------------------------------- */

/* A counter idle in window w but not for long is shipped as 0 there. */
static bool zero_fills(const struct md_agg *a, const struct md_ctx *c, int64_t w)
{
    return c->is_counter && w > c->last_counter - a->o.interval &&
           w < c->last_counter + a->o.expiry_seconds;
}

/* Seal windows [from, to) of one context into f. */
static void ctx_seal(struct md_agg *a, struct md_ctx *c, int64_t from, int64_t to,
                     struct md_frame *f)
{
    const struct md_series_key *k = NULL;
    uint32_t iv = a->o.interval;
    for (int64_t w = from; w < to; w += iv) {
        struct md_slot *s = &c->slot[(w / iv) % NSLOT];
        bool has = s->wstart == w;
        bool zero_fill = !has && zero_fills(a, c, w);
        if (!has && !zero_fill)
            continue;
        if (!k)
            k = ctx_key(c);
        if (has) {
            md_agg_slot_emit(a, c, s, k, f);
            md_agg_slot_clear(s);
        } else if (a->o.etsy) {
            idle_emit_etsy(a, c, w, k, f);
        } else {
            md_frame_add_ref(f, c->name, NULL, k, MD_SERIES_RATE, iv, w, 0);
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
 * A context touched by a sample before the scan reached it keeps what the
 * seal reads as it was (md_agg_seal_touch), so every context is sealed as
 * it was when the seal began, exactly as an all-at-once seal would, and
 * parts stay about PART_SERIES long. c->sealed_to marks contexts
 * done: a table grow restarts the scan and skips them. Expired contexts
 * are removed when the scan ends.
 */
void md_agg_seal_ctx(struct md_agg *a, struct md_ctx *c)
{
    ctx_seal(a, c, a->seal_from, a->seal_to, &a->sealed);
    c->sealed_to = (uint32_t)a->seal_to;
}

/*
 * A sample is about to change context c, which the scan has not sealed.
 * Sealing c into the frame here would let the frame grow without bound
 * while the seal waits for the loop to take its parts: with many contexts,
 * a sample for most of them arrives before the scan reaches them (at 1M
 * contexts, parts of 1M series and 50 MB were seen). With one window being
 * sealed, the usual case, there is no need: the sample lands in the other
 * slot, and all it changes that the seal reads is the counter's last
 * sample time, which decides the zero-fill. So a window that would be
 * zero-filled gets a zero counter in its slot now (shipped exactly as the
 * zero-fill is), and the scan seals c later as if untouched. etsy's idle
 * values and seals of several windows (after a stall) are sealed at once.
 */
void md_agg_seal_touch(struct md_agg *a, struct md_ctx *c)
{
    uint32_t iv = a->o.interval;
    if (a->o.etsy || a->seal_to - a->seal_from != iv) {
        md_agg_seal_ctx(a, c);
        return;
    }
    struct md_slot *s = &c->slot[(a->seal_from / iv) % NSLOT];
    if (s->wstart == 0 && zero_fills(a, c, a->seal_from))
        *s = (struct md_slot){.wstart = (uint32_t)a->seal_from, .type = MD_COUNTER};
}

bool md_agg_seal_begin(struct md_agg *a, double now, bool all)
{
    uint32_t iv = a->o.interval;
    int64_t to = all ? md_agg_window_of(a, now) + iv : md_agg_window_of(a, now - a->o.grace);
    int64_t from = a->next_seal ? a->next_seal : to;
    if (a->grave && md_agg_frames_out(a) == 0)
        md_agg_bury(a);
    md_budget_tick(&a->dsd, now);
    md_budget_tick(&a->own, now);
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
    /* All at once, one series per live context is the common case: size
     * for it instead of doubling (a 100k-context frame would carry 30 %
     * slack). A seal taken in parts (md_agg_seal_take_part) needs no more
     * than a part. */
    if (all)
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
            md_agg_tab_remove(a, &a->tab[i]);
            md_budget_release(c->internal ? &a->own : &a->dsd);
            md_agg_ctx_retire(a, c);
            a->st.contexts_expired++;
            a->seal_expired--;
            continue; /* a shifted entry may now sit at i */
        }
        i++;
    }
    a->seal_expired = 0;
    a->st.contexts_live = a->n;
    a->st.contexts_collector = a->own.live;
}

bool md_agg_seal_step(struct md_agg *a, uint32_t budget)
{
    if (!a->sealing)
        return true;
    while (a->seal_cursor < a->cap && budget--) {
        struct md_ctx *c = a->tab[a->seal_cursor++].c;
        if (c && c->sealed_to < a->seal_to) {
            md_agg_seal_ctx(a, c);
            a->seal_expired += ctx_expired(a, c, a->seal_now);
        }
    }
    if (a->seal_cursor < a->cap)
        return false;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t before = a->st.contexts_expired;
    remove_expired(a, a->seal_now);
    a->sealing = false;
    md_agg_tab_fit(a);
    if (a->st.contexts_expired - before >= TRIM_AFTER)
        md_debug("%llu contexts expired: out of the table in %.1f ms",
                 (unsigned long long)(a->st.contexts_expired - before), md_agg_ms_since(&t0));
    return true;
}

static void hand_out(struct md_agg *a, struct md_frame *out)
{
    *out = a->sealed;
    out->release = frame_back;
    out->release_ud = a;
    a->frames_out++;
}

int md_agg_seal_take(struct md_agg *a, struct md_frame *out)
{
    hand_out(a, out);
    md_frame_init(&a->sealed, 0, a->o.interval);
    return a->seal_windows;
}

size_t md_agg_seal_series(const struct md_agg *a)
{
    return a->sealed.nseries;
}

void md_agg_seal_take_part(struct md_agg *a, struct md_frame *out)
{
    hand_out(a, out);
    out->more_parts = true;
    md_frame_init(&a->sealed, out->start, a->o.interval);
    a->sealed.continued = true;
}

int md_agg_flush(struct md_agg *a, double now, bool all, struct md_frame *out)
{
    md_agg_seal_begin(a, now, all);
    md_agg_seal_step(a, UINT32_MAX);
    return md_agg_seal_take(a, out);
}

