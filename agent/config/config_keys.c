/*
 * config_keys.c: the agent's own keys, one row each (see meterd/options.h
 * for the columns). A row gives the key's type, its field in struct
 * md_config, its default as text, bounds or choices, Datadog environment
 * names and the text of the shipped template; the engine (opt.c) does the
 * rest, so adding a key is one struct field plus one row here. Sinks
 * declare their own keys in their own files.
 */
#include <limits.h>

#include "config_int.h"
#include "histogram.h"

#define CFG_OFF(m, ctype) MD_OPT_OFF(struct md_config, m, ctype)
#define O_BOOL(m) CFG_OFF(m, bool)
#define O_INT(m) CFG_OFF(m, int)
#define O_STR(m) CFG_OFF(m, char *)
#define O_LIST(m) CFG_OFF(m, struct md_strlist)
#define O_NUMS(m) CFG_OFF(m, struct md_numlist)
#define O_FLAGS(m) CFG_OFF(m, unsigned)
#define O_ENUM(m, etype) CFG_OFF(m, etype)
#define NOLIM 0, 0

_Static_assert(sizeof(enum md_ring_policy) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(enum md_statsd_mode) == sizeof(int), "enum fields are written as int");
_Static_assert(MD_NUMLIST_MAX <= MD_HIST_MAX_PERCENTILES, "percentiles fit the histogram");

/* Sinks that exist today; keep in step with the sink registry (a unit test checks). */
static const char *const cfg_sink_names[] = {"console", "datadog", NULL};
static const char *const cfg_ring_policies[] = {"drop", "block", NULL};
static const char *const cfg_statsd_modes[] = {"dogstatsd", "etsy", NULL};
/* Bit i is MD_EOL_* in the order of this list. */
static const char *const cfg_eol_kinds[] = {"udp", "uds", NULL};
/* Bit i is MD_HAGG_* (aggregate/histogram.h) in the order of this list. */
static const char *const cfg_aggregates[] = {"max", "min", "median", "avg", "sum", "count", NULL};
static const char *const cfg_log_levels[] = {"trace", "debug", "info", "warn", "warning",
                                             "error", "critical", "off", NULL};

_Static_assert(MD_HAGG_COUNT == 1 << 5 && MD_HAGG_MEDIAN == 1 << 2, "cfg_aggregates order");

static const char *cfg_check_fraction(double v)
{
    return v > 0 && v < 1 ? NULL : "expected a number in (0,1) like 0.95";
}

/* etsy's own rule (lib/process_metrics.js): 0 would give an empty `lower_0`. */
static const char *cfg_check_threshold(double v)
{
    return v != 0 && v >= -100 && v <= 100 ? NULL
                                           : "expected a non-zero number from -100 to 100 like 90";
}

