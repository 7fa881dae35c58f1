/*
 * config.h: the agent's effective configuration.
 *
 * One struct, filled from defaults, then conf.d/meterd.yaml, then
 * METERD_<KEY> / DD_<KEY> environment variables, then --set key=value
 * (last wins). Every key is declared once: the agent's in the table of
 * agent/config/config_keys.c, each sink's in its own table (sink.h), all
 * read by the one engine of agent/config/opt.c, which drives parsing,
 * validation, the environment overlay, defaults and `meterd configcheck`.
 * Values are typed once loaded: lists of numbers are numbers, regexes and
 * mapper patterns have been checked. Names follow datadog.yaml.
 */
#ifndef METERD_CONFIG_H
#define METERD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "meterd/options.h"

struct md_sink_ops;

enum md_match_type { MD_MATCH_WILDCARD = 0, MD_MATCH_REGEX };

struct md_mapper_mapping {
    char *match;                   /* checked at load for its match_type */
    enum md_match_type match_type;
    char *name;                    /* may use $1, $2 ... */
    struct md_strlist tags;        /* "key:value" with $n allowed in values */
};
struct md_mapper_profile {
    char *name;
    char *prefix;
    struct md_mapper_mapping *mappings;
    size_t nmappings;
};
struct md_mapper_profiles {
    struct md_mapper_profile *v;
    size_t n;
};

enum md_ring_policy { MD_RING_DROP = 0, MD_RING_BLOCK };
enum md_statsd_mode { MD_MODE_DOGSTATSD = 0, MD_MODE_ETSY };

/* Sink kinds a configuration can hold keys for (see agent/forward/sink_registry.c). */
#define MD_CONFIG_MAX_SINK_KINDS 8

/* The main file `meterd run` and `meterd configcheck` read when no -c is given. */
#define MD_CONFIG_DEFAULT_FILE "conf.d/meterd.yaml"
/* Where the package and the image install it; read when the source tree's file is absent. */
#define MD_CONFIG_INSTALLED_FILE "/etc/meterd/meterd.yaml"

struct md_config {
    /* where it came from */
    char *config_file;          /* path of meterd.yaml ("" when none) */
    char *confd_path;           /* conf.d folder; default: folder of config_file */

    /* warnings of the load ("FILE:LINE: KEY: unknown key, ignored" ...), for the log */
    struct md_strlist notes;

    /* identity and output */
    char *hostname;             /* "" = resolved at start (agent/util/hostname.c) */
    char *hostname_file;        /* file whose first line is the host name */
    char *kubernetes_kubelet_nodename; /* spec.nodeName, from the downward API */
    char *ecs_agent_url;        /* ECS agent introspection API, for the host name */
    char *env;                  /* Datadog's env: becomes the tag env:<value> */
    struct md_strlist tags;     /* added to everything (env:<value> included) */
    struct md_strlist sinks;    /* empty = every sink its keys ask for, else console */
    /* each sink's own keys (api_key, dd_url ... for datadog), by registry index */
    void *sink_conf[MD_CONFIG_MAX_SINK_KINDS];

    /* dogstatsd intake */
    int dogstatsd_port;         /* 8125; 0 = disabled */
    char *bind_host;            /* 127.0.0.1 */
    bool dogstatsd_non_local_traffic;
    char *dogstatsd_socket;     /* unix datagram path, "" = off */
    int dogstatsd_socket_mode;  /* permissions of the socket file, 0660 */
    int dogstatsd_buffer_size;  /* 8192 */
    int dogstatsd_so_rcvbuf;    /* 0 = OS default */
    int dogstatsd_pipeline_count; /* 0 = number of usable cores */
    int dogstatsd_ring_size;    /* records per intake ring, power of two */
    enum md_ring_policy dogstatsd_ring_full_policy;
    int dogstatsd_context_limit; /* 0 = unlimited */
    int collector_context_limit; /* the agent's own series, 0 = unlimited */
    unsigned dogstatsd_eol_required; /* MD_EOL_* bits */
    struct md_strlist dogstatsd_tags;
    bool dogstatsd_origin_detection_client;
    bool dogstatsd_no_aggregation_pipeline;
    int dogstatsd_expiry_seconds;         /* counter zero-fill, 300 */
    int dogstatsd_context_expiry_seconds; /* 20 */
    char *statsd_metric_namespace;
    struct md_strlist statsd_metric_namespace_blocklist;
    struct md_strlist statsd_metric_blocklist;
    enum md_statsd_mode statsd_mode;
    struct md_numlist percent_threshold;  /* etsy: each non-zero in [-100, 100] */
    struct md_mapper_profiles dogstatsd_mapper_profiles;

    /* aggregation */
    int flush_interval;         /* window length, seconds: 10 */
    unsigned histogram_aggregates;          /* MD_HAGG_* bits (aggregate/histogram.h) */
    struct md_numlist histogram_percentiles; /* each in (0,1) */
    int histogram_exact_samples;             /* then a DDSketch */

