/*
 * intake.h: the DogStatsD sockets.
 *
 * UDP (and optionally a unix datagram socket) read in batches with
 * recvmmsg, drained fully on each wake-up, each datagram handed to the
 * statsd stage. This is the single-loop intake; the socket setup here is
 * shared with the threaded intake.
 */
#ifndef METERD_INTAKE_H
#define METERD_INTAKE_H

#include <stdint.h>
#include <uv.h>

#include "meterd/config.h"
#include "statsd.h"

struct md_intake;

struct md_intake *md_intake_new(uv_loop_t *loop, const struct md_config *cfg, struct md_statsd *sd,
                                char *err, size_t errlen);
/* Read whatever the sockets hold right now (before a shutdown). */
void md_intake_drain(struct md_intake *in);
/* Stop reading and close the sockets (handles close on the loop). */
void md_intake_close(struct md_intake *in);
void md_intake_free(struct md_intake *in);
/* Datagrams the kernel dropped on our sockets (from /proc/net/udp), -1 if unknown. */
int64_t md_intake_kernel_drops(struct md_intake *in);
/* The UDP port listened on, 0 when UDP is off. */
int md_intake_udp_port(const struct md_intake *in);

/* Open a bound, non-blocking UDP socket; returns fd or -errno and a message in err. */
int md_intake_udp_socket(const char *host, int port, int rcvbuf, int reuseport, char *err,
                         size_t errlen);
int md_intake_uds_socket(const char *path, int mode, int rcvbuf, char *err, size_t errlen);

#endif
