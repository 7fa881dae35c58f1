/*
 * log.c: see log.h. The level is the only global: it is set once from the
 * config (and on reload) and read with a relaxed atomic by every thread.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic int g_level = MD_LOG_INFO;

static const char *const level_names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF"};

void md_log_set_level(enum md_log_level l)
{
    atomic_store_explicit(&g_level, (int)l, memory_order_relaxed);
}

int md_log_level_parse(const char *name)
{
    static const char *const alias[] = {"trace", "debug", "info", "warn", "error", "off"};
    for (int i = 0; i <= MD_LOG_OFF; i++)
        if (strcasecmp(name, alias[i]) == 0)
            return i;
    if (strcasecmp(name, "warning") == 0)
        return MD_LOG_WARN;
    if (strcasecmp(name, "critical") == 0)
        return MD_LOG_ERROR;
    return -1;
}

void md_log_at(enum md_log_level l, const char *file, int line, const char *fn, const char *fmt, ...)
{
    if ((int)l < atomic_load_explicit(&g_level, memory_order_relaxed))
        return;
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S UTC", &tm);
    const char *base = strrchr(file, '/');
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One fprintf per line so lines from several threads do not interleave. */
    fprintf(stderr, "%s | METERD | %s | (%s:%d in %s) | %s\n", ts, level_names[l],
            base ? base + 1 : file, line, fn, msg);
}
