/*
 * config.c: the agent's configuration, driven by one schema table.
 *
 * Every key is declared once in cfg_keys[] below with its type, where it
 * lives in struct md_config, its default (as text, run through the same
 * parser as a user's value, so a default can never be something the parser
 * would refuse), its bounds or choices, its Datadog environment names and a
 * description. The table drives defaults, YAML parsing and validation, the
 * METERD_<KEY> / DD_<KEY> environment overlay, --set, md_config_dump and the
 * shipped conf.d/meterd.yaml (md_config_write_template), so adding a key is
 * one struct field plus one table row. Errors name where the value came from
 * ("FILE:LINE: KEY: reason", "environment NAME: KEY: reason",
 * "--set KEY: reason") and never echo the API key.
 */
#include "meterd/config.h"

#include "yaml_tree.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum cfg_type { CT_BOOL, CT_INT, CT_STRING, CT_STRLIST, CT_ENUM, CT_SECRET, CT_SPECIAL };

enum {
    CF_POW2 = 1u << 0,     /* int: must be a power of two */
    CF_OCTAL = 1u << 1,    /* int: written in octal ("0660") */
    CF_FRACTION = 1u << 2, /* list items: a number in (0,1) */
    CF_PERCENT = 1u << 3,  /* list items: a number in (0,100] */
};

struct cfg_run;
struct cfg_key;

/* A key whose value is a structure of its own (only dogstatsd_mapper_profiles). */
struct cfg_special {
    int (*set)(struct cfg_run *r, const struct cfg_key *k, const struct md_ynode *n, int line);
    void (*dump)(FILE *out, const struct md_config *c);
    void (*free)(struct md_config *c);
};

/* Extra check of a string value: NULL when fine, else the reason. */
typedef const char *(*cfg_check_fn)(const char *v);

struct cfg_key {
    const char *name;
    enum cfg_type type;
    size_t off;                 /* of the field in struct md_config */
    const char *def;            /* default as text; lists space separated */
    long long min, max;         /* CT_INT bounds */
    const char *const *choices; /* CT_ENUM values (index = enum value), or allowed
                                   CT_STRING values / CT_STRLIST items */
    unsigned flags;
    cfg_check_fn check;
    const struct cfg_special *special;
    const char *alias;          /* an older name still accepted in files */
    const char *env[3];         /* Datadog names, first wins; METERD_<KEY> wins over all */
    const char *section;        /* starts a group in the shipped template */
    const char *doc;            /* lines separated by \n */
};

struct cfg_run {
    struct md_config *c;
    const char *file; /* applying the file */
    const char *env;  /* applying this environment variable */
    bool set;         /* applying --set */
    char *err;
    size_t errlen;
    const char *secrets[8]; /* texts never to appear in an error */
    size_t nsecrets;
};

/*
 * offsetof plus a compile-time check that the field has the C type the
 * table row claims: comparing pointers of different types is an error.
 */
#define CFG_OFF(m, ctype) \
    (offsetof(struct md_config, m) + 0 * sizeof(&((struct md_config *)0)->m == (ctype *)0))
#define O_BOOL(m) CFG_OFF(m, bool)
#define O_INT(m) CFG_OFF(m, int)
#define O_STR(m) CFG_OFF(m, char *)
#define O_LIST(m) CFG_OFF(m, struct md_strlist)
#define O_ENUM(m, etype) CFG_OFF(m, etype)

_Static_assert(sizeof(enum md_ring_policy) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(enum md_statsd_mode) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(enum md_dist_output) == sizeof(int), "enum fields are written as int");

/* Sinks that exist today; keep in step with the sink registry. */
static const char *const cfg_sink_names[] = {"console", "datadog", NULL};
static const char *const cfg_ring_policies[] = {"drop", "block", NULL};
static const char *const cfg_statsd_modes[] = {"dogstatsd", "etsy", NULL};
static const char *const cfg_dist_outputs[] = {"auto", "sketch", "series", NULL};
static const char *const cfg_eol_kinds[] = {"udp", "uds", NULL};
static const char *const cfg_aggregates[] = {"max", "min", "median", "avg", "sum", "count", NULL};
static const char *const cfg_log_levels[] = {"trace", "debug", "info", "warn", "warning",
                                             "error", "critical", "off", NULL};

static const char *cfg_check_site(const char *v);
static const char *cfg_check_url(const char *v);
static const char *cfg_check_host(const char *v);
static int cfg_mapper_set(struct cfg_run *r, const struct cfg_key *k, const struct md_ynode *n,
                          int line);
static void cfg_mapper_dump(FILE *out, const struct md_config *c);
static void cfg_mapper_free(struct md_config *c);

static const struct cfg_special cfg_mapper_special = {cfg_mapper_set, cfg_mapper_dump,
                                                      cfg_mapper_free};

#define NOLIM 0, 0

