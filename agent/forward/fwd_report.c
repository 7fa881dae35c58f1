/*
 * fwd_report.c: what the forwarder tells people: log lines, at most one per
 * reason a minute with a count of the ones held back (a flood of failing
 * payloads once wrote thousands of identical lines), URLs and backend
 * answers cleaned of anything secret, the counters as JSON for /status
 * and OpenMetrics for /metrics, and the ledger of where every item is.
 * The API key never goes through here: URLs lose their userinfo and
 * query, and header values a backend echoes back are blanked.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "fwd_int.h"
#include "log.h"

#define FWD_LOG_EVERY_MS 60000u

void fwd_log(struct md_forwarder *f, enum fwd_reason r, int level, const char *fmt, ...)
{
    struct fwd_ratelog *rl = &f->logs[r];
    uint64_t now = uv_now(f->loop);
    if (rl->last_ms && now - rl->last_ms < FWD_LOG_EVERY_MS) {
        rl->suppressed++;
        return;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (rl->suppressed)
        md_log((enum md_log_level)level, "%s (and %" PRIu64 " more like it in the last minute)",
               msg, rl->suppressed);
    else
        md_log((enum md_log_level)level, "%s", msg);
    rl->last_ms = now ? now : 1;
    rl->suppressed = 0;
}

/* scheme://host[:port]/path only: no userinfo, no query (either may carry a secret). */
void fwd_url_for_log(const char *url, char *out, size_t len)
{
    const char *p = url ? url : "";
    const char *host = strstr(p, "://");
    host = host ? host + 3 : p;
    const char *slash = host + strcspn(host, "/?#");
    const char *at = memchr(host, '@', (size_t)(slash - host));
    const char *end = p + strcspn(p, "?#");
    if (at)
        snprintf(out, len, "%.*s%.*s", (int)(host - p), p, (int)(end - at - 1), at + 1);
    else
        snprintf(out, len, "%.*s", (int)(end - p), p);
}

static bool fwd_header_is_secret(const char *h, size_t namelen)
{
    static const char *const words[] = {"key", "auth", "token", "secret", "cookie"};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        size_t wl = strlen(words[w]);
        for (size_t i = 0; i + wl <= namelen; i++)
            if (strncasecmp(h + i, words[w], wl) == 0)
                return true;
    }
    return false;
}

/* Blank out any secret header value a backend echoes back in its error text. */
static void fwd_scrub(const struct md_payload *p, char *s, size_t n)
{
    for (unsigned i = 0; i < p->nheaders; i++) {
        const char *h = p->headers[i];
        const char *colon = h ? strchr(h, ':') : NULL;
        if (!colon || !fwd_header_is_secret(h, (size_t)(colon - h)))
            continue;
        const char *v = colon + 1 + strspn(colon + 1, " \t");
        size_t vl = strlen(v);
        if (vl < 4)
            continue;
        for (char *q = memmem(s, n, v, vl); q; q = memmem(q, n - (size_t)(q - s), v, vl))
            memset(q, '*', vl);
    }
}

