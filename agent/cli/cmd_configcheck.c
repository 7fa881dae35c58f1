/*
 * cmd_configcheck.c: `meterd configcheck`, the operator's "is my config
 * right?" command. It loads the configuration exactly as the daemon would
 * (defaults < -c FILE < environment < --set, the sinks' keys, every conf.d
 * instance) and prints the effective result as YAML with secrets redacted,
 * or the first error ("FILE:LINE: KEY: reason") on stderr with exit code
 * 1, so it can gate a deploy or a container start. `--template` prints the
 * shipped conf.d/meterd.yaml.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "collect.h"
#include "meterd/config.h"

static void configcheck_usage(FILE *out)
{
    fprintf(out, "usage: meterd configcheck [-c FILE] [--set key=value]... [--template]\n"
                 "  -c, --config FILE  main config file (default: " MD_CONFIG_DEFAULT_FILE
                 " if present)\n"
                 "  --set key=value    override one key (wins over file and environment)\n"
                 "  --template         print the documented default config and exit\n"
                 "Checks what `meterd run` checks before it starts: every key of the main\n"
                 "file, the environment and --set, the sinks' keys, and every conf.d instance.\n");
}

/*
 * Collector configs under c->confd_path (<name>.d/conf.yaml), configured
 * against the same /proc and /sys as `meterd run` would use; the first
 * error is printed as "FILE:LINE: KEY: reason".
 */
static int configcheck_collectors(const struct md_config *c, FILE *err)
{
    char msg[1024];
    if (md_collect_validate(c->confd_path, c->procfs_path, c->sysfs_path, msg, sizeof msg) == 0)
        return 0;
    fprintf(err, "meterd configcheck: %s\n", msg);
    return 1;
}

static int configcheck_run(const char *file, char **sets, size_t nsets)
{
    struct md_config cfg;
    char err[1024];
    int rc;
    if (md_config_load(&cfg, file, sets, nsets, err, sizeof err) < 0) {
        fprintf(stderr, "meterd configcheck: %s\n", err);
        rc = 1;
    } else if (configcheck_collectors(&cfg, stderr) != 0) {
        rc = 1;
    } else {
        md_config_dump(&cfg, stdout);
        rc = fflush(stdout) == 0 ? 0 : 1;
    }
    md_config_free(&cfg);
    return rc;
}

int md_cmd_configcheck(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"template", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *file = NULL;
    char **sets = calloc((size_t)(argc > 0 ? argc : 1), sizeof *sets);
    size_t nsets = 0;
    int ch, rc = 2;
    if (!sets) {
        fprintf(stderr, "meterd configcheck: out of memory\n");
        return 1;
    }
    optind = 1;
    while ((ch = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        if (ch == 'c') {
            file = optarg;
        } else if (ch == 's') {
            sets[nsets++] = optarg;
        } else if (ch == 't' || ch == 'h') {
            if (ch == 't')
                md_config_write_template(stdout);
            else
                configcheck_usage(stdout);
            free(sets);
            return 0;
        } else {
            configcheck_usage(stderr);
            free(sets);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "meterd configcheck: unexpected argument '%s'\n", argv[optind]);
        configcheck_usage(stderr);
    } else {
        /* The same default file as `meterd run`, so this checks what the daemon would load. */
        rc = configcheck_run(file ? file : md_config_default_file(), sets, nsets);
    }
    free(sets);
    return rc;
}
