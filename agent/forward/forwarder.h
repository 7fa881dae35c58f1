/*
 * forwarder.h: ships HTTP payloads to backends without blocking the loop.
 *
 * Every HTTP sink's payloads go through one forwarder: libcurl's multi
 * interface driven by the agent's libuv loop, a bound on concurrent
 * requests, retries with exponential backoff and jitter for answers that
 * may succeed later (408, 429, 5xx, timeouts, connection errors), a retry
 * queue bounded in bytes that drops its oldest payload when full, and drops
 * that are counted and logged (with the backend's answer, never the
 * headers) for answers that will never succeed (other 4xx). On shutdown it
 * drains what it holds within a deadline, then closes every handle it owns
 * so uv_run() can return.
 */
#ifndef METERD_FORWARDER_H
#define METERD_FORWARDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "meterd/sink.h"

struct md_fwd_opts {
    uint64_t timeout_ms;          /* per request; 0 = 20000 (forwarder_timeout) */
    unsigned max_concurrent;      /* requests in flight; 0 = 4 */
    bool skip_ssl_validation;     /* off by default: TLS is verified */
    size_t retry_queue_max_bytes; /* payload bytes waiting to be sent; 0 = 15 MiB */
    uint64_t backoff_base_ms;     /* 0 = 2000 (forwarder_backoff_base) */
    uint64_t backoff_max_ms;      /* 0 = 64000 (forwarder_backoff_max) */
    /*
     * Proxies by the backend URL's scheme (proxy.http / proxy.https), and
     * the hosts reached directly ("a,.b.com,10.0.0.1"). NULL or "": libcurl's
     * own http_proxy / HTTPS_PROXY / NO_PROXY. Copied by md_forwarder_new.
     */
    const char *proxy_http, *proxy_https, *no_proxy;
};

struct md_forwarder;

/* Returns NULL (and logs why) when curl or the loop cannot be set up. */
struct md_forwarder *md_forwarder_new(uv_loop_t *loop, const struct md_fwd_opts *o);

/*
 * Queue one payload (p->next is ignored and cleared). Takes ownership of p
 * in every case: on success it is freed once sent or dropped; on error
 * (-ESHUTDOWN after md_forwarder_shutdown, -EINVAL without a URL) it is
 * freed at once and counted as dropped.
 */
int md_forwarder_send(struct md_forwarder *f, struct md_payload *p);

/*
 * Stop accepting payloads, keep sending what is in flight and queued for at
 * most timeout_ms, then drop the rest (counted as "shutdown"), release curl
 * and close every libuv handle. `done` runs once all handles are closed;
 * after that the forwarder holds nothing on the loop and only
 * md_forwarder_free() may be called. Returns -EALREADY when called twice.
 */
typedef void (*md_forwarder_done_cb)(struct md_forwarder *f, void *ud);
int md_forwarder_shutdown(struct md_forwarder *f, uint64_t timeout_ms, md_forwarder_done_cb done,
                          void *ud);

/* Payloads in flight plus queued; 0 means idle. */
size_t md_forwarder_pending(const struct md_forwarder *f);

/*
 * Counters, global and per sink name. Dropped reasons: "rejected" (4xx),
 * "queue_full", "shutdown", "invalid" (bad URL or curl setup).
 */
struct md_fwd_stats {
    uint64_t payloads_sent, bytes_sent; /* bytes: request bodies as sent (compressed) */
    uint64_t errors;                    /* failed attempts of any kind */
    uint64_t retries;                   /* attempts re-queued for another try */
    uint64_t dropped_rejected, dropped_queue_full, dropped_shutdown, dropped_invalid;
    int last_status;                    /* HTTP code of the last answer, 0 = none/no answer */
    int64_t last_success;               /* unix seconds of the last 2xx, 0 = never */
    int64_t last_attempt;               /* unix seconds of the last completed request */
};
/* sink NULL = totals over all sinks. Returns -ENOENT for an unknown sink. */
int md_forwarder_stats(const struct md_forwarder *f, const char *sink, struct md_fwd_stats *out);

/* {"payloads_sent":..,...,"queue_bytes":..,"sinks":{"datadog":{...}}}: no URL, no header. */
void md_forwarder_status_json(const struct md_forwarder *f, struct md_buf *b);

/*
 * Frees the forwarder. If md_forwarder_shutdown's done callback has not run
 * yet, it starts closing with no grace period and the memory is released
 * by the last close callback, so the loop must still be run to completion.
 */
void md_forwarder_free(struct md_forwarder *f);

#endif
