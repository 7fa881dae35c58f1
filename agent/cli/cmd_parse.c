/*
 * cmd_parse.c: `meterd parse`, show what the agent makes of a datagram.
 *
 * It runs the daemon's path on one datagram given on the command line:
 * framing with the configured buffer size and eol rule, the intake
 * thread's parse (lazy tags) for the accept/reject verdict, then the
 * aggregator's full parse, both with the statsd stage's options; it prints
 * one JSON object per message. Operators use it to see why a client's metric goes missing; the
 * protocol corpus test (tests/corpus/run_corpus.py) uses it to check the
 * parser against the reference agent's behaviour.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "cmd.h"
#include "meterd/config.h"
#include "meterd/parse.h"
#include "module_opts.h"
#include "statsd.h"

#define PARSE_STDIN_MAX (1u << 20)

static const char *const mtype_names[MD_MTYPE_COUNT] = {"c", "g", "ms", "h", "s", "d"};
static const char *const alert_names[] = {"info", "success", "warning", "error"};

struct parse_out {
    const struct md_parse_opts *opts; /* the aggregator's (full) parse */
    struct md_parse_opts intake;      /* the intake threads' (lazy tags) parse */
    char *copy;                       /* the intake parses a copy: events unescape in place */
    struct md_buf b;
    FILE *f;
};

static const char usage[] =
    "usage: meterd parse [-c FILE] [--set key=value]... [--transport udp|uds] DATAGRAM\n"
    "Show what the agent's intake makes of one datagram: one JSON object per message\n"
    "(kind metric, event, service_check or error).\n"
    "  DATAGRAM           may hold newlines; '-' reads it from stdin\n"
    "  -c, --config FILE  config file (default: none: the defaults and the environment)\n"
    "      --set K=V      override one key (dogstatsd_buffer_size, statsd_mode, ...)\n"
    "      --transport T  udp (default) or uds: which dogstatsd_eol_required entry applies\n"
    "  -h, --help         this help\n";

enum { OPT_TRANSPORT = 0x200 };

/* JSON has no NaN/Inf: print them as the strings the corpus uses. */
static void json_double(struct md_buf *b, double v)
{
    if (isnan(v))
        md_json_cstr(b, "NaN");
    else if (isinf(v))
        md_json_cstr(b, v > 0 ? "+Inf" : "-Inf");
    else
        md_json_num(b, v);
}

static void json_key(struct md_buf *b, const char *k)
{
    md_buf_putc(b, ',');
    md_json_cstr(b, k);
    md_buf_putc(b, ':');
}

static void json_kstr(struct md_buf *b, const char *k, struct md_str s)
{
    json_key(b, k);
    md_json_str(b, s.p ? s.p : "", s.len); /* absent fields are {NULL, 0} */
}

static void json_tags(struct md_buf *b, struct md_str tags)
{
    struct md_tag_iter it;
    struct md_str t;
    bool first = true;
    json_key(b, "tags");
    md_buf_putc(b, '[');
    md_tag_iter_init(&it, tags);
    while (md_tag_iter_next(&it, &t)) {
        if (!first)
            md_buf_putc(b, ',');
        first = false;
        md_json_str(b, t.p, t.len);
    }
    md_buf_putc(b, ']');
}

