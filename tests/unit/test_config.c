/*
 * test_config.c: the configuration loader against real files in a temp
 * folder and the real process environment: defaults, every value type,
 * the precedence defaults < file < environment < --set, each error kind
 * with its exact "FILE:LINE: KEY" prefix, API key redaction, mapper
 * profiles, and that the shipped conf.d/meterd.yaml matches the schema.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config_env.h"
#include "datadog.h"
#include "histogram.h"
#include "module_opts.h"
#include "meterd/config.h"
#include "meterd/sink.h"

/* The Datadog sink's own keys, as loaded into c. */
#define DD(c) ((const struct md_datadog_conf *)md_config_sink_conf(&(c), md_sink_lookup("datadog")))

static void load_ok(struct md_config *c, const char *text, char *const *sets, size_t nsets)
{
    char err[512] = "";
    const char *path = text ? write_conf(text) : NULL;
    int rc = md_config_load(c, path, sets, nsets, err, sizeof err);
    if (rc)
        fail_msg("load failed (%d): %s", rc, err);
}

static void assert_dump_has(const struct md_config *c, const char *line)
{
    char *d = dump(c), want[512];
    snprintf(want, sizeof want, "\n%s\n", line);
    if (!strstr(d, want))
        fail_msg("dump lacks '%s':\n%s", line, d);
    free(d);
}

static void test_defaults(void **state)
{
    (void)state;
    struct md_config c;
    md_config_defaults(&c);
    assert_string_equal(DD(c)->api_key, "");
    assert_string_equal(DD(c)->site, "datadoghq.com");
    assert_string_equal(DD(c)->dd_url, "");
    assert_string_equal(c.hostname, "");
    assert_int_equal(c.tags.n, 0);
    assert_int_equal(c.sinks.n, 0);
    assert_int_equal(c.dogstatsd_port, 8125);
    assert_string_equal(c.bind_host, "127.0.0.1");
    assert_false(c.dogstatsd_non_local_traffic);
    assert_string_equal(c.dogstatsd_socket, "");
    assert_int_equal(c.dogstatsd_socket_mode, 0722);
    assert_int_equal(c.dogstatsd_buffer_size, 8192);
    assert_int_equal(c.dogstatsd_so_rcvbuf, 8388608);
    assert_int_equal(c.dogstatsd_pipeline_count, 0);
    assert_int_equal(c.dogstatsd_ring_size, 16384);
    assert_int_equal(c.dogstatsd_ring_full_policy, MD_RING_BLOCK);
    assert_int_equal(c.dogstatsd_context_limit, 250000);
    assert_int_equal(c.collector_context_limit, 100000);
    assert_int_equal(c.dogstatsd_eol_required, 0);
    assert_int_equal(c.dogstatsd_tags.n, 0);
    assert_false(c.dogstatsd_origin_detection_client);
    assert_true(c.dogstatsd_no_aggregation_pipeline);
    assert_int_equal(c.dogstatsd_expiry_seconds, 300);
    assert_int_equal(c.dogstatsd_context_expiry_seconds, 20);
    assert_string_equal(c.statsd_metric_namespace, "");
    assert_int_equal(c.statsd_metric_namespace_blocklist.n, 0);
    assert_int_equal(c.statsd_metric_blocklist.n, 0);
    assert_int_equal(c.statsd_mode, MD_MODE_DOGSTATSD);
    assert_int_equal(c.percent_threshold.n, 1);
    assert_true(c.percent_threshold.v[0] == 90);
    assert_int_equal(c.dogstatsd_mapper_profiles.n, 0);
    assert_null(c.dogstatsd_mapper_profiles.v);
    assert_int_equal(c.flush_interval, 10);
    assert_int_equal(c.histogram_aggregates, MD_HAGG_MAX | MD_HAGG_MEDIAN | MD_HAGG_AVG | MD_HAGG_COUNT);
    assert_int_equal(c.histogram_percentiles.n, 1);
    assert_true(c.histogram_percentiles.v[0] == 0.95);
    assert_int_equal(c.forwarder_timeout, 20);
    assert_false(c.skip_ssl_validation);
    assert_string_equal(c.status_host, "127.0.0.1");
    assert_int_equal(c.status_port, 5555);
    assert_string_equal(c.log_level, "info");
    assert_string_equal(c.procfs_path, "");
    assert_string_equal(c.sysfs_path, "");
    assert_string_equal(c.confd_path, "");
    md_config_free(&c);
    md_config_free(&c); /* freeing twice is harmless */
}

static void test_empty_file_and_no_file(void **state)
{
    (void)state;
    struct md_config a, b;
    load_ok(&a, "", NULL, 0);
    load_ok(&b, NULL, NULL, 0);
    assert_int_equal(a.dogstatsd_port, 8125);
    assert_string_equal(b.confd_path, "conf.d");
    assert_string_equal(a.confd_path, tmpdir); /* the folder of the file */
    assert_string_equal(b.config_file, "");
    md_config_free(&a);
    md_config_free(&b);
    load_ok(&a, "# nothing but comments\n\n", NULL, 0);
    assert_string_equal(DD(a)->site, "datadoghq.com");
    md_config_free(&a);
}

