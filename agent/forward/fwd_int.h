/*
 * fwd_int.h: the forwarder's internals, shared by its files and by no one
 * else. forwarder.c owns the outcome of each request, dispatch and the
 * public API; fwd_queue.c the memory queue and the per-endpoint state;
 * fwd_spool.c the disk spool behind it; fwd_curl.c sets up and starts
 * requests on the libcurl/libuv glue (curl_uv.h); fwd_split.c cuts a payload the backend
 * found too large; fwd_report.c writes logs (rate-limited) and status.
 * Loop thread only.
 */
#ifndef METERD_FWD_INT_H
#define METERD_FWD_INT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "curl_uv.h"
#include "forwarder.h"
#include "spool.h"

#define FWD_RESP_KEEP 1024 /* response bytes kept for the log */
#define FWD_LOG_BODY 500   /* response bytes written to the log */
#define FWD_MAX_SINKS 16
/*
 * Payloads are numbered FWD_SEQ_SPAN apart, so the halves of a 413 split
 * can take numbers in between and keep their place in sending order: an
 * item numbered s with lowest set bit L is replaced by s - L/2 and s + L/2
 * (an in-order binary tree), which stays unique and needs no stored span,
 * even for a payload read back from the spool.
 */
#define FWD_SEQ_SPAN (1ull << 20)

enum fwd_state { FWD_RUNNING, FWD_DRAINING, FWD_CLOSING, FWD_CLOSED };

/* What a log line is about; each is written at most once a minute. */
enum fwd_reason {
    FWD_R_RETRY,
    FWD_R_REJECTED,
    FWD_R_TOO_BIG,
    FWD_R_SPLIT,
    FWD_R_QUEUE_FULL,
    FWD_R_SPOOL,
    FWD_R_INVALID,
    FWD_R_SHUTDOWN,
    FWD_R_RECOVERED,
    FWD_R_UNCONFIGURED,
    FWD_R_COUNT
};

struct fwd_ratelog {
    uint64_t last_ms; /* loop time of the last line written, 0 = never */
    uint64_t suppressed;
};

/*
 * One endpoint (URL path) of a sink, with its own backoff: a Datadog
 * intake that refuses host metadata on /intake/ must not hold back the
 * series going to /api/v1/series (the Datadog agent blocks per endpoint
 * too).
 */
struct fwd_ep {
    char path[64];          /* the URL's path, without the query */
    unsigned nerr;          /* consecutive failed attempts, 0 = healthy */
    uint64_t blocked_until; /* loop time (ms) before which no payload is sent */
    unsigned inflight;
    bool unreachable;       /* the last failure got no HTTP answer: probe */
    bool probing;           /* a probe request is in flight */
    uint64_t probe_at;      /* loop time of the next probe */
    char *probe_url;        /* URL of the last failed payload */
};

#define FWD_MAX_EPS 8

struct fwd_sink {
    char name[32];
    struct md_fwd_stats st;
    struct fwd_ep eps[FWD_MAX_EPS];
    size_t neps;
};

struct fwd_item {
    struct fwd_item *next;
    struct md_payload *p;
    struct fwd_sink *sink;
    struct fwd_ep *ep; /* of sink, by the URL's path */
    CURL *easy;
    struct curl_slist *hdrs;
    unsigned attempts;
    uint64_t seq;       /* sending order (see FWD_SEQ_SPAN); 0 for a probe */
    bool spooled;       /* a copy is on disk under seq */
    bool probe;         /* a HEAD request to see whether the backend answers again */
    size_t resp_len;
    char resp[FWD_RESP_KEEP];
};

