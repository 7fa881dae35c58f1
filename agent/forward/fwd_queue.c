/*
 * fwd_queue.c: where the forwarder keeps payloads that wait in memory: the
 * sinks and their endpoints, the items, and the queue, in sending order
 * and bounded in bytes; over its bound, the newest payloads go to the disk
 * spool (fwd_spool.c) or, without room there, the oldest are dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fwd_int.h"
#include "log.h"

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

/* The endpoint of sk that url's path names ("" without a URL). */
struct fwd_ep *fwd_ep_get(struct fwd_sink *sk, const char *url)
{
    const char *p = url ? strstr(url, "://") : NULL;
    p = p ? p + 3 + strcspn(p + 3, "/?#") : "";
    int n = (int)strcspn(p, "?#");
    if (n >= (int)sizeof sk->eps[0].path)
        n = (int)sizeof sk->eps[0].path - 1;
    for (size_t i = 0; i < sk->neps; i++)
        if (strncmp(sk->eps[i].path, p, (size_t)n) == 0 && sk->eps[i].path[n] == '\0')
            return &sk->eps[i];
    if (sk->neps == FWD_MAX_EPS)
        return &sk->eps[FWD_MAX_EPS - 1]; /* more paths than any sink uses: share a slot */
    struct fwd_ep *ep = &sk->eps[sk->neps++];
    snprintf(ep->path, sizeof ep->path, "%.*s", n, p);
    return ep;
}

/* May this endpoint get a payload now? Blocked, or failing with its one request out: no. */
bool fwd_ep_ready(const struct fwd_ep *ep, uint64_t now)
{
    return !ep->nerr || (now >= ep->blocked_until && ep->inflight == 0);
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
    it->ep = fwd_ep_get(it->sink, p->url);
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
    case FWD_R_UNCONFIGURED:
        FWD_COUNT(f, sk, dropped_unconfigured, 1);
        FWD_COUNT(f, sk, items_unconfigured, n);
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

void fwd_queue_push(struct md_forwarder *f, struct fwd_item *it)
{
    fwd_queue_insert(f, it);
    fwd_queue_trim(f);
}
