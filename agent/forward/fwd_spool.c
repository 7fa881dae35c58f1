/*
 * fwd_spool.c: the forwarder's side of the disk spool (spool.h). While an
 * endpoint fails, what waits for it is also written to the spool (so a
 * crash loses only payloads on their first attempt); a payload the memory
 * queue has no room for lives on disk only; as the backend takes payloads
 * again, the queue refills from the spool, oldest first, a few at a time
 * so memory stays bounded however large the spool. The spool reads and
 * writes on its own thread and reports back through a uv_async; at exit
 * everything unsent is written and the writes are waited for.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fwd_int.h"
#include "log.h"

#define FWD_SPOOL_PAUSE_MS 1000u /* after a failed spool write */

/* Put a copy of the item on disk unless it has one; 0 when it has one now. */
int fwd_spool_item(struct md_forwarder *f, struct fwd_item *it)
{
    if (it->spooled)
        return 0;
    if (!f->spool || it->probe)
        return -ENOSYS;
    uint64_t now = uv_now(f->loop);
    if (now < f->spool_retry_at)
        return -EAGAIN;
    int rc = md_spool_put(f->spool, it->seq, it->p);
    if (rc != 0) {
        f->spool_retry_at = now + FWD_SPOOL_PAUSE_MS;
        return rc;
    }
    it->spooled = true;
    FWD_COUNT(f, it->sink, spooled, 1);
    return 0;
}

/* The item with this seq in memory (queued or in flight), or NULL. */
static struct fwd_item *fwd_find(struct md_forwarder *f, uint64_t seq)
{
    for (struct fwd_item *it = f->qhead; it; it = it->next)
        if (it->seq == seq)
            return it;
    for (struct fwd_item *it = f->inflight; it; it = it->next)
        if (it->seq == seq)
            return it;
    return NULL;
}

/*
 * The spool could not write seq after all (disk full with nothing to
 * evict, I/O error). A payload still in memory just has no disk copy; one
 * that was only on disk comes back to the queue, or, at exit, is dropped
 * and counted as "shutdown".
 */
void fwd_spool_failed(void *ud, uint64_t seq, struct md_payload *p)
{
    struct md_forwarder *f = ud;
    f->spool_retry_at = uv_now(f->loop) + FWD_SPOOL_PAUSE_MS;
    if (!p) {
        struct fwd_item *it = fwd_find(f, seq);
        if (it)
            it->spooled = false;
        return;
    }
    struct fwd_item *it = fwd_item_new(f, p, seq);
    if (!it) {
        md_error("forwarder: out of memory: a payload of %zu items is lost", p->nitems);
        md_payload_free(p);
        return;
    }
    if (f->spooling_out || f->state >= FWD_CLOSING)
        fwd_drop(f, it, FWD_R_SHUTDOWN);
    else
        fwd_queue_push(f, it);
}

/* The memory copy goes away; the disk copy (if any) stays for later. */
void fwd_release_to_spool(struct md_forwarder *f, struct fwd_item *it)
{
    md_spool_unload(f->spool, it->seq);
    it->spooled = false;
    fwd_item_free(it);
}

/* Delivered or dropped for good: the disk copy is not needed any more. */
void fwd_unspool(struct md_forwarder *f, struct fwd_item *it)
{
    if (it->spooled && f->spool)
        md_spool_remove(f->spool, it->seq);
    it->spooled = false;
}

static bool fwd_same_sink(void *ud, const char *sink)
{
    return strcmp(((const struct fwd_sink *)ud)->name, sink) == 0;
}

/* Has the sink payloads on disk only? Then a new one must queue behind them, on disk. */
bool fwd_sink_backlogged(struct md_forwarder *f, struct fwd_sink *sk)
{
    return f->spool && md_spool_oldest(f->spool, fwd_same_sink, sk) != NULL;
}

