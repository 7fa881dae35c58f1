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
    struct md_cli_config cc = {0};
    const struct md_cli_spec spec = {.cmd = "run", .usage = usage};
    int rc = md_cli_parse(&spec, argc, argv, &cc);
    if (rc >= 0)
        return rc;
    struct md_reload_source src = md_cli_source(&cc);
    return md_daemon_run(&src);
}
