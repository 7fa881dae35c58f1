/*
 * ring.c: SPSC byte ring (see ring.h).
 *
 * Layout of a record: a uint32 length header (bytes of payload) padded to 8,
 * then the payload, padded to 8. Length MD_RING_PAD marks skipped space at
 * the end of the buffer so that no record wraps around.
 */
#include "ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HDR 8u
#define PAD_MARK 0xffffffffu

static uint64_t align8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

int md_ring_init(struct md_ring *r, size_t size)
{
    memset(r, 0, sizeof *r);
    size_t s = 4096;
    while (s < size)
        s <<= 1;
    r->buf = aligned_alloc(MD_CACHELINE, s);
    if (!r->buf)
        return -ENOMEM;
    r->size = s;
    r->mask = s - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

void md_ring_free(struct md_ring *r)
{
    free(r->buf);
    r->buf = NULL;
}

/* Room for `need` contiguous bytes at the producer position? */
static bool has_room(struct md_ring *r, uint64_t need)
{
    if (r->ptail + need - r->head_cache <= r->size)
        return true;
    r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
    return r->ptail + need - r->head_cache <= r->size;
}

void *md_ring_reserve(struct md_ring *r, uint32_t n)
{
    uint64_t need = HDR + align8(n);
    if (need > r->size / 4)
        return NULL;
    uint64_t off = r->ptail & r->mask;
    uint64_t left = r->size - off;
    if (left < need) {
        /* Skip the end of the buffer with a pad record. */
        if (!has_room(r, left + need))
            return NULL;
        *(uint32_t *)(r->buf + off) = PAD_MARK;
        r->ptail += left;
        off = 0;
    } else if (!has_room(r, need)) {
        return NULL;
    }
    *(uint32_t *)(r->buf + off) = n;
    r->ptail += need;
    return r->buf + off + HDR;
}

void md_ring_publish(struct md_ring *r)
{
    atomic_store_explicit(&r->tail, r->ptail, memory_order_release);
}

void *md_ring_peek(struct md_ring *r, uint32_t *n)
{
    for (;;) {
        if (r->chead == r->tail_cache) {
            r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
            if (r->chead == r->tail_cache)
                return NULL;
        }
        uint64_t off = r->chead & r->mask;
        uint32_t len = *(uint32_t *)(r->buf + off);
        if (len == PAD_MARK) {
            r->chead += r->size - off;
            continue;
        }
        *n = len;
        return r->buf + off + HDR;
    }
}

void md_ring_consume(struct md_ring *r)
{
    uint64_t off = r->chead & r->mask;
    uint32_t len = *(uint32_t *)(r->buf + off);
    r->chead += HDR + align8(len);
}

void md_ring_release(struct md_ring *r)
{
    atomic_store_explicit(&r->head, r->chead, memory_order_release);
}

bool md_ring_empty(struct md_ring *r)
{
    uint32_t n;
    return md_ring_peek(r, &n) == NULL;
}
