/*
 * reload.h: building a new configuration for a running daemon (SIGHUP).
 *
 * A reload reads the same sources as the start did (the same file, the
 * same --set values, the environment as it is now), so it changes only what
 * the files changed. It builds everything that can fail (the config, the
 * collectors of conf.d) before anything running is touched: the daemon
 * swaps them in only when all of it is ready, and keeps the running ones
 * otherwise. This file knows nothing about the daemon's state; the daemon
 * decides when a reload may happen.
 */
#ifndef METERD_RELOAD_H
#define METERD_RELOAD_H

#include <stddef.h>
#include <uv.h>

#include "meterd/config.h"
#include "point.h"

struct md_collect_runner;
struct md_collect_opts;

/* Where the configuration comes from: -c FILE and --set key=value. Borrowed strings. */
struct md_reload_source {
    const char *file; /* NULL: defaults and environment only */
    char *const *sets;
    size_t nsets;
};

/* md_config_load from src; on error err holds "FILE:LINE: KEY: reason". cfg is always to be freed. */
int md_reload_load(const struct md_reload_source *src, struct md_config *cfg, char *err,
                   size_t errlen);

struct md_reload {
    struct md_config cfg;
    struct md_collect_runner *collect; /* started, emitting into the given point sink */
};

/*
 * Load the config and start its collectors on loop. 0, or -EINVAL with the
 * reason in err and nothing left to free.
 */
int md_reload_prepare(const struct md_reload_source *src, uv_loop_t *loop,
                      const struct md_point_sink *ps, const struct md_collect_opts *co,
                      struct md_reload *out, char *err, size_t errlen);

/* Log which keys of n differ from the running config but apply only on restart. */
void md_reload_warn_restart_only(const struct md_config *running, const struct md_config *n);

#endif