/* The response text, printable and on one line, for a log message. */
void fwd_resp_for_log(const struct fwd_item *it, char *out, size_t len)
{
    char tmp[FWD_RESP_KEEP];
    size_t n = it->resp_len;
    memcpy(tmp, it->resp, n);
    fwd_scrub(it->p, tmp, n);
    size_t show = n < FWD_LOG_BODY ? n : FWD_LOG_BODY;
    size_t j = 0;
    for (size_t i = 0; i < show && j + 1 < len; i++) {
        unsigned char c = (unsigned char)tmp[i];
        out[j++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    out[j] = '\0';
    if (n > show && j + 4 < len)
        strcpy(out + j, "...");
}

void fwd_stats_json(struct md_buf *b, const struct md_fwd_stats *s)
{
    md_buf_printf(b,
                  "\"payloads_in\":%" PRIu64 ",\"payloads_sent\":%" PRIu64 ",\"bytes_sent\":%" PRIu64 ",\"items_sent\":%" PRIu64
                  ",\"items_dropped\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"retries\":%" PRIu64
                  ",\"splits\":%" PRIu64 ",\"probes\":%" PRIu64 ",\"spooled\":%" PRIu64
                  ",\"dropped\":{\"rejected\":%" PRIu64 ",\"too_big\":%" PRIu64
                  ",\"queue_full\":%" PRIu64 ",\"shutdown\":%" PRIu64 ",\"invalid\":%" PRIu64
                  ",\"unconfigured\":%" PRIu64 "},"
                  "\"last_status\":%d,\"last_success\":%lld,\"last_attempt\":%lld",
                  s->payloads_in, s->payloads_sent, s->bytes_sent, s->items_sent, s->items_dropped, s->errors,
                  s->retries, s->splits, s->probes, s->spooled, s->dropped_rejected,
                  s->dropped_too_big, s->dropped_queue_full, s->dropped_shutdown,
                  s->dropped_invalid, s->dropped_unconfigured, s->last_status, (long long)s->last_success,
                  (long long)s->last_attempt);
}

void md_forwarder_ledger(const struct md_forwarder *f, struct md_fwd_ledger *l)
{
    memset(l, 0, sizeof *l);
    l->in_ = f->total.items_in;
    l->sent = f->total.items_sent;
    l->dropped = f->total.items_dropped;
    for (const struct fwd_item *it = f->qhead; it; it = it->next)
        l->queued += it->p->nitems;
    for (const struct fwd_item *it = f->inflight; it; it = it->next)
        l->inflight += it->p->nitems; /* probes carry none */
    if (f->spool) {
        struct md_spool_stats s;
        md_spool_stats(f->spool, &s);
        l->recovered = s.recovered_items;
        l->evicted = s.evicted_items;
        l->corrupt = s.corrupt_items;
        l->on_disk = md_spool_items_on_disk_only(f->spool);
    }
    l->balanced = l->in_ + l->recovered == l->sent + l->dropped + l->evicted + l->corrupt +
                                               l->queued + l->inflight + l->on_disk;
}

void md_forwarder_status_json(const struct md_forwarder *f, struct md_buf *b)
{
    static const char *const states[] = {"running", "draining", "closing", "closed"};
    md_buf_putc(b, '{');
    fwd_stats_json(b, &f->total);
    md_buf_printf(b, ",\"queue_bytes\":%zu,\"queue_max_bytes\":%zu,\"queue_payloads\":%zu,"
                  "\"inflight\":%u,\"state\":\"%s\",\"spool\":",
                  f->qbytes, f->o.retry_queue_max_bytes, f->qcount, f->ninflight, states[f->state]);
    if (f->spool)
        md_spool_status_json(f->spool, b);
    else
        md_buf_puts(b, "null");
    struct md_fwd_ledger l;
    md_forwarder_ledger(f, &l);
    md_buf_printf(b,
                  ",\"ledger\":{\"items_in\":%" PRIu64 ",\"recovered\":%" PRIu64 ",\"sent\":%" PRIu64
                  ",\"dropped\":%" PRIu64 ",\"evicted\":%" PRIu64 ",\"corrupt\":%" PRIu64
                  ",\"queued\":%" PRIu64 ",\"inflight\":%" PRIu64 ",\"on_disk\":%" PRIu64
                  ",\"balanced\":%s}",
                  l.in_, l.recovered, l.sent, l.dropped, l.evicted, l.corrupt, l.queued, l.inflight,
                  l.on_disk, l.balanced ? "true" : "false");
    md_buf_puts(b, ",\"sinks\":{");
    for (size_t i = 0; i < f->nsinks; i++) {
        const struct fwd_sink *sk = &f->sinks[i];
        if (i)
            md_buf_putc(b, ',');
        md_json_cstr(b, sk->name);
        md_buf_puts(b, ":{");
        fwd_stats_json(b, &sk->st);
        unsigned nerr = 0, inflight = 0;
        bool unreachable = false;
        md_buf_puts(b, ",\"endpoints\":{");
        for (size_t j = 0; j < sk->neps; j++) {
            const struct fwd_ep *ep = &sk->eps[j];
            nerr = ep->nerr > nerr ? ep->nerr : nerr;
            inflight += ep->inflight;
            unreachable = unreachable || ep->unreachable;
            md_buf_puts(b, j ? "," : "");
            md_json_cstr(b, ep->path);
            md_buf_printf(b, ":{\"consecutive_errors\":%u,\"inflight\":%u}", ep->nerr,
                          ep->inflight);
        }
        md_buf_printf(b, "},\"consecutive_errors\":%u,\"inflight\":%u,\"unreachable\":%s}", nerr,
                      inflight, unreachable ? "true" : "false");
    }
    md_buf_puts(b, "}}");
}

static void fwd_metric(struct md_buf *b, const char *name, const char *help, const char *type,
                       uint64_t v)
{
    md_buf_printf(b, "# TYPE %s %s\n# HELP %s %s\n%s%s %" PRIu64 "\n", name, type, name, help, name,
                  strcmp(type, "counter") == 0 ? "_total" : "", v);
}

void md_forwarder_metrics(const struct md_forwarder *f, struct md_buf *b)
{
    const struct md_fwd_stats *t = &f->total;
    fwd_metric(b, "meterd_forwarder_payloads_sent", "Payloads accepted by backends.", "counter",
               t->payloads_sent);
    fwd_metric(b, "meterd_forwarder_items_sent", "Series, checks and events in them.", "counter",
               t->items_sent);
    fwd_metric(b, "meterd_forwarder_errors", "Failed send attempts.", "counter", t->errors);
    fwd_metric(b, "meterd_forwarder_retries", "Payloads queued again after a failure.", "counter",
               t->retries);
    fwd_metric(b, "meterd_forwarder_splits", "Payloads cut in two after a 413.", "counter",
               t->splits);
    fwd_metric(b, "meterd_forwarder_spooled", "Payloads written to the disk spool.", "counter",
               t->spooled);
    md_buf_puts(b, "# TYPE meterd_forwarder_dropped counter\n"
                   "# HELP meterd_forwarder_dropped Payloads given up on, by reason.\n");
    const struct { const char *r; uint64_t v; } d[] = {
        {"rejected", t->dropped_rejected}, {"too_big", t->dropped_too_big},
        {"queue_full", t->dropped_queue_full}, {"shutdown", t->dropped_shutdown},
        {"invalid", t->dropped_invalid}, {"unconfigured", t->dropped_unconfigured},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
        md_buf_printf(b, "meterd_forwarder_dropped_total{reason=\"%s\"} %" PRIu64 "\n", d[i].r,
                      d[i].v);
    fwd_metric(b, "meterd_forwarder_items_dropped", "Series, checks and events in dropped payloads.",
               "counter", t->items_dropped);
    fwd_metric(b, "meterd_forwarder_queue_bytes", "Payload bytes waiting in memory.", "gauge",
               f->qbytes);
    if (!f->spool)
        return;
    struct md_spool_stats s;
    md_spool_stats(f->spool, &s);
    fwd_metric(b, "meterd_spool_files", "Payloads in the disk spool.", "gauge", s.files);
    fwd_metric(b, "meterd_spool_bytes", "Bytes in the disk spool.", "gauge", s.bytes);
    fwd_metric(b, "meterd_spool_evicted", "Spooled payloads deleted to make room (lost).", "counter",
               s.evicted);
    fwd_metric(b, "meterd_spool_corrupt", "Unreadable spool files deleted.", "counter", s.corrupt);
    fwd_metric(b, "meterd_spool_write_errors", "Spool writes that failed (disk full, I/O).",
               "counter", s.write_errors);
}
