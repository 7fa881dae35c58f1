/*
 * cmd_aggregate.c: `meterd aggregate [-c FILE] [--set k=v ...] [--interval N] < FILE`.
 *
 * Reads datagrams from standard input, one per line (a newline inside a
 * datagram written as the two characters \n), runs them through exactly
 * the statsd and aggregation code of the daemon into one window, and prints
 * what the Datadog sink would ship as JSON lines sorted by metric then
 * tags. It is the seam the protocol corpus tests use, and a way for users
 * to check what a burst of statsd traffic turns into.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aggregator.h"
#include "buf.h"
#include "cmd.h"
#include "hostname.h"
#include "daemon.h"
#include "module_opts.h"
#include "statsd.h"

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
        c = (a->timestamp > b->timestamp) - (a->timestamp < b->timestamp);
    return c;
}

static void print_series(const struct md_series *s)
{
    struct md_buf b;
    md_buf_init(&b);
    md_buf_puts(&b, "{\"metric\":");
    md_json_cat(&b, s->name, s->suffix);
    md_buf_printf(&b, ",\"type\":\"%s\",\"interval\":%u,\"value\":", md_series_type_name(s->type),
                  s->interval);
    md_json_num(&b, s->value);
    md_buf_puts(&b, ",\"tags\":[");
    for (uint32_t i = 0; i < s->key->ntags; i++) {
        if (i)
            md_buf_putc(&b, ',');
        md_json_cstr(&b, s->key->tags[i]);
    }
    md_buf_puts(&b, "],\"host\":");
    md_json_cstr(&b, s->key->host);
    md_buf_printf(&b, ",\"timestamp\":%lld}\n", (long long)s->timestamp);
    fwrite(b.p, 1, b.len, stdout);
    md_buf_free(&b);
}

/* Sketches (distribution_output: sketch) as one JSON line each. */
static void print_sketch(const struct md_sketch_series *s)
{
    struct md_buf b;
    md_buf_init(&b);
    md_buf_puts(&b, "{\"metric\":");
    md_json_cstr(&b, s->name);
    md_buf_puts(&b, ",\"type\":\"sketch\",\"count\":");
    md_json_num(&b, s->count);
    md_buf_puts(&b, ",\"min\":");
    md_json_num(&b, s->min);
    md_buf_puts(&b, ",\"max\":");
    md_json_num(&b, s->max);
    md_buf_puts(&b, ",\"sum\":");
    md_json_num(&b, s->sum);
    md_buf_printf(&b, ",\"bins\":%u,\"tags\":[", s->nbins);
    for (uint32_t i = 0; i < s->key->ntags; i++) {
        if (i)
            md_buf_putc(&b, ',');
        md_json_cstr(&b, s->key->tags[i]);
    }
    md_buf_puts(&b, "],\"host\":");
    md_json_cstr(&b, s->key->host);
    md_buf_printf(&b, ",\"timestamp\":%lld}\n", (long long)s->timestamp);
    fwrite(b.p, 1, b.len, stdout);
    md_buf_free(&b);
}

int md_cmd_aggregate(int argc, char **argv)
{
    /* Pull out --interval before the shared option parser sees it. */
    int interval = 0;
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
            interval = atoi(argv[++i]);
            continue;
        }
        argv[n++] = argv[i];
    }
    struct md_config cfg;
    int rc = md_cmd_load_config(n, argv, &cfg, NULL);
    if (rc)
        return rc;
    if (interval > 0)
        cfg.flush_interval = interval;
    char host[256] = "";
    struct md_hostname hn;
    (void)md_hostname_resolve(&cfg, &hn); /* a debugging run goes on with the OS name */
    snprintf(host, sizeof host, "%s", hn.name);
    struct md_str tagbuf[MD_CTX_MAX_TAGS];
    struct md_agg_opts ao;
    struct md_statsd_opts so;
    md_config_agg_opts(&cfg, host, tagbuf, &ao);
    md_config_statsd_opts(&cfg, &so);
    struct md_agg *agg = md_agg_new(&ao);
    struct md_statsd *sd = agg ? md_statsd_new(&so, agg) : NULL;
    if (!sd) {
        fprintf(stderr, "meterd: out of memory\n");
        md_agg_free(agg);
        md_config_free(&cfg);
        return 1;
    }
    /* Every datagram lands in the window that starts now. */
    double now = (double)time(NULL);
    now -= (int64_t)now % cfg.flush_interval;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    bool eol = cfg.dogstatsd_eol_required & MD_EOL_UDP;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (line[len - 1] == '\n')
            len--;
        size_t dl = unescape_newlines(line, (size_t)len);
        bool trunc = dl > (size_t)cfg.dogstatsd_buffer_size;
        md_statsd_datagram(sd, line, trunc ? (size_t)cfg.dogstatsd_buffer_size : dl, trunc, eol,
                           now + 0.5);
    }
    free(line);
    struct md_frame f;
    md_agg_flush(agg, now + 1, true, &f);
    qsort(f.series, f.nseries, sizeof *f.series, cmp_series);
    for (size_t i = 0; i < f.nseries; i++)
        print_series(&f.series[i]);
    for (size_t i = 0; i < f.nsketches; i++)
        print_sketch(&f.sketches[i]);
    md_frame_free(&f);
    md_statsd_free(sd);
    md_agg_free(agg);
    md_config_free(&cfg);
    return 0;
}
