/*
 * frame.h: a sealed aggregation window, ready for sinks.
 *
 * When a window closes the aggregator turns its contexts into a frame: a flat
 * list of series points (plus sketches, events and service checks) whose
 * strings live in the frame's own arena. A frame is immutable once sealed and
 * owns everything it points to, so it can cross threads and outlive the
 * contexts it came from; sinks only read it.
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
    const char *name; /* full name, suffix included (".95percentile") */
    const struct md_series_key *key;
    enum md_series_type type;
    uint32_t interval; /* seconds; 0 for gauges */
    int64_t timestamp; /* window start, or the |T timestamp */
    double value;      /* always finite */
};

/* DDSketch bins of one distribution context for one window. */
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
};

void md_frame_init(struct md_frame *f, int64_t start, uint32_t interval);
void md_frame_free(struct md_frame *f);
/* Room for n series in all (a seal knows roughly how many: no doubling slack). */
int md_frame_reserve(struct md_frame *f, size_t n);
/* Copy a key (host + tags) into the frame's arena. */
const struct md_series_key *md_frame_key(struct md_frame *f, const char *host, size_t host_len,
                                         const struct md_str *tags, uint32_t ntags);
/* Append one point; `name` and `suffix` are copied. Non-finite values are refused (-EINVAL). */
int md_frame_add(struct md_frame *f, const char *name, size_t name_len, const char *suffix,
                 const struct md_series_key *key, enum md_series_type type, uint32_t interval,
                 int64_t timestamp, double value);
struct md_sketch_series *md_frame_add_sketch(struct md_frame *f);
struct md_event_out *md_frame_add_event(struct md_frame *f);
struct md_check_out *md_frame_add_check(struct md_frame *f);

#endif
