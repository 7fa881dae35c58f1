/*
 * counters.c: the in-check delta arithmetic that cpu and io share (see
 * host.h). Both keep their previous sample of a struct of cumulative
 * kernel counters, take the difference of a chosen set of fields, give up
 * on the whole sample when any counter went backwards (a reset, a wrap, a
 * re-plugged device), and send a struct of derived doubles as gauges. The
 * field lists are tables of offsets, so each collector keeps only its own
 * formulas and metric names.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "host.h"
#include "meterd/collector.h"

int md_counters_delta(const void *prev, const void *cur, const size_t *offs, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t a, b;
        memcpy(&a, (const char *)prev + offs[i], sizeof a);
        memcpy(&b, (const char *)cur + offs[i], sizeof b);
        if (b < a)
            return -EAGAIN;
        out[i] = (double)(b - a);
    }
    return 0;
}

void md_counters_emit(struct md_emitter *e, const struct md_counter_gauge *g, size_t n,
                      const void *base, const char *const *tags, size_t ntags)
{
    for (size_t i = 0; i < n; i++) {
        double v;
        memcpy(&v, (const char *)base + g[i].off, sizeof v);
        md_gauge(e, g[i].name, v, tags, ntags);
    }
}
