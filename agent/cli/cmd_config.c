/*
 * cmd_config.c: `meterd config`, the effective configuration as the Datadog
 * agent's `agent config` shows it: every key of the main file after
 * defaults, file, environment and --set, secrets redacted (api_key shows
 * its last 4 characters, URL credentials three stars), then the conf.d
 * instances that would run, with their source file, interval and tags.
 */
#include <stdio.h>

#include "cli.h"
#include "cmd.h"
#include "collect.h"

static const char config_usage[] =
    "usage: meterd config [-c FILE] [--set key=value]...\n"
    "Print the effective configuration (secrets redacted) and the checks that would run.\n"
    "  -c, --config FILE  main config file (default: " MD_CONFIG_DEFAULT_FILE " if present)\n"
    "      --set K=V      override one key (wins over file and environment)\n"
    "  -h, --help         this help\n";

/* The instances `meterd run` would start, as a YAML list. */
static int config_checks(const struct md_config *c)
{
    char err[1024];
    struct md_collect_runner *r = md_collect_new(NULL, c->confd_path, c->procfs_path, c->sysfs_path,
                                                 NULL, err, sizeof err);
    if (!r) {
        fprintf(stderr, "meterd config: %s\n", err);
        return 1;
    }
    printf("\n# conf.d: %s\nchecks:\n", c->confd_path);
    for (size_t i = 0; i < md_collect_ninstances(r); i++) {
        struct md_collect_stats s;
        if (md_collect_stats(r, i, &s) < 0)
            continue;
        printf("  - name: %s\n    source: \"%s\"\n    instance: %d\n    interval: %g\n"
               "    enabled: %s\n",
               s.collector, s.source, s.instance, s.interval, s.enabled ? "true" : "false");
    }
    md_collect_free(r);
    return 0;
}

int md_cmd_config(int argc, char **argv)
{
    const struct md_cli_spec spec = {.cmd = "config", .usage = config_usage};
    struct md_config cfg;
    int rc = md_cli_parse_load(&spec, argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    md_config_dump(&cfg, stdout);
    rc = config_checks(&cfg);
    md_config_free(&cfg);
    return rc || fflush(stdout) ? 1 : 0;
}
