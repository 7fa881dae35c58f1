/*
 * frame.h: a sealed aggregation window, ready for sinks.
 *
 * When a window closes the aggregator turns its contexts into a frame: a flat
 * list of series points (plus sketches, events and service checks). A frame
 * is immutable once sealed and sinks only read it. Copying every series'
 * name, host and tags would cost ~130 B per series at each flush, so a
 * series borrows them from its context: names and keys stay valid until the
 * frame is freed, because the aggregator keeps a context it expires until
 * every frame it handed out has come back (md_frame_free calls `release`).
 * Strings of points that have no context (|T points, events, checks, etsy
 * names) live in the frame's own arena.
 */
#ifndef METERD_FRAME_H
#define METERD_FRAME_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "meterd/sample.h"

/* Bump allocator: many small strings freed all at once with the frame. */
struct md_arena_chunk;
struct md_arena {
    struct md_arena_chunk *head;
    size_t bytes; /* total handed out, for telemetry */
};
void *md_arena_alloc(struct md_arena *a, size_t n);
char *md_arena_strndup(struct md_arena *a, const char *s, size_t n);
void md_arena_free(struct md_arena *a);

enum md_series_type { MD_SERIES_GAUGE = 0, MD_SERIES_RATE, MD_SERIES_COUNT };
const char *md_series_type_name(enum md_series_type t);

/* The identity of a context as sinks see it: all NUL-terminated, in the arena. */
struct md_series_key {
    const char *host;        /* "" when there is none */
    const char *const *tags; /* sorted, de-duplicated */
    uint32_t ntags;
};

struct md_series {
    const char *name;   /* the context's name (a |T point's or etsy's full name) */
    const char *suffix; /* appended to name (".95percentile"), or NULL */
    const struct md_series_key *key;
    enum md_series_type type;
    uint32_t interval; /* seconds; 0 for gauges */
    int64_t timestamp; /* window start, or the |T timestamp */
    double value;      /* always finite */
};

/* DDSketch bins of one distribution context for one window (issue: protocol). */
struct md_sketch_series {
    const char *name;
    const struct md_series_key *key;
    int64_t timestamp;
    double count, min, max, sum, avg;
    const int32_t *bin_keys;
    const uint32_t *bin_counts;
    uint32_t nbins;
};

struct md_event_out {
    const char *title, *text, *host, *aggregation_key, *source_type_name;
    const char *priority;   /* "normal" | "low" */
    const char *alert_type; /* "info" | "success" | "warning" | "error" */
    int64_t timestamp;
    const struct md_series_key *key; /* tags (host unused) */
};

struct md_check_out {
    const char *name, *host, *message;
    int status;
    int64_t timestamp;
    const struct md_series_key *key;
};

struct md_frame {
    int64_t start;     /* window start, seconds since the epoch */
    uint32_t interval; /* window length, seconds */
    struct md_series *series;
    size_t nseries, series_cap;
    struct md_sketch_series *sketches;
    size_t nsketches, sketches_cap;
    struct md_event_out *events;
    size_t nevents, events_cap;
    struct md_check_out *checks;
    size_t nchecks, checks_cap;
    struct md_arena arena;
    /* Set on the views a sink is handed when a big window is encoded in
     * slices: every series of the window, and whether an earlier slice of
     * the same window came before this one. */
    size_t window_series;
    bool continued;
    bool more_parts; /* the aggregator sends the rest of this window in later frames */
    /* Called once by md_frame_free: the owner of borrowed strings learns
     * that this frame no longer points at them. */
    void (*release)(void *ud);
    void *release_ud;
};

void md_frame_init(struct md_frame *f, int64_t start, uint32_t interval);
void md_frame_free(struct md_frame *f);
/* Room for n series in all (a seal knows roughly how many: no doubling slack). */
int md_frame_reserve(struct md_frame *f, size_t n);
/* Copy a key (host + tags) into the frame's arena. */
const struct md_series_key *md_frame_key(struct md_frame *f, const char *host, size_t host_len,
                                         const struct md_str *tags, uint32_t ntags);
/* Append one point; `name` and `suffix` are copied. Non-finite values are refused (-EINVAL). */
/* The same without copying: name and suffix must outlive the frame (see above). */
int md_frame_add_ref(struct md_frame *f, const char *name, const char *suffix,
                     const struct md_series_key *key, enum md_series_type type, uint32_t interval,
                     int64_t timestamp, double value);
/* A series' full name into buf (name + suffix), truncated to n - 1 bytes. */
const char *md_series_full_name(const struct md_series *s, char *buf, size_t n);
int md_frame_add(struct md_frame *f, const char *name, size_t name_len, const char *suffix,
                 const struct md_series_key *key, enum md_series_type type, uint32_t interval,
                 int64_t timestamp, double value);
struct md_sketch_series *md_frame_add_sketch(struct md_frame *f);
struct md_event_out *md_frame_add_event(struct md_frame *f);
struct md_check_out *md_frame_add_check(struct md_frame *f);

#endif
