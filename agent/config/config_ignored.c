/*
 * config_ignored.c: keys of the Datadog agent's datadog.yaml that meterd
 * recognises but does not implement, each with the reason it prints. A
 * user moving from the agent keeps their file: these keys load as a
 * warning ("not implemented, ignored: REASON") instead of "unknown key",
 * so `meterd configcheck` says why a key has no effect rather than
 * guessing at a typo. A key meterd implements is never listed here; its
 * row in config_keys.c (or a sink's table) wins.
 */
#include <string.h>
#include "config_int.h"
struct cfg_ignored {
    const char *name;
    const char *why;
};
static const char LOGS[] = "log collection is not part of meterd";
static const char APM[] = "APM traces are not part of meterd";
static const char PROC[] = "process and container live views are not part of meterd";
static const char IPC[] = "meterd has no IPC API; its status server is status_host/status_port";
static const char LOGF[] = "meterd logs to stderr in the agent's line format, for journald or docker logs";
static const char META[] = "host metadata collection is not implemented";
static const char CLOUD[] = "cloud provider tags are not collected";
static const char FWD[] = "meterd's forwarder has fixed retry and queue bounds";
static const char AUTODISC[] = "autodiscovery is not implemented: checks come from conf.d";
static const char K8S[] = "Kubernetes and cluster-agent integration are not implemented";
static const char CONT[] = "container tagging options are not implemented";
static const char SEC[] = "security and compliance products are not part of meterd";
static const char NPM[] = "network performance monitoring is not part of meterd";
static const char PY[] = "meterd runs built-in C collectors, not Python checks";
static const char DSD[] = "DogStatsD option not implemented";
static const char RC[] = "remote configuration and fleet management are not implemented";
static const char OTLP[] = "OTLP ingest is not implemented";
static const struct cfg_ignored cfg_ignored_keys[] = {
    {"logs_enabled", LOGS}, {"logs_config", LOGS}, {"log_enabled", LOGS},
    {"apm_config", APM}, {"apm_enabled", APM},
    {"process_config", PROC}, {"process_agent_enabled", PROC},
    {"use_dogstatsd", "DogStatsD is meterd's core and always runs; dogstatsd_port: 0 turns UDP off"},
    {"expvar_port", IPC}, {"cmd_port", IPC}, {"cmd_host", IPC}, {"ipc_address", IPC},
    {"GUI_port", IPC}, {"gui_port", IPC}, {"agent_ipc", IPC},
    {"log_file", LOGF}, {"log_to_console", LOGF}, {"log_format_json", LOGF},
    {"log_to_syslog", LOGF}, {"syslog_uri", LOGF}, {"syslog_rfc", LOGF}, {"syslog_tls", LOGF},
    {"log_file_max_size", LOGF}, {"log_file_max_rolls", LOGF}, {"disable_file_logging", LOGF},
    {"log_format_rfc3339", LOGF}, {"log_payloads", LOGF},
    {"enable_metadata_collection", META}, {"enable_gohai", META}, {"inventories_enabled", META},
    {"inventories_configuration_enabled", META}, {"metadata_providers", META},
    {"hostname_fqdn", META}, {"hostname_force_config_as_canonical", META},
    {"hostname_trust_uts_namespace", META}, {"check_runners", PY}, {"python_version", PY},
    {"python3_linter_timeout", PY}, {"additional_checksd", PY}, {"jmx_use_cgroup_memory_limit", PY},
    {"collect_ec2_tags", CLOUD}, {"collect_ec2_tags_use_imds", CLOUD}, {"ec2_prefer_imdsv2", CLOUD},
    {"collect_gce_tags", CLOUD}, {"exclude_gce_tags", CLOUD}, {"cloud_provider_metadata", CLOUD},
    {"use_proxy_for_cloud_metadata", CLOUD}, {"ec2_metadata_timeout", CLOUD},
    {"additional_endpoints", "meterd ships to one Datadog endpoint (site or dd_url)"},
    {"app_key", "meterd calls no Datadog API that needs an application key"},
    {"forwarder_retry_queue_max_size", FWD},
    {"forwarder_backoff_factor", FWD},
    {"forwarder_recovery_interval", FWD}, {"forwarder_apikey_validation_interval", FWD},
    {"forwarder_connection_reset_interval", FWD},
    {"min_tls_version", FWD}, {"sslkeylogfile", FWD}, {"no_proxy_nonexact_match", FWD},
    {"serializer_max_payload_size", FWD}, {"serializer_max_uncompressed_payload_size", FWD},
    {"enable_payloads", FWD},
    {"listeners", AUTODISC}, {"config_providers", AUTODISC}, {"extra_listeners", AUTODISC},
    {"extra_config_providers", AUTODISC}, {"autoconf_template_dir", AUTODISC},
    {"autoconf_config_files_poll", AUTODISC}, {"ad_config_poll_interval", AUTODISC},
    {"autoconfig_exclude_features", AUTODISC}, {"autoconfig_include_features", AUTODISC},
    {"cluster_agent", K8S}, {"cluster_checks", K8S}, {"cluster_name", K8S},
    {"orchestrator_explorer", K8S}, {"kubernetes_kubelet_host", K8S}, {"kubelet_tls_verify", K8S},
    {"kubernetes_pod_labels_as_tags", K8S}, {"kubernetes_pod_annotations_as_tags", K8S},
    {"kubernetes_node_labels_as_tags", K8S}, {"kubernetes_namespace_labels_as_tags", K8S},
    {"collect_kubernetes_events", K8S}, {"leader_election", K8S}, {"external_metrics_provider", K8S},
    {"container_labels_as_tags", CONT},
    {"container_env_as_tags", CONT},
    {"container_include_metrics", CONT}, {"container_exclude_metrics", CONT}, {"ac_include", CONT},
    {"ac_exclude", CONT}, {"exclude_pause_container", CONT}, {"checks_tag_cardinality", CONT},
    {"cri_socket_path", CONT},
    {"container_proc_root", CONT}, {"ecs_collect_resource_tags_ec2", CONT},
    {"runtime_security_config", SEC}, {"compliance_config", SEC}, {"sbom", SEC},
    {"network_config", NPM}, {"system_probe_config", NPM}, {"network_path", NPM},
    {"remote_configuration", RC}, {"remote_updates", RC}, {"fleet_policies_dir", RC},
    {"otlp_config", OTLP}, {"telemetry", "the agent's own telemetry is at status_host:status_port/metrics"},
    {"internal_profiling", "meterd has no built-in profiler"},
    {"flare_stripped_keys", "meterd redacts every secret key it knows"},
    {"dogstatsd_stats_enable", DSD}, {"dogstatsd_stats_buffer", DSD}, {"dogstatsd_stats_port", DSD},
    {"dogstatsd_queue_size", DSD}, {"dogstatsd_string_interner_size", DSD},
    {"dogstatsd_entity_id_precedence", DSD}, {"dogstatsd_metrics_stats_enable", DSD},
    {"dogstatsd_capture_path", DSD}, {"dogstatsd_capture_depth", DSD},
    {"dogstatsd_disable_verbose_logs", DSD}, {"dogstatsd_log_file", DSD},
    {"dogstatsd_logging_enabled", DSD}, {"dogstatsd_log_file_max_size", DSD},
    {"dogstatsd_pipe_name", DSD},
    {"dogstatsd_windows_pipe_name", DSD}, {"dogstatsd_packet_buffer_size", DSD},
    {"dogstatsd_packet_buffer_flush_timeout", DSD}, {"dogstatsd_workers_count", DSD},
    {"statsd_forward_host", DSD}, {"statsd_forward_port", DSD},
    {"histogram_copy_to_distribution", DSD}, {"histogram_copy_to_distribution_prefix", DSD},
    {"aggregator_buffer_size", DSD}, {"aggregator_stop_timeout", DSD},
    {"aggregator_flush_metrics_and_serialize_in_parallel", DSD},
    {"database_monitoring", "database monitoring is not part of meterd"},
    {"observability_pipelines_worker", FWD}, {"vector", FWD},
    {"convert_dd_site_fqdn", FWD}, {"expected_tags_duration", META},
    {"windows_use_pythonpath", PY}, {"secret_backend_command_sha256", "not checked by meterd"},
    {"secret_backend_remove_trailing_line_break", "meterd always trims a secret's whitespace"},
    {"secret_refresh_interval", "secrets are resolved once per load (SIGHUP reloads)"},
    {NULL, NULL},
};
const char *md_config_ignored_why(const char *name)
{
    for (const struct cfg_ignored *k = cfg_ignored_keys; k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k->why;
    return NULL;
}
size_t md_config_ignored_count(void)
{
    return sizeof cfg_ignored_keys / sizeof cfg_ignored_keys[0] - 1;
}
const char *md_config_ignored_at(size_t i, const char **why)
{
    if (i >= md_config_ignored_count())
        return NULL;
    *why = cfg_ignored_keys[i].why;
    return cfg_ignored_keys[i].name;
}
