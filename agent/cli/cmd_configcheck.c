/*
 * cmd_configcheck.c: `meterd configcheck`, the operator's "is my config
 * right?" command. It loads the configuration exactly as the daemon would
 * (defaults < -c FILE < environment < --set, the sinks' keys, every conf.d
 * instance) and prints the effective result as YAML with secrets redacted,
 * or the first error ("FILE:LINE: KEY: reason") on stderr with exit code
 * 1, so it can gate a deploy or a container start. Warnings (unknown keys,
 * Datadog keys meterd does not implement, check folders it does not load)
 * are listed as comments after the values: they do not fail the check. `--template` prints the
 * shipped conf.d/meterd.yaml.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "collect.h"
#include "daemon.h"
#include "meterd/config.h"

static const char usage[] =
    "usage: meterd configcheck [-c FILE] [--set key=value]... [--template]\n"
    "  -c, --config FILE  main config file (default: " MD_CONFIG_DEFAULT_FILE " if present)\n"
    "  --set key=value    override one key (wins over file and environment)\n"
    "  --template         print the documented default config and exit\n"
    "Checks what `meterd run` checks before it starts: every key of the main\n"
    "file, the environment and --set, the sinks' keys, and every conf.d instance.\n"
    "Prints the effective configuration, then as comments the checks that will\n"
    "run, every warning (unknown keys; the Datadog agent's keys meterd does not\n"
    "implement, with why) and what conf.d holds that meterd does not load.\n";

static void configcheck_unclaimed(void *ud, const char *entry, const char *why)
{
    fprintf(ud, "# not loaded: %s (%s)\n", entry, why);
}

/*
 * Collector configs under c->confd_path (<name>.d/conf.yaml ...),
 * configured against the same /proc and /sys as `meterd run` would use.
 * The first error is printed as "FILE:LINE: KEY: reason"; otherwise the
 * checks that will run, the warnings of conf.d and what conf.d holds that
 * meterd does not read are written to out as comments.
 */
static int configcheck_collectors(const struct md_config *c, FILE *out, FILE *err)
{
    char msg[1024];
    struct md_collect_runner *r = md_collect_new(NULL, c->confd_path, c->procfs_path,
                                                 c->sysfs_path, NULL, msg, sizeof msg);
    if (!r) {
        fprintf(err, "meterd configcheck: %s\n", msg);
        return 1;
    }
    fprintf(out, "# conf.d: %s\n", c->confd_path);
    for (size_t i = 0; i < md_collect_ninstances(r); i++) {
        struct md_collect_stats s;
        if (md_collect_stats(r, i, &s) == 0)
            fprintf(out, "# check %s: %s instance %d, every %gs%s\n", s.collector, s.source,
                    s.instance, s.interval, s.enabled ? "" : " (disabled)");
    }
    const struct md_strlist *notes = md_collect_notes(r);
    for (size_t i = 0; i < notes->n; i++)
        fprintf(out, "# warning: %s\n", notes->v[i]);
    md_collect_confd_unclaimed(c->confd_path, c->config_file, configcheck_unclaimed, out);
    md_collect_free(r);
    return 0;
}

static int configcheck_run(const char *file, char *const *sets, size_t nsets)
{
    struct md_config cfg;
    char err[1024];
    int rc;
    if (md_config_load(&cfg, file, sets, nsets, err, sizeof err) < 0) {
        fprintf(stderr, "meterd configcheck: %s\n", err);
        rc = 1;
    } else {
        /* Into memory first: nothing on stdout when conf.d turns out to be wrong. */
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        rc = mem ? configcheck_collectors(&cfg, mem, stderr) : 1;
        if (mem)
            fclose(mem);
        if (rc == 0) {
            md_config_dump(&cfg, stdout);
            fputs(text ? text : "", stdout);
            rc = fflush(stdout) == 0 ? 0 : 1;
        }
        free(text);
    }
    md_config_free(&cfg);
    return rc;
}

/* --template: the documented defaults, and nothing else. */
static int configcheck_template(void *ud, int ch, const char *arg)
{
    md_config_write_template(stdout);
    return 0;
}

int md_cmd_configcheck(int argc, char **argv)
{
    static const struct option own[] = {{"template", no_argument, NULL, 't'}, {NULL, 0, NULL, 0}};
    const struct md_cli_spec spec = {.cmd = "configcheck", .usage = usage, .own = own,
                                     .opt = configcheck_template};
    struct md_cli_config cc = {0};
    int rc = md_cli_parse(&spec, argc, argv, &cc);
    if (rc >= 0)
        return rc;
    /* The same default file as `meterd run`, so this checks what the daemon would load. */
    struct md_reload_source src = md_cli_source(&cc);
    return configcheck_run(src.file, src.sets, src.nsets);
}
