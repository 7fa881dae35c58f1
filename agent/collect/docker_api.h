/*
 * docker_api.h: the Docker Engine API client that names containers.
 *
 * It talks to the daemon's socket (DOCKER_HOST, as the docker CLI and the
 * Datadog agent find it; default unix:///var/run/docker.sock) through
 * libcurl on the event loop: GET /containers/json?all=1 on start and on the
 * discovery cadence, GET /containers/<id>/json once per container for its
 * start time and environment, and GET /events as a stream so a started or
 * removed container is seen at once. What it learns goes into the shared
 * container table; collection never waits for it. A missing socket is
 * logged once: metrics still flow, tagged with container_id only.
 */
#ifndef METERD_DOCKER_API_H
#define METERD_DOCKER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "uvfetch.h"

struct md_containers;

struct md_docker_opts {
    const char *docker_host;             /* NULL/"" = $DOCKER_HOST, else unix:///var/run/docker.sock */
    const char *const *labels_as_tags;   /* "label:tag" (or "label": the tag is the label name) */
    size_t nlabels;
    const char *const *env_as_tags;      /* "VAR:tag" (or "VAR") */
    size_t nenv;
    unsigned refresh_s;                  /* full list cadence; 0 = 30 */
};

struct md_docker;

/* The fetcher and the table must outlive the client. */
struct md_docker *md_docker_new(uv_loop_t *loop, struct md_fetcher *f, struct md_containers *store,
                                const struct md_docker_opts *o);
int md_docker_start(struct md_docker *d);
/* True once the first listing (and its inspections) finished, or failed. */
bool md_docker_synced(const struct md_docker *d);
/* Stops requests and timers; the loop must run to release the handles. */
void md_docker_free(struct md_docker *d);

/* Pure parts, for tests: the socket path / base URL of a DOCKER_HOST value. */
int md_docker_host_parse(const char *docker_host, char *sock, size_t socklen, char *base,
                         size_t baselen);

#endif
