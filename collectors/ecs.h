/*
 * ecs.h: ECS task metadata (v4) as container tags.
 *
 * On ECS every container gets ECS_CONTAINER_METADATA_URI_V4; ${URI}/task
 * describes the task and all its containers (docker ids, names, images,
 * labels). The client fetches it on the loop on start and on the discovery
 * cadence and records task_family, task_version, ecs_cluster_name,
 * task_arn, ecs_container_name and the docker name of each container in
 * the shared table. Unset or unreachable: logged once, nothing else.
 */
#ifndef MD_ECS_H
#define MD_ECS_H

#include <stddef.h>
#include <uv.h>

#include "containers.h"
#include "uvfetch.h"

/* Apply one ${URI}/task document: number of containers recorded, or -EINVAL. */
int md_ecs_apply_task(struct md_containers *s, const char *json, size_t len);

struct md_ecs;
/* uri NULL: $ECS_CONTAINER_METADATA_URI_V4; returns NULL when there is none. */
struct md_ecs *md_ecs_new(uv_loop_t *loop, struct md_fetcher *f, struct md_containers *s,
                          const char *uri, unsigned refresh_s);
bool md_ecs_synced(const struct md_ecs *e);
/* As md_docker_free: free the fetcher in the same loop turn. */
void md_ecs_free(struct md_ecs *e);

#endif
