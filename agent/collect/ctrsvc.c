/*
 * ctrsvc.c: wiring of the container services (see ctrsvc.h). Order
 * matters when stopping: the clients are marked closing first, then the
 * fetcher cancels their requests (their callbacks see `closing`), and the
 * table is freed last, once nothing can write to it.
 */
#include "ctrsvc.h"

#include <stdio.h>
#include <stdlib.h>

#include "containers.h"
#include "ecs.h"
#include "docker_api.h"
#include "uvfetch.h"

struct md_ctrsvc {
    struct md_containers *store;
    struct md_fetcher *fetcher;
    struct md_docker *docker;
    struct md_ecs *ecs;
};

struct md_ctrsvc *md_ctrsvc_new(uv_loop_t *loop, const struct md_config *cfg, char *err, size_t errlen)
{
    struct md_ctrsvc *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct md_containers_opts o = {
        .cgroup_root = cfg->container_cgroup_root,
        .procfs = cfg->procfs_path,
        .include = (const char *const *)cfg->container_include.v,
        .ninclude = cfg->container_include.n,
        .exclude = (const char *const *)cfg->container_exclude.v,
        .nexclude = cfg->container_exclude.n,
        .discovery_interval_s = (unsigned)cfg->container_discovery_interval,
    };
    if (!(s->store = md_containers_new(&o, err, errlen))) {
        free(s);
        return NULL;
    }
    if (!loop)
        return s;
    if (!(s->fetcher = md_fetcher_new(loop))) {
        snprintf(err, errlen, "containers: cannot start libcurl");
        md_ctrsvc_free(s);
        return NULL;
    }
    struct md_docker_opts d = {
        .docker_host = cfg->docker_host,
        .labels_as_tags = (const char *const *)cfg->docker_labels_as_tags.v,
        .nlabels = cfg->docker_labels_as_tags.n,
        .env_as_tags = (const char *const *)cfg->docker_env_as_tags.v,
        .nenv = cfg->docker_env_as_tags.n,
        .refresh_s = (unsigned)cfg->container_discovery_interval,
    };
    s->docker = md_docker_new(loop, s->fetcher, s->store, &d);
    s->ecs = md_ecs_new(loop, s->fetcher, s->store, NULL, (unsigned)cfg->container_discovery_interval);
    return s;
}

struct md_containers *md_ctrsvc_containers(struct md_ctrsvc *s)
{
    return s ? s->store : NULL;
}

void md_ctrsvc_start(struct md_ctrsvc *s)
{
    if (s && s->docker)
        md_docker_start(s->docker);
}

static bool synced(const struct md_ctrsvc *s)
{
    return (!s->docker || md_docker_synced(s->docker)) && md_ecs_synced(s->ecs);
}

static void on_guard(uv_timer_t *t)
{
    (void)t;
}

void md_ctrsvc_wait_synced(struct md_ctrsvc *s, uv_loop_t *loop, unsigned timeout_ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)timeout_ms * 1000000;
    uv_timer_t guard; /* keeps uv_run(ONCE) from blocking past the deadline */
    uv_timer_init(loop, &guard);
    uv_timer_start(&guard, on_guard, 50, 50);
    while (s && !synced(s) && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

void md_ctrsvc_stop(struct md_ctrsvc *s)
{
    if (!s)
        return;
    md_docker_free(s->docker);
    md_ecs_free(s->ecs);
    md_fetcher_free(s->fetcher);
    s->docker = NULL;
    s->ecs = NULL;
    s->fetcher = NULL;
}

void md_ctrsvc_free(struct md_ctrsvc *s)
{
    if (!s)
        return;
    md_ctrsvc_stop(s);
    md_containers_free(s->store);
    free(s);
}
