/*
 * main.c: command-line entry point. It only dispatches: each subcommand
 * lives in its own cmd_<name>.c (see cmd.h), parses its own options and
 * answers --help with its own usage; `meterd help CMD` is the same.
 */
#include <stdbool.h>
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
    if (argc > 1) {
        bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        fprintf(help ? stdout : stderr, "usage: meterd version\n");
        return help ? 0 : 2;
    }
    printf("meterd %s\n", METERD_VERSION);
    return 0;
}

/* One line per command. */
static const struct md_command commands[] = {
    {"version", cmd_version, "print the version"},
    {"run", md_cmd_run, "run the agent in the foreground"},
    {"status", md_cmd_status, "show the running agent's status"},
    {"health", md_cmd_health, "exit 0 when the running agent is healthy, 1 otherwise"},
    {"hostname", md_cmd_hostname, "print the host name the agent reports and where it came from"},
    {"aggregate", md_cmd_aggregate, "aggregate datagrams from stdin into one window, print what would ship"},
    {"configcheck", md_cmd_configcheck, "validate the config and print it"},
    {"check", md_cmd_check, "run one collector once and print what it would send"},
    {"parse", md_cmd_parse, "show how a DogStatsD datagram is parsed, one JSON object per message"},
    {"config", md_cmd_config, "print the effective config (secrets redacted) and the checks that would run"},
    {"diagnose", md_cmd_diagnose, "check the config, the backend, the API key and the ports"},
    {"flare", md_cmd_flare, "write a .tar.gz of redacted config, status, logs and versions for support"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: meterd <command> [options]   (meterd <command> --help for its options)\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].help);
}

static const struct md_command *lookup(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    bool help = strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0;
    if (help && argc < 3) {
        usage(stdout);
        return 0;
    }
    if (help)
        name = argv[2];
    const struct md_command *c = lookup(name);
    if (!c) {
        fprintf(stderr, "meterd: unknown command '%s'\n", name);
        usage(stderr);
        return 2;
    }
    /* getopt's own messages then read "meterd CMD: unrecognized option ...". */
    char prog[64];
    snprintf(prog, sizeof prog, "meterd %s", c->name);
    if (help) {
        static char help_opt[] = "--help";
        char *hargv[] = {prog, help_opt, NULL};
        return c->fn(2, hargv);
    }
    argv[1] = prog;
    return c->fn(argc - 1, argv + 1);
}
