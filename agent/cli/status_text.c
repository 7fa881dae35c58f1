/*
 * status_text.c: the readable `meterd status`, laid out like the Datadog
 * agent's `agent status` (a banner per section: the agent, Collector with
 * each check's runs, samples, last run and last error, Forwarder,
 * DogStatsD, Aggregator), so people who read the agent's page find the same
 * things in the same places; then the delivery ledger, which the agent's
 * page has no equivalent of. It renders the /status JSON, which the
 * status endpoint keeps free of secrets; the JSON goes through the YAML
 * tree reader (JSON is YAML), so no JSON library is needed. Keys this
 * version does not know are ignored, so an older CLI can read a newer agent.
 */
#include "status_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yaml_tree.h"

static const char *val(const struct md_ynode *map, const char *key)
{
    const struct md_ynode *n = map ? md_ymap_get(map, key) : NULL;
    return n && n->type == MD_Y_SCALAR ? n->scalar : "-";
}

static double num(const struct md_ynode *map, const char *key)
{
    const char *v = val(map, key);
    return strcmp(v, "-") == 0 ? 0 : strtod(v, NULL);
}

static void banner(FILE *out, const char *title)
{
    size_t n = strlen(title);
    char line[80];
    memset(line, '=', n < sizeof line - 1 ? n : sizeof line - 1);
    line[n < sizeof line - 1 ? n : sizeof line - 1] = '\0';
    fprintf(out, "\n%s\n%s\n%s\n", line, title, line);
}

