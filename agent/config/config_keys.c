/*
 * config_keys.c: the agent's own keys, one row each (see meterd/options.h
 * for the columns). A row gives the key's type, its field in struct
 * md_config, its default as text, bounds or choices, Datadog environment
 * names and the text of the shipped template; the engine (opt.c) does the
 * rest, so adding a key is one struct field plus one row here. Sinks
 * declare their own keys in their own files.
 */
#include <limits.h>
#include <regex.h>
#include <string.h>

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
static const char *const cfg_sink_names[] = {"console", "datadog", "prometheus_rw", NULL};
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

/* A container_include / container_exclude item: "name:re", "image:re" or "kube_namespace:re". */
static const char *cfg_check_ctr_filter(const char *v)
{
    static const char *const pre[] = {"name:", "image:", "kube_namespace:"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(pre[i]);
        if (strncmp(v, pre[i], n) != 0)
            continue;
        regex_t re;
        if (regcomp(&re, v + n, REG_EXTENDED | REG_NOSUB) != 0)
            return "not a valid regular expression after the prefix";
        regfree(&re);
        return NULL;
    }
    return "expected name:<regex>, image:<regex> or kube_namespace:<regex>";
}

static const char *const cfg_cardinalities[] = {"low", "orchestrator", "high", NULL};

