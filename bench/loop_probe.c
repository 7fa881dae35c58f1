/*
 * loop_probe.c: an LD_PRELOAD library that measures how long meterd's
 * libuv loop stays away from epoll, and where its fsyncs run.
 *
 * libuv calls epoll_wait (or epoll_pwait) once per loop iteration; the time
 * from one call's return to the next call on the main thread is what the
 * loop spent running callbacks: while it lasts, no request, probe or timer
 * is served. fsync and fdatasync are timed on every thread and split by
 * whether the loop thread made them. Measuring from outside keeps meterd
 * free of benchmark code. At exit it writes one JSON line to
 * $LOOP_PROBE_OUT. A shared CPU inflates the busy times (a preempted
 * callback looks busy), so the fsync split is the figure to compare.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static uint64_t lp_last_ret, lp_busy_max, lp_iters, lp_busy_over[3]; /* >1, >5, >20 ms */
static _Atomic uint64_t lp_fs_loop_n, lp_fs_loop_max, lp_fs_other_n, lp_fs_other_max;

static uint64_t lp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int lp_is_loop(void)
{
    return gettid() == getpid();
}

static void lp_before_wait(void)
{
    if (!lp_is_loop())
        return;
    uint64_t now = lp_now();
    if (lp_last_ret) {
        uint64_t busy = now - lp_last_ret;
        lp_iters++;
        if (busy > lp_busy_max)
            lp_busy_max = busy;
        lp_busy_over[0] += busy > 1000000;
        lp_busy_over[1] += busy > 5000000;
        lp_busy_over[2] += busy > 20000000;
    }
}

static void lp_after_wait(void)
{
    if (lp_is_loop())
        lp_last_ret = lp_now();
}

int epoll_wait(int fd, struct epoll_event *ev, int n, int timeout)
{
    static int (*real)(int, struct epoll_event *, int, int);
    if (!real)
        real = (int (*)(int, struct epoll_event *, int, int))dlsym(RTLD_NEXT, "epoll_wait");
    lp_before_wait();
    int rc = real(fd, ev, n, timeout);
    lp_after_wait();
    return rc;
}

int epoll_pwait(int fd, struct epoll_event *ev, int n, int timeout, const sigset_t *ss)
{
    static int (*real)(int, struct epoll_event *, int, int, const sigset_t *);
    if (!real)
        real = (int (*)(int, struct epoll_event *, int, int, const sigset_t *))dlsym(
            RTLD_NEXT, "epoll_pwait");
    lp_before_wait();
    int rc = real(fd, ev, n, timeout, ss);
    lp_after_wait();
    return rc;
}

static void lp_max(_Atomic uint64_t *m, uint64_t v)
{
    uint64_t cur = atomic_load(m);
    while (v > cur && !atomic_compare_exchange_weak(m, &cur, v))
        ;
}

static int lp_timed(int (*real)(int), int fd)
{
    uint64_t t0 = lp_now();
    int rc = real(fd);
    uint64_t d = lp_now() - t0;
    if (lp_is_loop()) {
        atomic_fetch_add(&lp_fs_loop_n, 1);
        lp_max(&lp_fs_loop_max, d);
    } else {
        atomic_fetch_add(&lp_fs_other_n, 1);
        lp_max(&lp_fs_other_max, d);
    }
    return rc;
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return lp_timed(real, fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return lp_timed(real, fd);
}

__attribute__((destructor)) static void lp_report(void)
{
    const char *out = getenv("LOOP_PROBE_OUT");
    FILE *f = out ? fopen(out, "w") : NULL;
    if (!f)
        return;
    fprintf(f,
            "{\"iterations\":%llu,\"busy_max_ms\":%.2f,\"busy_over_1ms\":%llu,"
            "\"busy_over_5ms\":%llu,\"busy_over_20ms\":%llu,\"fsync_on_loop\":%llu,"
            "\"fsync_on_loop_max_ms\":%.2f,\"fsync_elsewhere\":%llu,"
            "\"fsync_elsewhere_max_ms\":%.2f}\n",
            (unsigned long long)lp_iters, lp_busy_max / 1e6, (unsigned long long)lp_busy_over[0],
            (unsigned long long)lp_busy_over[1], (unsigned long long)lp_busy_over[2],
            (unsigned long long)lp_fs_loop_n, lp_fs_loop_max / 1e6,
            (unsigned long long)lp_fs_other_n, lp_fs_other_max / 1e6);
    fclose(f);
}
