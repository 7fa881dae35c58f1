/*
 * probe.h: the health_port listener, /live and /ready for kubelet and ECS
 * probes. It listens on all interfaces, because a kubelet probes the pod's
 * address, and so serves nothing but those two answers; /status and
 * /metrics stay on the loopback status server.
 */
#ifndef METERD_PROBE_H
#define METERD_PROBE_H

#include <stddef.h>

struct md_daemon;
struct md_probe;

struct md_probe *md_probe_new(struct md_daemon *d, char *err, size_t errlen);
void md_probe_free(struct md_probe *p); /* stop listening; handles close on the loop */

#endif
