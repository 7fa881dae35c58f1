/*
 * udp_fixture.h: a free UDP port on loopback for the tests that run the
 * real pipeline on a real socket (test_pipeline.c, test_ledger.c), and a
 * sender to it. The kernel picks the port (bind to port 0), so tests
 * running at the same time on the machine do not collide. Static inline,
 * as spool_fixture.h.
 */
#ifndef METERD_TEST_UDP_FIXTURE_H
#define METERD_TEST_UDP_FIXTURE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int free_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

/* An unbound UDP socket, and in *a the address of 127.0.0.1:port for its sendto. */
static inline int udp_sender(int port, struct sockaddr_in *a)
{
    *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return socket(AF_INET, SOCK_DGRAM, 0);
}

#endif
