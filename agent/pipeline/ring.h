/*
 * ring.h: single-producer/single-consumer byte ring.
 *
 * Carries variable-length records (8-byte aligned) from one thread to one
 * other with C11 acquire/release atomics and no lock. Head and tail sit on
 * their own cache lines, and each side keeps a private copy of the other's
 * index so it touches the shared line only when its cached view runs out.
 * Publishing is batched: the producer reserves and writes many records,
 * then makes them visible with one release store (ring_publish), which is
 * what keeps the per-metric cost to a memcpy.
 */
#ifndef METERD_RING_H
#define METERD_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MD_CACHELINE 64

struct md_ring {
    /* producer side */
    _Alignas(MD_CACHELINE) _Atomic uint64_t tail; /* bytes published */
    uint64_t ptail;      /* producer: bytes written, not yet published */
    uint64_t head_cache; /* producer's view of head */
    /* consumer side */
    _Alignas(MD_CACHELINE) _Atomic uint64_t head; /* bytes consumed */
    uint64_t tail_cache; /* consumer's view of tail */
    uint64_t chead;      /* consumer: bytes read, not yet released */
    _Alignas(MD_CACHELINE) uint64_t size; /* power of two, bytes */
    uint64_t mask;
    uint8_t *buf;
};

int md_ring_init(struct md_ring *r, size_t size); /* size rounded up to a power of two */
void md_ring_free(struct md_ring *r);

/*
 * Producer: room for a record of n bytes (n <= size/4), or NULL when the
 * ring is full. A record never wraps: the space left at the end is skipped
 * with a pad record. The record becomes visible at the next md_ring_publish.
 */
void *md_ring_reserve(struct md_ring *r, uint32_t n);
void md_ring_publish(struct md_ring *r);

/* Consumer: next record and its length, or NULL when empty. */
void *md_ring_peek(struct md_ring *r, uint32_t *n);
void md_ring_consume(struct md_ring *r);   /* drop the record peek returned */
void md_ring_release(struct md_ring *r);   /* give consumed space back (batched) */
bool md_ring_empty(struct md_ring *r);     /* consumer side */

#endif