    /* forwarder */
    int forwarder_timeout;      /* seconds, 20 */
    bool skip_ssl_validation;
    int forwarder_num_workers;  /* requests in flight, 4 */
    int forwarder_backoff_base; /* seconds, 2; also the probe interval */
    int forwarder_backoff_max;  /* seconds, 64 */
    int shutdown_timeout;       /* seconds, 5: the stop drain's wait for sends */
    int forwarder_retry_queue_payloads_max_size; /* bytes in memory, 15 MiB */
    char *run_path;             /* /var/lib/meterd */
    char *forwarder_storage_path; /* "" = <run_path>/transactions_to_retry */
    int forwarder_storage_max_size_in_bytes; /* 100 MiB; 0 = no spool */
    char *proxy_http;           /* proxy.http: for http:// backends, "" = none */
    char *proxy_https;          /* proxy.https: for https:// backends */
    struct md_strlist proxy_no_proxy; /* proxy.no_proxy: hosts reached directly */

    /* ENC[handle] values: the agent's secret backend protocol (agent/config/secrets.c) */
    char *secret_backend_command;
    struct md_strlist secret_backend_arguments;
    int secret_backend_timeout;       /* seconds */
    int secret_backend_output_max_size; /* bytes */

    /* status and logs */
    char *status_host;          /* 127.0.0.1: an address literal */
    int status_port;            /* 5555; 0 = off */
    bool openmetrics_expose_series; /* /metrics shows the last window's series too */
    int health_port;            /* /live and /ready on all interfaces; 0 = off */
    char *log_level;            /* info */

    /* host collectors */
    char *procfs_path;          /* /proc, or /host/proc in a container */
    char *sysfs_path;           /* /sys */

    /* containers */
    char *container_cgroup_root;          /* "" = auto */
    int container_discovery_interval;     /* seconds, 30 */
    struct md_strlist container_include;  /* "name:re" ... */
    struct md_strlist container_exclude;
    char *docker_host;                    /* "" = $DOCKER_HOST or the default socket */
    struct md_strlist docker_labels_as_tags; /* "label:tag" */
    struct md_strlist docker_env_as_tags;    /* "VAR:tag" */
    bool dogstatsd_origin_detection;
    char *dogstatsd_tag_cardinality;      /* low, orchestrator, high */
};

enum { MD_EOL_UDP = 1u << 0, MD_EOL_UDS = 1u << 1 };

/*
 * Fill defaults (c need not be initialised). Paths that default to "auto"
 * (procfs_path, sysfs_path, confd_path) stay "" here; md_config_load
 * resolves them.
 */
void md_config_defaults(struct md_config *c);

/*
 * Load: defaults, then `file` (NULL = none), then environment, then `sets`
 * ("key=value" strings). c need not be initialised; whatever the result it
 * is left valid and must be released with md_config_free. On a bad value or
 * bad YAML returns -EINVAL and writes one line into err:
 *   "FILE:LINE: KEY: reason"            (file; KEY may be "tags[2]" or
 *                                        "dogstatsd_mapper_profiles[0].name")
 *   "FILE:LINE: reason"                 (YAML syntax, top level not a map)
 *   "environment METERD_X: KEY: reason" / "--set KEY: reason"
 * An unreadable file gives its negative errno and "FILE: strerror".
 * Messages never contain the api_key. A key written with no value keeps
 * its default. After loading, procfs_path / sysfs_path / confd_path are
 * never empty: "" means auto (HOST_PROC or /host/proc in a container, else
 * /proc; likewise HOST_SYS, /host/sys, /sys; confd_path = <folder of the
 * config file>/conf.d when that exists, else the folder of the config
 * file, or "conf.d" without one).
 */
int md_config_load(struct md_config *c, const char *file, char *const *sets, size_t nsets,
                   char *err, size_t errlen);
void md_config_free(struct md_config *c);

/* Log the load's warnings (c->notes), one line each; the daemon does it once per load. */
void md_config_log_notes(const struct md_config *c);

/* Why a Datadog key meterd recognises has no effect; NULL when it is not one. */
const char *md_config_ignored_why(const char *name);
size_t md_config_ignored_count(void);
/* The i-th recognised-but-ignored key and its reason; NULL past the end. */
const char *md_config_ignored_at(size_t i, const char **why);

/* Write the effective configuration as YAML; api_key shows its last 4 characters only. */
void md_config_dump(const struct md_config *c, FILE *out);

/*
 * The main file to read when the command line names none:
 * MD_CONFIG_DEFAULT_FILE when it is readable, else MD_CONFIG_INSTALLED_FILE
 * when that is, else NULL (defaults only).
 */
const char *md_config_default_file(void);

/* The parsed keys of one sink kind (its ops->conf_size bytes); NULL if it has none. */
const void *md_config_sink_conf(const struct md_config *c, const struct md_sink_ops *ops);

/*
 * The sinks that will run, in order: `sinks` when set, else every sink
 * whose keys ask for it (datadog with an api_key or dd_url), else console.
 * Returns how many were written to out (at most max).
 */
size_t md_config_sinks(const struct md_config *c, const struct md_sink_ops **out, size_t max);

/*
 * "***************abcd": what may be printed for a secret. Writes into buf
 * and returns it; "" for an empty secret, only stars for one shorter than
 * 8 characters.
 */
const char *md_config_redact(const char *secret, char *buf, size_t len);

/*
 * A URL as it may be printed: the user:password before '@' and the query
 * string each become three stars, the fragment is dropped; scheme, host,
 * port and path stay. Writes into buf, returns it.
 */
const char *md_url_redact(const char *url, char *buf, size_t len);

/*
 * The shipped conf.d/meterd.yaml, generated from the schema table: every
 * key commented out with `## @param <name> - <type> - optional - default: <v>`,
 * its environment names and description.
 */
void md_config_write_template(FILE *out);

#endif
