/*
 * cli.c: the option handling every subcommand shares (see cli.h).
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void md_cli_begin(void)
{
    optind = 0; /* glibc: 0 re-initialises getopt completely, unlike 1 */
    opterr = 1;
}

int md_cli_config_opt(struct md_cli_config *cc, const char *cmd, int ch, const char *arg)
{
    if (ch == MD_OPT_CONFIG) {
        cc->file = arg;
        return 0;
    }
    if (!strchr(arg, '=')) {
        fprintf(stderr, "meterd %s: --set %s: expected key=value\n", cmd, arg);
        return 2;
    }
    if (cc->nsets == MD_CLI_MAX_SETS) {
        fprintf(stderr, "meterd %s: more than %d --set options\n", cmd, MD_CLI_MAX_SETS);
        return 2;
    }
    cc->sets[cc->nsets++] = (char *)arg;
    return 0;
}

int md_cli_parse_config(int argc, char **argv, const char *cmd, const char *usage,
                        struct md_cli_config *cc)
{
    static const struct option opts[] = {MD_CLI_CONFIG_OPTIONS, {NULL, 0, NULL, 0}};
    int ch, rc;
    md_cli_begin();
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (ch == MD_OPT_HELP)
            return md_cli_usage(stdout, usage, 0);
        if (ch != MD_OPT_CONFIG && ch != MD_OPT_SET)
            return md_cli_usage(stderr, usage, 2);
        if ((rc = md_cli_config_opt(cc, cmd, ch, optarg)))
            return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "meterd %s: unexpected argument '%s'\n", cmd, argv[optind]);
        return md_cli_usage(stderr, usage, 2);
    }
    return -1;
}

struct md_reload_source md_cli_source(struct md_cli_config *cc)
{
    if (!cc->file)
        cc->file = md_config_default_file();
    return (struct md_reload_source){cc->file, cc->sets, cc->nsets};
}

int md_cli_load(struct md_cli_config *cc, const char *cmd, struct md_config *cfg)
{
    struct md_reload_source src = md_cli_source(cc);
    char err[1024];
    if (md_reload_load(&src, cfg, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "meterd %s: config error: %s\n", cmd, err);
    md_config_free(cfg);
    return 1;
}

int md_cli_long(const char *cmd, const char *opt, const char *val, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end || v < min || v > max) {
        fprintf(stderr, "meterd %s: %s %s: expected an integer from %ld to %ld\n", cmd, opt, val,
                min, max);
        return 2;
    }
    *out = v;
    return 0;
}

int md_cli_seconds(const char *cmd, const char *opt, const char *val, double min, double max,
                   double *out)
{
    char *end;
    double v = strtod(val, &end);
    if (end == val || *end || !isfinite(v) || v < min || v > max) {
        fprintf(stderr, "meterd %s: %s %s: expected seconds from %g to %g\n", cmd, opt, val, min,
                max);
        return 2;
    }
    *out = v;
    return 0;
}

int md_cli_usage(FILE *f, const char *usage, int rc)
{
    fputs(usage, f);
    return rc;
}

void md_cli_status_url(const struct md_config *c, char *url, size_t len)
{
    const char *h = c->status_host && c->status_host[0] ? c->status_host : "127.0.0.1";
    bool v6 = strchr(h, ':') && h[0] != '[';
    snprintf(url, len, "http://%s%s%s:%d", v6 ? "[" : "", h, v6 ? "]" : "", c->status_port);
}