/* A spool entry names its sink, not its endpoint: one endpoint of the sink ready will do. */
static bool fwd_refill_ok(void *ud, const char *sink)
{
    struct md_forwarder *f = ud;
    struct fwd_sink *sk = fwd_sink_get(f, sink);
    for (size_t i = 0; i < sk->neps; i++)
        if (fwd_ep_ready(&sk->eps[i], uv_now(f->loop)))
            return true;
    return sk->neps == 0;
}

/*
 * Ask the spool's thread for spooled payloads, oldest first, for sinks
 * that can take them now. What is queued, in flight and being read stays
 * within twice the concurrency and the memory queue's byte bound, so a
 * 100 MiB spool is read a few payloads ahead, never all at once.
 */
void fwd_refill(struct md_forwarder *f)
{
    if (!f->spool || f->state != FWD_RUNNING || uv_now(f->loop) < f->refill_at)
        return;
    while (f->ninflight + f->qcount + f->nreading < 2 * f->o.max_concurrent) {
        const struct md_spool_entry *e = md_spool_oldest(f->spool, fwd_refill_ok, f);
        uint64_t held = f->qbytes + f->reading_bytes;
        if (!e || (held && held + e->bytes > f->o.retry_queue_max_bytes))
            return;
        uint64_t bytes = e->bytes;
        if (md_spool_load(f->spool, e->seq) != 0)
            return;
        f->nreading++;
        f->reading_bytes += bytes;
    }
}

/*
 * Is the payload's URL one of the configured endpoints? A payload spooled
 * for a backend the configuration no longer names (another dd_url, a sink
 * removed) is not sent elsewhere: its API key and data were meant for that
 * backend only, as the Datadog agent keeps a domain's retry files for that
 * domain. Without a list (opts.endpoints empty) every URL is configured.
 */
static bool fwd_endpoint_configured(const struct md_forwarder *f, const char *url)
{
    if (!f->nendpoints)
        return true;
    for (size_t i = 0; i < f->nendpoints; i++) { /* a prefix that ends at a path boundary */
        const char *ep = f->endpoints[i];
        size_t n = strlen(ep);
        if (strncmp(url, ep, n) == 0 && (ep[n - 1] == '/' || strchr("/?#", url[n])))
            return true;
    }
    return false;
}

/* The spool's thread read seq back (spool.h, md_spool_loaded_fn). */
void fwd_spool_loaded(void *ud, uint64_t seq, uint64_t bytes, struct md_payload *p, int rc)
{
    struct md_forwarder *f = ud;
    f->nreading--;
    f->reading_bytes -= bytes;
    if (rc == -EBADMSG)
        return; /* deleted, logged and counted by the spool */
    if (rc != 0) { /* EIO, ENOMEM: the file stays; a pause keeps a bad disk from a busy loop */
        f->refill_at = uv_now(f->loop) + FWD_SPOOL_PAUSE_MS;
        fwd_log(f, FWD_R_SPOOL, MD_LOG_WARN,
                "forwarder: cannot read a spooled payload back: %s (kept on disk; trying again "
                "in %u ms)", strerror(-rc), FWD_SPOOL_PAUSE_MS);
        return;
    }
    if (f->state != FWD_RUNNING) { /* stopping: it stays on disk for the next run */
        md_payload_free(p);
        md_spool_unload(f->spool, seq);
        return;
    }
    struct fwd_item *it = fwd_item_new(f, p, seq);
    if (!it) {
        md_payload_free(p);
        md_spool_unload(f->spool, seq);
        return;
    }
    it->spooled = true;
    if (!fwd_endpoint_configured(f, p->url)) {
        char u[256];
        fwd_url_for_log(p->url, u, sizeof u);
        fwd_log(f, FWD_R_UNCONFIGURED, MD_LOG_WARN,
                "forwarder: dropping a spooled %s payload (%zu items) for %s: that endpoint is no "
                "longer configured (counted as dropped, reason unconfigured)",
                it->sink->name, p->nitems, u);
        fwd_drop(f, it, FWD_R_UNCONFIGURED);
        return;
    }
    fwd_queue_push(f, it);
}

