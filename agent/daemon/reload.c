/*
 * reload.c: SIGHUP's work (see reload.h). The statsd sockets and the
 * aggregator (with its open window) are kept as they are, so no packet and
 * no sample is lost across a reload; the collectors (all of conf.d) and the
 * log level are rebuilt. Other settings of meterd.yaml take effect on
 * restart, and a change to the listening ones is logged.
 */
#include "reload.h"

#include <errno.h>
#include <string.h>

#include "collect.h"
#include "log.h"

int md_reload_load(const struct md_reload_source *src, struct md_config *cfg, char *err,
                   size_t errlen)
{
    return md_config_load(cfg, src->file, src->sets, src->nsets, err, errlen);
}

int md_reload_prepare(const struct md_reload_source *src, uv_loop_t *loop,
                      const struct md_point_sink *ps, const struct md_collect_opts *co,
                      struct md_reload *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (md_reload_load(src, &out->cfg, err, errlen) != 0)
        goto fail;
    out->collect = md_collect_new_opts(loop, out->cfg.confd_path, out->cfg.procfs_path,
                                       out->cfg.sysfs_path, ps, co, err, errlen);
    if (!out->collect || md_collect_start(out->collect) != 0)
        goto fail;
    return 0;
fail:
    if (out->collect)
        md_collect_free(out->collect);
    out->collect = NULL;
    md_config_free(&out->cfg);
    return -EINVAL;
}

static bool str_same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

void md_reload_warn_restart_only(const struct md_config *o, const struct md_config *n)
{
    if (o->dogstatsd_port != n->dogstatsd_port || !str_same(o->bind_host, n->bind_host) ||
        o->dogstatsd_non_local_traffic != n->dogstatsd_non_local_traffic ||
        !str_same(o->dogstatsd_socket, n->dogstatsd_socket) ||
        o->flush_interval != n->flush_interval || o->status_port != n->status_port ||
        o->dogstatsd_context_limit != n->dogstatsd_context_limit ||
        o->collector_context_limit != n->collector_context_limit)
        md_warn("reload: listening addresses, status_port, flush_interval and the context "
                "limits change only on restart; kept the running values");
}
