/*
 * datadog_int.h: the Datadog sink's internals, shared by its files and by
 * no one else. datadog.c owns the keys, the state and the encode order;
 * datadog_batch.c fills compressed payloads under an intake's limits;
 * datadog_series.c writes series (v1 JSON or v2 protobuf);
 * datadog_events.c writes service checks and events; datadog_split.c cuts
 * a payload the intake answered 413 to.
 */
#ifndef METERD_DATADOG_INT_H
#define METERD_DATADOG_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "meterd/sink.h"
#include "zstream.h"

/* The v1 intake's limits (compressed, uncompressed): series, checks, events. */
#define DD_MAX_COMPRESSED 3200000u
#define DD_MAX_UNCOMPRESSED 62000000u
/* /api/v2/series: 512 KB compressed, 5 MB uncompressed, and the agent's 10000 points. */
#define DD_V2_MAX_COMPRESSED 512000u
#define DD_V2_MAX_UNCOMPRESSED 5242880u
#define DD_V2_MAX_POINTS 10000u

struct dd_state {
    char *base;    /* no trailing slash */
    char *api_key; /* secret: only ever copied into a header */
    char *host;    /* agent hostname, for the events envelope */
    size_t limit, climit;       /* v1 bodies: max uncompressed, compressed bytes */
    size_t v2_limit, v2_climit; /* v2 series bodies */
    bool v2_series;             /* series to /api/v2/series as protobuf */
    enum md_comp_kind comp;     /* of every payload (serializer_compressor_kind) */
    int comp_level;
    _Atomic unsigned long long utf8_fixed; /* bytes replaced by U+FFFD, not yet logged */
    _Atomic long long utf8_logged;         /* unix time of the last line about them */
    char **tags;   /* host tags, for the host metadata */
    size_t ntags;
    _Atomic int64_t meta_due; /* unix seconds of the next host metadata; encodes race for it */
    _Atomic int64_t running_last; /* newest window that carried datadog.agent.running */
    bool agent_items;         /* host metadata and datadog.agent.running */
};

/* A payload being filled (compressed as it goes), plus where finished ones go. */
struct dd_batch {
    struct dd_state *st;
    const char *path, *content_type;
    size_t limit, climit;   /* of this kind of body */
    size_t max_items;       /* 0 = no count limit */
    struct md_zstream zs;
    size_t nitems;
    size_t too_big;         /* items that fit no payload, handed on as one marker */
    const char *tail;       /* closes the document ("" for protobuf) */
    struct md_payload **out;
    int rc;
};

/* A v1 JSON batch to path, with the v1 limits. */
void md_dd_batch_json(struct dd_batch *b, struct dd_state *st, const char *path,
                      const char *tail, struct md_payload **out);
/*
 * Add one serialised item: `fresh` opens a new body before it, `cont`
 * joins it to the previous item of the same body. The body is shipped
 * first when the item would push it past a limit; an item that fits no
 * payload alone is counted for the forwarder's too_big.
 */
void md_dd_batch_add(struct dd_batch *b, const struct md_buf *fresh, const struct md_buf *cont,
                     const struct md_buf *item);
/* End of an encode: ship what is open, release the stream. */
void md_dd_batch_end(struct dd_batch *b);

/* A payload to base + path with the API key and content type (body unset); NULL when out of memory. */
struct md_payload *md_dd_payload_new(struct dd_state *st, const char *path,
                                     const char *content_type);
void md_dd_list_append(struct md_payload **out, struct md_payload *p);
/* Set p's body to z (compressed with st's kind, taken) and its Content-Encoding. 0 or -ENOMEM. */
int md_dd_set_body(struct dd_state *st, struct md_payload *p, char *z, size_t zlen);
/* p's body: len bytes at plain compressed with st's kind and level (copied). 0 or -errno. */
int md_dd_compress_body(struct dd_state *st, struct md_payload *p, const void *plain, size_t len);
/* Invalid UTF-8 replaced: one line a minute with the count (encode runs on pool threads). */
void md_dd_note_utf8(struct dd_state *st, size_t bad);
/* The tags as a JSON array; with device, a device:<x> tag is left out and *device set. */
size_t md_dd_json_tags(struct md_buf *b, const struct md_series_key *k, const char **device);

int md_dd_encode_series(struct dd_state *st, const struct md_frame *f, struct md_payload **out);
int md_dd_encode_checks(struct dd_state *st, const struct md_frame *f, struct md_payload **out);
int md_dd_encode_events(struct dd_state *st, const struct md_frame *f, struct md_payload **out);

/* The sink's split (sink.h): series (JSON or protobuf), checks, events, sketches. */
int md_dd_split(const char *body, size_t len, size_t nitems, struct md_buf *a, size_t *na,
                struct md_buf *b, size_t *nb);

#endif
