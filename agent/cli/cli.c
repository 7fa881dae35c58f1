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

#include "httpget.h"

/* Reset getopt before a subcommand parses its argv (argv[0] = "meterd CMD"). */
static void md_cli_begin(void)
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

/* The shared options, then the command's own. */
static void cli_options(const struct md_cli_spec *s, struct option *opts, char *shorts,
                        size_t shorts_len)
{
    static const struct option shared[] = {MD_CLI_CONFIG_OPTIONS};
    size_t n = 0;
    for (size_t i = 0; i < sizeof shared / sizeof shared[0]; i++)
        opts[n++] = shared[i];
    for (size_t i = 0; s->own && s->own[i].name && i < MD_CLI_MAX_OWN; i++)
        opts[n++] = s->own[i];
    opts[n] = (struct option){NULL, 0, NULL, 0};
    snprintf(shorts, shorts_len, "c:h%s", s->own_short ? s->own_short : "");
}

int md_cli_parse(const struct md_cli_spec *s, int argc, char **argv, struct md_cli_config *cc)
{
    struct option opts[3 + MD_CLI_MAX_OWN + 1];
    char shorts[3 + 2 * MD_CLI_MAX_OWN + 1];
    int ch, rc;
    cli_options(s, opts, shorts, sizeof shorts);
    md_cli_begin();
    while ((ch = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        if (ch == MD_OPT_HELP)
            return md_cli_usage(stdout, s->usage, 0);
        if (ch == MD_OPT_CONFIG || ch == MD_OPT_SET) {
            if ((rc = md_cli_config_opt(cc, s->cmd, ch, optarg)))
                return rc;
        } else if (ch == '?' || !s->opt) { /* getopt said why */
            return md_cli_usage(stderr, s->usage, 2);
        } else if ((rc = s->opt(s->ud, ch, optarg)) >= 0) {
            return rc;
        }
    }
    if (!s->args && optind < argc) {
        fprintf(stderr, "meterd %s: unexpected argument '%s'\n", s->cmd, argv[optind]);
        return md_cli_usage(stderr, s->usage, 2);
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

int md_cli_parse_load(const struct md_cli_spec *s, int argc, char **argv, struct md_config *cfg)
{
    struct md_cli_config cc = {0};
    int rc = md_cli_parse(s, argc, argv, &cc);
    if (rc < 0 && (rc = md_cli_load(&cc, s->cmd, cfg)) == 0)
        return -1;
    return rc;
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

void md_cli_status_url(const struct md_config *c, const char *path, char *url, size_t len)
{
    const char *h = c->status_host && c->status_host[0] ? c->status_host : "127.0.0.1";
    bool v6 = strchr(h, ':') && h[0] != '[';
    snprintf(url, len, "http://%s%s%s:%d%s", v6 ? "[" : "", h, v6 ? "]" : "", c->status_port,
             path);
}

long md_cli_status_get(const struct md_config *c, const char *path, long timeout_ms,
                       struct md_buf *body, char *err, size_t errlen)
{
    char url[600];
    if (c->status_port <= 0) {
        snprintf(err, errlen, "status_port is %d: the agent serves no status", c->status_port);
        return 0;
    }
    md_cli_status_url(c, path, url, sizeof url);
    /* The agent's own status address: a proxy from the environment must not see it. */
    const struct md_httpget req = {.url = url, .timeout_ms = timeout_ms, .no_proxy = true};
    return md_httpget(&req, body, err, errlen);
}
