/*
 * intake.c: the DogStatsD sockets (see intake.h).
 *
 * Opening them is apart from reading them (pipeline.c) because the socket
 * options are where drops are decided: the receive buffer is what holds
 * datagrams while the intake thread is off the CPU, so it is asked for
 * with SO_RCVBUFFORCE when net.core.rmem_max is too low and the process
 * may pass it (CAP_NET_ADMIN, e.g. root in a container), and a warning
 * names the sysctl otherwise. Host "::" (non-local traffic) is one
 * dual-stack socket receiving IPv4 and IPv6, as the Datadog agent's
 * ":8125" does; a kernel without IPv6 gets 0.0.0.0 instead.
 */
#include "intake.h"

#include <errno.h>
#include <stdbool.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

static void set_rcvbuf(int fd, int rcvbuf)
{
    if (rcvbuf <= 0)
        return;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    int got = 0;
    socklen_t gl = sizeof got;
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl);
    if (got / 2 < rcvbuf) {
        /* Root (CAP_NET_ADMIN) may go past net.core.rmem_max. */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
        getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl);
    }
    if (got / 2 < rcvbuf) /* the kernel reports double what it grants for bookkeeping */
        md_warn("dogstatsd_so_rcvbuf: asked %d bytes, the kernel granted %d; raise "
                "net.core.rmem_max (sysctl -w net.core.rmem_max=%d) or run with CAP_NET_ADMIN",
                rcvbuf, got / 2, rcvbuf);
}

int md_intake_udp_socket(const char *host, int port, int rcvbuf, int reuseport, char *err,
                         size_t errlen)
{
    if (strcmp(host, "::") == 0) {
        int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 && errno == EAFNOSUPPORT) {
            md_info("dogstatsd: no IPv6 on this host; listening on 0.0.0.0 only");
            host = "0.0.0.0";
        }
        if (fd >= 0)
            close(fd);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    int rc = getaddrinfo(host, ports, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "dogstatsd: cannot resolve %s: %s", host, gai_strerror(rc));
        return -EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        freeaddrinfo(ai);
        snprintf(err, errlen, "dogstatsd: socket: %s", strerror(-rc));
        return rc;
    }
    int one = 1, zero = 0;
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    set_rcvbuf(fd, rcvbuf);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        rc = -errno;
        snprintf(err, errlen, "dogstatsd: bind %s:%d: %s", host, port, strerror(-rc));
        close(fd);
        freeaddrinfo(ai);
        return rc;
    }
    freeaddrinfo(ai);
    return fd;
}

/*
 * Whether something is bound to the datagram socket at sa. Only
 * ECONNREFUSED (nobody bound) or ENOENT proves the file stale; any other
 * failure, such as EACCES for a socket we may not write to, counts as live.
 */
static bool intake_uds_is_live(const struct sockaddr_un *sa)
{
    int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return false;
    bool live = connect(probe, (const struct sockaddr *)sa, sizeof *sa) == 0 ||
                (errno != ECONNREFUSED && errno != ENOENT);
    close(probe);
    return live;
}

int md_intake_uds_socket(const char *path, int mode, int rcvbuf, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "dogstatsd_socket: path too long: %s", path);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    set_rcvbuf(fd, rcvbuf);
    /*
     * A stale socket file from a previous run would make bind fail, but a
     * live one belongs to another agent: deleting it would silently take
     * that agent's traffic. Connecting tells the two apart (a stale file
     * refuses with ECONNREFUSED).
     */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        if (intake_uds_is_live(&sa)) {
            snprintf(err, errlen, "dogstatsd_socket: %s is in use by another process", path);
            close(fd);
            return -EADDRINUSE;
        }
        unlink(path);
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(path, (mode_t)mode) != 0) {
        int rc = -errno;
        snprintf(err, errlen, "dogstatsd_socket: bind %s: %s", path, strerror(-rc));
        close(fd);
        return rc;
    }
    return fd;
}

int64_t md_intake_kernel_drops(const unsigned long *inodes, unsigned n)
{
    /* /proc/net/udp{,6}: "sl local rem st tx:rx tr:tm retr uid timeout inode ref ptr drops" */
    int64_t total = -1;
    const char *files[] = {"/proc/net/udp", "/proc/net/udp6"};
    for (int f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "r");
        if (!fp)
            continue;
        char line[512];
        while (fgets(line, sizeof line, fp)) {
            unsigned long inode;
            long long drops;
            if (sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %lu %*s %*s %lld", &inode,
                       &drops) != 2)
                continue;
            for (unsigned i = 0; i < n; i++)
                if (inodes[i] == inode)
                    total = (total < 0 ? 0 : total) + drops;
        }
        fclose(fp);
    }
    return total;
}
