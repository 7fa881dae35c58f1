/*
 * wallclock.h: the time of day as seconds since the epoch, a double. The
 * daemon, the flusher, the status page and the pipeline's threads stamp
 * windows and samples with it; one definition keeps them on one clock.
 * clock_gettime(CLOCK_REALTIME) goes through the vDSO: no syscall.
 */
#ifndef METERD_WALLCLOCK_H
#define METERD_WALLCLOCK_H

#include <time.h>

static inline double md_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