static const struct cfg_key cfg_keys[] = {
    /* identity and backend */
    {"api_key", CT_SECRET, O_STR(api_key), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DD_API_KEY"}, "Identity and backend",
     "Datadog API key; needed only by the datadog sink. Never logged or printed in\n"
     "full: configcheck shows only its last 4 characters."},
    {"site", CT_STRING, O_STR(site), "datadoghq.com", NOLIM, NULL, 0, cfg_check_site, NULL, NULL,
     {"DD_SITE"}, NULL,
     "Datadog site to ship to: datadoghq.com, datadoghq.eu, us3.datadoghq.com,\n"
     "us5.datadoghq.com, ap1.datadoghq.com or ddog-gov.com."},
    {"dd_url", CT_STRING, O_STR(dd_url), "", NOLIM, NULL, 0, cfg_check_url, NULL, NULL,
     {"DD_DD_URL", "DD_URL"}, NULL,
     "Metrics intake URL (http:// or https://); overrides site when set. Point it\n"
     "at any backend that speaks the Datadog series API (e.g. VictoriaMetrics)."},
    {"hostname", CT_STRING, O_STR(hostname), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DD_HOSTNAME"}, NULL, "Host name sent with every metric; empty = the system host name."},
    {"tags", CT_STRLIST, O_LIST(tags), "", NOLIM, NULL, 0, NULL, NULL, NULL, {"DD_TAGS"}, NULL,
     "Tags (\"key:value\") added to every metric."},
    {"sinks", CT_STRLIST, O_LIST(sinks), "", NOLIM, cfg_sink_names, 0, NULL, NULL, NULL, {0}, NULL,
     "Where flushed windows go: console, datadog. Empty = datadog when api_key\n"
     "or dd_url is set, else console (prints each window; no backend needed)."},

    /* dogstatsd intake */
    {"dogstatsd_port", CT_INT, O_INT(dogstatsd_port), "8125", 0, 65535, NULL, 0, NULL, NULL, NULL,
     {"DD_DOGSTATSD_PORT"}, "DogStatsD intake",
     "UDP port of the DogStatsD intake; 0 turns UDP off."},
    {"bind_host", CT_STRING, O_STR(bind_host), "127.0.0.1", NOLIM, NULL, 0, cfg_check_host, NULL,
     NULL, {"DD_BIND_HOST"}, NULL,
     "Address the UDP intake listens on (ignored when dogstatsd_non_local_traffic\n"
     "is true)."},
    {"dogstatsd_non_local_traffic", CT_BOOL, O_BOOL(dogstatsd_non_local_traffic), "false", NOLIM,
     NULL, 0, NULL, NULL, NULL, {"DD_DOGSTATSD_NON_LOCAL_TRAFFIC"}, NULL,
     "Listen on all interfaces (0.0.0.0); needed when other containers or hosts send\n"
     "metrics."},
    {"dogstatsd_socket", CT_STRING, O_STR(dogstatsd_socket), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DD_DOGSTATSD_SOCKET"}, NULL, "Path of a Unix datagram socket to listen on; empty = off."},
    {"dogstatsd_socket_mode", CT_INT, O_INT(dogstatsd_socket_mode), "0660", 0, 0777, NULL,
     CF_OCTAL, NULL, NULL, NULL, {0}, NULL,
     "Permissions of the socket file, as octal text (\"0660\")."},
    {"dogstatsd_buffer_size", CT_INT, O_INT(dogstatsd_buffer_size), "8192", 512, 1048576, NULL, 0,
     NULL, NULL, NULL, {"DD_DOGSTATSD_BUFFER_SIZE"}, NULL,
     "Largest datagram accepted, in bytes; longer ones are truncated and counted."},
    {"dogstatsd_so_rcvbuf", CT_INT, O_INT(dogstatsd_so_rcvbuf), "8388608", 0, 1073741824, NULL, 0,
     NULL, NULL, NULL, {"DD_DOGSTATSD_SO_RCVBUF"}, NULL,
     "SO_RCVBUF of the intake sockets in bytes: what holds datagrams while the intake is off "
     "the CPU. Past net.core.rmem_max it needs CAP_NET_ADMIN (else a warning names the sysctl); "
     "0 = the OS default (often 208 KiB)."},
    {"dogstatsd_pipeline_count", CT_INT, O_INT(dogstatsd_pipeline_count), "0", 0, 64, NULL, 0,
     NULL, NULL, NULL, {"DD_DOGSTATSD_PIPELINE_COUNT"}, NULL,
     "Intake threads (SO_REUSEPORT sockets); 0 = one per core the process may run on.\n"
     "With one, that thread also aggregates (no aggregator thread, no ring)."},
    {"dogstatsd_ring_size", CT_INT, O_INT(dogstatsd_ring_size), "16384", 1024, 16777216, NULL,
     CF_POW2, NULL, NULL, NULL, {0}, NULL,
     "Records per intake ring (a power of two; ~64 bytes each). Bursts are\n"
     "absorbed by the socket buffer (dogstatsd_so_rcvbuf) more cheaply."},
    {"dogstatsd_ring_full_policy", CT_ENUM, O_ENUM(dogstatsd_ring_full_policy,
                                                   enum md_ring_policy),
     "block", NOLIM, cfg_ring_policies, 0, NULL, NULL, NULL, {0}, NULL,
     "What an intake thread does when its ring is full: block (stop reading, so\n"
     "the socket buffer takes the burst; overflow there is counted as kernel\n"
     "drops) or drop (count ring_full_drops and keep reading)."},
    {"dogstatsd_context_limit", CT_INT, O_INT(dogstatsd_context_limit), "0", 0, INT_MAX, NULL, 0,
     NULL, NULL, NULL, {0}, NULL,
     "Most distinct contexts (name + tags + host) per window; 0 = unlimited."},
    {"dogstatsd_eol_required", CT_STRLIST, O_LIST(dogstatsd_eol_required), "", NOLIM,
     cfg_eol_kinds, 0, NULL, NULL, NULL, {"DD_DOGSTATSD_EOL_REQUIRED"}, NULL,
     "Transports (udp, uds) whose packets must end in a newline; an unterminated\n"
     "last line is dropped."},
    {"dogstatsd_tags", CT_STRLIST, O_LIST(dogstatsd_tags), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DD_DOGSTATSD_TAGS"}, NULL, "Tags added to every DogStatsD metric."},
    {"dogstatsd_origin_detection_client", CT_BOOL, O_BOOL(dogstatsd_origin_detection_client),
     "false", NOLIM, NULL, 0, NULL, NULL, NULL, {"DD_DOGSTATSD_ORIGIN_DETECTION_CLIENT"}, NULL,
     "Use the container id a client sends (|c:) to add container tags."},
    {"dogstatsd_no_aggregation_pipeline", CT_BOOL, O_BOOL(dogstatsd_no_aggregation_pipeline),
     "true", NOLIM, NULL, 0, NULL, NULL, NULL, {"DD_DOGSTATSD_NO_AGGREGATION_PIPELINE"}, NULL,
     "Ship metrics that carry their own timestamp (|T) without aggregating them."},
    {"dogstatsd_expiry_seconds", CT_INT, O_INT(dogstatsd_expiry_seconds), "300", 0, 86400, NULL, 0,
     NULL, NULL, NULL, {"DD_DOGSTATSD_EXPIRY_SECONDS"}, NULL,
     "Keep sending 0 for a counter this long after its last sample."},
    {"dogstatsd_context_expiry_seconds", CT_INT, O_INT(dogstatsd_context_expiry_seconds), "20", 0,
     86400, NULL, 0, NULL, NULL, NULL, {"DD_DOGSTATSD_CONTEXT_EXPIRY_SECONDS"}, NULL,
     "Forget a context this long after its last sample."},
    {"statsd_metric_namespace", CT_STRING, O_STR(statsd_metric_namespace), "", NOLIM, NULL, 0,
     NULL, NULL, NULL, {"DD_STATSD_METRIC_NAMESPACE"}, NULL,
     "Prefix added to every DogStatsD metric name (e.g. \"myapp.\")."},
    {"statsd_metric_namespace_blocklist", CT_STRLIST, O_LIST(statsd_metric_namespace_blocklist),
     "", NOLIM, NULL, 0, NULL, NULL, "statsd_metric_namespace_blacklist",
     {"DD_STATSD_METRIC_NAMESPACE_BLOCKLIST", "DD_STATSD_METRIC_NAMESPACE_BLACKLIST"}, NULL,
     "Metric name prefixes that do not get the namespace. The old name\n"
     "statsd_metric_namespace_blacklist is accepted too."},
    {"statsd_metric_blocklist", CT_STRLIST, O_LIST(statsd_metric_blocklist), "", NOLIM, NULL, 0,
     NULL, NULL, NULL, {"DD_STATSD_METRIC_BLOCKLIST"}, NULL,
     "Metric names dropped at intake."},
    {"statsd_mode", CT_ENUM, O_ENUM(statsd_mode, enum md_statsd_mode), "dogstatsd", NOLIM,
     cfg_statsd_modes, 0, NULL, NULL, NULL, {0}, NULL,
     "dogstatsd (Datadog semantics) or etsy (classic statsd: timers give\n"
     "percent_threshold percentiles, counters also give a rate)."},
    {"percent_threshold", CT_STRLIST, O_LIST(percent_threshold), "90", NOLIM, NULL, CF_PERCENT,
     NULL, NULL, NULL, {0}, NULL, "etsy mode: timer percentiles, each in (0,100]."},
    {"dogstatsd_mapper_profiles", CT_SPECIAL, CFG_OFF(dogstatsd_mapper_profiles,
                                                      struct md_mapper_profile *),
     "[]", NOLIM, NULL, 0, NULL, &cfg_mapper_special, NULL, {"DD_DOGSTATSD_MAPPER_PROFILES"}, NULL,
     "Rewrite metric names into name + tags. In the environment: a JSON list.\n"
     "  dogstatsd_mapper_profiles:\n"
     "    - name: airflow\n"
     "      prefix: \"airflow.\"\n"
     "      mappings:\n"
     "        - match: \"airflow.job.duration.*.*\"\n"
     "          match_type: wildcard\n"
     "          name: \"airflow.job.duration\"\n"
     "          tags:\n"
     "            job_type: \"$1\"\n"
     "Patterns use letters, digits, _ . - and * (one name segment); ** is not allowed."},

    /* aggregation */
    {"flush_interval", CT_INT, O_INT(flush_interval), "10", 1, 3600, NULL, 0, NULL, NULL, NULL,
     {0}, "Aggregation", "Length of an aggregation window, in seconds."},
    {"histogram_aggregates", CT_STRLIST, O_LIST(histogram_aggregates), "max median avg count",
     NOLIM, cfg_aggregates, 0, NULL, NULL, NULL, {"DD_HISTOGRAM_AGGREGATES"}, NULL,
     "Aggregates sent for histograms and timers: max min median avg sum count."},
    {"histogram_percentiles", CT_STRLIST, O_LIST(histogram_percentiles), "0.95", NOLIM, NULL,
     CF_FRACTION, NULL, NULL, NULL, {"DD_HISTOGRAM_PERCENTILES"}, NULL,
     "Percentiles sent for histograms and timers, each in (0,1)."},
    {"histogram_exact_samples", CT_INT, O_INT(histogram_exact_samples), "4096", 16, 10000000,
     NULL, 0, NULL, NULL, NULL, {0}, NULL,
     "Samples a histogram keeps per context and window for exact percentiles;\n"
     "past that it switches to a DDSketch (1% relative accuracy, bounded memory)."},
    {"distribution_output", CT_ENUM, O_ENUM(distribution_output, enum md_dist_output), "auto",
     NOLIM, cfg_dist_outputs, 0, NULL, NULL, NULL, {0}, NULL,
     "How distributions (|d) leave: sketch (DDSketch to /api/beta/sketches),\n"
     "series (.avg .count .max .min .median .95percentile, for backends without\n"
     "sketches) or auto (sketch for Datadog's own sites, series for any dd_url)."},

    /* forwarder */
    {"forwarder_timeout", CT_INT, O_INT(forwarder_timeout), "20", 1, 3600, NULL, 0, NULL, NULL,
     NULL, {"DD_FORWARDER_TIMEOUT"}, "Forwarder", "HTTP timeout for one request, in seconds."},
    {"skip_ssl_validation", CT_BOOL, O_BOOL(skip_ssl_validation), "false", NOLIM, NULL, 0, NULL,
     NULL, NULL, {"DD_SKIP_SSL_VALIDATION"}, NULL,
     "Do not verify the backend's TLS certificate. Only for tests."},

    /* status and logs */
    {"status_host", CT_STRING, O_STR(status_host), "127.0.0.1", NOLIM, NULL, 0, cfg_check_host,
     NULL, NULL, {0}, "Status and logs",
     "Address of the status server (/health, /status, /metrics)."},
    {"status_port", CT_INT, O_INT(status_port), "5555", 0, 65535, NULL, 0, NULL, NULL, NULL, {0},
     NULL, "TCP port of the status server; 0 = off."},
    {"log_level", CT_STRING, O_STR(log_level), "info", NOLIM, cfg_log_levels, 0, NULL, NULL, NULL,
     {"DD_LOG_LEVEL"}, NULL,
     "trace, debug, info, warn (warning), error, critical or off."},

    /* host collectors */
    {"procfs_path", CT_STRING, O_STR(procfs_path), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DD_PROCFS_PATH"}, "Host collectors",
     "Where the host's /proc is. Empty = $HOST_PROC, else /host/proc when running\n"
     "in a container that has it, else /proc."},
    {"sysfs_path", CT_STRING, O_STR(sysfs_path), "", NOLIM, NULL, 0, NULL, NULL, NULL, {0}, NULL,
     "Where the host's /sys is. Empty = $HOST_SYS, else /host/sys when running in a\n"
     "container that has it, else /sys."},
    {"confd_path", CT_STRING, O_STR(confd_path), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DD_CONFD_PATH"}, NULL,
     "Folder of the collector configs (<name>.d/conf.yaml). Empty = the folder\n"
     "holding this file."},
};

#define CFG_NKEYS (sizeof cfg_keys / sizeof cfg_keys[0])

/* ---- small helpers ---- */

static void *cfg_field(struct md_config *c, const struct cfg_key *k)
{
    return (char *)c + k->off;
}

static const void *cfg_cfield(const struct md_config *c, const struct cfg_key *k)
{
    return (const char *)c + k->off;
}

static void cfg_strlist_free(struct md_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Takes ownership of s (frees it on failure). */
static int cfg_strlist_push(struct md_strlist *l, char *s)
{
    char **v = s ? realloc(l->v, (l->n + 1) * sizeof *v) : NULL;
    if (!v) {
        free(s);
        return -ENOMEM;
    }
    l->v = v;
    l->v[l->n++] = s;
    return 0;
}

static const char *cfg_node_kind(const struct md_ynode *n)
{
    switch (n->type) {
    case MD_Y_MAP:
        return "a map";
    case MD_Y_SEQ:
        return "a list";
    case MD_Y_NULL:
        return "nothing";
    default:
        return "a single value";
    }
}

/* A value made safe to quote in an error: printable, bounded. */
static const char *cfg_quote(const char *s, char *buf, size_t len)
{
    size_t o = 0, max = len > 56 ? 48 : len / 2;
    buf[o++] = '"';
    for (size_t i = 0; s[i] && o + 5 < len; i++) {
        if (i == max) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        buf[o++] = isprint((unsigned char)s[i]) ? s[i] : '?';
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* Overwrite every occurrence of a known secret in the error with '*'. */
static void cfg_scrub(struct cfg_run *r)
{
    for (size_t i = 0; i < r->nsecrets; i++) {
        const char *s = r->secrets[i];
        size_t n = s ? strlen(s) : 0;
        if (n < 4)
            continue; /* too short to be a key; scrubbing would mangle the message */
        for (char *p = strstr(r->err, s); p; p = strstr(p + n, s))
            memset(p, '*', n);
    }
}

static int cfg_fail(struct cfg_run *r, int line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int cfg_fail(struct cfg_run *r, int line, const char *path, const char *fmt, ...)
{
    char where[512], reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (r->file)
        snprintf(where, sizeof where, "%s:%d", r->file, line);
    else if (r->env)
        snprintf(where, sizeof where, "environment %s", r->env);
    else if (r->set)
        snprintf(where, sizeof where, "--set");
    else
        snprintf(where, sizeof where, "default");
    if (path) /* "--set KEY: reason" reads as the command line did */
        snprintf(r->err, r->errlen, "%s%s %s: %s", where, r->set ? "" : ":", path, reason);
    else
        snprintf(r->err, r->errlen, "%s: %s", where, reason);
    cfg_scrub(r);
    return -EINVAL;
}

static int cfg_oom(struct cfg_run *r)
{
    snprintf(r->err, r->errlen, "out of memory while loading the configuration");
    return -ENOMEM;
}

static const char *cfg_type_name(const struct cfg_key *k)
{
    switch (k->type) {
    case CT_BOOL:
        return "boolean";
    case CT_INT:
        return "integer";
    case CT_STRLIST:
        return "list of strings";
    case CT_SPECIAL:
        return "list of mappings";
    default:
        return "string";
    }
}

static const char *cfg_expect_name(const struct cfg_key *k)
{
    switch (k->type) {
    case CT_BOOL:
        return "a boolean (true or false)";
    case CT_INT:
        return "an integer";
    case CT_STRLIST:
        return "a list of strings";
    case CT_SPECIAL:
        return "a list of mappings";
    default:
        return "a string";
    }
}

/* "a, b, c" for error messages. */
static void cfg_choices_text(const char *const *ch, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; ch[i] && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", ch[i]);
}

static int cfg_choice_index(const char *const *ch, const char *v)
{
    for (int i = 0; ch[i]; i++)
        if (strcasecmp(ch[i], v) == 0)
            return i;
    return -1;
}

/* Text with surrounding whitespace removed, copied into buf (env values may carry it). */
static const char *cfg_trim(const char *s, char *buf, size_t len)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= len)
        n = len - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

/* ---- per-type setters: validate into a temporary, then replace the field ---- */

static int cfg_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1", NULL};
    static const char *const no[] = {"false", "no", "off", "0", NULL};
    if (cfg_choice_index(yes, s) >= 0)
        *out = true;
    else if (cfg_choice_index(no, s) >= 0)
        *out = false;
    else
        return -1;
    return 0;
}

static int cfg_set_bool(struct cfg_run *r, const struct cfg_key *k, const char *text, int line)
{
    char t[64], q[64];
    bool v;
    if (cfg_parse_bool(cfg_trim(text, t, sizeof t), &v))
        return cfg_fail(r, line, k->name, "expected true or false, got %s",
                        cfg_quote(text, q, sizeof q));
    *(bool *)cfg_field(r->c, k) = v;
    return 0;
}

static int cfg_parse_int(const char *s, int base, long long *out)
{
    char *end;
    if (base == 8 && (strncmp(s, "0o", 2) == 0 || strncmp(s, "0O", 2) == 0))
        s += 2;
    if (!*s || (base == 8 && (*s == '-' || *s == '+')))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int cfg_set_int(struct cfg_run *r, const struct cfg_key *k, const char *text, int line)
{
    char t[64], q[64];
    long long v;
    bool octal = k->flags & CF_OCTAL;
    if (cfg_parse_int(cfg_trim(text, t, sizeof t), octal ? 8 : 10, &v))
        return cfg_fail(r, line, k->name, "expected %s, got %s",
                        octal ? "an octal number like \"0660\"" : "an integer",
                        cfg_quote(text, q, sizeof q));
    if (v < k->min || v > k->max) {
        if (octal)
            return cfg_fail(r, line, k->name, "0%llo is out of range (0%llo..0%llo)", v, k->min,
                            k->max);
        return cfg_fail(r, line, k->name, "%lld is out of range (%lld..%lld)", v, k->min, k->max);
    }
    if ((k->flags & CF_POW2) && (v & (v - 1)))
        return cfg_fail(r, line, k->name, "%lld is not a power of two", v);
    *(int *)cfg_field(r->c, k) = (int)v;
    return 0;
}

static int cfg_set_enum(struct cfg_run *r, const struct cfg_key *k, const char *text, int line)
{
    char t[64], q[64], ch[256];
    int i = cfg_choice_index(k->choices, cfg_trim(text, t, sizeof t));
    if (i < 0) {
        cfg_choices_text(k->choices, ch, sizeof ch);
        return cfg_fail(r, line, k->name, "expected one of %s; got %s", ch,
                        cfg_quote(text, q, sizeof q));
    }
    *(int *)cfg_field(r->c, k) = i;
    return 0;
}

static bool cfg_has_space_or_ctl(const char *s)
{
    for (; *s; s++)
        if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
            return true;
    return false;
}

static int cfg_set_string(struct cfg_run *r, const struct cfg_key *k, const char *text, int line)
{
    char q[64], ch[256];
    char *v = strdup(text);
    if (!v)
        return cfg_oom(r);
    if (k->type == CT_SECRET && cfg_has_space_or_ctl(v)) {
        free(v);
        /* The value is the secret: say what is wrong, never what it is. */
        return cfg_fail(r, line, k->name, "contains spaces or control characters");
    }
    if (k->choices) {
        int i = cfg_choice_index(k->choices, v);
        if (i < 0) {
            cfg_choices_text(k->choices, ch, sizeof ch);
            int rc = cfg_fail(r, line, k->name, "expected one of %s; got %s", ch,
                              cfg_quote(v, q, sizeof q));
            free(v);
            return rc;
        }
        strcpy(v, k->choices[i]); /* same length, canonical case */
    }
    const char *why = k->check && *v ? k->check(v) : NULL;
    if (why) {
        int rc = cfg_fail(r, line, k->name, "%s, got %s", why, cfg_quote(v, q, sizeof q));
        free(v);
        return rc;
    }
    char **field = cfg_field(r->c, k);
    free(*field);
    *field = v;
    return 0;
}

/* One list item, validated and normalised; *out is malloc'd. */
static int cfg_list_item(struct cfg_run *r, const struct cfg_key *k, const char *s, int line,
                         size_t idx, char **out)
{
    char path[128], q[64], ch[256];
    snprintf(path, sizeof path, "%s[%zu]", k->name, idx);
    if (!*s)
        return cfg_fail(r, line, path, "empty list item");
    if (k->choices) {
        int i = cfg_choice_index(k->choices, s);
        if (i < 0) {
            cfg_choices_text(k->choices, ch, sizeof ch);
            return cfg_fail(r, line, path, "expected one of %s; got %s", ch,
                            cfg_quote(s, q, sizeof q));
        }
        s = k->choices[i];
    }
    if (k->flags & (CF_FRACTION | CF_PERCENT)) {
        char *end, num[32];
        errno = 0;
        double d = strtod(s, &end);
        bool frac = k->flags & CF_FRACTION;
        bool ok = !errno && !*end && isfinite(d) && d > 0 && (frac ? d < 1 : d <= 100);
        if (!ok)
            return cfg_fail(r, line, path, "expected a number in %s, got %s",
                            frac ? "(0,1) like 0.95" : "(0,100] like 90",
                            cfg_quote(s, q, sizeof q));
        snprintf(num, sizeof num, "%.15g", d);
        s = num;
        *out = strdup(s);
        return *out ? 0 : cfg_oom(r);
    }
    *out = strdup(s);
    return *out ? 0 : cfg_oom(r);
}

/* Split on whitespace: a single scalar written where a list is expected, as Datadog does. */
static int cfg_split_words(struct cfg_run *r, const struct cfg_key *k, const char *s, int line,
                           struct md_strlist *nl)
{
    while (*s) {
        while (isspace((unsigned char)*s))
            s++;
        size_t n = 0;
        while (s[n] && !isspace((unsigned char)s[n]))
            n++;
        if (!n)
            break;
        char *word = strndup(s, n), *item = NULL;
        if (!word)
            return cfg_oom(r);
        int rc = cfg_list_item(r, k, word, line, nl->n, &item);
        free(word);
        if (rc)
            return rc;
        if (cfg_strlist_push(nl, item))
            return cfg_oom(r);
        s += n;
    }
    return 0;
}

static int cfg_set_strlist(struct cfg_run *r, const struct cfg_key *k, const struct md_ynode *n,
                           int line)
{
    struct md_strlist nl = {0};
    int rc = 0;
    if (n->type == MD_Y_SCALAR) {
        rc = cfg_split_words(r, k, n->scalar, line, &nl);
    } else if (n->type == MD_Y_SEQ) {
        for (size_t i = 0; i < n->n && !rc; i++) {
            const struct md_ynode *it = n->items[i];
            int iline = it->line;
            char path[128], *item = NULL;
            snprintf(path, sizeof path, "%s[%zu]", k->name, i);
            if (it->type == MD_Y_NULL)
                rc = cfg_fail(r, iline, path, "empty list item");
            else if (it->type != MD_Y_SCALAR)
                rc = cfg_fail(r, iline, path, "expected a string, got %s", cfg_node_kind(it));
            else if (!(rc = cfg_list_item(r, k, it->scalar, iline, i, &item)))
                rc = cfg_strlist_push(&nl, item) ? cfg_oom(r) : 0;
        }
    } else {
        rc = cfg_fail(r, line, k->name, "expected a list of strings, got %s", cfg_node_kind(n));
    }
    if (rc) {
        cfg_strlist_free(&nl);
        return rc;
    }
    struct md_strlist *field = cfg_field(r->c, k);
    cfg_strlist_free(field);
    *field = nl;
    return 0;
}

/* Apply a parsed value to key k. A null value (`key:` with nothing) keeps what was there. */
static int cfg_set_node(struct cfg_run *r, const struct cfg_key *k, const struct md_ynode *n,
                        int line)
{
    if (n->type == MD_Y_NULL)
        return 0;
    if (k->type == CT_STRLIST)
        return cfg_set_strlist(r, k, n, line);
    if (k->type == CT_SPECIAL)
        return k->special->set(r, k, n, line);
    if (n->type != MD_Y_SCALAR)
        return cfg_fail(r, line, k->name, "expected %s, got %s", cfg_expect_name(k),
                        cfg_node_kind(n));
    switch (k->type) {
    case CT_BOOL:
        return cfg_set_bool(r, k, n->scalar, line);
    case CT_INT:
        return cfg_set_int(r, k, n->scalar, line);
    case CT_ENUM:
        return cfg_set_enum(r, k, n->scalar, line);
    default:
        return cfg_set_string(r, k, n->scalar, line);
    }
}

/*
 * Apply a value given as text (defaults, environment, --set). Lists are
 * space separated or a JSON/YAML flow list ("[a, b]"); the mapper
 * profiles are JSON. Both go through the YAML loader, JSON being YAML.
 */
static int cfg_set_text(struct cfg_run *r, const struct cfg_key *k, const char *text)
{
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    bool structured = k->type == CT_SPECIAL || (k->type == CT_STRLIST && *p == '[');
    if (!structured) {
        struct md_ynode n = {.type = MD_Y_SCALAR, .scalar = (char *)text, .quoted = true};
        return cfg_set_node(r, k, &n, 0);
    }
    struct md_ynode *root = NULL;
    char yerr[256];
    int rc = md_yaml_load_string("value", p, strlen(p), &root, yerr, sizeof yerr);
    if (rc == -ENOMEM)
        return cfg_oom(r);
    if (rc)
        return cfg_fail(r, 0, k->name, "cannot parse %s: %s",
                        k->type == CT_SPECIAL ? "the JSON list" : "the list", yerr);
    if (root->type == MD_Y_NULL) /* "" for a structured key: empty */
        root->type = MD_Y_SEQ;
    rc = cfg_set_node(r, k, root, 0);
    md_ynode_free(root);
    return rc;
}

/* ---- string checks ---- */

static const char *cfg_check_site(const char *v)
{
    if (strstr(v, "://") || strchr(v, '/'))
        return "expected a domain like datadoghq.eu, not a URL";
    if (cfg_has_space_or_ctl(v))
        return "expected a domain without spaces";
    return NULL;
}

static const char *cfg_check_url(const char *v)
{
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
        return "expected a URL starting with http:// or https://";
    if (cfg_has_space_or_ctl(v))
        return "expected a URL without spaces";
    return NULL;
}

static const char *cfg_check_host(const char *v)
{
    return cfg_has_space_or_ctl(v) ? "expected an address without spaces" : NULL;
}

/* ---- dogstatsd_mapper_profiles ---- */

static void cfg_mapping_free(struct md_mapper_mapping *m)
{
    free(m->match);
    free(m->match_type);
    free(m->name);
    cfg_strlist_free(&m->tags);
}

static void cfg_profiles_free(struct md_mapper_profile *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < p[i].nmappings; j++)
            cfg_mapping_free(&p[i].mappings[j]);
        free(p[i].mappings);
        free(p[i].name);
        free(p[i].prefix);
    }
    free(p);
}

static void cfg_mapper_free(struct md_config *c)
{
    cfg_profiles_free(c->dogstatsd_mapper_profiles, c->n_mapper_profiles);
    c->dogstatsd_mapper_profiles = NULL;
    c->n_mapper_profiles = 0;
}

/* A scalar field of a profile or mapping: *out becomes a malloc'd copy. */
static int cfg_map_string(struct cfg_run *r, const struct md_ynode *v, int line, const char *path,
                          char **out)
{
    if (v->type != MD_Y_SCALAR)
        return cfg_fail(r, line, path, "expected a string, got %s",
                        cfg_node_kind(v));
    free(*out);
    *out = strdup(v->scalar);
    return *out ? 0 : cfg_oom(r);
}

/* Wildcard patterns as Datadog's mapper accepts them. */
static const char *cfg_check_wildcard(const char *p)
{
    if (!*p)
        return "empty pattern";
    for (const char *s = p; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.*-", *s))
            return "only letters, digits, _ . - and * are allowed";
    if (strstr(p, "**"))
        return "** is not allowed";
    return NULL;
}

static int cfg_mapping_tags(struct cfg_run *r, const struct md_ynode *v, int line,
                            const char *path, struct md_strlist *tags)
{
    char tpath[256];
    if (v->type != MD_Y_MAP)
        return cfg_fail(r, line, path, "expected a map of tag: value, got %s",
                        cfg_node_kind(v));
    cfg_strlist_free(tags);
    for (size_t i = 0; i < v->n; i++) {
        const struct md_ynode *t = v->items[i];
        snprintf(tpath, sizeof tpath, "%.150s.%.64s", path, v->keys[i]);
        if (t->type != MD_Y_SCALAR)
            return cfg_fail(r, v->key_lines[i], tpath, "expected a string, got %s",
                            cfg_node_kind(t));
        char *kv = NULL;
        if (asprintf(&kv, "%s:%s", v->keys[i], t->scalar) < 0 || cfg_strlist_push(tags, kv))
            return cfg_oom(r);
    }
    return 0;
}

static int cfg_mapping(struct cfg_run *r, const struct md_ynode *n, const char *ppath,
                       struct md_mapper_mapping *m)
{
    char path[160], kpath[256], q[64];
    snprintf(path, sizeof path, "%.150s", ppath);
    if (n->type != MD_Y_MAP)
        return cfg_fail(r, n->line, path, "expected a map, got %s",
                        cfg_node_kind(n));
    int rc = 0;
    for (size_t i = 0; i < n->n && !rc; i++) {
        const char *key = n->keys[i];
        const struct md_ynode *v = n->items[i];
        int line = n->key_lines[i];
        snprintf(kpath, sizeof kpath, "%.150s.%.64s", path, key);
        if (strcmp(key, "match") == 0)
            rc = cfg_map_string(r, v, line, kpath, &m->match);
        else if (strcmp(key, "match_type") == 0)
            rc = cfg_map_string(r, v, line, kpath, &m->match_type);
        else if (strcmp(key, "name") == 0)
            rc = cfg_map_string(r, v, line, kpath, &m->name);
        else if (strcmp(key, "tags") == 0)
            rc = cfg_mapping_tags(r, v, line, kpath, &m->tags);
        else
            rc = cfg_fail(r, line, kpath,
                          "unknown key (expected match, match_type, name, tags)");
        if (rc)
            return rc;
        if (strcmp(key, "match_type") == 0 && strcmp(m->match_type, "wildcard") != 0 &&
            strcmp(m->match_type, "regex") != 0)
            return cfg_fail(r, line, kpath, "expected wildcard or regex");
    }
    int line = n->line;
    if (!m->match)
        return cfg_fail(r, line, path, "match is required");
    if (!m->name || !*m->name)
        return cfg_fail(r, line, path, "name is required");
    if (!m->match_type && !(m->match_type = strdup("wildcard")))
        return cfg_oom(r);
    /* Regular expressions are compiled (and rejected) by the mapper itself. */
    const char *why = strcmp(m->match_type, "regex") == 0 ? NULL : cfg_check_wildcard(m->match);
    if (why) {
        snprintf(kpath, sizeof kpath, "%.150s.match", path);
        return cfg_fail(r, line, kpath, "%s: %s", why, cfg_quote(m->match, q, sizeof q));
    }
    return 0;
}

static int cfg_mappings(struct cfg_run *r, const struct md_ynode *v, int line, const char *path,
                        struct md_mapper_profile *p)
{
    char mpath[160];
    if (v->type != MD_Y_SEQ)
        return cfg_fail(r, line, path, "expected a list of mappings, got %s",
                        cfg_node_kind(v));
    if (p->mappings)
        return cfg_fail(r, line, path, "given twice");
    p->mappings = calloc(v->n ? v->n : 1, sizeof *p->mappings);
    if (!p->mappings)
        return cfg_oom(r);
    for (size_t i = 0; i < v->n; i++) {
        snprintf(mpath, sizeof mpath, "%.120s[%zu]", path, i);
        p->nmappings++; /* counted first so a half-filled mapping is freed too */
        int rc = cfg_mapping(r, v->items[i], mpath, &p->mappings[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int cfg_profile(struct cfg_run *r, const struct md_ynode *n, size_t idx,
                       struct md_mapper_profile *p)
{
    char path[96], kpath[192];
    snprintf(path, sizeof path, "dogstatsd_mapper_profiles[%zu]", idx);
    if (n->type != MD_Y_MAP)
        return cfg_fail(r, n->line, path, "expected a map, got %s",
                        cfg_node_kind(n));
    bool have_mappings = false;
    for (size_t i = 0; i < n->n; i++) {
        const char *key = n->keys[i];
        int line = n->key_lines[i], rc;
        snprintf(kpath, sizeof kpath, "%.90s.%.64s", path, key);
        if (strcmp(key, "name") == 0)
            rc = cfg_map_string(r, n->items[i], line, kpath, &p->name);
        else if (strcmp(key, "prefix") == 0)
            rc = cfg_map_string(r, n->items[i], line, kpath, &p->prefix);
        else if (strcmp(key, "mappings") == 0) {
            have_mappings = true;
            rc = cfg_mappings(r, n->items[i], line, kpath, p);
        } else
            rc = cfg_fail(r, line, kpath,
                          "unknown key (expected name, prefix, mappings)");
        if (rc)
            return rc;
    }
    int line = n->line;
    if (!p->name || !*p->name)
        return cfg_fail(r, line, path, "name is required");
    if (!p->prefix || !*p->prefix)
        return cfg_fail(r, line, path, "prefix is required");
    if (!have_mappings)
        return cfg_fail(r, line, path, "mappings is required");
    return 0;
}

static int cfg_mapper_set(struct cfg_run *r, const struct cfg_key *k, const struct md_ynode *n,
                          int line)
{
    if (n->type != MD_Y_SEQ)
        return cfg_fail(r, line, k->name, "expected a list of profiles, got %s",
                        cfg_node_kind(n));
    struct md_mapper_profile *p = calloc(n->n ? n->n : 1, sizeof *p);
    if (!p)
        return cfg_oom(r);
    for (size_t i = 0; i < n->n; i++) {
        int rc = cfg_profile(r, n->items[i], i, &p[i]);
        if (rc) {
            cfg_profiles_free(p, i + 1);
            return rc;
        }
    }
    cfg_mapper_free(r->c);
    if (n->n) {
        r->c->dogstatsd_mapper_profiles = p;
        r->c->n_mapper_profiles = n->n;
    } else {
        free(p);
    }
    return 0;
}

/* ---- output ---- */

/* A YAML double-quoted string. */
static void cfg_put_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(out, "\\x%02x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static void cfg_put_strlist(FILE *out, const struct md_strlist *l)
{
    fputc('[', out);
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            fputs(", ", out);
        cfg_put_str(out, l->v[i]);
    }
    fputc(']', out);
}

static void cfg_mapper_dump(FILE *out, const struct md_config *c)
{
    if (!c->n_mapper_profiles) {
        fputs(" []\n", out);
        return;
    }
    fputc('\n', out);
    for (size_t i = 0; i < c->n_mapper_profiles; i++) {
        const struct md_mapper_profile *p = &c->dogstatsd_mapper_profiles[i];
        fputs("  - name: ", out);
        cfg_put_str(out, p->name);
        fputs("\n    prefix: ", out);
        cfg_put_str(out, p->prefix);
        fputs("\n    mappings:", out);
        fputs(p->nmappings ? "\n" : " []\n", out);
        for (size_t j = 0; j < p->nmappings; j++) {
            const struct md_mapper_mapping *m = &p->mappings[j];
            fputs("      - match: ", out);
            cfg_put_str(out, m->match);
            fputs("\n        match_type: ", out);
            cfg_put_str(out, m->match_type);
            fputs("\n        name: ", out);
            cfg_put_str(out, m->name);
            fputs("\n        tags: {", out);
            for (size_t t = 0; t < m->tags.n; t++) {
                const char *kv = m->tags.v[t], *colon = strchr(kv, ':');
                char *key = strndup(kv, (size_t)(colon - kv));
                fputs(t ? ", " : "", out);
                cfg_put_str(out, key ? key : "");
                fputs(": ", out);
                cfg_put_str(out, colon + 1);
                free(key);
            }
            fputs("}\n", out);
        }
    }
}

/* " value\n" for key k, as it should appear after "key:". */
static void cfg_put_value(FILE *out, const struct cfg_key *k, const struct md_config *c)
{
    const void *f = cfg_cfield(c, k);
    char red[64];
    if (k->type == CT_SPECIAL) {
        k->special->dump(out, c);
        return;
    }
    fputc(' ', out);
    switch (k->type) {
    case CT_BOOL:
        fputs(*(const bool *)f ? "true" : "false", out);
        break;
    case CT_INT:
        fprintf(out, (k->flags & CF_OCTAL) ? "\"0%o\"" : "%d", *(const int *)f);
        break;
    case CT_ENUM:
        fputs(k->choices[*(const int *)f], out);
        break;
    case CT_STRLIST:
        cfg_put_strlist(out, f);
        break;
    case CT_SECRET:
        cfg_put_str(out, md_config_redact(*(char *const *)f, red, sizeof red));
        break;
    default:
        cfg_put_str(out, *(char *const *)f ? *(char *const *)f : "");
        break;
    }
    fputc('\n', out);
}

void md_config_dump(const struct md_config *c, FILE *out)
{
    fputs("# meterd effective configuration (defaults < file < environment < --set)\n", out);
    fputs("# config_file: ", out);
    cfg_put_str(out, c->config_file ? c->config_file : "");
    fputc('\n', out);
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        fputs(cfg_keys[i].name, out);
        fputc(':', out);
        cfg_put_value(out, &cfg_keys[i], c);
    }
}

const char *md_config_redact(const char *secret, char *buf, size_t len)
{
    static const char stars[] = "***************";
    size_t n = secret ? strlen(secret) : 0;
    if (!len)
        return buf;
    if (n == 0)
        buf[0] = '\0';
    else if (n < 8) /* the last 4 of a short key would be most of it */
        snprintf(buf, len, "%s", stars);
    else
        snprintf(buf, len, "%s%s", stars, secret + n - 4);
    return buf;
}

/* The shipped conf.d/meterd.yaml: every key commented out with its default. */
void md_config_write_template(FILE *out)
{
    struct md_config d;
    md_config_defaults(&d);
    fputs("## meterd main configuration.\n"
          "##\n"
          "## Every key is optional and shown commented out with its default. With none\n"
          "## set, meterd listens for DogStatsD on 127.0.0.1:8125 and prints every\n"
          "## flushed window with the console sink: no backend is needed.\n"
          "## Set api_key (or dd_url) to ship to Datadog or a compatible backend.\n"
          "##\n"
          "## Precedence: defaults < this file < environment < `meterd --set key=value`.\n"
          "## Every key can be set as METERD_<KEY> (e.g. METERD_DOGSTATSD_PORT=8125); the\n"
          "## Datadog names listed with @env are accepted too, METERD_ wins over DD_.\n"
          "## In the environment, lists are space separated or a JSON array.\n"
          "## A key written with no value keeps its default.\n"
          "## This file is generated from the schema table in agent/config/config.c\n"
          "## (`meterd configcheck --template`); a unit test keeps them in sync.\n",
          out);
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (k->section)
            fprintf(out, "\n######## %s ########\n", k->section);
        fprintf(out, "\n## @param %s - %s - optional - default:", k->name, cfg_type_name(k));
        cfg_put_value(out, k, &d);
        fputs("## @env METERD_", out);
        for (const char *s = k->name; *s; s++)
            fputc(toupper((unsigned char)*s), out);
        for (size_t e = 0; e < 3 && k->env[e]; e++)
            fprintf(out, ", %s", k->env[e]);
        fputc('\n', out);
        for (const char *s = k->doc; *s;) {
            size_t n = strcspn(s, "\n");
            fprintf(out, "## %.*s\n", (int)n, s);
            s += n + (s[n] == '\n');
        }
        fprintf(out, "#\n# %s:", k->name);
        cfg_put_value(out, k, &d);
    }
    md_config_free(&d);
}

/* ---- loading ---- */

static const struct cfg_key *cfg_find(const char *name, bool *via_alias)
{
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        if (strcmp(cfg_keys[i].name, name) == 0) {
            *via_alias = false;
            return &cfg_keys[i];
        }
        if (cfg_keys[i].alias && strcmp(cfg_keys[i].alias, name) == 0) {
            *via_alias = true;
            return &cfg_keys[i];
        }
    }
    return NULL;
}

/* Edit distance, for "did you mean"; names are short so O(n*m) is fine. */
static size_t cfg_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int cfg_unknown(struct cfg_run *r, int line, const char *name)
{
    size_t best = SIZE_MAX;
    const char *hint = NULL;
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        size_t d = cfg_distance(name, cfg_keys[i].name);
        if (d < best) {
            best = d;
            hint = cfg_keys[i].name;
        }
    }
    if (hint && best <= 3 && best < strlen(name))
        return cfg_fail(r, line, name, "unknown key (did you mean %s?)", hint);
    return cfg_fail(r, line, name, "unknown key");
}

static int cfg_apply_defaults(struct cfg_run *r)
{
    memset(r->c, 0, sizeof *r->c);
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        int rc = cfg_set_text(r, &cfg_keys[i], cfg_keys[i].def);
        if (rc)
            return rc;
    }
    return 0;
}

void md_config_defaults(struct md_config *c)
{
    char err[256];
    struct cfg_run r = {.c = c, .err = err, .errlen = sizeof err};
    /* Defaults are checked by the unit tests; only memory can fail here. */
    (void)cfg_apply_defaults(&r);
}

static int cfg_apply_file(struct cfg_run *r, const struct md_ynode *root)
{
    if (root->type == MD_Y_NULL)
        return 0;
    if (root->type != MD_Y_MAP)
        return cfg_fail(r, root->line, NULL,
                        "the top level must be a map of key: value, got %s",
                        cfg_node_kind(root));
    for (size_t i = 0; i < root->n; i++) {
        bool alias;
        const struct cfg_key *k = cfg_find(root->keys[i], &alias);
        int line = root->key_lines[i], rc;
        if (!k)
            return cfg_unknown(r, line, root->keys[i]);
        if (alias && md_ymap_get(root, k->name))
            return cfg_fail(r, line, root->keys[i], "old name of %s, which is set too; keep one",
                            k->name);
        if ((rc = cfg_set_node(r, k, root->items[i], line)))
            return rc;
    }
    return 0;
}

/* METERD_<KEY>, else the first Datadog name set. Empty counts as unset, as in Datadog. */
static const char *cfg_env_value(const struct cfg_key *k, char *name, size_t len,
                                 const char **which)
{
    size_t o = (size_t)snprintf(name, len, "METERD_");
    for (const char *s = k->name; *s && o + 1 < len; s++)
        name[o++] = (char)toupper((unsigned char)*s);
    name[o] = '\0';
    const char *v = getenv(name);
    *which = name;
    for (size_t e = 0; (!v || !*v) && e < 3 && k->env[e]; e++) {
        v = getenv(k->env[e]);
        *which = k->env[e];
    }
    return v && *v ? v : NULL;
}

static int cfg_apply_env(struct cfg_run *r)
{
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        char name[96];
        const char *which;
        const char *v = cfg_env_value(&cfg_keys[i], name, sizeof name, &which);
        if (!v)
            continue;
        r->env = which;
        int rc = cfg_set_text(r, &cfg_keys[i], v);
        r->env = NULL;
        if (rc)
            return rc;
    }
    return 0;
}

static int cfg_apply_sets(struct cfg_run *r, char *const *sets, size_t nsets)
{
    r->set = true;
    for (size_t i = 0; i < nsets; i++) {
        const char *eq = strchr(sets[i], '=');
        char key[128];
        bool alias;
        snprintf(key, sizeof key, "%.*s", eq ? (int)(eq - sets[i]) : (int)strlen(sets[i]),
                 sets[i]);
        if (!eq)
            return cfg_fail(r, 0, key, "expected key=value");
        const struct cfg_key *k = cfg_find(key, &alias);
        if (!k)
            return cfg_unknown(r, 0, key);
        int rc = cfg_set_text(r, k, eq + 1);
        if (rc)
            return rc;
    }
    r->set = false;
    return 0;
}

static bool cfg_is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Docker, podman, Kubernetes, ECS and systemd-nspawn each leave one of these. */
static bool cfg_in_container(void)
{
    return access("/.dockerenv", F_OK) == 0 || access("/run/.containerenv", F_OK) == 0 ||
           getenv("KUBERNETES_SERVICE_HOST") || getenv("ECS_CONTAINER_METADATA_URI_V4") ||
           getenv("ECS_CONTAINER_METADATA_URI") || getenv("container");
}

static int cfg_auto_path(char **field, const char *envname, const char *host_path,
                         const char *plain)
{
    if (*field && **field)
        return 0;
    const char *e = getenv(envname);
    const char *v = e && *e ? e : (cfg_in_container() && cfg_is_dir(host_path)) ? host_path : plain;
    char *dup = strdup(v);
    if (!dup)
        return -ENOMEM;
    free(*field);
    *field = dup;
    return 0;
}

/* Fill what "empty" means for the paths, now that every layer has spoken. */
static int cfg_resolve(struct cfg_run *r, const char *file)
{
    struct md_config *c = r->c;
    if (cfg_auto_path(&c->procfs_path, "HOST_PROC", "/host/proc", "/proc") ||
        cfg_auto_path(&c->sysfs_path, "HOST_SYS", "/host/sys", "/sys"))
        return cfg_oom(r);
    if (!*c->confd_path) {
        const char *slash = file ? strrchr(file, '/') : NULL;
        char *dir = !file ? strdup("conf.d")
                    : !slash ? strdup(".")
                    : strndup(file, slash == file ? 1 : (size_t)(slash - file));
        if (!dir)
            return cfg_oom(r);
        free(c->confd_path);
        c->confd_path = dir;
    }
    return 0;
}

/* Texts that must never appear in an error: every api_key candidate from every layer. */
static void cfg_collect_secrets(struct cfg_run *r, const struct md_ynode *root,
                                char *const *sets, size_t nsets)
{
    const size_t cap = sizeof r->secrets / sizeof r->secrets[0];
    const struct md_ynode *n = md_ymap_get(root, "api_key");
    if (n && n->type == MD_Y_SCALAR)
        r->secrets[r->nsecrets++] = n->scalar;
    r->secrets[r->nsecrets++] = getenv("METERD_API_KEY");
    r->secrets[r->nsecrets++] = getenv("DD_API_KEY");
    for (size_t i = 0; i < nsets && r->nsecrets < cap; i++)
        if (strncmp(sets[i], "api_key=", 8) == 0)
            r->secrets[r->nsecrets++] = sets[i] + 8;
}

int md_config_load(struct md_config *c, const char *file, char *const *sets, size_t nsets,
                   char *err, size_t errlen)
{
    char dummy[8];
    struct cfg_run r = {.c = c, .err = err && errlen ? err : dummy,
                        .errlen = err && errlen ? errlen : sizeof dummy};
    struct md_ynode *root = NULL;
    r.err[0] = '\0';
    int rc = cfg_apply_defaults(&r);
    if (!rc && file)
        rc = md_yaml_load_file(file, &root, r.err, r.errlen);
    if (rc)
        return rc;
    if (!(c->config_file = strdup(file ? file : ""))) {
        md_ynode_free(root);
        return cfg_oom(&r);
    }
    cfg_collect_secrets(&r, root, sets, nsets);
    r.file = file;
    rc = root ? cfg_apply_file(&r, root) : 0;
    r.file = NULL;
    if (!rc)
        rc = cfg_apply_env(&r);
    if (!rc)
        rc = cfg_apply_sets(&r, sets, nsets);
    if (!rc)
        rc = cfg_resolve(&r, file);
    md_ynode_free(root);
    return rc;
}

void md_config_free(struct md_config *c)
{
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        void *f = cfg_field(c, k);
        if (k->type == CT_STRING || k->type == CT_SECRET) {
            free(*(char **)f);
        } else if (k->type == CT_STRLIST) {
            cfg_strlist_free(f);
        } else if (k->type == CT_SPECIAL) {
            k->special->free(c);
        }
    }
    free(c->config_file);
    memset(c, 0, sizeof *c);
}