const struct md_opt md_config_keys[] = {
    /* identity and output */
    {"hostname", MD_OPT_STRING, O_STR(hostname), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DD_HOSTNAME"}, "Identity and output", "Host name sent with every metric; empty = the system host name."},
    {"tags", MD_OPT_STRLIST, O_LIST(tags), "", NOLIM, NULL, 0, NULL, NULL, NULL, {"DD_TAGS"}, NULL,
     "Tags (\"key:value\") added to every metric."},
    {"sinks", MD_OPT_STRLIST, O_LIST(sinks), "", NOLIM, cfg_sink_names, 0, NULL, NULL, NULL, {0}, NULL,
     "Where flushed windows go: console, datadog. Empty = datadog when api_key\n"
     "or dd_url is set (see the Datadog sink's keys below), else console (prints\n"
     "each window; no backend needed)."},

    /* dogstatsd intake */
    {"dogstatsd_port", MD_OPT_INT, O_INT(dogstatsd_port), "8125", 0, 65535, NULL, 0, NULL, NULL, NULL,
     {"DD_DOGSTATSD_PORT"}, "DogStatsD intake",
     "UDP port of the DogStatsD intake; 0 turns UDP off."},
    {"bind_host", MD_OPT_HOST, O_STR(bind_host), "127.0.0.1", NOLIM, NULL, 0, NULL, NULL,
     NULL, {"DD_BIND_HOST"}, NULL,
     "Address the UDP intake listens on (ignored when dogstatsd_non_local_traffic\n"
     "is true)."},
    {"dogstatsd_non_local_traffic", MD_OPT_BOOL, O_BOOL(dogstatsd_non_local_traffic), "false", NOLIM,
     NULL, 0, NULL, NULL, NULL, {"DD_DOGSTATSD_NON_LOCAL_TRAFFIC"}, NULL,
     "Listen on all interfaces, IPv6 and IPv4 (::, or 0.0.0.0 without IPv6); needed\n"
     "when other containers or hosts send metrics."},
    {"dogstatsd_socket", MD_OPT_STRING, O_STR(dogstatsd_socket), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DD_DOGSTATSD_SOCKET"}, NULL, "Path of a Unix datagram socket to listen on; empty = off."},
    {"dogstatsd_socket_mode", MD_OPT_INT, O_INT(dogstatsd_socket_mode), "0722", 0, 0777, NULL,
     MD_OPT_F_OCTAL, NULL, NULL, NULL, {0}, NULL,
     "Permissions of the socket file, as octal text; the Datadog agent's 0722 lets\n"
     "clients running as any user (other containers) send."},
    {"dogstatsd_buffer_size", MD_OPT_INT, O_INT(dogstatsd_buffer_size), "8192", 512, 1048576, NULL, 0,
     NULL, NULL, NULL, {"DD_DOGSTATSD_BUFFER_SIZE"}, NULL,
     "Largest datagram accepted, in bytes; longer ones are truncated and counted."},
    {"dogstatsd_so_rcvbuf", MD_OPT_INT, O_INT(dogstatsd_so_rcvbuf), "0", 0, 1073741824, NULL, 0, NULL,
     NULL, NULL, {"DD_DOGSTATSD_SO_RCVBUF"}, NULL,
     "SO_RCVBUF of the intake sockets in bytes; 0 = the OS default."},
    {"dogstatsd_pipeline_count", MD_OPT_INT, O_INT(dogstatsd_pipeline_count), "0", 0, 64, NULL, 0,
     NULL, NULL, NULL, {"DD_DOGSTATSD_PIPELINE_COUNT"}, NULL,
     "Intake threads (SO_REUSEPORT sockets); 0 = one per core."},
    {"dogstatsd_ring_size", MD_OPT_INT, O_INT(dogstatsd_ring_size), "16384", 1024, 16777216, NULL,
     MD_OPT_F_POW2, NULL, NULL, NULL, {0}, NULL,
     "Records per intake ring (a power of two; ~64 bytes each). Bursts are\n"
     "absorbed by the socket buffer (dogstatsd_so_rcvbuf) more cheaply."},
    {"dogstatsd_ring_full_policy", MD_OPT_ENUM, O_ENUM(dogstatsd_ring_full_policy,
                                                   enum md_ring_policy),
     "block", NOLIM, cfg_ring_policies, 0, NULL, NULL, NULL, {0}, NULL,
     "What an intake thread does when its ring is full: block (stop reading, so\n"
     "the socket buffer takes the burst; overflow there is counted as kernel\n"
     "drops) or drop (count ring_full_drops and keep reading)."},
    {"dogstatsd_context_limit", MD_OPT_INT, O_INT(dogstatsd_context_limit), "0", 0, INT_MAX, NULL, 0,
     NULL, NULL, NULL, {0}, NULL,
     "Most distinct contexts (name + tags + host) per window; 0 = unlimited."},
    {"dogstatsd_eol_required", MD_OPT_FLAGS, O_FLAGS(dogstatsd_eol_required), "", NOLIM,
     cfg_eol_kinds, 0, NULL, NULL, NULL, {"DD_DOGSTATSD_EOL_REQUIRED"}, NULL,
     "Transports (udp, uds) whose packets must end in a newline; an unterminated\n"
     "last line is dropped."},
    {"dogstatsd_tags", MD_OPT_STRLIST, O_LIST(dogstatsd_tags), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DD_DOGSTATSD_TAGS"}, NULL, "Tags added to every DogStatsD metric."},
    {"dogstatsd_origin_detection_client", MD_OPT_BOOL, O_BOOL(dogstatsd_origin_detection_client),
     "false", NOLIM, NULL, 0, NULL, NULL, NULL, {"DD_DOGSTATSD_ORIGIN_DETECTION_CLIENT"}, NULL,
     "Use the container id a client sends (|c:) to add container tags."},
    {"dogstatsd_no_aggregation_pipeline", MD_OPT_BOOL, O_BOOL(dogstatsd_no_aggregation_pipeline),
     "true", NOLIM, NULL, 0, NULL, NULL, NULL, {"DD_DOGSTATSD_NO_AGGREGATION_PIPELINE"}, NULL,
     "Ship metrics that carry their own timestamp (|T) without aggregating them."},
    {"dogstatsd_expiry_seconds", MD_OPT_DURATION, O_INT(dogstatsd_expiry_seconds), "300", 0, 86400, NULL, 0,
     NULL, NULL, NULL, {"DD_DOGSTATSD_EXPIRY_SECONDS"}, NULL,
     "Keep sending 0 for a counter this long after its last sample."},
    {"dogstatsd_context_expiry_seconds", MD_OPT_DURATION, O_INT(dogstatsd_context_expiry_seconds), "20", 0,
     86400, NULL, 0, NULL, NULL, NULL, {"DD_DOGSTATSD_CONTEXT_EXPIRY_SECONDS"}, NULL,
     "Forget a context this long after its last sample."},
    {"statsd_metric_namespace", MD_OPT_STRING, O_STR(statsd_metric_namespace), "", NOLIM, NULL, 0,
     NULL, NULL, NULL, {"DD_STATSD_METRIC_NAMESPACE"}, NULL,
     "Prefix added to every DogStatsD metric name (e.g. \"myapp.\")."},
    {"statsd_metric_namespace_blocklist", MD_OPT_STRLIST, O_LIST(statsd_metric_namespace_blocklist),
     "", NOLIM, NULL, 0, NULL, NULL, "statsd_metric_namespace_blacklist",
     {"DD_STATSD_METRIC_NAMESPACE_BLOCKLIST", "DD_STATSD_METRIC_NAMESPACE_BLACKLIST"}, NULL,
     "Metric name prefixes that do not get the namespace. The old name\n"
     "statsd_metric_namespace_blacklist is accepted too."},
    {"statsd_metric_blocklist", MD_OPT_STRLIST, O_LIST(statsd_metric_blocklist), "", NOLIM, NULL, 0,
     NULL, NULL, NULL, {"DD_STATSD_METRIC_BLOCKLIST"}, NULL,
     "Metric names dropped at intake."},
    {"statsd_mode", MD_OPT_ENUM, O_ENUM(statsd_mode, enum md_statsd_mode), "dogstatsd", NOLIM,
     cfg_statsd_modes, 0, NULL, NULL, NULL, {0}, NULL,
     "dogstatsd (Datadog semantics) or etsy (classic statsd: timers give\n"
     "percent_threshold percentiles, counters also give a rate)."},
    {"percent_threshold", MD_OPT_NUMLIST, O_NUMS(percent_threshold), "90", NOLIM, NULL, 0, NULL,
     NULL, NULL, {0}, NULL,
     "etsy mode: timer percentiles, each a non-zero number from -100 to 100 (a\n"
     "negative one takes the lowest values: -10 gives *_top10). At most 16.",
     cfg_check_threshold},
    {"dogstatsd_mapper_profiles", MD_OPT_SPECIAL, CFG_OFF(dogstatsd_mapper_profiles,
                                                          struct md_mapper_profiles),
     "[]", NOLIM, NULL, 0, NULL, &md_config_mapper_special, NULL, {"DD_DOGSTATSD_MAPPER_PROFILES"}, NULL,
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
     "Wildcard patterns use letters, digits, _ . - and * (one name segment); ** is\n"
     "not allowed. match_type: regex takes a POSIX extended regex, anchored."},

    /* aggregation */
    {"flush_interval", MD_OPT_DURATION, O_INT(flush_interval), "10", 1, 3600, NULL, 0, NULL, NULL, NULL,
     {0}, "Aggregation", "Length of an aggregation window, in seconds."},
    {"histogram_aggregates", MD_OPT_FLAGS, O_FLAGS(histogram_aggregates), "max median avg count",
     NOLIM, cfg_aggregates, 0, NULL, NULL, NULL, {"DD_HISTOGRAM_AGGREGATES"}, NULL,
     "Aggregates sent for histograms and timers: max min median avg sum count."},
    {"histogram_percentiles", MD_OPT_NUMLIST, O_NUMS(histogram_percentiles), "0.95", NOLIM, NULL,
     0, NULL, NULL, NULL, {"DD_HISTOGRAM_PERCENTILES"}, NULL,
     "Percentiles sent for histograms and timers, each in (0,1). At most 16.",
     cfg_check_fraction},
    {"histogram_exact_samples", MD_OPT_INT, O_INT(histogram_exact_samples), "4096", 16, 10000000,
     NULL, 0, NULL, NULL, NULL, {0}, NULL,
     "Samples a histogram keeps per context and window for exact percentiles;\n"
     "past that it switches to a DDSketch (1% relative accuracy, bounded memory)."},

    /* forwarder */
    {"forwarder_timeout", MD_OPT_DURATION, O_INT(forwarder_timeout), "20", 1, 3600, NULL, 0, NULL, NULL,
     NULL, {"DD_FORWARDER_TIMEOUT"}, "Forwarder", "HTTP timeout for one request, in seconds."},
    {"skip_ssl_validation", MD_OPT_BOOL, O_BOOL(skip_ssl_validation), "false", NOLIM, NULL, 0, NULL,
     NULL, NULL, {"DD_SKIP_SSL_VALIDATION"}, NULL,
     "Do not verify the backend's TLS certificate. Only for tests."},

    /* status and logs */
    {"status_host", MD_OPT_IP, O_STR(status_host), "127.0.0.1", NOLIM, NULL, 0, NULL,
     NULL, NULL, {0}, "Status and logs",
     "Address of the status server (/health, /status, /metrics): an IP address\n"
     "(127.0.0.1, ::1, 0.0.0.0), not a host name."},
    {"status_port", MD_OPT_INT, O_INT(status_port), "5555", 0, 65535, NULL, 0, NULL, NULL, NULL, {0},
     NULL, "TCP port of the status server; 0 = off."},
    {"log_level", MD_OPT_STRING, O_STR(log_level), "info", NOLIM, cfg_log_levels, 0, NULL, NULL, NULL,
     {"DD_LOG_LEVEL"}, NULL,
     "trace, debug, info, warn (warning), error, critical or off."},

    /* host collectors */
    {"procfs_path", MD_OPT_STRING, O_STR(procfs_path), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DD_PROCFS_PATH"}, "Host collectors",
     "Where the host's /proc is. Empty = $HOST_PROC, else /host/proc when running\n"
     "in a container that has it, else /proc."},
    {"sysfs_path", MD_OPT_STRING, O_STR(sysfs_path), "", NOLIM, NULL, 0, NULL, NULL, NULL, {0}, NULL,
     "Where the host's /sys is. Empty = $HOST_SYS, else /host/sys when running in a\n"
     "container that has it, else /sys."},
    {"confd_path", MD_OPT_STRING, O_STR(confd_path), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DD_CONFD_PATH"}, NULL,
     "Folder of the collector configs (<name>.d/conf.yaml). Empty = the folder\n"
     "holding this file."},
    {NULL},
};