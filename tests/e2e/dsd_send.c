/*
 * dsd_send.c: a minimal DogStatsD client for the origin detection tests,
 * built static so it runs inside a busybox container (which has no tool
 * that writes to a unix datagram socket). Usage:
 *   dsd_send unix PATH LINE...     one datagram per LINE
 *   dsd_send udp HOST PORT LINE...
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    int un = strcmp(argv[1], "unix") == 0;
    int fd = socket(un ? AF_UNIX : AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    struct sockaddr_in si = {.sin_family = AF_INET};
    int first = un ? 3 : 4;
    if (fd < 0 || (!un && argc < 5))
        return 2;
    if (un)
        snprintf(su.sun_path, sizeof su.sun_path, "%s", argv[2]);
    else if (inet_pton(AF_INET, argv[2], &si.sin_addr) != 1)
        return 2;
    else
        si.sin_port = htons((unsigned short)atoi(argv[3]));
    for (int i = first; i < argc; i++) {
        ssize_t n = un ? sendto(fd, argv[i], strlen(argv[i]), 0, (struct sockaddr *)&su, sizeof su)
                       : sendto(fd, argv[i], strlen(argv[i]), 0, (struct sockaddr *)&si, sizeof si);
        if (n < 0) {
            perror("sendto");
            return 1;
        }
    }
    return 0;
}
