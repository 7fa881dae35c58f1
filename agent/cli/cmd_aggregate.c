/*
 * cmd_aggregate.c: `meterd aggregate [-c FILE] [--set k=v]... [--interval N] < FILE`.
 *
 * Reads datagrams from standard input, one per line (a newline inside a
 * datagram written as the two characters \n), and runs them through the
 * daemon's own path: an intake stage of the pipeline (split, parse, key
 * cache, ring), the aggregator thread, a seal of the one window they all
 * land in, and the Datadog sink's encoder as the flusher calls it. It
 * prints what that sink would ship, uncompressed: each series and each
 * service check on its own line, exactly as it appears in the payload;
 * any other payload as one line (events JSON as is, sketch protobuf as a
 * summary). Series are shown in the v1 JSON form (use_v2_api.series is
 * set false first), the one readable per series. Series are sorted by
 * name, tags and timestamp so that the output does not depend on hash
 * order; a window of more than 8192 series comes in parts, each sorted,
 * printed and freed as it comes (the seal takes the next part only once
 * the last one is freed). It is the seam the protocol corpus test uses,
 * and a way for users to see what their statsd traffic becomes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "cmd.h"
#include "compress.h"
#include "hostname.h"
#include "flush.h"
#include "hostname.h"
#include "log.h"
#include "module_opts.h"
#include "pipeline.h"

static const char usage[] =
    "usage: meterd aggregate [-c FILE] [--set key=value]... [--interval SECONDS] < DATAGRAMS\n"
    "Aggregate datagrams (one per line, \\n for a newline inside one) into one window the way\n"
    "the running agent does, and print what the Datadog sink would ship: one series or\n"
    "service check per line.\n"
    "  -c, --config FILE     config file (default: " MD_CONFIG_DEFAULT_FILE " if present)\n"
    "      --set K=V         override one key\n"
    "      --interval N      window length in seconds (default: flush_interval)\n"
    "  -h, --help            this help\n";

enum { OPT_INTERVAL = 0x200 };

#define MAX_BODY (256u << 20) /* bound on an inflated payload */

static void on_frame(void *ud, struct md_frame *f);

/* Turn the two characters \n into a newline, in place. */
static size_t unescape_newlines(char *s, size_t n)
{
    size_t w = 0;
    for (size_t r = 0; r < n; r++) {
        if (s[r] == '\\' && r + 1 < n && s[r + 1] == 'n') {
            s[w++] = '\n';
            r++;
        } else {
            s[w++] = s[r];
        }
    }
    return w;
}

static int cmp_series(const void *x, const void *y)
{
    const struct md_series *a = x, *b = y;
    char na[1024], nb[1024];
    int c = strcmp(md_series_full_name(a, na, sizeof na), md_series_full_name(b, nb, sizeof nb));
    for (uint32_t i = 0; !c && i < a->key->ntags && i < b->key->ntags; i++)
        c = strcmp(a->key->tags[i], b->key->tags[i]);
    if (!c)
        c = (a->key->ntags > b->key->ntags) - (a->key->ntags < b->key->ntags);
    if (!c)
        c = strcmp(a->key->host ? a->key->host : "", b->key->host ? b->key->host : "");
    if (!c)
        c = (a->timestamp > b->timestamp) - (a->timestamp < b->timestamp);
    return c;
}

/* The elements of the first JSON array in body, one per line. */
static void print_items(const char *body, size_t len)
{
    const char *p = memchr(body, '[', len), *end = body + len;
    if (!p)
        return;
    const char *item = ++p;
    int depth = 0;
    bool in_str = false;
    for (; p < end; p++) {
        if (in_str) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                in_str = false;
            continue;
        }
        if (*p == '"') {
            in_str = true;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if ((*p == ',' || *p == ']') && depth == 0) {
            if (p > item)
                printf("%.*s\n", (int)(p - item), item);
            if (*p == ']')
                return;
            item = p + 1;
        } else if (*p == '}' || *p == ']') {
            depth--;
        }
    }
}

/*
 * A sink may compress as it encodes (to cut payloads at the compressed
 * limit): the payload's kind (deflate or zstd), or -1 when it is plain.
 */
static int encoded(const struct md_payload *p)
{
    for (unsigned i = 0; i < p->nheaders; i++) {
        if (p->headers[i] && strcasecmp(p->headers[i], "Content-Encoding: deflate") == 0)
            return MD_COMP_ZLIB;
        if (p->headers[i] && strcasecmp(p->headers[i], "Content-Encoding: zstd") == 0)
            return MD_COMP_ZSTD;
    }
    return -1;
}

static void print_payload(const struct md_payload *p)
{
    const char *url = p->url ? p->url : "";
    if (p->too_big) { /* no body: what the forwarder would count as dropped */
        fprintf(stderr, "meterd aggregate: %zu item(s) for %s larger than a payload may be: "
                "the agent drops them (too_big)\n", p->nitems, url);
        return;
    }
    bool json = p->content_type && strstr(p->content_type, "json");
    void *plain = NULL;
    size_t len = p->len;
    const char *body = p->body;
    int kind = json ? encoded(p) : -1;
    if (kind >= 0) {
        int rc = kind == MD_COMP_ZSTD ? md_unzstd(p->body, p->len, MAX_BODY, &plain, &len)
                                      : md_inflate(p->body, p->len, MAX_BODY, &plain, &len);
        if (rc != 0) {
            fprintf(stderr, "meterd aggregate: a payload to %s does not decompress\n", url);
            return;
        }
        body = plain;
    }
    if (json && (strstr(url, "/api/v1/series") || strstr(url, "/api/v1/check_run")))
        print_items(body, len);
    else if (json)
        printf("%.*s\n", (int)len, body);
    else
        printf("{\"payload\":\"%s\",\"content_type\":\"%s\",\"bytes\":%zu,\"items\":%zu}\n",
               strstr(url, "/api/") ? strstr(url, "/api/") : url,
               p->content_type ? p->content_type : "", p->len, p->nitems);
    free(plain);
}