struct md_forwarder {
    uv_loop_t *loop;
    struct md_curl_uv *curl;
    struct md_fwd_opts o;
    enum fwd_state state;
    uv_timer_t retry_timer, deadline_timer;
    uv_async_t spool_async; /* the spool's writer finished something (with a spool only) */
    unsigned open_handles; /* libuv handles (the glue counts as one) not yet closed */
    struct fwd_item *qhead, *qtail, *inflight;
    size_t qbytes, qcount;
    unsigned ninflight;
    struct fwd_sink sinks[FWD_MAX_SINKS];
    size_t nsinks;
    struct md_fwd_stats total;
    struct md_spool *spool; /* NULL when off */
    char *secrets[MD_FWD_MAX_SECRETS]; /* copies of opts.secrets, kept off the disk by the spool */
    size_t nsecrets;
    char *endpoints[MD_FWD_MAX_ENDPOINTS]; /* copies of opts.endpoints; none = all configured */
    size_t nendpoints;
    unsigned nreading;      /* spool reads asked for, not back yet (fwd_refill) */
    uint64_t reading_bytes; /* their file sizes */
    uint64_t refill_at;     /* loop time: no spool reads before it after a failed one */
    char *proxy_http, *proxy_https, *no_proxy; /* owned copies of o's; may hold a password */
    uint64_t spool_retry_at; /* loop time: no spool writes before it after a failure */
    bool spooling_out;       /* md_forwarder_spool_pending: a failed write is a drop */
    struct fwd_ratelog logs[FWD_R_COUNT];
    uint64_t rng, seq;
    md_forwarder_done_cb done;
    void *done_ud;
    bool in_done, free_when_closed;
};

/* Count on both the sink and the totals. */
#define FWD_COUNT(f, sk, field, n) \
    do {                           \
        (f)->total.field += (n);   \
        (sk)->st.field += (n);     \
    } while (0)

/* forwarder.c */
void fwd_dispatch(struct md_forwarder *f);
void fwd_finish(struct md_forwarder *f, struct fwd_item *it, CURLcode rc);
void fwd_closed_one(struct md_forwarder *f);

/* fwd_curl.c */
void fwd_set_proxy(struct md_forwarder *f, CURL *e, const char *url);

/* fwd_queue.c */
struct fwd_sink *fwd_sink_get(struct md_forwarder *f, const char *name);
struct fwd_ep *fwd_ep_get(struct fwd_sink *sk, const char *url);
bool fwd_ep_ready(const struct fwd_ep *ep, uint64_t now);
struct fwd_item *fwd_item_new(struct md_forwarder *f, struct md_payload *p, uint64_t seq);
void fwd_item_free(struct fwd_item *it);
void fwd_drop(struct md_forwarder *f, struct fwd_item *it, enum fwd_reason why);
struct fwd_item *fwd_queue_pop(struct md_forwarder *f);
void fwd_queue_push(struct md_forwarder *f, struct fwd_item *it);

/* fwd_spool.c */
void fwd_spool_open(struct md_forwarder *f); /* opts.spool_path set: the spool and its uv_async */
int fwd_spool_item(struct md_forwarder *f, struct fwd_item *it);
void fwd_release_to_spool(struct md_forwarder *f, struct fwd_item *it);
void fwd_unspool(struct md_forwarder *f, struct fwd_item *it);
void fwd_refill(struct md_forwarder *f);
void fwd_spool_failed(void *ud, uint64_t seq, struct md_payload *p);
void fwd_spool_loaded(void *ud, uint64_t seq, uint64_t bytes, struct md_payload *p, int rc);
void fwd_spool_waiting(struct md_forwarder *f);
bool fwd_sink_backlogged(struct md_forwarder *f, struct fwd_sink *sk);

/* fwd_curl.c */
int fwd_curl_setup(struct md_forwarder *f);
int fwd_start(struct md_forwarder *f, struct fwd_item *it);
void fwd_abort(struct md_forwarder *f, struct fwd_item *it); /* stop a transfer, keep the item */
void fwd_inflight_unlink(struct md_forwarder *f, struct fwd_item *it);
void fwd_curl_close(struct md_forwarder *f); /* every transfer stopped first */

/*
 * fwd_split.c: cut payload p (not taken) in two new payloads *a and *b
 * with the same URL and headers, through its sink's split operation.
 * Returns 0, or -EINVAL when it cannot be cut.
 */
int fwd_split(const struct md_payload *p, struct md_payload **a, struct md_payload **b);

/* fwd_report.c */
void fwd_log(struct md_forwarder *f, enum fwd_reason r, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void fwd_url_for_log(const char *url, char *out, size_t len);
void fwd_resp_for_log(const struct fwd_item *it, char *out, size_t len);
void fwd_stats_json(struct md_buf *b, const struct md_fwd_stats *s);

#endif
