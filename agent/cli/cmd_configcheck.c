/*
 * cmd_configcheck.c: `meterd configcheck`, the operator's "is my config
 * right?" command. It loads the configuration exactly as the daemon would
 * (defaults < -c FILE < environment < --set) and prints the effective result
 * as YAML with the API key redacted, or the first error ("FILE:LINE: KEY:
 * reason") on stderr with exit code 1, so it can gate a deploy or a
 * container start. `--template` prints the shipped conf.d/meterd.yaml.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "collect.h"
#include "daemon.h"
#include "meterd/config.h"

static void configcheck_usage(FILE *out)
{
    fprintf(out, "usage: meterd configcheck [-c FILE] [--set key=value]... [--template]\n"
                 "  -c, --config FILE  main config file (default: conf.d/meterd.yaml if present)\n"
                 "  --set key=value    override one key (wins over file and environment)\n"
                 "  --template         print the documented default config and exit\n");
}

/*
 * Collector configs under c->confd_path (<name>.d/conf.yaml): each instance
 * is checked against its collector's key table; the first error is printed
 * as "FILE:LINE: KEY: reason".
 */
static int configcheck_collectors(const struct md_config *c, FILE *err)
{
    char msg[1024];
    if (md_collect_validate(c->confd_path, msg, sizeof msg) == 0)
        return 0;
    fprintf(err, "meterd: conf.d error: %s\n", msg);
    return 1;
}

/* "--opt VALUE" or "--opt=VALUE"; advances *i past a separate value. */
static const char *configcheck_optval(int argc, char **argv, int *i, const char *shortname,
                                      const char *longname)
{
    const char *a = argv[*i];
    size_t ll = strlen(longname);
    if ((shortname && strcmp(a, shortname) == 0) || strcmp(a, longname) == 0)
        return *i + 1 < argc ? argv[++*i] : NULL;
    if (strncmp(a, longname, ll) == 0 && a[ll] == '=')
        return a + ll + 1;
    return NULL;
}

static bool configcheck_is_opt(const char *a, const char *shortname, const char *longname)
{
    size_t ll = strlen(longname);
    return (shortname && strcmp(a, shortname) == 0) || strcmp(a, longname) == 0 ||
           (strncmp(a, longname, ll) == 0 && a[ll] == '=');
}

int md_cmd_configcheck(int argc, char **argv)
{
    const char *file = NULL;
    char **sets = calloc((size_t)(argc > 0 ? argc : 1), sizeof *sets);
    size_t nsets = 0;
    int rc = 2;
    if (!sets) {
        fprintf(stderr, "meterd configcheck: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            configcheck_usage(stdout);
            rc = 0;
            goto out;
        } else if (strcmp(a, "--template") == 0) {
            md_config_write_template(stdout);
            rc = 0;
            goto out;
        } else if (configcheck_is_opt(a, "-c", "--config")) {
            if (!(file = configcheck_optval(argc, argv, &i, "-c", "--config")))
                goto usage;
        } else if (configcheck_is_opt(a, NULL, "--set")) {
            const char *v = configcheck_optval(argc, argv, &i, NULL, "--set");
            if (!v)
                goto usage;
            sets[nsets++] = (char *)v;
        } else {
            fprintf(stderr, "meterd configcheck: unknown argument '%s'\n", a);
            goto usage;
        }
    }

    /* The same default file as `meterd run`, so this checks what the daemon would load. */
    if (!file)
        file = md_cli_default_file();
    struct md_config cfg;
    char err[1024];
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
    goto out;
usage:
    configcheck_usage(stderr);
out:
    free(sets);
    return rc;
}
