/*
 * cmd_hostname.c: `meterd hostname`, the Datadog agent's `agent hostname`.
 * Prints the name the agent would report and which source gave it, so an
 * operator can check a deployment's mounts and variables (Docker socket,
 * DD_KUBERNETES_KUBELET_NODENAME, ...) without reading metrics back.
 * Exits 1 when no source gives a usable name, as `meterd run` would refuse.
 */
#include <stdio.h>

#include "cli.h"
#include "cmd.h"
#include "hostname.h"

static const char usage[] =
    "usage: meterd hostname [-c FILE] [--set key=value]...\n"
    "Print the host name the agent reports and where it came from.\n"
    "  -c, --config FILE  main config file (default: " MD_CONFIG_DEFAULT_FILE " if present)\n"
    "      --set K=V      override one key (e.g. --set hostname_file=/etc/hostname)\n"
    "  -h, --help         this help\n";

int md_cmd_hostname(int argc, char **argv)
{
    const struct md_cli_spec spec = {.cmd = "hostname", .usage = usage};
    struct md_config cfg;
    int rc = md_cli_parse_load(&spec, argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    struct md_hostname h;
    rc = md_hostname_resolve(&cfg, &h);
    md_config_free(&cfg);
    printf("%s\nsource: %s\n", h.name, h.source);
    if (h.detail[0])
        printf("skipped: %s\n", h.detail);
    if (rc)
        fprintf(stderr, "meterd: no usable host name: set hostname (DD_HOSTNAME) or "
                        "hostname_file, or mount the Docker socket\n");
    return rc ? 1 : 0;
}
