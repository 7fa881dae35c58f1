/*
 * config.h: the agent's effective configuration.
 *
 * One struct, filled from defaults, then conf.d/meterd.yaml, then
 * METERD_<KEY> / DD_<KEY> environment variables, then --set key=value
 * (last wins). Every key is declared once in the schema table of
 * agent/config/config.c, which drives parsing, validation, the environment
 * overlay, defaults and `meterd configcheck`. Names follow datadog.yaml.
 */
#ifndef METERD_CONFIG_H
#define METERD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct md_strlist {
    char **v;
    size_t n;
};

struct md_mapper_mapping {
    char *match;      /* wildcard pattern */
    char *match_type; /* "wildcard" (default) or "regex" */
    char *name;       /* may use $1, $2 ... */
    struct md_strlist tags; /* "key:value" with $n allowed in values */
};
struct md_mapper_profile {
    char *name;
    char *prefix;
    struct md_mapper_mapping *mappings;
    size_t nmappings;
};

enum md_ring_policy { MD_RING_DROP = 0, MD_RING_BLOCK };
enum md_statsd_mode { MD_MODE_DOGSTATSD = 0, MD_MODE_ETSY };
enum md_dist_output { MD_DIST_AUTO = 0, MD_DIST_SKETCH, MD_DIST_SERIES };

struct md_config {
    /* where it came from */
    char *config_file;          /* path of meterd.yaml ("" when none) */
    char *confd_path;           /* conf.d folder; default: folder of config_file */

    /* identity and backend */
    char *api_key;              /* secret: never log; see md_config_redact() */
    char *site;                 /* datadoghq.com */
    char *dd_url;               /* overrides site when set */
    char *hostname;             /* "" = gethostname() at start */
    struct md_strlist tags;     /* added to everything */
    struct md_strlist sinks;    /* empty = console when no api_key/dd_url, else datadog */

    /* dogstatsd intake */
    int dogstatsd_port;         /* 8125; 0 = disabled */
    char *bind_host;            /* 127.0.0.1 */
    bool dogstatsd_non_local_traffic;
    char *dogstatsd_socket;     /* unix datagram path, "" = off */
    int dogstatsd_socket_mode;  /* permissions of the socket file, 0660 */
    int dogstatsd_buffer_size;  /* 8192 */
    int dogstatsd_so_rcvbuf;    /* 0 = OS default */
    int dogstatsd_pipeline_count; /* 0 = number of cores */
    int dogstatsd_ring_size;    /* records per intake ring, power of two */
    enum md_ring_policy dogstatsd_ring_full_policy;
    int dogstatsd_context_limit; /* 0 = unlimited */
    struct md_strlist dogstatsd_eol_required; /* of udp, uds */
    struct md_strlist dogstatsd_tags;
    bool dogstatsd_origin_detection_client;
    bool dogstatsd_no_aggregation_pipeline;
    int dogstatsd_expiry_seconds;         /* counter zero-fill, 300 */
    int dogstatsd_context_expiry_seconds; /* 20 */
    char *statsd_metric_namespace;
    struct md_strlist statsd_metric_namespace_blocklist;
    struct md_strlist statsd_metric_blocklist;
    enum md_statsd_mode statsd_mode;
    struct md_strlist percent_threshold;  /* etsy: e.g. ["90"] */
    struct md_mapper_profile *dogstatsd_mapper_profiles;
    size_t n_mapper_profiles;

    /* aggregation */
    int flush_interval;         /* window length, seconds: 10 */
    struct md_strlist histogram_aggregates;  /* max median avg count */
    struct md_strlist histogram_percentiles; /* "0.95" */
    int histogram_exact_samples;             /* then a DDSketch */
    enum md_dist_output distribution_output;

    /* forwarder */
    int forwarder_timeout;      /* seconds, 20 */
    bool skip_ssl_validation;

    /* status and logs */
    char *status_host;          /* 127.0.0.1 */
    int status_port;            /* 5555; 0 = off */
    char *log_level;            /* info */

    /* host collectors */
    char *procfs_path;          /* /proc, or /host/proc in a container */
    char *sysfs_path;           /* /sys */
};

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
 * /proc; likewise HOST_SYS, /host/sys, /sys; confd_path = the folder of
 * the config file, or "conf.d" without one).
 */
int md_config_load(struct md_config *c, const char *file, char *const *sets, size_t nsets,
                   char *err, size_t errlen);
void md_config_free(struct md_config *c);

/* Write the effective configuration as YAML; api_key shows its last 4 characters only. */
void md_config_dump(const struct md_config *c, FILE *out);

/*
 * "***************abcd": what may be printed for a secret. Writes into buf
 * and returns it; "" for an empty secret, only stars for one shorter than
 * 8 characters.
 */
const char *md_config_redact(const char *secret, char *buf, size_t len);

/*
 * The shipped conf.d/meterd.yaml, generated from the schema table: every
 * key commented out with `## @param <name> - <type> - optional - default: <v>`,
 * its environment names and description.
 */
void md_config_write_template(FILE *out);

#endif
