/*
 * status.h: the agent's loopback HTTP endpoints: /health (and /live,
 * /ready for Kubernetes probes), /status (JSON for `meterd status`) and
 * /metrics (OpenMetrics text of the agent's own telemetry).
 */
#ifndef METERD_STATUS_H
#define METERD_STATUS_H

#include <stddef.h>

struct md_daemon;
struct md_status;

struct md_status *md_status_new(struct md_daemon *d, char *err, size_t errlen);
void md_status_close(struct md_status *s); /* stop listening; handles close on the loop */
void md_status_free(struct md_status *s);

#endif