static void test_each_type(void **state)
{
    (void)state;
    struct md_config c;
    load_ok(&c,
            "api_key: \"0123456789abcdef0123456789abcdef\"\n"
            "site: datadoghq.eu\n"
            "dd_url: https://vm.example:8428/datadog\n"
            "hostname: web-1\n"
            "tags:\n  - env:prod\n  - team:core\n"
            "sinks: [console, DataDog]\n"
            "dogstatsd_port: 9125\n"
            "dogstatsd_non_local_traffic: yes\n"
            "dogstatsd_socket: /run/meterd.sock\n"
            "dogstatsd_socket_mode: 0600\n"
            "dogstatsd_buffer_size: \"65536\"\n"
            "dogstatsd_ring_size: 1024\n"
            "dogstatsd_ring_full_policy: drop\n"
            "dogstatsd_eol_required: udp uds\n"
            "dogstatsd_origin_detection_client: TRUE\n"
            "dogstatsd_no_aggregation_pipeline: off\n"
            "statsd_metric_namespace_blacklist: [a., b.]\n"
            "statsd_mode: etsy\n"
            "percent_threshold: [90, 99.9]\n"
            "histogram_aggregates: [MAX, sum]\n"
            "histogram_percentiles: [0.5, \"0.99\", .999]\n"
            "log_level: WARNING\n"
            "procfs_path: /host/proc\n"
            "confd_path: /etc/meterd/conf.d\n"
            "container_exclude: [\"name:^pause$\", \"image:^k8s.gcr.io/\"]\n"
            "docker_labels_as_tags:\n  com.example.team: team\n  tier: tier\n"
            "dogstatsd_origin_detection: true\n"
            "dogstatsd_tag_cardinality: Orchestrator\n"
            "status_port:\n", /* no value: keeps the default */
            NULL, 0);
    assert_string_equal(DD(c)->api_key, "0123456789abcdef0123456789abcdef");
    assert_string_equal(DD(c)->site, "datadoghq.eu");
    assert_string_equal(DD(c)->dd_url, "https://vm.example:8428/datadog");
    assert_string_equal(c.hostname, "web-1");
    assert_int_equal(c.tags.n, 2);
    assert_string_equal(c.tags.v[1], "team:core");
    assert_int_equal(c.sinks.n, 2);
    assert_string_equal(c.sinks.v[1], "datadog"); /* canonical case */
    assert_int_equal(c.dogstatsd_port, 9125);
    assert_true(c.dogstatsd_non_local_traffic);
    assert_string_equal(c.dogstatsd_socket, "/run/meterd.sock");
    assert_int_equal(c.dogstatsd_socket_mode, 0600);
    assert_int_equal(c.dogstatsd_buffer_size, 65536);
    assert_int_equal(c.dogstatsd_ring_size, 1024);
    assert_int_equal(c.dogstatsd_ring_full_policy, MD_RING_DROP);
    assert_int_equal(c.dogstatsd_eol_required, MD_EOL_UDP | MD_EOL_UDS);
    assert_true(c.dogstatsd_origin_detection_client);
    assert_false(c.dogstatsd_no_aggregation_pipeline);
    assert_int_equal(c.statsd_metric_namespace_blocklist.n, 2);
    assert_string_equal(c.statsd_metric_namespace_blocklist.v[0], "a.");
    assert_int_equal(c.statsd_mode, MD_MODE_ETSY);
    assert_int_equal(c.percent_threshold.n, 2);
    assert_true(c.percent_threshold.v[1] == 99.9);
    assert_int_equal(c.histogram_aggregates, MD_HAGG_MAX | MD_HAGG_SUM);
    assert_int_equal(c.histogram_percentiles.n, 3);
    assert_true(c.histogram_percentiles.v[0] == 0.5);
    assert_true(c.histogram_percentiles.v[1] == 0.99);
    assert_true(c.histogram_percentiles.v[2] == 0.999);
    assert_string_equal(c.log_level, "warning");
    assert_string_equal(c.procfs_path, "/host/proc");
    assert_string_equal(c.confd_path, "/etc/meterd/conf.d");
    assert_int_equal(c.status_port, 5555);
    assert_int_equal(c.container_exclude.n, 2);
    assert_string_equal(c.container_exclude.v[1], "image:^k8s.gcr.io/");
    assert_int_equal(c.docker_labels_as_tags.n, 2); /* Datadog's mapping form */
    assert_string_equal(c.docker_labels_as_tags.v[0], "com.example.team:team");
    assert_true(c.dogstatsd_origin_detection);
    assert_string_equal(c.dogstatsd_tag_cardinality, "orchestrator");
    md_config_free(&c);
}

static void test_env_precedence(void **state)
{
    (void)state;
    struct md_config c;
    const char *file = "dogstatsd_port: 9000\nsite: from-file.example\nhostname: file-host\n";

    load_ok(&c, file, NULL, 0);
    assert_int_equal(c.dogstatsd_port, 9000);
    md_config_free(&c);

    setenv("DD_DOGSTATSD_PORT", "9001", 1);
    setenv("DD_SITE", "datadoghq.eu", 1);
    load_ok(&c, file, NULL, 0);
    assert_int_equal(c.dogstatsd_port, 9001); /* env beats file */
    assert_string_equal(DD(c)->site, "datadoghq.eu");
    assert_string_equal(c.hostname, "file-host");
    md_config_free(&c);

    setenv("METERD_DOGSTATSD_PORT", "9002", 1);
    load_ok(&c, file, NULL, 0);
    assert_int_equal(c.dogstatsd_port, 9002); /* METERD_ beats DD_ */
    md_config_free(&c);

    char *sets[] = {"dogstatsd_port=9003", "hostname=set-host"};
    load_ok(&c, file, sets, 2);
    assert_int_equal(c.dogstatsd_port, 9003); /* --set beats everything */
    assert_string_equal(c.hostname, "set-host");
    md_config_free(&c);

    /* An empty variable counts as unset, as in the Datadog agent. */
    setenv("METERD_DOGSTATSD_PORT", "", 1);
    load_ok(&c, file, NULL, 0);
    assert_int_equal(c.dogstatsd_port, 9001);
    md_config_free(&c);

    /* DD_DD_URL wins over DD_URL. */
    setenv("DD_URL", "http://url.example", 1);
    load_ok(&c, NULL, NULL, 0);
    assert_string_equal(DD(c)->dd_url, "http://url.example");
    md_config_free(&c);
    setenv("DD_DD_URL", "http://dd-url.example", 1);
    load_ok(&c, NULL, NULL, 0);
    assert_string_equal(DD(c)->dd_url, "http://dd-url.example");
    md_config_free(&c);
}

