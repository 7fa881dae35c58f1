/*
 * cmd_status.c: `meterd status` and `meterd health`, the operator's view
 * of a running agent. Both read the loopback status endpoint named by the
 * config (status_host, status_port), so they work from `docker exec` and
 * `kubectl exec` as the Datadog agent's commands do. Blocking HTTP is fine
 * here: these are one-shot commands, not the daemon.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "cmd.h"
#include "status_text.h"

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    md_buf_add(ud, p, size * n);
    return size * n;
}

/* The status endpoint's base URL; an IPv6 literal goes in brackets (RFC 3986). */
static void base_url(const struct md_config *c, char *url, size_t len)
{
    const char *h = c->status_host && c->status_host[0] ? c->status_host : "127.0.0.1";
    bool v6 = strchr(h, ':') && h[0] != '[';
    snprintf(url, len, "http://%s%s%s:%d", v6 ? "[" : "", h, v6 ? "]" : "", c->status_port);
}

/* GET path from the agent; returns the HTTP status (0 when unreachable). */
static long fetch(const struct md_config *c, const char *path, struct md_buf *body)
{
    char url[512];
    base_url(c, url, sizeof url - 16);
    strcat(url, path);
    CURL *h = curl_easy_init();
    if (!h)
        return 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    long code = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    return code;
}

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

/* Options of status and health (json NULL: no --json). -1 to go on, else the exit code. */
static int parse_opts(int argc, char **argv, const char *cmd, const char *usage,
                      struct md_cli_config *cc, bool *json)
{
    static const struct option with_json[] = {MD_CLI_CONFIG_OPTIONS,
                                              {"json", no_argument, NULL, OPT_JSON},
                                              {NULL, 0, NULL, 0}};
    static const struct option plain[] = {MD_CLI_CONFIG_OPTIONS, {NULL, 0, NULL, 0}};
    int ch, rc;
    md_cli_begin();
    while ((ch = getopt_long(argc, argv, "c:h", json ? with_json : plain, NULL)) != -1) {
        if (ch == MD_OPT_HELP)
            return md_cli_usage(stdout, usage, 0);
        if (ch == OPT_JSON && json)
            *json = true;
        else if (ch != MD_OPT_CONFIG && ch != MD_OPT_SET)
            return md_cli_usage(stderr, usage, 2);
        else if ((rc = md_cli_config_opt(cc, cmd, ch, optarg)))
            return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "meterd %s: unexpected argument '%s'\n", cmd, argv[optind]);
        return md_cli_usage(stderr, usage, 2);
    }
    return -1;
}

int md_cmd_health(int argc, char **argv)
{
    struct md_cli_config cc = {0};
    struct md_config cfg;
    int rc = parse_opts(argc, argv, "health", health_usage, &cc, NULL);
    if (rc >= 0)
        return rc;
    if ((rc = md_cli_load(&cc, "health", &cfg)))
        return rc;
    struct md_buf b;
    md_buf_init(&b);
    long code = fetch(&cfg, "/health", &b);
    printf("%s\n", code == 200 ? "healthy" : code ? "unhealthy" : "unreachable");
    md_buf_free(&b);
    md_config_free(&cfg);
    return code == 200 ? 0 : 1;
}

int md_cmd_status(int argc, char **argv)
{
    struct md_cli_config cc = {0};
    struct md_config cfg;
    bool json = false;
    int rc = parse_opts(argc, argv, "status", status_usage, &cc, &json);
    if (rc >= 0)
        return rc;
    if ((rc = md_cli_load(&cc, "status", &cfg)))
        return rc;
    struct md_buf b;
    md_buf_init(&b);
    long code = fetch(&cfg, "/status", &b);
    if (code != 200) {
        char url[512];
        base_url(&cfg, url, sizeof url);
        fprintf(stderr, "meterd: no agent answering on %s/status\n", url);
        rc = 1;
    } else if (json) {
        fwrite(b.p, 1, b.len, stdout);
    } else {
        char err[256];
        if (md_status_text(b.p, b.len, stdout, err, sizeof err) < 0) {
            fprintf(stderr, "meterd status: cannot read the agent's answer: %s\n", err);
            rc = 1;
        }
    }
    md_buf_free(&b);
    md_config_free(&cfg);
    return rc;
}
