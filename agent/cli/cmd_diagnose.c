/*
 * cmd_diagnose.c: `meterd diagnose`, the Datadog agent's `agent diagnose`
 * for meterd: can it start and can it ship. One line per check, OK, WARN
 * or FAIL, exit 1 when any failed: the config and conf.d load; each HTTP
 * sink's backend answers, and the Datadog backend accepts the API key
 * (GET /api/v1/validate, what the agent asks); the DogStatsD port, the
 * unix socket's folder and the status port can be bound, or are held by
 * the running meterd (its /health answers). The API key and URL
 * credentials never appear in what it prints.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"
#include "collect.h"
#include "datadog.h"
#include "httpget.h"
#include "intake.h"
#include "meterd/sink.h"

static const char diagnose_usage[] =
    "usage: meterd diagnose [-c FILE] [--set key=value]...\n"
    "Check that meterd can start and ship: config and conf.d, each backend and the API key,\n"
    "the DogStatsD port and socket, the status port. Exits 1 when a check failed.\n"
    "  -c, --config FILE  main config file (default: " MD_CONFIG_DEFAULT_FILE " if present)\n"
    "      --set K=V      override one key (wins over file and environment)\n"
    "  -h, --help         this help\n";

enum verdict { OK, WARN, FAIL };

struct diag {
    int failed;
    const struct md_config *cfg;
};

static void report(struct diag *d, enum verdict v, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(struct diag *d, enum verdict v, const char *what, const char *fmt, ...)
{
    static const char *const names[] = {"OK  ", "WARN", "FAIL"};
    va_list ap;
    printf("[%s] %-18s ", names[v], what);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    d->failed += v == FAIL;
}

static void diag_confd(struct diag *d)
{
    char err[1024];
    if (md_collect_validate(d->cfg->confd_path, d->cfg->procfs_path, d->cfg->sysfs_path, err,
                            sizeof err) == 0)
        report(d, OK, "conf.d", "%s loads", d->cfg->confd_path);
    else
        report(d, FAIL, "conf.d", "%s", err);
}

/* The Datadog backend: reachable, and what it says of the key. */
static void diag_datadog(struct diag *d, const struct md_datadog_conf *c)
{
    char *base = md_sink_datadog_base_url(c), shown[512], url[1024], err[256], hdr[600];
    if (!base)
        return report(d, FAIL, "datadog", "out of memory");
    md_url_redact(base, shown, sizeof shown);
    snprintf(url, sizeof url, "%s/api/v1/validate", base);
    snprintf(hdr, sizeof hdr, "DD-API-KEY: %s", c->api_key ? c->api_key : "");
    const char *headers[] = {hdr, NULL};
    const struct md_httpget req = {.url = url, .headers = headers, .timeout_ms = 10000};
    struct md_buf body;
    md_buf_init(&body);
    long code = md_httpget(&req, &body, err, sizeof err);
    explicit_bzero(hdr, sizeof hdr);
    if (code == 0)
        report(d, FAIL, "datadog backend", "%s: cannot reach it: %s", shown, err);
    else
        report(d, OK, "datadog backend", "%s answers (HTTP %ld)", shown, code);
    if (code == 200)
        report(d, OK, "api key", "accepted by %s", shown);
    else if (code == 401 || code == 403)
        report(d, FAIL, "api key", "rejected by %s (HTTP %ld): check api_key / DD_API_KEY", shown, code);
    else if (code)
        report(d, WARN, "api key", "%s does not validate keys (HTTP %ld on /api/v1/validate)", shown, code);
    md_buf_free(&body);
    free(base);
}

static void diag_sinks(struct diag *d)
{
    const struct md_sink_ops *ops[16];
    size_t n = md_config_sinks(d->cfg, ops, 16);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ops[i]->name, "datadog") == 0)
            diag_datadog(d, md_config_sink_conf(d->cfg, ops[i]));
        else if (ops[i]->transport == MD_TRANSPORT_STDOUT)
            report(d, OK, ops[i]->name, "writes to standard output");
        else
            report(d, WARN, ops[i]->name, "no check for this sink");
    }
}

/* Whether the running meterd answers on its status address. */
static bool agent_running(const struct md_config *c)
{
    char err[256];
    struct md_buf b;
    md_buf_init(&b);
    long code = md_cli_status_get(c, "/health", 3000, &b, err, sizeof err);
    md_buf_free(&b);
    return code == 200;
}

static void diag_bound(struct diag *d, const char *what, int rc, const char *where, const char *err)
{
    if (rc >= 0)
        report(d, OK, what, "%s can be bound", where);
    else if (rc == -EADDRINUSE && agent_running(d->cfg))
        report(d, OK, what, "%s is held by the running meterd", where);
    else
        report(d, FAIL, what, "%s", err);
}

static void diag_udp(struct diag *d)
{
    const struct md_config *c = d->cfg;
    char err[512] = "", where[300];
    if (c->dogstatsd_port <= 0)
        return report(d, OK, "dogstatsd udp", "off (dogstatsd_port 0)");
    const char *host = c->dogstatsd_non_local_traffic ? "::" : c->bind_host;
    snprintf(where, sizeof where, "udp %s port %d", host, c->dogstatsd_port);
    int fd = md_intake_udp_socket(host, c->dogstatsd_port, 0, 0, err, sizeof err);
    if (fd >= 0)
        close(fd);
    diag_bound(d, "dogstatsd udp", fd, where, err);
}

static void diag_uds(struct diag *d)
{
    const char *path = d->cfg->dogstatsd_socket;
    if (!path || !path[0])
        return;
    char *copy = strdup(path);
    const char *dir = copy ? dirname(copy) : ".";
    if (access(dir, W_OK) == 0)
        report(d, OK, "dogstatsd socket", "folder %s exists and is writable", dir);
    else
        report(d, FAIL, "dogstatsd socket", "folder %s: %s (meterd would run with UDP only)", dir,
               strerror(errno));
    free(copy);
}

static void diag_status_port(struct diag *d)
{
    const struct md_config *c = d->cfg;
    if (c->status_port <= 0)
        return report(d, OK, "status port", "off (status_port 0)");
    char where[300], err[400] = "";
    snprintf(where, sizeof where, "tcp %s port %d", c->status_host, c->status_port);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, c->status_host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)c->status_port);
        len = sizeof *a4;
    } else if (inet_pton(AF_INET6, c->status_host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)c->status_port);
        len = sizeof *a6;
    } else {
        return report(d, FAIL, "status port", "status_host %s is not an address", c->status_host);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rc = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0) {
        rc = -errno;
        snprintf(err, sizeof err, "%s: %s", where, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    diag_bound(d, "status port", rc, where, err);
}

int md_cmd_diagnose(int argc, char **argv)
{
    const struct md_cli_spec spec = {.cmd = "diagnose", .usage = diagnose_usage};
    struct md_config cfg;
    int rc = md_cli_parse_load(&spec, argc, argv, &cfg);
    if (rc == 1)
        printf("[FAIL] config             does not load (see above)\n");
    if (rc >= 0)
        return rc;
    struct diag d = {.cfg = &cfg};
    report(&d, OK, "config", "%s loads", cfg.config_file && cfg.config_file[0] ? cfg.config_file : "defaults");
    diag_confd(&d);
    diag_sinks(&d);
    diag_udp(&d);
    diag_uds(&d);
    diag_status_port(&d);
    printf("%s\n", d.failed ? "Some checks failed." : "All checks passed.");
    md_config_free(&cfg);
    return d.failed ? 1 : 0;
}