/* "2026-12-03 10:38:25 UTC" of unix seconds; "never" for 0. */
static const char *when(double unix_s, char *buf, size_t len)
{
    if (unix_s <= 0)
        return "never";
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

static void section_agent(FILE *out, const struct md_ynode *st)
{
    char title[96], t[40];
    snprintf(title, sizeof title, "meterd (v%s)", val(st, "version"));
    banner(out, title);
    fprintf(out, "  Status date: %s\n", when((double)time(NULL), t, sizeof t));
    fprintf(out, "  Hostname: %s\n  Pid: %s\n", val(st, "hostname"), val(st, "pid"));
    if (md_ymap_get(st, "state"))
        fprintf(out, "  State: %s\n", val(st, "state"));
    fprintf(out, "  Uptime: %.0f s\n  Flush interval: %s s\n", num(st, "uptime_s"),
            val(st, "flush_interval"));
    const struct md_ynode *sinks = md_ymap_get(st, "sinks");
    fprintf(out, "  Sinks:");
    for (size_t i = 0; sinks && sinks->type == MD_Y_SEQ && i < sinks->n; i++)
        fprintf(out, " %s", sinks->items[i]->type == MD_Y_SCALAR ? sinks->items[i]->scalar : "?");
    fprintf(out, "\n");
}

static void check_block(FILE *out, const struct md_ynode *c)
{
    char head[160], t[40];
    const char *err = val(c, "last_error");
    bool ok = strcmp(err, "-") == 0 && strcmp(val(c, "errors"), "0") == 0;
    int n = snprintf(head, sizeof head, "%s (instance %s)", val(c, "name"), val(c, "instance"));
    fprintf(out, "\n    %s\n    %.*s\n", head, n, "--------------------------------------------------"
                                                   "--------------------------------------------------");
    fprintf(out, "      Instance ID: %s:%s [%s]\n", val(c, "name"), val(c, "instance"),
            strcmp(val(c, "enabled"), "false") == 0 ? "DISABLED" : ok ? "OK" : "ERROR");
    fprintf(out, "      Configuration Source: %s\n", val(c, "source"));
    fprintf(out, "      Total Runs: %s\n", val(c, "runs"));
    fprintf(out, "      Metric Samples: Last Run: %s, Total: %s\n", val(c, "last_samples"),
            val(c, "samples"));
    fprintf(out, "      Interval: %s s\n", val(c, "interval"));
    fprintf(out, "      Last Execution Date: %s\n", when(num(c, "last_run_unix_ms") / 1000.0, t, sizeof t));
    fprintf(out, "      Last Execution Time: %.3f ms\n", num(c, "last_duration_ms"));
    fprintf(out, "      Errors: %s, Skipped (overran its interval): %s, Dropped (counter resets): %s\n",
            val(c, "errors"), val(c, "skipped_overruns"), val(c, "dropped"));
    if (!ok)
        fprintf(out, "      Last Error: %s\n", err);
}

static void section_checks(FILE *out, const struct md_ynode *st)
{
    banner(out, "Collector");
    fprintf(out, "\n  Running Checks\n  ==============\n");
    const struct md_ynode *cs = md_ymap_get(st, "collectors");
    if (!cs || cs->type != MD_Y_SEQ || cs->n == 0)
        fprintf(out, "\n    No checks have run yet.\n");
    for (size_t i = 0; cs && cs->type == MD_Y_SEQ && i < cs->n; i++)
        if (cs->items[i]->type == MD_Y_MAP)
            check_block(out, cs->items[i]);
}

static void section_forwarder(FILE *out, const struct md_ynode *st)
{
    char t[40];
    banner(out, "Forwarder");
    const struct md_ynode *f = md_ymap_get(st, "forwarder");
    if (!f || f->type != MD_Y_MAP) {
        fprintf(out, "  No HTTP sink: nothing is forwarded.\n");
        return;
    }
    const struct md_ynode *dr = md_ymap_get(f, "dropped");
    fprintf(out, "\n  Transactions\n  ============\n");
    fprintf(out, "    Success: %s (%s bytes)\n    Errors: %s\n    Retries: %s\n", val(f, "payloads_sent"),
            val(f, "bytes_sent"), val(f, "errors"), val(f, "retries"));
    fprintf(out, "    Dropped: rejected %s, queue full %s, at shutdown %s, invalid %s, unconfigured %s\n",
            val(dr, "rejected"), val(dr, "queue_full"), val(dr, "shutdown"), val(dr, "invalid"),
            val(dr, "unconfigured"));
    fprintf(out, "    Last HTTP status: %s\n    Last success: %s\n", val(f, "last_status"),
            when(num(f, "last_success"), t, sizeof t));
    fprintf(out, "\n  Queue\n  =====\n    Payloads: %s, in flight: %s\n    Bytes: %s of %s\n",
            val(f, "queue_payloads"), val(f, "inflight"), val(f, "queue_bytes"),
            val(f, "queue_max_bytes"));
    fprintf(out, "    State: %s\n", val(f, "state"));
}

static void section_dogstatsd(FILE *out, const struct md_ynode *st)
{
    banner(out, "DogStatsD");
    const struct md_ynode *d = md_ymap_get(st, "dogstatsd");
    fprintf(out, "  Packets: %s (%s bytes)\n  Metric Packets: %s\n  Event Packets: %s\n"
                 "  Service Check Packets: %s\n",
            val(d, "packets"), val(d, "bytes"), val(d, "metrics"), val(d, "events"),
            val(d, "service_checks"));
    fprintf(out, "  Kernel drops (socket full): %s\n  Ring full drops: %s\n  Intake threads: %s\n",
            val(d, "kernel_drops"), val(d, "ring_full_drops"), val(d, "intake_threads"));
    const struct md_ynode *pe = d ? md_ymap_get(d, "parse_errors") : NULL;
    fprintf(out, "  Parse errors:%s\n", pe && pe->type == MD_Y_MAP && pe->n ? "" : " none");
    for (size_t i = 0; pe && pe->type == MD_Y_MAP && i < pe->n; i++)
        fprintf(out, "    %s: %s\n", pe->keys[i],
                pe->items[i]->type == MD_Y_SCALAR ? pe->items[i]->scalar : "?");
}

static void section_aggregator(FILE *out, const struct md_ynode *st)
{
    char t[40];
    banner(out, "Aggregator");
    const struct md_ynode *a = md_ymap_get(st, "aggregator");
    fprintf(out, "  Contexts: %s (created %s, expired %s)\n  Context limit drops: %s\n"
                 "  Non-finite values refused: %s\n  Windows flushed: %s\n  Series flushed: %s\n"
                 "  Last flush: %s\n",
            val(a, "contexts"), val(a, "contexts_created"), val(a, "contexts_expired"),
            val(a, "context_limit_drops"), val(a, "nonfinite_drops"), val(a, "frames"),
            val(a, "series_flushed"), when(num(a, "last_flush"), t, sizeof t));
    fprintf(out, "  Reloads: %s (errors %s)\n", val(st, "reloads"), val(st, "reload_errors"));
}

/* Sum of a map's numbers (a ledger's reasons); each non-zero one listed under `title`. */
static double ledger_terms(FILE *out, const struct md_ynode *m, const char *title)
{
    double sum = 0;
    bool any = false;
    for (size_t i = 0; m && m->type == MD_Y_MAP && i < m->n; i++) {
        double v = m->items[i]->type == MD_Y_SCALAR ? strtod(m->items[i]->scalar, NULL) : 0;
        sum += v;
        if (v == 0)
            continue;
        if (!any)
            fprintf(out, "    %s:\n", title);
        any = true;
        fprintf(out, "      %-28s %15.0f\n", m->keys[i], v);
    }
    if (!any)
        fprintf(out, "    %-30s %15s\n", title, "none");
    return sum;
}

/* The totals line: the sum is done here, from the terms shown, not taken from the agent. */
static void ledger_total(FILE *out, double in, double accounted, const char *agent_says)
{
    fprintf(out, "    %-30s %15.0f\n", "Accounted for", accounted);
    if (in == accounted && strcmp(agent_says, "false") != 0)
        fprintf(out, "    Adds up: yes (%.0f in = %.0f accounted for)\n", in, accounted);
    else
        fprintf(out, "    Adds up: NO (%.0f in, %.0f accounted for, difference %.0f)\n", in,
                accounted, in - accounted);
}

static void ledger_intake(FILE *out, const struct md_ynode *l)
{
    fprintf(out, "\n  Intake (DogStatsD samples; a rejected line counts one)\n"
                 "  ======\n");
    fprintf(out, "    %-30s %15s\n    %-30s %15s\n    %-30s %15s\n", "Received", val(l, "received"),
            "Aggregated", val(l, "aggregated"), "In transit (intake rings)", val(l, "in_transit"));
    double acc = num(l, "aggregated") + num(l, "in_transit");
    acc += ledger_terms(out, md_ymap_get(l, "rejected"), "Rejected lines");
    acc += ledger_terms(out, md_ymap_get(l, "dropped"), "Dropped samples");
    ledger_total(out, num(l, "received"), acc, val(l, "balanced"));
    const struct md_ynode *dg = md_ymap_get(l, "datagrams");
    fprintf(out, "    Datagrams read: %s; dropped by the kernel (never read, so not in Received): %s\n",
            val(dg, "received"), val(dg, "kernel_drops"));
}

static void ledger_forwarder(FILE *out, const struct md_ynode *f)
{
    fprintf(out, "\n  Forwarder (items: series points, sketches, checks, events, per HTTP sink)\n"
                 "  =========\n");
    fprintf(out, "    %-30s %15s\n", "Series points flushed", val(f, "series_flushed"));
    if (!md_ymap_get(f, "handed")) {
        fprintf(out, "    No HTTP sink: nothing is forwarded.\n");
        return;
    }
    static const char *const rows[][2] = {
        {"handed", "Handed to the forwarder"}, {"recovered", "Recovered from the spool"},
        {"shipped", "Shipped"}, {"queued", "Queued in memory"}, {"inflight", "In flight"},
        {"on_disk", "Spooled on disk"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        fprintf(out, "    %-30s %15s\n", rows[i][1], val(f, rows[i][0]));
    double acc = num(f, "shipped") + num(f, "queued") + num(f, "inflight") + num(f, "on_disk");
    acc += ledger_terms(out, md_ymap_get(f, "dropped"), "Dropped items");
    ledger_total(out, num(f, "handed") + num(f, "recovered"), acc, val(f, "balanced"));
}

/*
 * The delivery ledger: one table per half, each with its sum worked out
 * from the lines printed, so a reader can see that nothing went missing
 * without a reason (the README's delivery section defines the identities).
 */
static void section_ledger(FILE *out, const struct md_ynode *st)
{
    const struct md_ynode *l = md_ymap_get(st, "ledger");
    if (!l || l->type != MD_Y_MAP)
        return; /* an older agent */
    banner(out, "Delivery ledger");
    ledger_intake(out, md_ymap_get(l, "intake"));
    ledger_forwarder(out, md_ymap_get(l, "forwarder"));
}

int md_status_text(const char *json, size_t len, FILE *out, char *err, size_t errlen)
{
    struct md_ynode *st = NULL;
    if (md_yaml_load_string("status", json, len, &st, err, errlen) < 0)
        return -1;
    if (st->type != MD_Y_MAP) {
        snprintf(err, errlen, "status: not a JSON object");
        md_ynode_free(st);
        return -1;
    }
    section_agent(out, st);
    section_checks(out, st);
    section_forwarder(out, st);
    section_dogstatsd(out, st);
    section_aggregator(out, st);
    section_ledger(out, st);
    md_ynode_free(st);
    return 0;
}
