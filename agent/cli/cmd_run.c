/*
 * cmd_run.c: `meterd run`, the agent in the foreground. Only the command
 * line is parsed here; agent/daemon/ owns everything that runs.
 */
#include "cli.h"
#include "cmd.h"
#include "daemon.h"

static const char usage[] =
    "usage: meterd run [-c FILE] [--set key=value]...\n"
    "Run the agent in the foreground until SIGTERM or SIGINT; SIGHUP reloads the config.\n"
    "  -c, --config FILE  main config file (default: " MD_CONFIG_DEFAULT_FILE " if present)\n"
    "      --set K=V      override one key (wins over the file and the environment)\n"
    "  -h, --help         this help\n";

int md_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {MD_CLI_CONFIG_OPTIONS, {NULL, 0, NULL, 0}};
    struct md_cli_config cc = {0};
    int ch, rc;
    md_cli_begin();
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (ch == MD_OPT_HELP)
            return md_cli_usage(stdout, usage, 0);
        if (ch != MD_OPT_CONFIG && ch != MD_OPT_SET)
            return md_cli_usage(stderr, usage, 2);
        if ((rc = md_cli_config_opt(&cc, "run", ch, optarg)))
            return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "meterd run: unexpected argument '%s'\n", argv[optind]);
        return md_cli_usage(stderr, usage, 2);
    }
    struct md_reload_source src = md_cli_source(&cc);
    return md_daemon_run(&src);
}
