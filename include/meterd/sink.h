/*
 * sink.h: the interface every output format implements.
 *
 * A sink turns a sealed frame into payloads: bodies with the path, content
 * type and headers they go out with. It does no I/O, no compression and no
 * retries; the flusher compresses and the forwarder sends, for every sink
 * alike. Adding a backend format is one file in sinks/ plus one line in the
 * registry (agent/forward/sink_registry.c).
 */
#ifndef METERD_SINK_H
#define METERD_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "meterd/frame.h"

struct md_config;
struct md_buf;

enum md_transport {
    MD_TRANSPORT_HTTP,   /* POST to url through the forwarder */
    MD_TRANSPORT_STDOUT, /* written to standard output by the flusher */
};

#define MD_PAYLOAD_MAX_HEADERS 6

struct md_payload {
    struct md_payload *next;
    char *body; /* malloc'd, owned by the payload */
    size_t len;
    char *url;  /* malloc'd full URL (HTTP transport) */
    const char *content_type;
    bool compress;    /* ask the flusher to zlib-deflate it */
    char *headers[MD_PAYLOAD_MAX_HEADERS]; /* malloc'd "Name: value"; may hold secrets: never log */
    unsigned nheaders;
    size_t nitems;    /* series, sketches, events or checks inside, for telemetry */
    const char *sink; /* sink name, for logs and status */
};

void md_payload_free(struct md_payload *p); /* frees one payload, not its successors */
void md_payload_list_free(struct md_payload *p);

struct md_sink_ops {
    const char *name;
    enum md_transport transport;
    /* Build the sink's state from the config; return 0 or -errno and set *err. */
    int (*create)(const struct md_config *cfg, void **state, const char **err);
    /* Append payloads for one frame to *out (a list, tail-appended). */
    int (*encode)(void *state, const struct md_frame *f, struct md_payload **out);
    void (*destroy)(void *state);
    /*
     * Optional: cut an uncompressed body this sink encoded, holding nitems
     * items, into two bodies of about half the items each, appended to a
     * and b (the forwarder's answer to a 413). Stateless, so it works on a
     * payload read back from the spool by a later run. Returns 0 and sets
     * *na, *nb; -EINVAL when it cannot (one item, a body it cannot cut).
     */
    int (*split)(const char *body, size_t len, size_t nitems, struct md_buf *a, size_t *na,
                 struct md_buf *b, size_t *nb);
};

/* Registry: NULL when no sink has that name. */
const struct md_sink_ops *md_sink_lookup(const char *name);

#endif