/* While a sink fails, what waits for it is written to disk, so a crash does not lose it. */
void fwd_spool_waiting(struct md_forwarder *f)
{
    for (struct fwd_item *it = f->qhead; it && f->spool; it = it->next)
        if (!it->spooled && it->ep->nerr && fwd_spool_item(f, it) != 0)
            return;
}

/* ------------------------------------------------------------ open, exit */

/* Spool writer thread, under its lock: something finished. */
static void fwd_spool_wake(void *ud)
{
    uv_async_send(&((struct md_forwarder *)ud)->spool_async);
}

static void fwd_spool_async_cb(uv_async_t *a)
{
    struct md_forwarder *f = a->data;
    md_spool_reap(f->spool);
    fwd_dispatch(f); /* payloads read back, or given back by a failed write, may go now */
}

/* A spool that cannot be opened leaves the agent running without one, and says so. */
void fwd_spool_open(struct md_forwarder *f)
{
    if (!f->o.spool_path || !f->o.spool_path[0])
        return;
    char err[512];
    uint64_t max_seq = 0;
    struct md_spool_opts so = {.dir = f->o.spool_path, .max_bytes = f->o.spool_max_bytes,
                               .secrets = (const char *const *)f->secrets,
                               .nsecrets = f->nsecrets, .wake = fwd_spool_wake,
                               .failed = fwd_spool_failed, .loaded = fwd_spool_loaded,
                               .ud = f};
    uv_async_init(f->loop, &f->spool_async, fwd_spool_async_cb);
    f->spool_async.data = f;
    f->open_handles++;
    f->spool = md_spool_open(&so, &max_seq, err, sizeof err);
    if (!f->spool)
        md_warn("forwarder: disk spool off: %s; payloads for a failing backend are kept in "
                "memory only",
                err);
    f->seq = (max_seq / FWD_SEQ_SPAN + 1) * FWD_SEQ_SPAN;
}

/* Spool one payload at exit, or drop it; true when spooled. */
static bool fwd_spool_or_drop(struct md_forwarder *f, struct fwd_item *it)
{
    f->spool_retry_at = 0; /* last chance: no pause after an earlier failure */
    if (fwd_spool_item(f, it) == 0) {
        fwd_release_to_spool(f, it);
        return true;
    }
    fwd_drop(f, it, FWD_R_SHUTDOWN);
    return false;
}

size_t md_forwarder_spool_pending(struct md_forwarder *f)
{
    size_t spooled = 0, dropped = 0;
    uint64_t failed = f->total.dropped_shutdown;
    f->spooling_out = true;
    if (f->spool) /* reads still out come back first: an entry being read cannot be evicted */
        md_spool_sync(f->spool);
    while (f->inflight) {
        struct fwd_item *it = f->inflight;
        fwd_abort(f, it);
        if (it->probe) {
            it->ep->probing = false;
            fwd_item_free(it);
        } else if (fwd_spool_or_drop(f, it)) {
            spooled++;
        } else {
            dropped++;
        }
    }
    struct fwd_item *it;
    while ((it = fwd_queue_pop(f))) {
        if (fwd_spool_or_drop(f, it))
            spooled++;
        else
            dropped++;
    }
    if (f->spool) { /* the writes are on disk before this returns: the process may end next */
        md_spool_sync(f->spool);
        failed = f->total.dropped_shutdown - failed - dropped;
        spooled -= failed;
        dropped += failed;
    }
    f->spooling_out = false;
    if (spooled)
        md_info("forwarder: %zu unsent payload(s) kept in the spool for the next run", spooled);
    if (dropped)
        md_warn("forwarder: %zu unsent payload(s) dropped: no spool or no room in it", dropped);
    return spooled;
}