static void print_metric(struct md_buf *b, const struct md_sample *s)
{
    md_buf_puts(b, "{\"kind\":\"metric\"");
    json_kstr(b, "name", s->name);
    json_key(b, "type");
    md_json_cstr(b, mtype_names[s->type]);
    if (s->type == MD_SET) {
        json_kstr(b, "set_value", s->values);
    } else {
        struct md_value_iter it;
        double v;
        bool first = true;
        json_key(b, "values");
        md_buf_putc(b, '[');
        md_value_iter_init(&it, s);
        while (md_value_iter_next(&it, &v)) {
            if (!first)
                md_buf_putc(b, ',');
            first = false;
            json_double(b, v);
        }
        md_buf_putc(b, ']');
    }
    json_key(b, "sample_rate");
    size_t at = b->len;
    json_double(b, s->sample_rate);
    if (isfinite(s->sample_rate) && !memchr(b->p + at, '.', b->len - at) &&
        !memchr(b->p + at, 'e', b->len - at))
        md_buf_puts(b, ".0"); /* a rate reads as a float: 1.0, not 1 */
    json_tags(b, s->tags);
    if (s->flags & MD_SAMPLE_HAS_HOST)
        json_kstr(b, "host", s->host);
    if (s->flags & MD_SAMPLE_HAS_TS) {
        json_key(b, "timestamp");
        md_json_int(b, s->timestamp);
    }
    if (s->flags & MD_SAMPLE_HAS_CONTAINER)
        json_kstr(b, "container_id", s->container);
    if (s->container_inode) {
        json_key(b, "inode");
        md_buf_printf(b, "%llu", (unsigned long long)s->container_inode);
    }
    if (s->external_data.len)
        json_kstr(b, "external_data", s->external_data);
    if (s->cardinality.len)
        json_kstr(b, "cardinality", s->cardinality);
    if (s->pod_uid.len)
        json_kstr(b, "pod_uid", s->pod_uid);
    md_buf_putc(b, '}');
}

static void print_event(struct md_buf *b, const struct md_event *e)
{
    md_buf_puts(b, "{\"kind\":\"event\"");
    json_kstr(b, "title", e->title);
    json_kstr(b, "text", e->text);
    json_key(b, "timestamp");
    md_json_int(b, e->timestamp);
    json_key(b, "priority");
    md_json_cstr(b, e->priority == MD_PRIORITY_LOW ? "low" : "normal");
    json_key(b, "alert_type");
    md_json_cstr(b, alert_names[e->alert_type]);
    if (e->has_host)
        json_kstr(b, "host", e->host);
    if (e->aggregation_key.len)
        json_kstr(b, "aggregation_key", e->aggregation_key);
    if (e->source_type_name.len)
        json_kstr(b, "source_type_name", e->source_type_name);
    json_tags(b, e->tags);
    md_buf_putc(b, '}');
}

static void print_check(struct md_buf *b, const struct md_service_check *c)
{
    md_buf_puts(b, "{\"kind\":\"service_check\"");
    json_kstr(b, "name", c->name);
    json_key(b, "status");
    md_json_int(b, c->status);
    json_key(b, "timestamp");
    md_json_int(b, c->timestamp);
    if (c->has_host)
        json_kstr(b, "host", c->host);
    json_kstr(b, "message", c->message);
    json_tags(b, c->tags);
    md_buf_putc(b, '}');
}

static void print_error(struct md_buf *b, enum md_parse_error err, const char *line, size_t len)
{
    md_buf_puts(b, "{\"kind\":\"error\",\"reason\":");
    md_json_cstr(b, md_parse_error_name(err));
    json_kstr(b, "line", (struct md_str){line, (uint32_t)len});
    md_buf_putc(b, '}');
}

static void on_line(void *ud, char *line, size_t len, enum md_parse_error err)
{
    struct parse_out *po = ud;
    struct md_buf *b = &po->b;
    md_buf_reset(b);
    struct md_msg m;
    /* First the intake thread's verdict, then what the aggregator reads. */
    memcpy(po->copy, line, len);
    if (err == MD_PERR_NONE && md_parse_line(po->copy, len, &po->intake, &m) == MD_MSG_ERROR)
        err = m.error;
    if (err != MD_PERR_NONE) {
        print_error(b, err, line, len);
    } else {
        switch (md_parse_line(line, len, po->opts, &m)) {
        case MD_MSG_METRIC: print_metric(b, &m.u.metric); break;
        case MD_MSG_EVENT: print_event(b, &m.u.event); break;
        case MD_MSG_SERVICE_CHECK: print_check(b, &m.u.check); break;
        case MD_MSG_ERROR: print_error(b, m.error, line, len); break;
        }
    }
    md_buf_putc(b, '\n');
    fwrite(b->p, 1, b->len, po->f);
}

