/*
 * forwarder.h: ships HTTP payloads to backends without blocking the loop.
 *
 * Every HTTP sink's payloads go through one forwarder: libcurl's multi
 * interface driven by the agent's libuv loop, a bound on concurrent
 * requests, retries with exponential backoff and jitter, per endpoint (a
 * sink's URL path), for answers that may succeed later (408, 429, 5xx,
 * timeouts, connection errors), and
 * drops that are counted and logged (at most one line per reason a minute,
 * with the backend's answer, never the headers) for answers that will
 * never succeed (other 4xx). A 413 splits the payload in two and sends the
 * halves; a payload of one item that is still too large is dropped. When a
 * backend cannot be reached, a light probe (HEAD) every backoff_base tells
 * when it is back, so recovery takes seconds, not the backoff cap.
 *
 * Payloads waiting for a failing backend are written to the disk spool
 * (spool.h, on a writer thread of its own) so a full memory queue, a
 * restart or a crash does not lose them; the memory queue is bounded in bytes and spills its oldest to the
 * spool. On shutdown it drains what it can within a deadline and spools
 * the rest, then closes every handle it owns so uv_run() can return.
 */
#ifndef METERD_FORWARDER_H
#define METERD_FORWARDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "meterd/sink.h"

#define MD_FWD_MAX_SECRETS 4
#define MD_FWD_MAX_ENDPOINTS 8

struct md_fwd_opts {
    uint64_t timeout_ms;          /* per request; 0 = 20000 (forwarder_timeout) */
    unsigned max_concurrent;      /* requests in flight; 0 = 4 */
    bool skip_ssl_validation;     /* off by default: TLS is verified */
    size_t retry_queue_max_bytes; /* payload bytes waiting to be sent; 0 = 15 MiB */
    uint64_t backoff_base_ms;     /* 0 = 2000 (forwarder_backoff_base) */
    uint64_t backoff_max_ms;      /* 0 = 64000 (forwarder_backoff_max) */
    const char *spool_path;       /* NULL or "" = no disk spool */
    uint64_t spool_max_bytes;     /* 0 = 100 MiB */
    const char *secrets[MD_FWD_MAX_SECRETS]; /* header values never written to disk (API key, auth) */
    /*
     * Proxies by the backend URL's scheme (proxy.http / proxy.https), and
     * the hosts reached directly ("a,.b.com,10.0.0.1"). NULL or "": libcurl's
     * own http_proxy / HTTPS_PROXY / NO_PROXY. Copied by md_forwarder_new.
     */
    const char *proxy_http, *proxy_https, *no_proxy;
    /*
     * The backends configured now, as URL prefixes (a sink's base URL:
     * "https://app.datadoghq.com", "http://vm:8428/api/v1/write"). A
     * spooled payload whose URL starts with none of them (a dd_url changed,
     * a sink removed since it was spooled) is dropped when read back,
     * counted as "unconfigured". None given: every spooled payload is sent.
     * Copied by md_forwarder_new.
     */
    const char *endpoints[MD_FWD_MAX_ENDPOINTS];
};

struct md_forwarder;

/* Returns NULL (and logs why) when curl or the loop cannot be set up. */
struct md_forwarder *md_forwarder_new(uv_loop_t *loop, const struct md_fwd_opts *o);

/*
 * Queue one payload (p->next is ignored and cleared). Takes ownership of p
 * in every case: on success it is freed once sent or dropped; on error
 * (-ESHUTDOWN after md_forwarder_shutdown, -EINVAL without a URL) it is
 * freed at once and counted as dropped. A too_big payload (sink.h) is
 * counted dropped (too_big) at once and never sent.
 */
int md_forwarder_send(struct md_forwarder *f, struct md_payload *p);

/*
 * Stop accepting payloads, keep sending what is in flight and queued for at
 * most timeout_ms (less when every backend left is failing), then spool the
 * rest (md_forwarder_spool_pending), release curl and close every libuv
 * handle. `done` runs once all handles are closed;
 * after that the forwarder holds nothing on the loop and only
 * md_forwarder_free() may be called. Returns -EALREADY when called twice.
 */
