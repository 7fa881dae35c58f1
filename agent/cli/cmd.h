/*
 * cmd.h: the sub-commands of the meterd binary. Each lives in its own
 * cmd_<name>.c, gets argv with argv[0] = "meterd <name>" (so getopt's
 * messages name the command), parses it with md_cli_parse (cli.h), and
 * returns the process exit code (2 for a usage error).
 */
#ifndef METERD_CMD_H
#define METERD_CMD_H

int md_cmd_run(int argc, char **argv);
int md_cmd_parse(int argc, char **argv);
int md_cmd_aggregate(int argc, char **argv);
int md_cmd_check(int argc, char **argv);
int md_cmd_configcheck(int argc, char **argv);
int md_cmd_status(int argc, char **argv);
int md_cmd_health(int argc, char **argv);
int md_cmd_config(int argc, char **argv);
int md_cmd_diagnose(int argc, char **argv);
int md_cmd_flare(int argc, char **argv);
int md_cmd_hostname(int argc, char **argv);

#endif
