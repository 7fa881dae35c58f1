/*
 * cmd_status.c: `meterd status` and `meterd health`, the operator's view
 * of a running agent. Both read the loopback status endpoint named by the
 * config (status_host, status_port), so they work from `docker exec` and
 * `kubectl exec` as the Datadog agent's commands do. Blocking HTTP is fine
 * here: these are one-shot commands, not the daemon.
 */
#include <stdio.h>

#include "buf.h"
#include "cli.h"
#include "cmd.h"
#include "status_text.h"

static const char health_usage[] =
    "usage: meterd health [-c FILE] [--set key=value]...\n"
    "Ask the running agent (status_host, status_port of the config) whether it is healthy:\n"
    "prints healthy, unhealthy or unreachable and exits 0 only when healthy.\n"
    "  -c, --config FILE  config file naming the agent's status address\n"
    "      --set K=V      override one key (e.g. --set status_port=5555)\n"
    "  -h, --help         this help\n";

static const char status_usage[] =
    "usage: meterd status [--json] [-c FILE] [--set key=value]...\n"
    "Show the running agent's status (its /status endpoint).\n"
    "      --json         the raw JSON instead of the readable rendering\n"
    "  -c, --config FILE  config file naming the agent's status address\n"
    "      --set K=V      override one key (e.g. --set status_port=5555)\n"
    "  -h, --help         this help\n";

enum { OPT_JSON = 0x200 };

static int on_json(void *ud, int ch, const char *arg)
{
    (void)ch;
    (void)arg;
    *(bool *)ud = true;
    return -1;
}

int md_cmd_health(int argc, char **argv)
{
    const struct md_cli_spec spec = {.cmd = "health", .usage = health_usage};
    struct md_config cfg;
    int rc = md_cli_parse_load(&spec, argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    struct md_buf b;
    md_buf_init(&b);
    char err[256];
    long code = md_cli_status_get(&cfg, "/health", 5000, &b, err, sizeof err);
    printf("%s\n", code == 200 ? "healthy" : code ? "unhealthy" : "unreachable");
    md_buf_free(&b);
    md_config_free(&cfg);
    return code == 200 ? 0 : 1;
}

int md_cmd_status(int argc, char **argv)
{
    static const struct option own[] = {{"json", no_argument, NULL, OPT_JSON},
                                        {NULL, 0, NULL, 0}};
    bool json = false;
    const struct md_cli_spec spec = {
        .cmd = "status", .usage = status_usage, .own = own, .opt = on_json, .ud = &json};
    struct md_config cfg;
    int rc = md_cli_parse_load(&spec, argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    rc = 0;
    struct md_buf b;
    md_buf_init(&b);
    char err[256];
    long code = md_cli_status_get(&cfg, "/status", 5000, &b, err, sizeof err);
    if (code != 200) {
        char url[512];
        md_cli_status_url(&cfg, "/status", url, sizeof url);
        fprintf(stderr, "meterd: no agent answering on %s\n", url);
        rc = 1;
    } else if (json) {
        fwrite(b.p, 1, b.len, stdout);
    } else {
        if (md_status_text(b.p, b.len, stdout, err, sizeof err) < 0) {
            fprintf(stderr, "meterd status: cannot read the agent's answer: %s\n", err);
            rc = 1;
        }
    }
    md_buf_free(&b);
    md_config_free(&cfg);
    return rc;
}
