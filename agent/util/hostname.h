/*
 * hostname.h: the one place that decides the host name meterd reports.
 *
 * In a container the OS host name is often the container's own id, which
 * would make every container its own "host" in the backend. So the name is
 * resolved the way the Datadog agent resolves it, first answer wins:
 *   1. hostname (DD_HOSTNAME)
 *   2. hostname_file (DD_HOSTNAME_FILE): the first line of that file
 *   3. the Docker Engine's own name (GET /info on docker_host / DOCKER_HOST
 *      or /var/run/docker.sock), when the socket is there
 *   4. kubernetes_kubelet_nodename (DD_KUBERNETES_KUBELET_NODENAME, set from
 *      spec.nodeName by the DaemonSet)
 *   5. the ECS container instance, when running as an ECS task: the ECS
 *      agent's /v1/metadata (EC2 instance id, else the container instance id)
 *   6. the OS host name, unless it is this container's own id
 * Network look-ups have short bounded timeouts: this runs once at start-up,
 * before the loop, and must never hang the agent.
 */
#ifndef METERD_HOSTNAME_H
#define METERD_HOSTNAME_H

#include <stddef.h>

#include "meterd/config.h"

struct md_hostname {
    char name[256];
    const char *source; /* static: "hostname", "hostname_file", "docker", ... */
    char detail[512];   /* where it came from and which sources were skipped, for humans */
};

/*
 * Fill h. Returns 0, or -ENOENT when no source gave a usable name; h->name
 * then holds the OS host name (perhaps the container id) and h->detail says
 * why it was refused, so a debugging command can still go on with it.
 */
int md_hostname_resolve(const struct md_config *c, struct md_hostname *h);

/* A name Datadog would accept from an automatic source: RFC 1123 labels, not "localhost". */
int md_hostname_valid(const char *name);

/*
 * The top-level string member `key` of a JSON object, unescaped into out.
 * Returns 0, or -1 when absent, not a string, or too long. Nested objects
 * are skipped, so {"Plugins":{"Name":"x"},"Name":"h"} gives "h".
 */
int md_hostname_json_member(const char *json, size_t n, const char *key, char *out, size_t len);

#endif