/* The whole of stdin, as the datagram; bounded so a pipe cannot exhaust memory. */
static char *read_stdin(size_t *len)
{
    struct md_buf b;
    char tmp[4096];
    size_t n;
    md_buf_init(&b);
    while ((n = fread(tmp, 1, sizeof tmp, stdin)) > 0 && b.len < PARSE_STDIN_MAX)
        md_buf_add(&b, tmp, n);
    if (b.oom) {
        md_buf_free(&b);
        return NULL;
    }
    md_buf_putc(&b, 0); /* md_buf_steal of an empty buffer returns NULL */
    char *p = md_buf_steal(&b, len);
    if (p)
        (*len)--;
    return p;
}

static int parse_transport(void *ud, int ch, const char *arg)
{
    *(const char **)ud = arg;
    if (strcmp(arg, "udp") == 0 || strcmp(arg, "uds") == 0)
        return -1;
    fprintf(stderr, "meterd parse: --transport %s: expected udp or uds\n", arg);
    return md_cli_usage(stderr, usage, 2);
}

/* Options and the datagram argument: -1 to go on, else the exit code. */
static int parse_opts(int argc, char **argv, struct md_cli_config *cc, const char **transport,
                      const char **dgram)
{
    static const struct option own[] = {{"transport", required_argument, NULL, OPT_TRANSPORT},
                                        {NULL, 0, NULL, 0}};
    const struct md_cli_spec spec = {.cmd = "parse", .usage = usage, .own = own,
                                     .opt = parse_transport, .ud = transport, .args = true};
    int rc = md_cli_parse(&spec, argc, argv, cc);
    if (rc >= 0)
        return rc;
    if (optind != argc - 1) {
        fprintf(stderr, "meterd parse: expected one DATAGRAM argument\n");
        return md_cli_usage(stderr, usage, 2);
    }
    *dgram = argv[optind];
    return -1;
}

int md_cmd_parse(int argc, char **argv)
{
    struct md_cli_config cc = {0};
    const char *transport = "udp", *dgram = NULL;
    int rc = parse_opts(argc, argv, &cc, &transport, &dgram);
    if (rc >= 0)
        return rc;
    struct md_config cfg;
    /* Only what -c and --set say: parse never picks up a config file by itself. */
    struct md_reload_source src = {cc.file, cc.sets, cc.nsets};
    char err[1024];
    if (md_reload_load(&src, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "meterd parse: config error: %s\n", err);
        md_config_free(&cfg);
        return 1;
    }
    /* The parse options of the statsd stage, as every intake thread takes them. */
    struct md_statsd_opts so;
    md_config_statsd_opts(&cfg, &so);
    struct md_statsd *sd = md_statsd_new(&so, NULL);
    if (!sd) {
        fprintf(stderr, "meterd parse: cannot set up the statsd stage\n");
        md_config_free(&cfg);
        return 1;
    }
    struct md_parse_opts opts = *md_statsd_parse_opts(sd);
    md_statsd_free(sd);
    bool eol = cfg.dogstatsd_eol_required & (strcmp(transport, "udp") == 0 ? MD_EOL_UDP : MD_EOL_UDS);
    size_t cap = cfg.dogstatsd_buffer_size > 0 ? (size_t)cfg.dogstatsd_buffer_size : SIZE_MAX;
    md_config_free(&cfg);

    size_t len;
    char *buf;
    if (strcmp(dgram, "-") == 0) {
        buf = read_stdin(&len);
    } else {
        len = strlen(dgram);
        buf = strdup(dgram); /* parsing writes into the buffer */
    }
    if (!buf) {
        fprintf(stderr, "meterd parse: %s\n", strerror(ENOMEM));
        return 1;
    }
    /* What a receive buffer of dogstatsd_buffer_size bytes would hold. */
    bool truncated = len > cap;
    if (truncated)
        len = cap;

    struct parse_out po = {.opts = &opts, .intake = opts, .copy = malloc(len + 1), .f = stdout};
    po.intake.lazy_tags = true;
    if (!po.copy) {
        free(buf);
        fprintf(stderr, "meterd parse: %s\n", strerror(ENOMEM));
        return 1;
    }
    md_buf_init(&po.b);
    md_split_datagram(buf, len, truncated, eol, on_line, &po);
    md_buf_free(&po.b);
    free(po.copy);
    free(buf);
    return fflush(stdout) == 0 ? 0 : 1;
}