typedef void (*md_forwarder_done_cb)(struct md_forwarder *f, void *ud);
int md_forwarder_shutdown(struct md_forwarder *f, uint64_t timeout_ms, md_forwarder_done_cb done,
                          void *ud);

/*
 * Write every payload in memory (queued or in flight: those transfers are
 * aborted) to the spool, to be sent by the next run, and wait until the
 * spool's writer thread has them on disk; what cannot be written is
 * dropped and counted as "shutdown". Returns how many were spooled.
 * md_forwarder_shutdown calls it at its deadline; a daemon that must exit
 * at once may call it first.
 */
size_t md_forwarder_spool_pending(struct md_forwarder *f);

/* Payloads in flight plus queued in memory; 0 means idle. */
size_t md_forwarder_pending(const struct md_forwarder *f);

/*
 * Counters, global and per sink name. Dropped reasons: "rejected" (4xx),
 * "too_big" (413 for a single item, or items a sink could fit in no
 * payload: sink.h, too_big), "queue_full" (memory queue full and
 * no spool room), "shutdown" (could not be spooled at exit), "invalid"
 * (bad URL or curl setup), "unconfigured" (read back from the spool for
 * a backend no longer configured: opts.endpoints). items_* count series (or checks, events) inside.
 * spooled counts payloads handed to the spool's writer; a write that then
 * fails is counted by the spool (write_errors) and the payload comes back.
 */
struct md_fwd_stats {
    uint64_t payloads_in, items_in;     /* handed to md_forwarder_send */
    uint64_t payloads_sent, bytes_sent; /* bytes: request bodies as sent (compressed) */
    uint64_t items_sent, items_dropped;
    uint64_t errors;                    /* failed attempts of any kind */
    uint64_t retries;                   /* attempts re-queued for another try */
    uint64_t splits;                    /* 413 answers turned into two halves */
    uint64_t probes;                    /* HEAD requests to an unreachable backend */
    uint64_t spooled;                   /* payloads written to the disk spool */
    uint64_t dropped_rejected, dropped_too_big, dropped_queue_full, dropped_shutdown,
        dropped_invalid, dropped_unconfigured;
    uint64_t items_rejected, items_too_big, items_queue_full, items_shutdown, items_invalid,
        items_unconfigured;
    int last_status;                    /* HTTP code of the last answer, 0 = none/no answer */
    int64_t last_success;               /* unix seconds of the last 2xx, 0 = never */
    int64_t last_attempt;               /* unix seconds of the last completed request */
};
/* sink NULL = totals over all sinks. Returns -ENOENT for an unknown sink. */
int md_forwarder_stats(const struct md_forwarder *f, const char *sink, struct md_fwd_stats *out);

/*
 * OpenMetrics lines for /metrics: meterd_forwarder_* counters (payloads and
 * items sent, errors, retries, splits, probes, spooled, dropped{reason}) and
 * meterd_spool_* (files, bytes, evicted, corrupt, write errors).
 */
void md_forwarder_metrics(const struct md_forwarder *f, struct md_buf *b);

/*
 * Where every item (series, check, event) handed over is now. The identity
 * in_ + recovered == sent + dropped + evicted + corrupt + queued + inflight
 * + on_disk holds at every moment (recovered: found in the spool at start;
 * on_disk: in spool files with no copy in memory); balanced says it does.
 */
struct md_fwd_ledger {
    uint64_t in_, recovered, sent, dropped, evicted, corrupt, queued, inflight, on_disk;
    bool balanced;
};
void md_forwarder_ledger(const struct md_forwarder *f, struct md_fwd_ledger *out);

/* {"payloads_sent":..,...,"queue_bytes":..,"sinks":{"datadog":{...}}}: no URL, no header. */
void md_forwarder_status_json(const struct md_forwarder *f, struct md_buf *b);

/*
 * Frees the forwarder. If md_forwarder_shutdown's done callback has not run
 * yet, it starts closing with no grace period and the memory is released
 * by the last close callback, so the loop must still be run to completion.
 */
void md_forwarder_free(struct md_forwarder *f);

#endif
