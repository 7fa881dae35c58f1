/*
 * intake.h: the DogStatsD sockets that the pipeline's intake threads read.
 *
 * UDP (one SO_REUSEPORT socket per intake thread) and optionally a unix
 * datagram socket, opened with the receive buffer asked for, and their
 * kernel drop counters.
 */
#ifndef METERD_INTAKE_H
#define METERD_INTAKE_H

#include <stddef.h>
#include <stdint.h>

/* Open a bound, non-blocking UDP socket; returns fd or -errno and a message in err. */
int md_intake_udp_socket(const char *host, int port, int rcvbuf, int reuseport, char *err,
                         size_t errlen);
int md_intake_uds_socket(const char *path, int mode, int rcvbuf, char *err, size_t errlen);
/* Datagrams the kernel dropped on the UDP sockets of these inodes (/proc/net/udp), -1 if unknown. */
int64_t md_intake_kernel_drops(const unsigned long *inodes, unsigned n);

#endif
