/*
 * reload.c: SIGHUP. Re-reads meterd.yaml and conf.d; a new config that does
 * not load is rejected with its reason and the old one kept. The statsd
 * socket and the aggregator (with its open window) are kept as they are,
 * so no packet and no sample is lost across a reload; the collectors (all
 * of conf.d) and the log level are rebuilt. Other settings of meterd.yaml
 * take effect on restart, and a change to the listening ones is logged.
 */
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "ctrsvc.h"
#include "daemon.h"
#include "log.h"

static bool str_same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static void warn_restart_only(const struct md_config *o, const struct md_config *n)
{
    if (o->dogstatsd_port != n->dogstatsd_port || !str_same(o->bind_host, n->bind_host) ||
        o->dogstatsd_non_local_traffic != n->dogstatsd_non_local_traffic ||
        !str_same(o->dogstatsd_socket, n->dogstatsd_socket) ||
        o->flush_interval != n->flush_interval || o->status_port != n->status_port)
        md_warn("reload: listening addresses, status_port and flush_interval change only on "
                "restart; kept the running values");
}

void md_daemon_reload(struct md_daemon *d)
{
    struct md_config n;
    char err[1024];
    /* The same file and --set values as at start, so a reload changes only what the files changed. */
    const char *file = d->cli.file;
    if (md_cli_load(&d->cli, &n, err, sizeof err) != 0) {
        md_error("reload rejected, keeping the running configuration: %s", err);
        md_config_free(&n);
        d->reload_errors++;
        return;
    }
    struct md_point_sink ps = md_daemon_point_sink(d);
    /* The container table and its clients stay: their keys change on restart. */
    struct md_collect_opts co = {.containers = md_ctrsvc_containers(d->ctr)};
    struct md_collect_runner *r = md_collect_new_opts(d->loop, n.confd_path, n.procfs_path,
                                                      n.sysfs_path, &ps, &co, err, sizeof err);
    if (!r || md_collect_start(r) != 0) {
        md_error("reload rejected, keeping the running configuration: %s", err);
        if (r)
            md_collect_free(r);
        md_config_free(&n);
        d->reload_errors++;
        return;
    }
    md_collect_free(d->collect);
    d->collect = r;
    md_config_log_notes(&n);
    warn_restart_only(&d->cfg, &n);
    md_log_set_level(md_log_level_parse(n.log_level));
    d->reloads++;
    md_info("reloaded %s and conf.d (%s)", file ? file : "(defaults)", n.confd_path);
    /* Keep the running config for the restart-only keys; free the new one. */
    md_config_free(&n);
}