static int aggregate_opt(void *ud, int ch, const char *arg)
{
    int rc = md_cli_long("aggregate", "--interval", arg, 1, 3600, ud);
    return rc ? rc : -1;
}

/* -1 to go on, else the exit code. */
static int parse_opts(int argc, char **argv, struct md_cli_config *cc, long *interval)
{
    static const struct option own[] = {{"interval", required_argument, NULL, OPT_INTERVAL},
                                        {NULL, 0, NULL, 0}};
    const struct md_cli_spec spec = {.cmd = "aggregate", .usage = usage, .own = own,
                                     .opt = aggregate_opt, .ud = interval, .args = true};
    int rc = md_cli_parse(&spec, argc, argv, cc);
    if (rc < 0 && optind < argc) {
        fprintf(stderr, "meterd aggregate: unexpected argument '%s' (datagrams come on stdin)\n",
                argv[optind]);
        return md_cli_usage(stderr, usage, 2);
    }
    return rc;
}

/* Every line of stdin into the pipeline, all in the window that starts now. */
static void feed_stdin(struct md_pipeline *p, const struct md_config *cfg)
{
    double now = (double)time(NULL);
    now -= (double)((int64_t)now % cfg->flush_interval);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (line[len - 1] == '\n')
            len--;
        md_pipeline_feed(p, line, unescape_newlines(line, (size_t)len), false, now + 0.5);
    }
    free(line);
}

/* Loop thread of the private loop: a frame (a window, or a part of one) printed and freed. */
static void on_frame(void *ud, struct md_frame *f)
{
    struct md_flusher *fl = ud;
    struct md_payload *list = NULL;
    qsort(f->series, f->nseries, sizeof *f->series, cmp_series);
    if (f->nseries + f->nevents + f->nchecks + f->nsketches)
        md_flusher_encode(fl, f, false, &list);
    for (struct md_payload *p = list; p; p = p->next)
        print_payload(p);
    md_payload_list_free(list);
    md_frame_free(f);
    free(f);
}

/* What the Datadog sink's own keys say about distributions, whichever sinks the config runs. */
static bool datadog_sketches(const struct md_config *cfg)
{
    const struct md_sink_ops *dd = md_sink_lookup("datadog");
    return dd && dd->sketches && dd->sketches(md_config_sink_conf(cfg, dd));
}

static int aggregate(const struct md_config *cfg)
{
    char host[256], err[512] = "";
    static struct md_pipeline_opts po; /* large; outlives the pipeline */
    uv_loop_t loop;
    struct md_hostname hn;
    (void)md_hostname_resolve(cfg, &hn); /* a debugging run goes on with the OS name */
    snprintf(host, sizeof host, "%s", hn.name);
    md_config_pipeline_opts(cfg, host, &po);
    po.udp_port = 0; /* the intake stage without sockets: datagrams come from stdin */
    po.uds_path = NULL;
    po.agg.dist_sketch = datadog_sketches(cfg);
    struct md_flush_opts fo = {.hostname = host};
    struct md_flusher *fl;
    if (md_flusher_new(cfg, "datadog", &fo, &fl, err, sizeof err) != 0) {
        fprintf(stderr, "meterd aggregate: %s\n", err);
        return 1;
    }
    if (uv_loop_init(&loop) != 0) {
        md_flusher_free(fl);
        return 1;
    }
    int rc = 1;
    struct md_pipeline *p = md_pipeline_new(&po, err, sizeof err);
    if (!p || md_pipeline_feed_open(p, po.eol_udp) != 0 ||
        md_pipeline_start(p, &loop, on_frame, fl) != 0) {
        fprintf(stderr, "meterd aggregate: %s\n", err[0] ? err : "cannot set up the pipeline");
    } else {
        feed_stdin(p, cfg);
        rc = 0;
    }
    if (p)
        md_pipeline_stop(p); /* seals every open window; the frames come to on_frame */
    uv_run(&loop, UV_RUN_DEFAULT);
    md_pipeline_free(p);
    uv_loop_close(&loop);
    md_flusher_free(fl);
    if (fflush(stdout) != 0)
        rc = 1;
    return rc;
}

int md_cmd_aggregate(int argc, char **argv)
{
    struct md_cli_config cc = {0};
    struct md_config cfg;
    long interval = 0;
    /* Series print as their v1 JSON items, one per line, whatever the config
     * says; a --set use_v2_api.series=true of the user's comes later and wins
     * (then the v2 protobuf payload is summarised in one line). */
    md_cli_config_opt(&cc, "aggregate", MD_OPT_SET, "use_v2_api.series=false");
    int rc = parse_opts(argc, argv, &cc, &interval);
    if (rc >= 0)
        return rc;
    if ((rc = md_cli_load(&cc, "aggregate", &cfg)))
        return rc;
    if (interval > 0)
        cfg.flush_interval = (int)interval;
    md_log_set_level(MD_LOG_WARN);
    rc = aggregate(&cfg);
    md_config_free(&cfg);
    return rc;
}
