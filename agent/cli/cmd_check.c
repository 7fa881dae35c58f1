/*
 * cmd_check.c: `meterd check <name>`: run one collector the way the daemon
 * would (same main config, same conf.d instances, same runner) and print
 * what it would send, without starting the daemon. Like `agent check`, a
 * collector whose first run cannot show everything (rates, counts, deltas
 * it computes itself) is run a second time --delay seconds later and the
 * second run is printed.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "cmd.h"
#include "hostname.h"
#include "collect.h"
#include "ctrsvc.h"
#include "meterd/config.h"

struct check_out {
    struct md_buf b;
    bool json;
    const char *host;
    size_t n;
};

static const char *kind_name(enum md_emit_kind k)
{
    return k == MD_EMIT_RATE ? "rate" : k == MD_EMIT_MONOTONIC_COUNT ? "count" : "gauge";
}

static void check_point(void *ud, const struct md_point *p, enum md_emit_kind kind)
{
    struct check_out *o = ud;
    struct md_buf *b = &o->b;
    o->n++;
    if (o->json) {
        md_buf_puts(b, "{\"metric\":");
        md_json_str(b, p->name.p, p->name.len);
        md_buf_printf(b, ",\"type\":\"%s\",\"value\":", kind_name(kind));
        md_json_num(b, p->value);
        md_buf_puts(b, ",\"tags\":[");
        for (uint32_t i = 0; i < p->ntags; i++) {
            if (i)
                md_buf_putc(b, ',');
            md_json_str(b, p->tags[i].p, p->tags[i].len);
        }
        md_buf_puts(b, "],\"host\":");
        md_json_cstr(b, o->host);
        md_buf_puts(b, "}\n");
        return;
    }
    md_buf_printf(b, "  %-40.*s %-6s %16.4f", (int)p->name.len, p->name.p, kind_name(kind), p->value);
    for (uint32_t i = 0; i < p->ntags; i++)
        md_buf_printf(b, "%s%.*s", i ? "," : "  ", (int)p->tags[i].len, p->tags[i].p);
    md_buf_putc(b, '\n');
}

static const char usage[] =
    "usage: meterd check <collector> [--json] [-c FILE] [--set key=value]... [--delay SECONDS]\n"
    "                    [--confd DIR]\n"
    "Run one collector once, the way the agent would, and print what it would send.\n"
    "      --json         one JSON object per point instead of a table\n"
    "  -c, --config FILE  main config file (default: " MD_CONFIG_DEFAULT_FILE " if present)\n"
    "      --set K=V      override one key\n"
    "      --delay S      seconds between the two runs of collectors that compute rates (1)\n"
    "      --confd DIR    conf.d folder (default: confd_path of the config)\n"
    "  -h, --help         this help\n";

enum { OPT_JSON = 0x200, OPT_DELAY, OPT_CONFD };

struct check_args {
    const char *name, *confd;
    bool json;
    double delay;
    struct md_cli_config cc;
};

static int check_opt(void *ud, int ch, const char *arg)
{
    struct check_args *a = ud;
    int rc = 0;
    if (ch == OPT_JSON)
        a->json = true;
    else if (ch == OPT_CONFD)
        a->confd = arg;
    else
        rc = md_cli_seconds("check", "--delay", arg, 0, 3600, &a->delay);
    return rc ? rc : -1;
}

/* -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct check_args *a)
{
    static const struct option own[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"delay", required_argument, NULL, OPT_DELAY},
        {"confd", required_argument, NULL, OPT_CONFD},
        {NULL, 0, NULL, 0},
    };
    const struct md_cli_spec spec = {.cmd = "check", .usage = usage, .own = own,
                                     .opt = check_opt, .ud = a, .args = true};
    int rc = md_cli_parse(&spec, argc, argv, &a->cc);
    if (rc >= 0)
        return rc;
    if (optind != argc - 1) {
        fprintf(stderr, "meterd check: expected one collector name\n");
        return md_cli_usage(stderr, usage, 2);
    }
    a->name = argv[optind];
    return -1;
}

static void sleep_seconds(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static bool needs_second_run(struct md_collect_runner *r, const char *name)
{
    const struct md_collector_ops *ops = md_collector_lookup(name);
    if (ops && ops->needs_two_runs)
        return true;
    for (size_t i = 0; i < md_collect_ninstances(r); i++) {
        struct md_collect_stats s;
        if (md_collect_stats(r, i, &s) == 0 && s.has_counters)
            return true;
    }
    return false;
}

static int run_check(const struct check_args *a, struct md_config *cfg)
{
    char err[512] = "", host[256] = "";
    struct check_out o = {.json = a->json};
    md_buf_init(&o.b);
    struct md_hostname hn;
    (void)md_hostname_resolve(cfg, &hn); /* a debugging run goes on with the OS name */
    snprintf(host, sizeof host, "%s", hn.name);
    o.host = host;
    const char *confd = a->confd ? a->confd : (cfg->confd_path && *cfg->confd_path ? cfg->confd_path : NULL);
    /* Container collectors name containers through the Docker API: give it a
     * loop and a moment (bounded) to answer before the first run. */
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct md_ctrsvc *ctr = md_ctrsvc_new(&loop, cfg, err, sizeof err);
    struct md_collect_opts opts = {.only = a->name, .observe = check_point, .observe_ud = &o,
                                   .containers = md_ctrsvc_containers(ctr)};
    struct md_collect_runner *r = ctr ? md_collect_new_opts(NULL, confd, cfg->procfs_path,
                                                            cfg->sysfs_path, NULL, &opts, err,
                                                            sizeof err)
                                      : NULL;
    if (!r) {
        fprintf(stderr, "meterd check: %s\n", err);
        md_buf_free(&o.b);
        md_ctrsvc_free(ctr);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return 2;
    }
    if (strcmp(a->name, "container") == 0 || strcmp(a->name, "docker") == 0) {
        md_ctrsvc_start(ctr);
        md_ctrsvc_wait_synced(ctr, &loop, 3000);
    }
    int failed = md_collect_run_once(r, (int64_t)uv_hrtime());
    int runs = 1;
    if (needs_second_run(r, a->name)) {
        sleep_seconds(a->delay);
        md_buf_reset(&o.b);
        o.n = 0;
        failed = md_collect_run_once(r, (int64_t)uv_hrtime());
        runs = 2;
    }
    fwrite(o.b.p ? o.b.p : "", 1, o.b.len, stdout);
    size_t ninst = md_collect_ninstances(r);
    for (size_t i = 0; i < ninst; i++) {
        struct md_collect_stats s;
        md_collect_stats(r, i, &s);
        if (!s.enabled) {
            fprintf(stderr, "%s: instance %d of %s is disabled (enabled: false)\n", s.collector,
                    s.instance, s.source);
            continue;
        }
        fprintf(stderr, "%s: instance %d of %s: %d run(s), %llu sample(s) in the last run, "
                        "%.3f ms%s%s\n", s.collector, s.instance, s.source, runs,
                (unsigned long long)s.last_samples, s.last_duration_ms,
                s.last_error ? ", last error: " : "", s.last_error ? strerror(-s.last_error) : "");
    }
    md_collect_free(r);
    md_ctrsvc_free(ctr);
    uv_run(&loop, UV_RUN_DEFAULT); /* releases the clients' handles */
    uv_loop_close(&loop);
    md_buf_free(&o.b);
    return failed ? 1 : 0;
}

int md_cmd_check(int argc, char **argv)
{
    struct check_args a = {.delay = 1.0};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    struct md_config cfg;
    if (md_cli_load(&a.cc, "check", &cfg))
        return 2;
    rc = run_check(&a, &cfg);
    md_config_free(&cfg);
    return rc;
}