const struct md_opt md_config_keys[] = {
    /* identity and output */
    {"hostname", MD_OPT_STRING, O_STR(hostname), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DD_HOSTNAME"}, "Identity and output",
     "Host name sent with every metric. Empty = resolved as the Datadog agent does:\n"
     "hostname_file, then the Docker Engine's name (GET /info on DOCKER_HOST or\n"
     "/var/run/docker.sock), kubernetes_kubelet_nodename, the ECS container\n"
     "instance, then the OS host name unless it is this container's own id.\n"
     "`meterd hostname` prints the result and where it came from."},
    {"hostname_file", MD_OPT_STRING, O_STR(hostname_file), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DD_HOSTNAME_FILE"}, NULL,
     "A file whose first line is the host name (e.g. /etc/hostname of the host,\n"
     "mounted into the container)."},
    {"kubernetes_kubelet_nodename", MD_OPT_HOST, O_STR(kubernetes_kubelet_nodename), "", NOLIM,
     NULL, 0, NULL, NULL, NULL, {"DD_KUBERNETES_KUBELET_NODENAME"}, NULL,
     "The Kubernetes node name (set from spec.nodeName with the downward API);\n"
     "used as the host name after the Docker Engine's."},
    {"ecs_agent_url", MD_OPT_URL, O_STR(ecs_agent_url), "http://127.0.0.1:51678", NOLIM, NULL, 0,
     NULL, NULL, NULL, {"DD_ECS_AGENT_URL"}, NULL,
     "The ECS agent's introspection API; asked for the container instance (the\n"
     "host name) only when running as an ECS task."},
    {"tags", MD_OPT_STRLIST, O_LIST(tags), "", NOLIM, NULL, 0, NULL, NULL, NULL, {"DD_TAGS"}, NULL,
     "Tags (\"key:value\") added to every metric."},
    {"env", MD_OPT_STRING, O_STR(env), "", NOLIM, NULL, 0, NULL, NULL, NULL, {"DD_ENV"}, NULL,
     "Environment of this host (Datadog's env): adds the tag env:<value> to every\n"
     "metric, unless tags already has an env: tag."},
    {"sinks", MD_OPT_STRLIST, O_LIST(sinks), "", NOLIM, cfg_sink_names, 0, NULL, NULL, NULL, {0}, NULL,
     "Where flushed windows go: console, datadog, prometheus_rw. Empty = every\n"
     "sink whose keys are set (datadog: api_key or dd_url; prometheus_rw:\n"
     "prometheus_remote_write_url; see their keys below), else console (prints\n"
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
    {"dogstatsd_so_rcvbuf", MD_OPT_INT, O_INT(dogstatsd_so_rcvbuf), "8388608", 0, 1073741824, NULL,
     0, NULL, NULL, NULL, {"DD_DOGSTATSD_SO_RCVBUF"}, NULL,
     "SO_RCVBUF of the intake sockets in bytes: what holds datagrams while the intake is off\n"
     "the CPU. Past net.core.rmem_max it needs CAP_NET_ADMIN (else a warning names the\n"
     "sysctl); 0 = the OS default (often 208 KiB)."},
    {"dogstatsd_pipeline_count", MD_OPT_INT, O_INT(dogstatsd_pipeline_count), "0", 0, 64, NULL, 0,
     NULL, NULL, NULL, {"DD_DOGSTATSD_PIPELINE_COUNT"}, NULL,
     "Intake threads (SO_REUSEPORT sockets); 0 = one per core the process may run on.\n"
     "With one, that thread also aggregates (no aggregator thread, no ring)."},
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
    {"dogstatsd_context_limit", MD_OPT_INT, O_INT(dogstatsd_context_limit), "250000", 0, INT_MAX,
     NULL, 0, NULL, NULL, NULL, {0}, NULL,
     "Most live DogStatsD contexts (name + tags + host). A sample that would\n"
     "create one more is dropped and counted (context_limit_drops); the first\n"
     "such drop logs a line, then at most one line a minute gives the count.\n"
     "The default bounds DogStatsD's contexts to about 80 MiB (measured: 135\n"
     "bytes per counter or gauge, 235 per timer, histogram or distribution and\n"
     "310 per set with a few samples a window). 0 = unlimited."},
    {"collector_context_limit", MD_OPT_INT, O_INT(collector_context_limit), "100000", 0, INT_MAX,
     NULL, 0, NULL, NULL, NULL, {0}, NULL,
     "Most live contexts of the agent's own series (host and container\n"
     "collectors, checks, meterd.* telemetry): a budget apart from DogStatsD's,\n"
     "so that a flood of statsd names never crowds out host metrics. Past it,\n"
     "samples of new contexts are dropped and counted\n"
     "(collector_context_limit_drops), logged as for dogstatsd_context_limit.\n"
     "0 = unlimited."},
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
    {"forwarder_num_workers", MD_OPT_INT, O_INT(forwarder_num_workers), "4", 1, 64, NULL, 0, NULL,
     NULL, NULL, {"DD_FORWARDER_NUM_WORKERS"}, NULL,
     "Requests in flight at once, over all backends."},
    {"forwarder_backoff_base", MD_OPT_DURATION, O_INT(forwarder_backoff_base), "2", 1, 3600, NULL,
     0, NULL, NULL, NULL, {"DD_FORWARDER_BACKOFF_BASE"}, NULL,
     "After n failures in a row a backend waits about base*2^n before the next\n"
     "try, at most forwarder_backoff_max. A backend that does not answer at all is\n"
     "also probed (HEAD) every base, and used again at the first answer."},
    {"forwarder_backoff_max", MD_OPT_DURATION, O_INT(forwarder_backoff_max), "64", 1, 3600, NULL, 0,
     NULL, NULL, NULL, {"DD_FORWARDER_BACKOFF_MAX"}, NULL, "The longest wait between tries."},
    {"shutdown_timeout", MD_OPT_DURATION, O_INT(shutdown_timeout), "5", 0, 3600, NULL, 0, NULL,
     NULL, "forwarder_stop_timeout", {"DD_FORWARDER_STOP_TIMEOUT"}, NULL,
     "On SIGTERM the agent seals the open window, flushes it and waits this long\n"
     "for requests in flight; what is still unsent then goes to the disk spool for\n"
     "the next run, and the agent exits 0. Keep it below the stop grace period of\n"
     "systemd (TimeoutStopSec) or Kubernetes (terminationGracePeriodSeconds).\n"
     "The Datadog agent's forwarder_stop_timeout sets it too."},
    {"forwarder_retry_queue_payloads_max_size", MD_OPT_INT,
     O_INT(forwarder_retry_queue_payloads_max_size), "15728640", 65536, 1073741824, NULL, 0, NULL,
     NULL, NULL, {"DD_FORWARDER_RETRY_QUEUE_PAYLOADS_MAX_SIZE"}, NULL,
     "Bytes of (compressed) payloads waiting in memory for a failing backend; past\n"
     "that the newest go to the disk spool (or, without room there, the oldest are\n"
     "dropped and counted)."},
    {"run_path", MD_OPT_STRING, O_STR(run_path), "/var/lib/meterd", NOLIM, NULL, 0, NULL, NULL,
     NULL, {"DD_RUN_PATH"}, NULL, "Folder for the agent's state (the disk spool by default)."},
    {"forwarder_storage_path", MD_OPT_STRING, O_STR(forwarder_storage_path), "", NOLIM, NULL, 0,
     NULL, NULL, NULL, {"DD_FORWARDER_STORAGE_PATH"}, NULL,
     "Folder of the disk spool: payloads for a failing backend, kept across\n"
     "restarts and crashes and sent oldest first when it answers again. Empty =\n"
     "<run_path>/transactions_to_retry. Payloads go in a subfolder named after the\n"
     "backends' URLs, so a changed dd_url never replays (or waits behind) another\n"
     "backend's backlog. One agent per folder."},
    {"forwarder_storage_max_size_in_bytes", MD_OPT_INT, O_INT(forwarder_storage_max_size_in_bytes),
     "104857600", 0, 2147483647, NULL, 0, NULL, NULL, NULL,
     {"DD_FORWARDER_STORAGE_MAX_SIZE_IN_BYTES"}, NULL,
     "Bound of the disk spool; when full, its oldest payloads are deleted (counted\n"
     "as evicted). 0 turns the spool off."},
    {"proxy.http", MD_OPT_URL, O_STR(proxy_http), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DD_PROXY_HTTP"}, NULL,
     "Proxy for http:// backends, e.g. http://user:pass@proxy:3128 (the password is\n"
     "never printed). Written as proxy: {http: ..., https: ..., no_proxy: [...]} as\n"
     "in datadog.yaml. Unset = libcurl's http_proxy / HTTPS_PROXY / NO_PROXY."},
    {"proxy.https", MD_OPT_URL, O_STR(proxy_https), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DD_PROXY_HTTPS"}, NULL, "Proxy for https:// backends (the usual case: Datadog's intake)."},
    {"proxy.no_proxy", MD_OPT_STRLIST, O_LIST(proxy_no_proxy), "", NOLIM, NULL, 0, NULL, NULL,
     NULL, {"DD_PROXY_NO_PROXY", "DD_NO_PROXY"}, NULL,
     "Hosts, domains (.example.com) and addresses reached without the proxy."},

    /* secrets */
    {"secret_backend_command", MD_OPT_STRING, O_STR(secret_backend_command), "", NOLIM, NULL, 0,
     NULL, NULL, NULL, {0}, "Secrets",
     "Executable that resolves ENC[handle] values, with the Datadog agent's protocol:\n"
     "{\"version\": \"1.0\", \"secrets\": [handles]} on its stdin, {\"handle\": {\"value\":\n"
     "..., \"error\": null}} on its stdout. It must not be writable by group or others.\n"
     "Any string value in this file or the environment may be ENC[...]."},
    {"secret_backend_arguments", MD_OPT_STRLIST, O_LIST(secret_backend_arguments), "", NOLIM,
     NULL, 0, NULL, NULL, NULL, {0}, NULL, "Arguments of secret_backend_command."},
    {"secret_backend_timeout", MD_OPT_DURATION, O_INT(secret_backend_timeout), "30", 1, 3600,
     NULL, 0, NULL, NULL, NULL, {0}, NULL, "How long the command may run, in seconds."},
    {"secret_backend_output_max_size", MD_OPT_INT, O_INT(secret_backend_output_max_size),
     "1048576", 1024, 67108864, NULL, 0, NULL, NULL, NULL, {0}, NULL,
     "Largest answer read from the command, in bytes."},

    /* status and logs */
    {"status_host", MD_OPT_IP, O_STR(status_host), "127.0.0.1", NOLIM, NULL, 0, NULL,
     NULL, NULL, {0}, "Status and logs",
     "Address of the status server (/health, /status, /metrics): an IP address\n"
     "(127.0.0.1, ::1, 0.0.0.0), not a host name."},
    {"status_port", MD_OPT_INT, O_INT(status_port), "5555", 0, 65535, NULL, 0, NULL, NULL, NULL, {0},
     NULL, "TCP port of the status server; 0 = off."},
    {"openmetrics_expose_series", MD_OPT_BOOL, O_BOOL(openmetrics_expose_series), "false", NOLIM,
     NULL, 0, NULL, NULL, NULL, {0}, NULL,
     "GET /metrics also shows the last flushed window's series, after the agent's\n"
     "own counters, for a Prometheus to scrape. Names and labels as the\n"
     "prometheus_rw sink writes them; each series a gauge with the value every sink\n"
     "ships (statsd counters as the window's per-second rate, gauges as their last\n"
     "value, histogram aggregates as computed) stamped with the window's start, so\n"
     "a window scraped twice is one sample. meterd.* series are left out: the\n"
     "counters above already show them."},
    {"health_port", MD_OPT_INT, O_INT(health_port), "0", 0, 65535, NULL, 0, NULL, NULL, NULL,
     {"DD_HEALTH_PORT"}, NULL,
     "TCP port serving /live and /ready on all interfaces, for kubelet and ECS\n"
     "probes; 0 = off. /ready answers 200 once the config is loaded and the\n"
     "intake listens. Nothing else is served there: /status stays on status_port."},
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
     "Folder of the collector configs (<name>.d/conf.yaml). Empty = conf.d/ next\n"
     "to this file when there is one (/etc/meterd/conf.d), else the folder holding\n"
     "this file."},

    /* containers */
    {"container_cgroup_root", MD_OPT_STRING, O_STR(container_cgroup_root), "", NOLIM, NULL, 0, NULL,
     NULL, NULL, {"DD_CONTAINER_CGROUP_ROOT"}, "Containers",
     "Where the host's cgroup tree is. Empty = /host/sys/fs/cgroup when it exists\n"
     "(meterd in a container), else /sys/fs/cgroup. v1, v2 and hybrid layouts are\n"
     "told apart from the mounts under it."},
    {"container_discovery_interval", MD_OPT_DURATION, O_INT(container_discovery_interval), "30", 1,
     3600, NULL, 0, NULL, NULL, NULL, {0}, NULL,
     "How often the cgroup tree is walked and the Docker API listed (Docker events\n"
     "make both happen sooner)."},
    {"container_include", MD_OPT_STRLIST, O_LIST(container_include), "", NOLIM, NULL, 0,
     cfg_check_ctr_filter, NULL, NULL, {"DD_CONTAINER_INCLUDE"}, NULL,
     "Containers to report even when container_exclude matches them:\n"
     "name:<regex>, image:<regex> or kube_namespace:<regex>."},
    {"container_exclude", MD_OPT_STRLIST, O_LIST(container_exclude), "", NOLIM, NULL, 0,
     cfg_check_ctr_filter, NULL, NULL, {"DD_CONTAINER_EXCLUDE"}, NULL,
     "Containers not to report (same syntax), e.g. [\"name:^meterd$\"]."},
    {"docker_host", MD_OPT_STRING, O_STR(docker_host), "", NOLIM, NULL, 0, NULL, NULL, NULL,
     {"DOCKER_HOST"}, NULL,
     "Docker Engine API endpoint (unix:///path or tcp://host:port) for container\n"
     "names, images and labels. Empty = $DOCKER_HOST, else unix:///var/run/docker.sock."},
    {"docker_labels_as_tags", MD_OPT_STRLIST, O_LIST(docker_labels_as_tags), "", NOLIM, NULL,
     MD_OPT_F_MAP, NULL, NULL, NULL, {"DD_DOCKER_LABELS_AS_TAGS"}, NULL,
     "Container labels to send as tags: a mapping label: tag_name (or a list of\n"
     "\"label:tag_name\")."},
    {"docker_env_as_tags", MD_OPT_STRLIST, O_LIST(docker_env_as_tags), "", NOLIM, NULL,
     MD_OPT_F_MAP, NULL, NULL, NULL, {"DD_DOCKER_ENV_AS_TAGS"}, NULL,
     "Container environment variables to send as tags: VARIABLE: tag_name."},
    {"dogstatsd_origin_detection", MD_OPT_BOOL, O_BOOL(dogstatsd_origin_detection), "false", NOLIM,
     NULL, 0, NULL, NULL, NULL, {"DD_DOGSTATSD_ORIGIN_DETECTION"}, NULL,
     "Add the sending container's tags to DogStatsD metrics: found from the\n"
     "sender's pid on the unix socket (needs the host's /proc and PID namespace),\n"
     "or from the container id a client sends (|c:)."},
    {"dogstatsd_tag_cardinality", MD_OPT_STRING, O_STR(dogstatsd_tag_cardinality), "low", NOLIM,
     cfg_cardinalities, 0, NULL, NULL, NULL, {"DD_DOGSTATSD_TAG_CARDINALITY"}, NULL,
     "Which container tags origin detection adds: low (image, namespace...),\n"
     "orchestrator (+ pod, task) or high (+ container_id, container_name). A\n"
     "client's |card: field overrides it per metric."},
    {NULL},
};