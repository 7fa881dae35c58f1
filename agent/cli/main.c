/*
 * main.c: command-line entry point. It only dispatches: each sub-command
 * lives in its own cmd_<name>.c (see cmd.h), the daemon in cmd_run.c.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

struct md_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static int cmd_version(int argc, char **argv)
{
    printf("meterd %s\n", METERD_VERSION);
    return 0;
}

/* One line per command. */
static const struct md_command commands[] = {
    {"version", cmd_version, "print the version"},
    {"run", md_cmd_run, "run the agent in the foreground (-c FILE, --set k=v)"},
    {"status", md_cmd_status, "show the running agent's status (--json for raw)"},
    {"health", md_cmd_health, "exit 0 when the running agent is healthy, 1 otherwise"},
    {"hostname", md_cmd_hostname, "print the host name the agent reports and where it came from"},
    {"aggregate", md_cmd_aggregate, "aggregate datagrams from stdin into one window, print the series"},
    {"configcheck", md_cmd_configcheck, "validate the config (-c FILE, --set k=v) and print it"},
    {"check", md_cmd_check, "run one collector once and print what it would send"},
    {"parse", md_cmd_parse, "show how a DogStatsD datagram is parsed, one JSON object per message"},
    {"config", md_cmd_config, "print the effective config (secrets redacted) and the checks that would run"},
    {"diagnose", md_cmd_diagnose, "check the config, the backend, the API key and the ports"},
    {"flare", md_cmd_flare, "write a .tar.gz of redacted config, status, logs and versions for support"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: meterd <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "meterd: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
