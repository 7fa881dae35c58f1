/*
 * aggregator_int.h: the aggregator's state, shared by aggregator.c (the
 * table, contexts and adding samples) and seal.c (turning windows into
 * frames). Not for use outside agent/aggregate.
 */
#ifndef METERD_AGGREGATOR_INT_H
#define METERD_AGGREGATOR_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "aggregator.h"
#include "budget.h"
#include "context.h"
#include "ddsketch.h"
#include "hset.h"
#include "ident.h"

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

/* 72 bytes before the name: with a short name a context is a 96-byte malloc chunk. */
struct md_ctx {
    double last_seen;
    double last_counter; /* time of the last counter sample, for zero-fill */
    union {
        struct md_ctx_etsy *etsy;
        struct md_ctx *next_dead; /* in the graveyard (etsy is freed by then) */
    };
    struct md_ident *id; /* host and tags */
    uint32_t sealed_to;  /* windows before this are sealed (see the seal section) */
    uint16_t name_len;
    bool is_counter;     /* zero-filled when idle (etsy: every type is re-sent) */
    bool internal;       /* counted against the collectors' budget */
    struct md_slot slot[NSLOT];
    char name[];         /* NUL-terminated */
};
_Static_assert(sizeof(struct md_ctx) == 72, "a context grew: see the comment above");

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
    struct md_ident_tab ids;
    /* Expired contexts that frames handed out may still point into: freed
     * when no frame is out (frames_out == frames_back). */
    struct md_ctx *grave;
    uint64_t frames_out;
    _Atomic uint64_t frames_back;
    /* the seal in progress (md_agg_seal_begin .. md_agg_seal_take) */
    bool sealing;
    int64_t seal_from, seal_to;
    double seal_now;
    uint32_t seal_cursor;
    uint32_t seal_expired; /* contexts the scan found expired (see remove_expired) */
    int seal_windows;
    struct md_frame sealed;
    struct md_agg_stats st;
    struct md_budget dsd, own; /* context caps: DogStatsD's and the agent's own */
    uint64_t buried;           /* contexts freed since the allocator was last trimmed */
    pthread_t trim_tid;        /* the trim in progress (md_agg_bury) */
    bool trim_started;
    _Atomic bool trim_busy;
    struct md_ctx *trim_dead;  /* expired contexts it frees first (written before it starts) */
    uint64_t trim_for;         /* their count, for its log line */
    struct md_ctx_scratch sc;      /* for events and checks */
    struct md_str tagv[MD_CTX_MAX_TAGS];
};

/* Contexts freed at once that are worth a trim (and a debug line with their cost). */
#define TRIM_AFTER 16384
/* Milliseconds since t0 (CLOCK_MONOTONIC). */
double md_agg_ms_since(const struct timespec *t0);

/* aggregator.c */
void md_agg_slot_clear(struct md_slot *s);
/* grave.c: an expired context in; the graveyard freed once no frame is out;
 * at md_agg_free, everything freed and a trim still running waited for. */
void md_agg_ctx_retire(struct md_agg *a, struct md_ctx *c);
void md_agg_bury(struct md_agg *a);
void md_agg_grave_free(struct md_agg *a);
void md_agg_tab_remove(struct md_agg *a, struct md_entry *e);
void md_agg_tab_fit(struct md_agg *a);
int64_t md_agg_window_of(const struct md_agg *a, double t);
/* seal.c */
void md_agg_slot_emit(struct md_agg *a, struct md_ctx *c, struct md_slot *s,
                      const struct md_series_key *k, struct md_frame *f);
void md_agg_seal_ctx(struct md_agg *a, struct md_ctx *c);
/* Before a sample changes c while a seal has not reached it. */
void md_agg_seal_touch(struct md_agg *a, struct md_ctx *c);

#endif
