/*
 * fwd_queue.c: where the forwarder keeps payloads that wait: the memory
 * queue, in sending order and bounded in bytes, and the disk spool behind
 * it. While a sink fails, what waits for it is also written to the spool
 * (so a crash loses only payloads on their first attempt); when the queue
 * is over its bound its oldest payloads go to the spool only; and as the
 * backend takes payloads again, the queue refills from the spool, oldest
 * first, a few at a time so memory stays bounded however large the spool.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fwd_int.h"
#include "log.h"

#define FWD_SPOOL_PAUSE_MS 1000u /* after a failed spool write */

struct fwd_sink *fwd_sink_get(struct md_forwarder *f, const char *name)
{
    if (!name || !name[0])
        name = "unknown";
    for (size_t i = 0; i < f->nsinks; i++)
        if (strcmp(f->sinks[i].name, name) == 0)
            return &f->sinks[i];
    if (f->nsinks == FWD_MAX_SINKS)
        return &f->sinks[FWD_MAX_SINKS - 1]; /* more sinks than anyone configures: share a slot */
    struct fwd_sink *s = &f->sinks[f->nsinks++];
    snprintf(s->name, sizeof s->name, "%s", name);
    return s;
}

/* May this sink get a payload now? Blocked, or failing with its one request out: no. */
bool fwd_sink_ready(const struct fwd_sink *sk, uint64_t now)
{
    return !sk->nerr || (now >= sk->blocked_until && sk->inflight == 0);
}

struct fwd_item *fwd_item_new(struct md_forwarder *f, struct md_payload *p, uint64_t seq)
{
    struct fwd_item *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    p->next = NULL;
    it->p = p;
    it->seq = seq;
    it->sink = fwd_sink_get(f, p->sink);
    return it;
}

void fwd_item_free(struct fwd_item *it)
{
    if (!it)
        return;
    curl_slist_free_all(it->hdrs);
    md_payload_free(it->p);
    free(it);
}

/* ------------------------------------------------------------------ spool */

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

/* ------------------------------------------------------------------ queue */

void fwd_drop(struct md_forwarder *f, struct fwd_item *it, enum fwd_reason why)
{
    struct fwd_sink *sk = it->sink;
    uint64_t n = it->p->nitems;
    switch (why) {
    case FWD_R_QUEUE_FULL:
        FWD_COUNT(f, sk, dropped_queue_full, 1);
        FWD_COUNT(f, sk, items_queue_full, n);
        break;
    case FWD_R_SHUTDOWN:
        FWD_COUNT(f, sk, dropped_shutdown, 1);
        FWD_COUNT(f, sk, items_shutdown, n);
        break;
    case FWD_R_INVALID:
        FWD_COUNT(f, sk, dropped_invalid, 1);
        FWD_COUNT(f, sk, items_invalid, n);
        break;
    case FWD_R_TOO_BIG:
        FWD_COUNT(f, sk, dropped_too_big, 1);
        FWD_COUNT(f, sk, items_too_big, n);
        break;
    default:
        FWD_COUNT(f, sk, dropped_rejected, 1);
        FWD_COUNT(f, sk, items_rejected, n);
        break;
    }
    FWD_COUNT(f, sk, items_dropped, n);
    fwd_unspool(f, it);
    fwd_item_free(it);
}

struct fwd_item *fwd_queue_pop(struct md_forwarder *f)
{
    struct fwd_item *it = f->qhead;
    if (!it)
        return NULL;
    f->qhead = it->next;
    if (!f->qhead)
        f->qtail = NULL;
    it->next = NULL;
    f->qbytes -= it->p->len;
    f->qcount--;
    return it;
}

