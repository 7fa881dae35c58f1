/*
 * uvfetch.h: small HTTP GETs driven by libcurl's multi-socket interface on
 * a libuv loop, for the agent's metadata clients (Docker Engine API over
 * its unix socket, ECS task metadata). Nothing blocks: the loop polls
 * curl's sockets and timers, and callbacks run on the loop thread.
 *
 * A request either collects its body (up to a cap) and reports it once, or
 * streams it chunk by chunk (Docker's /events). Every request ends with
 * exactly one done callback, also when cancelled or when the fetcher is
 * freed.
 */
#ifndef METERD_UVFETCH_H
#define METERD_UVFETCH_H

#include <stddef.h>
#include <uv.h>

struct md_fetcher;
struct md_fetch;

/* rc: 0, or -errno (-ECONNREFUSED, -ENOENT for a missing socket, -ETIMEDOUT, -ECANCELED ...). */
typedef void (*md_fetch_done_fn)(void *ud, int rc, long status, const char *body, size_t len);
/* Streaming: each chunk as it arrives; return non-zero to stop the transfer. */
typedef int (*md_fetch_chunk_fn)(void *ud, const char *p, size_t n);

struct md_fetch_req {
    const char *url;          /* http://localhost/v1.41/containers/json, http://169.254.170.2/v4/... */
    const char *unix_socket;  /* NULL: TCP */
    long timeout_ms;          /* 0: none (streams) */
    size_t max_body;          /* collected bodies: 0 = 8 MiB */
    md_fetch_chunk_fn chunk;  /* non-NULL: stream instead of collecting */
    md_fetch_done_fn done;
    void *ud;
};

struct md_fetcher *md_fetcher_new(uv_loop_t *loop);
/* Start a request; *out (optional) identifies it for md_fetch_cancel until done runs. */
int md_fetch_start(struct md_fetcher *f, const struct md_fetch_req *req, struct md_fetch **out);
/* Stop a request early; its done callback runs (rc -ECANCELED) before this returns. */
void md_fetch_cancel(struct md_fetch *x);
/* Cancel everything (callbacks run) and close; the loop must run to release the handles. */
void md_fetcher_free(struct md_fetcher *f);

#endif
