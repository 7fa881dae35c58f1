/*
 * cli.h: the one option parser of the subcommands, and what else they share.
 *
 * A subcommand describes its command line (struct md_cli_spec: its usage,
 * its own options and a callback for them) and md_cli_parse reads it with
 * getopt_long. The options that load the configuration (-c FILE, --set
 * key=value), --help and the checks on numeric option values live here, so
 * they mean the same thing and fail the same way everywhere: a bad option
 * or option value prints "meterd CMD: reason" and the usage on stderr, and
 * the command exits 2; --help prints the usage on stdout and exits 0.
 * md_cli_config_opt adds one -c or --set to a parsed command line. The
 * commands that ask the running agent find it at one address,
 * md_cli_status_url, and fetch from it with md_cli_status_get.
 */
#ifndef METERD_CLI_H
#define METERD_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "buf.h"
#include "meterd/config.h"
#include "reload.h"

#define MD_CLI_MAX_SETS 256

/* getopt codes of the shared options; a subcommand's own long-only options use others. */
enum { MD_OPT_CONFIG = 'c', MD_OPT_HELP = 'h', MD_OPT_SET = 0x100 };
#define MD_CLI_CONFIG_OPTIONS                                  \
    {"config", required_argument, NULL, MD_OPT_CONFIG},        \
    {"set", required_argument, NULL, MD_OPT_SET},              \
    {"help", no_argument, NULL, MD_OPT_HELP}

struct md_cli_config {
    const char *file;
    char *sets[MD_CLI_MAX_SETS];
    size_t nsets;
};

/*
 * One of the shared config options (MD_OPT_CONFIG or MD_OPT_SET) into cc.
 * 0, or 2 after printing why (too many --set, --set without '=').
 */
int md_cli_config_opt(struct md_cli_config *cc, const char *cmd, int ch, const char *arg);

/* The source the daemon and the one-shot commands load: cc, or the default file without -c. */
struct md_reload_source md_cli_source(struct md_cli_config *cc);

#define MD_CLI_MAX_OWN 8

/* A command's command line, as md_cli_parse reads it. */
struct md_cli_spec {
    const char *cmd;          /* "check": messages read "meterd check: ..." */
    const char *usage;        /* on stdout after --help, on stderr after a usage error */
    const struct option *own; /* its own options (at most MD_CLI_MAX_OWN), NULL-terminated */
    const char *own_short;    /* their short letters for getopt ("l:o:"); NULL: none */
    /* One own option: -1 to go on, else the exit code (after printing why). */
    int (*opt)(void *ud, int ch, const char *arg);
    void *ud;
    bool args; /* the command takes positional arguments (from optind); else one is an error */
};

/*
 * The options of argv: -c and --set into cc, --help, and the command's own
 * through s->opt. -1 to go on, else the exit code (0 after --help, 2 after
 * a usage error, both printed).
 */
int md_cli_parse(const struct md_cli_spec *s, int argc, char **argv, struct md_cli_config *cc);

/* Load the config; on error print "meterd CMD: config error: ..." and return 1. */
int md_cli_load(struct md_cli_config *cc, const char *cmd, struct md_config *cfg);

/*
 * md_cli_parse, then md_cli_load, for a command that takes no positional
 * argument: -1 with cfg loaded (the caller frees it), else the exit code
 * (1: the config did not load).
 */
int md_cli_parse_load(const struct md_cli_spec *s, int argc, char **argv, struct md_config *cfg);

/* An integer option value in [min, max]: 0, or 2 after printing why. */
int md_cli_long(const char *cmd, const char *opt, const char *val, long min, long max, long *out);
/* A number of seconds in [min, max]: 0, or 2 after printing why. */
int md_cli_seconds(const char *cmd, const char *opt, const char *val, double min, double max,
                   double *out);

/* Print usage to f; returns `rc` so that a parser can `return md_cli_usage(...)`. */
int md_cli_usage(FILE *f, const char *usage, int rc);

/* "http://HOST:PORT/PATH" on the running agent's status server (IPv6 in brackets). */
void md_cli_status_url(const struct md_config *c, const char *path, char *url, size_t len);

/*
 * GET path from the running agent's status server, blocking up to
 * timeout_ms: the HTTP status, or 0 with the reason in err (nothing
 * answered, or status_port is off).
 */
long md_cli_status_get(const struct md_config *c, const char *path, long timeout_ms,
                       struct md_buf *body, char *err, size_t errlen);

#endif