/* Insert in sequence order (new payloads go last; retried and reloaded ones go back in place). */
static void fwd_queue_insert(struct md_forwarder *f, struct fwd_item *it)
{
    if (!f->qtail || f->qtail->seq <= it->seq) {
        it->next = NULL;
        if (f->qtail)
            f->qtail->next = it;
        else
            f->qhead = it;
        f->qtail = it;
    } else {
        struct fwd_item **pp = &f->qhead;
        while ((*pp)->seq < it->seq)
            pp = &(*pp)->next;
        it->next = *pp;
        *pp = it;
    }
    f->qbytes += it->p->len;
    f->qcount++;
}

/* Unlink the newest payload. */
static struct fwd_item *fwd_queue_pop_tail(struct md_forwarder *f)
{
    struct fwd_item **pp = &f->qhead, *prev = NULL;
    if (!*pp)
        return NULL;
    while ((*pp)->next) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    struct fwd_item *it = *pp;
    *pp = NULL;
    f->qtail = prev;
    f->qbytes -= it->p->len;
    f->qcount--;
    return it;
}

/*
 * Over its byte bound, the queue moves its newest payloads to the spool:
 * then for every sink all it holds in memory is older than all it has on
 * disk, so sending memory first and refilling from the spool keeps the
 * order. Without the spool (off, full, failing) the oldest payload is
 * dropped instead, as the Datadog agent does. One payload always stays,
 * however large, so a payload bigger than the bound is still sent.
 */
static void fwd_queue_trim(struct md_forwarder *f)
{
    while (f->qbytes > f->o.retry_queue_max_bytes && f->qcount > 1) {
        struct fwd_item *it = fwd_queue_pop_tail(f);
        if (fwd_spool_item(f, it) == 0) {
            fwd_release_to_spool(f, it);
            continue;
        }
        fwd_queue_insert(f, it); /* back in its place; the oldest goes */
        it = fwd_queue_pop(f);
        fwd_log(f, FWD_R_QUEUE_FULL, MD_LOG_WARN,
                "forwarder: retry queue full (%zu bytes max) and no spool room: dropping the "
                "oldest %s payload (%zu bytes, %zu items)",
                f->o.retry_queue_max_bytes, it->sink->name, it->p->len, it->p->nitems);
        fwd_drop(f, it, FWD_R_QUEUE_FULL);
    }
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

void fwd_queue_push(struct md_forwarder *f, struct fwd_item *it)
{
    fwd_queue_insert(f, it);
    fwd_queue_trim(f);
}

static bool fwd_refill_ok(void *ud, const char *sink)
{
    struct md_forwarder *f = ud;
    return fwd_sink_ready(fwd_sink_get(f, sink), uv_now(f->loop));
}

/* Read spooled payloads back, oldest first, for sinks that can take them now. */
void fwd_refill(struct md_forwarder *f)
{
    if (!f->spool || f->state != FWD_RUNNING)
        return;
    for (unsigned n = 0; n < f->o.max_concurrent; n++) {
        if (f->ninflight + f->qcount >= 2 * f->o.max_concurrent)
            return;
        const struct md_spool_entry *e = md_spool_oldest(f->spool, fwd_refill_ok, f);
        if (!e || (f->qbytes && f->qbytes + e->bytes > f->o.retry_queue_max_bytes))
            return;
        uint64_t seq = e->seq;
        struct md_payload *p = NULL;
        int rc = md_spool_load(f->spool, seq, &p);
        if (rc == -EBADMSG)
            continue; /* deleted and logged by the spool */
        struct fwd_item *it = rc == 0 ? fwd_item_new(f, p, seq) : NULL;
        if (!it) {
            md_payload_free(p);
            md_spool_unload(f->spool, seq);
            return;
        }
        it->spooled = true;
        fwd_queue_push(f, it);
    }
}

/* While a sink fails, what waits for it is written to disk, so a crash does not lose it. */
void fwd_spool_waiting(struct md_forwarder *f)
{
    for (struct fwd_item *it = f->qhead; it && f->spool; it = it->next)
        if (!it->spooled && it->sink->nerr && fwd_spool_item(f, it) != 0)
            return;
}

