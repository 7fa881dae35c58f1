/*
 * The SPSC ring under real concurrency: a producer thread and a consumer
 * thread move records of varying length; every record must arrive once, in
 * order, intact. Also run by the ThreadSanitizer build.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ring.h"

#define N 2000000

static void fill(uint8_t *p, uint32_t len, uint64_t seq)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seq * 31 + i);
}

static uint32_t len_of(uint64_t seq)
{
    return 8 + (uint32_t)(seq % 97);
}

struct ctx {
    struct md_ring r;
    uint64_t full;
};

static void *producer(void *arg)
{
    struct ctx *c = arg;
    for (uint64_t seq = 0; seq < N;) {
        uint32_t len = len_of(seq);
        uint8_t *p = md_ring_reserve(&c->r, len);
        if (!p) {
            c->full++;
            md_ring_publish(&c->r);
            continue;
        }
        memcpy(p, &seq, 8);
        fill(p + 8, len - 8, seq);
        seq++;
        if (seq % 16 == 0)
            md_ring_publish(&c->r); /* batched publish */
    }
    md_ring_publish(&c->r);
    return NULL;
}

static void test_spsc_order_and_integrity(void **st)
{
    struct ctx c = {0};
    assert_int_equal(md_ring_init(&c.r, 1 << 16), 0);
    pthread_t t;
    pthread_create(&t, NULL, producer, &c);
    uint8_t expect[128];
    for (uint64_t seq = 0; seq < N;) {
        uint32_t len;
        uint8_t *p = md_ring_peek(&c.r, &len);
        if (!p)
            continue;
        uint64_t got;
        memcpy(&got, p, 8);
        assert_int_equal(got, seq);
        assert_int_equal(len, len_of(seq));
        fill(expect, len - 8, seq);
        assert_memory_equal(p + 8, expect, len - 8);
        md_ring_consume(&c.r);
        if (++seq % 64 == 0)
            md_ring_release(&c.r);
    }
    md_ring_release(&c.r);
    pthread_join(t, NULL);
    assert_true(md_ring_empty(&c.r));
    md_ring_free(&c.r);
}

static void test_full_ring_refuses_then_recovers(void **st)
{
    struct md_ring r;
    assert_int_equal(md_ring_init(&r, 4096), 0);
    int written = 0;
    while (md_ring_reserve(&r, 56))
        written++;
    md_ring_publish(&r);
    assert_int_equal(written, 4096 / 64); /* 8-byte header + 56 bytes */
    assert_null(md_ring_reserve(&r, 8));
    uint32_t len;
    assert_non_null(md_ring_peek(&r, &len));
    md_ring_consume(&r);
    md_ring_release(&r);
    assert_non_null(md_ring_reserve(&r, 56));
    assert_null(md_ring_reserve(&r, 4096)); /* larger than a quarter: never */
    md_ring_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spsc_order_and_integrity),
        cmocka_unit_test(test_full_ring_refuses_then_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
