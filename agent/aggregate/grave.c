/*
 * grave.c: where expired contexts go (see aggregator.h). A context that
 * expires may still be pointed into by a frame handed out (frames borrow
 * names and tag sets), so it waits in a graveyard until every frame is
 * back; then its memory goes, and after a big sweep the allocator is asked
 * to give the pages back, on a thread of its own.
 */
#include "aggregator_int.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

/* An expired context: its window state goes now, its strings once no frame is out. */
void md_agg_ctx_retire(struct md_agg *a, struct md_ctx *c)
{
    for (int i = 0; i < NSLOT; i++)
        md_agg_slot_clear(&c->slot[i]);
    free(c->etsy);
    c->next_dead = a->grave;
    a->grave = c;
}

/*
 * Contexts freed before the allocator is asked to give pages back. glibc
 * returns only the top of a heap by itself: after a flood of names expires,
 * the freed contexts lie all over the aggregator thread's heap and stay
 * resident (2M expired counter contexts: 262 of 264 MiB stayed). A trim
 * walks the free lists once, so it waits for a sweep worth its cost.
 *
 * A sweep that big is freed and trimmed on a thread of its own. On the
 * aggregator's thread, 2M contexts took 0.96 s to free and 0.8 s to trim
 * (1M: 0.45 to 1.55 s to trim), and the intake rings and then the socket
 * buffers filled meanwhile: at 20k datagrams/s the kernel dropped up to
 * 28,700 datagrams per trim. Only the tag sets' references go back here
 * (the ident table is this thread's). glibc locks one arena at a time while
 * it trims it, so the aggregator waits only if it allocates in its arena
 * meanwhile (a new context, a seal); folding samples of known contexts
 * does not.
 */
double md_agg_ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void dead_free(struct md_ctx *c)
{
    while (c) {
        struct md_ctx *next = c->next_dead;
        free(c);
        c = next;
    }
}

static void *trim_main(void *ud)
{
    struct md_agg *a = ud;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    dead_free(a->trim_dead);
    a->trim_dead = NULL;
    double freed = md_agg_ms_since(&t0);
    int gave = malloc_trim(0);
    md_debug("%llu expired contexts freed in %.1f ms, then malloc_trim %s memory in %.1f ms "
             "(a thread of its own)", (unsigned long long)a->trim_for, freed,
             gave ? "returned" : "found no", md_agg_ms_since(&t0) - freed);
    atomic_store(&a->trim_busy, false);
    return NULL;
}

/* One trim at a time: false when one still runs (or no thread could start). */
static bool trim_start(struct md_agg *a, struct md_ctx *dead)
{
    if (a->trim_started) {
        if (atomic_load(&a->trim_busy))
            return false;
        pthread_join(a->trim_tid, NULL); /* its writes are visible from here on */
        a->trim_started = false;
    }
    a->trim_dead = dead;
    a->trim_for = a->buried;
    atomic_store(&a->trim_busy, true);
    if (pthread_create(&a->trim_tid, NULL, trim_main, a) != 0) {
        atomic_store(&a->trim_busy, false);
        a->trim_dead = NULL;
        return false;
    }
    pthread_setname_np(a->trim_tid, "meterd-trim"); /* in top -H, and for the tests */
    a->trim_started = true;
    a->buried = 0;
    return true;
}

/* The graveyard's tag set references go back; its contexts are returned (not freed). */
static struct md_ctx *grave_take(struct md_agg *a)
{
    struct md_ctx *dead = a->grave;
    for (struct md_ctx *c = dead; c; c = c->next_dead) {
        md_ident_put(&a->ids, c->id);
        a->buried++;
    }
    a->grave = NULL;
    return dead;
}

void md_agg_bury(struct md_agg *a)
{
    struct md_ctx *dead = grave_take(a);
    if (a->buried < TRIM_AFTER || !trim_start(a, dead))
        dead_free(dead); /* a few, or while a trim still runs: here */
}

void md_agg_grave_free(struct md_agg *a)
{
    dead_free(grave_take(a));
    if (a->trim_started)
        pthread_join(a->trim_tid, NULL);
}