static void test_env_lists(void **state)
{
    (void)state;
    struct md_config c;
    setenv("DD_TAGS", "  env:prod   team:core ", 1);
    setenv("METERD_HISTOGRAM_PERCENTILES", "[\"0.5\", 0.99]", 1);
    setenv("DD_HISTOGRAM_AGGREGATES", "max min", 1);
    load_ok(&c, "tags: [from:file]\n", NULL, 0);
    assert_int_equal(c.tags.n, 2);
    assert_string_equal(c.tags.v[0], "env:prod");
    assert_string_equal(c.tags.v[1], "team:core");
    assert_int_equal(c.histogram_percentiles.n, 2);
    assert_true(c.histogram_percentiles.v[1] == 0.99);
    assert_int_equal(c.histogram_aggregates, MD_HAGG_MAX | MD_HAGG_MIN);
    md_config_free(&c);
}

/* Every DD_ variable meterd accepts lands in its key. */
static void test_dd_names(void **state)
{
    (void)state;
    static const struct {
        const char *env, *value, *dump_line;
    } cases[] = {
        {"DD_API_KEY", "abcdefgh12345678", "api_key: \"***************5678\""},
        {"DD_SITE", "us5.datadoghq.com", "site: \"us5.datadoghq.com\""},
        {"DD_DD_URL", "https://x.example", "dd_url: \"https://x.example\""},
        {"DD_HOSTNAME", "h1", "hostname: \"h1\""},
        {"DD_TAGS", "a:b c:d", "tags: [\"a:b\", \"c:d\"]"},
        {"DD_DOGSTATSD_PORT", "8200", "dogstatsd_port: 8200"},
        {"DD_DOGSTATSD_NON_LOCAL_TRAFFIC", "true", "dogstatsd_non_local_traffic: true"},
        {"DD_BIND_HOST", "0.0.0.0", "bind_host: \"0.0.0.0\""},
        {"DD_DOGSTATSD_SOCKET", "/tmp/s", "dogstatsd_socket: \"/tmp/s\""},
        {"DD_LOG_LEVEL", "debug", "log_level: \"debug\""},
        {"DD_HISTOGRAM_AGGREGATES", "sum", "histogram_aggregates: [\"sum\"]"},
        {"DD_HISTOGRAM_PERCENTILES", "0.75", "histogram_percentiles: [0.75]"},
        {"DD_DOGSTATSD_TAGS", "x:y", "dogstatsd_tags: [\"x:y\"]"},
        {"DD_STATSD_METRIC_NAMESPACE", "app.", "statsd_metric_namespace: \"app.\""},
        {"DD_PROCFS_PATH", "/p", "procfs_path: \"/p\""},
        {"DD_CONFD_PATH", "/c", "confd_path: \"/c\""},
        {"DD_DOGSTATSD_BUFFER_SIZE", "4096", "dogstatsd_buffer_size: 4096"},
        {"DD_DOGSTATSD_SO_RCVBUF", "1048576", "dogstatsd_so_rcvbuf: 1048576"},
        {"DD_DOGSTATSD_ORIGIN_DETECTION_CLIENT", "1", "dogstatsd_origin_detection_client: true"},
        {"DD_STATSD_METRIC_NAMESPACE_BLACKLIST", "p.", "statsd_metric_namespace_blocklist: [\"p.\"]"},
        {"DD_FORWARDER_TIMEOUT", "5", "forwarder_timeout: 5"},
        {"DD_SKIP_SSL_VALIDATION", "yes", "skip_ssl_validation: true"},
        {"METERD_DOGSTATSD_RING_SIZE", "2048", "dogstatsd_ring_size: 2048"},
        {"METERD_FLUSH_INTERVAL", "15", "flush_interval: 15"},
        {"METERD_SINKS", "console", "sinks: [\"console\"]"},
        {"METERD_DOGSTATSD_SOCKET_MODE", "0644", "dogstatsd_socket_mode: \"0644\""},
        {"METERD_STATSD_MODE", "etsy", "statsd_mode: etsy"},
        {"METERD_SYSFS_PATH", "/s", "sysfs_path: \"/s\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct md_config c;
        clear_env();
        setenv(cases[i].env, cases[i].value, 1);
        load_ok(&c, NULL, NULL, 0);
        assert_dump_has(&c, cases[i].dump_line);
        md_config_free(&c);
    }
}

static void test_set(void **state)
{
    (void)state;
    struct md_config c;
    char *sets[] = {"tags=a:b c:d", "statsd_metric_namespace_blacklist=x.", "flush_interval=30",
                    "dogstatsd_mapper_profiles=[{\"name\":\"p\",\"prefix\":\"p.\","
                    "\"mappings\":[{\"match\":\"p.*\",\"name\":\"p.x\",\"tags\":{\"k\":\"$1\"}}]}]"};
    load_ok(&c, NULL, sets, 4);
    assert_int_equal(c.tags.n, 2);
    assert_int_equal(c.statsd_metric_namespace_blocklist.n, 1);
    assert_int_equal(c.flush_interval, 30);
    assert_int_equal(c.dogstatsd_mapper_profiles.n, 1);
    assert_string_equal(c.dogstatsd_mapper_profiles.v[0].mappings[0].tags.v[0], "k:$1");
    md_config_free(&c);
}

/* Each error kind: the message must start with `want` (with %s = the file path). */
static void check_file_error(const char *yaml, const char *want_fmt, const char *also)
{
    struct md_config c;
    char err[512] = "", want[512];
    const char *path = write_conf(yaml);
    int rc = md_config_load(&c, path, NULL, 0, err, sizeof err);
    md_config_free(&c);
    snprintf(want, sizeof want, want_fmt, path);
    if (rc != -EINVAL)
        fail_msg("yaml '%s': rc %d, err '%s'", yaml, rc, err);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("error '%s' does not start with '%s'", err, want);
    if (also && !strstr(err, also))
        fail_msg("error '%s' lacks '%s'", err, also);
}

static void test_file_errors(void **state)
{
    (void)state;
    check_file_error("site: x\nhostname:\n  a: b\n", "%s:2: hostname: expected a string, got a map",
                     NULL);
    check_file_error("\n\ndogstatsd_port: abc\n", "%s:3: dogstatsd_port: expected an integer",
                     "\"abc\"");
    check_file_error("dogstatsd_port: 70000\n", "%s:1: dogstatsd_port: 70000 is out of range",
                     "0..65535");
    check_file_error("flush_interval: 0\n", "%s:1: flush_interval: 0 is out of range", NULL);
    check_file_error("dogstatsd_buffer_size: 100\n", "%s:1: dogstatsd_buffer_size:", "512..");
    check_file_error("dogstatsd_pipeline_count: 65\n", "%s:1: dogstatsd_pipeline_count:", NULL);
    check_file_error("dogstatsd_ring_size: 3000\n", "%s:1: dogstatsd_ring_size:",
                     "not a power of two");
    check_file_error("dogstatsd_ring_size: 512\n", "%s:1: dogstatsd_ring_size:", "out of range");
    check_file_error("dogstatsd_ring_full_policy: wait\n", "%s:1: dogstatsd_ring_full_policy:",
                     "drop, block");
    check_file_error("statsd_mode: graphite\n", "%s:1: statsd_mode:", "dogstatsd, etsy");
    check_file_error("log_level: loud\n", "%s:1: log_level:", "critical");
    check_file_error("dogstatsd_non_local_traffic: maybe\n",
                     "%s:1: dogstatsd_non_local_traffic: expected true or false", NULL);
    check_file_error("dogstatsd_socket_mode: 0999\n", "%s:1: dogstatsd_socket_mode:", "octal");
    check_file_error("dogstatsd_socket_mode: 01777\n", "%s:1: dogstatsd_socket_mode:",
                     "out of range");
    check_file_error("sinks: [console, kafka]\n", "%s:1: sinks[1]:", "console, datadog");
    check_file_error("histogram_aggregates:\n  - max\n  - p99\n", "%s:3: histogram_aggregates[1]:",
                     NULL);
    check_file_error("histogram_percentiles: [0.5, 1]\n", "%s:1: histogram_percentiles[1]:",
                     "(0,1)");
    check_file_error("histogram_percentiles: [abc]\n", "%s:1: histogram_percentiles[0]:", NULL);
    check_file_error("dogstatsd_eol_required: [tcp]\n", "%s:1: dogstatsd_eol_required[0]:", NULL);
    check_file_error("tags:\n  -\n", "%s:2: tags[0]: empty list item", NULL);
    check_file_error("tags: {a: b}\n", "%s:1: tags: expected a list", NULL);
    check_file_error("site: https://datadoghq.eu/api\n", "%s:1: site:", "not a URL");
    check_file_error("dd_url: ftp://x\n", "%s:1: dd_url:", "http");
    check_file_error("container_exclude:\n  - name:^a$\n  - label:x\n", "%s:3: container_exclude[1]:",
                     "name:<regex>");
    check_file_error("container_include: [\"image:(\"]\n", "%s:1: container_include[0]:",
                     "regular expression");
    check_file_error("dogstatsd_tag_cardinality: all\n", "%s:1: dogstatsd_tag_cardinality:",
                     "low, orchestrator, high");
    check_file_error("docker_labels_as_tags:\n  team: [a]\n", "%s:2: docker_labels_as_tags:",
                     "expected a string");
    check_file_error("statsd_metric_namespace_blocklist: [a]\n"
                     "statsd_metric_namespace_blacklist: [b]\n",
                     "%s:2: statsd_metric_namespace_blacklist:", "keep one");
    /* YAML-level errors: no key, but file and line. */
    check_file_error("site: a\nsite: b\n", "%s:2: duplicate key 'site'", NULL);
    check_file_error("a: [1, 2\nb: 3\n", "%s:", "did not find expected");
    check_file_error("- a\n- b\n", "%s:1: the top level must be a map", NULL);
    check_file_error("just text\n", "%s:1: the top level must be a map", NULL);
    check_file_error("x: &a 1\n", "%s:1: anchors and aliases", NULL);
}

static void test_env_and_set_errors(void **state)
{
    (void)state;
    struct md_config c;
    char err[512];
    setenv("METERD_DOGSTATSD_PORT", "eighty", 1);
    assert_int_equal(md_config_load(&c, NULL, NULL, 0, err, sizeof err), -EINVAL);
    md_config_free(&c);
    assert_string_equal(err, "environment METERD_DOGSTATSD_PORT: dogstatsd_port: expected an "
                             "integer, got \"eighty\"");
    unsetenv("METERD_DOGSTATSD_PORT");

    setenv("DD_HISTOGRAM_AGGREGATES", "max p42", 1);
    assert_int_equal(md_config_load(&c, NULL, NULL, 0, err, sizeof err), -EINVAL);
    md_config_free(&c);
    assert_non_null(strstr(err, "environment DD_HISTOGRAM_AGGREGATES: histogram_aggregates[1]: "));
    unsetenv("DD_HISTOGRAM_AGGREGATES");

    setenv("DD_TAGS", "[\"a\", ", 1);
    assert_int_equal(md_config_load(&c, NULL, NULL, 0, err, sizeof err), -EINVAL);
    md_config_free(&c);
    assert_non_null(strstr(err, "environment DD_TAGS: tags: cannot parse"));
    unsetenv("DD_TAGS");

    char *s1[] = {"flush_interval=5000"};
    assert_int_equal(md_config_load(&c, NULL, s1, 1, err, sizeof err), -EINVAL);
    md_config_free(&c);
    assert_string_equal(err, "--set flush_interval: 5000 is out of range (1..3600)");
    char *s2[] = {"no_such_key=1"};
    assert_int_equal(md_config_load(&c, NULL, s2, 1, err, sizeof err), -EINVAL);
    md_config_free(&c);
    assert_string_equal(err, "--set no_such_key: unknown key");
    char *s3[] = {"flush_interval"};
    assert_int_equal(md_config_load(&c, NULL, s3, 1, err, sizeof err), -EINVAL);
    md_config_free(&c);
    assert_string_equal(err, "--set flush_interval: expected key=value");

    char missing[128];
    snprintf(missing, sizeof missing, "%s/does-not-exist.yaml", tmpdir);
    assert_int_equal(md_config_load(&c, missing, NULL, 0, err, sizeof err), -ENOENT);
    md_config_free(&c);
    assert_non_null(strstr(err, missing));
}

static void test_api_key_never_echoed(void **state)
{
    (void)state;
    const char *key = "0123456789abcdefSECRETabcdef0123";
    struct md_config c;
    char err[512], yaml[256];

    /* Wrong type for api_key: only the type problem. */
    check_file_error("api_key: [a, b]\n", "%s:1: api_key: expected a string, got a list", NULL);
    /* Whitespace around the key is trimmed (as the agent does); inside, it is an error. */
    snprintf(yaml, sizeof yaml, "api_key: \"%.16s %s\"\n", key, key + 16);
    check_file_error(yaml, "%s:1: api_key: contains spaces", NULL);
    assert_int_equal(md_config_load(&c, write_conf(yaml), NULL, 0, err, sizeof err), -EINVAL);
    md_config_free(&c);
    assert_null(strstr(err, "SECRET"));

    /* The key pasted into another key by mistake is not echoed either. */
    snprintf(yaml, sizeof yaml, "api_key: %s\ndd_url: \"%s\"\n", key, key);
    assert_int_equal(md_config_load(&c, write_conf(yaml), NULL, 0, err, sizeof err), -EINVAL);
    md_config_free(&c);
    assert_non_null(strstr(err, ":2: dd_url:"));
    assert_null(strstr(err, "SECRET"));

    setenv("DD_API_KEY", key, 1);
    char set[128];
    snprintf(set, sizeof set, "dd_url=%s", key);
    char *sets[] = {set};
    assert_int_equal(md_config_load(&c, NULL, sets, 1, err, sizeof err), -EINVAL);
    md_config_free(&c);
    assert_non_null(strstr(err, "--set dd_url:"));
    assert_null(strstr(err, "SECRET"));

    /* Dump shows the last 4 characters only. */
    load_ok(&c, NULL, NULL, 0);
    char *d = dump(&c);
    assert_null(strstr(d, "SECRET"));
    assert_non_null(strstr(d, "api_key: \"***************0123\""));
    free(d);
    md_config_free(&c);
}

static void test_redact(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(md_config_redact("0123456789abcdef", buf, sizeof buf),
                        "***************cdef");
    assert_string_equal(md_config_redact("", buf, sizeof buf), "");
    assert_string_equal(md_config_redact(NULL, buf, sizeof buf), "");
    assert_string_equal(md_config_redact("short", buf, sizeof buf), "***************");
    char small[6];
    assert_string_equal(md_config_redact("0123456789abcdef", small, sizeof small), "*****");
}

static void test_mapper_profiles(void **state)
{
    (void)state;
    struct md_config c;
    load_ok(&c,
            "dogstatsd_mapper_profiles:\n"
            "  - name: airflow\n"
            "    prefix: \"airflow.\"\n"
            "    mappings:\n"
            "      - match: \"airflow.job.duration_sec.*.*\"\n"
            "        name: \"airflow.job.duration\"\n"
            "        tags:\n"
            "          job_type: \"$1\"\n"
            "          job_name: \"$2\"\n"
            "      - match: airflow.dag-run.*\n"
            "        match_type: wildcard\n"
            "        name: airflow.dag_run\n"
            "  - name: empty\n"
            "    prefix: e.\n"
            "    mappings: []\n",
            NULL, 0);
    assert_int_equal(c.dogstatsd_mapper_profiles.n, 2);
    const struct md_mapper_profile *p = &c.dogstatsd_mapper_profiles.v[0];
    assert_string_equal(p->name, "airflow");
    assert_string_equal(p->prefix, "airflow.");
    assert_int_equal(p->nmappings, 2);
    assert_string_equal(p->mappings[0].match, "airflow.job.duration_sec.*.*");
    assert_int_equal(p->mappings[0].match_type, MD_MATCH_WILDCARD); /* the default */
    assert_string_equal(p->mappings[0].name, "airflow.job.duration");
    assert_int_equal(p->mappings[0].tags.n, 2);
    assert_string_equal(p->mappings[0].tags.v[0], "job_type:$1");
    assert_string_equal(p->mappings[0].tags.v[1], "job_name:$2");
    assert_int_equal(p->mappings[1].tags.n, 0);
    assert_int_equal(c.dogstatsd_mapper_profiles.v[1].nmappings, 0);

    /* The dump reloads to the same profiles. */
    char *d = dump(&c);
    md_config_free(&c);
    load_ok(&c, d, NULL, 0);
    char *d2 = dump(&c);
    assert_non_null(strstr(d2, "match: \"airflow.job.duration_sec.*.*\""));
    free(d);
    free(d2);
    md_config_free(&c);

    const char *head = "dogstatsd_mapper_profiles:\n  - name: p\n    prefix: p.\n    mappings:\n";
    char y[512];
    snprintf(y, sizeof y, "%s      - match: \"p.**\"\n        name: x\n", head);
    check_file_error(y, "%s:5: dogstatsd_mapper_profiles[0].mappings[0].match:", "**");
    snprintf(y, sizeof y, "%s      - match: \"p.a b\"\n        name: x\n", head);
    check_file_error(y, "%s:5: dogstatsd_mapper_profiles[0].mappings[0].match:", "may only contain");
    snprintf(y, sizeof y, "%s      - match: \"p.*\"\n", head);
    check_file_error(y, "%s:5: dogstatsd_mapper_profiles[0].mappings[0].name: name is required",
                     NULL);
    snprintf(y, sizeof y, "%s      - match: p.*\n        name: x\n        match_type: glob\n",
             head);
    check_file_error(y, "%s:7: dogstatsd_mapper_profiles[0].mappings[0].match_type:",
                     "must be `wildcard` or `regex`");
    snprintf(y, sizeof y, "%s      - match: p.*\n        name: x\n        tags: [a]\n", head);
    check_file_error(y, "%s:7: dogstatsd_mapper_profiles[0].mappings[0].tags:", NULL);
    snprintf(y, sizeof y, "%s      - match: p.*\n        nam: x\n", head);
    check_file_error(y, "%s:6: dogstatsd_mapper_profiles[0].mappings[0].nam: unknown key", NULL);
    check_file_error("dogstatsd_mapper_profiles:\n  - name: p\n    mappings: []\n",
                     "%s:2: dogstatsd_mapper_profiles[0]: missing prefix for profile p", NULL);
    check_file_error("dogstatsd_mapper_profiles: {a: 1}\n",
                     "%s:1: dogstatsd_mapper_profiles: expected a list", NULL);

    setenv("DD_DOGSTATSD_MAPPER_PROFILES", "[{\"name\":\"e\",\"prefix\":\"e.\",\"mappings\":[]}]",
           1);
    load_ok(&c, NULL, NULL, 0);
    assert_int_equal(c.dogstatsd_mapper_profiles.n, 1);
    assert_string_equal(c.dogstatsd_mapper_profiles.v[0].name, "e");
    md_config_free(&c);
}

static void test_dump_round_trip(void **state)
{
    (void)state;
    struct md_config c;
    load_ok(&c,
            "site: \"we\\\"ird\"\nhostname: \"tab\\there\"\ntags: [\"a:b\", \"c\"]\n"
            "dogstatsd_socket_mode: \"0640\"\nstatsd_mode: etsy\nlog_level: error\n",
            NULL, 0);
    assert_string_equal(c.hostname, "tab\there");
    char *d1 = dump(&c);
    md_config_free(&c);
    load_ok(&c, d1, NULL, 0);
    assert_string_equal(DD(c)->site, "we\"ird");
    assert_int_equal(c.dogstatsd_socket_mode, 0640);
    char *d2 = dump(&c);
    /* Same apart from the config_file comment line. */
    assert_string_equal(strchr(strchr(d1, '\n') + 1, '\n'), strchr(strchr(d2, '\n') + 1, '\n'));
    free(d1);
    free(d2);
    md_config_free(&c);
}

static void test_auto_paths(void **state)
{
    (void)state;
    struct md_config c;
    setenv("HOST_PROC", "/somewhere/proc", 1);
    setenv("HOST_SYS", "/somewhere/sys", 1);
    load_ok(&c, NULL, NULL, 0);
    assert_string_equal(c.procfs_path, "/somewhere/proc");
    assert_string_equal(c.sysfs_path, "/somewhere/sys");
    md_config_free(&c);
    setenv("DD_PROCFS_PATH", "/explicit", 1);
    load_ok(&c, NULL, NULL, 0);
    assert_string_equal(c.procfs_path, "/explicit"); /* a set key beats auto */
    md_config_free(&c);
    clear_env();
    load_ok(&c, NULL, NULL, 0);
    /* Which one depends on whether this runs in a container; never empty. */
    assert_true(strcmp(c.procfs_path, "/proc") == 0 || strcmp(c.procfs_path, "/host/proc") == 0);
    assert_true(strcmp(c.sysfs_path, "/sys") == 0 || strcmp(c.sysfs_path, "/host/sys") == 0);
    md_config_free(&c);
}

/* conf.d/meterd.yaml is generated from the table; keep the two in step. */
static void test_shipped_template(void **state)
{
    (void)state;
    char *gen = NULL, path[512];
    size_t n = 0;
    FILE *f = open_memstream(&gen, &n);
    md_config_write_template(f);
    fclose(f);

    snprintf(path, sizeof path, "%s/../../conf.d/meterd.yaml", MD_FIXTURES);
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char *shipped = calloc(1, n + 2);
    size_t got = fread(shipped, 1, n + 1, in);
    fclose(in);
    if (got != n || memcmp(shipped, gen, n) != 0)
        fail_msg("conf.d/meterd.yaml is out of date: regenerate it with "
                 "`meterd configcheck --template > conf.d/meterd.yaml`");
    free(shipped);

    /* Every key appears with the annotation, and uncommenting every example gives the defaults. */
    struct md_config d, c;
    md_config_defaults(&d);
    char *dd = dump(&d);
    for (const char *line = strstr(dd, "\napi_key:"); line; line = strchr(line + 1, '\n')) {
        char want[128];
        int klen = (int)strcspn(line + 1, ":");
        if (klen == 0)
            break;
        if (line[1] == ' ')
            continue; /* a nested key, under its map's line */
        snprintf(want, sizeof want, "## @param %.*s - ", klen, line + 1);
        char nested[128]; /* a map of keys ("use_v2_api:") is annotated key by key */
        snprintf(nested, sizeof nested, "## @param %.*s.", klen, line + 1);
        if (!strstr(gen, want) && !strstr(gen, nested))
            fail_msg("template lacks '%s'", want);
    }
    char *uncommented = calloc(1, n + 1), *o = uncommented;
    for (const char *s = gen; *s;) {
        size_t len = strcspn(s, "\n");
        bool example = len > 2 && s[0] == '#' && s[1] == ' ' && s[2] >= 'a' && s[2] <= 'z';
        memcpy(o, example ? s + 2 : s, example ? len - 2 : len);
        o += example ? len - 2 : len;
        *o++ = '\n';
        s += len + (s[len] == '\n');
    }
    *o = '\0';
    load_ok(&c, uncommented, NULL, 0);
    md_config_free(&d);
    load_ok(&d, "", NULL, 0);
    char *a = dump(&c), *b = dump(&d);
    assert_string_equal(strchr(strchr(a, '\n') + 1, '\n'), strchr(strchr(b, '\n') + 1, '\n'));
    free(a);
    free(b);
    free(dd);
    free(uncommented);
    free(gen);
    md_config_free(&c);
    md_config_free(&d);
}

/* Values that `meterd run` refused while the loader took them: now refused at load. */
static void test_checked_at_load(void **state)
{
    (void)state;
    struct md_config c;
    char *v6[] = {"status_host=::1"};
    load_ok(&c, NULL, v6, 1);
    assert_string_equal(c.status_host, "::1");
    md_config_free(&c);
    /* the status server binds an address literal: a name would fail only at start */
    check_file_error("status_host: localhost\n", "%s:1: status_host: expected an IP address",
                     NULL);
    /* the histogram keeps at most 16 percentiles */
    check_file_error("histogram_percentiles: [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08,"
                     " 0.09, 0.1, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.17]\n",
                     "%s:1: histogram_percentiles: at most 16 items", NULL);
    /* a mapper regex is compiled as the mapper anchors it */
    check_file_error("dogstatsd_mapper_profiles:\n  - name: p\n    prefix: p.\n    mappings:\n"
                     "      - match: \"p.(\"\n        match_type: regex\n        name: x\n",
                     "%s:5: dogstatsd_mapper_profiles[0].mappings[0].match: invalid match",
                     "cannot compile regex");
}

/* etsy's thresholds: non-zero numbers in [-100, 100], negatives included. */
static void test_percent_threshold(void **state)
{
    (void)state;
    struct md_config c;
    load_ok(&c, "percent_threshold: [90, 95.5, -10]\n", NULL, 0);
    assert_int_equal(c.percent_threshold.n, 3);
    assert_true(c.percent_threshold.v[2] == -10);
    md_config_free(&c);
    const char *bad[] = {"abc", "0", "101", "-100.5", "90x", "nan", "inf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[64];
        snprintf(yaml, sizeof yaml, "percent_threshold: [\"%s\"]\n", bad[i]);
        check_file_error(yaml, "%s:1: percent_threshold[0]:", NULL);
    }
}

static void test_durations(void **state)
{
    (void)state;
    struct md_config c;
    load_ok(&c, "flush_interval: 1m\nforwarder_timeout: \"30s\"\n"
                "dogstatsd_expiry_seconds: 1h\n", NULL, 0);
    assert_int_equal(c.flush_interval, 60);
    assert_int_equal(c.forwarder_timeout, 30);
    assert_int_equal(c.dogstatsd_expiry_seconds, 3600);
    assert_dump_has(&c, "flush_interval: 60");
    md_config_free(&c);
    load_ok(&c, "forwarder_stop_timeout: 7\n", NULL, 0); /* the Datadog agent's name */
    assert_int_equal(c.shutdown_timeout, 7);
    md_config_free(&c);
    check_file_error("forwarder_stop_timeout: 2h\n", "%s:1: forwarder_stop_timeout: 7200 is out of range",
                     NULL);
    check_file_error("flush_interval: 2h\n", "%s:1: flush_interval: 7200 is out of range", NULL);
    check_file_error("flush_interval: 10ms\n", "%s:1: flush_interval: expected a duration", NULL);
}

/* dd_url and the errors about it never show its user:password or query string. */
static void test_url_redacted(void **state)
{
    (void)state;
    char buf[256];
    assert_string_equal(md_url_redact("https://u:hunter2@vm.example:8428/dd?token=abc#f", buf,
                                      sizeof buf),
                        "https://***@vm.example:8428/dd?***");
    assert_string_equal(md_url_redact("http://a@b@host/x", buf, sizeof buf), "http://***@host/x");
    assert_string_equal(md_url_redact("http://host:1/p", buf, sizeof buf), "http://host:1/p");
    struct md_config c;
    load_ok(&c, "dd_url: \"https://u:hunter2@vm.example/dd?token=abc\"\n", NULL, 0);
    char *d = dump(&c);
    assert_null(strstr(d, "hunter2"));
    assert_null(strstr(d, "token=abc"));
    assert_non_null(strstr(d, "dd_url: \"https://***@vm.example/dd?***\""));
    free(d);
    md_config_free(&c);
    char err[512];
    const char *path = write_conf("dd_url: \"https://u:hunter2@vm example/\"\n");
    assert_int_equal(md_config_load(&c, path, NULL, 0, err, sizeof err), -EINVAL);
    md_config_free(&c);
    assert_non_null(strstr(err, "dd_url: expected a URL without spaces"));
    assert_null(strstr(err, "hunter2"));
}

/* The sinks that run decide whether distributions are kept as sketches. */
static void test_sinks_decide_sketches(void **state)
{
    (void)state;
    static const struct {
        const char *set[3];
        const char *sinks;
        bool sketch;
    } cases[] = {
        {{"api_key=0123456789abcdef"}, "datadog", true},
        {{"api_key=0123456789abcdef", "dd_url=http://127.0.0.1:8428/datadog"}, "datadog", false},
        {{"dd_url=https://app.datadoghq.eu", "api_key=0123456789abcdef"}, "datadog", true},
        {{"dd_url=http://127.0.0.1:8428/datadog", "distribution_output=sketch"}, "datadog", true},
        {{"api_key=0123456789abcdef", "distribution_output=series"}, "datadog", false},
        {{"distribution_output=sketch"}, "console", false}, /* console prints series */
        {{"api_key=0123456789abcdef", "sinks=console"}, "console", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct md_config c;
        size_t n = 0;
        while (n < 3 && cases[i].set[n])
            n++;
        load_ok(&c, NULL, (char *const *)cases[i].set, n);
        const struct md_sink_ops *ops[4];
        assert_int_equal(md_config_sinks(&c, ops, 4), 1);
        assert_string_equal(ops[0]->name, cases[i].sinks);
        char *d = dump(&c), want[96];
        snprintf(want, sizeof want, "\n# sinks that will run: %s\n", cases[i].sinks);
        assert_non_null(strstr(d, want));
        free(d);
        struct md_str tags[MD_CTX_MAX_TAGS];
        struct md_agg_opts o;
        md_config_agg_opts(&c, "h", tags, &o);
        if (o.dist_sketch != cases[i].sketch)
            fail_msg("case %zu: dist_sketch %d", i, o.dist_sketch);
        md_config_free(&c);
    }
}

/* `sinks` accepts exactly the registered sinks. */
static void test_sink_names_match_registry(void **state)
{
    (void)state;
    for (size_t i = 0; md_sink_at(i); i++) {
        struct md_config c;
        char set[64];
        char *sets[] = {set};
        snprintf(set, sizeof set, "sinks=%s", md_sink_at(i)->name);
        load_ok(&c, NULL, sets, 1);
        md_config_free(&c);
    }
}

static void test_default_file(void **state)
{
    (void)state;
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmpdir), 0);
    assert_null(md_config_default_file());
    assert_int_equal(mkdir("conf.d", 0755), 0);
    FILE *f = fopen("conf.d/meterd.yaml", "w");
    assert_non_null(f);
    fclose(f);
    assert_string_equal(md_config_default_file(), MD_CONFIG_DEFAULT_FILE);
    unlink("conf.d/meterd.yaml");
    rmdir("conf.d");
    assert_int_equal(chdir(cwd), 0);
}

int main(void)
{
    if (tmpdir_make("md_config"))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_file_and_no_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_and_set_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_key_never_echoed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checked_at_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_percent_threshold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_redacted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sinks_decide_sketches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_names_match_registry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mapper_profiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shipped_template, setup, teardown),
    };
    return tmpdir_remove(cmocka_run_group_tests(tests, NULL, NULL));
}
