/*
 * sink.h: the interface every output format implements.
 *
 * A sink turns a sealed frame into payloads: bodies with the path, content
 * type and headers they go out with. It does no I/O, no compression and no
 * retries; the flusher compresses and the forwarder sends, for every sink
 * alike. Adding a backend format is one file in sinks/ plus one line in the
 * registry (agent/forward/sink_registry.c).
 *
 * A sink declares its own keys (a config map, meterd/options.h): they are
 * read from the top level of meterd.yaml, the environment and --set with
 * the agent's own keys, parsed and checked at load, and handed to create()
 * as the sink's own struct. So `meterd configcheck` checks them exactly as
 * `meterd run` does, and the sink alone decides its wire format (the
 * Datadog sink's distribution_output says whether the aggregator keeps
 * distributions as sketches).
 *
 * Threads: wanted, sketches and create run on the thread that loads the
 * configuration (the loop thread in the daemon); destroy runs on the loop
 * thread after the last encode has returned. encode runs on a libuv
 * worker thread, and two frames of one sink may be encoded at once on two
 * workers: encode must only read the state it shares with other calls, or
 * lock what it writes (the console sink's count of a window in parts).
 */
#ifndef METERD_SINK_H
#define METERD_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "meterd/frame.h"
#include "meterd/options.h"

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
    /*
     * No body: nitems items the sink could not fit in any payload of the
     * intake's limits. The forwarder counts them dropped (too_big) without
     * sending, so the drop shows in its ledger like a 413 for one item.
     */
    bool too_big;
};

void md_payload_free(struct md_payload *p); /* frees one payload, not its successors */
void md_payload_list_free(struct md_payload *p);

/* What the agent resolved for every sink. */
struct md_sink_env {
    const char *hostname; /* the agent's host name */
    const char *const *tags; /* the agent's host tags (`tags`), for sinks that report them */
    size_t ntags;
};

struct md_sink_ops {
    const char *name;
    enum md_transport transport;
    const struct md_opt *keys; /* the sink's keys (NULL-name terminated), or NULL */
    size_t conf_size;          /* bytes of the struct the keys are written into */
    /* Whether the keys ask for this sink when `sinks` is empty; NULL = never. */
    bool (*wanted)(const void *conf);
    /* Whether distributions should reach this sink as sketches; NULL = never. */
    bool (*sketches)(const void *conf);
    /*
     * Build the state from the parsed keys (NULL when there are none).
     * Returns 0, or a negative errno with one line in err (never a secret).
     */
    int (*create)(const void *conf, const struct md_sink_env *env, void **state, char *err,
                  size_t errlen);
    /* Append payloads for one frame to *out (a list, tail-appended). 0 or -errno. */
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
/* The i-th registered sink, NULL past the last (at most MD_CONFIG_MAX_SINK_KINDS). */
const struct md_sink_ops *md_sink_at(size_t i);

#endif
